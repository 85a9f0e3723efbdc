/*
 * convert.h - a Hugging Face model folder to one GGUF file (`aio convert`).
 *
 * Reads config.json (LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM),
 * the safetensors weights (one file or shards) and tokenizer.json, and writes
 * the GGUF the engine (and llama.cpp) loads: llama.cpp's key names and tensor
 * names, llama's q/k rows reordered from Hugging Face's rotate-half RoPE
 * layout to GGUF's adjacent pairs (qwen2 stays NEOX, untouched), matrices in
 * the requested type and 1D tensors in f32. It refuses what it cannot carry
 * over faithfully (RoPE scaling, attention biases on llama, other head sizes)
 * instead of writing a model that would quietly compute something else.
 */
#ifndef AION_CONVERT_H
#define AION_CONVERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct convert_params {
    const char *hf_dir;   /* the model folder */
    const char *out_path; /* the GGUF to write (replaced atomically) */
    int type;             /* type of the 2D weights: AION_DT_F32, F16, Q8_0 or Q4_0 */
    bool vocab_only;      /* only the tokenizer (config.json and weights optional / unread) */
} convert_params;

typedef struct convert_report {
    char arch[16];
    int n_tensors;
    int n_fallback; /* matrices whose rows do not split into blocks of the type: written f16 */
    int n_vocab;
    uint64_t n_params;
    char note[256]; /* what was ignored on the way (e.g. a sliding window), or "" */
} convert_report;

/* Returns 0 on success; -1 with a one-line message (naming the file at fault) in err. */
int convert_hf(const convert_params *p, convert_report *report, char *err, size_t err_len);

/* "f32", "f16", "q8_0", "q4_0" -> the type, -1 for anything else. */
int convert_type_from_name(const char *name);

#endif
