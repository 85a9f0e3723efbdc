/*
 * fuzz_safetensors.c - libFuzzer harness for the safetensors reader.
 *
 * Opens the input with st_open_buffer and, when it is accepted, reads what
 * the reader promises is safe: every element of every tensor (converted as
 * the converter converts it), every lookup by name. A file the reader accepts
 * but whose tensors lead out of the buffer is the bug the sanitizers catch
 * here; a rejected file must come with a one-line message naming it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"

static size_t elem_size(enum aion_dtype t) { return t == AION_DT_F32 ? 4 : 2; }

static float walk_tensor(const st_tensor *t) {
    float sum = 0, chunk[64];
    if ((size_t)t->n_elems * elem_size(t->type) != t->n_bytes) abort(); /* size matches shape and dtype */
    for (int64_t i = 0; i < t->n_elems; i += 64) {
        int64_t n = t->n_elems - i < 64 ? t->n_elems - i : 64;
        st_read_f32(t, i, n, chunk);
        for (int64_t k = 0; k < n; k++)
            sum += chunk[k];
    }
    return sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[512];
    st_file *f = st_open_buffer(data, size, "fuzz", err, sizeof err);
    if (!f) {
        if (strncmp(err, "fuzz: ", 6) != 0 || strchr(err, '\n')) abort();
        return 0;
    }
    float sum = 0;
    for (int i = 0; i < st_n_tensors(f); i++) {
        const st_tensor *t = st_get_tensor(f, i);
        if (st_find_tensor(f, t->name) != t) abort(); /* names are unique and found */
        const uint8_t *p = t->data;
        if (t->n_bytes && (p < data || p + t->n_bytes > data + size)) abort();
        sum += walk_tensor(t);
    }
    volatile float sink = sum;
    (void)sink;
    st_close(f);
    return 0;
}
