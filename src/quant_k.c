/*
 * quant_k.c - the K-quant block formats (Q4_K, Q5_K, Q6_K): layout, conversion
 * to and from float, and the scalar dot product against prepared activations.
 *
 * Most published GGUF files are K-quants, so A-IO runs them. A K-quant block
 * ("super-block") holds 256 weights with one or two f16 factors and a small
 * scale per sub-block; the layouts are GGUF's, bit for bit:
 *   Q4_K (144 B)  f16 d, f16 dmin, u8 scales[12], u8 qs[128]
 *                 8 sub-blocks of 32; 6-bit scale sc and min m per sub-block
 *                 packed in scales[12]; x = d*sc*q - dmin*m, q in [0, 15]
 *   Q5_K (176 B)  as Q4_K plus u8 qh[32]: the fifth bit, q in [0, 31]
 *   Q6_K (210 B)  u8 ql[128], u8 qh[64], i8 scales[16], f16 d
 *                 16 sub-blocks of 16; x = d*sc*(q - 32), q in [0, 63]
 * Inside Q4_K/Q5_K, sub-blocks 2j and 2j+1 share the 32 bytes qs[32j..32j+31]
 * (low, high nibbles). Inside Q6_K each half of 128 weights takes 64 bytes of ql
 * and 32 of qh: weight l (l < 32) of the four quarters comes from ql[l] low,
 * ql[l+32] low, ql[l] high, ql[l+32] high, with qh[l] bits 0-1, 2-3, 4-5, 6-7.
 *
 * The quantizers are A-IO's own (a min/max fit per sub-block, then the
 * sub-block factors quantized against the super-block's); they write valid
 * blocks but not the same bytes as llama.cpp's iterative search - files that
 * matter come quantized already. The dot product takes the activations as
 * prepared for every integer weight type (8-bit blocks of 32, quant_simd.h):
 * one activation block spans one Q4_K/Q5_K sub-block or two Q6_K ones.
 */
#include <math.h>
#include <string.h>

#include "quant.h"
#include "quant_simd.h"

static uint16_t load_u16(const uint8_t *p) {
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static void store_u16(uint8_t *p, uint16_t v) { memcpy(p, &v, sizeof v); }

/* ---- Q4_K / Q5_K scales: 8 six-bit (scale, min) pairs in 12 bytes ---- */

void quant_k_scale_min(const uint8_t *packed, int j, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = packed[j] & 63;
        *m = packed[j + 4] & 63;
    } else {
        *sc = (uint8_t)((packed[j + 4] & 0x0F) | ((packed[j - 4] >> 6) << 4));
        *m = (uint8_t)((packed[j + 4] >> 4) | ((packed[j] >> 6) << 4));
    }
}

void quant_k_pack_scale_min(const uint8_t sc[8], const uint8_t m[8], uint8_t packed[12]) {
    memset(packed, 0, 12);
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            packed[j] |= sc[j];
            packed[j + 4] |= m[j];
        } else {
            packed[j + 4] = (uint8_t)((sc[j] & 0x0F) | ((m[j] & 0x0F) << 4));
            packed[j - 4] |= (uint8_t)((sc[j] >> 4) << 6);
            packed[j] |= (uint8_t)((m[j] >> 4) << 6);
        }
    }
}

/* The q of weight i (0..255) of a Q4_K (qh NULL) or Q5_K block. */
static int q45_level(const uint8_t *qs, const uint8_t *qh, int i) {
    int sub = i / 32, l = i % 32;
    uint8_t byte = qs[32 * (sub / 2) + l];
    int q = sub % 2 ? byte >> 4 : byte & 0x0F;
    if (qh) q |= ((qh[l] >> sub) & 1) << 4;
    return q;
}

/* The q - 32 of weight i (0..255) of a Q6_K block. */
static int q6_level(const uint8_t *ql, const uint8_t *qh, int i) {
    int half = i / 128, quarter = (i % 128) / 32, l = i % 32;
    const uint8_t *lo = ql + 64 * half, *hi = qh + 32 * half;
    uint8_t byte = lo[l + 32 * (quarter % 2)];
    int low4 = quarter < 2 ? byte & 0x0F : byte >> 4;
    int high2 = (hi[l] >> (2 * quarter)) & 3;
    return (low4 | high2 << 4) - 32;
}

/* ---- dequantization ---- */

static void dequantize_block_q45(const uint8_t *block, bool five, float *y) {
    float d = quant_f16_to_f32(load_u16(block)), dmin = quant_f16_to_f32(load_u16(block + 2));
    const uint8_t *scales = block + 4;
    const uint8_t *qh = five ? block + 16 : NULL, *qs = five ? block + 48 : block + 16;
    for (int sub = 0; sub < 8; sub++) {
        uint8_t sc, m;
        quant_k_scale_min(scales, sub, &sc, &m);
        float ds = d * sc, dm = dmin * m;
        for (int l = 0; l < 32; l++) y[32 * sub + l] = ds * (float)q45_level(qs, qh, 32 * sub + l) - dm;
    }
}

static void dequantize_block_q6(const uint8_t *block, float *y) {
    const uint8_t *ql = block, *qh = block + 128;
    const int8_t *sc = (const int8_t *)(block + 192);
    float d = quant_f16_to_f32(load_u16(block + 208));
    for (int i = 0; i < 256; i++) y[i] = d * sc[i / 16] * (float)q6_level(ql, qh, i);
}

bool quant_k_dequantize_row(int type, const void *src, float *dst, int64_t n) {
    const uint8_t *s = src;
    size_t bb = quant_block_bytes(type);
    for (int64_t b = 0; b < n / 256; b++) {
        switch (type) {
        case AION_DT_Q4_K: dequantize_block_q45(s + bb * b, false, dst + 256 * b); break;
        case AION_DT_Q5_K: dequantize_block_q45(s + bb * b, true, dst + 256 * b); break;
        case AION_DT_Q6_K: dequantize_block_q6(s + bb * b, dst + 256 * b); break;
        default: return false;
        }
    }
    return true;
}

/* ---- quantization ---- */

static int clamp_int(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Q4_K/Q5_K: each sub-block is fitted as x ~ scale*q - min over [lo, hi] (min >= 0: the
 * range always contains 0, as the format's unsigned min requires); the 8 scales and mins are
 * then 6-bit multiples of d and dmin. */
static void quantize_block_q45(const float *x, bool five, uint8_t *block) {
    const int levels = five ? 31 : 15;
    float scale[8], mins[8], max_scale = 0, max_min = 0;
    for (int sub = 0; sub < 8; sub++) {
        float lo = 0, hi = 0;
        for (int l = 0; l < 32; l++) {
            lo = fminf(lo, x[32 * sub + l]);
            hi = fmaxf(hi, x[32 * sub + l]);
        }
        scale[sub] = (hi - lo) / levels;
        mins[sub] = -lo;
        max_scale = fmaxf(max_scale, scale[sub]);
        max_min = fmaxf(max_min, mins[sub]);
    }
    float d = max_scale / 63, dmin = max_min / 63;
    uint8_t sc[8], m[8];
    for (int sub = 0; sub < 8; sub++) {
        sc[sub] = (uint8_t)(d > 0 ? clamp_int((int)lrintf(scale[sub] / d), 0, 63) : 0);
        m[sub] = (uint8_t)(dmin > 0 ? clamp_int((int)lrintf(mins[sub] / dmin), 0, 63) : 0);
    }
    store_u16(block, quant_f32_to_f16(d));
    store_u16(block + 2, quant_f32_to_f16(dmin));
    quant_k_pack_scale_min(sc, m, block + 4);
    /* levels against the factors as stored (f16), so dequantization sees what was fitted */
    float d16 = quant_f16_to_f32(load_u16(block)), dmin16 = quant_f16_to_f32(load_u16(block + 2));
    uint8_t *qh = five ? block + 16 : NULL, *qs = five ? block + 48 : block + 16;
    memset(block + 16, 0, five ? 160 : 128);
    for (int sub = 0; sub < 8; sub++) {
        float ds = d16 * sc[sub], dm = dmin16 * m[sub];
        for (int l = 0; l < 32; l++) {
            int q = ds > 0 ? clamp_int((int)lrintf((x[32 * sub + l] + dm) / ds), 0, levels) : 0;
            qs[32 * (sub / 2) + l] |= (uint8_t)((q & 0x0F) << (4 * (sub % 2)));
            if (five) qh[l] |= (uint8_t)(((q >> 4) & 1) << sub);
        }
    }
}

/* Q6_K: a signed scale per 16 weights that maps the sub-block's largest magnitude to -32
 * (the one level with no positive twin), scales as int8 multiples of d. */
static void quantize_block_q6(const float *x, uint8_t *block) {
    float scale[16], max_abs_scale = 0, max_scale = 0;
    for (int sub = 0; sub < 16; sub++) {
        float amax = 0, max = 0;
        for (int l = 0; l < 16; l++)
            if (fabsf(x[16 * sub + l]) > amax) {
                amax = fabsf(x[16 * sub + l]);
                max = x[16 * sub + l];
            }
        scale[sub] = max / -32.0f;
        if (fabsf(scale[sub]) > max_abs_scale) {
            max_abs_scale = fabsf(scale[sub]);
            max_scale = scale[sub];
        }
    }
    float d = max_scale / -128.0f;
    int8_t *sc = (int8_t *)(block + 192);
    for (int sub = 0; sub < 16; sub++)
        sc[sub] = (int8_t)(d != 0 ? clamp_int((int)lrintf(scale[sub] / d), -128, 127) : 0);
    store_u16(block + 208, quant_f32_to_f16(d));
    float d16 = quant_f16_to_f32(load_u16(block + 208));
    uint8_t *ql = block, *qh = block + 128;
    memset(block, 0, 192);
    for (int i = 0; i < 256; i++) {
        float ds = d16 * sc[i / 16];
        int q = ds != 0 ? clamp_int((int)lrintf(x[i] / ds), -32, 31) + 32 : 32;
        int half = i / 128, quarter = (i % 128) / 32, l = i % 32;
        ql[64 * half + l + 32 * (quarter % 2)] |= (uint8_t)((q & 0x0F) << (quarter < 2 ? 0 : 4));
        qh[32 * half + l] |= (uint8_t)((q >> 4) << (2 * quarter));
    }
}

bool quant_k_quantize_row(int type, const float *src, void *dst, int64_t n) {
    uint8_t *d = dst;
    size_t bb = quant_block_bytes(type);
    for (int64_t b = 0; b < n / 256; b++) {
        switch (type) {
        case AION_DT_Q4_K: quantize_block_q45(src + 256 * b, false, d + bb * b); break;
        case AION_DT_Q5_K: quantize_block_q45(src + 256 * b, true, d + bb * b); break;
        case AION_DT_Q6_K: quantize_block_q6(src + 256 * b, d + bb * b); break;
        default: return false;
        }
    }
    return true;
}

/* ---- the reference dot product ---- */

/* Integer sums per sub-block, then one float step per sub-block: the activation scale of a
 * 32-block and the weight factors multiply the exact integer sums. */
float quant_k_dot_ref(int type, const uint8_t *row, const int8_t *xq, const float *xs, int64_t n_cols) {
    size_t bb = quant_block_bytes(type);
    double sum = 0.0;
    for (int64_t b = 0; b < n_cols / 256; b++) {
        const uint8_t *block = row + bb * b;
        const int8_t *x = xq + 256 * b;
        const float *xd = xs + 8 * 8 * b; /* 8 act blocks, scales stored 8 times each */
        if (type == AION_DT_Q6_K) {
            const int8_t *sc = (const int8_t *)(block + 192);
            float d = quant_f16_to_f32(load_u16(block + 208));
            for (int ab = 0; ab < 8; ab++) {
                int32_t lo = 0, hi = 0;
                for (int l = 0; l < 16; l++) lo += q6_level(block, block + 128, 32 * ab + l) * x[32 * ab + l];
                for (int l = 16; l < 32; l++) hi += q6_level(block, block + 128, 32 * ab + l) * x[32 * ab + l];
                sum += (double)(d * xd[8 * ab]) * (sc[2 * ab] * lo + sc[2 * ab + 1] * hi);
            }
        } else {
            bool five = type == AION_DT_Q5_K;
            float d = quant_f16_to_f32(load_u16(block)), dmin = quant_f16_to_f32(load_u16(block + 2));
            const uint8_t *qh = five ? block + 16 : NULL, *qs = five ? block + 48 : block + 16;
            for (int sub = 0; sub < 8; sub++) {
                uint8_t sc, m;
                quant_k_scale_min(block + 4, sub, &sc, &m);
                int32_t dot = 0, xsum = 0;
                for (int l = 0; l < 32; l++) {
                    dot += q45_level(qs, qh, 32 * sub + l) * x[32 * sub + l];
                    xsum += x[32 * sub + l];
                }
                sum += (double)xd[8 * sub] * ((double)(d * sc) * dot - (double)(dmin * m) * xsum);
            }
        }
    }
    return (float)sum;
}
