# gguf.cmake - `aio info` on every committed broken GGUF file must fail cleanly.
#
# Included by tests/CMakeLists.txt, it registers one ctest gguf_broken_<name> per row of
# tests/data/gguf-broken/README.md (the table is the single list of files and expected
# messages, which test_gguf.c reads too). Each test runs this same file in script mode
# (cmake -P), because a separate helper .cmake in tests/ would itself be included as a
# fragment: the check demands exit code exactly 1 (a clear error, not a crash or a usage
# error) and the expected message on stderr.

if(CMAKE_SCRIPT_MODE_FILE)
  execute_process(COMMAND "${AIO}" info "${GGUF_FILE}"
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  string(STRIP "${err}" err)
  if(NOT rc STREQUAL "1")
    message(FATAL_ERROR "aio info ${GGUF_FILE}: exit code '${rc}', expected 1\nstderr: ${err}")
  endif()
  string(FIND "${err}" "${EXPECT}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "aio info ${GGUF_FILE}: stderr lacks '${EXPECT}'\nstderr: ${err}")
  endif()
  message(STATUS "ok: ${err}")
  return()
endif()

set(GGUF_BROKEN_DIR tests/data/gguf-broken)
# Rows look like: | `file.gguf` | how it is broken | `expected message` |
file(STRINGS ${CMAKE_SOURCE_DIR}/${GGUF_BROKEN_DIR}/README.md gguf_broken_rows REGEX "^\\| `[^`]+\\.gguf`")
foreach(row IN LISTS gguf_broken_rows)
  if(NOT row MATCHES "^\\| `([^`]+)\\.gguf` \\|.*\\| `([^`]+)` *\\|$")
    message(FATAL_ERROR "${GGUF_BROKEN_DIR}/README.md: cannot parse row: ${row}")
  endif()
  set(stem "${CMAKE_MATCH_1}")
  set(expect "${CMAKE_MATCH_2}")
  add_test(NAME gguf_broken_${stem}
           COMMAND ${CMAKE_COMMAND} -DAIO=$<TARGET_FILE:aio> -DGGUF_FILE=${GGUF_BROKEN_DIR}/${stem}.gguf
                   -DEXPECT=${expect} -P ${CMAKE_CURRENT_LIST_FILE}
           WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(gguf_broken_${stem} PROPERTIES TIMEOUT 30)
endforeach()
