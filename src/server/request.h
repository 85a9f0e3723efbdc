/*
 * request.h - one generation request, as an HTTP connection and a scheduler share it.
 *
 * The HTTP side builds the request (prompt ids, sampling, stops), submits it to
 * the scheduler of its model and then only reads; the scheduler thread only
 * appends output and finally marks it done. The two meet under the request's
 * own mutex, so neither ever waits on the other's work: a slow client cannot
 * stall a decoding step, a long step cannot stall a client's reads beyond it.
 * Lifetime is a reference count (the connection and the scheduler hold one
 * each); cancellation is a flag the scheduler polls between steps, which is
 * how a client that goes away frees its slot.
 */
#ifndef AION_SERVER_REQUEST_H
#define AION_SERVER_REQUEST_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aion.h"

#define GEN_MAX_STOPS 16
#define GEN_MAX_STOP_LEN 512

enum gen_finish { GEN_RUNNING = 0, GEN_STOP, GEN_LENGTH, GEN_CANCELLED, GEN_ERROR };

typedef struct gen_params {
    int32_t *prompt; /* owned */
    int n_prompt;
    int max_tokens;
    aion_sampler_params sampling;
    int strategy;    /* decode_strategy the client asked for (honoured while the batch is small) */
    char *stops[GEN_MAX_STOPS]; /* owned */
    int n_stops;
    bool logprobs;
} gen_params;

typedef struct gen_token {
    int32_t id;
    float logprob; /* of the model's own distribution (raw logits), 0 when not asked */
} gen_token;

typedef struct gen_request {
    gen_params params;
    atomic_int refs;
    atomic_bool cancelled;
    double t_submit; /* monotonic seconds, for time-to-first-token */

    pthread_mutex_t mu;
    pthread_cond_t changed;
    /* Output; the scheduler appends, the connection reads (both under mu). */
    char *text;      /* stop-filtered text so far */
    size_t text_len, text_cap;
    gen_token *tokens;
    int n_tokens, tokens_cap;
    int finish;      /* enum gen_finish; != GEN_RUNNING once done */
    char error[256];
    int n_generated; /* tokens counted as completion_tokens */
    int drafted, accepted, rounds;
    bool wants_progress; /* a waiter wants to hear of new output, not only of the end */

    struct gen_request *next; /* the scheduler's queue link */
} gen_request;

/* refs = 1 (the creator's). NULL when out of memory. */
gen_request *gen_request_new(void);
void gen_request_ref(gen_request *r);
void gen_request_unref(gen_request *r);

/* Scheduler side. */
void gen_request_append(gen_request *r, const char *text, size_t len, const gen_token *toks, int n_toks);
void gen_request_finish(gen_request *r, int finish, const char *error);

/* Connection side: waits (at most timeout_s) until there is text beyond text_seen or the request
 * is done; returns true if so. */
bool gen_request_wait(gen_request *r, size_t text_seen, double timeout_s);
/* The same for tokens: until there are more than tokens_seen, or the request is done. */
bool gen_request_wait_tokens(gen_request *r, int tokens_seen, double timeout_s);
void gen_request_cancel(gen_request *r);
bool gen_request_is_cancelled(gen_request *r);

const char *gen_finish_reason(int finish); /* "stop", "length", or NULL while running */

/* Holds back text that might be the beginning of a stop string, so that a stop spanning token
 * boundaries is cut exactly and never shown. */
typedef struct stop_filter {
    char *const *stops; /* not owned */
    int n_stops;
    size_t longest;
    char held[GEN_MAX_STOP_LEN * 2 + 8];
    size_t n_held;
} stop_filter;

void stop_filter_init(stop_filter *f, char *const *stops, int n_stops);
/* Feeds text; writes what is safe to show to out (at most len + GEN_MAX_STOP_LEN bytes) and its
 * length to *out_len. Returns true when a stop string completed: out ends before it. */
bool stop_filter_push(stop_filter *f, const char *text, size_t len, char *out, size_t *out_len);
/* At the end of generation, without a stop: the held text is shown after all. */
size_t stop_filter_flush(stop_filter *f, char *out);

#endif
