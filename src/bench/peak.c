/*
 * peak.c - the arithmetic peak probe (see peak.h).
 *
 * Owns its kernels: twelve independent accumulator chains, enough to cover the
 * instruction's latency with its throughput, and an empty asm barrier per step
 * that keeps the compiler from merging the chains (they start from different
 * values), hoisting the loop or dropping it as dead code. The step count is
 * fixed, the clock is read around the whole pool. The kernel probe runs the
 * real matmul (quant.h) instead, on matrices small enough to stay in cache.
 */
#include <stdint.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define PEAK_X86 1
#else
#define PEAK_X86 0
#endif

#include "bench/peak.h"
#include "cpu.h"
#include "quant.h"
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

/* ---- the matmul kernel in cache ---- */

enum { KERNEL_COLS = 2048, KERNEL_L2_BYTES = 256 << 10, KERNEL_MAX_THREADS = 64 };

/* One thread's matrix (packed when the loader would pack it), prepared activations and output. */
typedef struct kernel_job {
    int wtype, n_tok, reps;
    bool packed, ready;
    int64_t n_rows;
    void *w;
    uint8_t *act;
    float *y;
} kernel_job;

typedef struct kernel_probe {
    int wtype, n_tok;
    kernel_job jobs[KERNEL_MAX_THREADS];
} kernel_probe;

static bool kernel_job_init(kernel_job *j, int wtype, int n_tok, int ith) {
    const size_t row_bytes = quant_row_bytes(wtype, KERNEL_COLS), act_bytes = quant_act_row_bytes(wtype, KERNEL_COLS);
    j->wtype = wtype, j->n_tok = n_tok, j->packed = quant_pack_wanted(wtype);
    j->n_rows = (int64_t)(KERNEL_L2_BYTES / row_bytes) / 16 * 16;
    if (j->n_rows < 16) j->n_rows = 16;
    /* about 2e8 multiply-adds a run: a few ms, long against the pool's dispatch */
    j->reps = (int)(2e8 / ((double)j->n_rows * KERNEL_COLS * n_tok)) + 1;
    uint8_t *w = malloc(row_bytes * (size_t)j->n_rows);
    float *x = malloc(sizeof(float) * KERNEL_COLS);
    j->w = j->packed ? malloc(quant_packed_bytes(wtype, j->n_rows, KERNEL_COLS)) : w;
    j->act = malloc(act_bytes * (size_t)n_tok);
    j->y = malloc(sizeof(float) * (size_t)(j->n_rows * n_tok));
    bool ok = w && x && j->w && j->act && j->y;
    uint64_t seed = 0x9E3779B97F4A7C15ull * (uint64_t)(ith + 1);
    for (int64_t r = 0; ok && r < j->n_rows; r++) {
        for (int c = 0; c < KERNEL_COLS; c++) x[c] = (float)lcg_uniform(&seed) - 0.5f;
        ok = quant_quantize_row(wtype, x, w + row_bytes * (size_t)r, KERNEL_COLS);
    }
    for (int t = 0; ok && t < n_tok; t++) {
        for (int c = 0; c < KERNEL_COLS; c++) x[c] = (float)lcg_uniform(&seed) - 0.5f;
        quant_act_prepare(wtype, x, j->act + act_bytes * (size_t)t, KERNEL_COLS);
    }
    if (ok && j->packed) quant_pack(wtype, w, j->n_rows, KERNEL_COLS, j->w);
    if (j->packed) free(w);
    free(x);
    return ok;
}

static void kernel_job_free(kernel_job *j) {
    free(j->w), free(j->act), free(j->y);
    *j = (kernel_job){0};
}

static void kernel_setup_worker(void *arg, int ith, int nth) {
    (void)nth;
    kernel_probe *p = arg;
    p->jobs[ith].ready = kernel_job_init(&p->jobs[ith], p->wtype, p->n_tok, ith);
}

static void kernel_run_worker(void *arg, int ith, int nth) {
    (void)nth;
    const kernel_job *j = &((kernel_probe *)arg)->jobs[ith];
    for (int r = 0; r < j->reps; r++)
        (j->packed ? quant_matmul_packed : quant_matmul)(j->wtype, j->w, KERNEL_COLS, j->act, j->n_tok, j->y,
                                                           j->n_rows, 0, j->n_rows);
}

static void kernel_free_worker(void *arg, int ith, int nth) {
    (void)nth;
    kernel_job_free(&((kernel_probe *)arg)->jobs[ith]);
}

double peak_kernel_gmacs(aion_threads *t, int wtype, int n_tok, int n_runs) {
    const int n_threads = aion_threads_count(t);
    if (!quant_type_supported(wtype) || n_tok < 1 || n_threads > KERNEL_MAX_THREADS) return 0;
    kernel_probe *p = calloc(1, sizeof *p);
    if (!p) return 0;
    p->wtype = wtype, p->n_tok = n_tok;
    tp_run(t, kernel_setup_worker, p);
    bool ready = true;
    for (int i = 0; i < n_threads; i++) ready = ready && p->jobs[i].ready;
    double best = 0;
    for (int r = -1; r < n_runs && ready; r++) {
        double t0 = now_seconds();
        tp_run(t, kernel_run_worker, p);
        double seconds = now_seconds() - t0, macs = 0;
        for (int i = 0; i < n_threads; i++) macs += (double)p->jobs[i].reps * p->jobs[i].n_rows * KERNEL_COLS * n_tok;
        if (r >= 0 && macs / seconds > best) best = macs / seconds;
    }
    tp_run(t, kernel_free_worker, p);
    free(p);
    return best / 1e9;
}
