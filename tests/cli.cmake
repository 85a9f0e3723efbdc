# The aio program end to end (exit codes, messages, --json, lossless strategies from the CLI).
add_test(NAME cli COMMAND bash ${CMAKE_SOURCE_DIR}/tests/cli_test.sh $<TARGET_FILE:aio>
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(cli PROPERTIES TIMEOUT 300)
