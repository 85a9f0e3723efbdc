/*
 * costmodel.c - the cost model (see costmodel.h).
 */
#include <math.h>
#include <string.h>

#include "costmodel.h"

static double lerp(double x0, double y0, double x1, double y1, double x) {
    return x1 == x0 ? y0 : y0 + (y1 - y0) * (x - x0) / (x1 - x0);
}

/* Interpolation index: the segment [i, i+1] of xs used for x (clamped to the ends, so values
 * beyond extrapolate along the last segment). */
static int segment(const int *xs, int n, double x) {
    int i = 0;
    while (i + 2 < n && x > xs[i + 1]) i++;
    return i;
}

static double at_ctx(const cost_curve *c, int j, double n_tokens) {
    if (c->n_sizes == 1) return c->seconds[j][0];
    int i = segment(c->sizes, c->n_sizes, n_tokens);
    double v = lerp(c->sizes[i], c->seconds[j][i], c->sizes[i + 1], c->seconds[j][i + 1], n_tokens);
    return v > 0 ? v : c->seconds[j][0];
}

double cost_forward_seconds(const cost_curve *c, int n_tokens, int ctx_len) {
    if (c->n_sizes < 1 || c->n_ctx < 1) return 0;
    if (c->n_ctx == 1) return at_ctx(c, 0, n_tokens);
    int j = segment(c->ctx, c->n_ctx, ctx_len);
    double v = lerp(c->ctx[j], at_ctx(c, j, n_tokens), c->ctx[j + 1], at_ctx(c, j + 1, n_tokens), ctx_len);
    return v > 0 ? v : at_ctx(c, 0, n_tokens);
}

double cost_accept_prefix(const accept_profile *a, int i) {
    if (i < 0) return 1;
    if (a->n_positions <= 0) return 0;
    if (i < a->n_positions) return a->prefix[i];
    double last = a->prefix[a->n_positions - 1];
    double prev = a->n_positions >= 2 ? a->prefix[a->n_positions - 2] : 1;
    double ratio = prev > 0 ? last / prev : 0;
    if (ratio > 0.98) ratio = 0.98;
    return last * pow(ratio, i - (a->n_positions - 1));
}

double cost_expected_tokens(const accept_profile *a, int k) {
    double e = 1;
    for (int i = 0; i < k; i++) e += cost_accept_prefix(a, i);
    return e;
}

void cost_accept_update(accept_profile *a, const decode_stats *st, double alpha) {
    if (st->rounds <= 0) return;
    /* prefix[i] is measured over the rounds that had any draft: a round that offered fewer than
     * i+1 drafts (an early-stopped draft, a short n-gram match) counts as not reaching i+1,
     * which is what the expected tokens of a round at this k really are. */
    int rounds_with_draft = st->drafted_at[0];
    double rate = (double)rounds_with_draft / st->rounds;
    double w = 1 - pow(1 - alpha, st->rounds);
    a->draft_rate = a->weight > 0 ? (1 - w) * a->draft_rate + w * rate : rate;
    int n = 0;
    for (int i = 0; i < DECODE_MAX_DRAFT && st->drafted_at[i] > 0; i++) {
        double p = rounds_with_draft ? (double)st->accepted_at[i] / rounds_with_draft : 0;
        double wi = 1 - pow(1 - alpha, st->drafted_at[i]);
        a->prefix[i] = i < a->n_positions && a->weight > 0 ? (1 - wi) * a->prefix[i] + wi * p : p;
        n = i + 1;
    }
    if (n > a->n_positions) a->n_positions = n;
    a->weight += st->rounds;
}

static int bucket_for(const decode_config *dc, int n) {
    for (int i = 0; i < dc->n_buckets; i++)
        if (dc->buckets[i] >= n) return dc->buckets[i];
    return n;
}

cost_option cost_estimate(int strategy, int k, const cost_curve *target, const cost_curve *draft,
                          const accept_profile *acc, int ctx_len, const decode_config *dc) {
    cost_option o = {strategy, k, 1, 1, 0, 0};
    double t1 = cost_forward_seconds(target, 1, ctx_len);
    if (strategy == DECODE_AR || k <= 0 || !acc) {
        o.strategy = DECODE_AR;
        o.draft_max = 0;
        o.round_seconds = t1;
    } else {
        o.bucket = bucket_for(dc, k + 1);
        double tb = cost_forward_seconds(target, o.bucket, ctx_len);
        double rate = strategy == DECODE_LOOKUP ? acc->draft_rate : 1;
        o.tokens_per_round = 1 + rate * (cost_expected_tokens(acc, k) - 1);
        o.round_seconds = rate * tb + (1 - rate) * t1;
        if (strategy == DECODE_SPEC && draft) /* catch-up of ~2 tokens, then k-1 single steps */
            o.round_seconds += cost_forward_seconds(draft, 2, ctx_len) + (k - 1) * cost_forward_seconds(draft, 1, ctx_len);
    }
    o.tokens_per_second = o.round_seconds > 0 ? o.tokens_per_round / o.round_seconds : 0;
    return o;
}

cost_option cost_choose(unsigned allowed, const cost_curve *target, const cost_curve *draft,
                        const accept_profile *lookup_acc, const accept_profile *spec_acc, int ctx_len,
                        const decode_config *dc) {
    cost_option best = cost_estimate(DECODE_AR, 0, target, NULL, NULL, ctx_len, dc);
    for (int s = DECODE_LOOKUP; s <= DECODE_SPEC; s++) {
        const accept_profile *acc = s == DECODE_LOOKUP ? lookup_acc : spec_acc;
        if (!(allowed & (1u << s)) || !acc || acc->n_positions == 0 || (s == DECODE_SPEC && !draft)) continue;
        for (int b = 1; b < dc->n_buckets; b++) {
            int k = dc->buckets[b] - 1;
            if (k > DECODE_MAX_DRAFT) break;
            cost_option o = cost_estimate(s, k, target, draft, acc, ctx_len, dc);
            if (o.tokens_per_second > best.tokens_per_second) best = o;
        }
    }
    return best;
}
