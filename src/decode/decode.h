/*
 * decode.h - one decoding loop, three strategies: ar, lookup, spec.
 *
 * A decoder generates tokens for one sequence of a target model, a round at a
 * time. Each round a drafter proposes up to k tokens (none for `ar`; n-grams
 * copied from the context for `lookup`; a resident small model's guesses for
 * `spec`), the target verifies the pending token plus the draft in ONE forward
 * padded to a bucket shape, and the verifier keeps the longest acceptable
 * prefix plus one token of the target's own. Acceptance is rejection sampling
 * (Leviathan et al.), which degenerates to "draft == argmax" when greedy, so
 * the output has exactly the serving model's distribution: lossless.
 *
 * Rounds are the unit the orchestrator and the server schedule; no per-token
 * host work beyond sampling happens inside a round.
 */
#ifndef AION_DECODE_H
#define AION_DECODE_H

#include <stdbool.h>
#include <stdint.h>

#include "aion.h"

enum decode_strategy { DECODE_AR = 0, DECODE_LOOKUP = 1, DECODE_SPEC = 2 };

#define DECODE_MAX_DRAFT 16
#define DECODE_MAX_BUCKETS 8

const char *decode_strategy_name(int strategy);
int decode_strategy_from_name(const char *name); /* -1 if unknown */

typedef struct decode_config {
    int strategy;
    int draft_max;         /* k: most tokens drafted per round (<= DECODE_MAX_DRAFT) */
    int ngram_min, ngram_max;
    float draft_p_min;     /* spec: stop drafting when the draft's top probability falls below */
    int n_buckets;
    int buckets[DECODE_MAX_BUCKETS]; /* ascending forward sizes a verification may use */
    int accept_rule;       /* DECODE_ACCEPT_EXACT; the other rule exists to show the test catches it */
} decode_config;

enum decode_accept_rule {
    DECODE_ACCEPT_EXACT = 0, /* rejection sampling: lossless */
    DECODE_ACCEPT_NAIVE = 1, /* keep any draft the target could have sampled: a plausible, wrong rule */
};

decode_config decode_default_config(void);

typedef struct decode_stats {
    int n_prompt, n_generated;
    int rounds, drafted, accepted;
    int drafted_at[DECODE_MAX_DRAFT], accepted_at[DECODE_MAX_DRAFT]; /* per draft position */
    int target_forwards_at[DECODE_MAX_BUCKETS]; /* verification forwards per bucket */
    int target_forwards_other;                  /* prefill chunks */
    int draft_forwards;
    uint64_t target_weight_bytes, draft_weight_bytes;
    double t_prefill, t_draft, t_verify, t_sample; /* seconds */
} decode_stats;

typedef struct decoder decoder;

/* target: the serving model's context and sequence slot; draft (spec only): the drafter's.
 * The sampler is the target's (its params decide greedy or sampling); the decoder makes its
 * own sampler for the draft with the same params and a derived seed, and bans the target
 * model's markup tokens (aion_markup_tokens) in both. Nothing is owned. */
decoder *decoder_new(const decode_config *cfg, aion_ctx *target, int target_seq, aion_ctx *draft, int draft_seq,
                     aion_sampler *sampler, aion_threads *threads, char *err, size_t err_len);
void decoder_free(decoder *d);

/* Feeds the prompt (the slots must be empty) and samples the first token, written to *first.
 * Returns 0, or -1 with err (prompt longer than the context, ...). */
int decoder_prefill(decoder *d, const int32_t *prompt, int n_prompt, int32_t *first, char *err, size_t err_len);
/* Like prefill, but the target slot already holds the first `n_cached` prompt tokens (e.g. from the
 * probe): only the rest is computed. */
int decoder_prefill_cached(decoder *d, const int32_t *prompt, int n_prompt, int n_cached, int32_t *first, char *err,
                           size_t err_len);

/* One round: writes 1..DECODE_MAX_DRAFT+1 new tokens to out and returns their count; 0 when the
 * context is full; -1 on error. */
int decoder_step(decoder *d, int32_t *out, char *err, size_t err_len);

/* ---- split phases, for a caller that batches many sequences into one forward (the server) ----
 * decoder_step is decoder_step_prepare + one forward of the decoder's own + decoder_step_finish;
 * a batching scheduler calls the two halves itself and puts the tokens of every sequence it runs
 * into one shared forward, so the weights stream once for all of them. */
#define DECODE_ROUND_MAX (DECODE_MAX_DRAFT + 1 + 64)

typedef struct decode_round {
    int n_tokens;  /* tokens to forward on the decoder's target slot: pending, draft, bucket padding */
    int n_logits;  /* the first n_logits of them need logits rows (pending + draft) */
    int32_t tokens[DECODE_ROUND_MAX];
    int32_t pos[DECODE_ROUND_MAX];
} decode_round;

/* Proposes the round's draft and writes what this sequence contributes to the forward; pad: extend
 * to the verification bucket (fixed shapes pay off alone, not inside a shared batch). Returns
 * r->n_tokens, 0 when the context is full, -1 on error. */
int decoder_step_prepare(decoder *d, bool pad, decode_round *r, char *err, size_t err_len);
/* After the forward: rows holds the r->n_logits logits rows of the prepared tokens, in order.
 * Verifies, rolls the caches back, writes the new tokens to out (row i gave out[i]) and returns
 * their count (1..DECODE_MAX_DRAFT+1), or -1 when no round is open. */
int decoder_step_finish(decoder *d, const float *rows, int32_t *out, char *err, size_t err_len);
/* Prefill for a caller that fed prompt[0..n_prompt) to the target slot itself (in chunks, mixed
 * with other sequences): adopts it and samples the first token from the last prompt token's
 * logits. Returns 0, or -1 with err when the slot does not hold exactly the prompt. */
int decoder_prefill_fed(decoder *d, const int32_t *prompt, int n_prompt, const float *last_logits, int32_t *first,
                        char *err, size_t err_len);

/* Change strategy between rounds (the orchestrator's switch); draft ctx must exist for spec. */
int decoder_set_strategy(decoder *d, int strategy, int draft_max);
int decoder_strategy(const decoder *d);

const decode_stats *decoder_stats(const decoder *d);
int decoder_n_tokens(const decoder *d); /* prompt + generated */

/* The whole loop: prefill, then rounds until max_new tokens, an end-of-generation token of the
 * target model (not passed on), the context filling, or on_token returning false. Tokens go to
 * on_token one by one in order. Returns the number passed on, or -1 with err. */
typedef bool (*decode_token_fn)(void *user, int32_t token);
int decoder_generate(decoder *d, const int32_t *prompt, int n_prompt, int max_new, decode_token_fn on_token,
                     void *user, char *err, size_t err_len);

/* The same loop with a hook called after every round (the orchestrator revisits its choice
 * there; it may call decoder_set_strategy). */
typedef void (*decode_round_fn)(void *user, decoder *d);
int decoder_generate_hooked(decoder *d, const int32_t *prompt, int n_prompt, int n_cached, int max_new,
                            decode_token_fn on_token, void *user, decode_round_fn on_round, void *round_user,
                            char *err, size_t err_len);

/* The n-gram proposer, exposed for tests: the tokens (at most max_draft) that followed the most
 * recent earlier occurrence of the longest suffix n-gram (n in [ngram_min, ngram_max]) of ctx;
 * *match_len = n (0 without a match). */
int lookup_propose(const int32_t *ctx, int n_ctx, int ngram_min, int ngram_max, int max_draft, int32_t *draft,
                   int *match_len);
/* How many of n_copied proposed tokens to draft: at most match_len unless it is ngram_max, then
 * lengthened to fill the bucket the verification is padded to (buckets NULL: no padding). */
int lookup_draft_len(int match_len, int ngram_max, int n_copied, const int *buckets, int n_buckets);

#endif
