/*
 * test_decode.c - the decoding strategies are lossless.
 *
 * Greedy: lookup and spec, at every draft length, produce exactly the tokens
 * of ar, on both architectures (tiny reference models; the trained default
 * family too when present). A rolled-back cache equals the cache of a run that
 * never saw the rejected tokens. The forward pass is batch-invariant (a token's
 * logits do not depend on what else is in its batch), which greedy equality
 * rests on. Sampling: the empirical distribution of the second generated token
 * under spec matches the exact one (chi-square), and a deliberately wrong
 * acceptance rule fails the same test.
 */
#include <math.h>
#include <string.h>

#include "check.h"
#include "decode/decode.h"
#include "model.h"

typedef struct pair {
    const char *target, *draft;
} pair;

static const pair PAIRS[] = {
    {"tests/data/ref/llama-f32.gguf", "tests/data/ref/llama-q8_0.gguf"},
    {"tests/data/ref/qwen2-f32.gguf", "tests/data/ref/qwen2-q4_0.gguf"},
    {"tests/data/ref/llama-q4_0.gguf", "tests/data/ref/llama-f16.gguf"},
    {"models/aio-large.gguf", "models/aio-small.gguf"},
};

typedef struct engine {
    aion_model *target, *draft;
    aion_ctx *tctx, *dctx;
    aion_threads *threads;
} engine;

static bool engine_open_kv(engine *e, const pair *p, int n_ctx, int kv_f16) {
    char err[512];
    memset(e, 0, sizeof *e);
    FILE *f = fopen(p->target, "rb");
    if (!f) return false;
    fclose(f);
    e->target = aion_model_load(p->target, err, sizeof err);
    e->draft = aion_model_load(p->draft, err, sizeof err);
    CHECK(e->target && e->draft, "load %s / %s: %s", p->target, p->draft, err);
    if (!e->target || !e->draft) return false;
    aion_ctx_params cp = {.n_seq = 2, .n_ctx = n_ctx, .n_batch = 32, .kv_f16 = kv_f16};
    e->tctx = aion_ctx_new(e->target, &cp, err, sizeof err);
    e->dctx = aion_ctx_new(e->draft, &cp, err, sizeof err);
    e->threads = aion_threads_new(2);
    return e->tctx && e->dctx && e->threads;
}

static bool engine_open(engine *e, const pair *p, int n_ctx) { return engine_open_kv(e, p, n_ctx, 0); }

static void engine_close(engine *e) {
    aion_ctx_free(e->tctx);
    aion_ctx_free(e->dctx);
    aion_model_free(e->target);
    aion_model_free(e->draft);
    aion_threads_free(e->threads);
}

static void reset(engine *e) {
    for (int s = 0; s < 2; s++) {
        aion_kv_truncate(e->tctx, s, 0);
        aion_kv_truncate(e->dctx, s, 0);
    }
}

/* Generates at least n_gen tokens (unless the context fills) with a strategy on slot 0; a last
 * round may overshoot, so out needs n_gen + DECODE_MAX_DRAFT + 1 entries. Returns how many. */
static int generate(engine *e, const decode_config *dc, const aion_sampler_params *sp, const int32_t *prompt,
                    int n_prompt, int n_gen, int32_t *out, decode_stats *stats) {
    reset(e);
    char err[256];
    aion_sampler *s = aion_sampler_new(sp, aion_n_vocab(e->target));
    decoder *d = decoder_new(dc, e->tctx, 0, e->dctx, 0, s, e->threads, err, sizeof err);
    CHECK(d != NULL, "decoder_new: %s", err);
    int n = 0;
    if (d && decoder_prefill(d, prompt, n_prompt, &out[0], err, sizeof err) == 0) {
        n = 1;
        int32_t round[DECODE_MAX_DRAFT + 1];
        while (n < n_gen) {
            int got = decoder_step(d, round, err, sizeof err);
            CHECK(got >= 0, "decoder_step: %s", err);
            if (got <= 0) break;
            for (int i = 0; i < got; i++) out[n++] = round[i];
        }
        if (stats) *stats = *decoder_stats(d);
    }
    decoder_free(d);
    aion_sampler_free(s);
    return n;
}

static uint64_t rng_state = 12345;
static int32_t rand_token(int32_t n_vocab) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (int32_t)((rng_state >> 33) % (uint64_t)(n_vocab - 3)) + 3;
}

/* Prompts: random ones, and repetitive ones where lookup finds n-grams. */
static int make_prompt(int which, int32_t n_vocab, int32_t *prompt) {
    int n = 10 + which % 5;
    prompt[0] = 1; /* BOS of the reference vocab */
    for (int i = 1; i < n; i++) prompt[i] = rand_token(n_vocab);
    if (which % 2) /* repeat the first half: a copy task */
        for (int i = n / 2; i < n; i++) prompt[i] = prompt[i - n / 2 + 1];
    return n;
}

static void test_greedy_lossless(engine *e, const char *name, int n_ctx, int n_prompts) {
    aion_sampler_params sp = aion_sampler_default_params();
    sp.temperature = 0;
    int32_t n_vocab = aion_n_vocab(e->target);
    static const int KS[] = {1, 2, 3, 4, 7, 15};
    int total_drafted[3] = {0}, total_accepted[3] = {0};
    for (int which = 0; which < n_prompts; which++) {
        int32_t prompt[32], ref[128], got[128];
        int n_prompt = make_prompt(which, n_vocab, prompt);
        int n_gen = n_ctx - n_prompt - 2;
        decode_config dc = decode_default_config();
        dc.strategy = DECODE_AR;
        int n_ref = generate(e, &dc, &sp, prompt, n_prompt, n_gen, ref, NULL);
        CHECK(n_ref == n_gen, "%s: ar generated %d of %d", name, n_ref, n_gen);
        n_ref = n_gen;
        for (int strategy = DECODE_LOOKUP; strategy <= DECODE_SPEC; strategy++)
            for (size_t ki = 0; ki < sizeof KS / sizeof *KS; ki++) {
                dc.strategy = strategy;
                dc.draft_max = KS[ki];
                decode_stats st;
                int n_got = generate(e, &dc, &sp, prompt, n_prompt, n_gen, got, &st);
                if (n_got > n_ref) n_got = n_ref;
                bool same = n_got == n_ref && memcmp(got, ref, (size_t)n_ref * sizeof *ref) == 0;
                int first_diff = 0;
                while (first_diff < n_got && first_diff < n_ref && got[first_diff] == ref[first_diff]) first_diff++;
                CHECK(same, "%s prompt %d: %s k=%d differs from ar at token %d (%d vs %d tokens)", name, which,
                      decode_strategy_name(strategy), KS[ki], first_diff, n_got, n_ref);
                total_drafted[strategy] += st.drafted;
                total_accepted[strategy] += st.accepted;
            }
    }
    printf("%s: lookup accepted %d/%d, spec accepted %d/%d\n", name, total_accepted[1], total_drafted[1],
           total_accepted[2], total_drafted[2]);
    CHECK(total_drafted[DECODE_LOOKUP] > 0, "%s: lookup never drafted", name);
    CHECK(total_drafted[DECODE_SPEC] > 0 && total_accepted[DECODE_SPEC] > 0, "%s: spec never accepted", name);
}

/* Logits of a token must not depend on its batch: prefill == token by token, bit for bit. */
static void test_batch_invariance(engine *e, const char *name) {
    int32_t n_vocab = aion_n_vocab(e->target);
    int32_t prompt[32], pos[32], seq[32];
    int8_t want[32];
    int n = make_prompt(3, n_vocab, prompt);
    float *batched = malloc((size_t)n * n_vocab * sizeof(float)), *single = malloc((size_t)n_vocab * sizeof(float));
    char err[256];
    reset(e);
    for (int i = 0; i < n; i++) {
        pos[i] = i;
        seq[i] = 0;
        want[i] = 1;
    }
    aion_batch b = {n, prompt, pos, seq, want};
    CHECK(aion_forward(e->tctx, e->threads, &b, batched, err, sizeof err) == n, "batched forward: %s", err);
    int mismatched = 0;
    for (int i = 0; i < n; i++) {
        seq[i] = 1;
        aion_batch one = {1, &prompt[i], &pos[i], &seq[i], want};
        aion_forward(e->tctx, e->threads, &one, single, err, sizeof err);
        if (memcmp(single, batched + (size_t)i * n_vocab, (size_t)n_vocab * sizeof(float)) != 0) mismatched++;
    }
    CHECK(mismatched == 0, "%s: %d of %d rows differ between batched and token-by-token forward", name, mismatched, n);
    free(batched);
    free(single);
}

static bool kv_equal(const aion_ctx *a, int sa, const aion_ctx *b, int sb, int len) {
    size_t bytes = model_kv_row_bytes(a);
    for (int il = 0; il < model_n_layer(a); il++)
        for (int h = 0; h < model_n_head_kv(a); h++)
            for (int p = 0; p < len; p++)
                if (memcmp(model_kv_key(a, sa, il, h, p), model_kv_key(b, sb, il, h, p), bytes) ||
                    memcmp(model_kv_value(a, sa, il, h, p), model_kv_value(b, sb, il, h, p), bytes))
                    return false;
    return true;
}

/* After spec decoding with rejections, both caches equal a clean feed of the accepted context. */
static void test_rollback(engine *e, const char *name) {
    aion_sampler_params sp = aion_sampler_default_params();
    sp.temperature = 0;
    int32_t prompt[32], out[128];
    decode_config dc = decode_default_config();
    dc.strategy = DECODE_SPEC;
    dc.draft_max = 7;
    decode_stats st;
    int n_prompt = 0, n_out = 0;
    for (int which = 0; which < 6; which++) { /* find a prompt whose decoding rejects a draft */
        n_prompt = make_prompt(which, aion_n_vocab(e->target), prompt);
        n_out = generate(e, &dc, &sp, prompt, n_prompt, 40, out, &st);
        if (st.drafted > st.accepted) break;
    }
    CHECK(st.drafted > st.accepted, "%s: no rejection happened, rollback not exercised", name);
    int t_len = aion_kv_len(e->tctx, 0), d_len = aion_kv_len(e->dctx, 0);
    CHECK(t_len == n_prompt + n_out - 1, "%s: target cache holds %d, context minus pending is %d", name, t_len,
          n_prompt + n_out - 1);
    CHECK(d_len <= t_len, "%s: draft cache (%d) ahead of the accepted context (%d)", name, d_len, t_len);
    /* clean feed of the same context into slot 1 */
    int32_t ctx_tokens[160], pos[160], seq[160];
    memcpy(ctx_tokens, prompt, (size_t)n_prompt * sizeof *prompt);
    memcpy(ctx_tokens + n_prompt, out, (size_t)n_out * sizeof *out);
    int n_feed = t_len > d_len ? t_len : d_len;
    for (int i = 0; i < n_feed; i++) {
        pos[i] = i;
        seq[i] = 1;
    }
    char err[256];
    for (int which = 0; which < 2; which++) {
        aion_ctx *c = which ? e->dctx : e->tctx;
        int len = which ? d_len : t_len;
        for (int b0 = 0; b0 < len; b0 += aion_ctx_n_batch(c)) {
            int n = len - b0 < aion_ctx_n_batch(c) ? len - b0 : aion_ctx_n_batch(c);
            aion_batch b = {n, ctx_tokens + b0, pos + b0, seq + b0, NULL};
            CHECK(aion_forward(c, e->threads, &b, NULL, err, sizeof err) >= 0, "clean feed: %s", err);
        }
        CHECK(kv_equal(c, 0, c, 1, len), "%s: %s cache after rollback differs from a clean run (%d positions)",
              name, which ? "draft" : "target", len);
    }
}

/* Exact distribution of the second generated token: sum over the first token. */
static void exact_second_token(engine *e, const aion_sampler_params *sp, const int32_t *prompt, int n_prompt,
                               double *p2) {
    int32_t n_vocab = aion_n_vocab(e->target);
    float *logits = malloc((size_t)n_vocab * sizeof(float)), *p1 = malloc((size_t)n_vocab * sizeof(float)),
          *pc = malloc((size_t)n_vocab * sizeof(float));
    aion_sampler *s = aion_sampler_new(sp, n_vocab);
    char err[256];
    int32_t pos[32];
    for (int i = 0; i < 32; i++) pos[i] = i;
    reset(e);
    aion_batch b = {n_prompt, prompt, pos, NULL, NULL};
    aion_forward(e->tctx, e->threads, &b, logits, err, sizeof err);
    aion_sampler_dist(s, logits, p1);
    memset(p2, 0, (size_t)n_vocab * sizeof *p2);
    for (int32_t t1 = 0; t1 < n_vocab; t1++) {
        if (p1[t1] == 0) continue;
        aion_kv_truncate(e->tctx, 0, n_prompt);
        aion_batch one = {1, &t1, &pos[n_prompt], NULL, NULL};
        aion_forward(e->tctx, e->threads, &one, logits, err, sizeof err);
        aion_sampler_dist(s, logits, pc);
        for (int32_t t2 = 0; t2 < n_vocab; t2++) p2[t2] += (double)p1[t1] * pc[t2];
    }
    aion_sampler_free(s);
    free(logits);
    free(p1);
    free(pc);
}

/* Pearson chi-square of counts against probabilities, pooling cells expected below 5. Returns
 * the statistic and writes the degrees of freedom. */
static double chi_square(const int *counts, const double *p, int n_cells, int n_samples, int *dof) {
    double stat = 0, pool_exp = 0, pool_obs = 0;
    int cells = 0;
    for (int i = 0; i < n_cells; i++) {
        double expected = p[i] * n_samples;
        if (expected < 5) {
            pool_exp += expected;
            pool_obs += counts[i];
            continue;
        }
        stat += (counts[i] - expected) * (counts[i] - expected) / expected;
        cells++;
    }
    if (pool_exp > 0) {
        stat += (pool_obs - pool_exp) * (pool_obs - pool_exp) / (pool_exp > 1e-9 ? pool_exp : 1e-9);
        cells++;
    }
    *dof = cells - 1;
    return stat;
}

/* Upper 0.1% point of chi-square (Wilson-Hilferty). */
static double chi_square_critical(int dof) {
    double z = 3.09, k = dof;
    double t = 1 - 2 / (9 * k) + z * sqrt(2 / (9 * k));
    return k * t * t * t;
}

static double sampled_chi_square(engine *e, int accept_rule, int strategy, const int32_t *prompt, int n_prompt,
                                 const aion_sampler_params *base, const double *p2, int n_samples, int *dof) {
    int32_t n_vocab = aion_n_vocab(e->target);
    int *counts = calloc((size_t)n_vocab, sizeof *counts);
    decode_config dc = decode_default_config();
    dc.strategy = strategy;
    dc.draft_max = 3;
    dc.accept_rule = accept_rule;
    for (int i = 0; i < n_samples; i++) {
        aion_sampler_params sp = *base;
        sp.seed = 1000 + (uint64_t)i;
        int32_t out[32];
        if (generate(e, &dc, &sp, prompt, n_prompt, 2, out, NULL) >= 2) counts[out[1]]++;
    }
    double stat = chi_square(counts, p2, n_vocab, n_samples, dof);
    free(counts);
    return stat;
}

static void test_sampling_distribution(engine *e, const char *name) {
    aion_sampler_params sp = aion_sampler_default_params();
    sp.temperature = 1.0f;
    sp.top_k = 0; /* full support: the naive rule then keeps every draft, and must be caught */
    sp.top_p = 1.0f;
    sp.min_p = 0.0f;
    int32_t n_vocab = aion_n_vocab(e->target);
    int32_t prompt[32];
    int n_prompt = make_prompt(2, n_vocab, prompt);
    double *p2 = malloc((size_t)n_vocab * sizeof *p2);
    exact_second_token(e, &sp, prompt, n_prompt, p2);
    const int n_samples = 4000;
    int dof;
    double ar = sampled_chi_square(e, DECODE_ACCEPT_EXACT, DECODE_AR, prompt, n_prompt, &sp, p2, n_samples, &dof);
    double crit = chi_square_critical(dof);
    CHECK(ar < crit, "%s: ar sampling chi2 %.1f >= %.1f (dof %d)", name, ar, crit, dof);
    double spec = sampled_chi_square(e, DECODE_ACCEPT_EXACT, DECODE_SPEC, prompt, n_prompt, &sp, p2, n_samples, &dof);
    crit = chi_square_critical(dof);
    CHECK(spec < crit, "%s: spec sampling chi2 %.1f >= %.1f (dof %d)", name, spec, crit, dof);
    double broken = sampled_chi_square(e, DECODE_ACCEPT_NAIVE, DECODE_SPEC, prompt, n_prompt, &sp, p2, n_samples, &dof);
    double crit_b = chi_square_critical(dof);
    CHECK(broken > crit_b, "%s: the naive acceptance rule was not caught (chi2 %.1f < %.1f)", name, broken, crit_b);
    printf("%s: chi2 ar %.1f, spec %.1f, naive rule %.1f (critical ~%.1f)\n", name, ar, spec, broken, crit);
    free(p2);
}

static void test_lookup_propose(void) {
    int32_t draft[8];
    int match;
    const int32_t ctx[] = {5, 6, 7, 8, 9, 5, 6, 7};
    int n = lookup_propose(ctx, 8, 1, 3, 4, draft, &match);
    /* the copy may run on into the suffix itself */
    CHECK(n == 4 && match == 3 && draft[0] == 8 && draft[1] == 9 && draft[2] == 5 && draft[3] == 6,
          "trigram 5 6 7 -> 8 9 5 6: n=%d match=%d", n, match);
    const int32_t none[] = {1, 2, 3, 4};
    CHECK(lookup_propose(none, 4, 1, 3, 4, draft, &match) == 0 && match == 0, "no repeated n-gram, no draft");
    const int32_t recent[] = {1, 2, 1, 3, 1};
    n = lookup_propose(recent, 5, 1, 2, 1, draft, &match);
    CHECK(n == 1 && draft[0] == 3 && match == 1, "most recent occurrence wins: got %d", n ? draft[0] : -1);
    const int32_t bigram[] = {1, 2, 3, 4, 5, 6, 9, 2, 3};
    n = lookup_propose(bigram, 9, 1, 4, 7, draft, &match);
    CHECK(n == 6 && match == 2 && draft[0] == 4 && draft[5] == 3, "bigram 2 3 -> 4 5 6 9 2 3: n=%d", n);
}

/* A short match drafts no more tokens than it matched, a match of ngram_max up to k; a padded
 * verification's bucket is then filled from the copy. */
static void test_lookup_draft_len(void) {
    const int buckets[] = {1, 2, 4, 8, 16};
    CHECK(lookup_draft_len(2, 4, 6, NULL, 0) == 2, "bigram, no padding: 2");
    CHECK(lookup_draft_len(2, 4, 6, buckets, 5) == 3, "bigram padded to 4 rows: 3 drafts");
    CHECK(lookup_draft_len(1, 4, 6, buckets, 5) == 1, "unigram: 1 (bucket 2 is full)");
    CHECK(lookup_draft_len(2, 4, 2, buckets, 5) == 2, "the fill stops where the copy ends");
    CHECK(lookup_draft_len(4, 4, 5, buckets, 5) == 5, "ngram_max: all 5 copied, filled toward 8 but no further");
    CHECK(lookup_draft_len(4, 4, 7, NULL, 0) == 7, "ngram_max, no padding: k");
    CHECK(lookup_draft_len(0, 4, 0, buckets, 5) == 0, "nothing copied, nothing drafted");
}

/* Feeds the same n tokens to slot `seq` in forwards of `step` tokens; the last token's logits. */
static bool feed(aion_ctx *c, aion_threads *t, int seq, const int32_t *tokens, int n, int step, float *last) {
    int32_t pos[32], sq[32];
    int8_t want[32];
    char err[256];
    aion_kv_truncate(c, seq, 0);
    for (int i0 = 0; i0 < n; i0 += step) {
        int m = n - i0 < step ? n - i0 : step;
        for (int i = 0; i < m; i++) pos[i] = i0 + i, sq[i] = seq, want[i] = i0 + i == n - 1;
        aion_batch b = {m, tokens + i0, pos, sq, want};
        if (aion_forward(c, t, &b, i0 + m == n ? last : NULL, err, sizeof err) < 0) {
            CHECK(false, "forward at %d: %s", i0, err);
            return false;
        }
    }
    return true;
}

/* An f16 KV cache: lossless decoding and batch invariance hold as with f32 (every query reads the
 * same rounded keys and values however it is batched), past the attention's 256-key chunks too,
 * and the logits stay close to those of the f32 cache without being equal to them. */
static void test_kv_f16(const pair *p) {
    engine e16, e32;
    enum { N_CTX = 320, N_LONG = 300 };
    bool ok16 = engine_open_kv(&e16, p, N_CTX, 1), ok32 = engine_open_kv(&e32, p, N_CTX, 0);
    if (ok16 && ok32) {
        char name[256];
        snprintf(name, sizeof name, "%s (f16 KV)", p->target);
        test_batch_invariance(&e16, name);
        test_greedy_lossless(&e16, name, 64, 2);
        test_rollback(&e16, name);
        int32_t n_vocab = aion_n_vocab(e16.target), tokens[N_LONG];
        for (int i = 0; i < N_LONG; i++) tokens[i] = rand_token(n_vocab);
        float *a = malloc((size_t)n_vocab * sizeof(float)), *b = malloc((size_t)n_vocab * sizeof(float));
        float *f32 = malloc((size_t)n_vocab * sizeof(float));
        if (feed(e16.tctx, e16.threads, 0, tokens, N_LONG, 32, a) && feed(e16.tctx, e16.threads, 1, tokens, N_LONG, 7, b) &&
            feed(e32.tctx, e32.threads, 0, tokens, N_LONG, 32, f32)) {
            CHECK(memcmp(a, b, (size_t)n_vocab * sizeof(float)) == 0, "%s: batches of 32 and of 7 differ at %d keys",
                  name, N_LONG);
            double max_diff = 0, max_abs = 0;
            for (int v = 0; v < n_vocab; v++) {
                max_diff = fmax(max_diff, fabs((double)a[v] - f32[v]));
                max_abs = fmax(max_abs, fabs((double)f32[v]));
            }
            printf("%s: logits at %d keys within %.3g of the f32 cache's (largest %.3g)\n", name, N_LONG, max_diff, max_abs);
            CHECK(max_diff > 0, "%s: the f16 cache gave the f32 cache's logits exactly: is it used?", name);
            CHECK(max_diff <= 0.02 * max_abs, "%s: f16 KV logits %.3g from f32 (largest %.3g)", name, max_diff, max_abs);
        }
        free(a);
        free(b);
        free(f32);
    }
    engine_close(&e16);
    engine_close(&e32);
}

int main(void) {
    test_lookup_propose();
    test_lookup_draft_len();
    int n_run = 0;
    for (size_t i = 0; i < sizeof PAIRS / sizeof *PAIRS; i++) {
        engine e;
        bool is_default = strstr(PAIRS[i].target, "models/") != NULL;
        int n_ctx = 64;
        if (!engine_open(&e, &PAIRS[i], n_ctx)) {
            if (e.target || !is_default) CHECK(!e.target, "could not open %s", PAIRS[i].target);
            engine_close(&e);
            continue;
        }
        n_run++;
        test_batch_invariance(&e, PAIRS[i].target);
        /* the default family is ~50 MB: fewer prompts keep the test quick under sanitizers */
        test_greedy_lossless(&e, PAIRS[i].target, n_ctx, is_default ? 2 : 6);
        test_rollback(&e, PAIRS[i].target);
        engine_close(&e);
    }
    /* Sampling: a draft from another model (same vocabulary) disagrees often, so rejections and
     * residual draws dominate and a wrong rule shows. */
    test_kv_f16(&PAIRS[2]);
    test_kv_f16(&PAIRS[3]);
    engine e;
    const pair far = {"tests/data/ref/llama-f32.gguf", "tests/data/ref/qwen2-f32.gguf"};
    if (engine_open(&e, &far, 64)) test_sampling_distribution(&e, "llama-f32 drafted by qwen2-f32");
    engine_close(&e);
    CHECK(n_run >= 3, "reference models missing (tests/data/ref)");
    return check_done();
}
