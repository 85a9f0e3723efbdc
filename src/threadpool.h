/*
 * threadpool.h - run one function on every worker of an aion_threads pool.
 *
 * The forward pass splits each matmul by rows (and attention by heads) over
 * the pool; a dispatch must cost microseconds, not a syscall, so workers spin
 * briefly on a generation counter before they sleep.
 */
#ifndef AION_THREADPOOL_H
#define AION_THREADPOOL_H

#include "aion.h"

/* fn(arg, ith, nth) runs once on each of nth threads (the caller is thread 0); returns when all
 * have finished. Not reentrant: one tp_run at a time per pool. */
typedef void (*tp_task_fn)(void *arg, int ith, int nth);
void tp_run(aion_threads *t, tp_task_fn fn, void *arg);

/* The share [*lo, *hi) of n items that thread ith of nth takes (contiguous, balanced, and
 * aligned to `align` items so SIMD tiles are not split). */
void tp_split(int64_t n, int ith, int nth, int64_t align, int64_t *lo, int64_t *hi);

#endif
