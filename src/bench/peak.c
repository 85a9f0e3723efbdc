/*
 * peak.c - the arithmetic peak probe (see peak.h).
 *
 * Owns its kernels: twelve independent accumulator chains, enough to cover the
 * instruction's latency with its throughput, and an empty asm barrier per step
 * that keeps the compiler from merging the chains (they start from different
 * values), hoisting the loop or dropping it as dead code. The step count is
 * fixed, the clock is read around the whole pool.
 */
#include <stdint.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define PEAK_X86 1
#else
#define PEAK_X86 0
#endif

#include "bench/peak.h"
#include "cpu.h"
#include "threadpool.h"
#include "util.h"

#define STEPS 2000000 /* x 12 instructions per thread: ~10 ms at a few G per second */
#define CHAINS 12

typedef void (*peak_kernel)(int64_t steps);

static void chains_scalar(int64_t steps) {
    volatile float sink;
    float a[CHAINS];
    for (int i = 0; i < CHAINS; i++) a[i] = (float)i;
    for (int64_t s = 0; s < steps; s++)
        for (int i = 0; i < CHAINS; i++) a[i] = a[i] * 0.999f + 1.0f;
    for (int i = 0; i < CHAINS; i++) sink = a[i];
    (void)sink;
}

#if PEAK_X86
/* Twelve accumulators from distinct starting values, one instruction on each per step; the asm
 * statement claims to read and rewrite all twelve, so no step can be dropped or merged. */
#define DECLARE12(T, set1)                                                                                   \
    T a0 = set1(0), a1 = set1(1), a2 = set1(2), a3 = set1(3), a4 = set1(4), a5 = set1(5), a6 = set1(6), \
      a7 = set1(7), a8 = set1(8), a9 = set1(9), a10 = set1(10), a11 = set1(11)
#define STEP12(OP) OP(a0) OP(a1) OP(a2) OP(a3) OP(a4) OP(a5) OP(a6) OP(a7) OP(a8) OP(a9) OP(a10) OP(a11)
#define BARRIER12(c)                                                                                             \
    __asm__ volatile("" : "+" c(a0), "+" c(a1), "+" c(a2), "+" c(a3), "+" c(a4), "+" c(a5), "+" c(a6), "+" c(a7), \
                     "+" c(a8), "+" c(a9), "+" c(a10), "+" c(a11))

__attribute__((target("avx512f,avx512vnni"))) static void chains_vnni(int64_t steps) {
    DECLARE12(__m512i, _mm512_set1_epi32);
    const __m512i w = _mm512_set1_epi8(3), x = _mm512_set1_epi8(1);
#define DPBUSD(a) a = _mm512_dpbusd_epi32(a, w, x);
    for (int64_t s = 0; s < steps; s++) {
        STEP12(DPBUSD)
        BARRIER12("v");
    }
}

__attribute__((target("avx512f"))) static void chains_fma512(int64_t steps) {
    DECLARE12(__m512, _mm512_set1_ps);
    const __m512 m = _mm512_set1_ps(0.999f), c = _mm512_set1_ps(1.0f);
#define FMA512(a) a = _mm512_fmadd_ps(a, m, c);
    for (int64_t s = 0; s < steps; s++) {
        STEP12(FMA512)
        BARRIER12("v");
    }
}

__attribute__((target("avx2,fma"))) static void chains_fma256(int64_t steps) {
    DECLARE12(__m256, _mm256_set1_ps);
    const __m256 m = _mm256_set1_ps(0.999f), c = _mm256_set1_ps(1.0f);
#define FMA256(a) a = _mm256_fmadd_ps(a, m, c);
    for (int64_t s = 0; s < steps; s++) {
        STEP12(FMA256)
        BARRIER12("x");
    }
}
#endif

static void peak_worker(void *arg, int ith, int nth) {
    (void)ith, (void)nth;
    (*(const peak_kernel *)arg)(STEPS);
}

/* Multiply-adds per second of `kernel` on all threads, best of n_runs (after one untimed run). */
static double best_rate(aion_threads *t, peak_kernel kernel, double macs_per_instr, int n_runs) {
    double best = 0;
    for (int r = -1; r < n_runs; r++) {
        double t0 = now_seconds();
        tp_run(t, peak_worker, &kernel);
        double rate = (double)STEPS * CHAINS * macs_per_instr * aion_threads_count(t) / (now_seconds() - t0);
        if (r >= 0 && rate > best) best = rate;
    }
    return best;
}

void peak_measure(aion_threads *t, int n_runs, peak_result *out) {
    *out = (peak_result){.n_threads = aion_threads_count(t), .isa = "scalar"};
#if PEAK_X86
    const cpu_features *f = cpu_get();
    if (f->avx512f && f->avx512vnni) {
        out->isa = "avx512-vnni";
        out->int8_gmacs = best_rate(t, chains_vnni, 64, n_runs) / 1e9;
        out->f32_gmacs = best_rate(t, chains_fma512, 16, n_runs) / 1e9;
        return;
    }
    if (f->avx2 && f->fma) {
        out->isa = "avx2";
        out->f32_gmacs = best_rate(t, chains_fma256, 8, n_runs) / 1e9;
        return;
    }
#endif
    out->f32_gmacs = best_rate(t, chains_scalar, 1, n_runs) / 1e9;
}
