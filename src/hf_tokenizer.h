/*
 * hf_tokenizer.h - a Hugging Face tokenizer.json (+ tokenizer_config.json) as GGUF tokenizer metadata.
 *
 * `aio convert` hands a model's tokenizer to the engine in the form llama.cpp
 * defined for GGUF (tokenizer.ggml.*), so converted files also run elsewhere
 * and the engine's tokenizer (tokenizer.c) has one input format. Two shapes of
 * BPE tokenizer.json are understood:
 *
 *   byte-level BPE (GPT-2 lineage: Llama 3, Qwen2/3)  -> model "gpt2": tokens, merges, and
 *       tokenizer.ggml.pre naming the pre-tokenizer regex ("llama-bpe", "qwen2", "gpt-2")
 *   SentencePiece-style BPE (Llama 2, Mistral: byte_fallback, U+2581 for spaces) -> model
 *       "llama": tokens with scores derived from the merge ranks (a token made by an earlier
 *       merge scores higher), byte tokens <0xNN> typed as bytes
 *
 * Added tokens become control tokens when special, user-defined otherwise. The
 * special token ids, add_bos/add_eos and the chat template come from
 * tokenizer_config.json (or chat_template.jinja) when present. Anything the
 * engine would tokenize differently from Hugging Face (another model type, an
 * unknown pre-tokenizer regex, a normalizer other than NFC) is refused with a
 * one-line error naming the file, rather than converted into a silently
 * different tokenizer.
 */
#ifndef AION_HF_TOKENIZER_H
#define AION_HF_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gguf.h"

typedef struct hf_vocab hf_vocab;

/* dir/tokenizer.json (required), dir/tokenizer_config.json and dir/chat_template.jinja (optional). */
hf_vocab *hf_vocab_load(const char *dir, char *err, size_t err_len);
/* The same from texts in memory (config may be NULL); names are used in messages (tests, fuzzer). */
hf_vocab *hf_vocab_parse(const char *json, size_t len, const char *name, const char *config_json, size_t config_len,
                         const char *config_name, char *err, size_t err_len);
void hf_vocab_free(hf_vocab *v);

int hf_vocab_n_tokens(const hf_vocab *v);
const char *hf_vocab_model(const hf_vocab *v);         /* "gpt2" or "llama" */
const char *hf_vocab_pre(const hf_vocab *v);           /* byte-level pre-tokenizer name; NULL for "llama" */
const char *hf_vocab_token(const hf_vocab *v, int id); /* as it will be stored; NULL out of range */
int32_t hf_vocab_token_type(const hf_vocab *v, int id);
const char *hf_vocab_chat_template(const hf_vocab *v); /* NULL when none */
int32_t hf_vocab_bos(const hf_vocab *v);               /* -1 when none */
int32_t hf_vocab_eos(const hf_vocab *v);

/* Appends unused "[PAD<id>]" tokens up to n: models often have more embedding rows than the
 * tokenizer has tokens. Fails when the tokenizer already has more than n. */
bool hf_vocab_pad_to(hf_vocab *v, int n, char *err, size_t err_len);

/* Writes the tokenizer.ggml.* keys (and tokenizer.chat_template). */
void hf_vocab_to_gguf(const hf_vocab *v, gguf_writer *w);

#endif
