# bench_strategies.cmake - `aio bench strategies` end to end on the tiny reference models (not timed).
#
# Included by tests/CMakeLists.txt, it registers ctest bench_strategies, which runs this same
# file in script mode: the bench decodes the first 2 tasks of each category of
# tests/data/tasks-mini with tests/data/ref/llama-f32.gguf as target and llama-q8_0.gguf (same
# vocabulary) as draft. It must exit 0 (so every strategy's tokens equal ar's), print one JSON
# object with a row for every category x strategy x k of the default buckets, report
# "lossless":true, and write strategies.{md,json,dat} (and the .png when gnuplot is installed)
# into the build tree. Speeds are printed for the log, never compared.

if(CMAKE_SCRIPT_MODE_FILE)
  set(out_dir "${OUT_DIR}/bench-strategies")
  file(REMOVE_RECURSE "${out_dir}")
  execute_process(
    COMMAND "${AIO}" bench strategies -m tests/data/ref/llama-f32.gguf --draft tests/data/ref/llama-q8_0.gguf
            --tasks tests/data/tasks-mini --limit 2 -t 2 --json --out "${out_dir}"
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc STREQUAL "0")
    message(FATAL_ERROR "aio bench strategies: exit code '${rc}'\nstdout: ${out}\nstderr: ${err}")
  endif()
  message(STATUS "aio bench strategies --json:\n${out}\n${err}")

  if(NOT out MATCHES "^{\"bench\":\"strategies\"")
    message(FATAL_ERROR "not the expected JSON object: ${out}")
  endif()
  if(NOT out MATCHES "\"lossless\":true")
    message(FATAL_ERROR "the strategies' tokens differ from ar's: ${out}")
  endif()
  # rows are {"category":C,"strategy":S,"k":K,...} in that key order (see row_json)
  foreach(category code math qa chat)
    set(expected "\"category\":\"${category}\",\"strategy\":\"ar\",\"k\":0,")
    foreach(k 1 3 7 15)
      list(APPEND expected "\"category\":\"${category}\",\"strategy\":\"lookup\",\"k\":${k},"
                           "\"category\":\"${category}\",\"strategy\":\"spec\",\"k\":${k},")
    endforeach()
    foreach(row ${expected})
      string(FIND "${out}" "${row}" at)
      if(at EQUAL -1)
        message(FATAL_ERROR "no row ${row} in the JSON: ${out}")
      endif()
    endforeach()
  endforeach()
  if(out MATCHES "\"matches_ar\":false")
    message(FATAL_ERROR "a row's tokens differ from ar's: ${out}")
  endif()

  set(files strategies.md strategies.json strategies.dat)
  find_program(GNUPLOT gnuplot)
  if(GNUPLOT)
    list(APPEND files strategies.png)
  endif()
  foreach(f ${files})
    if(NOT EXISTS "${out_dir}/${f}")
      message(FATAL_ERROR "aio bench strategies did not write ${out_dir}/${f}\nstderr: ${err}")
    endif()
  endforeach()
  file(READ "${out_dir}/strategies.md" table)
  foreach(expect "| category | strategy | k | tok/s | x vs ar |" "## Where each strategy loses to ar")
    string(FIND "${table}" "${expect}" at)
    if(at EQUAL -1)
      message(FATAL_ERROR "strategies.md lacks '${expect}':\n${table}")
    endif()
  endforeach()
  return()
endif()

add_test(NAME bench_strategies
         COMMAND ${CMAKE_COMMAND} -DAIO=$<TARGET_FILE:aio> -DOUT_DIR=${CMAKE_CURRENT_BINARY_DIR}
                 -P ${CMAKE_CURRENT_LIST_FILE}
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(bench_strategies PROPERTIES TIMEOUT 120)
