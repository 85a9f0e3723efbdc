/*
 * util.c - error messages, the clock and huge-page memory (see util.h).
 */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS, madvise */
#include <stdarg.h>
#include <stdio.h>
#include <sys/mman.h>
#include <time.h>

#include "util.h"

void set_err(char *err, size_t err_len, const char *fmt, ...) {
    if (!err || !err_len) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
}

double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

#define HUGE_PAGE ((size_t)2 << 20)

void *huge_alloc(size_t size, size_t *mapped) {
    size_t bytes = (size + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
    if (bytes == 0) bytes = HUGE_PAGE;
    void *mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) return NULL;
#ifdef MADV_HUGEPAGE
    madvise(mem, bytes, MADV_HUGEPAGE);
#endif
    *mapped = bytes;
    return mem;
}

void huge_free(void *mem, size_t mapped) {
    if (mem) munmap(mem, mapped);
}

void huge_seal(void *mem, size_t mapped) { mprotect(mem, mapped, PROT_READ); }
