/*
 * peak.c - the arithmetic peak probe (see peak.h).
 *
 * Owns its kernels: twelve independent accumulator chains, enough to cover the
 * instruction's latency with its throughput, and an empty asm barrier per step
 * that keeps the compiler from merging the chains (they start from different
 * values) or hoisting the loop. Each thread returns its lanes' sum so nothing is
 * dead code. The step count is fixed, the clock is read around the whole pool.
 */
#include <stdint.h>
#include <string.h>

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
#define MAX_THREADS 256

typedef double (*peak_kernel)(int64_t steps); /* returns a value that depends on every step */

static double chains_scalar(int64_t steps) {
    float a[CHAINS];
    for (int i = 0; i < CHAINS; i++) a[i] = (float)i;
    for (int64_t s = 0; s < steps; s++)
        for (int i = 0; i < CHAINS; i++) a[i] = a[i] * 0.999f + 1.0f;
    double sum = 0;
    for (int i = 0; i < CHAINS; i++) sum += a[i];
    return sum;
}

#if PEAK_X86
#define STEP12(OP) OP(a0) OP(a1) OP(a2) OP(a3) OP(a4) OP(a5) OP(a6) OP(a7) OP(a8) OP(a9) OP(a10) OP(a11)
#define BARRIER12(c)                                                                                             \
    __asm__ volatile("" : "+" c(a0), "+" c(a1), "+" c(a2), "+" c(a3), "+" c(a4), "+" c(a5), "+" c(a6), "+" c(a7), \
                     "+" c(a8), "+" c(a9), "+" c(a10), "+" c(a11))

__attribute__((target("avx512f,avx512vnni"))) static double chains_vnni(int64_t steps) {
    __m512i a0 = _mm512_set1_epi32(0), a1 = _mm512_set1_epi32(1), a2 = _mm512_set1_epi32(2),
            a3 = _mm512_set1_epi32(3), a4 = _mm512_set1_epi32(4), a5 = _mm512_set1_epi32(5),
            a6 = _mm512_set1_epi32(6), a7 = _mm512_set1_epi32(7), a8 = _mm512_set1_epi32(8),
            a9 = _mm512_set1_epi32(9), a10 = _mm512_set1_epi32(10), a11 = _mm512_set1_epi32(11);
    const __m512i w = _mm512_set1_epi8(3), x = _mm512_set1_epi8(1);
    for (int64_t s = 0; s < steps; s++) {
#define DPBUSD(a) a = _mm512_dpbusd_epi32(a, w, x);
        STEP12(DPBUSD)
        BARRIER12("v");
    }
    __m512i sum = _mm512_add_epi32(_mm512_add_epi32(_mm512_add_epi32(a0, a1), _mm512_add_epi32(a2, a3)),
                                   _mm512_add_epi32(_mm512_add_epi32(a4, a5), _mm512_add_epi32(a6, a7)));
    sum = _mm512_add_epi32(sum, _mm512_add_epi32(_mm512_add_epi32(a8, a9), _mm512_add_epi32(a10, a11)));
    int32_t lanes[16];
    _mm512_storeu_si512((void *)lanes, sum);
    return (double)lanes[0];
}

__attribute__((target("avx512f"))) static double chains_fma512(int64_t steps) {
    __m512 a0 = _mm512_set1_ps(0), a1 = _mm512_set1_ps(1), a2 = _mm512_set1_ps(2), a3 = _mm512_set1_ps(3),
           a4 = _mm512_set1_ps(4), a5 = _mm512_set1_ps(5), a6 = _mm512_set1_ps(6), a7 = _mm512_set1_ps(7),
           a8 = _mm512_set1_ps(8), a9 = _mm512_set1_ps(9), a10 = _mm512_set1_ps(10), a11 = _mm512_set1_ps(11);
    const __m512 m = _mm512_set1_ps(0.999f), c = _mm512_set1_ps(1.0f);
    for (int64_t s = 0; s < steps; s++) {
#define FMA512(a) a = _mm512_fmadd_ps(a, m, c);
        STEP12(FMA512)
        BARRIER12("v");
    }
    __m512 sum = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                               _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
    sum = _mm512_add_ps(sum, _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)));
    float lanes[16];
    _mm512_storeu_ps(lanes, sum);
    return lanes[0];
}

__attribute__((target("avx2,fma"))) static double chains_fma256(int64_t steps) {
    __m256 a0 = _mm256_set1_ps(0), a1 = _mm256_set1_ps(1), a2 = _mm256_set1_ps(2), a3 = _mm256_set1_ps(3),
           a4 = _mm256_set1_ps(4), a5 = _mm256_set1_ps(5), a6 = _mm256_set1_ps(6), a7 = _mm256_set1_ps(7),
           a8 = _mm256_set1_ps(8), a9 = _mm256_set1_ps(9), a10 = _mm256_set1_ps(10), a11 = _mm256_set1_ps(11);
    const __m256 m = _mm256_set1_ps(0.999f), c = _mm256_set1_ps(1.0f);
    for (int64_t s = 0; s < steps; s++) {
#define FMA256(a) a = _mm256_fmadd_ps(a, m, c);
        STEP12(FMA256)
        BARRIER12("x");
    }
    __m256 sum = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                               _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
    sum = _mm256_add_ps(sum, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
    float lanes[8];
    _mm256_storeu_ps(lanes, sum);
    return lanes[0];
}
#endif

typedef struct peak_task {
    peak_kernel kernel;
    double sink[MAX_THREADS];
} peak_task;

static void peak_worker(void *arg, int ith, int nth) {
    (void)nth;
    peak_task *pt = arg;
    pt->sink[ith] = pt->kernel(STEPS);
}

/* Multiply-adds per second of `kernel` on all threads, best of n_runs (after one untimed run). */
static double best_rate(aion_threads *t, peak_kernel kernel, double macs_per_instr, int n_runs) {
    peak_task task = {.kernel = kernel}, *pt = &task;
    double best = 0;
    for (int r = -1; r < n_runs; r++) {
        double t0 = now_seconds();
        tp_run(t, peak_worker, pt);
        double rate = (double)STEPS * CHAINS * macs_per_instr * aion_threads_count(t) / (now_seconds() - t0);
        if (r >= 0 && rate > best) best = rate;
    }
    return best;
}

void peak_measure(aion_threads *t, int n_runs, peak_result *out) {
    *out = (peak_result){.n_threads = aion_threads_count(t), .isa = "scalar"};
    if (out->n_threads > MAX_THREADS) return;
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
