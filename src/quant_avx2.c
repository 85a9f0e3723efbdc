/*
 * quant_avx2.c - the AVX2 + FMA + F16C kernels: the path for x86 CPUs without
 * AVX-512 VNNI (and the one tests force on machines that have it).
 *
 * Same plan as quant_avx512.c - rows in groups of 4, tokens in tiles of 2 (16
 * ymm registers hold 4 x 2 accumulators plus the unpacked weights), each weight
 * block unpacked once per tile - with one block per ymm. Without VNNI the integer
 * dot is vpmaddubsw + vpmaddwd; vpmaddubsw saturates at 16 bits, so Q8_0 cannot
 * use the +128 bias and takes the sign trick instead (|w| unsigned, sign moved
 * onto x, both within 127 so a pair sum stays below 2^15). Q4_0 nibbles are
 * small enough to go in unsigned as stored, with the act row's correction; so are
 * the K-quants' levels (at most 63), one 32-weight block per step of a super-block.
 */
#include "quant_simd.h"

#if QUANT_HAVE_X86_KERNELS

#include <immintrin.h>
#include <string.h>

#define ALWAYS_INLINE static inline __attribute__((always_inline))

#define ROW_TILE 4
#define TOK_TILE 2

static inline uint16_t load_u16(const uint8_t *p) {
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}



/* ---- activation preparation ---- */

/* roundf's halves-away-from-zero, then quant.c's clamp (NaN -> 0, into [-127, 127]). */
ALWAYS_INLINE __m256i round_to_q8(__m256 v) {
    const __m256 sign_bit = _mm256_set1_ps(-0.0f);
    __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m256 frac = _mm256_andnot_ps(sign_bit, _mm256_sub_ps(v, t));
    __m256 away = _mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ);
    __m256 step = _mm256_or_ps(_mm256_set1_ps(1.0f), _mm256_and_ps(v, sign_bit));
    __m256 r = _mm256_add_ps(t, _mm256_and_ps(away, step));
    r = _mm256_and_ps(r, _mm256_cmp_ps(r, r, _CMP_ORD_Q));
    r = _mm256_min_ps(_mm256_max_ps(r, _mm256_set1_ps(-127.0f)), _mm256_set1_ps(127.0f));
    return _mm256_cvttps_epi32(r);
}

static void prepare_block(const float *x, int32_t bias, int8_t *q, float *scale, int32_t *corr) {
    const __m256 sign_bit = _mm256_set1_ps(-0.0f);
    __m256 v[4], m = _mm256_setzero_ps();
    for (int k = 0; k < 4; k++) {
        v[k] = _mm256_loadu_ps(x + 8 * k);
        m = _mm256_max_ps(_mm256_andnot_ps(sign_bit, v[k]), m); /* NaN |x| keeps m, like fmaxf */
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    float d = _mm_cvtss_f32(m4) / 127.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    __m256 vid = _mm256_set1_ps(id);
    __m256i i0 = round_to_q8(_mm256_mul_ps(v[0], vid)), i1 = round_to_q8(_mm256_mul_ps(v[1], vid));
    __m256i i2 = round_to_q8(_mm256_mul_ps(v[2], vid)), i3 = round_to_q8(_mm256_mul_ps(v[3], vid));
    /* the packs work per 128-bit lane; the dword permute restores element order */
    __m256i packed = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
    __m256i qs = _mm256_permutevar8x32_epi32(packed, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)q, qs);
    _mm256_storeu_ps(scale, _mm256_set1_ps(d));
    __m256i sums = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), qs), _mm256_set1_epi16(1));
    _mm256_storeu_si256((__m256i *)corr, _mm256_mullo_epi32(sums, _mm256_set1_epi32(-bias)));
}

void quant_act_prepare_q_avx2(int wtype, const float *x, uint8_t *act, int64_t n_cols) {
    size_t region = quant_act_region_bytes(n_cols);
    int64_t nb = n_cols / QUANT_QBLOCK;
    int8_t *q = (int8_t *)act;
    float *scales = (float *)(act + region);
    int32_t *corr = (int32_t *)(act + 2 * region);
    int32_t bias = quant_act_bias(wtype);
    for (int64_t b = 0; b < nb; b++)
        prepare_block(x + QUANT_QBLOCK * b, bias, q + 32 * b, scales + 8 * b, corr + 8 * b);
    size_t pad = region - (size_t)nb * 32; /* the AVX-512 kernels read it as a zero block */
    memset(q + 32 * nb, 0, pad);
    memset(scales + 8 * nb, 0, pad);
    memset(corr + 8 * nb, 0, pad);
}

/* ---- integer weights: one block per ymm ---- */

/* Q4_0 nibbles in element order [lo | hi], unsigned. */
ALWAYS_INLINE __m256i block_q4_0(const uint8_t *block) {
    __m128i q = _mm_loadu_si128((const __m128i *)(block + 2));
    __m128i mask = _mm_set1_epi8(0x0F);
    __m128i lo = _mm_and_si128(q, mask), hi = _mm_and_si128(_mm_srli_epi16(q, 4), mask);
    return _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
}

/* The f16 scales of block `off` in each of R rows, broadcast: the halves are gathered with
 * scalar ALU ops, which run beside the vector pipes, and converted by one vcvtph2ps. */
ALWAYS_INLINE void group_scales(const uint8_t *const *row, size_t off, const int R, __m256 wd[ROW_TILE]) {
    uint64_t packed = 0;
    for (int i = 0; i < R; i++) packed |= (uint64_t)load_u16(row[i] + off) << (16 * i);
    __m256 d = _mm256_castps128_ps256(_mm_cvtph_ps(_mm_cvtsi64_si128((long long)packed)));
    for (int i = 0; i < R; i++) wd[i] = _mm256_permutevar8x32_ps(d, _mm256_set1_epi32(i));
}

/* Sum of each 4 consecutive u8 x s8 products, as 8 int32 lanes. */
ALWAYS_INLINE __m256i dot_u8s8(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

ALWAYS_INLINE void q_tile(const quant_mm *m, const int wtype, int64_t r, int t0, const int R, const int T) {
    const int64_t nb = m->n_cols / QUANT_QBLOCK;
    const size_t bb = wtype == AION_DT_Q8_0 ? 34 : 18;
    const uint8_t *row[ROW_TILE];
    const int8_t *xq[TOK_TILE];
    const float *xs[TOK_TILE];
    const int32_t *xc[TOK_TILE];
    __m256 acc[ROW_TILE][TOK_TILE];
    for (int i = 0; i < R; i++) row[i] = m->w + m->w_row_bytes * (size_t)(r + i);
    for (int t = 0; t < T; t++) {
        const uint8_t *a = m->act + m->act_row_bytes * (size_t)(t0 + t);
        xq[t] = quant_act_quants(a);
        xs[t] = quant_act_scales(a, m->n_cols);
        xc[t] = quant_act_corr(a, m->n_cols);
    }
    for (int i = 0; i < R; i++)
        for (int t = 0; t < T; t++) acc[i][t] = _mm256_setzero_ps();
    const int pf_lines = (int)((bb * R + 63) / 64);
    quant_prefetch pf = quant_prefetch_start(row[0] + R * m->w_row_bytes, R * m->w_row_bytes, pf_lines,
                                             t0, m->n_tok, TOK_TILE);

    for (int64_t b = 0; b < nb; b++) {
        quant_prefetch_step(&pf, pf_lines);
        __m256i wq[ROW_TILE];
        __m256 wd[ROW_TILE];
        for (int i = 0; i < R; i++) {
            const uint8_t *p = row[i] + bb * b;
            wq[i] = wtype == AION_DT_Q8_0 ? _mm256_loadu_si256((const __m256i *)(p + 2)) : block_q4_0(p);
        }
        group_scales(row, bb * b, R, wd);
        for (int t = 0; t < T; t++) {
            __m256i x = _mm256_loadu_si256((const __m256i *)(xq[t] + 32 * b));
            __m256 xd = _mm256_loadu_ps(xs[t] + 8 * b);
            for (int i = 0; i < R; i++) {
                __m256i dot;
                if (wtype == AION_DT_Q8_0) {
                    dot = dot_u8s8(_mm256_abs_epi8(wq[i]), _mm256_sign_epi8(x, wq[i]));
                } else {
                    __m256i xc_t = _mm256_loadu_si256((const __m256i *)(xc[t] + 8 * b));
                    dot = _mm256_add_epi32(dot_u8s8(wq[i], x), xc_t);
                }
                acc[i][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_mul_ps(xd, wd[i]), acc[i][t]);
            }
        }
    }
    for (int t = 0; t < T; t++)
        for (int i = 0; i < R; i++) m->y[(t0 + t) * m->ldy + r + i] = hsum256(acc[i][t]);
}


/* ---- K-quants: a super-block of 256 weights is eight activation blocks ---- */

/* The factors of one super-block of one row: Q4_K/Q5_K d*sc and dmin*m per 32-weight
 * sub-block (8 floats), Q6_K d*sc per 16 weights (16 floats). */
typedef struct k_factors {
    float scale[16], min[8];
} k_factors;

static inline void k_decode_factors(const int wtype, const uint8_t *block, k_factors *f) {
    if (wtype == AION_DT_Q6_K) {
        const int8_t *sc = (const int8_t *)(block + 192);
        float d = _cvtsh_ss(load_u16(block + 208));
        for (int j = 0; j < 16; j++) f->scale[j] = d * sc[j];
        return;
    }
    float d = _cvtsh_ss(load_u16(block)), dmin = _cvtsh_ss(load_u16(block + 2));
    for (int j = 0; j < 8; j++) {
        uint8_t sc, m;
        quant_k_scale_min(block + 4, j, &sc, &m);
        f->scale[j] = d * sc;
        f->min[j] = dmin * m;
    }
}

/* The 32 unsigned levels of sub-block j (Q4_K/Q5_K) or activation block j (Q6_K). */
ALWAYS_INLINE __m256i k_block_levels(const int wtype, const uint8_t *block, int j) {
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    if (wtype == AION_DT_Q6_K) {
        int half = j / 4, quarter = j % 4; /* 32 weights = one quarter of a 128-weight half */
        __m256i lo = _mm256_loadu_si256((const __m256i *)(block + 64 * half + 32 * (quarter % 2)));
        lo = _mm256_and_si256(_mm256_srli_epi16(lo, quarter < 2 ? 0 : 4), low4);
        __m256i hi = _mm256_loadu_si256((const __m256i *)(block + 128 + 32 * half));
        hi = _mm256_and_si256(_mm256_srl_epi16(hi, _mm_cvtsi32_si128(2 * quarter)), _mm256_set1_epi8(0x03));
        return _mm256_or_si256(lo, _mm256_slli_epi16(hi, 4));
    }
    const uint8_t *qs = block + (wtype == AION_DT_Q5_K ? 48 : 16);
    __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * (j / 2)));
    q = _mm256_and_si256(_mm256_srli_epi16(q, 4 * (j % 2)), low4);
    if (wtype == AION_DT_Q5_K) {
        __m256i hi = _mm256_loadu_si256((const __m256i *)(block + 16));
        hi = _mm256_and_si256(_mm256_srl_epi16(hi, _mm_cvtsi32_si128(j)), _mm256_set1_epi8(0x01));
        q = _mm256_or_si256(q, _mm256_slli_epi16(hi, 4));
    }
    return q;
}

/* As q_tile, one activation block per step; the levels are unsigned and small, so
 * vpmaddubsw cannot saturate (63 * 127 * 2 < 2^15). Q6_K's +32 bias is removed by the act
 * row's correction; for Q4_K/Q5_K the correction is minus the activations' sum, which the
 * sub-block's min scales. */
ALWAYS_INLINE void k_tile(const quant_mm *m, const int wtype, int64_t r, int t0, const int R, const int T) {
    const int64_t n_super = m->n_cols / 256;
    const size_t bb = wtype == AION_DT_Q4_K ? 144 : wtype == AION_DT_Q5_K ? 176 : 210;
    const bool q6 = wtype == AION_DT_Q6_K;
    const uint8_t *row[ROW_TILE];
    const int8_t *xq[TOK_TILE];
    const float *xs[TOK_TILE];
    const int32_t *xc[TOK_TILE];
    __m256 acc[ROW_TILE][TOK_TILE];
    for (int i = 0; i < R; i++) row[i] = m->w + m->w_row_bytes * (size_t)(r + i);
    for (int t = 0; t < T; t++) {
        const uint8_t *a = m->act + m->act_row_bytes * (size_t)(t0 + t);
        xq[t] = quant_act_quants(a);
        xs[t] = quant_act_scales(a, m->n_cols);
        xc[t] = quant_act_corr(a, m->n_cols);
    }
    for (int i = 0; i < R; i++)
        for (int t = 0; t < T; t++) acc[i][t] = _mm256_setzero_ps();
    const int pf_lines = (int)((bb * R + 63) / 64);
    quant_prefetch pf = quant_prefetch_start(row[0] + R * m->w_row_bytes, R * m->w_row_bytes, pf_lines,
                                             t0, m->n_tok, TOK_TILE);

    for (int64_t sb = 0; sb < n_super; sb++) {
        quant_prefetch_step(&pf, pf_lines);
        k_factors f[ROW_TILE];
        for (int i = 0; i < R; i++) k_decode_factors(wtype, row[i] + bb * sb, &f[i]);
        for (int j = 0; j < 8; j++) {
            const int64_t b = 8 * sb + j;
            __m256i wq[ROW_TILE];
            __m256 wd[ROW_TILE], wm[ROW_TILE];
            for (int i = 0; i < R; i++) {
                wq[i] = k_block_levels(wtype, row[i] + bb * sb, j);
                if (q6) {
                    /* lanes 0-3: the first 16 weights' scale, lanes 4-7: the second's */
                    wd[i] = _mm256_setr_m128(_mm_set1_ps(f[i].scale[2 * j]), _mm_set1_ps(f[i].scale[2 * j + 1]));
                } else {
                    wd[i] = _mm256_set1_ps(f[i].scale[j]);
                    wm[i] = _mm256_set1_ps(f[i].min[j]);
                }
            }
            for (int t = 0; t < T; t++) {
                __m256i x = _mm256_loadu_si256((const __m256i *)(xq[t] + 32 * b));
                __m256 xd = _mm256_loadu_ps(xs[t] + 8 * b);
                __m256i corr = _mm256_loadu_si256((const __m256i *)(xc[t] + 8 * b));
                __m256 xsum = _mm256_cvtepi32_ps(corr);
                for (int i = 0; i < R; i++) {
                    __m256i dot = dot_u8s8(wq[i], x);
                    if (q6) dot = _mm256_add_epi32(dot, corr);
                    acc[i][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_mul_ps(xd, wd[i]), acc[i][t]);
                    if (!q6) acc[i][t] = _mm256_fmadd_ps(xsum, _mm256_mul_ps(xd, wm[i]), acc[i][t]);
                }
            }
        }
    }
    for (int t = 0; t < T; t++)
        for (int i = 0; i < R; i++) m->y[(t0 + t) * m->ldy + r + i] = hsum256(acc[i][t]);
}


/* ---- float weights: 8 columns per ymm ---- */

ALWAYS_INLINE __m256 load_w8(const int wtype, const uint8_t *p) {
    if (wtype == AION_DT_F32) return _mm256_loadu_ps((const float *)p);
    __m128i h = _mm_loadu_si128((const __m128i *)p);
    if (wtype == AION_DT_F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

ALWAYS_INLINE void f_step(const int wtype, const uint8_t *const *wrow, const float *const *x,
                          __m256 acc[ROW_TILE][TOK_TILE], const int R, const int T) {
    __m256 wv[ROW_TILE];
    for (int i = 0; i < R; i++) wv[i] = load_w8(wtype, wrow[i]);
    for (int t = 0; t < T; t++) {
        __m256 xv = _mm256_loadu_ps(x[t]);
        for (int i = 0; i < R; i++) acc[i][t] = _mm256_fmadd_ps(wv[i], xv, acc[i][t]);
    }
}

ALWAYS_INLINE void f_tile(const quant_mm *m, const int wtype, int64_t r, int t0, const int R, const int T) {
    const size_t es = wtype == AION_DT_F32 ? 4 : 2;
    const uint8_t *row[ROW_TILE], *wp[ROW_TILE];
    const float *x[TOK_TILE], *xp[TOK_TILE];
    __m256 acc[ROW_TILE][TOK_TILE];
    for (int i = 0; i < R; i++) row[i] = m->w + m->w_row_bytes * (size_t)(r + i);
    for (int t = 0; t < T; t++) x[t] = (const float *)(m->act + m->act_row_bytes * (size_t)(t0 + t));
    for (int i = 0; i < R; i++)
        for (int t = 0; t < T; t++) acc[i][t] = _mm256_setzero_ps();
    const int pf_lines = (int)((8 * es * R + 63) / 64);
    quant_prefetch pf = quant_prefetch_start(row[0] + R * m->w_row_bytes, R * m->w_row_bytes, pf_lines,
                                             t0, m->n_tok, TOK_TILE);
    int64_t c = 0;
    for (; c + 8 <= m->n_cols; c += 8) {
        quant_prefetch_step(&pf, pf_lines);
        for (int i = 0; i < R; i++) wp[i] = row[i] + es * c;
        for (int t = 0; t < T; t++) xp[t] = x[t] + c;
        f_step(wtype, wp, xp, acc, R, T);
    }
    if (c < m->n_cols) {
        /* ragged tail: zero-padded copies, so the same step finishes the row */
        uint8_t wtail[ROW_TILE][32] = {{0}};
        float xtail[TOK_TILE][8] = {{0}};
        size_t left = (size_t)(m->n_cols - c);
        for (int i = 0; i < R; i++) {
            memcpy(wtail[i], row[i] + es * c, es * left);
            wp[i] = wtail[i];
        }
        for (int t = 0; t < T; t++) {
            memcpy(xtail[t], x[t] + c, sizeof(float) * left);
            xp[t] = xtail[t];
        }
        f_step(wtype, wp, xp, acc, R, T);
    }
    for (int t = 0; t < T; t++)
        for (int i = 0; i < R; i++) m->y[(t0 + t) * m->ldy + r + i] = hsum256(acc[i][t]);
}


/* ---- one driver for every weight type ---- */

/* wtype is a constant at every call, so the choice of tile folds away at compile time. */
ALWAYS_INLINE void tile(const quant_mm *m, const int wtype, int64_t r, int t0, const int R, const int T) {
    if (quant_is_k(wtype)) k_tile(m, wtype, r, t0, R, T);
    else if (wtype == AION_DT_Q8_0 || wtype == AION_DT_Q4_0) q_tile(m, wtype, r, t0, R, T);
    else f_tile(m, wtype, r, t0, R, T);
}

ALWAYS_INLINE void row_group(const quant_mm *m, const int wtype, int64_t r, const int R) {
    int t = 0;
    for (; t + TOK_TILE <= m->n_tok; t += TOK_TILE) tile(m, wtype, r, t, R, TOK_TILE);
    if (t < m->n_tok) tile(m, wtype, r, t, R, 1);
}

ALWAYS_INLINE void matmul_rows(const quant_mm *m, const int wtype) {
    int64_t r = m->r0;
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

bool quant_matmul_avx2(const quant_mm *m) {
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

float quant_dot_f32_avx2(const float *a, const float *b, int64_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(),
           s3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float sum = hsum256(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; i++) sum += a[i] * b[i];
    return sum;
}

void quant_axpy_f32_avx2(float *y, float a, const float *x, int64_t n) {
    __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * x[i];
}

#endif
