/*
 * peak.h - the arithmetic peak of this machine: the other roofline.
 *
 * A decode step is bound by memory (membw.h); a batch of n tokens adds n times
 * the multiply-adds of a token on top of one pass over the weights, and once
 * those exceed the pass, the batch is bound by arithmetic. This probe measures
 * that ceiling the way the matmul kernels compute: all threads of a pool, each
 * running independent chains of the instruction the kernels use per weight -
 * vpdpbusd (64 int8 multiply-adds) for the integer types, vfmadd (16 f32) for
 * float weights - in registers, no memory traffic, best of several runs.
 */
#ifndef AION_PEAK_H
#define AION_PEAK_H

#include "aion.h"

typedef struct peak_result {
    double int8_gmacs;  /* 1e9 int8 multiply-adds per second, all threads (0: no VNNI) */
    double f32_gmacs;   /* 1e9 f32 multiply-adds per second, all threads */
    int n_threads;
    const char *isa;    /* "avx512-vnni", "avx2" or "scalar" */
} peak_result;

void peak_measure(aion_threads *t, int n_runs, peak_result *out);

/* 1e9 multiply-adds per second, all threads, of the matmul kernel itself for weights of wtype
 * and a batch of n_tok tokens, each thread on a matrix of its own that stays in L2 (in the layout
 * the model loader gives wtype). Below the instruction peak by what the kernel does besides
 * the dot products - per-block scaling above all, which takes the same multiply pipe on some
 * CPUs - so n_tok times a token's multiply-adds at this rate is the least time a batch of these
 * kernels can take, however fast the memory. Best of n_runs; 0 if wtype has no kernel. */
double peak_kernel_gmacs(aion_threads *t, int wtype, int n_tok, int n_runs);

#endif
