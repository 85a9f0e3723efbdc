/*
 * quant.h - tensor element types, block formats and the dot/matmul kernels.
 *
 * Everything that knows how bytes of a weight row turn into numbers lives in
 * quant.c: block layouts (bit-compatible with ggml/GGUF so published files load
 * as they are), conversion to and from float, and the matmul kernels that the
 * forward pass spends its time in. Kernels come in a scalar reference and SIMD
 * variants (AVX2, AVX-512, VNNI) picked at run time from the CPU feature table;
 * tests compare every variant with the scalar one.
 *
 * Activations are prepared once per matmul input ("act"): quantized to Q8_0
 * blocks for the integer weight types (Q8_0, Q4_0 and the K-quants) (so the inner loop is an integer dot
 * product), kept F32 for F32/F16/BF16 weights.
 */
#ifndef AION_QUANT_H
#define AION_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Values are GGUF's ggml_type ids. */
enum aion_dtype {
    AION_DT_F32 = 0,
    AION_DT_F16 = 1,
    AION_DT_Q4_0 = 2,
    AION_DT_Q4_1 = 3,
    AION_DT_Q5_0 = 6,
    AION_DT_Q5_1 = 7,
    AION_DT_Q8_0 = 8,
    AION_DT_Q8_1 = 9,
    AION_DT_Q2_K = 10,
    AION_DT_Q3_K = 11,
    AION_DT_Q4_K = 12,
    AION_DT_Q5_K = 13,
    AION_DT_Q6_K = 14,
    AION_DT_Q8_K = 15,
    AION_DT_BF16 = 30,
    AION_DT_COUNT = 40
};

/* Known to the file format (sizes are defined) - used by the GGUF reader to validate. */
bool quant_type_known(int type);
/* Supported by the kernels (the model loader rejects the rest with a clear error). */
bool quant_type_supported(int type);
const char *quant_type_name(int type);        /* "q8_0", ...; "unknown" otherwise */
int quant_type_from_name(const char *name);   /* -1 if unknown */
int64_t quant_block_elems(int type);          /* elements per block (1 for float types) */
size_t quant_block_bytes(int type);           /* bytes per block */
/* llama.cpp's general.file_type for a model whose matrices are all `type` (0: all F32). */
uint32_t quant_file_type(int type);
/* Bytes of a row of n elements; n must be a multiple of the block size. */
size_t quant_row_bytes(int type, int64_t n);

/* Conversions (scalar; used at load, in tools and in tests, never on the hot path). */
void quant_dequantize_row(int type, const void *src, float *dst, int64_t n);
/* Quantize n floats (n multiple of block) to type; supports F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K,
 * Q6_K. Returns false for an unsupported target type. For F16..Q4_0 rounding matches ggml's
 * reference quantizers so files written here are what llama.cpp would write; the K-quants use
 * A-IO's own (simpler) fit, see quant_k.c. */
bool quant_quantize_row(int type, const float *src, void *dst, int64_t n);

float quant_f16_to_f32(uint16_t h);
uint16_t quant_f32_to_f16(float f);
float quant_bf16_to_f32(uint16_t h);
uint16_t quant_f32_to_bf16(float f);

/* ---- matmul ---- */
/* Bytes needed for one prepared activation row of n_cols for weights of wtype. */
size_t quant_act_row_bytes(int wtype, int64_t n_cols);
/* True when the prepared row is the float row itself (F32/F16/BF16 weights): callers may pass
 * x as the act rows and skip the copy. */
bool quant_act_passthrough(int wtype);
/* True when a row prepared for weights of type a serves weights of type b as well (several
 * matrices reading one input then share one preparation). */
bool quant_act_compatible(int wtype_a, int wtype_b);
/* Prepare one activation row (x has n_cols floats). */
void quant_act_prepare(int wtype, const float *x, void *act, int64_t n_cols);

/* For rows r in [r0, r1) of W (wtype, n_cols columns, rows contiguous with quant_row_bytes stride)
 * and tokens t in [0, n_tok) whose prepared activations are consecutive rows of `act`
 * (stride quant_act_row_bytes): y[t * ldy + r] = dot(W[r], x[t]).
 * Reads each weight block once for all n_tok tokens. Thread-safe over disjoint row ranges. */
void quant_matmul(int wtype, const void *w, int64_t n_cols, const void *act, int n_tok, float *y,
                  int64_t ldy, int64_t r0, int64_t r1);

/* The scalar reference of the same (tests compare against it). */
void quant_matmul_ref(int wtype, const void *w, int64_t n_cols, const void *act, int n_tok, float *y,
                      int64_t ldy, int64_t r0, int64_t r1);

/* ---- repacked weights ----
 * A layout the kernels stream faster than the file's (see quant_simd.h): chosen at load, once,
 * when quant_pack_wanted() says this machine's kernels read it (AVX-512 VNNI; Q8_0, Q4_0, Q4_K). */
bool quant_pack_wanted(int wtype);
size_t quant_packed_bytes(int wtype, int64_t n_rows, int64_t n_cols);
/* Repack rows [0, n_rows) of W (file layout) into dst (quant_packed_bytes of it). */
void quant_pack(int wtype, const void *w, int64_t n_rows, int64_t n_cols, void *dst);
/* As quant_matmul for weights repacked by quant_pack: within float rounding of the reference
 * (its own kernel at AVX-512, the reference elsewhere), the same bits whatever the batch or row
 * range. Any row range; a thread's range best starts at a multiple of 16. */
void quant_matmul_packed(int wtype, const void *packed, int64_t n_cols, const void *act, int n_tok, float *y,
                         int64_t ldy, int64_t r0, int64_t r1);

/* Small float vector helpers used by the forward pass (SIMD where available). */
float quant_dot_f32(const float *a, const float *b, int64_t n);
void quant_axpy_f32(float *y, float a, const float *x, int64_t n); /* y += a*x */
/* Attention over a run of cached rows (row j at rows + j * stride elements), f32 or, with f16,
 * halves (an f16 KV cache) widened exactly as they load, so f16 rows give the f32 results of the
 * widened rows: scores[j] = dot(q, row j), and y += sum_j w[j] * row j (in a fixed order for given
 * n_rows: the same bits every time). One call per run keeps q and y in registers. */
void quant_dot_rows(const float *q, const void *rows, bool f16, size_t stride, int n_rows, int64_t n, float *scores);
void quant_axpy_rows(float *y, const float *w, const void *rows, bool f16, size_t stride, int n_rows, int64_t n);
/* The same for two queries over the same rows (two query heads of one KV head), each row read
 * once for both; the results are those of the single-query calls within float rounding. */
void quant_dot_rows2(const float *qa, const float *qb, const void *rows, bool f16, size_t stride, int n_rows, int64_t n,
                     float *sa, float *sb);
void quant_axpy_rows2(float *ya, float *yb, const float *wa, const float *wb, const void *rows, bool f16, size_t stride,
                      int n_rows, int64_t n);
/* Softmax pieces for attention: the largest of x[0, n) (-inf when n is 0), and
 * x[i] = exp(x[i] * scale - shift) for shifts that keep every argument <= 0, returning the sum of
 * the new x. The AVX-512 exp is within 2 ulp of expf. */
float quant_max_f32(const float *x, int64_t n);
float quant_exp_f32(float *x, int64_t n, float scale, float shift);
/* RMS norm: out[i] = x[i] * s * weight[i], s = 1 / sqrt(mean(x^2) + eps), the sum of squares in
 * double as eight partial sums (element i in sum i mod 8, in order; then the tail, then the eight).
 * Every level gives the same bits. */
void quant_rmsnorm_f32(float *out, const float *x, const float *weight, int64_t n, float eps);
/* The SwiGLU gate: g[i] = silu(g[i]) * u[i], silu(x) = x / (1 + e^-x). */
void quant_swiglu_f32(float *g, const float *u, int64_t n);
/* dst[i] = src[i] widened from f16: exact, so every level gives the same floats. */
void quant_f16_to_f32_row(const uint16_t *src, float *dst, int64_t n);

#endif
