/*
 * fuzz_hf_tokenizer.c - libFuzzer harness for the tokenizer.json converter.
 *
 * The input is a tokenizer.json, optionally followed by a NUL byte and a
 * tokenizer_config.json. When the converter accepts it, every token must be
 * readable and the GGUF metadata must build (in memory); padding the
 * vocabulary must work too. A rejected input must come with a one-line
 * message naming the file at fault.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "hf_tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *text = (const char *)data;
    const char *nul = memchr(text, 0, size);
    size_t json_len = nul ? (size_t)(nul - text) : size;
    const char *config = nul ? nul + 1 : NULL;
    size_t config_len = nul ? size - json_len - 1 : 0;
    char err[512];
    hf_vocab *v = hf_vocab_parse(text, json_len, "fuzz", config, config_len, "fuzz-config", err, sizeof err);
    if (!v) {
        if ((strncmp(err, "fuzz: ", 6) != 0 && strncmp(err, "fuzz-config: ", 13) != 0) || strchr(err, '\n')) abort();
        return 0;
    }
    size_t total = 0;
    for (int i = 0; i < hf_vocab_n_tokens(v); i++) {
        const char *tok = hf_vocab_token(v, i);
        if (!tok || !tok[0] || hf_vocab_token_type(v, i) < 1) abort(); /* every id has a non-empty token */
        total += strlen(tok);
    }
    if (hf_vocab_bos(v) >= hf_vocab_n_tokens(v) || hf_vocab_eos(v) >= hf_vocab_n_tokens(v)) abort();
    if (!hf_vocab_pad_to(v, hf_vocab_n_tokens(v) + 3, err, sizeof err)) abort();
    gguf_writer *w = gguf_writer_new();
    hf_vocab_to_gguf(v, w);
    gguf_writer_free(w);
    volatile size_t sink = total;
    (void)sink;
    hf_vocab_free(v);
    return 0;
}
