/*
 * quant_avx512.c - the AVX-512 kernels (F, BW, VL, DQ, VNNI): the engine's main path on
 * recent x86 servers and desktops.
 *
 * A matmul walks rows in groups of 4 and, for each group, tokens in tiles of up
 * to 4; a tile keeps 4 x 4 accumulators in zmm registers, so every weight block
 * is loaded and unpacked once per tile and reused by all its tokens. That is
 * what makes a forward of 8 tokens (prefill, speculative verification) cost
 * far less than 8 forwards of one token: the weights, not the arithmetic, are
 * the cost of a decode step.
 *
 * Integer weights go through vpdpbusd two blocks (64 bytes) at a time: the
 * weights are the unsigned operand (see quant_simd.h for the bias and its exact
 * correction), each block's 8 int32 lanes are converted to float and scaled by
 * d_weight * d_act lane-wise, so the only horizontal sum is at the end of the
 * row. K-quants go the same way a super-block at a time: each row's sub-block
 * factors are decoded once per super-block and spread over the lanes by a permute.
 * Float weights are widened to f32 (vcvtph2ps for F16, a 16-bit shift for
 * BF16) and accumulated with FMA in f32.
 *
 * Q8_0, Q4_0 and the K-quants repacked at load (quant_pack, layout in quant_simd.h) take a
 * different shape: 16 rows share each vector, one int32 lane per row, so a vpdpbusd with a
 * broadcast activation word advances 16 rows by 4 columns and there is no horizontal sum;
 * a tile is 16 rows x 4 tokens. That halves prefill time and lets decode stream one
 * sequential run per group.
 *
 * Attention's row kernels take f32 rows or f16 ones (an f16 KV cache), widened as they load.
 */
#include "quant_simd.h"

#if QUANT_HAVE_X86_KERNELS

#include <immintrin.h>
#include <math.h>
#include <string.h>

#define ALWAYS_INLINE static inline __attribute__((always_inline))
/* Loops over register arrays must unroll completely, or the array lives on the stack with a
 * store and reload around every FMA: GCC 12 stops by itself at 4 x 64-byte elements or so.
 * Clang (the fuzz build) needs no push, and with sanitizers the pragma doubled its compile time. */
#if defined(__clang__)
#define UNROLL
#else
#define UNROLL _Pragma("GCC unroll 16")
#endif

#define ROW_TILE 4
/* Float weights at one or two tokens are bound by how many rows stream at once, not by the
 * FMAs: eight rows per tile (16 accumulators at most) read aio-large's f32 matrices 14% faster
 * than four; at three or more tokens eight rows would spill the accumulators. */
#define F_ROW_TILE 8
_Static_assert(QUANT_PACK_ROWS == 16, "a packed group is one zmm of int32 lanes");
#define TOK_TILE 4

static inline uint16_t load_u16(const uint8_t *p) {
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* ---- activation preparation ---- */

/* roundf's halves-away-from-zero, then quant.c's clamp (NaN -> 0, into [-127, 127]);
 * v - trunc(v) is exact, so the comparison with 0.5 decides ties exactly. */
ALWAYS_INLINE __m512i round_to_q8(__m512 v) {
    __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m512 frac = _mm512_abs_ps(_mm512_sub_ps(v, t));
    __mmask16 away = _mm512_cmp_ps_mask(frac, _mm512_set1_ps(0.5f), _CMP_GE_OQ);
    __m512 step = _mm512_or_ps(_mm512_set1_ps(1.0f), _mm512_and_ps(v, _mm512_set1_ps(-0.0f)));
    __m512 r = _mm512_mask_add_ps(t, away, t, step);
    r = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(r, r, _CMP_ORD_Q), r);
    r = _mm512_min_ps(_mm512_max_ps(r, _mm512_set1_ps(-127.0f)), _mm512_set1_ps(127.0f));
    return _mm512_cvttps_epi32(r);
}

static void prepare_block(const float *x, int32_t bias, int8_t *q, float *scale, int32_t *corr) {
    __m512 x0 = _mm512_loadu_ps(x), x1 = _mm512_loadu_ps(x + 16);
    /* max(|x|, m) keeps m when |x| is NaN, as fmaxf does in the scalar version */
    __m512 m = _mm512_max_ps(_mm512_abs_ps(x0), _mm512_setzero_ps());
    m = _mm512_max_ps(_mm512_abs_ps(x1), m);
    float d = _mm512_reduce_max_ps(m) / 127.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    __m512 vid = _mm512_set1_ps(id);
    __m128i q0 = _mm512_cvtepi32_epi8(round_to_q8(_mm512_mul_ps(x0, vid)));
    __m128i q1 = _mm512_cvtepi32_epi8(round_to_q8(_mm512_mul_ps(x1, vid)));
    __m256i qs = _mm256_inserti128_si256(_mm256_castsi128_si256(q0), q1, 1);
    _mm256_storeu_si256((__m256i *)q, qs);
    _mm256_storeu_ps(scale, _mm256_set1_ps(d));
    __m256i sums = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(1), qs);
    _mm256_storeu_si256((__m256i *)corr, _mm256_mullo_epi32(sums, _mm256_set1_epi32(-bias)));
}

void quant_act_prepare_q_avx512(int wtype, const float *x, uint8_t *act, int64_t n_cols) {
    size_t region = quant_act_region_bytes(n_cols);
    int64_t nb = n_cols / QUANT_QBLOCK;
    int8_t *q = (int8_t *)act;
    float *scales = (float *)(act + region);
    int32_t *corr = (int32_t *)(act + 2 * region);
    int32_t bias = quant_act_bias(wtype);
    for (int64_t b = 0; b < nb; b++)
        prepare_block(x + QUANT_QBLOCK * b, bias, q + 32 * b, scales + 8 * b, corr + 8 * b);
    size_t pad = region - (size_t)nb * 32; /* the kernels read the padding as a zero block */
    memset(q + 32 * nb, 0, pad);
    memset(scales + 8 * nb, 0, pad);
    memset(corr + 8 * nb, 0, pad);
}

/* ---- integer weights: two blocks per zmm ---- */

/* The f16 scales of a block pair in each of R rows, wd[i] = [d0 x 8, d1 x 8] of row i: the
 * per-lane scale of the pair's 16 int32 dot-product lanes. The 2R halves are gathered with
 * scalar ALU ops, which run beside the vector pipes, and converted by one vcvtph2ps. */
ALWAYS_INLINE void group_scales(const uint8_t *const *row, size_t off0, size_t off1, const int R,
                                __m512 wd[ROW_TILE]) {
    uint64_t packed[2] = {0, 0};
    UNROLL for (int i = 0; i < R; i++) {
        uint64_t pair = load_u16(row[i] + off0) | (uint32_t)load_u16(row[i] + off1) << 16;
        packed[i / 2] |= pair << (32 * (i % 2));
    }
    __m128i halves = _mm_set_epi64x((long long)packed[1], (long long)packed[0]);
    __m512 d = _mm512_castps256_ps512(_mm256_cvtph_ps(halves));
    const __m512i pair_lanes = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    UNROLL for (int i = 0; i < R; i++)
        wd[i] = _mm512_permutexvar_ps(_mm512_add_epi32(pair_lanes, _mm512_set1_epi32(2 * i)), d);
}

/* Q8_0 quants + 128: unsigned, as vpdpbusd wants its first operand. */
ALWAYS_INLINE __m512i pair_q8_0(const uint8_t *b0, const uint8_t *b1) {
    __m256i lo = _mm256_loadu_si256((const __m256i *)(b0 + 2));
    __m256i hi = _mm256_loadu_si256((const __m256i *)(b1 + 2));
    __m512i q = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
    return _mm512_xor_si512(q, _mm512_set1_epi8((char)0x80));
}

/* Q4_0 nibbles of two blocks (16 bytes each, as stored) in element order: [lo(b0) hi(b0)
 * lo(b1) hi(b1)]. A 64-bit shift by 4 is as good as a byte shift here: the bits it drags in
 * from the next byte land in the high nibble, which the mask clears. */
ALWAYS_INLINE __m512i nibbles_q4_0(__m256i q) {
    __m512i z = _mm512_permutexvar_epi64(_mm512_set_epi64(3, 2, 3, 2, 1, 0, 1, 0), _mm512_castsi256_si512(q));
    z = _mm512_srlv_epi64(z, _mm512_set_epi64(4, 4, 0, 0, 4, 4, 0, 0));
    return _mm512_and_si512(z, _mm512_set1_epi8(0x0F));
}

ALWAYS_INLINE __m512i pair_q4_0(const uint8_t *b0, const uint8_t *b1) {
    __m128i lo = _mm_loadu_si128((const __m128i *)(b0 + 2));
    __m128i hi = _mm_loadu_si128((const __m128i *)(b1 + 2));
    return nibbles_q4_0(_mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1));
}

typedef struct act_ptrs {
    const int8_t *q;
    const float *scale, *bscale; /* per lane (8 per block), per block */
    const int32_t *corr, *bcorr, *hcorr; /* per lane, per block, per half block */
} act_ptrs;


ALWAYS_INLINE act_ptrs act_of(const quant_mm *m, int t) {
    const uint8_t *a = m->act + m->act_row_bytes * (size_t)t;
    return (act_ptrs){quant_act_quants(a), quant_act_scales(a, m->n_cols), quant_act_block_scales(a, m->n_cols),
                      quant_act_corr(a, m->n_cols), quant_act_bcorr(a, m->n_cols), quant_act_half_corr(a, m->n_cols)};
}

/* One pair of blocks (b, b+1) of R rows into the tile's accumulators, for each of T tokens. */
ALWAYS_INLINE void q_accumulate(const act_ptrs *x, int64_t b, const __m512i *wq, const __m512 *wd,
                                __m512 acc[ROW_TILE][TOK_TILE], const int R, const int T) {
    UNROLL for (int t = 0; t < T; t++) {
        __m512i xq = _mm512_loadu_si512(x[t].q + 32 * b);
        __m512 xd = _mm512_loadu_ps(x[t].scale + 8 * b);
        __m512i xc = _mm512_loadu_si512(x[t].corr + 8 * b);
        UNROLL for (int i = 0; i < R; i++) {
            __m512i dot = _mm512_dpbusd_epi32(xc, wq[i], xq);
            acc[i][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(xd, wd[i]), acc[i][t]);
        }
    }
}

/* Rows [r, r+R) x tokens [t0, t0+T): R and T are compile-time constants at every call site,
 * so the accumulator array lives in registers. */
ALWAYS_INLINE void q_tile(const quant_mm *m, const int wtype, int64_t r, int t0, const int R, const int T) {
    const int64_t nb = m->n_cols / QUANT_QBLOCK;
    const size_t bb = wtype == AION_DT_Q8_0 ? 34 : 18;
    const uint8_t *row[ROW_TILE];
    act_ptrs x[TOK_TILE];
    __m512 acc[ROW_TILE][TOK_TILE];
    UNROLL for (int i = 0; i < R; i++) row[i] = m->w + m->w_row_bytes * (size_t)(r + i);
    UNROLL for (int t = 0; t < T; t++) x[t] = act_of(m, t0 + t);
    UNROLL for (int i = 0; i < R; i++)
        UNROLL for (int t = 0; t < T; t++) acc[i][t] = _mm512_setzero_ps();
    /* the group after next, as f_tile */
    const int pf_lines = (int)((2 * bb * R + 63) / 64);
    quant_prefetch pf = quant_prefetch_start(row[0] + 2 * R * m->w_row_bytes, R * m->w_row_bytes, pf_lines,
                                             t0, m->n_tok, TOK_TILE);

    for (int64_t b = 0; b < nb; b += 2) {
        quant_prefetch_step(&pf, pf_lines);
        /* an odd last block pairs with itself; its act partner is the zeroed padding */
        const int64_t b1 = b + 1 < nb ? b + 1 : b;
        __m512i wq[ROW_TILE];
        __m512 wd[ROW_TILE];
        UNROLL for (int i = 0; i < R; i++) {
            const uint8_t *p0 = row[i] + bb * b, *p1 = row[i] + bb * b1;
            wq[i] = wtype == AION_DT_Q8_0 ? pair_q8_0(p0, p1) : pair_q4_0(p0, p1);
        }
        group_scales(row, bb * b, bb * b1, R, wd);
        q_accumulate(x, b, wq, wd, acc, R, T);
    }
    UNROLL for (int t = 0; t < T; t++)
        UNROLL for (int i = 0; i < R; i++) m->y[(t0 + t) * m->ldy + r + i] = _mm512_reduce_add_ps(acc[i][t]);
}

/* ---- row-interleaved Q8_0 / Q4_0 (layout in quant_simd.h): one int32 lane per row ---- */

/* A tile is 16 rows, or 32 (PACK_GROUPS) for Q8_0 / Q4_0 batches, x up to 4 tokens (4 int + 4
 * float accumulators a group; 8 tokens of one group measured slower for batches of 8). A batch of
 * three tokens or more streams the next group into L2 through all its passes (quant_prefetch):
 * prefetching 2 KiB ahead in the first pass only left the memory idle in the others. One or two
 * tokens prefetch nothing: one sequential stream, which the hardware prefetchers follow faster
 * alone. TinyLlama shape, interleaved, ms with / without: Q8_0 n=2 30 / 24, n=4 30 / 38; Q4_0 n=3
 * 19 / 24-30, n=4 18 / 33; decode 35% slower with. */
#define PACK_TOK_TILE 4
#define PACK_GROUPS 2
#define PACK_PREFETCH_MIN_TOK 3

/* The prefetch stream of a tile over the G groups from `group` (which start at step), or none
 * (lines 0). The first groups of this thread's rows have none before them to have requested them,
 * so their first pass requests them at once instead of meeting them in demand misses; past the
 * last group the rows are another thread's, or another matrix's, and requesting them wasted
 * bandwidth. */
ALWAYS_INLINE quant_prefetch packed_prefetch(const quant_mm *m, int64_t group, const int G, const uint8_t *step,
                                             size_t group_bytes, int step_lines, int t0) {
    const quant_prefetch none = {NULL, 0};
    if (m->n_tok < PACK_PREFETCH_MIN_TOK) return none;
    if (t0 == 0 && group == m->r0 / QUANT_PACK_ROWS)
        for (size_t off = 0; off < (size_t)G * group_bytes; off += 64) __builtin_prefetch(step + off, 0, 2);
    const int64_t next = group + G, left = (m->r1 + QUANT_PACK_ROWS - 1) / QUANT_PACK_ROWS - next;
    if (left <= 0) return none;
    const int ahead = left < G ? (int)left : G;
    return quant_prefetch_start(step + (size_t)G * group_bytes, (size_t)ahead * group_bytes, ahead * step_lines, t0,
                                m->n_tok, PACK_TOK_TILE);
}

/* Chunk c (columns 4c..4c+3) of the 16 rows of a step, unsigned. */
ALWAYS_INLINE __m512i packed_chunk(const int wtype, const uint8_t *quants, int c) {
    if (wtype == AION_DT_Q8_0) return _mm512_loadu_si512(quants + 64 * c);
    __m512i v = _mm512_loadu_si512(quants + 64 * (c % 4));
    if (c >= 4) v = _mm512_srli_epi16(v, 4);
    return _mm512_and_si512(v, _mm512_set1_epi8(0x0F));
}

ALWAYS_INLINE int32_t load_i32(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* A group's 16 results per token, one vector store each; rows outside [r0, r1) are kept out. */
ALWAYS_INLINE void packed_store(const quant_mm *m, int64_t group, const __m512 *acc, int t0, const int T) {
    const int64_t row0 = group * QUANT_PACK_ROWS;
    __mmask16 keep = 0;
    UNROLL for (int i = 0; i < QUANT_PACK_ROWS; i++)
        if (row0 + i >= m->r0 && row0 + i < m->r1) keep |= (__mmask16)(1u << i);
    UNROLL for (int t = 0; t < T; t++) _mm512_mask_storeu_ps(m->y + (t0 + t) * m->ldy + row0, keep, acc[t]);
}

/* Where a tile over G consecutive groups starts: its first step, the step size, the distance
 * from one group's step to the next group's, and the prefetch stream ahead. */
typedef struct packed_walk {
    const uint8_t *step;
    size_t step_bytes, group_bytes;
    int pf_lines; /* per step of all G groups */
    quant_prefetch pf;
} packed_walk;

ALWAYS_INLINE packed_walk packed_walk_start(const quant_mm *m, const int wtype, int64_t group, const int G, int t0) {
    packed_walk pw = {.step_bytes = quant_packed_step_bytes(wtype)};
    pw.group_bytes = quant_packed_group_bytes(wtype, m->n_cols);
    pw.step = m->w + pw.group_bytes * (size_t)group;
    const int step_lines = (int)((pw.step_bytes + 63) / 64);
    pw.pf_lines = G * step_lines;
    pw.pf = packed_prefetch(m, group, G, pw.step, pw.group_bytes, step_lines, t0);
    return pw;
}

/* The tile's activation rows and zeroed accumulators. */
ALWAYS_INLINE void packed_tile_start(const quant_mm *m, int t0, const int T, act_ptrs *x, __m512 *acc) {
    UNROLL for (int t = 0; t < T; t++) x[t] = act_of(m, t0 + t), acc[t] = _mm512_setzero_ps();
}

/* Rows of groups [g, g+G) x tokens [t0, t0+T). A block's integer dot is exact in each lane,
 * started at the activation block's bias correction; one conversion and one FMA per block and
 * token then add d_weight (per lane) * d_act (broadcast) * dot. With G = 2 each activation
 * broadcast feeds two groups' vpdpbusd and each step has twice the independent work between its
 * loads: TinyLlama Q8_0, 8 tokens, t(8)/t(1) 1.70-1.73 -> 1.65-1.67 with fast memory, Q4_0 t(8)
 * 27.7 -> 27.2 ms (interleaved runs). Rows outside [r0, r1) are not stored. */
ALWAYS_INLINE void packed_tile(const quant_mm *m, const int wtype, int64_t group, const int G, int t0, const int T) {
    const int64_t nb = m->n_cols / QUANT_QBLOCK;
    packed_walk pw = packed_walk_start(m, wtype, group, G, t0);
    act_ptrs x[PACK_TOK_TILE];
    __m512 acc[PACK_GROUPS][PACK_TOK_TILE];
    packed_tile_start(m, t0, T, x, acc[0]);
    UNROLL for (int g = 1; g < G; g++)
        UNROLL for (int t = 0; t < T; t++) acc[g][t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++, pw.step += pw.step_bytes) {
        if (pw.pf.lines) quant_prefetch_step(&pw.pf, pw.pf_lines);
        __m512 dw[PACK_GROUPS];
        __m512i dot[PACK_GROUPS][PACK_TOK_TILE];
        UNROLL for (int g = 0; g < G; g++) {
            dw[g] = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(pw.step + g * pw.group_bytes)));
            UNROLL for (int t = 0; t < T; t++) dot[g][t] = _mm512_set1_epi32(x[t].bcorr[b]);
        }
        UNROLL for (int c = 0; c < 8; c++) {
            __m512i w[PACK_GROUPS];
            UNROLL for (int g = 0; g < G; g++) w[g] = packed_chunk(wtype, pw.step + g * pw.group_bytes + 32, c);
            UNROLL for (int t = 0; t < T; t++) {
                const __m512i xq = _mm512_set1_epi32(load_i32(x[t].q + 32 * b + 4 * c));
                UNROLL for (int g = 0; g < G; g++) dot[g][t] = _mm512_dpbusd_epi32(dot[g][t], w[g], xq);
            }
        }
        UNROLL for (int t = 0; t < T; t++) {
            const __m512 xd = _mm512_set1_ps(x[t].bscale[b]);
            UNROLL for (int g = 0; g < G; g++)
                acc[g][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot[g][t]), _mm512_mul_ps(dw[g], xd), acc[g][t]);
        }
    }
    UNROLL for (int g = 0; g < G; g++) packed_store(m, group + g, acc[g], t0, T);
}

/* The same for Q4_K and Q5_K, a super-block per step: each vector of nibbles is loaded once and feeds
 * two sub-blocks (its low and high nibbles), each with its own integer sums; per sub-block and
 * token, the scale and the min then take one FMA each for all 16 rows:
 *   y += d*sc * d_act * dot - dmin*m * d_act * sum(q_act),  the act block's bcorr being -sum(q_act). */
ALWAYS_INLINE void packed_k_tile(const quant_mm *m, const int wtype, int64_t group, int t0, const int T) {
    const int64_t n_super = m->n_cols / 256;
    packed_walk pw = packed_walk_start(m, wtype, group, 1, t0);
    act_ptrs x[PACK_TOK_TILE];
    __m512 acc[PACK_TOK_TILE];
    packed_tile_start(m, t0, T, x, acc);
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    for (int64_t sb = 0; sb < n_super; sb++, pw.step += pw.step_bytes) {
        const uint8_t *step = pw.step;
        if (pw.pf.lines) quant_prefetch_step(&pw.pf, pw.pf_lines);
        const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)step));
        const __m512 dmin = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(step + 32)));
        UNROLL for (int p = 0; p < 4; p++) {
            const int64_t b = 8 * sb + 2 * p; /* act block of sub-block 2p; b + 1 that of 2p + 1 */
            __m512i dot[2][PACK_TOK_TILE];
            UNROLL for (int t = 0; t < T; t++) dot[0][t] = dot[1][t] = _mm512_setzero_si512();
            UNROLL for (int c = 0; c < 8; c++) {
                __m512i v = _mm512_loadu_si512(step + quant_packed_k_quants_at(wtype, 8 * p + c));
                __m512i w[2] = {_mm512_and_si512(v, low4), _mm512_and_si512(_mm512_srli_epi16(v, 4), low4)};
                if (wtype == AION_DT_Q5_K) { /* bit 2p + h of each byte of qh vector c, moved to bit 4 */
                    __m512i qh = _mm512_loadu_si512(step + quant_packed_k_high_at(c));
                    UNROLL for (int h = 0; h < 2; h++) {
                        const int k = 2 * p + h;
                        __m512i at4 = k <= 4 ? _mm512_slli_epi16(qh, (unsigned)(4 - k)) : _mm512_srli_epi16(qh, (unsigned)(k - 4));
                        w[h] = _mm512_ternarylogic_epi32(w[h], at4, _mm512_set1_epi8(0x10), 0xF8); /* w | (at4 & 0x10) */
                    }
                }
                UNROLL for (int t = 0; t < T; t++)
                    UNROLL for (int h = 0; h < 2; h++)
                        dot[h][t] = _mm512_dpbusd_epi32(dot[h][t], w[h],
                                                        _mm512_set1_epi32(load_i32(x[t].q + 32 * (b + h) + 4 * c)));
            }
            UNROLL for (int h = 0; h < 2; h++) {
                const int j = 2 * p + h;
                __m512 dsc = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(
                                                  _mm_loadu_si128((const __m128i *)(step + 64 + 16 * j)))));
                __m512 dmn = _mm512_mul_ps(dmin, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(
                                                     _mm_loadu_si128((const __m128i *)(step + 192 + 16 * j)))));
                UNROLL for (int t = 0; t < T; t++) {
                    float xd = x[t].bscale[b + h];
                    acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot[h][t]), _mm512_mul_ps(dsc, _mm512_set1_ps(xd)), acc[t]);
                    acc[t] = _mm512_fmadd_ps(dmn, _mm512_set1_ps(xd * (float)x[t].bcorr[b + h]), acc[t]);
                }
            }
        }
    }
    packed_store(m, group, acc, t0, T);
}

/* The same for Q6_K (layout in quant_simd.h). Its sub-blocks are 16 columns: a half super-block n
 * and chunk c (4 columns) give the vectors A, B, H of triple 8n + c (ql, ql + 32, qh), which hold
 * chunk c of four sub-blocks, each a 4-bit level from A or B and 2 bits from H:
 *   sub-block 8n + c/4 + 2q, q = 0..3:  A & 15 | H bits 0-1,  B & 15 | H bits 2-3,
 *                                       A >> 4 | H bits 4-5,  B >> 4 | H bits 6-7  (into bits 4-5)
 * Each is one select (vpternlogd) of the nibble and the bits moved to 4-5, H masked beforehand so
 * that the byte's top bits come out 0. Levels carry a +32 bias, which the activations' half-block
 * correction (16 columns) removes; per sub-block and token, one conversion and one FMA. */
ALWAYS_INLINE void packed_q6_tile(const quant_mm *m, int64_t group, int t0, const int T) {
    const int64_t n_super = m->n_cols / 256;
    packed_walk pw = packed_walk_start(m, AION_DT_Q6_K, group, 1, t0);
    act_ptrs x[PACK_TOK_TILE];
    __m512 acc[PACK_TOK_TILE];
    packed_tile_start(m, t0, T, x, acc);
    const __m512i nib = _mm512_set1_epi8(0x0F), bits01_45 = _mm512_set1_epi8(0x33), bits23_67 = _mm512_set1_epi8((char)0xCC);
    for (int64_t sb = 0; sb < n_super; sb++, pw.step += pw.step_bytes) {
        const uint8_t *step = pw.step;
        if (pw.pf.lines) quant_prefetch_step(&pw.pf, pw.pf_lines);
        const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)step));
        const uint8_t *triples = step + QUANT_PACK_Q6_HEAD;
        UNROLL for (int n = 0; n < 2; n++) {
            UNROLL for (int is = 0; is < 2; is++) {
                __m512i dot[4][PACK_TOK_TILE];
                UNROLL for (int q = 0; q < 4; q++) {
                    const int64_t j = 16 * sb + 8 * n + is + 2 * q; /* sub-block index in the row */
                    UNROLL for (int t = 0; t < T; t++) dot[q][t] = _mm512_set1_epi32(x[t].hcorr[j]);
                }
                UNROLL for (int c = 4 * is; c < 4 * is + 4; c++) {
                    const uint8_t *tr = triples + 192 * (8 * n + c);
                    const __m512i A = _mm512_loadu_si512(tr), B = _mm512_loadu_si512(tr + 64);
                    const __m512i H = _mm512_loadu_si512(tr + 128);
                    const __m512i h0 = _mm512_and_si512(H, bits01_45), h1 = _mm512_and_si512(H, bits23_67);
                    __m512i w[4];
                    w[0] = _mm512_ternarylogic_epi32(nib, A, _mm512_slli_epi16(h0, 4), 0xCA); /* nib ? A : h */
                    w[1] = _mm512_ternarylogic_epi32(nib, B, _mm512_slli_epi16(h1, 2), 0xCA);
                    w[2] = _mm512_ternarylogic_epi32(nib, _mm512_srli_epi16(A, 4), h0, 0xCA);
                    w[3] = _mm512_ternarylogic_epi32(nib, _mm512_srli_epi16(B, 4), _mm512_srli_epi16(h1, 2), 0xCA);
                    UNROLL for (int q = 0; q < 4; q++) {
                        const int64_t col = 256 * sb + 128 * n + 32 * q + 4 * c;
                        UNROLL for (int t = 0; t < T; t++)
                            dot[q][t] = _mm512_dpbusd_epi32(dot[q][t], w[q], _mm512_set1_epi32(load_i32(x[t].q + col)));
                    }
                }
                UNROLL for (int q = 0; q < 4; q++) {
                    const int j = 8 * n + is + 2 * q; /* sub-block in the super-block */
                    const __m512 dsc = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(
                                                            _mm_loadu_si128((const __m128i *)(step + 32 + 16 * j)))));
                    const int64_t b = (256 * sb + 16 * j) / QUANT_QBLOCK; /* its activation block */
                    UNROLL for (int t = 0; t < T; t++)
                        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot[q][t]), _mm512_mul_ps(dsc, _mm512_set1_ps(x[t].bscale[b])),
                                                 acc[t]);
                }
            }
        }
    }
    packed_store(m, group, acc, t0, T);
}

ALWAYS_INLINE void packed_any_tile(const quant_mm *m, const int wtype, int64_t group, const int G, int t0, const int T) {
    if (wtype == AION_DT_Q6_K) packed_q6_tile(m, group, t0, T);
    else if (quant_packed_super(wtype)) packed_k_tile(m, wtype, group, t0, T);
    else packed_tile(m, wtype, group, G, t0, T);
}

ALWAYS_INLINE void packed_groups(const quant_mm *m, const int wtype, int64_t group, const int G) {
    int t = 0;
    for (; t + PACK_TOK_TILE <= m->n_tok; t += PACK_TOK_TILE) packed_any_tile(m, wtype, group, G, t, PACK_TOK_TILE);
    switch (m->n_tok - t) {
    case 3: packed_any_tile(m, wtype, group, G, t, 3); break;
    case 2: packed_any_tile(m, wtype, group, G, t, 2); break;
    case 1: packed_any_tile(m, wtype, group, G, t, 1); break;
    default: break;
    }
}

/* Batches walk Q8_0 / Q4_0 groups in pairs (packed_tile); one or two tokens stream one group at a
 * time, the single sequential stream the hardware prefetchers follow best. */
ALWAYS_INLINE void packed_matmul(const quant_mm *m, const int wtype) {
    int64_t g = m->r0 / QUANT_PACK_ROWS;
    const int64_t end = (m->r1 + QUANT_PACK_ROWS - 1) / QUANT_PACK_ROWS;
    if ((wtype == AION_DT_Q8_0 || wtype == AION_DT_Q4_0) && m->n_tok >= PACK_PREFETCH_MIN_TOK)
        for (; g + PACK_GROUPS <= end; g += PACK_GROUPS) packed_groups(m, wtype, g, PACK_GROUPS);
    for (; g < end; g++) packed_groups(m, wtype, g, 1);
}


/* ---- K-quants: a super-block of 256 weights is four pairs of activation blocks ---- */

/* The 8 six-bit scales and 8 mins of a Q4_K/Q5_K super-block (its 12 packed bytes at p) as 16
 * bytes [sc0..sc7, m0..m7]: four 32-bit word operations instead of 16 byte extractions
 * (layout in quant_k.c: quant_k_scale_min). */
ALWAYS_INLINE __m128i k_scales_mins(const uint8_t *p) {
    uint32_t u0, u1, u2;
    memcpy(&u0, p, 4), memcpy(&u1, p + 4, 4), memcpy(&u2, p + 8, 4);
    const uint32_t low6 = 0x3F3F3F3Fu, low4 = 0x0F0F0F0Fu, low2 = 0x03030303u;
    uint32_t sc03 = u0 & low6, m03 = u1 & low6;
    uint32_t sc47 = (u2 & low4) | ((u0 >> 6) & low2) << 4;
    uint32_t m47 = ((u2 >> 4) & low4) | ((u1 >> 6) & low2) << 4;
    return _mm_set_epi32((int)m47, (int)m03, (int)sc47, (int)sc03);
}

/* The per-lane factors of one super-block of one row: Q4_K/Q5_K [d*sc0..d*sc7, dmin*m0..dmin*m7]
 * (one per 32-weight sub-block, the mins 8 lanes up), Q6_K d*sc0..d*sc15 (one per 16 weights);
 * pair p then picks its 16 lanes. */
ALWAYS_INLINE __m512 k_decode_factors(const int wtype, const uint8_t *block) {
    if (wtype == AION_DT_Q6_K) {
        __m512i sc = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(block + 192)));
        return _mm512_mul_ps(_mm512_cvtepi32_ps(sc), _mm512_set1_ps(_cvtsh_ss(load_u16(block + 208))));
    }
    __m512 v = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(k_scales_mins(block + 4)));
    uint32_t d_dmin;
    memcpy(&d_dmin, block, 4);
    __m512 dd = _mm512_castps128_ps512(_mm_cvtph_ps(_mm_cvtsi32_si128((int)d_dmin)));
    const __m512i halves = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    return _mm512_mul_ps(v, _mm512_permutexvar_ps(halves, dd));
}

/* Lane l of pair p: Q4_K/Q5_K sub-block 2p + l/8, Q6_K sub-block 4p + l/4. */
ALWAYS_INLINE __m512i k_lane_index(const int wtype, int p) {
    if (wtype == AION_DT_Q6_K)
        return _mm512_add_epi32(_mm512_set1_epi32(4 * p),
                                _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0));
    return _mm512_add_epi32(_mm512_set1_epi32(2 * p), _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0));
}

/* The 64 unsigned levels of pair p (weights 64p .. 64p+63 of the super-block). */
ALWAYS_INLINE __m512i k_pair_levels(const int wtype, const uint8_t *block, int p) {
    if (wtype == AION_DT_Q6_K) {
        int half = p / 2, c = p % 2;
        __m512i lo = _mm512_loadu_si512(block + 64 * half);
        lo = _mm512_and_si512(_mm512_srli_epi64(lo, 4 * c), _mm512_set1_epi8(0x0F));
        __m256i h = _mm256_loadu_si256((const __m256i *)(block + 128 + 32 * half));
        __m512i hi = _mm512_inserti64x4(_mm512_castsi256_si512(h), h, 1);
        hi = _mm512_srlv_epi64(hi, _mm512_set_epi64(4 * c + 2, 4 * c + 2, 4 * c + 2, 4 * c + 2, 4 * c, 4 * c, 4 * c, 4 * c));
        hi = _mm512_slli_epi64(_mm512_and_si512(hi, _mm512_set1_epi8(0x03)), 4);
        return _mm512_or_si512(lo, hi);
    }
    const uint8_t *qs = block + (wtype == AION_DT_Q5_K ? 48 : 16);
    __m256i b = _mm256_loadu_si256((const __m256i *)(qs + 32 * p));
    __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(b), b, 1);
    z = _mm512_and_si512(_mm512_srlv_epi64(z, _mm512_set_epi64(4, 4, 4, 4, 0, 0, 0, 0)), _mm512_set1_epi8(0x0F));
    if (wtype == AION_DT_Q5_K) {
        __m256i h = _mm256_loadu_si256((const __m256i *)(block + 16));
        __m512i hi = _mm512_inserti64x4(_mm512_castsi256_si512(h), h, 1);
        hi = _mm512_srlv_epi64(hi, _mm512_set_epi64(2 * p + 1, 2 * p + 1, 2 * p + 1, 2 * p + 1, 2 * p, 2 * p, 2 * p, 2 * p));
        z = _mm512_or_si512(z, _mm512_slli_epi64(_mm512_and_si512(hi, _mm512_set1_epi8(0x01)), 4));
    }
    return z;
}

/* As q_tile, a super-block per step: the factors of each row are decoded once and reused by
 * the tile's tokens. Q6_K's levels carry a +32 bias that the act row's correction removes;
 * Q4_K/Q5_K's correction is minus the activations' sum, which the min term scales. */
ALWAYS_INLINE void k_tile(const quant_mm *m, const int wtype, int64_t r, int t0, const int R, const int T) {
    const int64_t n_super = m->n_cols / 256;
    const size_t bb = wtype == AION_DT_Q4_K ? 144 : wtype == AION_DT_Q5_K ? 176 : 210;
    const bool has_min = wtype != AION_DT_Q6_K;
    const uint8_t *row[ROW_TILE];
    act_ptrs x[TOK_TILE];
    __m512 acc[ROW_TILE][TOK_TILE];
    UNROLL for (int i = 0; i < R; i++) row[i] = m->w + m->w_row_bytes * (size_t)(r + i);
    UNROLL for (int t = 0; t < T; t++) x[t] = act_of(m, t0 + t);
    UNROLL for (int i = 0; i < R; i++)
        UNROLL for (int t = 0; t < T; t++) acc[i][t] = _mm512_setzero_ps();
    /* the group after next, as f_tile */
    const int pf_lines = (int)((bb * R + 63) / 64);
    quant_prefetch pf = quant_prefetch_start(row[0] + 2 * R * m->w_row_bytes, R * m->w_row_bytes, pf_lines,
                                             t0, m->n_tok, TOK_TILE);

    for (int64_t sb = 0; sb < n_super; sb++) {
        quant_prefetch_step(&pf, pf_lines);
        __m512 f[ROW_TILE];
        UNROLL for (int i = 0; i < R; i++) f[i] = k_decode_factors(wtype, row[i] + bb * sb);
        UNROLL for (int p = 0; p < 4; p++) {
            const __m512i lanes = k_lane_index(wtype, p), min_lanes = _mm512_add_epi32(lanes, _mm512_set1_epi32(8));
            __m512i wq[ROW_TILE];
            __m512 wd[ROW_TILE], wm[ROW_TILE];
            UNROLL for (int i = 0; i < R; i++) {
                wq[i] = k_pair_levels(wtype, row[i] + bb * sb, p);
                wd[i] = _mm512_permutexvar_ps(lanes, f[i]);
                if (has_min) wm[i] = _mm512_permutexvar_ps(min_lanes, f[i]);
            }
            const int64_t b = 8 * sb + 2 * p; /* first activation block of the pair */
            UNROLL for (int t = 0; t < T; t++) {
                __m512i xq = _mm512_loadu_si512(x[t].q + 32 * b);
                __m512 xd = _mm512_loadu_ps(x[t].scale + 8 * b);
                __m512i xc = _mm512_loadu_si512(x[t].corr + 8 * b);
                /* the min term's activation factor, shared by the tile's rows: d_act * -sum(q_act) */
                __m512 xmin = has_min ? _mm512_mul_ps(xd, _mm512_cvtepi32_ps(xc)) : _mm512_setzero_ps();
                UNROLL for (int i = 0; i < R; i++) {
                    __m512i dot = _mm512_dpbusd_epi32(has_min ? _mm512_setzero_si512() : xc, wq[i], xq);
                    acc[i][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(xd, wd[i]), acc[i][t]);
                    if (has_min) acc[i][t] = _mm512_fmadd_ps(xmin, wm[i], acc[i][t]);
                }
            }
        }
    }
    UNROLL for (int t = 0; t < T; t++)
        UNROLL for (int i = 0; i < R; i++) m->y[(t0 + t) * m->ldy + r + i] = _mm512_reduce_add_ps(acc[i][t]);
}


/* ---- float weights: 16 columns per zmm ---- */

ALWAYS_INLINE __m512 widen_bf16(__m256i h) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)); }

ALWAYS_INLINE __m512 load_w16(const int wtype, const uint8_t *p) {
    if (wtype == AION_DT_F32) return _mm512_loadu_ps(p);
    __m256i h = _mm256_loadu_si256((const __m256i *)p);
    return wtype == AION_DT_F16 ? _mm512_cvtph_ps(h) : widen_bf16(h);
}

ALWAYS_INLINE __m512 load_w16_masked(const int wtype, const uint8_t *p, __mmask16 k) {
    if (wtype == AION_DT_F32) return _mm512_maskz_loadu_ps(k, p);
    __m256i h = _mm256_maskz_loadu_epi16(k, p);
    return wtype == AION_DT_F16 ? _mm512_cvtph_ps(h) : widen_bf16(h);
}

ALWAYS_INLINE void f_step(const int wtype, const uint8_t *const *row, const float *const *x, int64_t col,
                          __mmask16 k, const bool masked, __m512 acc[F_ROW_TILE][TOK_TILE], const int R,
                          const int T) {
    const size_t es = wtype == AION_DT_F32 ? 4 : 2;
    __m512 wv[F_ROW_TILE];
    UNROLL for (int i = 0; i < R; i++)
        wv[i] = masked ? load_w16_masked(wtype, row[i] + es * col, k) : load_w16(wtype, row[i] + es * col);
    UNROLL for (int t = 0; t < T; t++) {
        __m512 xv = masked ? _mm512_maskz_loadu_ps(k, x[t] + col) : _mm512_loadu_ps(x[t] + col);
        UNROLL for (int i = 0; i < R; i++) acc[i][t] = _mm512_fmadd_ps(wv[i], xv, acc[i][t]);
    }
}

ALWAYS_INLINE void f_tile(const quant_mm *m, const int wtype, int64_t r, int t0, const int R, const int T) {
    const size_t es = wtype == AION_DT_F32 ? 4 : 2;
    const uint8_t *row[F_ROW_TILE];
    const float *x[TOK_TILE];
    __m512 acc[F_ROW_TILE][TOK_TILE];
    UNROLL for (int i = 0; i < R; i++) row[i] = m->w + m->w_row_bytes * (size_t)(r + i);
    UNROLL for (int t = 0; t < T; t++) x[t] = (const float *)(m->act + m->act_row_bytes * (size_t)(t0 + t));
    UNROLL for (int i = 0; i < R; i++)
        UNROLL for (int t = 0; t < T; t++) acc[i][t] = _mm512_setzero_ps();
    /* the group after next: a group's prefetches, issued as it streams, need a whole group's time
     * to land (one group ahead, four tokens of aio-large's f32 matrices took 25% longer) */
    const int pf_lines = (int)((16 * es * R + 63) / 64);
    quant_prefetch pf = quant_prefetch_start(row[0] + 2 * R * m->w_row_bytes, R * m->w_row_bytes, pf_lines,
                                             t0, m->n_tok, TOK_TILE);
    int64_t c = 0;
    for (; c + 16 <= m->n_cols; c += 16) {
        quant_prefetch_step(&pf, pf_lines);
        f_step(wtype, row, x, c, 0xFFFF, false, acc, R, T);
    }
    if (c < m->n_cols) f_step(wtype, row, x, c, (__mmask16)((1u << (m->n_cols - c)) - 1), true, acc, R, T);
    UNROLL for (int t = 0; t < T; t++)
        UNROLL for (int i = 0; i < R; i++) m->y[(t0 + t) * m->ldy + r + i] = _mm512_reduce_add_ps(acc[i][t]);
}


/* ---- one driver for every weight type ---- */

/* wtype is a constant at every call, so the choice of tile folds away at compile time. */
ALWAYS_INLINE void tile(const quant_mm *m, const int wtype, int64_t r, int t0, const int R, const int T) {
    if (quant_is_k(wtype)) k_tile(m, wtype, r, t0, R, T);
    else if (quant_is_int_weight(wtype)) q_tile(m, wtype, r, t0, R, T);
    else f_tile(m, wtype, r, t0, R, T);
}

ALWAYS_INLINE void row_group(const quant_mm *m, const int wtype, int64_t r, const int R) {
    int t = 0;
    for (; t + TOK_TILE <= m->n_tok; t += TOK_TILE) tile(m, wtype, r, t, R, TOK_TILE);
    switch (m->n_tok - t) {
    case 3: tile(m, wtype, r, t, R, 3); break;
    case 2: tile(m, wtype, r, t, R, 2); break;
    case 1: tile(m, wtype, r, t, R, 1); break;
    default: break;
    }
}

ALWAYS_INLINE void matmul_rows(const quant_mm *m, const int wtype) {
    int64_t r = m->r0;
    if (!quant_is_int_weight(wtype) && m->n_tok <= 2)
        for (; r + F_ROW_TILE <= m->r1; r += F_ROW_TILE) row_group(m, wtype, r, F_ROW_TILE);
    for (; r + ROW_TILE <= m->r1; r += ROW_TILE) row_group(m, wtype, r, ROW_TILE);
    for (; r < m->r1; r++) row_group(m, wtype, r, 1);
}

static void q8_0_matmul(const quant_mm *m) { matmul_rows(m, AION_DT_Q8_0); }
static void q4_0_matmul(const quant_mm *m) { matmul_rows(m, AION_DT_Q4_0); }
static void q4_k_matmul(const quant_mm *m) { matmul_rows(m, AION_DT_Q4_K); }
static void q5_k_matmul(const quant_mm *m) { matmul_rows(m, AION_DT_Q5_K); }
static void q6_k_matmul(const quant_mm *m) { matmul_rows(m, AION_DT_Q6_K); }
static void f32_matmul(const quant_mm *m) { matmul_rows(m, AION_DT_F32); }
static void f16_matmul(const quant_mm *m) { matmul_rows(m, AION_DT_F16); }
static void bf16_matmul(const quant_mm *m) { matmul_rows(m, AION_DT_BF16); }

static void q8_0_packed_matmul(const quant_mm *m) { packed_matmul(m, AION_DT_Q8_0); }
static void q4_0_packed_matmul(const quant_mm *m) { packed_matmul(m, AION_DT_Q4_0); }
static void q4_k_packed_matmul(const quant_mm *m) { packed_matmul(m, AION_DT_Q4_K); }
static void q5_k_packed_matmul(const quant_mm *m) { packed_matmul(m, AION_DT_Q5_K); }
static void q6_k_packed_matmul(const quant_mm *m) { packed_matmul(m, AION_DT_Q6_K); }

bool quant_matmul_avx512(const quant_mm *m) {
    if (m->packed) {
        if (m->wtype == AION_DT_Q8_0) q8_0_packed_matmul(m);
        else if (m->wtype == AION_DT_Q4_0) q4_0_packed_matmul(m);
        else if (m->wtype == AION_DT_Q4_K) q4_k_packed_matmul(m);
        else if (m->wtype == AION_DT_Q5_K) q5_k_packed_matmul(m);
        else if (m->wtype == AION_DT_Q6_K) q6_k_packed_matmul(m);
        else return false;
        return true;
    }
    switch (m->wtype) {
    case AION_DT_Q8_0: q8_0_matmul(m); return true;
    case AION_DT_Q4_0: q4_0_matmul(m); return true;
    case AION_DT_Q4_K: q4_k_matmul(m); return true;
    case AION_DT_Q5_K: q5_k_matmul(m); return true;
    case AION_DT_Q6_K: q6_k_matmul(m); return true;
    case AION_DT_F32: f32_matmul(m); return true;
    case AION_DT_F16: f16_matmul(m); return true;
    case AION_DT_BF16: bf16_matmul(m); return true;
    default: return false;
    }
}

/* ---- vector helpers ---- */

float quant_dot_f32_avx512(const float *a, const float *b, int64_t n) {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps(), s2 = _mm512_setzero_ps(),
           s3 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
        s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32), s2);
        s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48), s3);
    }
    for (; i + 16 <= n; i += 16) s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    if (i < n) {
        __mmask16 k = (__mmask16)((1u << (n - i)) - 1);
        s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, a + i), _mm512_maskz_loadu_ps(k, b + i), s1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

void quant_axpy_f32_avx512(float *y, float a, const float *x, int64_t n) {
    __m512 va = _mm512_set1_ps(a);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, _mm512_fmadd_ps(va, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
    if (i < n) {
        __mmask16 k = (__mmask16)((1u << (n - i)) - 1);
        __m512 v = _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(k, x + i), _mm512_maskz_loadu_ps(k, y + i));
        _mm512_mask_storeu_ps(y + i, k, v);
    }
}


/* ---- attention runs: q and y stay in registers over all rows ---- */

#define MAX_HEAD_VECS 8 /* head size 128: the sizes specialised below (arrays of registers) */

ALWAYS_INLINE __mmask16 vec_mask(int v, int nv, __mmask16 tail) { return v == nv - 1 ? tail : (__mmask16)0xFFFF; }

/* Rows are f32, or f16 (an f16 KV cache) widened as they load: the same floats, half the bytes. */
ALWAYS_INLINE const void *row_at(const void *rows, size_t stride, int j, const int f16) {
    return (const char *)rows + stride * (size_t)j * (f16 ? 2 : 4);
}

ALWAYS_INLINE __m512 row_vec(const void *row, int v, __mmask16 m, const int f16) {
    if (f16) return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *)row + 16 * v));
    return _mm512_maskz_loadu_ps(m, (const float *)row + 16 * v);
}

/* NV (vectors per row) is a constant at the specialised call sites, so the arrays below are
 * registers; a stack array would put a store-to-load round trip into every FMA chain. */
/* The sums of 16 vectors, acc[j]'s in lane j: four rounds of pairwise shuffles and adds (45
 * operations, under 3 per row, where a reduce_add per row takes 8), which leave the rows in
 * lanes 0 2 1 3 8 10 9 11 4 6 5 7 12 14 13 15; a self-inverse permutation puts them in order. */
ALWAYS_INLINE __m512 sum16(const __m512 acc[16]) {
    __m512 v[8], w[4], x[2];
    UNROLL for (int j = 0; j < 8; j++) /* 128-bit quarters: row j in 0-1, row j+8 in 2-3 */
        v[j] = _mm512_add_ps(_mm512_shuffle_f32x4(acc[j], acc[j + 8], 0x44), _mm512_shuffle_f32x4(acc[j], acc[j + 8], 0xEE));
    UNROLL for (int j = 0; j < 4; j++) /* one quarter per row: j, j+8, j+4, j+12 */
        w[j] = _mm512_add_ps(_mm512_shuffle_f32x4(v[j], v[j + 4], 0x88), _mm512_shuffle_f32x4(v[j], v[j + 4], 0xDD));
    UNROLL for (int j = 0; j < 2; j++) /* two lanes per row in each quarter */
        x[j] = _mm512_add_ps(_mm512_shuffle_ps(w[j], w[j + 2], _MM_SHUFFLE(1, 0, 1, 0)),
                             _mm512_shuffle_ps(w[j], w[j + 2], _MM_SHUFFLE(3, 2, 3, 2)));
    __m512 y = _mm512_add_ps(_mm512_shuffle_ps(x[0], x[1], _MM_SHUFFLE(2, 0, 2, 0)),
                             _mm512_shuffle_ps(x[0], x[1], _MM_SHUFFLE(3, 1, 3, 1)));
    return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 2, 1, 3, 8, 10, 9, 11, 4, 6, 5, 7, 12, 14, 13, 15), y);
}

/* NV (vectors per row) is a constant at the specialised call sites, so the arrays below are
 * registers; a stack array would put a store-to-load round trip into every FMA chain. Rows go
 * 16 at a time, one accumulator each, summed together by sum16. */
ALWAYS_INLINE void dot_rows(const float *q, const void *rows, size_t stride, int n_rows, const int NV,
                            __mmask16 tail, float *scores, const int f16) {
    __m512 qv[MAX_HEAD_VECS];
    UNROLL for (int v = 0; v < NV; v++) qv[v] = _mm512_maskz_loadu_ps(vec_mask(v, NV, tail), q + 16 * v);
    int j = 0;
    for (; j + 16 <= n_rows; j += 16) {
        __m512 acc[16];
        UNROLL for (int i = 0; i < 16; i++) {
            const void *row = row_at(rows, stride, j + i, f16);
            acc[i] = _mm512_mul_ps(qv[0], row_vec(row, 0, vec_mask(0, NV, tail), f16));
            UNROLL for (int v = 1; v < NV; v++)
                acc[i] = _mm512_fmadd_ps(qv[v], row_vec(row, v, vec_mask(v, NV, tail), f16), acc[i]);
        }
        _mm512_storeu_ps(scores + j, sum16(acc));
    }
    for (; j < n_rows; j++) {
        const void *row = row_at(rows, stride, j, f16);
        __m512 acc = _mm512_mul_ps(qv[0], row_vec(row, 0, vec_mask(0, NV, tail), f16));
        UNROLL for (int v = 1; v < NV; v++) acc = _mm512_fmadd_ps(qv[v], row_vec(row, v, vec_mask(v, NV, tail), f16), acc);
        scores[j] = _mm512_reduce_add_ps(acc);
    }
}

ALWAYS_INLINE void axpy_rows(float *y, const float *w, const void *rows, size_t stride, int n_rows, const int NV,
                             __mmask16 tail, const int f16) {
    /* even and odd rows into separate sums: one chain of FMAs per vector made a row wait for the
     * previous row's FMA latency (4 vectors per row, head size 64) */
    __m512 ye[MAX_HEAD_VECS], yo[MAX_HEAD_VECS];
    UNROLL for (int v = 0; v < NV; v++) {
        ye[v] = _mm512_maskz_loadu_ps(vec_mask(v, NV, tail), y + 16 * v);
        yo[v] = _mm512_setzero_ps();
    }
    int j = 0;
    for (; j + 2 <= n_rows; j += 2) {
        const void *even = row_at(rows, stride, j, f16), *odd = row_at(rows, stride, j + 1, f16);
        const __m512 a = _mm512_set1_ps(w[j]), b = _mm512_set1_ps(w[j + 1]);
        UNROLL for (int v = 0; v < NV; v++) {
            ye[v] = _mm512_fmadd_ps(a, row_vec(even, v, vec_mask(v, NV, tail), f16), ye[v]);
            yo[v] = _mm512_fmadd_ps(b, row_vec(odd, v, vec_mask(v, NV, tail), f16), yo[v]);
        }
    }
    if (j < n_rows) {
        const void *row = row_at(rows, stride, j, f16);
        const __m512 a = _mm512_set1_ps(w[j]);
        UNROLL for (int v = 0; v < NV; v++) ye[v] = _mm512_fmadd_ps(a, row_vec(row, v, vec_mask(v, NV, tail), f16), ye[v]);
    }
    UNROLL for (int v = 0; v < NV; v++) _mm512_mask_storeu_ps(y + 16 * v, vec_mask(v, NV, tail), _mm512_add_ps(ye[v], yo[v]));
}

/* Two queries against the same rows (the query heads of one KV head): each row is loaded once
 * for both, which halves the loads that bound a chunk of keys streamed from L2 (2.9 against
 * 4.5 ns per query and key, head size 64, 256 keys). Eight rows per block, both queries' sums
 * in one sum16. Head size 64 or 128 (NV 4 or 8): 16 accumulators and the queries' vectors do not
 * all fit the 32 registers at 128, so a block goes over its rows' first four vectors and then,
 * with the next four of each query loaded, over their last four (the rows are in L1 by then). */
ALWAYS_INLINE void dot_rows2(const float *qa, const float *qb, const void *rows, size_t stride, int n_rows, const int NV,
                             float *sa, float *sb, const int f16) {
    int j = 0;
    for (; j + 8 <= n_rows; j += 8) {
        __m512 acc[16];
        UNROLL for (int half = 0; half < NV / 4; half++) {
            __m512 qv[8];
            UNROLL for (int v = 0; v < 4; v++) {
                qv[v] = _mm512_loadu_ps(qa + 16 * (4 * half + v));
                qv[4 + v] = _mm512_loadu_ps(qb + 16 * (4 * half + v));
            }
            UNROLL for (int i = 0; i < 8; i++) {
                const void *row = row_at(rows, stride, j + i, f16);
                UNROLL for (int v = 0; v < 4; v++) {
                    __m512 k = row_vec(row, 4 * half + v, 0xFFFF, f16);
                    if (half == 0 && v == 0) {
                        acc[i] = _mm512_mul_ps(qv[0], k);
                        acc[8 + i] = _mm512_mul_ps(qv[4], k);
                    } else {
                        acc[i] = _mm512_fmadd_ps(qv[v], k, acc[i]);
                        acc[8 + i] = _mm512_fmadd_ps(qv[4 + v], k, acc[8 + i]);
                    }
                }
            }
        }
        __m512 sums = sum16(acc);
        _mm256_storeu_ps(sa + j, _mm512_castps512_ps256(sums));
        _mm256_storeu_ps(sb + j, _mm512_extractf32x8_ps(sums, 1));
    }
    for (; j < n_rows; j++) {
        const void *row = row_at(rows, stride, j, f16);
        __m512 a = _mm512_setzero_ps(), b = _mm512_setzero_ps();
        UNROLL for (int v = 0; v < NV; v++) {
            __m512 k = row_vec(row, v, 0xFFFF, f16);
            a = _mm512_fmadd_ps(_mm512_loadu_ps(qa + 16 * v), k, a);
            b = _mm512_fmadd_ps(_mm512_loadu_ps(qb + 16 * v), k, b);
        }
        sa[j] = _mm512_reduce_add_ps(a);
        sb[j] = _mm512_reduce_add_ps(b);
    }
}

ALWAYS_INLINE void axpy_rows2(float *ya, float *yb, const float *wa, const float *wb, const void *rows, size_t stride,
                              int n_rows, const int NV, const int f16) {
    __m512 a[MAX_HEAD_VECS], b[MAX_HEAD_VECS];
    UNROLL for (int v = 0; v < NV; v++) {
        a[v] = _mm512_loadu_ps(ya + 16 * v);
        b[v] = _mm512_loadu_ps(yb + 16 * v);
    }
    for (int j = 0; j < n_rows; j++) {
        const void *row = row_at(rows, stride, j, f16);
        const __m512 fa = _mm512_set1_ps(wa[j]), fb = _mm512_set1_ps(wb[j]);
        UNROLL for (int v = 0; v < NV; v++) {
            __m512 r = row_vec(row, v, 0xFFFF, f16);
            a[v] = _mm512_fmadd_ps(fa, r, a[v]);
            b[v] = _mm512_fmadd_ps(fb, r, b[v]);
        }
    }
    UNROLL for (int v = 0; v < NV; v++) {
        _mm512_storeu_ps(ya + 16 * v, a[v]);
        _mm512_storeu_ps(yb + 16 * v, b[v]);
    }
}

bool quant_dot_rows2_avx512(const float *qa, const float *qb, const void *rows, bool f16, size_t stride, int n_rows,
                            int64_t n, float *sa, float *sb) {
    if (n == 64 && f16) dot_rows2(qa, qb, rows, stride, n_rows, 4, sa, sb, 1);
    else if (n == 64) dot_rows2(qa, qb, rows, stride, n_rows, 4, sa, sb, 0);
    else if (n == 128 && f16) dot_rows2(qa, qb, rows, stride, n_rows, 8, sa, sb, 1);
    else if (n == 128) dot_rows2(qa, qb, rows, stride, n_rows, 8, sa, sb, 0);
    else return false;
    return true;
}

bool quant_axpy_rows2_avx512(float *ya, float *yb, const float *wa, const float *wb, const void *rows, bool f16,
                             size_t stride, int n_rows, int64_t n) {
    if (n == 64 && f16) axpy_rows2(ya, yb, wa, wb, rows, stride, n_rows, 4, 1);
    else if (n == 64) axpy_rows2(ya, yb, wa, wb, rows, stride, n_rows, 4, 0);
    else if (n == 128 && f16) axpy_rows2(ya, yb, wa, wb, rows, stride, n_rows, 8, 1);
    else if (n == 128) axpy_rows2(ya, yb, wa, wb, rows, stride, n_rows, 8, 0);
    else return false;
    return true;
}

/* The head sizes specialised with register arrays (64, 128); false for the others. */
ALWAYS_INLINE bool rows_kernel(int64_t n, int *nv, __mmask16 *tail) {
    *nv = (int)((n + 15) / 16);
    *tail = (__mmask16)(n % 16 ? (1u << (n % 16)) - 1 : 0xFFFF);
    return *nv == 4 || *nv == 8;
}

bool quant_dot_rows_avx512(const float *q, const void *rows, bool f16, size_t stride, int n_rows, int64_t n,
                           float *scores) {
    int nv;
    __mmask16 tail;
    if (!rows_kernel(n, &nv, &tail)) return false;
    if (f16 && nv == 4) dot_rows(q, rows, stride, n_rows, 4, tail, scores, 1);
    else if (f16) dot_rows(q, rows, stride, n_rows, 8, tail, scores, 1);
    else if (nv == 4) dot_rows(q, rows, stride, n_rows, 4, tail, scores, 0);
    else dot_rows(q, rows, stride, n_rows, 8, tail, scores, 0);
    return true;
}

bool quant_axpy_rows_avx512(float *y, const float *w, const void *rows, bool f16, size_t stride, int n_rows, int64_t n) {
    int nv;
    __mmask16 tail;
    if (!rows_kernel(n, &nv, &tail)) return false;
    if (f16 && nv == 4) axpy_rows(y, w, rows, stride, n_rows, 4, tail, 1);
    else if (f16) axpy_rows(y, w, rows, stride, n_rows, 8, tail, 1);
    else if (nv == 4) axpy_rows(y, w, rows, stride, n_rows, 4, tail, 0);
    else axpy_rows(y, w, rows, stride, n_rows, 8, tail, 0);
    return true;
}

/* ---- softmax pieces ---- */

void quant_f16_to_f32_row_avx512(const uint16_t *src, float *dst, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(src + i))));
    if (i < n) {
        __mmask16 tail = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(dst + i, tail, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(tail, src + i)));
    }
}

float quant_max_f32_avx512(const float *x, int64_t n) {
    __m512 m = _mm512_set1_ps(-INFINITY);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) m = _mm512_max_ps(m, _mm512_loadu_ps(x + i));
    if (i < n) m = _mm512_max_ps(m, _mm512_mask_loadu_ps(m, (__mmask16)((1u << (n - i)) - 1), x + i));
    return _mm512_reduce_max_ps(m);
}

/* e^v: v = k ln2 + r with |r| <= ln2/2, e^r by a degree-6 polynomial (Cephes' expf
 * coefficients, within 2 ulp of expf), then scaled by 2^k with vscalefps, which goes to 0
 * below the float range and to infinity above it. */
ALWAYS_INLINE __m512 exp_ps(__m512 v) {
    v = _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(-104.0f)), _mm512_set1_ps(89.0f)); /* keeps k in range */
    __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(v, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(0.693359375f), v);
    r = _mm512_fnmadd_ps(k, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, k);
}

float quant_exp_f32_avx512(float *x, int64_t n, float scale, float shift) {
    const __m512 vs = _mm512_set1_ps(scale), vh = _mm512_set1_ps(shift);
    __m512 sum = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 e = exp_ps(_mm512_sub_ps(_mm512_mul_ps(_mm512_loadu_ps(x + i), vs), vh));
        _mm512_storeu_ps(x + i, e);
        sum = _mm512_add_ps(sum, e);
    }
    if (i < n) {
        __mmask16 k = (__mmask16)((1u << (n - i)) - 1);
        __m512 e = exp_ps(_mm512_sub_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + i), vs), vh));
        _mm512_mask_storeu_ps(x + i, k, e);
        sum = _mm512_add_ps(sum, _mm512_maskz_mov_ps(k, e));
    }
    return _mm512_reduce_add_ps(sum);
}

/* quant_rmsnorm_f32's arithmetic in the same order: lane l of one vector of doubles is partial
 * sum l, one FMA per eight elements (exact squares, so one rounding as in the scalar add). */
void quant_rmsnorm_f32_avx512(float *out, const float *x, const float *weight, int64_t n, float eps) {
    __m512d part = _mm512_setzero_pd();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m512d v = _mm512_cvtps_pd(_mm256_loadu_ps(x + i));
        part = _mm512_fmadd_pd(v, v, part);
    }
    double ss = 0, lanes[8];
    for (; i < n; i++) ss += (double)x[i] * x[i];
    _mm512_storeu_pd(lanes, part);
    for (int l = 0; l < 8; l++) ss += lanes[l];
    const __m512 scale = _mm512_set1_ps((float)(1.0 / sqrt(ss / (double)n + eps)));
    for (i = 0; i + 16 <= n; i += 16)
        _mm512_storeu_ps(out + i, _mm512_mul_ps(_mm512_mul_ps(_mm512_loadu_ps(x + i), scale), _mm512_loadu_ps(weight + i)));
    if (i < n) {
        __mmask16 k = (__mmask16)((1u << (n - i)) - 1);
        __m512 v = _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + i), scale), _mm512_maskz_loadu_ps(k, weight + i));
        _mm512_mask_storeu_ps(out + i, k, v);
    }
}

void quant_swiglu_f32_avx512(float *g, const float *u, int64_t n) {
    int64_t i = 0;
    for (; i < n; i += 16) {
        __mmask16 k = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        __m512 x = _mm512_maskz_loadu_ps(k, g + i);
        __m512 silu = _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0f), exp_ps(_mm512_sub_ps(_mm512_setzero_ps(), x))));
        _mm512_mask_storeu_ps(g + i, k, _mm512_mul_ps(silu, _mm512_maskz_loadu_ps(k, u + i)));
    }
}

#endif
