/*
 * test_quant.c - the element conversions, GGUF block quantizers and matmul kernels.
 *
 * Conversions are checked at their edges (signed zeros, ties, subnormals,
 * overflow, NaN) and exhaustively over all f16 values; the quantizers against
 * blocks whose bytes are worked out by hand in the comments, and against error
 * bounds on random data. Every SIMD kernel the machine can run is compared with
 * the scalar reference at each CPU level (cpu_features_limit), over shapes that
 * hit every tile remainder: ragged token counts, odd row ranges, odd block
 * counts, and weights straight from random bytes (Q8_0 quants of -128 included).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cpu.h"
#include "quant.h"

/* xorshift64*: deterministic across platforms, no global state. */
static uint64_t rng_next(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

static float rng_uniform(uint64_t *s) { return (float)((rng_next(s) >> 40) * 0x1p-24) * 2.0f - 1.0f; }

static uint32_t bits_of(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float float_of(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* ---- conversions ---- */

static void test_f16_edges(void) {
    const struct {
        float f;
        uint16_t h;
    } cases[] = {
        {0.0f, 0x0000},          {-0.0f, 0x8000},          {1.0f, 0x3C00},          {-2.0f, 0xC000},
        {0.1f, 0x2E66},          {65504.0f, 0x7BFF},       {65519.99f, 0x7BFF},     {65520.0f, 0x7C00},
        {1e10f, 0x7C00},         {-INFINITY, 0xFC00},      {INFINITY, 0x7C00},      {0x1p-14f, 0x0400},
        {0x1p-24f, 0x0001},      {0x1p-25f, 0x0000},       {0x1.8p-25f, 0x0001},    {0x1.8p-24f, 0x0002},
        {0x1.4p-24f, 0x0001},    {-0x1p-24f, 0x8001},      {0x1.ffcp-15f, 0x0400},  {1.0f + 0x1p-11f, 0x3C00},
        {1.0f + 0x1.8p-10f, 0x3C02}, {1.0f + 0x1p-10f, 0x3C01}, {0x1p-26f, 0x0000},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint16_t h = quant_f32_to_f16(cases[i].f);
        CHECK(h == cases[i].h, "f16(%a) = 0x%04x, want 0x%04x", cases[i].f, h, cases[i].h);
    }
    uint16_t nan = quant_f32_to_f16(NAN);
    CHECK((nan & 0x7C00) == 0x7C00 && (nan & 0x3FF) != 0, "f16(NaN) = 0x%04x", nan);
    CHECK(isnan(quant_f16_to_f32(0x7E00)) && isnan(quant_f16_to_f32(0xFC01)), "f16 NaN decodes to NaN");
    CHECK(quant_f16_to_f32(0x0001) == 0x1p-24f, "smallest subnormal");
    CHECK(quant_f16_to_f32(0x83FF) == -0x1.ff8p-15f, "largest negative subnormal");
    CHECK(bits_of(quant_f16_to_f32(0x8000)) == 0x80000000u, "-0 keeps its sign");
}

/* Every half decodes to a float that encodes back to the same half. */
static void test_f16_round_trip(void) {
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        float f = quant_f16_to_f32((uint16_t)h);
        bool is_nan = ((h >> 10) & 0x1F) == 0x1F && (h & 0x3FF);
        if (is_nan) bad += !isnan(f);
        else bad += quant_f32_to_f16(f) != h;
    }
    CHECK(bad == 0, "%d halves do not round-trip", bad);
}

/* For random floats in the half range, the result is a nearest half, ties to even. */
static void test_f16_nearest(void) {
    uint64_t s = 0x1234;
    int bad = 0;
    for (int i = 0; i < 200000; i++) {
        float mag = ldexpf(fabsf(rng_uniform(&s)), (int)(rng_next(&s) % 42) - 26);
        float f = (rng_next(&s) & 1) ? -mag : mag;
        uint16_t h = quant_f32_to_f16(f);
        double err = fabs((double)quant_f16_to_f32(h) - f);
        uint16_t mag_h = h & 0x7FFF;
        for (int step = -1; step <= 1; step += 2) {
            int n = (int)mag_h + step;
            if (n < 0 || n > 0x7BFF) continue;
            double other = fabs((double)quant_f16_to_f32((uint16_t)((h & 0x8000) | n)) - f);
            if (other < err || (other == err && (mag_h & 1))) bad++;
        }
    }
    CHECK(bad == 0, "%d floats not rounded to the nearest-even half", bad);
}

static void test_bf16(void) {
    const struct {
        uint32_t f;
        uint16_t h;
    } cases[] = {
        {0x3F800000u, 0x3F80}, {0x3F808000u, 0x3F80}, {0x3F818000u, 0x3F82}, {0x3F808001u, 0x3F81},
        {0xBF80FFFFu, 0xBF81}, {0x7F7FFFFFu, 0x7F80}, {0x7F800000u, 0x7F80}, {0x80000000u, 0x8000},
        {0x00000001u, 0x0000}, {0x00008000u, 0x0000}, {0x00018000u, 0x0002},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint16_t h = quant_f32_to_bf16(float_of(cases[i].f));
        CHECK(h == cases[i].h, "bf16(0x%08x) = 0x%04x, want 0x%04x", cases[i].f, h, cases[i].h);
    }
    /* a signalling NaN comes back quiet instead of rounding into infinity */
    CHECK(quant_f32_to_bf16(float_of(0x7F800001u)) == 0x7FC0, "bf16(sNaN)");
    CHECK(isnan(quant_bf16_to_f32(quant_f32_to_bf16(NAN))), "bf16 NaN round trip");
    CHECK(quant_bf16_to_f32(0xC040) == -3.0f, "bf16 decode");
}

/* ---- quantizers ---- */

static void expect_bytes(const uint8_t *got, const uint8_t *want, size_t n, const char *what) {
    size_t i = 0;
    while (i < n && got[i] == want[i]) i++;
    CHECK(i == n, "%s: byte %zu is 0x%02x, want 0x%02x", what, i, i < n ? got[i] : 0, i < n ? want[i] : 0);
}

static void test_q8_0_known_block(void) {
    /* amax 127 -> d = 1 (f16 0x3C00), q = roundf(x): halves go away from zero, and
     * 0.49999997 (which x + 0.5 in float would wrongly send to 1) stays 0. */
    float x[32] = {127, -127, 0.5f, -0.5f, 1.5f, -1.5f, 2.5f, -2.5f, 0.49999997f, 126.6f, -3.2f, 0};
    for (int j = 12; j < 32; j++) x[j] = (float)(j - 20);
    uint8_t want[34] = {0x00, 0x3C, 127, (uint8_t)-127, 1, (uint8_t)-1, 2, (uint8_t)-2, 3, (uint8_t)-3, 0, 127,
                        (uint8_t)-3, 0};
    for (int j = 12; j < 32; j++) want[2 + j] = (uint8_t)(int8_t)(j - 20);
    uint8_t got[34];
    CHECK(quant_quantize_row(AION_DT_Q8_0, x, got, 32), "quantize q8_0");
    expect_bytes(got, want, 34, "q8_0 amax 127");

    /* amax 254 -> d = 2 (0x4000), id = 0.5: 3 -> 1.5 -> 2, -5 -> -2.5 -> -3, 1 -> 0.5 -> 1 */
    float y[32] = {254, 3, -5, 1, -1, 0.9f};
    uint8_t want_y[34] = {0x00, 0x40, 127, 2, (uint8_t)-3, 1, (uint8_t)-1, 0};
    CHECK(quant_quantize_row(AION_DT_Q8_0, y, got, 32), "quantize q8_0");
    expect_bytes(got, want_y, 34, "q8_0 amax 254");

    float zero[32] = {0};
    uint8_t want_zero[34] = {0};
    quant_quantize_row(AION_DT_Q8_0, zero, got, 32);
    expect_bytes(got, want_zero, 34, "q8_0 zero block");
}

static void test_q4_0_known_block(void) {
    /* max by magnitude is -8 -> d = 1 (0x3C00), q = min(15, trunc(x + 8.5)):
     * -8 -> 0, 7 -> 15, 7.6 -> 15 (clamped), 0 -> 8, -0.5 -> 8, 0.5 -> 9, -7.6 -> 0 (0.9).
     * Element j is the low nibble of byte j, element j + 16 the high nibble. */
    float x[32] = {-8, 7, 7.6f, 0, -0.5f, 0.5f, -7.6f, 3};
    for (int j = 16; j < 32; j++) x[j] = (float)(j - 24); /* -8 .. 7 -> 0 .. 15 */
    uint8_t lo[16] = {0, 15, 15, 8, 8, 9, 0, 11, 8, 8, 8, 8, 8, 8, 8, 8};
    uint8_t want[18] = {0x00, 0x3C};
    for (int j = 0; j < 16; j++) want[2 + j] = (uint8_t)(lo[j] | (j << 4));
    uint8_t got[18];
    CHECK(quant_quantize_row(AION_DT_Q4_0, x, got, 32), "quantize q4_0");
    expect_bytes(got, want, 18, "q4_0 block");

    /* positive max: 16 -> d = -2 (f16 0xC000), id = -0.5: 16 -> 0, -14 -> 15.5 -> 15, 1 -> 8 */
    float y[32] = {16, -14, 1};
    uint8_t want_y[18] = {0x00, 0xC0, 0x80, 0x8F, 0x88};
    memset(want_y + 5, 0x88, 13);
    CHECK(quant_quantize_row(AION_DT_Q4_0, y, got, 32), "quantize q4_0");
    expect_bytes(got, want_y, 18, "q4_0 positive max");
}

static void fill_random(uint64_t *s, float *x, int64_t n, float scale) {
    for (int64_t i = 0; i < n; i++) x[i] = rng_uniform(s) * scale;
}

/* Quantize -> dequantize stays within half a step of the block's own scale (a full step for
 * Q4_0, whose top level is clamped at 7 while the scale maps -max to -8). */
static void test_quantize_error_bounds(void) {
    enum { N = 32 * 64 };
    uint64_t s = 77;
    float x[N], y[N];
    uint8_t buf[N * 4];
    fill_random(&s, x, N, 3.0f);
    for (int b = 0; b < N / 32; b += 7) x[32 * b + b % 32] *= 40.0f; /* outliers */

    quant_quantize_row(AION_DT_Q8_0, x, buf, N);
    quant_dequantize_row(AION_DT_Q8_0, buf, y, N);
    int bad = 0;
    for (int b = 0; b < N / 32; b++) {
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[32 * b + j]));
        for (int j = 0; j < 32; j++) bad += fabsf(x[32 * b + j] - y[32 * b + j]) > 0.57f * amax / 127.0f;
    }
    CHECK(bad == 0, "q8_0: %d elements off by more than half a step", bad);

    quant_quantize_row(AION_DT_Q4_0, x, buf, N);
    quant_dequantize_row(AION_DT_Q4_0, buf, y, N);
    bad = 0;
    for (int b = 0; b < N / 32; b++) {
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[32 * b + j]));
        for (int j = 0; j < 32; j++) bad += fabsf(x[32 * b + j] - y[32 * b + j]) > 1.01f * amax / 8.0f;
    }
    CHECK(bad == 0, "q4_0: %d elements off by more than a step", bad);

    const struct {
        int type;
        float rel;
    } floats[] = {{AION_DT_F32, 0.0f}, {AION_DT_F16, 0x1p-11f}, {AION_DT_BF16, 0x1p-8f}};
    for (size_t k = 0; k < 3; k++) {
        quant_quantize_row(floats[k].type, x, buf, N);
        quant_dequantize_row(floats[k].type, buf, y, N);
        bad = 0;
        for (int i = 0; i < N; i++) bad += fabsf(x[i] - y[i]) > floats[k].rel * fabsf(x[i]) + 0x1p-24f;
        CHECK(bad == 0, "%s: %d elements outside the rounding bound", quant_type_name(floats[k].type), bad);
    }
    CHECK(!quant_quantize_row(AION_DT_Q2_K, x, buf, 256), "unsupported target type is refused");
}

static void make_weights(uint64_t *s, int type, int64_t rows, int64_t cols, uint8_t *w);

/* Reads exactly `bytes` of a file; false if it is missing or shorter. */
static bool read_exact(const char *path, void *buf, size_t bytes) {
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    bool ok = fread(buf, 1, bytes, f) == bytes;
    fclose(f);
    return ok;
}

/* The K-quant layouts against an outside reference: random blocks dequantized by llama.cpp's
 * Python gguf-py (tests/data/kquant, tools/ref/make_kquant_ref.py). Every bit of the scales,
 * mins and levels is random there, so each field's position is checked, to the bit. */
static void test_k_outside_reference(void) {
    const struct {
        int type;
        const char *name;
    } cases[] = {{AION_DT_Q4_K, "q4_k"}, {AION_DT_Q5_K, "q5_k"}, {AION_DT_Q6_K, "q6_k"}};
    enum { BLOCKS = 6 };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char path[128];
        static uint8_t blocks[BLOCKS * 256];
        static float want[BLOCKS * 256], got[BLOCKS * 256];
        size_t bytes = quant_row_bytes(cases[k].type, BLOCKS * 256);
        snprintf(path, sizeof path, "tests/data/kquant/%s.blocks", cases[k].name);
        bool have = read_exact(path, blocks, bytes);
        snprintf(path, sizeof path, "tests/data/kquant/%s.f32", cases[k].name);
        have = have && read_exact(path, want, sizeof want);
        CHECK(have, "reference vectors %s missing or short", path);
        if (!have) continue;
        quant_dequantize_row(cases[k].type, blocks, got, BLOCKS * 256);
        int bad = 0, first = -1;
        for (int i = 0; i < BLOCKS * 256; i++)
            if (fabsf(got[i] - want[i]) > 1e-6f * fabsf(want[i])) bad++, first = first < 0 ? i : first;
        CHECK(bad == 0, "%s: %d of %d values differ from llama.cpp's reference (first at %d: %g vs %g)",
              cases[k].name, bad, BLOCKS * 256, first, first >= 0 ? got[first] : 0, first >= 0 ? want[first] : 0);
    }
}

/* K-quants: the quantizer's RMS error relative to the data's, on random data with outliers.
 * A 4-bit level over a sub-block's range is ~7% of a uniform signal's RMS, 5-bit ~3.5%, Q6_K's
 * signed 6-bit ~2%; the bounds leave room for the 6/8-bit quantization of the scales. */
static void test_k_round_trip(void) {
    enum { N = 256 * 16 };
    const struct {
        int type;
        double max_rel_rms;
    } cases[] = {{AION_DT_Q4_K, 0.09}, {AION_DT_Q5_K, 0.045}, {AION_DT_Q6_K, 0.025}};
    static float x[N], y[N];
    static uint8_t buf[N];
    uint64_t s = 4242;
    fill_random(&s, x, N, 1.0f);
    for (int b = 0; b < N / 256; b++) x[256 * b + 17 * b % 256] *= 6.0f; /* outliers */
    for (int b = 0; b < 32; b++) x[256 * 3 + b] = 0.0f;                  /* a flat sub-block */
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        CHECK(quant_quantize_row(cases[k].type, x, buf, N), "quantize %s", quant_type_name(cases[k].type));
        quant_dequantize_row(cases[k].type, buf, y, N);
        double err = 0, sig = 0;
        for (int i = 0; i < N; i++) err += (double)(x[i] - y[i]) * (x[i] - y[i]), sig += (double)x[i] * x[i];
        double rel = sqrt(err / sig);
        CHECK(rel < cases[k].max_rel_rms, "%s round trip: relative RMS error %.4f (bound %.3f)",
              quant_type_name(cases[k].type), rel, cases[k].max_rel_rms);
        int moved = 0;
        for (int b = 0; b < 32; b++) moved += y[256 * 3 + b] != 0.0f;
        CHECK(moved == 0, "%s: %d zeros of a flat sub-block dequantize to non-zero", quant_type_name(cases[k].type),
              moved);
    }
}

/* The reference matmul of every integer type equals the float dot of the dequantized weights
 * with the activations, up to the activations' 8-bit rounding (half a step of each 32-block's
 * scale, summed): it checks the scales, mins and biases each format's dot applies. */
static void test_int_dot_vs_dequantized(void) {
    const int types[] = {AION_DT_Q8_0, AION_DT_Q4_0, AION_DT_Q4_K, AION_DT_Q5_K, AION_DT_Q6_K};
    enum { COLS = 1024, ROWS = 6 };
    uint64_t s = 777;
    static float x[COLS], w[COLS];
    static uint8_t wq[ROWS * COLS * 2], act[COLS * 4];
    fill_random(&s, x, COLS, 1.5f);
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        int type = types[k];
        size_t rb = quant_row_bytes(type, COLS);
        make_weights(&s, type, ROWS, COLS, wq);
        quant_act_prepare(type, x, act, COLS);
        float y[ROWS];
        quant_matmul_ref(type, wq, COLS, act, 1, y, ROWS, 0, ROWS);
        for (int r = 0; r < ROWS; r++) {
            quant_dequantize_row(type, wq + rb * r, w, COLS);
            double want = 0, bound = 0;
            for (int b = 0; b < COLS / 32; b++) {
                float amax = 0;
                for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[32 * b + j]));
                for (int j = 0; j < 32; j++) {
                    want += (double)w[32 * b + j] * x[32 * b + j];
                    bound += fabs((double)w[32 * b + j]) * (0.5 * amax / 127.0) * 1.01;
                }
            }
            CHECK(fabs(y[r] - want) <= bound + 1e-6, "%s row %d: dot %.6g vs dequantized %.6g (bound %.3g)",
                  quant_type_name(type), r, y[r], want, bound);
        }
    }
}

/* ---- kernels vs the reference ---- */

static const char *LEVEL_NAMES[] = {"scalar", "avx2", "avx512"};

static bool level_available(int level) {
    int prev = cpu_features_limit(CPU_LEVEL_MAX);
    const cpu_features *f = cpu_get();
    bool ok = level == CPU_LEVEL_SCALAR || (level == CPU_LEVEL_AVX2 && f->avx2 && f->fma && f->f16c) ||
              (level == CPU_LEVEL_AVX512 && f->avx512f && f->avx512bw && f->avx512vl && f->avx512vnni);
    cpu_features_limit(prev);
    return ok;
}

/* Random weights: half the rows quantized from floats, half raw random bytes with sane
 * scales, so every code the format allows (Q8_0's -128 too) reaches the kernels. */
static void make_weights(uint64_t *s, int type, int64_t rows, int64_t cols, uint8_t *w) {
    size_t rb = quant_row_bytes(type, cols);
    float *x = malloc(sizeof(float) * (size_t)cols);
    for (int64_t r = 0; r < rows; r++) {
        uint8_t *row = w + rb * (size_t)r;
        bool raw = (r & 1) && type != AION_DT_F32 && type != AION_DT_F16 && type != AION_DT_BF16;
        if (!raw) {
            fill_random(s, x, cols, 0.5f);
            quant_quantize_row(type, x, row, cols);
            continue;
        }
        /* every bit random but the f16 factors: d (and Q4_K/Q5_K's dmin at +2; Q6_K's d is last) */
        size_t bb = quant_block_bytes(type);
        size_t d_at = type == AION_DT_Q6_K ? 208 : 0;
        int n_factors = type == AION_DT_Q4_K || type == AION_DT_Q5_K ? 2 : 1;
        for (size_t i = 0; i < rb; i++) row[i] = (uint8_t)rng_next(s);
        for (size_t b = 0; b < rb / bb; b++) {
            for (int f = 0; f < n_factors; f++) {
                uint16_t d = quant_f32_to_f16(rng_uniform(s) * 0.01f);
                memcpy(row + bb * b + d_at + 2 * f, &d, 2);
            }
        }
    }
    free(x);
}

/* Sum over columns of |w * x|: the scale a rounding error is judged against. */
static double abs_product_sum(int type, const uint8_t *row, const float *x, int64_t cols, float *tmp) {
    quant_dequantize_row(type, row, tmp, cols);
    double s = 0;
    for (int64_t i = 0; i < cols; i++) s += fabs((double)tmp[i] * x[i]);
    return s;
}

static bool is_k(int type) { return type == AION_DT_Q4_K || type == AION_DT_Q5_K || type == AION_DT_Q6_K; }

/* The types quant_pack repacks. */
static bool packable(int type) {
    return type == AION_DT_Q8_0 || type == AION_DT_Q4_0 || is_k(type);
}

typedef struct mm_case {
    int type;
    int64_t cols;
    int n_tok;
    int64_t rows, r0, r1;
} mm_case;

static void check_act_bit_identical(const mm_case *c, const float *x, const uint8_t *act, int level) {
    size_t ab = quant_act_row_bytes(c->type, c->cols);
    uint8_t *ref = malloc(ab * (size_t)c->n_tok);
    int prev = cpu_features_limit(CPU_LEVEL_SCALAR);
    for (int t = 0; t < c->n_tok; t++) quant_act_prepare(c->type, x + c->cols * t, ref + ab * t, c->cols);
    cpu_features_limit(prev);
    CHECK(memcmp(ref, act, ab * (size_t)c->n_tok) == 0, "%s act %s cols %lld differs from scalar",
          LEVEL_NAMES[level], quant_type_name(c->type), (long long)c->cols);
    free(ref);
}

/* Results within float rounding of the reference (float weights: 1e-5 of the |product| sum;
 * integer ones 2e-6), and no row outside [r0, r1) written. */
static void check_mm_results(const mm_case *c, int level, const char *layout, const uint8_t *w, const float *x,
                             const float *y, const float *yref, int64_t ldy) {
    float *tmp = malloc(sizeof(float) * (size_t)c->cols);
    bool float_w = c->type == AION_DT_F32 || c->type == AION_DT_F16 || c->type == AION_DT_BF16;
    double rel = float_w ? 1e-5 : 2e-6;
    int bad = 0, untouched_bad = 0;
    double worst = 0;
    for (int t = 0; t < c->n_tok; t++) {
        for (int64_t r = 0; r < ldy; r++) {
            float got = y[t * ldy + r], want = yref[t * ldy + r];
            if (r < c->r0 || r >= c->r1) {
                untouched_bad += got != -12345.0f;
                continue;
            }
            const uint8_t *row = w + quant_row_bytes(c->type, c->cols) * (size_t)r;
            double scale = abs_product_sum(c->type, row, x + c->cols * t, c->cols, tmp) * 1.02 + 1e-30;
            double err = fabs((double)got - want) / scale;
            if (!(err <= rel)) bad++;
            if (err > worst) worst = err;
        }
    }
    CHECK(bad == 0 && untouched_bad == 0,
          "%s %s%s cols %lld tok %d rows [%lld,%lld): %d results off (worst %.3g rel), %d outside rows written",
          LEVEL_NAMES[level], layout, quant_type_name(c->type), (long long)c->cols, c->n_tok, (long long)c->r0,
          (long long)c->r1, bad, worst, untouched_bad);
    free(tmp);
}

/* The row-interleaved layout (quant_pack): within rounding of the reference at every level
 * (its own kernel at AVX-512, the reference elsewhere), same rows written. */
static void check_packed(const mm_case *c, int level, const uint8_t *w, const float *x, const uint8_t *act,
                         const float *yref, int64_t ldy) {
    uint8_t *packed = malloc(quant_packed_bytes(c->type, c->rows, c->cols));
    float *yp = malloc(sizeof(float) * (size_t)(ldy * c->n_tok));
    quant_pack(c->type, w, c->rows, c->cols, packed);
    for (int64_t i = 0; i < ldy * c->n_tok; i++) yp[i] = -12345.0f;
    int prev = cpu_features_limit(level);
    quant_matmul_packed(c->type, packed, c->cols, act, c->n_tok, yp, ldy, c->r0, c->r1);
    cpu_features_limit(prev);
    check_mm_results(c, level, "packed ", w, x, yp, yref, ldy);
    free(packed), free(yp);
}

static void run_mm_case(const mm_case *c, int level, uint64_t *s) {
    const int64_t ldy = c->rows + 3;
    size_t wb = quant_row_bytes(c->type, c->cols) * (size_t)c->rows;
    size_t ab = quant_act_row_bytes(c->type, c->cols);
    uint8_t *w = malloc(wb);
    float *x = malloc(sizeof(float) * (size_t)(c->cols * c->n_tok));
    uint8_t *act = malloc(ab * (size_t)c->n_tok);
    float *y = malloc(sizeof(float) * (size_t)(ldy * c->n_tok));
    float *yref = malloc(sizeof(float) * (size_t)(ldy * c->n_tok));
    make_weights(s, c->type, c->rows, c->cols, w);
    fill_random(s, x, c->cols * c->n_tok, 2.0f);

    int prev = cpu_features_limit(level);
    for (int t = 0; t < c->n_tok; t++) quant_act_prepare(c->type, x + c->cols * t, act + ab * t, c->cols);
    for (int64_t i = 0; i < ldy * c->n_tok; i++) y[i] = yref[i] = -12345.0f;
    quant_matmul(c->type, w, c->cols, act, c->n_tok, y, ldy, c->r0, c->r1);
    cpu_features_limit(prev);
    quant_matmul_ref(c->type, w, c->cols, act, c->n_tok, yref, ldy, c->r0, c->r1);
    if (level != CPU_LEVEL_SCALAR) check_act_bit_identical(c, x, act, level);

    check_mm_results(c, level, "", w, x, y, yref, ldy);
    if (packable(c->type)) check_packed(c, level, w, x, act, yref, ldy);
    free(w), free(x), free(act), free(y), free(yref);
}


static void test_matmul_all_levels(void) {
    const int types[] = {AION_DT_F32,  AION_DT_F16,  AION_DT_BF16, AION_DT_Q8_0,
                         AION_DT_Q4_0, AION_DT_Q4_K, AION_DT_Q5_K, AION_DT_Q6_K};
    const int64_t small_cols[] = {32, 64, 96, 160, 4096 + 32}, k_cols[] = {256, 512, 768, 1280, 4096 + 256};
    const int toks[] = {1, 2, 3, 5, 8, 13, 16, 33};
    uint64_t s = 2024;
    for (int level = CPU_LEVEL_SCALAR; level <= CPU_LEVEL_AVX512; level++) {
        if (!level_available(level)) {
            printf("level %s not available on this CPU: skipped\n", LEVEL_NAMES[level]);
            continue;
        }
        for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
            const int64_t *cols_list = is_k(types[ti]) ? k_cols : small_cols;
            for (size_t ci = 0; ci < 5; ci++) {
                for (size_t ki = 0; ki < sizeof toks / sizeof toks[0]; ki++) {
                    /* rows: a full tile, an odd start, and leftovers after the last tile */
                    int64_t rows = cols_list[ci] > 1024 ? 11 : 13;
                    mm_case c = {types[ti], cols_list[ci], toks[ki], rows, 1, rows - (int64_t)(ki % 3)};
                    run_mm_case(&c, level, &s);
                }
            }
            /* several row groups of the packed layout, ranges starting and ending inside a group */
            if (packable(types[ti])) {
                int64_t unit = is_k(types[ti]) ? 256 : 32;
                const mm_case groups[] = {{types[ti], 3 * unit, 9, 37, 5, 37}, {types[ti], 5 * unit, 1, 48, 16, 32},
                                          {types[ti], 2 * unit, 17, 33, 0, 33}};
                for (size_t k = 0; k < 3; k++) run_mm_case(&groups[k], level, &s);
            }
            /* float weights take any column count: ragged tails of the vector loop */
            if (types[ti] == AION_DT_F32 || types[ti] == AION_DT_F16 || types[ti] == AION_DT_BF16) {
                const int64_t ragged[] = {1, 7, 37, 100};
                for (size_t k = 0; k < 4; k++) {
                    mm_case c = {types[ti], ragged[k], 3, 6, 0, 5};
                    run_mm_case(&c, level, &s);
                    /* one or two tokens take eight-row tiles on AVX-512: a tile, then leftovers */
                    mm_case wide = {types[ti], ragged[k], 1 + (int)(k % 2), 11, 0, 11};
                    run_mm_case(&wide, level, &s);
                }
            }
        }
    }
}

enum { INV_ROWS = 40, INV_TOK = 7 }; /* 40 rows: a pair of packed groups and a part group */
typedef void (*matmul_fn)(int wtype, const void *w, int64_t n_cols, const void *act, int n_tok, float *y,
                          int64_t ldy, int64_t r0, int64_t r1);

/* One matmul of INV_TOK tokens over all rows gives the bits of one-token, one-row calls. */
static void check_batch_is_single(matmul_fn mm, int type, const void *w, int64_t cols, const uint8_t *act,
                                  const char *layout, int level) {
    size_t ab = quant_act_row_bytes(type, cols);
    float batch[INV_TOK * INV_ROWS], single[INV_TOK * INV_ROWS];
    mm(type, w, cols, act, INV_TOK, batch, INV_ROWS, 0, INV_ROWS);
    for (int t = 0; t < INV_TOK; t++)
        for (int64_t r = 0; r < INV_ROWS; r++) mm(type, w, cols, act + ab * t, 1, single + t * INV_ROWS, INV_ROWS, r, r + 1);
    CHECK(memcmp(batch, single, sizeof batch) == 0, "%s %s%s cols %lld: batch differs from single", LEVEL_NAMES[level],
          layout, quant_type_name(type), (long long)cols);
}

/* A result depends only on its row and token, not on the batch or row range it was computed
 * in: speculative verification (n tokens at once) must reproduce single-token decoding bit
 * for bit, and a thread's share of rows must not change its numbers. */
static void test_batch_invariance(void) {
    const int types[] = {AION_DT_F32,  AION_DT_F16,  AION_DT_BF16, AION_DT_Q8_0,
                         AION_DT_Q4_0, AION_DT_Q4_K, AION_DT_Q5_K, AION_DT_Q6_K};
    enum { ROWS = INV_ROWS, TOK = INV_TOK };
    uint64_t s = 31337;
    for (int level = CPU_LEVEL_SCALAR; level <= CPU_LEVEL_AVX512; level++) {
        if (!level_available(level)) continue;
        int prev = cpu_features_limit(level);
        for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
            for (size_t ci = 0; ci < 2; ci++) {
                int type = types[ti];
                int64_t cols = is_k(type) ? (ci ? 4096 + 256 : 256) : (ci ? 4096 + 32 : 160);
                size_t ab = quant_act_row_bytes(type, cols);
                uint8_t *w = malloc(quant_row_bytes(type, cols) * ROWS);
                float *x = malloc(sizeof(float) * (size_t)(cols * TOK));
                uint8_t *act = malloc(ab * TOK);
                make_weights(&s, type, ROWS, cols, w);
                fill_random(&s, x, cols * TOK, 1.0f);
                for (int t = 0; t < TOK; t++) quant_act_prepare(type, x + cols * t, act + ab * t, cols);
                check_batch_is_single(quant_matmul, type, w, cols, act, "", level);
                if (packable(type)) {
                    uint8_t *packed = malloc(quant_packed_bytes(type, ROWS, cols));
                    quant_pack(type, w, ROWS, cols, packed);
                    check_batch_is_single(quant_matmul_packed, type, packed, cols, act, "packed ", level);
                    free(packed);
                }
                free(w), free(x), free(act);
            }
        }
        cpu_features_limit(prev);
    }
}

/* Rounding edge cases of the activation quantizer are bit-identical at every level. */
static void test_act_prepare_edges(void) {
    enum { COLS = 96 };
    float x[COLS] = {127, 0.5f, -0.5f, 1.5f, -2.5f, 0.49999997f, -0.49999997f, 126.5f, -126.5f};
    uint64_t s = 5;
    for (int j = 32; j < 64; j++) x[j] = rng_uniform(&s) * 1e-3f;
    x[64] = INFINITY, x[65] = NAN, x[66] = 1.0f; /* degenerate block: must not crash or differ */
    for (int level = CPU_LEVEL_AVX2; level <= CPU_LEVEL_AVX512; level++) {
        if (!level_available(level)) continue;
        const int types[] = {AION_DT_Q8_0, AION_DT_Q4_0};
        for (int k = 0; k < 2; k++) {
            mm_case c = {types[k], COLS, 1, 0, 0, 0};
            size_t ab = quant_act_row_bytes(types[k], COLS);
            uint8_t *act = malloc(ab);
            int prev = cpu_features_limit(level);
            quant_act_prepare(types[k], x, act, COLS);
            cpu_features_limit(prev);
            check_act_bit_identical(&c, x, act, level);
            free(act);
        }
    }
}

/* ---- vector helpers ---- */

static void test_dot_axpy(void) {
    const int64_t sizes[] = {0, 1, 7, 8, 15, 16, 17, 63, 64, 65, 100, 1000};
    uint64_t s = 99;
    float a[1000], b[1000], y[1000], y0[1000];
    fill_random(&s, a, 1000, 1.0f);
    fill_random(&s, b, 1000, 1.0f);
    fill_random(&s, y0, 1000, 1.0f);
    for (int level = CPU_LEVEL_SCALAR; level <= CPU_LEVEL_AVX512; level++) {
        if (!level_available(level)) continue;
        int prev = cpu_features_limit(level);
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            int64_t n = sizes[k];
            double want = 0, mag = 1e-30;
            for (int64_t i = 0; i < n; i++) want += (double)a[i] * b[i], mag += fabs((double)a[i] * b[i]);
            float got = quant_dot_f32(a, b, n);
            CHECK(fabs(got - want) <= 1e-6 * mag, "%s dot n=%lld: %g vs %g", LEVEL_NAMES[level], (long long)n,
                  got, want);
            memcpy(y, y0, sizeof y);
            quant_axpy_f32(y, 0.75f, a, n);
            int bad = 0;
            for (int64_t i = 0; i < 1000; i++) {
                double expect = i < n ? (double)y0[i] + 0.75 * a[i] : y0[i];
                bad += fabs(y[i] - expect) > 2e-7 * (fabs(y0[i]) + fabs(a[i]));
            }
            CHECK(bad == 0, "%s axpy n=%lld: %d elements wrong", LEVEL_NAMES[level], (long long)n, bad);
        }
        cpu_features_limit(prev);
    }
}

/* The attention helpers over runs of rows against a double reference, at every level and for
 * head sizes past the register-resident limit (256); the run axpy leaves y past n alone and
 * gives the same bits every time. */
static void test_attention_rows(void) {
    const int64_t sizes[] = {1, 7, 16, 64, 100, 128, 256, 300};
    enum { ROWS = 37, MAXN = 300, STRIDE = MAXN + 3 }; /* two blocks of 16 rows and a ragged 5 */
    static float q[MAXN], rows[ROWS * STRIDE], w[ROWS], y[MAXN], y_ref[MAXN], scores[ROWS];
    uint64_t s = 2025;
    fill_random(&s, q, MAXN, 1.0f);
    fill_random(&s, rows, ROWS * STRIDE, 1.0f);
    fill_random(&s, w, ROWS, 1.0f);
    for (int level = CPU_LEVEL_SCALAR; level <= CPU_LEVEL_AVX512; level++) {
        if (!level_available(level)) continue;
        int prev = cpu_features_limit(level);
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            int64_t n = sizes[k];
            quant_dot_rows(q, rows, false, STRIDE, ROWS, n, scores);
            int bad = 0;
            for (int j = 0; j < ROWS; j++) {
                double want = 0, mag = 1e-30;
                for (int64_t i = 0; i < n; i++)
                    want += (double)q[i] * rows[j * STRIDE + i], mag += fabs((double)q[i] * rows[j * STRIDE + i]);
                bad += !(fabs(scores[j] - want) <= 1e-6 * mag);
            }
            CHECK(bad == 0, "%s dot_rows n=%lld: %d rows off", LEVEL_NAMES[level], (long long)n, bad);
            fill_random(&s, y, MAXN, 1.0f);
            memcpy(y_ref, y, sizeof y);
            quant_axpy_rows(y, w, rows, false, STRIDE, ROWS, n);
            bad = 0;
            for (int64_t i = 0; i < MAXN; i++) {
                double want = y_ref[i], mag = fabs(y_ref[i]) + 1e-30;
                for (int j = 0; j < ROWS && i < n; j++)
                    want += (double)w[j] * rows[j * STRIDE + i], mag += fabs((double)w[j] * rows[j * STRIDE + i]);
                bad += i < n ? !(fabs(y[i] - want) <= 1e-6 * mag) : y[i] != y_ref[i];
            }
            CHECK(bad == 0, "%s axpy_rows n=%lld: %d elements off (or written past n)", LEVEL_NAMES[level], (long long)n, bad);
            float again[MAXN];
            memcpy(again, y, sizeof again);
            quant_axpy_rows(again, w, rows, false, STRIDE, ROWS, n);
            quant_axpy_rows(y, w, rows, false, STRIDE, ROWS, n);
            CHECK(memcmp(again, y, sizeof y) == 0, "%s axpy_rows n=%lld is not deterministic", LEVEL_NAMES[level], (long long)n);
            /* two queries at once (q and q reversed) against the single-query calls */
            static float qb[MAXN], s1[ROWS], s2[ROWS], sb[ROWS], ya[MAXN], yb[MAXN], ya1[MAXN], yb1[MAXN];
            for (int64_t i = 0; i < MAXN; i++) qb[i] = q[MAXN - 1 - i];
            quant_dot_rows(q, rows, false, STRIDE, ROWS, n, s1);
            quant_dot_rows(qb, rows, false, STRIDE, ROWS, n, sb);
            quant_dot_rows2(q, qb, rows, false, STRIDE, ROWS, n, scores, s2);
            bad = 0;
            for (int j = 0; j < ROWS; j++) {
                double mag = 1e-30, magb = 1e-30;
                for (int64_t i = 0; i < n; i++)
                    mag += fabs((double)q[i] * rows[j * STRIDE + i]), magb += fabs((double)qb[i] * rows[j * STRIDE + i]);
                bad += !(fabs(scores[j] - s1[j]) <= 2e-6 * mag) + !(fabs(s2[j] - sb[j]) <= 2e-6 * magb);
            }
            CHECK(bad == 0, "%s dot_rows2 n=%lld: %d scores off the single-query ones", LEVEL_NAMES[level], (long long)n, bad);
            fill_random(&s, ya, MAXN, 1.0f);
            fill_random(&s, yb, MAXN, 1.0f);
            memcpy(ya1, ya, sizeof ya);
            memcpy(yb1, yb, sizeof yb);
            quant_axpy_rows2(ya, yb, w, s1, rows, false, STRIDE, ROWS, n);
            quant_axpy_rows(ya1, w, rows, false, STRIDE, ROWS, n);
            quant_axpy_rows(yb1, s1, rows, false, STRIDE, ROWS, n);
            bad = 0;
            for (int64_t i = 0; i < MAXN; i++) {
                double mag = fabs(ya1[i]) + 1e-30, magb = fabs(yb1[i]) + 1e-30;
                for (int j = 0; j < ROWS && i < n; j++)
                    mag += fabs((double)w[j] * rows[j * STRIDE + i]), magb += fabs((double)s1[j] * rows[j * STRIDE + i]);
                bad += !(fabs(ya[i] - ya1[i]) <= 2e-6 * mag) + !(fabs(yb[i] - yb1[i]) <= 2e-6 * magb);
            }
            CHECK(bad == 0, "%s axpy_rows2 n=%lld: %d elements off the single-query ones", LEVEL_NAMES[level], (long long)n, bad);
        }
        cpu_features_limit(prev);
    }
}

/* Rows of halves widen to the floats of the scalar conversion, bit for bit, at every level:
 * all 65536 halves (NaNs keep being NaNs), then ragged row lengths for the vector tails. */
static void test_f16_rows(void) {
    enum { ALL = 0x10000, PAD = 8 };
    static uint16_t h[ALL];
    static float got[ALL + PAD];
    for (uint32_t i = 0; i < ALL; i++) h[i] = (uint16_t)(i * 40503u); /* odd multiplier: every value once */
    for (int level = CPU_LEVEL_SCALAR; level <= CPU_LEVEL_AVX512; level++) {
        if (!level_available(level)) continue;
        int prev = cpu_features_limit(level);
        const int64_t lens[] = {ALL, 0, 1, 15, 16, 17, 31, 33};
        int bad = 0;
        for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
            for (int i = 0; i < ALL + PAD; i++) got[i] = -7.0f;
            quant_f16_to_f32_row(h + 5, got, lens[k] > ALL - 5 ? ALL - 5 : lens[k]);
            int64_t n = lens[k] > ALL - 5 ? ALL - 5 : lens[k];
            for (int64_t i = 0; i < n; i++) {
                float want = quant_f16_to_f32(h[5 + i]);
                bad += isnan(want) ? !isnan(got[i]) : bits_of(got[i]) != bits_of(want);
            }
            for (int64_t i = n; i < n + PAD; i++) bad += got[i] != -7.0f; /* nothing written past n */
        }
        CHECK(bad == 0, "%s f16 rows: %d values differ from the scalar conversion", LEVEL_NAMES[level], bad);
        cpu_features_limit(prev);
    }
}

/* The f16-row kernels (an f16 KV cache) give, bit for bit, what the f32 ones give on the widened
 * rows, at every level, for the head sizes with kernels and the others up to 256; past 256 the
 * fallback sums in pieces, so there within float rounding. */
static void test_attention_rows_f16(void) {
    const int64_t sizes[] = {1, 7, 16, 64, 100, 128, 256, 300};
    enum { ROWS = 37, MAXN = 300, STRIDE = MAXN + 3 };
    static float q[MAXN], qb[MAXN], wide[ROWS * STRIDE], w[ROWS], w2[ROWS];
    static uint16_t half[ROWS * STRIDE];
    static float got[2][MAXN], want[2][MAXN], sg[2][ROWS], sw[2][ROWS];
    uint64_t s = 1616;
    fill_random(&s, q, MAXN, 1.0f);
    fill_random(&s, qb, MAXN, 1.0f);
    fill_random(&s, wide, ROWS * STRIDE, 2.0f);
    fill_random(&s, w, ROWS, 1.0f);
    fill_random(&s, w2, ROWS, 1.0f);
    for (int i = 0; i < ROWS * STRIDE; i++) half[i] = quant_f32_to_f16(wide[i]), wide[i] = quant_f16_to_f32(half[i]);
    for (int level = CPU_LEVEL_SCALAR; level <= CPU_LEVEL_AVX512; level++) {
        if (!level_available(level)) continue;
        int prev = cpu_features_limit(level);
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            int64_t n = sizes[k];
            double tol = n > 256 ? 1e-5 : 0; /* relative; 0: the same bits */
            int bad = 0;
            quant_dot_rows(q, half, true, STRIDE, ROWS, n, sg[0]);
            quant_dot_rows(q, wide, false, STRIDE, ROWS, n, sw[0]);
            quant_dot_rows2(q, qb, half, true, STRIDE, ROWS, n, sg[1], got[0]);
            quant_dot_rows2(q, qb, wide, false, STRIDE, ROWS, n, sw[1], want[0]);
            for (int j = 0; j < ROWS; j++)
                bad += !(fabs(sg[0][j] - sw[0][j]) <= tol * fabs(sw[0][j])) + !(fabs(sg[1][j] - sw[1][j]) <= tol * fabs(sw[1][j])) +
                       !(fabs(got[0][j] - want[0][j]) <= tol * fabs(want[0][j]));
            CHECK(bad == 0, "%s dot_rows(2) f16 n=%lld: %d scores differ from f32 on the widened rows", LEVEL_NAMES[level],
                  (long long)n, bad);
            for (int v = 0; v < 2; v++) fill_random(&s, got[v], MAXN, 1.0f), memcpy(want[v], got[v], sizeof want[v]);
            quant_axpy_rows(got[0], w, half, true, STRIDE, ROWS, n);
            quant_axpy_rows(want[0], w, wide, false, STRIDE, ROWS, n);
            quant_axpy_rows2(got[0], got[1], w2, w, half, true, STRIDE, ROWS, n);
            quant_axpy_rows2(want[0], want[1], w2, w, wide, false, STRIDE, ROWS, n);
            bad = 0;
            for (int v = 0; v < 2; v++)
                for (int64_t i = 0; i < MAXN; i++)
                    bad += i < n ? !(fabs(got[v][i] - want[v][i]) <= tol * fabs(want[v][i]) + (tol ? 1e-6 : 0))
                                 : got[v][i] != want[v][i];
            CHECK(bad == 0, "%s axpy_rows(2) f16 n=%lld: %d elements differ from f32 on the widened rows",
                  LEVEL_NAMES[level], (long long)n, bad);
        }
        cpu_features_limit(prev);
    }
}

/* The vector max, exp and SwiGLU against libm in double, at every level, over lengths with
 * ragged tails and arguments from the float range's ends (underflow to 0, overflow of e^-x). */
static void test_vector_math(void) {
    enum { MAXN = 70 };
    const int64_t sizes[] = {0, 1, 15, 16, 17, 33, 70};
    static float x[MAXN], e[MAXN], g[MAXN], u[MAXN];
    uint64_t s = 77;
    for (int level = CPU_LEVEL_SCALAR; level <= CPU_LEVEL_AVX512; level++) {
        if (!level_available(level)) continue;
        int prev = cpu_features_limit(level);
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            int64_t n = sizes[k];
            fill_random(&s, x, MAXN, 60.0f);
            if (n > 3) x[0] = -150.0f, x[1] = 0.0f, x[2] = 95.0f, x[3] = -87.5f;
            float want_max = -INFINITY;
            for (int64_t i = 0; i < n; i++) want_max = x[i] > want_max ? x[i] : want_max;
            CHECK(quant_max_f32(x, n) == want_max, "%s max n=%lld", LEVEL_NAMES[level], (long long)n);
            /* e^(x*0.5 - shift) with shift the scaled max: every argument <= 0, as attention uses it */
            memcpy(e, x, sizeof e);
            float shift = n ? want_max * 0.5f : 0.0f;
            float sum = quant_exp_f32(e, n, 0.5f, shift);
            double want_sum = 0;
            int bad = 0;
            for (int64_t i = 0; i < MAXN; i++) {
                if (i >= n) {
                    bad += e[i] != x[i]; /* untouched past n */
                    continue;
                }
                double want = exp((double)(x[i] * 0.5f - shift));
                want_sum += want;
                bad += !(fabs(e[i] - want) <= 3e-7 * want + 1e-38);
            }
            CHECK(bad == 0, "%s exp n=%lld: %d values off", LEVEL_NAMES[level], (long long)n, bad);
            CHECK(fabs(sum - want_sum) <= 1e-6 * want_sum + 1e-30, "%s exp sum n=%lld: %g vs %g", LEVEL_NAMES[level],
                  (long long)n, sum, want_sum);
            fill_random(&s, g, MAXN, 30.0f);
            fill_random(&s, u, MAXN, 2.0f);
            if (n > 2) g[0] = -95.0f, g[1] = 95.0f, g[2] = 0.0f;
            memcpy(e, g, sizeof e);
            quant_swiglu_f32(e, u, n);
            bad = 0;
            for (int64_t i = 0; i < MAXN; i++) {
                double want = i < n ? g[i] / (1.0 + exp(-(double)g[i])) * u[i] : g[i];
                bad += !(fabs(e[i] - want) <= 1e-6 * fabs(want) + 1e-30);
            }
            CHECK(bad == 0, "%s swiglu n=%lld: %d values off", LEVEL_NAMES[level], (long long)n, bad);
        }
        cpu_features_limit(prev);
    }
}

/* The RMS norm gives the scalar level's bits at every level (the batch-invariance and reference
 * tests rest on one arithmetic), and matches a float64 norm closely. */
static void test_rmsnorm(void) {
    enum { MAXN = 5632 + 7 };
    const int64_t sizes[] = {1, 7, 8, 9, 15, 16, 17, 64, 100, 2048, 5632 + 7};
    static float x[MAXN], w[MAXN], want[MAXN], got[MAXN];
    uint64_t s = 4242;
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        const int64_t n = sizes[k];
        fill_random(&s, x, n, 3.0f);
        fill_random(&s, w, n, 1.0f);
        if (n > 2) x[0] = 250.0f, x[1] = -1e-3f; /* an outlier channel, as real activations have */
        int prev = cpu_features_limit(CPU_LEVEL_SCALAR);
        quant_rmsnorm_f32(want, x, w, n, 1e-5f);
        double ss = 0;
        for (int64_t i = 0; i < n; i++) ss += (double)x[i] * x[i];
        const double scale = 1.0 / sqrt(ss / (double)n + 1e-5);
        int far = 0;
        for (int64_t i = 0; i < n; i++) far += !(fabs(want[i] - x[i] * scale * w[i]) <= 1e-6 * fabs(x[i] * scale * w[i]) + 1e-30);
        CHECK(far == 0, "rmsnorm n=%lld: %d values off the float64 norm", (long long)n, far);
        for (int level = CPU_LEVEL_AVX2; level <= CPU_LEVEL_AVX512; level++) {
            if (!level_available(level)) continue;
            cpu_features_limit(level);
            for (int64_t i = 0; i < MAXN; i++) got[i] = -7.0f;
            quant_rmsnorm_f32(got, x, w, n, 1e-5f);
            CHECK(memcmp(got, want, (size_t)n * sizeof *got) == 0, "%s rmsnorm n=%lld: not the scalar bits",
                  LEVEL_NAMES[level], (long long)n);
            CHECK(n == MAXN || got[n] == -7.0f, "%s rmsnorm n=%lld wrote past n", LEVEL_NAMES[level], (long long)n);
        }
        cpu_features_limit(prev);
    }
}

static void test_cpu_levels(void) {
    printf("cpu: %s\n", cpu_describe());
    int prev = cpu_features_limit(CPU_LEVEL_SCALAR);
    const cpu_features *f = cpu_get();
    CHECK(!f->avx2 && !f->avx512f && !f->fma, "scalar level masks every feature");
    CHECK(strcmp(cpu_describe(), "scalar") == 0, "scalar describe: %s", cpu_describe());
    cpu_features_limit(CPU_LEVEL_AVX2);
    CHECK(!cpu_get()->avx512f && !cpu_get()->avx512vnni, "avx2 level masks avx-512");
    CHECK(cpu_features_limit(prev) == CPU_LEVEL_AVX2, "limit returns the previous level");
}

int main(void) {
    test_cpu_levels();
    test_f16_edges();
    test_f16_round_trip();
    test_f16_nearest();
    test_f16_rows();
    test_bf16();
    test_q8_0_known_block();
    test_q4_0_known_block();
    test_quantize_error_bounds();
    test_k_outside_reference();
    test_k_round_trip();
    test_int_dot_vs_dequantized();
    test_act_prepare_edges();
    test_matmul_all_levels();
    test_batch_invariance();
    test_dot_axpy();
    test_attention_rows();
    test_attention_rows_f16();
    test_vector_math();
    test_rmsnorm();
    return check_done();
}
