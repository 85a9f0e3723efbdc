# server.cmake - `aio serve` end to end (tests/server/run_test.sh): the real binary on a free
# loopback port, curl checks, the official OpenAI Node client (tests/server/openai_test.mjs;
# install it with tests/server/setup.sh, else that part is skipped with exit code 77), and a
# SIGTERM drain that must exit 0. The C-level tests (scheduler batching invariance, bad-input
# table, disconnect) are tests/test_server.c, registered like every test_*.c.
if(AION_SERVER)
  add_test(NAME server_openai
           COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/server/run_test.sh $<TARGET_FILE:aio>
                   ${CMAKE_SOURCE_DIR}/models/aio-small.gguf
           WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(server_openai PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 180)
endif()
