/*
 * cmd_run.c - `aio run`: one prompt, one generation, figures of what it cost.
 *
 * Streams text to stdout as it is decoded (whole UTF-8 characters only) and
 * reports on stderr, or as one JSON object with --json: load time, prefill and
 * decode speed, and the decoder's own statistics (strategy, drafts accepted per
 * position, forwards per bucket, weight bytes read, time split).
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "common.h"
#include "decode/decode.h"
#include "orch/orch.h"

typedef struct run_opts {
    const char *model_path, *draft_path, *prompt, *prompt_file;
    const char *pool_model, *policy_path, *profile_path; /* orchestrated runs (no -m) */
    bool strategy_given;
    uint64_t mem_budget_mb;
    int n_predict, n_threads, n_ctx, kv_f16;
    bool json, no_bos, parse_special;
    aion_sampler_params sp;
    decode_config dc;
} run_opts;

static void run_usage(void) {
    fprintf(stderr,
            "usage: aio run [-m MODEL.gguf | --model auto|NAME] [-p PROMPT | -f FILE | PROMPT] [options]\n"
            "  --model auto|NAME  without -m: the embedded family; auto = probe + policy + cost model\n"
            "                     (default), NAME pins a pool member (aio-small, aio-large);\n"
            "                     --model FILE.gguf is -m FILE.gguf\n"
            "  --policy FILE --profile FILE --mem-budget MIB   orchestration inputs\n"
            "  -n N               tokens to generate (default 128)\n"
            "  -t N               threads (default: all cores)\n"
            "  -c N               context size (default: the model's)\n"
            "  --kv T             KV cache type: f32 (default) | f16 (half the memory; attention reads half)\n"
            "  --temp T           temperature, 0 = greedy (default 0.8)\n"
            "  --top-k K --top-p P --min-p P --repeat-penalty R --repeat-last-n N\n"
            "  --seed S           random seed (same seed, same output)\n"
            "  --strategy S       ar | lookup | spec (default ar)\n"
            "  --draft MODEL      draft model for spec (default: the embedded small model)\n"
            "  --draft-max K      most drafted tokens per round (default 7)\n"
            "  --draft-p-min P    spec: stop drafting below this draft probability\n"
            "  --ngram-min N --ngram-max N   lookup n-gram sizes (default 1..4)\n"
            "  --no-bos           do not add BOS; --special: parse special tokens in the prompt\n"
            "  --json             print one JSON object (text, ids, figures) instead of streaming\n");
}

/* --model names a pool member (auto, aio-small, ...) or, as llama.cpp users type it, a file. */
static bool model_arg(const char *value, run_opts *o) {
    size_t len = strlen(value);
    if (len > 5 && strcmp(value + len - 5, ".gguf") == 0) o->model_path = value;
    else o->pool_model = value;
    return true;
}

/* Returns 0 ok, 2 usage error. */
static int parse_run_args(int argc, char **argv, run_opts *o) {
    *o = (run_opts){.n_predict = 128, .n_threads = 0};
    o->sp = aion_sampler_default_params();
    o->dc = decode_default_config();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *s;
        bool ok = true;
        if (opt_is(a, "-h", "--help")) return run_usage(), 2;
        else if (opt_is(a, "-m", NULL)) ok = opt_str(argc, argv, &i, &o->model_path);
        else if (opt_is(a, NULL, "--model")) ok = opt_str(argc, argv, &i, &s) && model_arg(s, o);
        else if (opt_is(a, "-p", "--prompt")) ok = opt_str(argc, argv, &i, &o->prompt);
        else if (opt_is(a, "-f", "--file")) ok = opt_str(argc, argv, &i, &o->prompt_file);
        else if (opt_is(a, "-n", "--n-predict")) ok = opt_int(argc, argv, &i, &o->n_predict);
        else if (opt_is(a, "-t", "--threads")) ok = opt_int(argc, argv, &i, &o->n_threads);
        else if (opt_is(a, "-c", "--ctx-size")) ok = opt_int(argc, argv, &i, &o->n_ctx);
        else if (opt_is(a, NULL, "--kv")) ok = opt_kv(argc, argv, &i, &o->kv_f16);
        else if (opt_is(a, NULL, "--temp")) ok = opt_float(argc, argv, &i, &o->sp.temperature);
        else if (opt_is(a, NULL, "--top-k")) ok = opt_int(argc, argv, &i, &o->sp.top_k);
        else if (opt_is(a, NULL, "--top-p")) ok = opt_float(argc, argv, &i, &o->sp.top_p);
        else if (opt_is(a, NULL, "--min-p")) ok = opt_float(argc, argv, &i, &o->sp.min_p);
        else if (opt_is(a, NULL, "--repeat-penalty")) ok = opt_float(argc, argv, &i, &o->sp.repeat_penalty);
        else if (opt_is(a, NULL, "--repeat-last-n")) ok = opt_int(argc, argv, &i, &o->sp.repeat_last_n);
        else if (opt_is(a, "-s", "--seed")) ok = opt_u64(argc, argv, &i, &o->sp.seed);
        else if (opt_is(a, NULL, "--policy")) ok = opt_str(argc, argv, &i, &o->policy_path);
        else if (opt_is(a, NULL, "--profile")) ok = opt_str(argc, argv, &i, &o->profile_path);
        else if (opt_is(a, NULL, "--mem-budget")) ok = opt_u64(argc, argv, &i, &o->mem_budget_mb);
        else if (opt_is(a, NULL, "--draft")) ok = opt_str(argc, argv, &i, &o->draft_path);
        else if (opt_is(a, NULL, "--draft-max")) ok = opt_int(argc, argv, &i, &o->dc.draft_max);
        else if (opt_is(a, NULL, "--draft-p-min")) ok = opt_float(argc, argv, &i, &o->dc.draft_p_min);
        else if (opt_is(a, NULL, "--ngram-min")) ok = opt_int(argc, argv, &i, &o->dc.ngram_min);
        else if (opt_is(a, NULL, "--ngram-max")) ok = opt_int(argc, argv, &i, &o->dc.ngram_max);
        else if (opt_is(a, NULL, "--json")) o->json = true;
        else if (opt_is(a, NULL, "--no-bos")) o->no_bos = true;
        else if (opt_is(a, NULL, "--special")) o->parse_special = true;
        else if (opt_is(a, NULL, "--strategy")) {
            ok = opt_str(argc, argv, &i, &s);
            o->strategy_given = true;
            if (ok && (o->dc.strategy = decode_strategy_from_name(s)) < 0) {
                fprintf(stderr, "error: unknown strategy '%s' (ar, lookup, spec)\n", s);
                return 2;
            }
        } else if (a[0] != '-' && !o->prompt) o->prompt = a;
        else {
            fprintf(stderr, "error: unknown option '%s'\n", a);
            run_usage();
            return 2;
        }
        if (!ok) return 2;
    }
    if (o->n_predict < 0 || o->dc.ngram_min < 1 || o->dc.ngram_max < o->dc.ngram_min || o->dc.draft_max < 0) {
        fprintf(stderr, "error: -n, --draft-max must be >= 0 and 1 <= --ngram-min <= --ngram-max\n");
        return 2;
    }
    if (!o->prompt && !o->prompt_file) {
        fprintf(stderr, "error: no prompt (-p TEXT, -f FILE or a positional argument)\n");
        run_usage();
        return 2;
    }
    return 0;
}

/* Everything one run holds; released by run_free whatever state it got to. */
typedef struct run_state {
    aion_threads *threads;
    aion_model *model, *draft_model;
    aion_ctx *ctx, *draft_ctx;
    aion_sampler *sampler;
    decoder *dec;
    aion_detok *detok;
    int32_t *prompt_ids, *out_ids;
    char *prompt_buf;
    char *text;
    size_t text_len, text_cap;
} run_state;

static void run_free(run_state *r) {
    decoder_free(r->dec);
    aion_sampler_free(r->sampler);
    aion_ctx_free(r->ctx);
    aion_ctx_free(r->draft_ctx);
    aion_model_free(r->model);
    aion_model_free(r->draft_model);
    aion_threads_free(r->threads);
    aion_detok_free(r->detok);
    free(r->prompt_ids);
    free(r->out_ids);
    free(r->prompt_buf);
    free(r->text);
}

static void append_text(run_state *r, const char *s, size_t n) {
    if (r->text_len + n + 1 > r->text_cap) {
        size_t cap = (r->text_len + n + 1) * 2;
        char *t = realloc(r->text, cap);
        if (!t) return;
        r->text = t;
        r->text_cap = cap;
    }
    memcpy(r->text + r->text_len, s, n);
    r->text_len += n;
    r->text[r->text_len] = 0;
}

static aion_model *load_model(const char *path, const char *fallback_name, const char *role) {
    char buf[4096], err[512];
    if (!path) {
        path = default_model_path(fallback_name, buf, sizeof buf);
        if (!path) {
            fprintf(stderr, "error: no %s model given (-m) and the embedded %s.gguf was not found "
                            "(set AION_MODELS to the models/ folder)\n", role, fallback_name);
            return NULL;
        }
    }
    aion_model *m = aion_model_load_ex(path, load_progress, "loading", err, sizeof err);
    if (!m) fprintf(stderr, "error: %s\n", err);
    return m;
}

static int tokenize_prompt(run_state *r, const run_opts *o, int *n_prompt) {
    const char *text = o->prompt;
    size_t len = text ? strlen(text) : 0;
    if (o->prompt_file) {
        r->prompt_buf = read_text_file(o->prompt_file, &len);
        if (!r->prompt_buf) return -1;
        text = r->prompt_buf;
    }
    bool bos = !o->no_bos && aion_add_bos_default(r->model);
    int n = aion_tokenize(r->model, text, len, bos, o->parse_special, NULL, 0);
    if (n < 0) {
        fprintf(stderr, "error: the model has no tokenizer\n");
        return -1;
    }
    r->prompt_ids = malloc((size_t)(n > 0 ? n : 1) * sizeof *r->prompt_ids);
    if (!r->prompt_ids) return -1;
    aion_tokenize(r->model, text, len, bos, o->parse_special, r->prompt_ids, n);
    *n_prompt = n;
    return 0;
}

static cJSON *stats_json(const decode_stats *st, const decode_config *dc) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "rounds", st->rounds);
    cJSON_AddNumberToObject(j, "drafted", st->drafted);
    cJSON_AddNumberToObject(j, "accepted", st->accepted);
    cJSON_AddNumberToObject(j, "acceptance_rate", st->drafted ? (double)st->accepted / st->drafted : 0);
    cJSON *per = cJSON_AddArrayToObject(j, "acceptance_per_position");
    for (int i = 0; i < DECODE_MAX_DRAFT && st->drafted_at[i]; i++)
        cJSON_AddItemToArray(per, cJSON_CreateNumber((double)st->accepted_at[i] / st->drafted_at[i]));
    cJSON *fw = cJSON_AddObjectToObject(j, "target_forwards_per_bucket");
    for (int i = 0; i < dc->n_buckets; i++) {
        char key[16];
        snprintf(key, sizeof key, "%d", dc->buckets[i]);
        cJSON_AddNumberToObject(fw, key, st->target_forwards_at[i]);
    }
    cJSON_AddNumberToObject(fw, "other", st->target_forwards_other);
    cJSON_AddNumberToObject(j, "draft_forwards", st->draft_forwards);
    cJSON_AddNumberToObject(j, "target_weight_bytes", (double)st->target_weight_bytes);
    cJSON_AddNumberToObject(j, "draft_weight_bytes", (double)st->draft_weight_bytes);
    cJSON *t = cJSON_AddObjectToObject(j, "seconds");
    cJSON_AddNumberToObject(t, "prefill", st->t_prefill);
    cJSON_AddNumberToObject(t, "draft", st->t_draft);
    cJSON_AddNumberToObject(t, "verify", st->t_verify);
    cJSON_AddNumberToObject(t, "sample", st->t_sample);
    return j;
}

static void report(const run_state *r, const run_opts *o, int n_prompt, int n_out, double t_load, double t_decode) {
    const decode_stats *st = decoder_stats(r->dec);
    double prefill_tps = st->t_prefill > 0 ? n_prompt / st->t_prefill : 0;
    double decode_tps = t_decode > 0 && n_out > 1 ? (n_out - 1) / t_decode : 0;
    uint64_t bytes = st->target_weight_bytes + st->draft_weight_bytes;
    if (!o->json) {
        fprintf(stderr, "\n\nload: %.3f s | prompt: %d tokens, %.1f tok/s | generated: %d tokens, %.1f tok/s | "
                        "strategy %s, accepted %d/%d | weights read %.1f MB\n",
                t_load, n_prompt, prefill_tps, n_out, decode_tps, decode_strategy_name(decoder_strategy(r->dec)),
                st->accepted, st->drafted, bytes / 1e6);
        return;
    }
    cJSON *j = cJSON_CreateObject();
    aion_model_info info;
    aion_model_get_info(r->model, &info);
    cJSON_AddStringToObject(j, "model", info.path);
    cJSON_AddStringToObject(j, "strategy", decode_strategy_name(decoder_strategy(r->dec)));
    cJSON_AddStringToObject(j, "text", r->text ? r->text : "");
    cJSON *ids = cJSON_AddArrayToObject(j, "tokens");
    for (int i = 0; i < n_out; i++) cJSON_AddItemToArray(ids, cJSON_CreateNumber(r->out_ids[i]));
    cJSON_AddNumberToObject(j, "load_seconds", t_load);
    cJSON_AddNumberToObject(j, "prompt_tokens", n_prompt);
    cJSON_AddNumberToObject(j, "prefill_tokens_per_second", prefill_tps);
    cJSON_AddNumberToObject(j, "generated_tokens", n_out);
    cJSON_AddNumberToObject(j, "decode_seconds", t_decode);
    cJSON_AddNumberToObject(j, "decode_tokens_per_second", decode_tps);
    cJSON_AddNumberToObject(j, "weight_bytes_read", (double)bytes);
    cJSON_AddNumberToObject(j, "weight_bytes_per_token", n_out ? (double)bytes / n_out : 0);
    cJSON_AddItemToObject(j, "decode", stats_json(st, &o->dc));
    char *s = cJSON_PrintUnformatted(j);
    printf("%s\n", s);
    free(s);
    cJSON_Delete(j);
}

static void emit(run_state *r, const run_opts *o, int32_t tok) {
    size_t n;
    const char *s = aion_detok_push(r->detok, tok, &n);
    if (!s || !n) return;
    append_text(r, s, n);
    if (!o->json) {
        fwrite(s, 1, n, stdout);
        fflush(stdout);
    }
}

static int setup(run_state *r, const run_opts *o, int n_prompt_max_ctx) {
    char err[512];
    aion_ctx_params cp = aion_ctx_default_params();
    cp.n_ctx = n_prompt_max_ctx;
    cp.kv_f16 = o->kv_f16;
    r->ctx = aion_ctx_new(r->model, &cp, err, sizeof err);
    if (!r->ctx) return fprintf(stderr, "error: %s\n", err), -1;
    if (o->dc.strategy == DECODE_SPEC) {
        r->draft_model = load_model(o->draft_path, "aio-small", "draft");
        if (!r->draft_model) return -1;
        r->draft_ctx = aion_ctx_new(r->draft_model, &cp, err, sizeof err);
        if (!r->draft_ctx) return fprintf(stderr, "error: %s\n", err), -1;
    }
    r->sampler = aion_sampler_new(&o->sp, aion_n_vocab(r->model));
    r->dec = decoder_new(&o->dc, r->ctx, 0, r->draft_ctx, 0, r->sampler, r->threads, err, sizeof err);
    if (!r->sampler || !r->dec) return fprintf(stderr, "error: %s\n", r->dec ? "out of memory" : err), -1;
    r->detok = aion_detok_new(r->model);
    r->out_ids = malloc((size_t)(o->n_predict + DECODE_MAX_DRAFT + 2) * sizeof *r->out_ids);
    return r->detok && r->out_ids ? 0 : -1;
}

/* ---- orchestrated runs: the embedded family, probe + policy + cost model ---- */

typedef struct orch_sink {
    aion_detok *detok;
    const run_opts *o;
    char *text;
    size_t len, cap;
    int32_t *ids;
    int n_ids;
} orch_sink;

static bool orch_on_token(void *user, int32_t tok) {
    orch_sink *k = user;
    k->ids[k->n_ids++] = tok;
    size_t n;
    const char *s = aion_detok_push(k->detok, tok, &n);
    if (!s || !n) return true;
    if (k->len + n + 1 > k->cap) {
        char *grown = realloc(k->text, k->cap = (k->len + n + 1) * 2);
        if (!grown) return false;
        k->text = grown;
    }
    memcpy(k->text + k->len, s, n);
    k->len += n;
    k->text[k->len] = 0;
    if (!k->o->json) {
        fwrite(s, 1, n, stdout);
        fflush(stdout);
    }
    return true;
}

static void orch_report_out(const run_opts *o, const orch_sink *k, const orch_report *rep, double t_load) {
    const decode_stats *st = &rep->stats;
    double decode_s = rep->total_seconds - rep->probe_seconds - st->t_prefill;
    double tps = decode_s > 0 && rep->n_generated > 1 ? (rep->n_generated - 1) / decode_s : 0;
    uint64_t bytes = st->target_weight_bytes + st->draft_weight_bytes;
    if (!o->json) {
        fprintf(stderr, "\n\nload: %.3f s | probe: %s (%.2f) %.1f ms | routed to %s (%s) | strategy %s | prompt: %d tokens"
                        " (%d reused) | generated: %d tokens, %.1f tok/s | accepted %d/%d | weights read %.1f MB\n",
                t_load, rep->category, rep->confidence, rep->probe_seconds * 1e3, rep->model, rep->reason, rep->phases,
                rep->n_prompt, rep->prompt_tokens_reused, rep->n_generated, tps, st->accepted, st->drafted, bytes / 1e6);
        return;
    }
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "model", rep->model);
    cJSON_AddStringToObject(j, "route_reason", rep->reason);
    cJSON_AddStringToObject(j, "category", rep->category);
    cJSON_AddNumberToObject(j, "confidence", rep->confidence);
    cJSON_AddStringToObject(j, "strategy", decode_strategy_name(rep->first_strategy));
    cJSON_AddStringToObject(j, "strategy_phases", rep->phases);
    cJSON_AddNumberToObject(j, "strategy_switches", rep->n_switches);
    cJSON_AddStringToObject(j, "text", k->text ? k->text : "");
    cJSON *ids = cJSON_AddArrayToObject(j, "tokens");
    for (int i = 0; i < k->n_ids; i++) cJSON_AddItemToArray(ids, cJSON_CreateNumber(k->ids[i]));
    cJSON_AddNumberToObject(j, "load_seconds", t_load);
    cJSON_AddNumberToObject(j, "probe_ms", rep->probe_seconds * 1e3);
    cJSON_AddNumberToObject(j, "probe_overhead_ms", rep->probe_overhead_seconds * 1e3);
    cJSON_AddNumberToObject(j, "route_ms", rep->route_seconds * 1e3);
    cJSON_AddNumberToObject(j, "switch_ms", rep->switch_seconds * 1e3);
    cJSON_AddNumberToObject(j, "prompt_tokens", rep->n_prompt);
    cJSON_AddNumberToObject(j, "prompt_tokens_reused", rep->prompt_tokens_reused);
    cJSON_AddNumberToObject(j, "prefill_tokens_per_second", st->t_prefill > 0 ? rep->n_prompt / st->t_prefill : 0);
    cJSON_AddNumberToObject(j, "generated_tokens", rep->n_generated);
    cJSON_AddNumberToObject(j, "decode_tokens_per_second", tps);
    cJSON_AddNumberToObject(j, "total_seconds", rep->total_seconds);
    cJSON_AddNumberToObject(j, "weight_bytes_read", (double)bytes);
    cJSON_AddNumberToObject(j, "weight_bytes_per_token", rep->n_generated ? (double)bytes / rep->n_generated : 0);
    cJSON_AddItemToObject(j, "decode", stats_json(st, &o->dc));
    char *s = cJSON_PrintUnformatted(j);
    printf("%s\n", s);
    free(s);
    cJSON_Delete(j);
}

static int run_orchestrated(const run_opts *o) {
    char small[4096], large[4096], err[512];
    orch_params op = {.policy_path = o->policy_path, .profile_path = o->profile_path,
                      .mem_budget = o->mem_budget_mb << 20, .kv_f16 = o->kv_f16};
    if (!default_model_path("aio-small", small, sizeof small) || !default_model_path("aio-large", large, sizeof large)) {
        fprintf(stderr, "error: the embedded model family (models/aio-small.gguf, models/aio-large.gguf) was not "
                        "found; give a model with -m or set AION_MODELS\n");
        return 1;
    }
    op.model_paths[0] = small;
    op.model_paths[1] = large;
    op.n_models = 2;
    double t0 = now_seconds();
    op.threads = aion_threads_new(o->n_threads);
    orch *orc = orch_new(&op, err, sizeof err);
    if (!orc) {
        fprintf(stderr, "error: %s\n", err);
        aion_threads_free(op.threads);
        return 1;
    }
    double t_load = now_seconds() - t0;
    const aion_model *m = orch_model(orc, 0);
    run_state r = {0};
    int rc = 1;
    /* tokenize_prompt needs a model in run_state: lend the pool's (it is not freed through r) */
    r.model = (aion_model *)m;
    int n_prompt = 0;
    if (tokenize_prompt(&r, o, &n_prompt) == 0) {
        orch_sink k = {aion_detok_new(m), o, NULL, 0, 0, malloc((size_t)(o->n_predict + 1) * sizeof(int32_t)), 0};
        orch_request req = {.pin_model = o->pool_model, .pin_strategy = o->strategy_given ? o->dc.strategy : -1,
                            .pin_draft_max = o->dc.draft_max, .use_probe = false};
        orch_report rep;
        int n = k.detok && k.ids ? orch_generate(orc, &req, r.prompt_ids, n_prompt, &o->sp, o->n_predict, orch_on_token,
                                                 &k, &rep, err, sizeof err)
                                 : -1;
        if (n < 0) {
            fprintf(stderr, "error: %s\n", err);
        } else {
            size_t rest_len;
            const char *rest = aion_detok_flush(k.detok, &rest_len);
            if (rest && rest_len && !o->json) fwrite(rest, 1, rest_len, stdout);
            orch_report_out(o, &k, &rep, t_load);
            rc = 0;
        }
        aion_detok_free(k.detok);
        free(k.text);
        free(k.ids);
    }
    r.model = NULL;
    run_free(&r);
    orch_free(orc);
    aion_threads_free(op.threads);
    return rc;
}

typedef struct run_sink {
    run_state *r;
    const run_opts *o;
    int n_out;
} run_sink;

static bool on_token(void *user, int32_t tok) {
    run_sink *k = user;
    k->r->out_ids[k->n_out++] = tok;
    emit(k->r, k->o, tok);
    return true;
}

int cmd_run(int argc, char **argv) {
    run_opts o;
    int rc = parse_run_args(argc, argv, &o);
    if (rc) return rc;
    if (!o.model_path) return run_orchestrated(&o);
    run_state r = {0};
    double t0 = now_seconds();
    r.threads = aion_threads_new(o.n_threads);
    r.model = load_model(o.model_path, "aio-large", "serving");
    int n_prompt = 0;
    if (!r.model || tokenize_prompt(&r, &o, &n_prompt) < 0) return run_free(&r), 1;
    aion_model_info info;
    aion_model_get_info(r.model, &info);
    int n_ctx = o.n_ctx > 0 ? o.n_ctx : info.n_ctx_train;
    if (n_prompt >= n_ctx) {
        fprintf(stderr, "error: the prompt has %d tokens; the context holds %d (use -c to change it)\n", n_prompt, n_ctx);
        return run_free(&r), 1;
    }
    if (setup(&r, &o, n_ctx) < 0) return run_free(&r), 1;
    double t_load = now_seconds() - t0;

    char err[512];
    run_sink sink = {&r, &o, 0};
    double t_decode0 = now_seconds(), t_end;
    int n_out = decoder_generate(r.dec, r.prompt_ids, n_prompt, o.n_predict, on_token, &sink, err, sizeof err);
    if (n_out < 0) {
        fprintf(stderr, "error: %s\n", err);
        return run_free(&r), 1;
    }
    t_decode0 += decoder_stats(r.dec)->t_prefill; /* decode speed excludes the prompt */
    t_end = now_seconds();
    size_t n;
    const char *rest = r.detok ? aion_detok_flush(r.detok, &n) : NULL;
    if (rest && n) {
        append_text(&r, rest, n);
        if (!o.json) fwrite(rest, 1, n, stdout);
    }
    report(&r, &o, n_prompt, n_out, t_load, n_out > 0 ? t_end - t_decode0 : 0);
    run_free(&r);
    return 0;
}
