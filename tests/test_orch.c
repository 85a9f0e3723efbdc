/*
 * test_orch.c - orchestration: policy validation and routing, the cost model,
 * calibration profiles, and that a routed request returns exactly what its
 * model returns with ar (greedy), whatever strategy the orchestrator picks.
 * With the embedded family present it also checks the probe on labelled
 * prompts and auto routing end to end.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bench/tasks.h"
#include "check.h"
#include "orch/calibrate.h"
#include "orch/orch.h"
#include "orch/probe.h"

static const char *const POOL[] = {"small", "large"};

static const char *GOOD_POLICY =
    "{\"probe\": {\"model\": \"small\", \"format\": \"suffix\"}, \"min_confidence\": 0.6,"
    " \"long_prompt_tokens\": 100, \"routes\": {\"code\": {\"model\": \"small\", \"strategies\": [\"lookup\"]},"
    " \"qa\": {\"model\": \"large\", \"strategies\": [\"ar\", \"spec\"]}},"
    " \"fallback\": {\"model\": \"large\", \"strategies\": [\"lookup\", \"spec\"]},"
    " \"priors\": {\"code\": {\"lookup\": [0.5, 0.3]}}}";

static void test_policy(void) {
    policy p;
    char err[512];
    CHECK(policy_parse(&p, GOOD_POLICY, "good.json", POOL, 2, err, sizeof err) == 0, "valid policy: %s", err);
    CHECK(p.n_categories == 2 && p.long_prompt_tokens == 100, "categories and numbers read");
    CHECK(p.probe_window == 0 && policy_probe_window(&p, 1000) == 0, "the probe reads the whole prompt unless a window is given");
    p.probe_window = 32;
    CHECK(policy_probe_window(&p, 100) == 0 && policy_probe_window(&p, 101) == 32,
          "the window applies to prompts past the length rule only");
    CHECK(p.routes[0].strategies == ((1u << DECODE_AR) | (1u << DECODE_LOOKUP)), "ar is always allowed");
    CHECK(p.lookup_prior[0].n_positions == 2, "prior read");
    const char *reason;
    CHECK(strcmp(policy_decide(&p, 0, 0.9f, 10, &reason)->model, "small") == 0, "code -> small");
    CHECK(strcmp(policy_decide(&p, 1, 0.9f, 10, &reason)->model, "large") == 0, "qa -> large");
    CHECK(policy_decide(&p, 0, 0.3f, 10, &reason) == &p.fallback && strcmp(reason, "low confidence") == 0,
          "low confidence -> fallback");
    CHECK(policy_decide(&p, 0, 0.9f, 500, &reason) == &p.fallback && strcmp(reason, "long prompt") == 0,
          "long prompt -> fallback");

    struct { const char *text, *expect; } bad[] = {
        {"{", "not a JSON object"},
        {"{\"probe\": {\"model\": \"medium\"}, \"routes\": {}}", "unknown model 'medium'"},
        {"{\"probe\": {\"model\": \"small\"}, \"routes\": {\"a\": {\"model\": \"small\", \"strategies\": [\"fast\"]},"
         " \"b\": {\"model\": \"small\"}}, \"fallback\": {\"model\": \"small\"}}", "unknown strategy 'fast'"},
        {"{\"probe\": {\"model\": \"small\"}, \"min_confidence\": \"high\", \"routes\": {}}", "min_confidence"},
        {"{\"probe\": {\"model\": \"small\", \"window\": -3}, \"routes\": {}}", "window"},
        {"{\"probe\": {\"model\": \"small\"}, \"routes\": {\"a\": {\"model\": \"small\"}, \"b\": {\"model\": \"large\"}},"
         " \"fallback\": {\"model\": \"small\"}, \"priors\": {\"a\": {\"spec\": [0.2, 0.5]}}}", "non-increasing"},
        {"{\"probe\": {\"model\": \"small\"}, \"routes\": {\"a\": {\"model\": \"small\"}, \"b\": {\"model\": \"large\"}}}",
         "fallback"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = 0;
        int rc = policy_parse(&p, bad[i].text, "bad.json", POOL, 2, err, sizeof err);
        CHECK(rc < 0 && strstr(err, bad[i].expect) && strstr(err, "bad.json"), "bad policy %zu: '%s' lacks '%s'", i,
              err, bad[i].expect);
    }
}

static void test_cost_model(void) {
    cost_curve target = {.n_sizes = 3, .sizes = {1, 4, 8}, .n_ctx = 2, .ctx = {1, 500},
                         .seconds = {{1e-3, 1.2e-3, 1.5e-3}, {1.2e-3, 1.4e-3, 1.8e-3}}};
    cost_curve draft = {.n_sizes = 3, .sizes = {1, 4, 8}, .n_ctx = 1, .ctx = {1}, .seconds = {{0.2e-3, 0.25e-3, 0.3e-3}}};
    CHECK_NEAR(cost_forward_seconds(&target, 1, 1), 1e-3, 1e-12, "exact point");
    CHECK_NEAR(cost_forward_seconds(&target, 2, 1), 1e-3 + 0.2e-3 / 3, 1e-12, "interpolated size");
    CHECK_NEAR(cost_forward_seconds(&target, 1, 250), 1e-3 + 0.2e-3 * 249.0 / 499, 1e-9, "interpolated context");
    accept_profile acc = {.n_positions = 3, .prefix = {0.8, 0.6, 0.4}, .draft_rate = 1};
    CHECK_NEAR(cost_expected_tokens(&acc, 3), 2.8, 1e-12, "E = 1 + sum of prefix probabilities");
    CHECK_NEAR(cost_accept_prefix(&acc, 3), 0.4 * (0.4 / 0.6), 1e-12, "geometric continuation");
    decode_config dc = decode_default_config();
    cost_option o = cost_estimate(DECODE_SPEC, 3, &target, &draft, &acc, 1, &dc);
    CHECK(o.bucket == 4, "k=3 verifies in bucket 4 (got %d)", o.bucket);
    CHECK_NEAR(o.round_seconds, 1.2e-3 + cost_forward_seconds(&draft, 2, 1) + 2 * 0.2e-3, 1e-12, "round time");
    accept_profile none = {.n_positions = 3, .prefix = {0, 0, 0}, .draft_rate = 1};
    unsigned all = 7;
    CHECK(cost_choose(all, &target, &draft, &none, &none, 1, &dc).strategy == DECODE_AR, "no acceptance -> ar");
    CHECK(cost_choose(all, &target, &draft, &none, &acc, 1, &dc).strategy == DECODE_SPEC, "high acceptance -> spec");
    CHECK(cost_choose(1u << DECODE_AR, &target, &draft, &acc, &acc, 1, &dc).strategy == DECODE_AR,
          "only what the policy allows");
    decode_stats st = {.rounds = 10, .drafted_at = {10, 10}, .accepted_at = {5, 2}};
    accept_profile learned = {0};
    cost_accept_update(&learned, &st, 1.0);
    CHECK_NEAR(learned.prefix[0], 0.5, 1e-12, "prefix from stats");
    CHECK_NEAR(learned.prefix[1], 0.2, 1e-12, "second position");
}

static void test_calibration(void) {
    char err[512], profile[] = "/tmp/aion-test-profile-XXXXXX";
    int fd = mkstemp(profile);
    close(fd);
    unlink(profile);
    const char *model_path = "tests/data/ref/llama-q8_0.gguf";
    aion_model *m = aion_model_load(model_path, err, sizeof err);
    CHECK(m != NULL, "load: %s", err);
    if (!m) return;
    aion_threads *t = aion_threads_new(2);
    decode_config dc = decode_default_config();
    cost_curve c, back;
    CHECK(calib_measure(m, t, &dc, false, 3, &c, err, sizeof err) == 0, "measure: %s", err);
    CHECK(c.n_sizes == 5 && c.n_ctx >= 2, "every bucket (%d) at several contexts (%d)", c.n_sizes, c.n_ctx);
    CHECK(calib_load(profile, model_path, false, &back, err, sizeof err) == 1, "absent profile -> 1");
    CHECK(calib_save(profile, model_path, false, &c, err, sizeof err) == 0, "save: %s", err);
    CHECK(calib_load(profile, model_path, false, &back, err, sizeof err) == 0 &&
              memcmp(&back.sizes, &c.sizes, sizeof c.sizes) == 0,
          "round trip");
    CHECK_NEAR(back.seconds[1][2], c.seconds[1][2], 1e-9, "times survive the round trip");
    CHECK(calib_load(profile, "tests/data/ref/llama-f32.gguf", false, &back, err, sizeof err) == 1, "other model -> stale");
    /* an f16 cache has curves of its own, beside the f32 ones in the same profile */
    CHECK(calib_load(profile, model_path, true, &back, err, sizeof err) == 1, "f16 KV not measured yet -> 1");
    cost_curve c16;
    CHECK(calib_measure(m, t, &dc, true, 3, &c16, err, sizeof err) == 0, "measure with f16 KV: %s", err);
    CHECK(c16.n_sizes == c.n_sizes && c16.n_ctx == c.n_ctx, "the same grid for either cache");
    c16.seconds[0][0] = c.seconds[0][0] * 3; /* tells the two entries apart whatever the timings */
    CHECK(calib_save(profile, model_path, true, &c16, err, sizeof err) == 0, "save f16: %s", err);
    /* (cJSON keeps 15 significant digits when they read back within its epsilon) */
    CHECK(calib_load(profile, model_path, true, &back, err, sizeof err) == 0, "load f16: %s", err);
    CHECK_NEAR(back.seconds[0][0], c16.seconds[0][0], 1e-12, "the f16 entry reads back as saved");
    CHECK(calib_load(profile, model_path, false, &back, err, sizeof err) == 0, "load f32: %s", err);
    CHECK_NEAR(back.seconds[0][0], c.seconds[0][0], 1e-12, "and the f32 entry is still its own");
    FILE *f = fopen(profile, "w");
    fputs("{\"models\": {", f);
    fclose(f);
    CHECK(calib_load(profile, model_path, false, &back, err, sizeof err) == -1 && strstr(err, "corrupt"), "corrupt: %s",
          err);
    bool measured = false;
    CHECK(calib_get(profile, m, model_path, false, t, &dc, &back, &measured, err, sizeof err) == 0 && measured,
          "a corrupt profile is re-measured");
    CHECK(calib_load(profile, model_path, false, &back, err, sizeof err) == 0, "and rewritten");
    measured = false;
    CHECK(calib_get(profile, m, model_path, true, t, &dc, &back, &measured, err, sizeof err) == 0 && measured,
          "a cache type missing from the profile is measured");
    CHECK(calib_get(profile, m, model_path, true, t, &dc, &back, &measured, err, sizeof err) == 0 && !measured,
          "and found the next time");
    unlink(profile);
    aion_threads_free(t);
    aion_model_free(m);
}

typedef struct collect {
    int32_t ids[256];
    int n;
} collect;

static bool collect_token(void *user, int32_t tok) {
    collect *c = user;
    if (c->n < 256) c->ids[c->n++] = tok;
    return true;
}

/* A pinned model with each strategy (and the cost model's own choice) gives ar's tokens. */
static void test_routed_equals_ar(void) {
    char err[512], policy_path[] = "/tmp/aion-test-policy-XXXXXX", profile[] = "/tmp/aion-test-profile2-XXXXXX";
    int fd = mkstemp(policy_path);
    const char *pol = "{\"probe\": {\"model\": \"ref-llama-q8_0\"}, \"routes\": {\"a\": {\"model\": \"ref-llama-q8_0\"},"
                      " \"b\": {\"model\": \"ref-llama-f32\"}}, \"fallback\": {\"model\": \"ref-llama-f32\","
                      " \"strategies\": [\"lookup\", \"spec\"]}, \"revisit_rounds\": 2,"
                      " \"priors\": {\"a\": {\"spec\": [0.9, 0.8, 0.7]}, \"b\": {\"spec\": [0.9, 0.8, 0.7]}}}";
    (void)!write(fd, pol, strlen(pol));
    close(fd);
    fd = mkstemp(profile);
    close(fd);
    unlink(profile);
    aion_threads *t = aion_threads_new(2);
    orch_params op = {.model_paths = {"tests/data/ref/llama-q8_0.gguf", "tests/data/ref/llama-f32.gguf"},
                      .n_models = 2, .policy_path = policy_path, .profile_path = profile, .threads = t};
    orch *o = orch_new(&op, err, sizeof err);
    CHECK(o != NULL, "orch_new: %s", err);
    if (o) {
        CHECK(orch_find_model(o, "ref-llama-f32") == 1, "members are named by general.name");
        aion_sampler_params sp = aion_sampler_default_params();
        sp.temperature = 0;
        int32_t prompt[12] = {1, 40, 41, 42, 43, 40, 41, 42, 43, 44, 45, 40};
        collect ref = {0};
        orch_request ar = {.pin_model = "ref-llama-f32", .pin_strategy = DECODE_AR};
        orch_report rep;
        int n_ref = orch_generate(o, &ar, prompt, 12, &sp, 40, collect_token, &ref, &rep, err, sizeof err);
        CHECK(n_ref > 5, "ar: %d tokens before EOS (%s)", n_ref, err);
        for (int s = -1; s <= DECODE_SPEC; s++) {
            collect got = {0};
            orch_request req = {.pin_model = s < 0 ? "auto" : "ref-llama-f32", .pin_strategy = s, .pin_draft_max = 3};
            int n = orch_generate(o, &req, prompt, 12, &sp, 40, collect_token, &got, &rep, err, sizeof err);
            CHECK(n == n_ref && memcmp(got.ids, ref.ids, sizeof(int32_t) * (size_t)n_ref) == 0,
                  "routed request (%s, phases %s) differs from ar", s < 0 ? "auto" : decode_strategy_name(s), rep.phases);
            if (s < 0) CHECK(strcmp(rep.model, "ref-llama-f32") == 0 && strcmp(rep.reason, "no category") == 0,
                             "no probe -> fallback route (%s, %s)", rep.model, rep.reason);
        }
        orch_free(o);
    }
    op.mem_budget = 1024; /* bytes: far too small */
    o = orch_new(&op, err, sizeof err);
    CHECK(!o && strstr(err, "memory budget"), "a pool over budget is refused: %s", err);
    orch_free(o);
    unlink(policy_path);
    unlink(profile);
    aion_threads_free(t);
}

/* The embedded family: the probe labels held-out prompts, and auto routing follows the policy. */
typedef struct markup_seen {
    const int32_t *markup;
    int n_markup, hits, n_tokens;
} markup_seen;

static bool count_markup(void *user, int32_t token) {
    markup_seen *ms = user;
    ms->n_tokens++;
    for (int i = 0; i < ms->n_markup; i++) ms->hits += token == ms->markup[i];
    return true;
}

/* The probe's framing tokens are never text: unbanned, both models answer a bare code line
 * with "<label><chat>"; generation (any strategy) must leave them out. */
static void test_markup_never_generated(aion_model *small, aion_ctx *ctx, aion_threads *t) {
    int32_t markup[AION_MAX_MARKUP];
    int n_markup = aion_markup_tokens(small, markup, AION_MAX_MARKUP);
    CHECK(n_markup == 6, "the default family names 6 markup tokens (<probe>, <label>, 4 categories): %d", n_markup);
    const char *prompts[] = {"def fibonacci(n):", "Q: 4+3=? A:", "The"};
    for (int strategy = DECODE_AR; strategy <= DECODE_LOOKUP; strategy++)
        for (size_t i = 0; i < 3; i++) {
            char err[256];
            int32_t ids[64];
            int n = aion_tokenize(small, prompts[i], strlen(prompts[i]), true, false, ids, 64);
            aion_sampler_params sp = aion_sampler_default_params();
            sp.temperature = i == 2 ? 1.0f : 0.0f; /* greedy, and sampling from the full distribution */
            sp.top_k = 0, sp.top_p = 1.0f, sp.min_p = 0.0f;
            aion_sampler *s = aion_sampler_new(&sp, aion_n_vocab(small));
            decode_config dc = decode_default_config();
            dc.strategy = strategy;
            aion_kv_truncate(ctx, 0, 0);
            decoder *d = decoder_new(&dc, ctx, 0, NULL, 0, s, t, err, sizeof err);
            markup_seen ms = {markup, n_markup, 0, 0};
            int got = d ? decoder_generate(d, ids, n, 40, count_markup, &ms, err, sizeof err) : -1;
            CHECK(got > 0 && ms.hits == 0, "'%s' (%s): %d markup tokens among %d generated", prompts[i],
                  decode_strategy_name(strategy), ms.hits, ms.n_tokens);
            decoder_free(d);
            aion_sampler_free(s);
        }
    aion_kv_truncate(ctx, 0, 0);
}

static void test_embedded_probe(void) {
    if (access("models/aio-small.gguf", R_OK) != 0) {
        printf("models/aio-small.gguf absent: probe test skipped\n");
        return;
    }
    char err[512];
    aion_model *m = aion_model_load("models/aio-small.gguf", err, sizeof err);
    const char *labels[] = {"code", "math", "qa", "chat"};
    probe *p = m ? probe_new(m, labels, 4, PROBE_SUFFIX, err, sizeof err) : NULL;
    CHECK(p != NULL, "probe: %s", err);
    aion_ctx_params cp = {.n_seq = 1, .n_ctx = 512, .n_batch = 512};
    aion_ctx *ctx = p ? aion_ctx_new(m, &cp, err, sizeof err) : NULL;
    aion_threads *t = aion_threads_new(2);
    int total = 0, right = 0, right_windowed = 0;
    for (int c = 0; ctx && c < 4; c++) {
        char path[64];
        snprintf(path, sizeof path, "bench/tasks/%s.jsonl", labels[c]);
        task_set ts;
        if (task_set_load(&ts, path, 10, err, sizeof err) < 0) continue;
        for (int i = 0; i < ts.n_tasks; i++) {
            int32_t ids[600];
            int n = aion_tokenize(m, ts.tasks[i].prompt, strlen(ts.tasks[i].prompt), true, false, ids, 600);
            if (n > 500 || n <= 0) continue;
            probe_result r;
            aion_kv_truncate(ctx, 0, 0);
            if (probe_classify(p, ctx, 0, t, ids, n, &r, err, sizeof err) == 0) {
                total++;
                right += r.category == c;
                CHECK(aion_kv_len(ctx, 0) == n - 1 && r.cached_tokens == n - 1, "the prompt stays cached for serving");
                CHECK(r.tokens_read == n && r.prompt_seconds > 0 && r.prompt_seconds <= r.seconds,
                      "a whole-prompt probe reads %d of %d tokens", r.tokens_read, n);
            }
            /* a 48-token window: BOS + the prompt's tail, nothing left cached */
            probe_set_window(p, 48);
            aion_kv_truncate(ctx, 0, 0);
            if (probe_classify(p, ctx, 0, t, ids, n, &r, err, sizeof err) == 0) {
                right_windowed += r.category == c;
                CHECK(r.tokens_read == (n > 48 ? 48 : n), "windowed probe read %d of %d tokens", r.tokens_read, n);
                CHECK(n <= 48 ? r.cached_tokens == n - 1 : r.cached_tokens == 0 && aion_kv_len(ctx, 0) == 0,
                      "a windowed probe of a long prompt leaves nothing cached");
            }
            probe_set_window(p, 0);
        }
        task_set_free(&ts);
    }
    printf("probe: %d of %d held-out prompts labelled right (%d with a 48-token window)\n", right, total,
           right_windowed);
    if (ctx) test_markup_never_generated(m, ctx, t);
    CHECK(total >= 30 && right >= 0.9 * total, "probe accuracy %d/%d below 90%%", right, total);
    CHECK(right_windowed >= 0.85 * total, "windowed probe accuracy %d/%d below 85%%", right_windowed, total);
    aion_ctx_free(ctx);
    aion_threads_free(t);
    probe_free(p);
    aion_model_free(m);
}

int main(void) {
    if (access("tests/data/ref/llama-f32.gguf", R_OK) != 0) SKIP("tests/data/ref missing");
    test_policy();
    test_cost_model();
    test_calibration();
    test_routed_equals_ar();
    test_embedded_probe();
    return check_done();
}
