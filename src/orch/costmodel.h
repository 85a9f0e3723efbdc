/*
 * costmodel.h - expected tokens per second of a decoding choice, from measurements.
 *
 * For a serving model T, a drafter D and draft length k (verify bucket b >= k+1):
 *   E[tokens per round] = 1 + sum_{i=1..k} P(first i drafts accepted)
 *   round time          = t_D(k) + t_T(b, context)
 *   tokens/s            = E[tokens per round] / round time      (ar: 1 / t_T(1, context))
 * t_X(n, c) comes from a calibration curve measured on this machine (calibrate.c);
 * acceptance from online statistics. Pure functions: no timing, no I/O, so the
 * policy is testable and the simulator can drive the same code with other curves.
 */
#ifndef AION_COSTMODEL_H
#define AION_COSTMODEL_H

#include <stdbool.h>

#include "decode/decode.h"

#define COST_MAX_SIZES 8
#define COST_MAX_CTX 4

/* Seconds of one forward of sizes[i] tokens at context ctx[j] (tokens already cached). */
typedef struct cost_curve {
    int n_sizes, sizes[COST_MAX_SIZES];
    int n_ctx, ctx[COST_MAX_CTX];
    double seconds[COST_MAX_CTX][COST_MAX_SIZES];
} cost_curve;

/* Interpolated linearly in size and context, extrapolated linearly past the last points. */
double cost_forward_seconds(const cost_curve *c, int n_tokens, int ctx_len);

/* Acceptance of one drafter: prefix[i] = P(drafts 1..i+1 all accepted) per round, measured over
 * rounds that offered at least i+1 drafts; draft_rate = fraction of rounds that had a draft
 * at all (lookup finds no n-gram sometimes). */
typedef struct accept_profile {
    int n_positions;
    double prefix[DECODE_MAX_DRAFT];
    double draft_rate;
    double weight; /* evidence behind it, in rounds (0: a prior) */
} accept_profile;

/* prefix[i] for any i: measured, or continued geometrically from the last two measured. */
double cost_accept_prefix(const accept_profile *a, int i);
double cost_expected_tokens(const accept_profile *a, int k);

/* Folds a request's decode statistics into a profile: exponential moving average with factor
 * alpha per round of evidence, so a long request moves it more than a short one. */
void cost_accept_update(accept_profile *a, const decode_stats *st, double alpha);

typedef struct cost_option {
    int strategy, draft_max, bucket;
    double tokens_per_round, round_seconds, tokens_per_second;
} cost_option;

/* One candidate's estimate. draft may be NULL for ar/lookup. */
cost_option cost_estimate(int strategy, int k, const cost_curve *target, const cost_curve *draft,
                          const accept_profile *acc, int ctx_len, const decode_config *dc);

/* The best allowed option (allowed: bit per strategy; ar is always a candidate), trying every k
 * whose verify size is a bucket (k = bucket - 1). */
cost_option cost_choose(unsigned allowed, const cost_curve *target, const cost_curve *draft,
                        const accept_profile *lookup_acc, const accept_profile *spec_acc, int ctx_len,
                        const decode_config *dc);

#endif
