/*
 * sched.h - continuous batching: one scheduler thread per served model.
 *
 * Decoding one sequence streams all the weights once per token; decoding N
 * sequences in one forward streams them once for all N. A scheduler therefore
 * owns its model's aion_ctx with one KV slot per concurrent request and runs
 * iteration-level batching (Orca): every step it asks each active sequence's
 * decoder for its next tokens (decoder_step_prepare), adds chunks of prompts
 * still being prefilled, runs ONE aion_forward over all of them, and hands
 * each sequence its logits rows back (decoder_step_finish). Requests join
 * between steps and leave as soon as they finish or their client goes away;
 * a freed slot is truncated to zero at once.
 *
 * Speculation (aio_strategy "lookup") verifies several tokens per sequence per
 * step, which only pays while the batch is small; above spec_max_active
 * decoding sequences every sequence runs plain `ar` for that step. Both are
 * lossless, so switching per step never changes a greedy result.
 */
#ifndef AION_SERVER_SCHED_H
#define AION_SERVER_SCHED_H

#include <pthread.h>
#include <stdbool.h>

#include "aion.h"
#include "server/metrics.h"
#include "server/request.h"

/* KV memory is slots x context: a model trained on a long context would claim gigabytes per slot. */
#define SCHED_DEFAULT_CTX_MAX 4096

typedef struct sched_config {
    int n_parallel;      /* slots: sequences decoded together (>= 1) */
    int n_ctx;           /* tokens per slot; 0 = the model's training context, at most SCHED_DEFAULT_CTX_MAX */
    int max_queue;       /* requests that may wait for a slot; more are refused */
    int prefill_chunk;   /* most prompt tokens one step carries (0: 128) */
    int spec_max_active; /* speculate only while at most this many sequences decode (0: none) */
    int kv_f16;          /* the slots' KV cache in f16 (aion_ctx_params.kv_f16) */
} sched_config;

sched_config sched_default_config(void);

typedef struct sched sched;

/* threads and forward_lock are shared by every scheduler of a server (one forward at a time:
 * the pool is not reentrant, and two models would only fight over memory bandwidth). metrics
 * may be NULL; model_index names this model in it. Nothing passed in is owned. */
sched *sched_new(const aion_model *model, int model_index, const sched_config *cfg, aion_threads *threads,
                 pthread_mutex_t *forward_lock, metrics *mx, char *err, size_t err_len);
/* Stops the thread; requests still queued or running finish with GEN_CANCELLED. */
void sched_free(sched *s);

/* Takes a reference on r and queues it. Returns 0, -1 when the queue is full (r untouched), -2
 * when the prompt cannot fit a slot. */
int sched_submit(sched *s, gen_request *r);

int sched_n_ctx(const sched *s);
void sched_gauges(sched *s, metrics_gauges *g);
/* True when nothing is queued or running. */
bool sched_idle(sched *s);

/* Gives the scheduler the model's calibrated forward-time curve: speculation is then allowed only
 * when the cost model says it beats plain batched decoding at the current batch size. */
struct cost_curve;
void sched_set_cost_curve(sched *s, const struct cost_curve *c);

#endif
