# The default family against its recorded evaluation (models/EVAL.json).
add_test(NAME eval_default_family COMMAND bash ${CMAKE_SOURCE_DIR}/tests/eval_test.sh $<TARGET_FILE:aio>
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(eval_default_family PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600)
