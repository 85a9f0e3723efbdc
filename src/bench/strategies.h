/*
 * strategies.h - the strategy benchmark: every lossless decoding strategy on every task
 * category, measured in one run.
 *
 * Which strategy pays off depends on the text: lookup wins where the output copies the
 * context (code), spec where the small model guesses the large one's tokens, and both lose
 * where their drafts are rejected (a verification of k+1 tokens costs more than one of 1).
 * The orchestrator needs those figures per category, on this machine, including the losses.
 * So for each category of bench/tasks and each variant (ar; lookup and spec at every k the
 * verification buckets allow) the first N prompts are decoded greedily. The variants of one
 * task run back to back: a machine whose load drifts (shared cores) then disturbs every
 * variant alike and the ratio to ar stays meaningful. Every variant's tokens are compared
 * with ar's: the strategies are lossless, so a difference is a bug, never noise.
 */
#ifndef AION_BENCH_STRATEGIES_H
#define AION_BENCH_STRATEGIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aion.h"
#include "decode/decode.h"

#define STRAT_N_CATEGORIES 4
/* ar, then lookup and spec at one k per verification bucket above 1 */
#define STRAT_MAX_VARIANTS (1 + 2 * DECODE_MAX_BUCKETS)

typedef struct strat_variant {
    int strategy; /* enum decode_strategy */
    int k;        /* most tokens drafted per round; 0 for ar */
} strat_variant;

/* One category x variant, summed over its tasks. Only the decoding rounds count: the
 * prompt and the first token (which every strategy gets from the same prefill) do not. */
typedef struct strat_tally {
    int n_tasks;
    int n_tokens;                    /* tokens kept from the rounds (up to the stop) */
    double decode_seconds;
    uint64_t target_bytes, draft_bytes; /* weights streamed by the rounds' forwards */
    int rounds, draft_forwards;
    int drafted, accepted;
    int drafted_at[DECODE_MAX_DRAFT], accepted_at[DECODE_MAX_DRAFT];
    int n_mismatched;                /* tasks whose tokens differ from ar's */
} strat_tally;

/* Figures derived from a tally and its category's ar tally. */
typedef struct strat_figures {
    double tokens_per_second;
    double speedup;        /* tokens_per_second / ar's in the same run */
    double acceptance;     /* accepted / drafted; 0 when nothing was drafted */
    double tokens_per_round;
    double target_mb_per_token, draft_mb_per_token;
} strat_figures;

typedef void (*strat_progress_fn)(void *user, const char *category, int done, int total);

typedef struct strat_config {
    const char *tasks_dir;  /* holds code.jsonl, math.jsonl, qa.jsonl, chat.jsonl */
    int limit;              /* first tasks of each category; <= 0: all */
    int max_new;            /* code, math, qa: also stop at the end of the first line... */
    bool whole;             /* ...unless set: then they decode max_new tokens, as chat does */
    int chat_max_new;       /* chat: no line stop */
    int repeat;             /* decodes of each (task, variant); the fastest counts (>= 1) */
    decode_config base;     /* buckets and n-gram sizes; strategy and k are set per variant */
    strat_progress_fn progress;
    void *progress_user;
} strat_config;

typedef struct strat_result {
    int n_variants;
    strat_variant variants[STRAT_MAX_VARIANTS];
    strat_tally tally[STRAT_N_CATEGORIES][STRAT_MAX_VARIANTS];
    int max_new, chat_max_new; /* as used: capped to leave room for the prompt in the context */
    bool whole;                /* code, math, qa decoded without the line stop */
    int n_mismatches;          /* (task, variant) pairs whose tokens differ from ar's */
    char first_mismatch[512];  /* which, where, and the two tokens */
} strat_result;

strat_config strat_default_config(void);
const char *strat_category_name(int category);
/* "ar", "lookup k=3", ... into buf. */
const char *strat_variant_label(const strat_variant *v, char *buf, size_t len);

/* The variants the bucket set allows: ar, then lookup and spec for each bucket b > 1 at
 * k = b - 1 (the draft plus the pending token fill the bucket exactly). Spec only with_spec. */
int strat_variants_for(const decode_config *cfg, bool with_spec, strat_variant *out);

/* target (and draft, NULL for no spec) must have at least 2 sequence slots: slot 1 keeps each
 * task's prompt so that it is computed once, slot 0 decodes. Returns 0 (also when tokens
 * differ: see n_mismatches), or -1 with err. */
int strat_run(const strat_config *cfg, aion_ctx *target, aion_ctx *draft, aion_threads *threads, strat_result *out,
              char *err, size_t err_len);

strat_figures strat_figures_of(const strat_result *r, int category, int variant);

#endif
