/*
 * synth.h - random-weight GGUF models of real shapes, for benchmarks.
 *
 * Kernel and forward-pass speed depends on a model's shape and weight type,
 * not on what its weights learnt, so the benches run on files made here:
 * the tensor names, shapes and metadata of a published model (TinyLlama,
 * Qwen2.5, Llama 3.2, Llama 7B) filled with small random values that keep the
 * forward pass finite. Files of several GB are generated and written one
 * tensor at a time, so memory use stays at one tensor's rows, never the model.
 */
#ifndef AION_SYNTH_H
#define AION_SYNTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct synth_shape {
    const char *name;      /* "tinyllama-1.1b", ...; "custom" for --dims */
    const char *arch;      /* "llama" or "qwen2" (q/k/v biases, NEOX rotary) */
    int n_layer, n_embd, n_head, n_head_kv, n_ff, n_vocab;
    int n_ctx;             /* the context length written to the metadata */
    bool tied;             /* no output.weight: logits reuse token_embd */
    float rope_freq_base, norm_eps;
} synth_shape;

/* The named shapes, and one by name (NULL when unknown). */
int synth_n_shapes(void);
const synth_shape *synth_shape_at(int i);
const synth_shape *synth_find_shape(const char *name);

/* A custom shape with the architecture's usual constants (rope base, epsilon, tying);
 * false when arch is not llama or qwen2. */
bool synth_custom_shape(const char *arch, int n_layer, int n_embd, int n_head, int n_head_kv, int n_ff,
                        int n_vocab, synth_shape *out);

/* The weight types synth writes: f32, f16, bf16, q8_0, q4_0. */
bool synth_type_supported(int type);

typedef struct synth_params {
    synth_shape shape;
    int type;               /* enum aion_dtype of the 2D weights; norms and biases stay f32 */
    uint64_t seed;
    const char *vocab_from; /* copy tokenizer.* from this GGUF; NULL: a byte-level SPM vocabulary */
} synth_params;

/* Called after each tensor with the bytes written so far and the total. */
typedef void (*synth_progress_fn)(void *user, uint64_t done, uint64_t total);

/* Bytes of tensor data the file will hold (what the progress total counts). */
uint64_t synth_data_bytes(const synth_params *p);

/* Writes the model to path (through a temporary sibling renamed into place). Returns 0, or -1
 * with a one-line message in err (bad shape for the type, I/O error, unreadable vocab file). */
int synth_write(const synth_params *p, const char *path, synth_progress_fn progress, void *user, char *err,
                size_t err_len);

#endif
