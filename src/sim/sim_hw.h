/*
 * sim_hw.h - an accelerator described as data: the few numbers that decide
 * how fast LLM decoding runs on it.
 *
 * A-IO's choices depend on a handful of machine properties: memory bandwidth
 * (decoding streams every weight once per forward), peak compute per compute
 * type (prefill, wide verifications: an fp32 model on an H200 has a fifteenth
 * of the bf16 peak), what the host pays to launch work, what a host-device
 * round trip costs, and for graph-compiled runtimes what compiling a new
 * shape costs. A profile (sim/hw/NAME.json) gives each with its source, so a
 * plan made for a machine we do not have says what it rests on. Parsing is
 * strict: a missing or out-of-range field, a missing or unknown compute type,
 * or a value without a source, is an error naming the file and the field.
 */
#ifndef AION_SIM_HW_H
#define AION_SIM_HW_H

#include <stdbool.h>
#include <stddef.h>

typedef enum sim_exec { SIM_EXEC_GRAPH = 0, SIM_EXEC_EAGER = 1 } sim_exec;

/* The type a runtime multiplies in. Every profile gives a peak for each (int8 in TOPS).
 * SIM_DTYPE_QUANTIZED marks a model whose block-quantized weights leave the choice to the
 * runtime (sim_hw.quantized_dtype). */
typedef enum sim_dtype {
    SIM_DTYPE_QUANTIZED = -1,
    SIM_DTYPE_FP32,
    SIM_DTYPE_FP16,
    SIM_DTYPE_BF16,
    SIM_DTYPE_INT8,
    SIM_N_DTYPES
} sim_dtype;

const char *sim_dtype_name(int dtype); /* "fp32", "fp16", "bf16", "int8"; "?" otherwise */
int sim_dtype_from_name(const char *name); /* -1 when unknown */

typedef struct sim_hw {
    char name[64];
    char kind[8];                /* "gpu", "npu", "cpu" */
    sim_exec execution;          /* how the runtime runs a forward unless told otherwise */
    bool host_overlap;           /* the host enqueues while the device runs; false: the same cores do both */
    double bandwidth;            /* bytes/s, peak */
    double bandwidth_efficiency; /* fraction of the peak a decode forward achieves */
    double memory_bytes;
    double peak_flops[SIM_N_DTYPES]; /* dense, per compute type (ops/s for int8) */
    sim_dtype quantized_dtype;   /* what the runtime multiplies block-quantized weights in */
    sim_dtype attention_dtype;   /* what the attention computes in (the KV cache's type) */
    double compute_efficiency;   /* of the weight matmuls */
    double roofline_p;           /* a phase takes (bytes time^p + compute time^p)^(1/p); 0: the max of the two */
    double attention_efficiency; /* fraction of peak compute the attention achieves */
    double cache_bytes;          /* last-level cache (sim_cache.h); 0: none */
    double cache_bandwidth;      /* bytes/s */
    double kv_bytes_per_element; /* the runtime's KV cache type */
    double launch_seconds;       /* one kernel launch, eager */
    double kernels_per_layer;    /* eager launches per transformer layer */
    double graph_launch_seconds; /* one whole-forward graph launch */
    double sync_seconds;         /* one host-device round trip (wait + copy of the tokens) */
    double compile_seconds;      /* compiling the graph of a new (model, tokens) shape */
} sim_hw;

/* What "sources" must explain, in file order: the scalar fields ("sync_us"), each peak
 * ("peak_TFLOPS.bf16") and the two type choices ("quantized_dtype"). */
#define SIM_HW_MAX_SOURCES 24
int sim_hw_n_sources(void);
const char *sim_hw_source_key(int i);

/* Parses and validates a profile; source_name prefixes errors. Returns 0, or -1 with err. */
int sim_hw_parse(const char *json_text, const char *source_name, sim_hw *out, char *err, size_t err_len);
int sim_hw_load(const char *path, sim_hw *out, char *err, size_t err_len);

/* Writes a profile; sources[i] is the source of key i (sim_hw_source_key), NULL for "".
 * Returns 0, or -1 with err. */
int sim_hw_write(const char *path, const sim_hw *hw, const char *description, const char *const *sources,
                 char *err, size_t err_len);

#endif
