/*
 * membw.c - the memory bandwidth probe (see membw.h).
 *
 * Owns the read kernels and their timing. The kernels add 64-bit lanes into
 * four independent accumulators so the loop is bound by loads, not by an
 * addition chain, and the sums are stored per thread so the compiler cannot
 * drop the reads. The buffer is written before it is timed: untouched
 * anonymous pages all map the one shared zero page, which would be read from
 * cache and report a bandwidth no model could see.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define MEMBW_X86 1
#else
#define MEMBW_X86 0
#endif

#include "bench/membw.h"
#include "cpu.h"
#include "threadpool.h"
#include "util.h"

#define LINE 64
#define PAGE 4096
#define MAX_THREADS 256

typedef uint64_t (*read_kernel)(const uint8_t *p, size_t n_bytes);

#if !MEMBW_X86
static uint64_t read_scalar(const uint8_t *p, size_t n_bytes) {
    const uint64_t *q = (const uint64_t *)p;
    uint64_t a = 0, b = 0, c = 0, d = 0;
    for (size_t i = 0; i < n_bytes / 8; i += 4) a += q[i], b += q[i + 1], c += q[i + 2], d += q[i + 3];
    return a + b + c + d;
}
#else
static uint64_t read_sse2(const uint8_t *p, size_t n_bytes) {
    __m128i a = _mm_setzero_si128(), b = a, c = a, d = a;
    for (size_t i = 0; i < n_bytes; i += LINE) {
        a = _mm_add_epi64(a, _mm_load_si128((const __m128i *)(p + i)));
        b = _mm_add_epi64(b, _mm_load_si128((const __m128i *)(p + i + 16)));
        c = _mm_add_epi64(c, _mm_load_si128((const __m128i *)(p + i + 32)));
        d = _mm_add_epi64(d, _mm_load_si128((const __m128i *)(p + i + 48)));
    }
    uint64_t lanes[2];
    _mm_storeu_si128((__m128i *)lanes, _mm_add_epi64(_mm_add_epi64(a, b), _mm_add_epi64(c, d)));
    return lanes[0] + lanes[1];
}

__attribute__((target("avx2"))) static uint64_t read_avx2(const uint8_t *p, size_t n_bytes) {
    __m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
    for (size_t i = 0; i < n_bytes; i += 2 * LINE) {
        a = _mm256_add_epi64(a, _mm256_load_si256((const __m256i *)(p + i)));
        b = _mm256_add_epi64(b, _mm256_load_si256((const __m256i *)(p + i + 32)));
        c = _mm256_add_epi64(c, _mm256_load_si256((const __m256i *)(p + i + 64)));
        d = _mm256_add_epi64(d, _mm256_load_si256((const __m256i *)(p + i + 96)));
    }
    uint64_t lanes[4];
    _mm256_storeu_si256((__m256i *)lanes, _mm256_add_epi64(_mm256_add_epi64(a, b), _mm256_add_epi64(c, d)));
    return lanes[0] + lanes[1] + lanes[2] + lanes[3];
}

__attribute__((target("avx512f"))) static uint64_t read_avx512(const uint8_t *p, size_t n_bytes) {
    __m512i a = _mm512_setzero_si512(), b = a, c = a, d = a;
    for (size_t i = 0; i < n_bytes; i += 4 * LINE) {
        a = _mm512_add_epi64(a, _mm512_load_si512((const void *)(p + i)));
        b = _mm512_add_epi64(b, _mm512_load_si512((const void *)(p + i + 64)));
        c = _mm512_add_epi64(c, _mm512_load_si512((const void *)(p + i + 128)));
        d = _mm512_add_epi64(d, _mm512_load_si512((const void *)(p + i + 192)));
    }
    /* reduce by hand with unsigned wrap-around: the intrinsic's signed sum may overflow (UB) */
    uint64_t lanes[8], sum = 0;
    _mm512_storeu_si512((void *)lanes, _mm512_add_epi64(_mm512_add_epi64(a, b), _mm512_add_epi64(c, d)));
    for (int i = 0; i < 8; i++) sum += lanes[i];
    return sum;
}
#endif

static read_kernel pick_kernel(const char **isa) {
#if MEMBW_X86
    const cpu_features *f = cpu_get();
    if (f->avx512f) return *isa = "avx512", read_avx512;
    if (f->avx2) return *isa = "avx2", read_avx2;
    return *isa = "sse2", read_sse2;
#else
    return *isa = "scalar", read_scalar;
#endif
}

typedef struct probe {
    uint8_t *buf;
    size_t bytes; /* a multiple of PAGE, so every share is whole pages of whole kernel steps */
    read_kernel kernel;
    uint64_t sums[MAX_THREADS];
} probe;

static void share(const probe *pr, int ith, int nth, uint8_t **start, size_t *len) {
    int64_t lo, hi;
    tp_split((int64_t)(pr->bytes / PAGE), ith, nth, 1, &lo, &hi);
    *start = pr->buf + (size_t)lo * PAGE;
    *len = (size_t)(hi - lo) * PAGE;
}

/* Each thread writes the pages it will read, so they are backed by real memory. */
static void touch_worker(void *arg, int ith, int nth) {
    probe *pr = arg;
    uint8_t *p;
    size_t n;
    share(pr, ith, nth, &p, &n);
    memset(p, 0x5A + ith, n);
}

static void read_worker(void *arg, int ith, int nth) {
    probe *pr = arg;
    uint8_t *p;
    size_t n;
    share(pr, ith, nth, &p, &n);
    pr->sums[ith] = n ? pr->kernel(p, n) : 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int membw_measure(aion_threads *t, size_t bytes, int n_runs, membw_result *out, char *err, size_t err_len) {
    if (n_runs < 1) n_runs = 1;
    if (aion_threads_count(t) > MAX_THREADS) {
        snprintf(err, err_len, "memory probe: at most %d threads", MAX_THREADS);
        return -1;
    }
    probe *pr = calloc(1, sizeof *pr);
    double *gbps = malloc((size_t)n_runs * sizeof *gbps);
    if (pr) pr->bytes = (bytes + PAGE - 1) / PAGE * PAGE;
    if (pr && pr->bytes) pr->buf = aligned_alloc(PAGE, pr->bytes);
    if (!pr || !gbps || !pr->buf) {
        snprintf(err, err_len, "memory probe: out of memory for a %zu MiB buffer", bytes >> 20);
        if (pr) free(pr->buf);
        free(pr);
        free(gbps);
        return -1;
    }
    *out = (membw_result){.bytes = pr->bytes, .n_threads = aion_threads_count(t), .n_runs = n_runs};
    pr->kernel = pick_kernel(&out->isa);
    tp_run(t, touch_worker, pr);
    tp_run(t, read_worker, pr); /* untimed: wakes the workers and settles the clocks */
    for (int r = 0; r < n_runs; r++) {
        double t0 = now_seconds();
        tp_run(t, read_worker, pr);
        gbps[r] = (double)pr->bytes / (now_seconds() - t0) / 1e9;
    }
    qsort(gbps, (size_t)n_runs, sizeof *gbps, cmp_double);
    out->best_gbps = gbps[n_runs - 1];
    out->median_gbps = n_runs % 2 ? gbps[n_runs / 2] : 0.5 * (gbps[n_runs / 2 - 1] + gbps[n_runs / 2]);
    free(pr->buf);
    free(pr);
    free(gbps);
    return 0;
}
