/*
 * threadpool.c - persistent workers for the forward pass.
 *
 * A dispatch publishes (fn, arg) and bumps a generation counter; workers spin
 * on the counter for a short while (a decode step dispatches a few hundred
 * tasks in a row, each lasting tens of microseconds), then fall back to a
 * condition variable so an idle engine costs no CPU. Completion is an atomic
 * count the caller spins on after doing its own share.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "threadpool.h"

#define SPIN_ITERS 100000
#define YIELD_EVERY 256 /* spinning on a busy machine starves the thread we wait for: yield now and then */

struct aion_threads {
    int n_threads;
    pthread_t *workers;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    atomic_uint generation;
    atomic_int n_done;
    atomic_bool stop;
    tp_task_fn fn;
    void *arg;
};

typedef struct worker_arg {
    aion_threads *pool;
    int ith;
} worker_arg;

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static unsigned wait_generation(aion_threads *t, unsigned seen) {
    for (int i = 0; i < SPIN_ITERS; i++) {
        unsigned g = atomic_load_explicit(&t->generation, memory_order_acquire);
        if (g != seen || atomic_load(&t->stop)) return g;
        if (i % YIELD_EVERY == YIELD_EVERY - 1) sched_yield();
        else cpu_relax();
    }
    pthread_mutex_lock(&t->lock);
    unsigned g;
    while ((g = atomic_load(&t->generation)) == seen && !atomic_load(&t->stop))
        pthread_cond_wait(&t->wake, &t->lock);
    pthread_mutex_unlock(&t->lock);
    return g;
}

static void *worker_main(void *p) {
    worker_arg *wa = p;
    aion_threads *t = wa->pool;
    int ith = wa->ith;
    free(wa);
    unsigned seen = 0;
    for (;;) {
        seen = wait_generation(t, seen);
        if (atomic_load(&t->stop)) break;
        t->fn(t->arg, ith, t->n_threads);
        atomic_fetch_add_explicit(&t->n_done, 1, memory_order_acq_rel);
    }
    return NULL;
}

aion_threads *aion_threads_new(int n_threads) {
    if (n_threads <= 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = cores > 0 ? (int)cores : 1;
    }
    if (n_threads > 256) n_threads = 256;
    aion_threads *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->n_threads = n_threads;
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->wake, NULL);
    t->workers = calloc((size_t)n_threads, sizeof *t->workers);
    int started = 1;
    for (int i = 1; t->workers && i < n_threads; i++, started++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (!wa) break;
        *wa = (worker_arg){t, i};
        if (pthread_create(&t->workers[i], NULL, worker_main, wa) != 0) {
            free(wa);
            break;
        }
    }
    t->n_threads = started; /* a pool that could not start every worker runs with fewer */
    return t;
}

void aion_threads_free(aion_threads *t) {
    if (!t) return;
    pthread_mutex_lock(&t->lock);
    atomic_store(&t->stop, true);
    pthread_cond_broadcast(&t->wake);
    pthread_mutex_unlock(&t->lock);
    for (int i = 1; i < t->n_threads; i++) pthread_join(t->workers[i], NULL);
    pthread_mutex_destroy(&t->lock);
    pthread_cond_destroy(&t->wake);
    free(t->workers);
    free(t);
}

int aion_threads_count(const aion_threads *t) { return t ? t->n_threads : 1; }

void tp_run(aion_threads *t, tp_task_fn fn, void *arg) {
    if (!t || t->n_threads == 1) {
        fn(arg, 0, 1);
        return;
    }
    t->fn = fn;
    t->arg = arg;
    atomic_store_explicit(&t->n_done, 0, memory_order_relaxed);
    pthread_mutex_lock(&t->lock);
    atomic_fetch_add_explicit(&t->generation, 1, memory_order_release);
    pthread_cond_broadcast(&t->wake);
    pthread_mutex_unlock(&t->lock);
    fn(arg, 0, t->n_threads);
    for (unsigned i = 1; atomic_load_explicit(&t->n_done, memory_order_acquire) < t->n_threads - 1; i++) {
        if (i % YIELD_EVERY == 0) sched_yield();
        else cpu_relax();
    }
}

void tp_split(int64_t n, int ith, int nth, int64_t align, int64_t *lo, int64_t *hi) {
    if (align < 1) align = 1;
    int64_t units = (n + align - 1) / align;
    int64_t per = units / nth, extra = units % nth;
    int64_t start = ith * per + (ith < extra ? ith : extra);
    int64_t count = per + (ith < extra ? 1 : 0);
    *lo = start * align < n ? start * align : n;
    *hi = (start + count) * align < n ? (start + count) * align : n;
}
