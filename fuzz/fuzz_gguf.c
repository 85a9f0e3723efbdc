/*
 * fuzz_gguf.c - libFuzzer harness for the GGUF reader.
 *
 * Opens the input with gguf_open_buffer and, when it is accepted, reads
 * everything the reader promises is safe: every key through every accessor,
 * every string-array element, and every byte of every tensor. A file the
 * reader accepts but that leads any of these out of bounds is the bug the
 * sanitizers catch here; a rejected file must come with a message.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"

/* Touches bytes so the reads cannot be optimized away; the result is otherwise meaningless. */
static uint64_t mix(uint64_t h, uint64_t v) { return (h ^ v) * 1099511628211ull; }

static uint64_t walk_value(const gguf_file *f, const char *key, uint64_t h) {
    int64_t iv;
    double dv;
    size_t len;
    enum gguf_vtype et;
    uint64_t count;
    const void *data;
    if (gguf_get_int(f, key, &iv)) h = mix(h, (uint64_t)iv);
    if (gguf_get_float(f, key, &dv)) h = mix(h, dv != dv);
    const char *s = gguf_get_str(f, key, &len);
    for (size_t i = 0; s && i < len; i++) h = mix(h, (uint8_t)s[i]);
    if (!gguf_get_arr(f, key, &et, &count, &data)) return h;
    if (et == GGUF_VT_STRING) {
        for (uint64_t i = 0; i < count; i++) {
            s = gguf_get_arr_str(f, key, i, &len);
            if (!s) abort(); /* every index below count must be readable */
            if (len) h = mix(h, (uint8_t)s[0] + (uint8_t)s[len - 1]);
        }
        if (gguf_get_arr_str(f, key, count, &len)) abort();
    }
    return h;
}

static uint64_t walk_tensors(const gguf_file *f, uint64_t h) {
    for (int i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_get_tensor(f, i);
        if (gguf_find_tensor(f, t->name) != t) abort(); /* names are unique */
        const uint8_t *p = t->data;
        for (size_t j = 0; j < t->n_bytes; j++) h = mix(h, p[j]);
        h = mix(h, (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]));
    }
    return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[512];
    gguf_file *f = gguf_open_buffer(data, size, "fuzz", err, sizeof err);
    if (!f) {
        if (strncmp(err, "fuzz: ", 6) != 0 || strchr(err, '\n')) abort(); /* one line, naming the file */
        return 0;
    }
    uint64_t h = 0;
    for (int i = 0; i < gguf_n_kv(f); i++) {
        const char *key = gguf_key_name(f, i);
        if (gguf_find_key(f, key) != i) abort(); /* keys are unique */
        h = mix(h, gguf_kv_type(f, i));
        h = walk_value(f, key, h);
    }
    h = walk_tensors(f, h);
    volatile uint64_t sink = h;
    (void)sink;
    gguf_close(f);
    return 0;
}
