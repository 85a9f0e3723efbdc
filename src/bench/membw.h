/*
 * membw.h - the memory read bandwidth of this machine: the roofline of decoding.
 *
 * Decoding one token streams every weight once, so tokens/s can never exceed
 * bandwidth / (weight bytes per token). This probe measures that bandwidth the
 * way the forward pass reads weights: all threads of an aion_threads pool,
 * each summing its contiguous share of a buffer far larger than the caches
 * with the widest SIMD loads the CPU has, in 4 KiB pages like a mapped model
 * file (no huge pages), best of several runs.
 */
#ifndef AION_MEMBW_H
#define AION_MEMBW_H

#include <stddef.h>

#include "aion.h"

#define MEMBW_DEFAULT_BYTES ((size_t)1 << 30)
#define MEMBW_DEFAULT_RUNS 5

typedef struct membw_result {
    double best_gbps, median_gbps; /* 1e9 bytes per second */
    size_t bytes;                  /* buffer size read per run */
    int n_threads, n_runs;
    const char *isa;               /* the loads used: "avx512", "avx2", "sse2" or "scalar" */
} membw_result;

/* Reads a fresh buffer of `bytes` n_runs times (after one untimed pass) with every thread of t.
 * Returns 0, or -1 with a one-line message in err (out of memory). */
int membw_measure(aion_threads *t, size_t bytes, int n_runs, membw_result *out, char *err, size_t err_len);

#endif
