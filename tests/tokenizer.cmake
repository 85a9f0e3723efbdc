# tokenizer.cmake - one ctest per llama.cpp reference vocabulary: test_tokenizer NAME encodes
# the inputs of ../shared/data/tokenizer-vectors/ggml-vocab-NAME.gguf.inp and compares the ids
# with .out (or, without vectors, checks that the texts round-trip). The test skips (77) when
# ../shared is absent or when the vocabulary's algorithm is not implemented.
set(AION_TOKENIZER_VOCABS llama-spm baichuan gpt-2 gpt-neox falcon mpt deepseek-llm bert-bge)
foreach(vocab ${AION_TOKENIZER_VOCABS})
  add_test(NAME tokenizer_vocab_${vocab} COMMAND test_tokenizer ${vocab} WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(tokenizer_vocab_${vocab} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
endforeach()

# The same vectors through the command line: `aio tokenize -f FILE --no-bos` per input (node drives it).
find_program(AION_NODE node)
if(AION_NODE)
  foreach(vocab llama-spm gpt-2 falcon mpt deepseek-llm bert-bge)
    add_test(NAME tokenize_cli_${vocab}
             COMMAND ${AION_NODE} ${CMAKE_SOURCE_DIR}/tests/tokenize_cli.mjs $<TARGET_FILE:aio>
                     ${CMAKE_SOURCE_DIR}/../shared/data/tokenizer-vectors ${vocab}
             WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
    set_tests_properties(tokenize_cli_${vocab} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 120)
  endforeach()
endif()
