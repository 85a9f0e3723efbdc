/*
 * quant.c - element conversions, GGUF block (de)quantization, activation
 * preparation, the scalar reference matmul and the run-time kernel dispatch.
 *
 * Everything here is plain C that runs on any CPU: it is the definition the
 * SIMD kernels (quant_avx2.c, quant_avx512.c) are tested against, and the path
 * a machine without AVX2 takes. The block formats are GGUF's, bit for bit:
 *   Q8_0  f16 d, int8 q[32]          x = d * q
 *   Q4_0  f16 d, uint8 qs[16]        x_j = d * ((qs[j] & 15) - 8),
 *                                    x_{j+16} = d * ((qs[j] >> 4) - 8)
 * and the quantizers round exactly as ggml's reference ones (and the project's
 * tools/gguf.py) do, so a file written by either dequantizes to the same floats.
 */
#include <math.h>
#include <string.h>

#include "cpu.h"
#include "quant.h"
#include "quant_simd.h"

/* Prepared activations of one kernel call are meant to stay in L2 while every
 * weight row streams past them once; larger batches are cut into chunks. */
#define ACT_CACHE_BUDGET (256 * 1024)

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint16_t load_u16(const uint8_t *p) {
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static void store_u16(uint8_t *p, uint16_t v) { memcpy(p, &v, sizeof v); }

/* ---- f16 / bf16 ---- */

float quant_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1Fu, mant = h & 0x3FFu;
    if (exp == 0) {
        /* zero or subnormal: mant * 2^-24 is exact in f32 */
        float v = (float)mant * 0x1p-24f;
        return bits_f32(f32_bits(v) | sign);
    }
    if (exp == 31) return bits_f32(sign | 0x7F800000u | (mant << 13));
    return bits_f32(sign | ((exp + 112u) << 23) | (mant << 13));
}

/* Round-to-nearest-even of `value >> shift` (shift >= 1). */
static uint32_t shift_round_even(uint32_t value, int shift) {
    uint32_t kept = value >> shift;
    uint32_t rest = value & ((1u << shift) - 1u);
    uint32_t half = 1u << (shift - 1);
    if (rest > half || (rest == half && (kept & 1u))) kept++;
    return kept;
}

uint16_t quant_f32_to_f16(float f) {
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t ax = x & 0x7FFFFFFFu;
    if (ax > 0x7F800000u) return sign | 0x7E00u | (uint16_t)((ax >> 13) & 0x3FFu); /* quiet NaN */
    if (ax >= 0x477FF000u) return sign | 0x7C00u; /* rounds past 65504: inf */
    if (ax < 0x38800000u) {
        /* below the smallest normal half (2^-14): a multiple of 2^-24 or zero */
        if (ax <= 0x33000000u) return sign; /* <= 2^-25 rounds (ties-even) to 0 */
        uint32_t mant = (ax & 0x7FFFFFu) | 0x800000u;
        int shift = 126 - (int)(ax >> 23);
        return sign | (uint16_t)shift_round_even(mant, shift);
    }
    /* normal: rebias the exponent; a mantissa carry correctly bumps the exponent */
    return sign | (uint16_t)shift_round_even(ax - 0x38000000u, 13);
}

float quant_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

uint16_t quant_f32_to_bf16(float f) {
    uint32_t x = f32_bits(f);
    if ((x & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((x >> 16) | 0x40u); /* quiet NaN */
    return (uint16_t)((x + 0x7FFFu + ((x >> 16) & 1u)) >> 16);
}

/* ---- block quantizers ---- */

/* roundf's halves-away-from-zero, as ggml. Not trunc(v + copysign(0.5f, v)): in float that sum
 * sends 0.49999997f to 1. Clamped so a degenerate scale cannot make the int8 cast UB. */
static int8_t round_to_q8(float v) {
    float r = roundf(v);
    if (!(r >= -127.0f)) r = isnan(r) ? 0.0f : -127.0f;
    if (r > 127.0f) r = 127.0f;
    return (int8_t)r;
}

static float block_absmax(const float *x) {
    float amax = 0.0f;
    for (int j = 0; j < QUANT_QBLOCK; j++) amax = fmaxf(amax, fabsf(x[j]));
    return amax;
}

/* d = amax / 127 kept in f32 for the division so rounding matches ggml; stored as f16. */
static void quantize_block_q8_0(const float *x, uint8_t *block) {
    float d = block_absmax(x) / 127.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    store_u16(block, quant_f32_to_f16(d));
    int8_t *q = (int8_t *)(block + 2);
    for (int j = 0; j < QUANT_QBLOCK; j++) q[j] = round_to_q8(x[j] * id);
}

/* v + 8.5f must round on its own (no fused multiply-add with the scaling before it); ISO C
 * mode, which the build uses, keeps GCC from contracting it. */
static uint8_t q4_level(float v) {
    float t = v + 8.5f;
    int q = t > 0.0f ? (int)t : 0; /* truncation, as ggml's (int8_t) cast */
    return (uint8_t)(q > 15 ? 15 : q);
}

/* The scale maps the element of largest magnitude (sign kept) to -8, the one level with no
 * positive twin, so the full [-8, 7] range is used. */
static void quantize_block_q4_0(const float *x, uint8_t *block) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < QUANT_QBLOCK; j++)
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    float d = max / -8.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    store_u16(block, quant_f32_to_f16(d));
    uint8_t *qs = block + 2;
    for (int j = 0; j < QUANT_QBLOCK / 2; j++)
        qs[j] = (uint8_t)(q4_level(x[j] * id) | q4_level(x[j + 16] * id) << 4);
}

static void dequantize_block_q8_0(const uint8_t *block, float *y) {
    float d = quant_f16_to_f32(load_u16(block));
    const int8_t *q = (const int8_t *)(block + 2);
    for (int j = 0; j < QUANT_QBLOCK; j++) y[j] = (float)q[j] * d;
}

static void dequantize_block_q4_0(const uint8_t *block, float *y) {
    float d = quant_f16_to_f32(load_u16(block));
    const uint8_t *qs = block + 2;
    for (int j = 0; j < QUANT_QBLOCK / 2; j++) {
        y[j] = (float)((qs[j] & 15) - 8) * d;
        y[j + 16] = (float)((qs[j] >> 4) - 8) * d;
    }
}

void quant_dequantize_row(int type, const void *src, float *dst, int64_t n) {
    const uint8_t *s = src;
    switch (type) {
    case AION_DT_F32: memcpy(dst, src, (size_t)n * sizeof(float)); break;
    case AION_DT_F16:
        if ((uintptr_t)src % 2 == 0) quant_f16_to_f32_row(src, dst, n);
        else
            for (int64_t i = 0; i < n; i++) dst[i] = quant_f16_to_f32(load_u16(s + 2 * i));
        break;
    case AION_DT_BF16:
        for (int64_t i = 0; i < n; i++) dst[i] = quant_bf16_to_f32(load_u16(s + 2 * i));
        break;
    case AION_DT_Q8_0:
        for (int64_t b = 0; b < n / QUANT_QBLOCK; b++) dequantize_block_q8_0(s + 34 * b, dst + 32 * b);
        break;
    case AION_DT_Q4_0:
        for (int64_t b = 0; b < n / QUANT_QBLOCK; b++) dequantize_block_q4_0(s + 18 * b, dst + 32 * b);
        break;
    default:
        if (!quant_k_dequantize_row(type, src, dst, n)) memset(dst, 0, (size_t)n * sizeof(float));
        break;
    }
}

bool quant_quantize_row(int type, const float *src, void *dst, int64_t n) {
    uint8_t *d = dst;
    switch (type) {
    case AION_DT_F32: memcpy(dst, src, (size_t)n * sizeof(float)); return true;
    case AION_DT_F16:
        for (int64_t i = 0; i < n; i++) store_u16(d + 2 * i, quant_f32_to_f16(src[i]));
        return true;
    case AION_DT_BF16:
        for (int64_t i = 0; i < n; i++) store_u16(d + 2 * i, quant_f32_to_bf16(src[i]));
        return true;
    case AION_DT_Q8_0:
        for (int64_t b = 0; b < n / QUANT_QBLOCK; b++) quantize_block_q8_0(src + 32 * b, d + 34 * b);
        return true;
    case AION_DT_Q4_0:
        for (int64_t b = 0; b < n / QUANT_QBLOCK; b++) quantize_block_q4_0(src + 32 * b, d + 18 * b);
        return true;
    default: return quant_k_quantize_row(type, src, dst, n);
    }
}

/* ---- dispatch ---- */

typedef enum kernel_isa { ISA_SCALAR, ISA_AVX2, ISA_AVX512 } kernel_isa;

/* The AVX-512 file is compiled with VNNI enabled, so it runs only where VNNI exists. */
static kernel_isa pick_isa(void) {
#if QUANT_HAVE_X86_KERNELS
    const cpu_features *f = cpu_get();
    if (f->avx512f && f->avx512bw && f->avx512vl && f->avx512vnni && f->avx2 && f->fma && f->f16c)
        return ISA_AVX512;
    if (f->avx2 && f->fma && f->f16c) return ISA_AVX2;
#endif
    return ISA_SCALAR;
}


/* ---- activations ---- */

bool quant_act_passthrough(int wtype) { return !quant_is_int_weight(wtype); }

bool quant_act_compatible(int wtype_a, int wtype_b) {
    if (!quant_is_int_weight(wtype_a) || !quant_is_int_weight(wtype_b)) return !quant_is_int_weight(wtype_a) && !quant_is_int_weight(wtype_b);
    return quant_act_bias(wtype_a) == quant_act_bias(wtype_b);
}

size_t quant_act_row_bytes(int wtype, int64_t n_cols) {
    if (quant_is_int_weight(wtype)) return 4 * quant_act_region_bytes(n_cols);
    return (size_t)n_cols * sizeof(float);
}

/* The scalar definition of the prepared row (layout in quant_simd.h). The block scale stays
 * f32: it never goes to a file, and the extra precision is free. */
static void act_prepare_q_scalar(int wtype, const float *x, uint8_t *act, int64_t n_cols) {
    size_t region = quant_act_region_bytes(n_cols);
    memset(act, 0, 4 * region); /* padding is read as a zero block by the pair kernels */
    int8_t *q = (int8_t *)act;
    float *scales = (float *)(act + region);
    int32_t *corr = (int32_t *)(act + 2 * region);
    int32_t bias = quant_act_bias(wtype);
    for (int64_t b = 0; b < n_cols / QUANT_QBLOCK; b++) {
        const float *xb = x + QUANT_QBLOCK * b;
        float d = block_absmax(xb) / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        int8_t *qb = q + QUANT_QBLOCK * b;
        for (int j = 0; j < QUANT_QBLOCK; j++) qb[j] = round_to_q8(xb[j] * id);
        for (int lane = 0; lane < 8; lane++) {
            scales[8 * b + lane] = d;
            const int8_t *g = qb + 4 * lane;
            corr[8 * b + lane] = -bias * (g[0] + g[1] + g[2] + g[3]);
        }
    }
}

/* The per-block summaries from the lane values: the corrections are exact integer sums, the
 * scale a copy, so every level agrees. */
static void act_block_summaries(uint8_t *act, int64_t n_cols) {
    const int32_t *corr = quant_act_corr(act, n_cols);
    const float *scales = quant_act_scales(act, n_cols);
    int32_t *bcorr = (int32_t *)quant_act_bcorr(act, n_cols), *half_corr = (int32_t *)quant_act_half_corr(act, n_cols);
    float *block_scale = (float *)quant_act_block_scales(act, n_cols);
    const int64_t nb = n_cols / QUANT_QBLOCK;
    /* the padding after the block corrections: a zero block */
    memset(bcorr + nb, 0, quant_act_region_bytes(n_cols) - (size_t)nb * sizeof *bcorr);
    for (int64_t b = 0; b < nb; b++) {
        for (int s = 0; s < 2; s++) {
            const int32_t *c4 = corr + 8 * b + 4 * s;
            half_corr[2 * b + s] = c4[0] + c4[1] + c4[2] + c4[3];
        }
        bcorr[b] = half_corr[2 * b] + half_corr[2 * b + 1];
        block_scale[b] = scales[8 * b];
    }
}

void quant_act_prepare(int wtype, const float *x, void *act, int64_t n_cols) {
    if (!quant_is_int_weight(wtype)) {
        if (act != x) memcpy(act, x, (size_t)n_cols * sizeof(float));
        return;
    }
    switch (pick_isa()) {
#if QUANT_HAVE_X86_KERNELS
    case ISA_AVX512: quant_act_prepare_q_avx512(wtype, x, act, n_cols); break;
    case ISA_AVX2: quant_act_prepare_q_avx2(wtype, x, act, n_cols); break;
#endif
    default: act_prepare_q_scalar(wtype, x, act, n_cols); break;
    }
    act_block_summaries(act, n_cols);
}

/* ---- reference matmul ---- */

static int32_t dot_block_q8_0(const uint8_t *block, const int8_t *x) {
    const int8_t *q = (const int8_t *)(block + 2);
    int32_t sum = 0;
    for (int j = 0; j < QUANT_QBLOCK; j++) sum += q[j] * x[j];
    return sum;
}

static int32_t dot_block_q4_0(const uint8_t *block, const int8_t *x) {
    const uint8_t *qs = block + 2;
    int32_t sum = 0;
    for (int j = 0; j < QUANT_QBLOCK / 2; j++)
        sum += ((qs[j] & 15) - 8) * x[j] + ((qs[j] >> 4) - 8) * x[j + 16];
    return sum;
}

/* Block b's term of a Q8_0 / Q4_0 row dot: d_weight * d_act * integer dot. */
static double block_term(int wtype, const uint8_t *block, const int8_t *xq, const float *xs, int64_t b) {
    int32_t dot = wtype == AION_DT_Q8_0 ? dot_block_q8_0(block, xq + 32 * b) : dot_block_q4_0(block, xq + 32 * b);
    return (double)(quant_f16_to_f32(load_u16(block)) * xs[8 * b]) * dot;
}

static float dot_ref_q(int wtype, const uint8_t *row, const uint8_t *act, int64_t n_cols) {
    const int8_t *xq = quant_act_quants(act);
    const float *xs = quant_act_scales(act, n_cols);
    if (quant_is_k(wtype)) return quant_k_dot_ref(wtype, row, xq, xs, n_cols);
    size_t bb = quant_block_bytes(wtype);
    double sum = 0.0;
    for (int64_t b = 0; b < n_cols / QUANT_QBLOCK; b++) sum += block_term(wtype, row + bb * b, xq, xs, b);
    return (float)sum;
}

static float dot_ref_float(int wtype, const uint8_t *row, const float *x, int64_t n_cols) {
    double sum = 0.0;
    for (int64_t i = 0; i < n_cols; i++) {
        float w;
        if (wtype == AION_DT_F32) memcpy(&w, row + 4 * i, sizeof w);
        else if (wtype == AION_DT_F16) w = quant_f16_to_f32(load_u16(row + 2 * i));
        else w = quant_bf16_to_f32(load_u16(row + 2 * i));
        sum += (double)w * x[i];
    }
    return (float)sum;
}

/* ---- repacked weights (layout in quant_simd.h) ---- */

/* Step `step` (a block, or a K-quant super-block) of the group holding row r. */
static const uint8_t *packed_step(int wtype, const uint8_t *packed, int64_t n_cols, int64_t r, int64_t step) {
    return packed + quant_packed_group_bytes(wtype, n_cols) * (size_t)(r / QUANT_PACK_ROWS) +
           quant_packed_step_bytes(wtype) * (size_t)step;
}

/* Moves one block between the file layout (scale, quants as stored) and its place in a packed
 * step, either way: the two layouts hold the same bytes, reordered (Q8_0's quants + 128). */
static void packed_block_io(int wtype, uint8_t *step, int lane, uint8_t *block, bool to_packed) {
    uint8_t *scale = step + 2 * lane;
    if (to_packed) memcpy(scale, block, 2);
    else memcpy(block, scale, 2);
    int n_words = wtype == AION_DT_Q8_0 ? 8 : 4; /* 4-byte words of quants per row and block */
    for (int k = 0; k < n_words; k++) {
        uint8_t *word = step + 32 + 64 * k + 4 * lane, *src = block + 2 + 4 * k;
        for (int j = 0; j < 4; j++) {
            uint8_t bias = wtype == AION_DT_Q8_0 ? 128 : 0;
            if (to_packed) word[j] = (uint8_t)(src[j] + bias);
            else src[j] = (uint8_t)(word[j] - bias);
        }
    }
}

/* The same for a Q4_K / Q5_K super-block: its six-bit factors are unpacked to bytes on the way
 * in and packed back (losslessly) on the way out; Q5_K's fifth bits follow the quants. */
static void packed_super_io(int wtype, uint8_t *step, int lane, uint8_t *block, bool to_packed) {
    uint8_t *d = step + 2 * lane, *dmin = step + 32 + 2 * lane, *sc = step + 64, *mn = step + 192;
    const size_t qs_at = wtype == AION_DT_Q5_K ? 48 : 16;
    const uint8_t *qs = block + qs_at;
    if (to_packed) {
        memcpy(d, block, 2), memcpy(dmin, block + 2, 2);
        for (int j = 0; j < 8; j++) quant_k_scale_min(block + 4, j, &sc[16 * j + lane], &mn[16 * j + lane]);
    } else {
        uint8_t s8[8], m8[8];
        memcpy(block, d, 2), memcpy(block + 2, dmin, 2);
        for (int j = 0; j < 8; j++) s8[j] = sc[16 * j + lane], m8[j] = mn[16 * j + lane];
        quant_k_pack_scale_min(s8, m8, block + 4);
    }
    for (int v = 0; v < 32; v++) { /* vector 8p + c holds qs[32p + 4c ..] = qs[4v ..] */
        uint8_t *word = step + quant_packed_k_quants_at(wtype, v) + 4 * lane;
        if (to_packed) memcpy(word, qs + 4 * v, 4);
        else memcpy(block + qs_at + 4 * v, word, 4);
    }
    if (wtype != AION_DT_Q5_K) return;
    for (int c = 0; c < 8; c++) { /* qh, at 16 in the block */
        uint8_t *word = step + quant_packed_k_high_at(c) + 4 * lane;
        if (to_packed) memcpy(word, block + 16 + 4 * c, 4);
        else memcpy(block + 16 + 4 * c, word, 4);
    }
}

static bool packable(int wtype) { return wtype == AION_DT_Q8_0 || wtype == AION_DT_Q4_0 || quant_is_k(wtype); }

/* A step of row r in or out of the packed layout (block: the file's bytes of that step). */
/* The same for a Q6_K super-block (layout in quant_simd.h): nothing to unpack, only to spread. */
static void packed_q6_io(uint8_t *step, int lane, uint8_t *block, bool to_packed) {
    uint8_t *d = step + 2 * lane;
    if (to_packed) memcpy(d, block + 208, 2);
    else memcpy(block + 208, d, 2);
    for (int j = 0; j < 16; j++) {
        uint8_t *sc = step + 32 + 16 * j + lane;
        if (to_packed) *sc = block[192 + j];
        else block[192 + j] = *sc;
    }
    for (int v = 0; v < 48; v++) { /* ql's 32 words, then qh's 16 */
        int triple = v < 32 ? 8 * (v / 16) + v % 8 : v - 32, slot = v < 32 ? v / 8 % 2 : 2;
        uint8_t *word = step + QUANT_PACK_Q6_HEAD + 192 * triple + 64 * slot + 4 * lane;
        if (to_packed) memcpy(word, block + 4 * v, 4);
        else memcpy(block + 4 * v, word, 4);
    }
}

static void packed_io(int wtype, uint8_t *step, int64_t r, uint8_t *block, bool to_packed) {
    int lane = (int)(r % QUANT_PACK_ROWS);
    if (wtype == AION_DT_Q6_K) packed_q6_io(step, lane, block, to_packed);
    else if (quant_packed_super(wtype)) packed_super_io(wtype, step, lane, block, to_packed);
    else packed_block_io(wtype, step, lane, block, to_packed);
}

bool quant_pack_wanted(int wtype) { return packable(wtype) && pick_isa() == ISA_AVX512; }

size_t quant_packed_bytes(int wtype, int64_t n_rows, int64_t n_cols) {
    int64_t groups = (n_rows + QUANT_PACK_ROWS - 1) / QUANT_PACK_ROWS;
    return quant_packed_group_bytes(wtype, n_cols) * (size_t)groups;
}

void quant_pack(int wtype, const void *w, int64_t n_rows, int64_t n_cols, void *dst) {
    uint8_t *out = dst;
    size_t total = quant_packed_bytes(wtype, n_rows, n_cols), filled = quant_packed_group_bytes(wtype, n_cols) *
                                                                      (size_t)(n_rows / QUANT_PACK_ROWS);
    memset(out + filled, 0, total - filled); /* the padding rows of the last group: scale 0 */
    size_t bb = quant_block_bytes(wtype);
    for (int64_t r = 0; r < n_rows; r++) {
        const uint8_t *row = (const uint8_t *)w + quant_row_bytes(wtype, n_cols) * (size_t)r;
        for (int64_t b = 0; b < n_cols / quant_packed_step_cols(wtype); b++) {
            uint8_t *step = (uint8_t *)packed_step(wtype, out, n_cols, r, b);
            packed_io(wtype, step, r, (uint8_t *)row + bb * b, true);
        }
    }
}

/* The scalar reference on the packed layout: each block is put back together and summed as
 * dot_ref_q does (bit for bit the reference's for Q8_0 / Q4_0; the K-quants within its rounding). */
static float dot_ref_packed(const quant_mm *m, int64_t r, const uint8_t *act) {
    const int8_t *xq = quant_act_quants(act);
    const float *xs = quant_act_scales(act, m->n_cols);
    double sum = 0.0;
    for (int64_t b = 0; b < m->n_cols / quant_packed_step_cols(m->wtype); b++) {
        uint8_t *step = (uint8_t *)packed_step(m->wtype, m->w, m->n_cols, r, b), block[256];
        packed_io(m->wtype, step, r, block, false);
        sum += quant_is_k(m->wtype) ? quant_k_dot_ref(m->wtype, block, xq + 256 * b, xs + 64 * b, 256)
                                        : block_term(m->wtype, block, xq, xs, b);
    }
    return (float)sum;
}

static void matmul_ref_chunk(const quant_mm *m) {
    if (m->packed) {
        for (int64_t r = m->r0; r < m->r1; r++)
            for (int t = 0; t < m->n_tok; t++)
                m->y[t * m->ldy + r] = dot_ref_packed(m, r, m->act + m->act_row_bytes * t);
        return;
    }
    for (int64_t r = m->r0; r < m->r1; r++) {
        const uint8_t *row = m->w + m->w_row_bytes * r;
        for (int t = 0; t < m->n_tok; t++) {
            const uint8_t *act = m->act + m->act_row_bytes * t;
            m->y[t * m->ldy + r] = quant_is_int_weight(m->wtype)
                                       ? dot_ref_q(m->wtype, row, act, m->n_cols)
                                       : dot_ref_float(m->wtype, row, (const float *)act, m->n_cols);
        }
    }
}

static bool kernel_supported(int wtype) {
    return wtype == AION_DT_F32 || wtype == AION_DT_F16 || wtype == AION_DT_BF16 || quant_is_int_weight(wtype);
}

static quant_mm make_mm(int wtype, const void *w, int64_t n_cols, const void *act, int n_tok, float *y,
                        int64_t ldy, int64_t r0, int64_t r1) {
    return (quant_mm){.wtype = wtype,
                      .w = w,
                      .w_row_bytes = quant_row_bytes(wtype, n_cols),
                      .n_cols = n_cols,
                      .act = act,
                      .act_row_bytes = quant_act_row_bytes(wtype, n_cols),
                      .n_tok = n_tok,
                      .y = y,
                      .ldy = ldy,
                      .r0 = r0,
                      .r1 = r1};
}

void quant_matmul_ref(int wtype, const void *w, int64_t n_cols, const void *act, int n_tok, float *y,
                      int64_t ldy, int64_t r0, int64_t r1) {
    if (!kernel_supported(wtype) || r0 >= r1 || n_tok <= 0) return;
    quant_mm m = make_mm(wtype, w, n_cols, act, n_tok, y, ldy, r0, r1);
    matmul_ref_chunk(&m);
}

static void run_chunk(kernel_isa isa, const quant_mm *m) {
#if QUANT_HAVE_X86_KERNELS
    if (isa == ISA_AVX512 && quant_matmul_avx512(m)) return;
    if (isa >= ISA_AVX2 && !m->packed && quant_matmul_avx2(m)) return;
#endif
    matmul_ref_chunk(m);
}

/* Tokens per chunk: as many as keep their prepared rows within the cache budget, in whole
 * tiles of 4, so each weight row is read from memory once per chunk. */
static int tokens_per_chunk(size_t act_row_bytes) {
    size_t fit = ACT_CACHE_BUDGET / (act_row_bytes ? act_row_bytes : 1);
    int n = fit > 4096 ? 4096 : (int)fit;
    n &= ~3;
    return n < 4 ? 4 : n;
}

static void matmul_chunks(quant_mm m) {
    kernel_isa isa = pick_isa();
    int chunk = tokens_per_chunk(m.act_row_bytes);
    for (int t0 = 0; t0 < m.n_tok; t0 += chunk) {
        quant_mm part = m;
        part.act = m.act + m.act_row_bytes * (size_t)t0;
        part.y = m.y + m.ldy * t0;
        part.n_tok = m.n_tok - t0 < chunk ? m.n_tok - t0 : chunk;
        run_chunk(isa, &part);
    }
}

void quant_matmul(int wtype, const void *w, int64_t n_cols, const void *act, int n_tok, float *y,
                  int64_t ldy, int64_t r0, int64_t r1) {
    if (!kernel_supported(wtype) || r0 >= r1 || n_tok <= 0) return;
    matmul_chunks(make_mm(wtype, w, n_cols, act, n_tok, y, ldy, r0, r1));
}

void quant_matmul_packed(int wtype, const void *packed, int64_t n_cols, const void *act, int n_tok, float *y,
                         int64_t ldy, int64_t r0, int64_t r1) {
    if (!packable(wtype) || r0 >= r1 || n_tok <= 0) return;
    quant_mm m = make_mm(wtype, packed, n_cols, act, n_tok, y, ldy, r0, r1);
    m.packed = true;
    m.w_row_bytes = 0; /* rows are not runs in this layout */
    matmul_chunks(m);
}

/* ---- vector helpers ---- */

float quant_dot_f32(const float *a, const float *b, int64_t n) {
    switch (pick_isa()) {
#if QUANT_HAVE_X86_KERNELS
    case ISA_AVX512: return quant_dot_f32_avx512(a, b, n);
    case ISA_AVX2: return quant_dot_f32_avx2(a, b, n);
#endif
    default: break;
    }
    /* four partial sums: fewer rounding steps in a row, and no loop-carried dependency chain */
    float s[4] = {0};
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int k = 0; k < 4; k++) s[k] += a[i + k] * b[i + k];
    for (; i < n; i++) s[0] += a[i] * b[i];
    return (s[0] + s[1]) + (s[2] + s[3]);
}

void quant_axpy_f32(float *y, float a, const float *x, int64_t n) {
    switch (pick_isa()) {
#if QUANT_HAVE_X86_KERNELS
    case ISA_AVX512: quant_axpy_f32_avx512(y, a, x, n); return;
    case ISA_AVX2: quant_axpy_f32_avx2(y, a, x, n); return;
#endif
    default: break;
    }
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

/* ---- attention rows, f32 or f16: the kernels where there is one, else row by row ---- */

/* An f16 row where no kernel is: widened a piece at a time. */
#define F16_PIECE 256

static float dot_f16_row(const float *q, const uint16_t *row, int64_t n) {
    float wide[F16_PIECE], sum = 0;
    for (int64_t i0 = 0; i0 < n; i0 += F16_PIECE) {
        int64_t len = n - i0 < F16_PIECE ? n - i0 : F16_PIECE;
        quant_f16_to_f32_row(row + i0, wide, len);
        sum += quant_dot_f32(q + i0, wide, len);
    }
    return sum;
}

static void axpy_f16_row(float *y, float a, const uint16_t *row, int64_t n) {
    float wide[F16_PIECE];
    for (int64_t i0 = 0; i0 < n; i0 += F16_PIECE) {
        int64_t len = n - i0 < F16_PIECE ? n - i0 : F16_PIECE;
        quant_f16_to_f32_row(row + i0, wide, len);
        quant_axpy_f32(y + i0, a, wide, len);
    }
}

void quant_dot_rows(const float *q, const void *rows, bool f16, size_t stride, int n_rows, int64_t n,
                    float *scores) {
#if QUANT_HAVE_X86_KERNELS
    if (pick_isa() == ISA_AVX512 && quant_dot_rows_avx512(q, rows, f16, stride, n_rows, n, scores)) return;
#endif
    for (int j = 0; j < n_rows; j++)
        scores[j] = f16 ? dot_f16_row(q, (const uint16_t *)rows + stride * (size_t)j, n)
                        : quant_dot_f32(q, (const float *)rows + stride * (size_t)j, n);
}

void quant_axpy_rows(float *y, const float *w, const void *rows, bool f16, size_t stride, int n_rows, int64_t n) {
#if QUANT_HAVE_X86_KERNELS
    if (pick_isa() == ISA_AVX512 && quant_axpy_rows_avx512(y, w, rows, f16, stride, n_rows, n)) return;
#endif
    for (int j = 0; j < n_rows; j++) {
        if (f16) axpy_f16_row(y, w[j], (const uint16_t *)rows + stride * (size_t)j, n);
        else quant_axpy_f32(y, w[j], (const float *)rows + stride * (size_t)j, n);
    }
}

void quant_dot_rows2(const float *qa, const float *qb, const void *rows, bool f16, size_t stride, int n_rows,
                     int64_t n, float *sa, float *sb) {
#if QUANT_HAVE_X86_KERNELS
    if (pick_isa() == ISA_AVX512 && quant_dot_rows2_avx512(qa, qb, rows, f16, stride, n_rows, n, sa, sb)) return;
#endif
    quant_dot_rows(qa, rows, f16, stride, n_rows, n, sa);
    quant_dot_rows(qb, rows, f16, stride, n_rows, n, sb);
}

void quant_axpy_rows2(float *ya, float *yb, const float *wa, const float *wb, const void *rows, bool f16,
                      size_t stride, int n_rows, int64_t n) {
#if QUANT_HAVE_X86_KERNELS
    if (pick_isa() == ISA_AVX512 && quant_axpy_rows2_avx512(ya, yb, wa, wb, rows, f16, stride, n_rows, n)) return;
#endif
    quant_axpy_rows(ya, wa, rows, f16, stride, n_rows, n);
    quant_axpy_rows(yb, wb, rows, f16, stride, n_rows, n);
}

float quant_max_f32(const float *x, int64_t n) {
#if QUANT_HAVE_X86_KERNELS
    if (pick_isa() == ISA_AVX512) return quant_max_f32_avx512(x, n);
#endif
    float m = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        if (x[i] > m) m = x[i];
    return m;
}

float quant_exp_f32(float *x, int64_t n, float scale, float shift) {
#if QUANT_HAVE_X86_KERNELS
    if (pick_isa() == ISA_AVX512) return quant_exp_f32_avx512(x, n, scale, shift);
#endif
    float sum = 0;
    for (int64_t i = 0; i < n; i++) {
        x[i] = expf(x[i] * scale - shift);
        sum += x[i];
    }
    return sum;
}

void quant_f16_to_f32_row(const uint16_t *src, float *dst, int64_t n) {
#if QUANT_HAVE_X86_KERNELS
    if (pick_isa() == ISA_AVX512) {
        quant_f16_to_f32_row_avx512(src, dst, n);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++) dst[i] = quant_f16_to_f32(src[i]);
}

/* The eight partial sums are what a vector of eight doubles accumulates: a square of a float is
 * exact in double, so a fused multiply-add there rounds as this add does. */
void quant_rmsnorm_f32(float *out, const float *x, const float *weight, int64_t n, float eps) {
#if QUANT_HAVE_X86_KERNELS
    if (pick_isa() == ISA_AVX512) {
        quant_rmsnorm_f32_avx512(out, x, weight, n, eps);
        return;
    }
#endif
    double part[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) part[l] += (double)x[i + l] * x[i + l];
    double ss = 0;
    for (; i < n; i++) ss += (double)x[i] * x[i];
    for (int l = 0; l < 8; l++) ss += part[l];
    float scale = (float)(1.0 / sqrt(ss / (double)n + eps));
    for (i = 0; i < n; i++) out[i] = x[i] * scale * weight[i];
}

void quant_swiglu_f32(float *g, const float *u, int64_t n) {
#if QUANT_HAVE_X86_KERNELS
    if (pick_isa() == ISA_AVX512) {
        quant_swiglu_f32_avx512(g, u, n);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++) g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}
