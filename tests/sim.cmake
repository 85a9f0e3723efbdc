# sim.cmake - `aio sim` end to end: a synthetic mix, a trace replay, and clear errors.
#
# Included by tests/CMakeLists.txt, it registers ctest sim_cli, which runs this same file in
# script mode: `aio sim` on ascend-910b with 1B/7B shapes must print one JSON object with a row
# for every policy and write sim-ascend-910b.{md,json,dat} (the .png when gnuplot is installed),
# naming the type each model computes in (bf16 shapes in bf16, --dtype overriding it);
# a small trace in `aio bench mixed --trace` format must replay; a profile without "sync_us"
# or with an unknown compute type must fail with exit code 1 and a one-line error naming the
# field; bad usage (an unknown --dtype too) exits 2. The
# simulator is deterministic and needs no model files, so this is fast everywhere.

if(CMAKE_SCRIPT_MODE_FILE)
  set(out_dir "${OUT_DIR}/sim-cli")
  file(REMOVE_RECURSE "${out_dir}")
  file(MAKE_DIRECTORY "${out_dir}")

  function(run_sim expect_rc)
    execute_process(COMMAND "${AIO}" sim ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
    if(NOT rc STREQUAL "${expect_rc}")
      message(FATAL_ERROR "aio sim ${ARGN}: exit code '${rc}', expected ${expect_rc}\nstdout: ${out}\nstderr: ${err}")
    endif()
    set(out "${out}" PARENT_SCOPE)
    set(err "${err}" PARENT_SCOPE)
  endfunction()

  function(expect_policies json)
    foreach(policy static-small static-large large+lookup spec-fine-oracle spec-fine-k spec-bucketed paper-policy aio-policy)
      string(FIND "${json}" "\"${policy}\":{\"tokens_per_second\":" at)
      if(at EQUAL -1)
        message(FATAL_ERROR "no row for ${policy} in: ${json}")
      endif()
    endforeach()
  endfunction()

  run_sim(0 --hw sim/hw/ascend-910b.json --models tinyllama-1.1b,llama-7b --requests 30 --json --out "${out_dir}")
  if(NOT out MATCHES "^{\"bench\":\"sim\",\"hw\":\"ascend-910b\"")
    message(FATAL_ERROR "not the expected JSON object: ${out}")
  endif()
  expect_policies("${out}")
  set(exts md json dat)
  find_program(GNUPLOT gnuplot)
  if(GNUPLOT)
    list(APPEND exts png) # the plot of the time split
  endif()
  foreach(ext ${exts})
    if(NOT EXISTS "${out_dir}/sim-ascend-910b.${ext}")
      message(FATAL_ERROR "aio sim did not write sim-ascend-910b.${ext}")
    endif()
  endforeach()
  if(NOT out MATCHES "\"attention_dtype\":\"fp16\",\"small\":{[^}]*\"weight_type\":\"bf16\",\"compute_dtype\":\"bf16\",\"peak_TFLOPS\":320}")
    message(FATAL_ERROR "the JSON does not say what the models compute in: ${out}")
  endif()
  message(STATUS "aio sim (ascend-910b, json):\n${out}")

  # --dtype replaces the weights' choice; the table names it
  run_sim(0 --hw ascend-910b --models tinyllama-1.1b,llama-7b:q8_0 --dtype fp32 --requests 5 --out "${out_dir}")
  if(NOT out MATCHES "llama-7b:q8_0 \\([^)]*q8_0 weights computed in fp32 at 86 TFLOP/s\\)")
    message(FATAL_ERROR "the table does not show the overridden compute type: ${out}")
  endif()
  run_sim(2 --hw ascend-910b --models tinyllama-1.1b,llama-7b --dtype fp8)

  # the table, with a profile named by its bare name and eager execution
  run_sim(0 --hw h200 --models llama-3.2-1b,llama-3-8b --mode eager --requests 10 --out "${out_dir}")
  if(NOT out MATCHES "\\| spec-bucketed \\|")
    message(FATAL_ERROR "no markdown table: ${out}")
  endif()

  file(WRITE "${out_dir}/trace.jsonl"
    "{\"config\":\"static-small\",\"id\":\"q1\",\"category\":\"qa\",\"model\":\"aio-small\",\"prompt_tokens\":60,\"output_tokens\":20,\"drafted\":0,\"accepted\":0}\n"
    "{\"config\":\"static-large\",\"id\":\"q1\",\"category\":\"qa\",\"model\":\"aio-large\",\"prompt_tokens\":60,\"output_tokens\":24,\"drafted\":0,\"accepted\":0}\n"
    "{\"config\":\"large+lookup\",\"id\":\"q1\",\"category\":\"qa\",\"model\":\"aio-large\",\"phases\":\"lookup:7@0\",\"prompt_tokens\":60,\"output_tokens\":24,\"drafted\":21,\"accepted\":9}\n"
    "{\"config\":\"aio-policy\",\"id\":\"c1\",\"category\":\"code\",\"probed\":\"code\",\"confidence\":0.9,\"model\":\"aio-small\",\"phases\":\"lookup:7@0\",\"prompt_tokens\":30,\"output_tokens\":40,\"drafted\":14,\"accepted\":6}\n")
  run_sim(0 --hw sim/hw/ascend-910b.json --models tinyllama-1.1b,llama-7b --trace "${out_dir}/trace.jsonl" --json
          --out "${out_dir}")
  expect_policies("${out}")
  if(NOT out MATCHES "\"workload\":\"trace [^\"]*trace.jsonl \\(2 requests\\)\"")
    message(FATAL_ERROR "the trace was not replayed as 2 requests: ${out}")
  endif()

  file(READ sim/hw/ascend-910b.json profile)
  string(REGEX REPLACE "\n  \"sync_us\": [0-9.]+," "" broken "${profile}")
  file(WRITE "${out_dir}/broken.json" "${broken}")
  run_sim(1 --hw "${out_dir}/broken.json" --models tinyllama-1.1b,llama-7b)
  if(NOT err MATCHES "^error: [^\n]*broken.json: missing field \"sync_us\"[^\n]*\n$")
    message(FATAL_ERROR "not a one-line error naming sync_us: ${err}")
  endif()
  string(REPLACE "\"quantized_dtype\": \"fp16\"" "\"quantized_dtype\": \"fp8\"" broken "${profile}")
  file(WRITE "${out_dir}/broken.json" "${broken}")
  run_sim(1 --hw "${out_dir}/broken.json" --models tinyllama-1.1b,llama-7b)
  if(NOT err MATCHES "^error: [^\n]*broken.json: \"quantized_dtype\": unknown compute type \"fp8\"[^\n]*\n$")
    message(FATAL_ERROR "not a one-line error naming the unknown type: ${err}")
  endif()
  run_sim(2 --models tinyllama-1.1b,llama-7b)
  run_sim(1 --hw sim/hw/ascend-910b.json --models tinyllama-1.1b,llama-9000b)
  return()
endif()

add_test(NAME sim_cli
         COMMAND ${CMAKE_COMMAND} -DAIO=$<TARGET_FILE:aio> -DOUT_DIR=${CMAKE_CURRENT_BINARY_DIR}
                 -P ${CMAKE_CURRENT_LIST_FILE}
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(sim_cli PROPERTIES TIMEOUT 120)

# test_sim compares a prediction with a timing measured in the same run: nothing else may run
# beside it, or the machine it measures is not the machine it fitted.
set_tests_properties(test_sim PROPERTIES RUN_SERIAL TRUE)
