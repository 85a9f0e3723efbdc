/*
 * quant_simd.h - the private contract between quant.c and its SIMD kernel files.
 *
 * quant.c owns the public API, the scalar reference and the dispatch; the
 * kernels in quant_avx2.c and quant_avx512.c are compiled for their ISA and only
 * called after cpu_get() says the machine has it. What they must agree on lives
 * here: the argument bundle of a matmul and the layout of a prepared activation
 * row for the integer weight types, which no one outside quant*.c ever sees.
 *
 * Prepared activation row for Q8_0 / Q4_0 weights (nb = n_cols / 32 blocks),
 * three regions, each padded to 64 bytes so a 64-byte-aligned buffer keeps
 * every pair-of-blocks load aligned:
 *   quants  int8 q[nb * 32]        x ~= scale_b * q, q in [-127, 127]
 *   scales  float s[nb * 8]        scale_b repeated 8 times: one vector load
 *                                  gives the per-lane scale of a block's
 *                                  8 int32 dot-product lanes
 *   corr    int32 c[nb * 8]        c[8b + l] = -K * (q[32b+4l] + ... + q[32b+4l+3])
 *   block   int32 k[nb]            k[b] = c[8b] + ... + c[8b+7]: the whole block's correction,
 *           int32 h[2 nb]          then each half block's, h[2b + s] = c[8b+4s] + ... + c[8b+4s+3]
 *                                  (Q6_K's sub-blocks are 16 columns),
 *           float d[nb]            and at half the region scale_b once: what the row-interleaved
 *                                  kernels (one int32 lane per row) read per block and token.
 *                                  Read from the repeated scales, a batch of 8 tokens kept twice
 *                                  the lines in L1 for the same floats, and the weight stream
 *                                  beside them lost 12% (Q8_0 from DRAM, one core).
 * The u8 x s8 dot-product instructions (vpdpbusd, vpmaddubsw) want one operand
 * unsigned; the kernels feed the weights as unsigned (Q8_0 biased by +128, Q4_0
 * nibbles as stored, i.e. biased by +8) and start each lane's sum at c, which
 * removes the bias exactly: K = 128 for Q8_0 and 8 for Q4_0, so the act row
 * depends on the weight type it is prepared for. (The AVX2 Q8_0 kernel cannot
 * take the +128 bias through vpmaddubsw's 16-bit sums and ignores c.)
 *
 * A prepared row's padding is zeroed, so pair kernels may read one block past an
 * odd block count: it contributes 0 * 0.
 */
#ifndef AION_QUANT_SIMD_H
#define AION_QUANT_SIMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "quant.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define QUANT_HAVE_X86_KERNELS 1
#else
#define QUANT_HAVE_X86_KERNELS 0
#endif

#define QUANT_QBLOCK 32 /* elements of a Q8_0 / Q4_0 block */

/* One matmul call, cut to a chunk of tokens whose activations stay in cache. */
typedef struct quant_mm {
    int wtype;
    const uint8_t *w;     /* row 0 of the weights */
    size_t w_row_bytes;
    int64_t n_cols;
    const uint8_t *act;   /* prepared row of the first token */
    size_t act_row_bytes;
    int n_tok;
    float *y;             /* y[t * ldy + r] */
    int64_t ldy;
    int64_t r0, r1;
    bool packed;          /* w is in the row-group layout below (Q8_0 / Q4_0 only) */
} quant_mm;

/* Weights stream from DRAM, where one core's demand misses alone leave bandwidth unused: while
 * a group of rows is computed, a group further on (contiguous in memory) is requested into L2
 * as one sequential stream, a fixed number of cache lines per loop step - at least what the
 * group consumes per step, so the stream never falls behind. A batch makes several passes over
 * each group (a tile of tokens each); pass k of K requests the k-th K-th of the group ahead,
 * evenly over its steps, so memory streams at one rate through all passes instead of idling
 * after the first (Q8_0 TinyLlama shape, 8 tokens: 54 -> 37-40 ms; front-loading each share
 * in its pass lost the whole gain). Prefetches past the matrix end never fault. */
typedef struct quant_prefetch {
    const char *next;
    int lines; /* per step: the tile's lines_per_step over the passes */
} quant_prefetch;

/* For the tile of tokens starting at t0, each tile being tok_tile tokens of the n_tok: its pass
 * over the group is t0 / tok_tile of ceil(n_tok / tok_tile). */
static inline quant_prefetch quant_prefetch_start(const void *group, size_t group_bytes, int lines_per_step, int t0,
                                                  int n_tok, int tok_tile) {
    const int pass = t0 / tok_tile, passes = (n_tok + tok_tile - 1) / tok_tile;
    size_t skip = (group_bytes * (size_t)pass / (size_t)passes) & ~(size_t)63;
    return (quant_prefetch){(const char *)group + skip, (lines_per_step + passes - 1) / passes};
}

/* lines_per_step, a compile-time constant at every call, unrolls the one-pass (decode) case:
 * a runtime count there cost Q6_K decode 4%. */
static inline void quant_prefetch_step(quant_prefetch *pf, const int lines_per_step) {
    if (pf->lines == lines_per_step)
        for (int k = 0; k < lines_per_step; k++) __builtin_prefetch(pf->next + 64 * k, 0, 2); /* prefetcht1 */
    else
        for (int k = 0; k < pf->lines; k++) __builtin_prefetch(pf->next + 64 * k, 0, 2);
    pf->next += 64 * pf->lines;
}

static inline size_t quant_act_region_bytes(int64_t n_cols) {
    size_t bytes = (size_t)(n_cols / QUANT_QBLOCK) * 32;
    return (bytes + 63) & ~(size_t)63;
}

static inline const int8_t *quant_act_quants(const uint8_t *act) { return (const int8_t *)act; }

static inline const float *quant_act_scales(const uint8_t *act, int64_t n_cols) {
    return (const float *)(act + quant_act_region_bytes(n_cols));
}

static inline const int32_t *quant_act_corr(const uint8_t *act, int64_t n_cols) {
    return (const int32_t *)(act + 2 * quant_act_region_bytes(n_cols));
}

static inline const int32_t *quant_act_bcorr(const uint8_t *act, int64_t n_cols) {
    return (const int32_t *)(act + 3 * quant_act_region_bytes(n_cols));
}

static inline const int32_t *quant_act_half_corr(const uint8_t *act, int64_t n_cols) {
    return quant_act_bcorr(act, n_cols) + n_cols / QUANT_QBLOCK;
}

static inline const float *quant_act_block_scales(const uint8_t *act, int64_t n_cols) {
    return (const float *)(act + 3 * quant_act_region_bytes(n_cols) + quant_act_region_bytes(n_cols) / 2);
}

/* Repacked Q8_0 / Q4_0 weights ("row-interleaved"). In the file, each row is a run of blocks and
 * a kernel keeps one accumulator vector per row and token, whose lanes hold parts of one dot
 * product: 5 vector operations per row, token and 64 weights, and a horizontal sum per row at
 * the end. Repacked, the 16 rows of a group share each vector, one row per int32 lane, so one
 * vpdpbusd advances 16 rows by 4 columns against one broadcast activation word, and the block's
 * scale, conversion and accumulation are one operation each for all 16 rows. A group of 16 rows
 * is one contiguous stream of steps, a step being one block (32 columns) of the 16 rows:
 *   uint16 d[16]       f16 scales of rows 0..15
 *   Q8_0  8 x 64 bytes chunk c (columns 4c..4c+3): row i's 4 quants + 128 (unsigned) at 4i
 *   Q4_0  4 x 64 bytes vector v: row i's stored bytes qs[4v..4v+3] at 4i, whose low nibbles
 *                      are chunk v and high nibbles chunk v + 4 (GGUF's nibble order)
 * 544 (Q8_0) or 288 (Q4_0) bytes per step: the file's bytes, reordered. Q4_K's step is a
 * super-block (256 columns) of the 16 rows, its six-bit factors unpacked to bytes once here
 * instead of in every decode step (2368 bytes where the file has 2304):
 *   uint16 d[16], dmin[16]   f16, row i at i
 *   uint8 sc[8][16], m[8][16] sub-block j's scale and min of row i at 16j + i
 *   quants 32 x 64 bytes     vector 8p + c: row i's stored bytes qs[32p+4c .. 32p+4c+3] at 4i,
 *                            whose low nibbles are chunk c of sub-block 2p, high ones of 2p+1
 * Q5_K's step adds its fifth bits (2880 bytes where the file has 2816):
 *   high   8 x 64 bytes      vector c: row i's qh[4c .. 4c+3] at 4i, whose bit 2p + h is the
 *                            fifth bit of chunk c of sub-block 2p + h,
 * each placed after quants vector c, where the kernel first reads it (quant_packed_k_quants_at):
 * after all the quants, the second stream made a decode from memory 20 GB/s on one core, not 33.
 * Q6_K's step is its super-block of the 16 rows, the file's bytes reordered (3360 both):
 *   uint16 d[16]             f16, row i at i
 *   int8 sc[16][16]          sub-block j's scale of row i at 16j + i
 *   quants 16 x 192 bytes    triple 8n + c (half n, chunk c): row i's ql[64n + 4c ..] at 4i, its
 *                            ql[64n + 32 + 4c ..] at 64 + 4i and its qh[32n + 4c ..] at 128 + 4i,
 *                            4 bytes each: the order the kernel reads them in, one sequential
 *                            stream (as separate low and high regions, read three places at a
 *                            time, a decode streamed 10.6 GB/s from memory on one core, not 27)
 * The last group is padded with zero rows (scale 0). */
#define QUANT_PACK_ROWS 16
#define QUANT_PACK_K_HEAD 320 /* bytes of a Q4_K / Q5_K step before its quants */
#define QUANT_PACK_K_QUANTS 2048
#define QUANT_PACK_Q6_HEAD 288 /* bytes of a Q6_K step before its low bits */

static inline bool quant_packed_super(int wtype) { return wtype == AION_DT_Q4_K || wtype == AION_DT_Q5_K; }

/* Offsets in a Q4_K / Q5_K step of quants vector v (8p + c) and of Q5_K's high-bit vector c. */
static inline size_t quant_packed_k_quants_at(int wtype, int v) {
    if (wtype == AION_DT_Q5_K && v < 8) return QUANT_PACK_K_HEAD + 128 * (size_t)v;
    return QUANT_PACK_K_HEAD + 64 * (size_t)v + (wtype == AION_DT_Q5_K ? 512 : 0);
}

static inline size_t quant_packed_k_high_at(int c) { return QUANT_PACK_K_HEAD + 128 * (size_t)c + 64; }

static inline size_t quant_packed_step_bytes(int wtype) {
    if (quant_packed_super(wtype)) return QUANT_PACK_K_HEAD + QUANT_PACK_K_QUANTS + (wtype == AION_DT_Q5_K ? 512 : 0);
    if (wtype == AION_DT_Q6_K) return QUANT_PACK_Q6_HEAD + 2048 + 1024;
    return 32 + (wtype == AION_DT_Q8_0 ? 512 : 256);
}

static inline int64_t quant_packed_step_cols(int wtype) {
    return quant_packed_super(wtype) || wtype == AION_DT_Q6_K ? 256 : QUANT_QBLOCK;
}

static inline size_t quant_packed_group_bytes(int wtype, int64_t n_cols) {
    return quant_packed_step_bytes(wtype) * (size_t)(n_cols / quant_packed_step_cols(wtype));
}

/* The unsigned bias the kernels give this weight type (see corr above). The K-quants keep
 * their levels unsigned as stored: Q6_K's are biased by 32; Q4_K/Q5_K have none, and their
 * c = -(sum of 4 activation quants) is what the min term of a sub-block needs. */
static inline int32_t quant_act_bias(int wtype) {
    switch (wtype) {
    case AION_DT_Q4_0: return 8;
    case AION_DT_Q4_K:
    case AION_DT_Q5_K: return 1;
    case AION_DT_Q6_K: return 32;
    default: return 128;
    }
}

static inline bool quant_is_k(int wtype) {
    return wtype == AION_DT_Q4_K || wtype == AION_DT_Q5_K || wtype == AION_DT_Q6_K;
}

/* Weights multiplied as integer dots against activations quantized to 8 bits (quant_act_prepare);
 * the rest (f32, f16, bf16) take the float activations as they are. */
static inline bool quant_is_int_weight(int wtype) {
    return wtype == AION_DT_Q8_0 || wtype == AION_DT_Q4_0 || quant_is_k(wtype);
}

/* quant_k.c: the K-quant formats (scalar). */
void quant_k_scale_min(const uint8_t *packed, int j, uint8_t *sc, uint8_t *m);
void quant_k_pack_scale_min(const uint8_t sc[8], const uint8_t m[8], uint8_t packed[12]);
bool quant_k_dequantize_row(int type, const void *src, float *dst, int64_t n);
bool quant_k_quantize_row(int type, const float *src, void *dst, int64_t n);
/* dot of one weight row with one prepared activation row (quants xq, per-lane scales xs) */
float quant_k_dot_ref(int type, const uint8_t *row, const int8_t *xq, const float *xs, int64_t n_cols);

#if QUANT_HAVE_X86_KERNELS
/* Return false when the type has no kernel at this ISA (the caller then runs the reference). */
bool quant_matmul_avx2(const quant_mm *m);
bool quant_matmul_avx512(const quant_mm *m);

/* Quantize one activation row to the layout above; bit-identical to the scalar version. */
void quant_act_prepare_q_avx2(int wtype, const float *x, uint8_t *act, int64_t n_cols);
void quant_act_prepare_q_avx512(int wtype, const float *x, uint8_t *act, int64_t n_cols);

float quant_dot_f32_avx2(const float *a, const float *b, int64_t n);
float quant_dot_f32_avx512(const float *a, const float *b, int64_t n);
void quant_axpy_f32_avx2(float *y, float a, const float *x, int64_t n);
void quant_axpy_f32_avx512(float *y, float a, const float *x, int64_t n);
/* Attention rows, f32 or f16 (widened as they load): false for head sizes without a kernel (64
 * and 128 have one), where the caller goes row by row (or query by query). */
bool quant_dot_rows_avx512(const float *q, const void *rows, bool f16, size_t stride, int n_rows, int64_t n,
                           float *scores);
bool quant_axpy_rows_avx512(float *y, const float *w, const void *rows, bool f16, size_t stride, int n_rows, int64_t n);
bool quant_dot_rows2_avx512(const float *qa, const float *qb, const void *rows, bool f16, size_t stride, int n_rows,
                            int64_t n, float *sa, float *sb);
bool quant_axpy_rows2_avx512(float *ya, float *yb, const float *wa, const float *wb, const void *rows, bool f16,
                             size_t stride, int n_rows, int64_t n);
float quant_max_f32_avx512(const float *x, int64_t n);
float quant_exp_f32_avx512(float *x, int64_t n, float scale, float shift);
void quant_swiglu_f32_avx512(float *g, const float *u, int64_t n);
void quant_rmsnorm_f32_avx512(float *out, const float *x, const float *weight, int64_t n, float eps);
void quant_f16_to_f32_row_avx512(const uint16_t *src, float *dst, int64_t n);
#endif

#endif
