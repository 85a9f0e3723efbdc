/*
 * request.c - the request shared by a connection and a scheduler, and the stop filter.
 *
 * Everything the two sides exchange goes through the request's mutex and one
 * condition variable ("something changed"); waits are always bounded so a
 * connection thread can look at its socket in between. The stop filter is
 * pure text processing, kept here because it decides what the client sees.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/request.h"

gen_request *gen_request_new(void) {
    gen_request *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    atomic_init(&r->refs, 1);
    atomic_init(&r->cancelled, false);
    pthread_mutex_init(&r->mu, NULL);
    /* Waits use CLOCK_MONOTONIC deadlines: wall-clock jumps must not stretch them. */
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->changed, &ca);
    pthread_condattr_destroy(&ca);
    return r;
}

void gen_request_ref(gen_request *r) { atomic_fetch_add(&r->refs, 1); }

static void gen_params_clear(gen_params *p) {
    free(p->prompt);
    for (int i = 0; i < p->n_stops; i++) free(p->stops[i]);
    memset(p, 0, sizeof *p);
}

void gen_request_unref(gen_request *r) {
    if (!r || atomic_fetch_sub(&r->refs, 1) != 1) return;
    gen_params_clear(&r->params);
    free(r->text);
    free(r->tokens);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->changed);
    free(r);
}

static bool grow(void **buf, size_t elem, size_t need, size_t *cap) {
    if (need <= *cap) return true;
    size_t c = *cap ? *cap : 256;
    while (c < need) c *= 2;
    void *nb = realloc(*buf, c * elem);
    if (!nb) return false;
    *buf = nb;
    *cap = c;
    return true;
}

void gen_request_append(gen_request *r, const char *text, size_t len, const gen_token *toks, int n_toks) {
    pthread_mutex_lock(&r->mu);
    if (len && grow((void **)&r->text, 1, r->text_len + len + 1, &r->text_cap)) {
        memcpy(r->text + r->text_len, text, len);
        r->text_len += len;
        r->text[r->text_len] = 0;
    }
    size_t tcap = (size_t)r->tokens_cap;
    if (n_toks > 0 && grow((void **)&r->tokens, sizeof *r->tokens, (size_t)r->n_tokens + n_toks, &tcap)) {
        r->tokens_cap = (int)tcap;
        memcpy(r->tokens + r->n_tokens, toks, (size_t)n_toks * sizeof *toks);
        r->n_tokens += n_toks;
    }
    /* Waking a thread that only waits for the end costs a context switch per step. */
    if (r->wants_progress) pthread_cond_broadcast(&r->changed);
    pthread_mutex_unlock(&r->mu);
}

void gen_request_finish(gen_request *r, int finish, const char *error) {
    pthread_mutex_lock(&r->mu);
    if (r->finish == GEN_RUNNING) {
        r->finish = finish;
        if (error) {
            strncpy(r->error, error, sizeof r->error - 1);
            r->error[sizeof r->error - 1] = 0;
        }
    }
    pthread_cond_broadcast(&r->changed);
    pthread_mutex_unlock(&r->mu);
}

static struct timespec deadline_after(double timeout_s) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    long long ns = t.tv_nsec + (long long)(timeout_s * 1e9);
    t.tv_sec += (time_t)(ns / 1000000000LL);
    t.tv_nsec = (long)(ns % 1000000000LL);
    return t;
}

bool gen_request_wait(gen_request *r, size_t text_seen, double timeout_s) {
    struct timespec deadline = deadline_after(timeout_s);
    pthread_mutex_lock(&r->mu);
    r->wants_progress = text_seen != (size_t)-1;
    while (r->finish == GEN_RUNNING && r->text_len <= text_seen)
        if (pthread_cond_timedwait(&r->changed, &r->mu, &deadline) != 0) break;
    bool ready = r->finish != GEN_RUNNING || r->text_len > text_seen;
    pthread_mutex_unlock(&r->mu);
    return ready;
}

bool gen_request_wait_tokens(gen_request *r, int tokens_seen, double timeout_s) {
    struct timespec deadline = deadline_after(timeout_s);
    pthread_mutex_lock(&r->mu);
    r->wants_progress = true;
    while (r->finish == GEN_RUNNING && r->n_tokens <= tokens_seen)
        if (pthread_cond_timedwait(&r->changed, &r->mu, &deadline) != 0) break;
    bool ready = r->finish != GEN_RUNNING || r->n_tokens > tokens_seen;
    pthread_mutex_unlock(&r->mu);
    return ready;
}

void gen_request_cancel(gen_request *r) { atomic_store(&r->cancelled, true); }
bool gen_request_is_cancelled(gen_request *r) { return atomic_load(&r->cancelled); }

const char *gen_finish_reason(int finish) {
    switch (finish) {
    case GEN_STOP: return "stop";
    case GEN_LENGTH: return "length";
    case GEN_CANCELLED: return "cancelled";
    case GEN_ERROR: return "error";
    default: return NULL;
    }
}

/* ---------------------------------------------------------------- stop filter */

void stop_filter_init(stop_filter *f, char *const *stops, int n_stops) {
    memset(f, 0, sizeof *f);
    f->stops = stops;
    f->n_stops = n_stops;
    for (int i = 0; i < n_stops; i++) {
        size_t n = strlen(stops[i]);
        if (n > f->longest) f->longest = n;
    }
}

/* Earliest start of a complete stop string in held, or -1. */
static long earliest_stop(const stop_filter *f) {
    long best = -1;
    for (int i = 0; i < f->n_stops; i++) {
        size_t n = strlen(f->stops[i]);
        if (!n || n > f->n_held) continue;
        const char *at = memmem(f->held, f->n_held, f->stops[i], n);
        if (at && (best < 0 || at - f->held < best)) best = at - f->held;
    }
    return best;
}

/* Length of the longest suffix of held that some stop string starts with. */
static size_t stop_prefix_suffix(const stop_filter *f) {
    size_t k = f->longest ? f->longest - 1 : 0;
    if (k > f->n_held) k = f->n_held;
    for (; k > 0; k--) {
        const char *tail = f->held + f->n_held - k;
        for (int i = 0; i < f->n_stops; i++)
            if (strlen(f->stops[i]) > k && memcmp(f->stops[i], tail, k) == 0) return k;
    }
    return 0;
}

bool stop_filter_push(stop_filter *f, const char *text, size_t len, char *out, size_t *out_len) {
    *out_len = 0;
    if (f->n_stops == 0) {
        memcpy(out, text, len);
        *out_len = len;
        return false;
    }
    /* Chunks small enough that held never overflows: it keeps < longest bytes between chunks. */
    size_t room = sizeof f->held - GEN_MAX_STOP_LEN;
    while (len > 0) {
        size_t n = len < room ? len : room;
        memcpy(f->held + f->n_held, text, n);
        f->n_held += n;
        text += n;
        len -= n;
        long at = earliest_stop(f);
        if (at >= 0) {
            memcpy(out + *out_len, f->held, (size_t)at);
            *out_len += (size_t)at;
            f->n_held = 0;
            return true;
        }
        size_t keep = stop_prefix_suffix(f);
        size_t emit = f->n_held - keep;
        memcpy(out + *out_len, f->held, emit);
        *out_len += emit;
        memmove(f->held, f->held + emit, keep);
        f->n_held = keep;
    }
    return false;
}

size_t stop_filter_flush(stop_filter *f, char *out) {
    size_t n = f->n_held;
    memcpy(out, f->held, n);
    f->n_held = 0;
    return n;
}
