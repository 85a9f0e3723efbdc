/*
 * util.h - the helpers several modules need: one-line error messages, a monotonic clock and
 * memory for weights. Kept here once so that no module carries its own copy.
 */
#ifndef AION_UTIL_H
#define AION_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* printf into err (if err and err_len are set); the engine's way of saying what went wrong. */
void set_err(char *err, size_t err_len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Seconds on the monotonic clock. */
double now_seconds(void);

/* Zeroed read-write memory for weights, backed by transparent huge pages where the kernel
 * allows: a decode step streams every weight once, and 4 KiB pages cost TLB walks and stop the
 * prefetchers at every page boundary. NULL on failure; *mapped is what to pass to huge_free. */
void *huge_alloc(size_t size, size_t *mapped);
void huge_free(void *mem, size_t mapped);
/* Make it read-only once filled (a stray write then faults instead of corrupting weights). */
void huge_seal(void *mem, size_t mapped);

/* A 64-bit linear congruential stream (Knuth's MMIX constants) for seeded workloads and
 * benchmark data that must repeat run to run; its low bits are weak, so callers take high ones. */
static inline uint64_t lcg_next(uint64_t *state) {
    return *state = *state * 6364136223846793005ull + 1442695040888963407ull;
}
/* Uniform in [0, 1) from the top 53 bits. */
static inline double lcg_uniform(uint64_t *state) { return (double)(lcg_next(state) >> 11) / 9007199254740992.0; }

#endif
