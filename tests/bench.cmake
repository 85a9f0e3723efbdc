# bench.cmake - `aio synth` and `aio bench` run end to end on a tiny model (not a timed test).
#
# Included by tests/CMakeLists.txt, it registers ctest bench_smoke, which runs this same file
# in script mode (a helper .cmake of its own would itself be included as a fragment): synth a
# tiny random-weight model into the build tree, then `aio bench batch` must print its Markdown
# table (with the compute and kernel floors and the same-run memory probe) and
# `aio bench decode|prefill|memory|compute --json` their JSON objects, all exiting 0. The figures
# are printed for the log, never compared: CI machines are too noisy for speed thresholds.

if(CMAKE_SCRIPT_MODE_FILE)
  function(run_aio what)
    execute_process(COMMAND "${AIO}" ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
    if(NOT rc STREQUAL "0")
      message(FATAL_ERROR "aio ${what}: exit code '${rc}'\nstdout: ${out}\nstderr: ${err}")
    endif()
    message(STATUS "aio ${what}:\n${out}")
    set(out "${out}" PARENT_SCOPE)
  endfunction()

  set(model "${OUT_DIR}/bench-smoke.gguf")
  run_aio(synth synth --dims 2,64,4,2,160,320 --type q8_0 "${model}")
  run_aio("bench batch" bench batch -m "${model}" -t 2 --runs 3 --size 64)
  foreach(expect "| n | ms | tok/s | t(n)/t(1) | compute floor ms | kernel GMAC/s | kernel floor ms | bound |" "| 32 |"
                 "GMAC/s" "memory probe")
    string(FIND "${out}" "${expect}" at)
    if(at EQUAL -1)
      message(FATAL_ERROR "aio bench batch: output lacks '${expect}'")
    endif()
  endforeach()
  # an f16 KV cache past the attention's first chunk of keys, as JSON
  run_aio("bench batch --kv f16" bench batch -m "${model}" -t 2 --runs 1 --size 64 --pos 300 --kv f16 --json)
  # (and the kernel's own rate in cache for every size: the batch's arithmetic floor)
  if(NOT out MATCHES "\"kv\":\"f16\"" OR NOT out MATCHES "\"tokens_per_second\":[0-9]*[1-9]"
     OR NOT out MATCHES "\"kernel_gmacs\":[0-9]*[1-9]")
    message(FATAL_ERROR "aio bench batch --kv f16 --json: not the expected JSON object: ${out}")
  endif()
  # decode against the same-run memory probe, and prefill, as JSON
  run_aio("bench decode --json" bench decode -m "${model}" -t 2 -n 8 --size 64 --json)
  if(NOT out MATCHES "^{\"bench\":\"decode\".*\"tokens_per_second\":[0-9]*[1-9].*\"percent_of_memory_bandwidth\":[0-9]*[1-9]")
    message(FATAL_ERROR "aio bench decode --json: not the expected JSON object: ${out}")
  endif()
  run_aio("bench prefill --json" bench prefill -m "${model}" -t 2 -p 16 --runs 1 --json)
  if(NOT out MATCHES "^{\"bench\":\"prefill\".*\"tokens_per_second\":[0-9]*[1-9].*\"gflops\":[0-9.e+-]+")
    message(FATAL_ERROR "aio bench prefill --json: not the expected JSON object: ${out}")
  endif()
  run_aio("bench memory --json" bench memory --json -t 2 --size 64 --runs 2)
  if(NOT out MATCHES "^{\"bench\":\"memory\".*\"best_gbps\":[0-9.e+-]+")
    message(FATAL_ERROR "aio bench memory --json: not the expected JSON object: ${out}")
  endif()
  # the arithmetic peak: a positive f32 rate on any machine (int8 is 0 without VNNI)
  run_aio("bench compute --json" bench compute --json -t 2 --runs 1)
  if(NOT out MATCHES "^{\"bench\":\"compute\".*\"f32_gmacs\":[0-9]*[1-9][0-9.e+-]*")
    message(FATAL_ERROR "aio bench compute --json: no positive f32 rate: ${out}")
  endif()
  file(REMOVE "${model}")
  return()
endif()

add_test(NAME bench_smoke
         COMMAND ${CMAKE_COMMAND} -DAIO=$<TARGET_FILE:aio> -DOUT_DIR=${CMAKE_CURRENT_BINARY_DIR}
                 -P ${CMAKE_CURRENT_LIST_FILE}
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(bench_smoke PROPERTIES TIMEOUT 120)
