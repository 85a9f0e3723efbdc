/*
 * sim_model.h - a model as the simulator sees it: bytes to stream, FLOPs to
 * do, and the KV cache it reads, per forward.
 *
 * The simulator never runs weights, so a model is its shape and the bytes per
 * weight: from a GGUF file (the engine's own count of what a forward streams),
 * from a named published shape (the table `aio synth` uses), or from explicit
 * dimensions. Shapes default to bf16 (2 bytes per weight), what accelerators
 * serve. The weights' type also says what the matmuls compute in: f32, f16
 * and bf16 weights are multiplied in their own type; block-quantized ones
 * (q8_0, q4_0, K-quants) in whatever the runtime does with them, which the
 * hardware profile states (sim_hw.quantized_dtype).
 */
#ifndef AION_SIM_MODEL_H
#define AION_SIM_MODEL_H

#include <stddef.h>

#include "sim/sim_hw.h"

#define SIM_MODEL_NAME 64

typedef struct sim_model {
    char name[SIM_MODEL_NAME];
    int n_layer, n_embd, n_head, n_head_kv, n_ff, n_vocab;
    double bytes_per_weight;  /* of the layer matrices */
    char weight_type[16];     /* as stored: "f32", "bf16", "q8_0", ... */
    sim_dtype compute_dtype;  /* what the matmuls multiply in; SIM_DTYPE_QUANTIZED: the runtime's choice */
    double layer_bytes;       /* weights every forward streams (all layer matrices) */
    double output_bytes;      /* the output matrix, streamed when any row needs logits */
    double resident_bytes;    /* every weight, embeddings included (what must fit in memory) */
    double layer_params;      /* multiply-adds per token through the layer matrices */
    double output_params;     /* multiply-adds per logits row */
} sim_model;

/* "tinyllama-1.1b", "llama-7b:q8_0" (a shape of src/bench/synth.c, optional weight type),
 * "L,E,H,HKV,FF,V,BYTES_PER_WEIGHT" (4 or more bytes: f32, 2 to 4: bf16, under 2: quantized),
 * or a path to a GGUF file (its main weight type). Returns 0, or -1 with err. */
int sim_model_parse(const char *spec, sim_model *out, char *err, size_t err_len);

/* A list of models separated by commas, where seven numbers in a row are one explicit shape:
 * "tinyllama-1.1b,llama-7b" or "2,64,4,2,160,320,4,models/x.gguf". Returns the count, or -1. */
int sim_model_parse_list(const char *list, sim_model *out, int max, char *err, size_t err_len);

/* KV bytes of one cached position across all layers (keys and values). */
double sim_model_kv_bytes_per_position(const sim_model *m, double kv_bytes_per_element);

/* Transformer kernels launched per forward outside the layers (embedding, final norm, output). */
#define SIM_KERNELS_OUTSIDE_LAYERS 4

#endif
