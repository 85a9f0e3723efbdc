/*
 * decoder.c - the decoding loop shared by every strategy, and its verifier.
 *
 * State of a sequence between rounds: the context tokens (prompt + generated);
 * the target's KV cache holds all of them but the last, the "pending" token,
 * which the next round feeds together with its draft. The draft model's cache
 * may lag (it catches up at the start of its next draft) but never holds a
 * token that is not in the context: after each round it is rolled back to the
 * accepted prefix, like the target's.
 *
 * Verification is speculative rejection sampling over the sampler's own
 * distribution (sample.c): accept draft x with probability min(1, p(x)/q(x)),
 * else draw the correction from norm(max(0, p - q)); if all are accepted, draw
 * a bonus token from the last row. With greedy settings p is a point mass, so
 * this is exactly "keep the draft while it equals the argmax". One code path
 * for ar, lookup and spec is what makes them lossless by construction.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "decode.h"
#include "util.h"

struct decoder {
    decode_config cfg;
    aion_ctx *target, *draft;
    int target_seq, draft_seq;
    aion_sampler *sampler;        /* target's, not owned */
    aion_sampler *draft_sampler;  /* owned; no repetition penalty: any q keeps the output lossless */
    aion_threads *threads;
    int32_t n_vocab;
    int32_t *tokens;              /* context: prompt + generated; the last one is pending */
    int n_tokens, cap;
    float *rows;                  /* target logits, (DECODE_MAX_DRAFT + 1) x n_vocab */
    float *q;                     /* draft distributions, DECODE_MAX_DRAFT x n_vocab */
    float *p;                     /* one target distribution */
    float *draft_logits;
    int32_t round_draft[DECODE_MAX_DRAFT]; /* the open round's draft, between prepare and finish */
    int round_n_draft;
    bool round_open;
    decode_stats stats;
};

static const char *const STRATEGY_NAMES[] = {"ar", "lookup", "spec"};

const char *decode_strategy_name(int strategy) {
    return strategy >= 0 && strategy <= DECODE_SPEC ? STRATEGY_NAMES[strategy] : "unknown";
}

int decode_strategy_from_name(const char *name) {
    for (int i = 0; i <= DECODE_SPEC; i++)
        if (strcmp(name, STRATEGY_NAMES[i]) == 0) return i;
    return -1;
}

decode_config decode_default_config(void) {
    return (decode_config){.strategy = DECODE_AR, .draft_max = 7, .ngram_min = 1, .ngram_max = 4,
                           .draft_p_min = 0.0f, .n_buckets = 5, .buckets = {1, 2, 4, 8, 16}};
}

static int largest_bucket(const decode_config *cfg) { return cfg->buckets[cfg->n_buckets - 1]; }

static int clamp_draft_max(const decode_config *cfg, int k) {
    if (k > DECODE_MAX_DRAFT) k = DECODE_MAX_DRAFT;
    if (k > largest_bucket(cfg) - 1) k = largest_bucket(cfg) - 1;
    return k < 0 ? 0 : k;
}

decoder *decoder_new(const decode_config *cfg, aion_ctx *target, int target_seq, aion_ctx *draft, int draft_seq,
                     aion_sampler *sampler, aion_threads *threads, char *err, size_t err_len) {
    decode_config c = cfg ? *cfg : decode_default_config();
    if (c.n_buckets < 1 || c.n_buckets > DECODE_MAX_BUCKETS || c.buckets[0] != 1) {
        set_err(err, err_len, "bad bucket set: %d buckets, the first must be 1 (got %d)", c.n_buckets, c.buckets[0]);
        return NULL;
    }
    for (int i = 1; i < c.n_buckets; i++)
        if (c.buckets[i] <= c.buckets[i - 1] || c.buckets[i] > aion_ctx_n_batch(target)) {
            set_err(err, err_len, "bucket %d is not ascending or exceeds the context's batch size %d", c.buckets[i],
                    aion_ctx_n_batch(target));
            return NULL;
        }
    if (c.strategy == DECODE_SPEC && !draft) {
        set_err(err, err_len, "strategy spec needs a draft model");
        return NULL;
    }
    const aion_model *tm = aion_ctx_model(target);
    if (draft && aion_n_vocab(aion_ctx_model(draft)) != aion_n_vocab(tm)) {
        set_err(err, err_len, "draft model vocabulary (%d) differs from the target's (%d)",
                aion_n_vocab(aion_ctx_model(draft)), aion_n_vocab(tm));
        return NULL;
    }
    c.draft_max = clamp_draft_max(&c, c.draft_max);
    decoder *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->cfg = c;
    d->target = target;
    d->target_seq = target_seq;
    d->draft = draft;
    d->draft_seq = draft_seq;
    d->sampler = sampler;
    d->threads = threads;
    d->n_vocab = aion_n_vocab(tm);
    d->cap = aion_ctx_n_ctx(target) + 1;
    d->tokens = malloc((size_t)d->cap * sizeof *d->tokens);
    d->rows = malloc((size_t)(DECODE_MAX_DRAFT + 1) * d->n_vocab * sizeof(float));
    d->q = malloc((size_t)DECODE_MAX_DRAFT * d->n_vocab * sizeof(float));
    d->p = malloc((size_t)d->n_vocab * sizeof(float));
    d->draft_logits = malloc((size_t)d->n_vocab * sizeof(float));
    if (draft) {
        /* The draft samples with the target's temperature and truncation (the closer q is to p,
         * the more is accepted) but no repetition penalty and its own random stream. */
        aion_sampler_params dp = aion_sampler_get_params(sampler);
        dp.repeat_penalty = 1.0f;
        /* The draft's randomness must be independent from request to request: a fixed seed would
         * make the draft a deterministic function of the context and bias the output. */
        dp.seed = (uint64_t)(aion_sampler_uniform(sampler) * 0x1p53);
        d->draft_sampler = aion_sampler_new(&dp, d->n_vocab);
    }
    if (!d->tokens || !d->rows || !d->q || !d->p || !d->draft_logits || (draft && !d->draft_sampler)) {
        decoder_free(d);
        return NULL;
    }
    /* markup tokens are never text: neither model may produce them (the same ban on p and q
     * keeps speculation lossless) */
    int32_t markup[AION_MAX_MARKUP];
    int n_markup = aion_markup_tokens(tm, markup, AION_MAX_MARKUP);
    for (int i = 0; i < n_markup && i < AION_MAX_MARKUP; i++) {
        aion_sampler_ban(sampler, markup[i]);
        aion_sampler_ban(d->draft_sampler, markup[i]);
    }
    return d;
}

void decoder_free(decoder *d) {
    if (!d) return;
    aion_sampler_free(d->draft_sampler);
    free(d->tokens);
    free(d->rows);
    free(d->q);
    free(d->p);
    free(d->draft_logits);
    free(d);
}

const decode_stats *decoder_stats(const decoder *d) { return &d->stats; }
int decoder_n_tokens(const decoder *d) { return d->n_tokens; }
int decoder_strategy(const decoder *d) { return d->cfg.strategy; }

int decoder_set_strategy(decoder *d, int strategy, int draft_max) {
    if (strategy < DECODE_AR || strategy > DECODE_SPEC || (strategy == DECODE_SPEC && !d->draft)) return -1;
    d->cfg.strategy = strategy;
    if (draft_max > 0) d->cfg.draft_max = clamp_draft_max(&d->cfg, draft_max);
    return 0;
}

static uint64_t weight_bytes(const aion_ctx *c) {
    aion_ctx_stats s;
    aion_ctx_get_stats(c, &s);
    return s.weight_bytes_read;
}

/* Feeds tokens[from, to) to a context slot in chunks of its batch size; logits of the last
 * token go to `logits` (may be NULL). */
static int feed(aion_ctx *c, int seq, aion_threads *t, const int32_t *tokens, int from, int to, float *logits,
                char *err, size_t err_len) {
    int n_batch = aion_ctx_n_batch(c);
    int32_t pos[512], seqs[512];
    int8_t want[512];
    if (n_batch > 512) n_batch = 512;
    for (int start = from; start < to; start += n_batch) {
        int n = to - start < n_batch ? to - start : n_batch;
        for (int i = 0; i < n; i++) {
            pos[i] = start + i;
            seqs[i] = seq;
            want[i] = (start + i == to - 1) && logits;
        }
        aion_batch b = {n, tokens + start, pos, seqs, want};
        if (aion_forward(c, t, &b, logits, err, err_len) < 0) return -1;
    }
    return 0;
}

static int32_t sample_row(decoder *d, const float *logits) {
    aion_sampler_dist(d->sampler, logits, d->p);
    return aion_sampler_draw(d->sampler, d->p);
}

static bool prefill_fits(decoder *d, int n_prompt, int n_cached, int max_cached, char *err, size_t err_len) {
    int n_ctx = aion_ctx_n_ctx(d->target);
    if (n_prompt < 1) {
        set_err(err, err_len, "empty prompt");
        return false;
    }
    if (n_prompt >= n_ctx) {
        set_err(err, err_len, "prompt of %d tokens does not fit the context of %d tokens", n_prompt, n_ctx);
        return false;
    }
    if (n_cached < 0 || n_cached > max_cached || aion_kv_len(d->target, d->target_seq) != n_cached) {
        set_err(err, err_len, "cached prefix %d does not match the slot (holds %d)", n_cached,
                aion_kv_len(d->target, d->target_seq));
        return false;
    }
    return true;
}

/* The prompt is in the target's cache and `last_row` holds the logits of its last token: adopt it
 * as the context and sample the first token. Shared by both ways of feeding a prompt. */
static void prefill_adopt(decoder *d, const int32_t *prompt, int n_prompt, const float *last_row, int32_t *first) {
    memcpy(d->tokens, prompt, (size_t)n_prompt * sizeof *prompt);
    d->n_tokens = n_prompt;
    for (int i = 0; i < n_prompt; i++) aion_sampler_accept(d->sampler, prompt[i]);
    double t1 = now_seconds();
    *first = sample_row(d, last_row);
    aion_sampler_accept(d->sampler, *first);
    d->tokens[d->n_tokens++] = *first;
    d->stats.n_prompt = n_prompt;
    d->stats.n_generated = 1;
    d->stats.t_sample += now_seconds() - t1;
}

int decoder_prefill_cached(decoder *d, const int32_t *prompt, int n_prompt, int n_cached, int32_t *first, char *err,
                           size_t err_len) {
    /* The last prompt token is always computed: its logits give the first token. */
    if (!prefill_fits(d, n_prompt, n_cached, n_prompt - 1, err, err_len)) return -1;
    double t0 = now_seconds();
    uint64_t bytes0 = weight_bytes(d->target);
    if (feed(d->target, d->target_seq, d->threads, prompt, n_cached, n_prompt, d->rows, err, err_len) < 0) return -1;
    d->stats.target_forwards_other += (n_prompt - n_cached + aion_ctx_n_batch(d->target) - 1) / aion_ctx_n_batch(d->target);
    d->stats.target_weight_bytes += weight_bytes(d->target) - bytes0;
    d->stats.t_prefill += now_seconds() - t0;
    prefill_adopt(d, prompt, n_prompt, d->rows, first);
    return 0;
}

int decoder_prefill_fed(decoder *d, const int32_t *prompt, int n_prompt, const float *last_logits, int32_t *first,
                        char *err, size_t err_len) {
    if (!prefill_fits(d, n_prompt, n_prompt, n_prompt, err, err_len)) return -1;
    prefill_adopt(d, prompt, n_prompt, last_logits, first);
    return 0;
}

int decoder_prefill(decoder *d, const int32_t *prompt, int n_prompt, int32_t *first, char *err, size_t err_len) {
    return decoder_prefill_cached(d, prompt, n_prompt, 0, first, err, err_len);
}

static void softmax_max(const float *logits, int n, float *top_prob) {
    float mx = logits[0];
    for (int i = 1; i < n; i++)
        if (logits[i] > mx) mx = logits[i];
    double sum = 0;
    for (int i = 0; i < n; i++) sum += exp(logits[i] - mx);
    *top_prob = (float)(1.0 / sum);
}

/* spec: the draft model catches up with the context, then guesses up to k tokens one by one. */
static int propose_spec(decoder *d, int k, int32_t *draft, char *err, size_t err_len) {
    double t0 = now_seconds();
    uint64_t bytes0 = weight_bytes(d->draft);
    int have = aion_kv_len(d->draft, d->draft_seq);
    int n_draft = 0;
    if (d->n_tokens >= aion_ctx_n_ctx(d->draft)) return 0; /* the draft's context is full: verify alone */
    if (feed(d->draft, d->draft_seq, d->threads, d->tokens, have, d->n_tokens, d->draft_logits, err, err_len) < 0)
        return -1;
    d->stats.draft_forwards++;
    int room = aion_ctx_n_ctx(d->draft) - d->n_tokens;
    while (n_draft < k) {
        float *q = d->q + (size_t)n_draft * d->n_vocab;
        if (d->cfg.draft_p_min > 0) {
            float top;
            softmax_max(d->draft_logits, d->n_vocab, &top);
            if (top < d->cfg.draft_p_min) break;
        }
        aion_sampler_dist(d->draft_sampler, d->draft_logits, q);
        draft[n_draft] = aion_sampler_draw(d->draft_sampler, q);
        n_draft++;
        if (n_draft == k || n_draft > room - 1) break;
        int32_t pos = d->n_tokens + n_draft - 1, seq = d->draft_seq;
        int8_t want = 1;
        aion_batch b = {1, &draft[n_draft - 1], &pos, &seq, &want};
        if (aion_forward(d->draft, d->threads, &b, d->draft_logits, err, err_len) < 0) return -1;
        d->stats.draft_forwards++;
    }
    d->stats.draft_weight_bytes += weight_bytes(d->draft) - bytes0;
    d->stats.t_draft += now_seconds() - t0;
    return n_draft;
}

static int propose(decoder *d, int k, bool pad, int32_t *draft, char *err, size_t err_len) {
    if (k <= 0 || d->cfg.strategy == DECODE_AR) return 0;
    if (d->cfg.strategy == DECODE_LOOKUP) {
        double t0 = now_seconds();
        int match_len;
        int n = lookup_propose(d->tokens, d->n_tokens, d->cfg.ngram_min, d->cfg.ngram_max, k, draft, &match_len);
        n = lookup_draft_len(match_len, d->cfg.ngram_max, n, pad ? d->cfg.buckets : NULL, d->cfg.n_buckets);
        for (int i = 0; i < n; i++) { /* q is a point mass on the copied token */
            float *q = d->q + (size_t)i * d->n_vocab;
            memset(q, 0, (size_t)d->n_vocab * sizeof *q);
            q[draft[i]] = 1.0f;
        }
        d->stats.t_draft += now_seconds() - t0;
        return n;
    }
    return propose_spec(d, k, draft, err, err_len);
}

/* The smallest bucket holding n tokens, or -1 when none does. */
static int bucket_index(const decode_config *cfg, int n) {
    for (int i = 0; i < cfg->n_buckets; i++)
        if (cfg->buckets[i] >= n) return i;
    return -1;
}

/* Accept or reject draft token x under target distribution p and draft distribution q. On
 * rejection, p is overwritten with the residual norm(max(0, p - q)) to draw the correction from. */
static bool accept_draft(decoder *d, float *p, const float *q, int32_t x) {
    if (d->cfg.accept_rule == DECODE_ACCEPT_NAIVE && p[x] > 0) return true;
    if (p[x] >= q[x] || aion_sampler_uniform(d->sampler) * q[x] < p[x]) return true;
    double sum = 0;
    for (int i = 0; i < d->n_vocab; i++) {
        float r = p[i] - q[i];
        p[i] = r > 0 ? r : 0;
        sum += p[i];
    }
    if (sum > 0)
        for (int i = 0; i < d->n_vocab; i++) p[i] = (float)(p[i] / sum);
    return false;
}

int decoder_step_prepare(decoder *d, bool pad, decode_round *r, char *err, size_t err_len) {
    d->round_open = false;
    int n_ctx = aion_ctx_n_ctx(d->target);
    int kv_len = d->n_tokens - 1;
    int room = n_ctx - kv_len; /* tokens the target may still take this round */
    if (room < 1) return 0;
    int k = d->cfg.strategy == DECODE_AR ? 0 : d->cfg.draft_max;
    if (k > room - 1) k = room - 1;
    int n_draft = propose(d, k, pad, d->round_draft, err, err_len);
    if (n_draft < 0) return -1;

    /* [pending, draft...], padded to its bucket when asked and room allows. */
    int n_verify = 1 + n_draft;
    int bi = bucket_index(&d->cfg, n_verify);
    int n_forward = pad && bi >= 0 && d->cfg.buckets[bi] <= room ? d->cfg.buckets[bi] : n_verify;
    if (n_forward > DECODE_ROUND_MAX) n_forward = n_verify;
    for (int i = 0; i < n_forward; i++) {
        r->tokens[i] = i == 0 ? d->tokens[kv_len] : d->round_draft[i - 1 < n_draft ? i - 1 : n_draft - 1];
        r->pos[i] = kv_len + i;
    }
    r->n_tokens = n_forward;
    r->n_logits = n_verify;
    d->round_n_draft = n_draft;
    d->round_open = true;
    return n_forward;
}

int decoder_step_finish(decoder *d, const float *rows, int32_t *out, char *err, size_t err_len) {
    if (!d->round_open) {
        set_err(err, err_len, "decoder_step_finish without an open round");
        return -1;
    }
    d->round_open = false;
    double t1 = now_seconds();
    int kv_len = d->n_tokens - 1, n_draft = d->round_n_draft;
    const int32_t *draft = d->round_draft;
    int n_accepted = 0;
    bool rejected = false;
    for (int i = 0; i < n_draft && !rejected; i++) {
        aion_sampler_dist(d->sampler, rows + (size_t)i * d->n_vocab, d->p);
        d->stats.drafted_at[i]++;
        if (accept_draft(d, d->p, d->q + (size_t)i * d->n_vocab, draft[i])) {
            out[n_accepted++] = draft[i];
            aion_sampler_accept(d->sampler, draft[i]);
            d->stats.accepted_at[i]++;
        } else {
            rejected = true; /* d->p now holds the residual distribution */
        }
    }
    if (!rejected) aion_sampler_dist(d->sampler, rows + (size_t)n_accepted * d->n_vocab, d->p);
    int32_t next = aion_sampler_draw(d->sampler, d->p);
    aion_sampler_accept(d->sampler, next);
    out[n_accepted] = next;

    /* Roll both caches back to the accepted context: pending + accepted drafts are now in the
     * target's cache; the new pending token is not. */
    aion_kv_truncate(d->target, d->target_seq, kv_len + 1 + n_accepted);
    if (d->draft) aion_kv_truncate(d->draft, d->draft_seq, kv_len + 1 + n_accepted);
    memcpy(d->tokens + d->n_tokens, out, (size_t)(n_accepted + 1) * sizeof *out);
    d->n_tokens += n_accepted + 1;
    d->stats.rounds++;
    d->stats.drafted += n_draft;
    d->stats.accepted += n_accepted;
    d->stats.n_generated += n_accepted + 1;
    d->stats.t_sample += now_seconds() - t1;
    return n_accepted + 1;
}

int decoder_step(decoder *d, int32_t *out, char *err, size_t err_len) {
    decode_round r;
    int n_forward = decoder_step_prepare(d, true, &r, err, err_len);
    if (n_forward <= 0) return n_forward;
    int32_t seqs[DECODE_ROUND_MAX];
    int8_t want[DECODE_ROUND_MAX];
    for (int i = 0; i < n_forward; i++) {
        seqs[i] = d->target_seq;
        want[i] = i < r.n_logits;
    }
    double t0 = now_seconds();
    uint64_t bytes0 = weight_bytes(d->target);
    aion_batch b = {n_forward, r.tokens, r.pos, seqs, want};
    if (aion_forward(d->target, d->threads, &b, d->rows, err, err_len) < 0) {
        d->round_open = false;
        return -1;
    }
    d->stats.target_weight_bytes += weight_bytes(d->target) - bytes0;
    int bi = bucket_index(&d->cfg, r.n_logits);
    if (n_forward == (bi >= 0 ? d->cfg.buckets[bi] : -1)) d->stats.target_forwards_at[bi]++;
    else d->stats.target_forwards_other++;
    d->stats.t_verify += now_seconds() - t0;
    return decoder_step_finish(d, d->rows, out, err, err_len);
}

/* Passes a round's tokens on; false when generation must stop. */
static bool deliver(decoder *d, const int32_t *toks, int n, int max_new, int *n_done, decode_token_fn on_token,
                    void *user) {
    const aion_model *m = aion_ctx_model(d->target);
    for (int i = 0; i < n; i++) {
        if (aion_token_is_eog(m, toks[i])) return false;
        ++*n_done;
        if (!on_token(user, toks[i]) || *n_done >= max_new) return false;
    }
    return true;
}

int decoder_generate_hooked(decoder *d, const int32_t *prompt, int n_prompt, int n_cached, int max_new,
                            decode_token_fn on_token, void *user, decode_round_fn on_round, void *round_user,
                            char *err, size_t err_len) {
    int n_done = 0;
    if (max_new <= 0) return 0;
    int32_t round[DECODE_MAX_DRAFT + 1];
    if (decoder_prefill_cached(d, prompt, n_prompt, n_cached, &round[0], err, err_len) < 0) return -1;
    int n_round = 1;
    while (deliver(d, round, n_round, max_new, &n_done, on_token, user)) {
        if (on_round) on_round(round_user, d);
        n_round = decoder_step(d, round, err, err_len);
        if (n_round < 0) return -1;
        if (n_round == 0) break; /* context full */
    }
    return n_done;
}

int decoder_generate(decoder *d, const int32_t *prompt, int n_prompt, int max_new, decode_token_fn on_token,
                     void *user, char *err, size_t err_len) {
    return decoder_generate_hooked(d, prompt, n_prompt, 0, max_new, on_token, user, NULL, NULL, err, err_len);
}
