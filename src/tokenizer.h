/*
 * tokenizer.h - text <-> token ids, as the model was trained.
 *
 * Built from a GGUF file's tokenizer.ggml.* metadata. Two algorithms:
 * SentencePiece (`llama`: score-driven merges, byte fallback, leading space)
 * and byte-level BPE (`gpt2`: rank-driven merges after a regex pre-tokenizer
 * chosen by tokenizer.ggml.pre). Special/control tokens in the input text are
 * matched only when the caller asks (parse_special), never by accident.
 *
 * Detokenization is per token (token_piece gives the raw bytes a token stands
 * for); tok_stream assembles pieces for streaming output and holds back an
 * incomplete UTF-8 sequence until its last byte arrives.
 */
#ifndef AION_TOKENIZER_H
#define AION_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gguf.h"

typedef struct tokenizer tokenizer;

enum tok_kind { TOK_KIND_SPM = 1, TOK_KIND_BPE = 2, TOK_KIND_WPM = 3 };

tokenizer *tokenizer_from_gguf(const gguf_file *f, char *err, size_t err_len);
void tokenizer_free(tokenizer *t);

int tokenizer_kind(const tokenizer *t);
int32_t tokenizer_n_vocab(const tokenizer *t);
int32_t tokenizer_bos(const tokenizer *t); /* -1 if none */
int32_t tokenizer_eos(const tokenizer *t); /* -1 if none */
bool tokenizer_add_bos(const tokenizer *t); /* the model's default (tokenizer.ggml.add_bos_token) */
/* End of generation: EOS, EOT, <|im_end|>, <|eot_id|> and friends. */
bool tokenizer_is_eog(const tokenizer *t, int32_t id);
/* Id of a token given by its exact text (e.g. "<probe>"), or -1. */
int32_t tokenizer_find(const tokenizer *t, const char *text);
const char *tokenizer_token_text(const tokenizer *t, int32_t id); /* vocab entry as stored */

/* Encode text[0..len). Writes at most max_out ids; returns the number of ids the full encoding
 * has (which may exceed max_out: call again with a bigger buffer), or -1 on error. */
int tokenizer_encode(const tokenizer *t, const char *text, size_t len, bool add_bos, bool parse_special,
                     int32_t *out, int max_out);

/* Raw bytes token id stands for (byte tokens give their byte, SPM's U+2581 becomes a space,
 * byte-level BPE symbols map back to bytes). Control tokens give their text only if
 * render_special. Returns the number of bytes (written up to buf_len), or -1 for a bad id. */
int tokenizer_token_piece(const tokenizer *t, int32_t id, bool render_special, char *buf, int buf_len);

/* Whole-sequence decode into a malloc'd NUL-terminated string (caller frees). Drops the
 * SentencePiece leading space of the first token like llama.cpp does when add_space_prefix. */
char *tokenizer_decode(const tokenizer *t, const int32_t *ids, int n_ids, bool render_special);

/* Streaming detokenizer: feed ids, get back the bytes that form complete UTF-8. */
typedef struct tok_stream tok_stream;
tok_stream *tok_stream_new(const tokenizer *t, bool render_special);
void tok_stream_free(tok_stream *s);
/* Appends the piece of id; returns a pointer to the bytes now safe to emit (valid until the next
 * call) and their length in *out_len. */
const char *tok_stream_push(tok_stream *s, int32_t id, size_t *out_len);
/* At the end: whatever is held back (invalid UTF-8 is emitted as is). */
const char *tok_stream_flush(tok_stream *s, size_t *out_len);

#endif
