/*
 * cmd_eval.c - `aio eval`: accuracy and speed of one model on the task sets.
 *
 * Each task's prompt is decoded greedily until the end of the first line (the
 * answer format of every category); math and qa are exact-match on the
 * answer, code on the next line. Chat has no exact answer: its score is the
 * perplexity of the reference continuation. Any strategy can run the decoding,
 * and since they are lossless the accuracy does not change with it: only the
 * tokens per second do.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/tasks.h"
#include "cli.h"
#include "common.h"
#include "decode/decode.h"

static const char *const CATEGORIES[] = {"code", "math", "qa", "chat"};
#define N_CATEGORIES 4
#define CHAT_SCORED_CHARS 240

typedef struct eval_opts {
    const char *model_path, *draft_path, *tasks_dir;
    int limit, max_new, n_threads;
    bool json;
    decode_config dc;
} eval_opts;

typedef struct category_result {
    int n_tasks, n_correct;
    int n_generated;
    double decode_seconds;
    uint64_t weight_bytes;
    double nll;      /* chat: summed negative log-likelihood of the reference */
    long n_scored;   /* chat: tokens scored */
    int drafted, accepted;
} category_result;

typedef struct evaluator {
    aion_threads *threads;
    aion_model *model, *draft;
    aion_ctx *ctx, *draft_ctx;
    int32_t *ids;
    float *logits;
    int n_ctx;
} evaluator;

static void eval_free(evaluator *e) {
    aion_ctx_free(e->ctx);
    aion_ctx_free(e->draft_ctx);
    aion_model_free(e->model);
    aion_model_free(e->draft);
    aion_threads_free(e->threads);
    free(e->ids);
    free(e->logits);
}

static int eval_open(evaluator *e, const eval_opts *o) {
    char err[512], buf[4096];
    const char *path = o->model_path ? o->model_path : default_model_path("aio-large", buf, sizeof buf);
    if (!path) return fprintf(stderr, "error: no model (-m) and no embedded default found\n"), -1;
    e->model = aion_model_load(path, err, sizeof err);
    if (!e->model) return fprintf(stderr, "error: %s\n", err), -1;
    aion_model_info info;
    aion_model_get_info(e->model, &info);
    e->n_ctx = info.n_ctx_train;
    aion_ctx_params cp = {.n_seq = 1, .n_ctx = e->n_ctx, .n_batch = 512};
    e->ctx = aion_ctx_new(e->model, &cp, err, sizeof err);
    if (!e->ctx) return fprintf(stderr, "error: %s\n", err), -1;
    if (o->dc.strategy == DECODE_SPEC) {
        const char *dpath = o->draft_path ? o->draft_path : default_model_path("aio-small", buf, sizeof buf);
        e->draft = dpath ? aion_model_load(dpath, err, sizeof err) : NULL;
        if (!e->draft) return fprintf(stderr, "error: draft: %s\n", dpath ? err : "not found"), -1;
        e->draft_ctx = aion_ctx_new(e->draft, &cp, err, sizeof err);
        if (!e->draft_ctx) return fprintf(stderr, "error: %s\n", err), -1;
    }
    e->threads = aion_threads_new(o->n_threads);
    e->ids = malloc((size_t)(e->n_ctx + 1) * sizeof *e->ids);
    e->logits = malloc((size_t)e->n_ctx * aion_n_vocab(e->model) * sizeof(float));
    return e->ids && e->logits && e->threads ? 0 : -1;
}

/* Tokenizes text keeping at most max_tokens: the BOS and the end (the part nearest the answer). */
static int tokenize_tail(evaluator *e, const char *text, size_t len, int max_tokens) {
    int n = aion_tokenize(e->model, text, len, aion_add_bos_default(e->model), false, NULL, 0);
    if (n <= 0) return n;
    int32_t *all = malloc((size_t)n * sizeof *all);
    if (!all) return -1;
    aion_tokenize(e->model, text, len, aion_add_bos_default(e->model), false, all, n);
    int keep = n < max_tokens ? n : max_tokens;
    bool bos = aion_add_bos_default(e->model);
    if (keep < n && bos) {
        e->ids[0] = all[0];
        memcpy(e->ids + 1, all + n - (keep - 1), (size_t)(keep - 1) * sizeof *all);
    } else {
        memcpy(e->ids, all + n - keep, (size_t)keep * sizeof *all);
    }
    free(all);
    return keep;
}

static int run_exact(evaluator *e, const eval_opts *o, const task *t, category_result *r) {
    char err[512];
    int n_prompt = tokenize_tail(e, t->prompt, strlen(t->prompt), e->n_ctx - o->max_new - 1);
    if (n_prompt <= 0) return fprintf(stderr, "error: cannot tokenize task %s\n", t->id), -1;
    aion_kv_truncate(e->ctx, 0, 0);
    if (e->draft_ctx) aion_kv_truncate(e->draft_ctx, 0, 0);
    aion_sampler_params sp = aion_sampler_default_params();
    sp.temperature = 0;
    aion_sampler *s = aion_sampler_new(&sp, aion_n_vocab(e->model));
    decoder *d = decoder_new(&o->dc, e->ctx, 0, e->draft_ctx, 0, s, e->threads, err, sizeof err);
    answer_sink sink;
    answer_sink_init(&sink, e->model, true);
    aion_ctx_reset_stats(e->ctx);
    double t0 = now_seconds();
    int n = d ? decoder_generate(d, e->ids, n_prompt, o->max_new, answer_sink_push, &sink, err, sizeof err) : -1;
    double elapsed = now_seconds() - t0;
    if (n >= 0) {
        const decode_stats *st = decoder_stats(d);
        r->n_tasks++;
        r->n_correct += task_answer_matches(t, sink.text);
        r->n_generated += n;
        r->decode_seconds += elapsed - st->t_prefill;
        r->weight_bytes += st->target_weight_bytes + st->draft_weight_bytes;
        r->drafted += st->drafted;
        r->accepted += st->accepted;
    } else {
        fprintf(stderr, "error: task %s: %s\n", t->id, err);
    }
    answer_sink_free(&sink);
    decoder_free(d);
    aion_sampler_free(s);
    return n < 0 ? -1 : 0;
}

static double log_prob(const float *logits, int n_vocab, int32_t target) {
    float mx = logits[0];
    for (int i = 1; i < n_vocab; i++)
        if (logits[i] > mx) mx = logits[i];
    double sum = 0;
    for (int i = 0; i < n_vocab; i++) sum += exp((double)logits[i] - mx);
    return logits[target] - mx - log(sum);
}

/* Chat: likelihood of the first CHAT_SCORED_CHARS of the reference continuation. */
static int run_likelihood(evaluator *e, const task *t, category_result *r) {
    size_t p_len = strlen(t->prompt), a_len = strlen(t->answer);
    if (a_len > CHAT_SCORED_CHARS) a_len = CHAT_SCORED_CHARS;
    char *text = malloc(p_len + a_len + 1);
    memcpy(text, t->prompt, p_len);
    memcpy(text + p_len, t->answer, a_len);
    text[p_len + a_len] = 0;
    bool bos = aion_add_bos_default(e->model);
    int n_prompt = aion_tokenize(e->model, t->prompt, p_len, bos, false, NULL, 0);
    int n_answer = aion_tokenize(e->model, text, p_len + a_len, bos, false, NULL, 0) - n_prompt;
    int n_all = tokenize_tail(e, text, p_len + a_len, e->n_ctx);
    free(text);
    int start = n_all - n_answer; /* first answer token; approximate where the seam merges tokens */
    if (start < 1) start = 1;
    int32_t *pos = malloc((size_t)n_all * sizeof *pos);
    int8_t *want = malloc((size_t)n_all);
    for (int i = 0; i < n_all; i++) {
        pos[i] = i;
        want[i] = i >= start - 1 && i < n_all - 1;
    }
    char err[512];
    aion_kv_truncate(e->ctx, 0, 0);
    int rows = 0, rc = 0;
    for (int b0 = 0; b0 < n_all && rc == 0; b0 += 512) {
        int n = n_all - b0 < 512 ? n_all - b0 : 512;
        aion_batch b = {n, e->ids + b0, pos + b0, NULL, want + b0};
        int got = aion_forward(e->ctx, e->threads, &b, e->logits + (size_t)rows * aion_n_vocab(e->model), err, sizeof err);
        if (got < 0) rc = -1;
        else rows += got;
    }
    for (int j = 0; rc == 0 && j < rows; j++)
        r->nll -= log_prob(e->logits + (size_t)j * aion_n_vocab(e->model), aion_n_vocab(e->model), e->ids[start + j]);
    r->n_scored += rows;
    r->n_tasks++;
    free(pos);
    free(want);
    if (rc < 0) fprintf(stderr, "error: task %s: %s\n", t->id, err);
    return rc;
}

static int parse_eval_args(int argc, char **argv, eval_opts *o) {
    *o = (eval_opts){.tasks_dir = NULL, .limit = 0, .max_new = 48};
    o->dc = decode_default_config();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *s;
        bool ok = true;
        if (opt_is(a, "-m", "--model")) ok = opt_str(argc, argv, &i, &o->model_path);
        else if (opt_is(a, NULL, "--draft")) ok = opt_str(argc, argv, &i, &o->draft_path);
        else if (opt_is(a, NULL, "--tasks")) ok = opt_str(argc, argv, &i, &o->tasks_dir);
        else if (opt_is(a, NULL, "--limit")) ok = opt_int(argc, argv, &i, &o->limit);
        else if (opt_is(a, "-n", "--max-new")) ok = opt_int(argc, argv, &i, &o->max_new);
        else if (opt_is(a, "-t", "--threads")) ok = opt_int(argc, argv, &i, &o->n_threads);
        else if (opt_is(a, NULL, "--draft-max")) ok = opt_int(argc, argv, &i, &o->dc.draft_max);
        else if (opt_is(a, NULL, "--json")) o->json = true;
        else if (opt_is(a, NULL, "--strategy")) {
            ok = opt_str(argc, argv, &i, &s) && (o->dc.strategy = decode_strategy_from_name(s)) >= 0;
        } else ok = false;
        if (!ok) {
            fprintf(stderr, "usage: aio eval [-m MODEL] [--tasks DIR] [--limit N] [-n MAX_NEW] [-t N] "
                            "[--strategy ar|lookup|spec [--draft MODEL] [--draft-max K]] [--json]\n");
            return 2;
        }
    }
    if (o->max_new < 1) o->max_new = 1;
    return 0;
}

static void print_results(const eval_opts *o, const evaluator *e, const category_result *res) {
    aion_model_info info;
    aion_model_get_info(e->model, &info);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "model", info.path);
    cJSON_AddStringToObject(j, "strategy", decode_strategy_name(o->dc.strategy));
    cJSON *cats = cJSON_AddObjectToObject(j, "categories");
    if (!o->json) printf("| category | tasks | accuracy | chat ppl | tok/s | MB read/token | accepted |\n|---|---|---|---|---|---|---|\n");
    int total = 0, correct = 0;
    for (int c = 0; c < N_CATEGORIES; c++) {
        const category_result *r = &res[c];
        if (!r->n_tasks) continue;
        cJSON *cj = cJSON_AddObjectToObject(cats, CATEGORIES[c]);
        cJSON_AddNumberToObject(cj, "tasks", r->n_tasks);
        double tps = r->decode_seconds > 0 ? r->n_generated / r->decode_seconds : 0;
        double mb = r->n_generated ? r->weight_bytes / 1e6 / r->n_generated : 0;
        double ppl = r->n_scored ? exp(r->nll / r->n_scored) : 0;
        if (r->n_scored) cJSON_AddNumberToObject(cj, "perplexity", ppl);
        else {
            cJSON_AddNumberToObject(cj, "accuracy", (double)r->n_correct / r->n_tasks);
            cJSON_AddNumberToObject(cj, "tokens_per_second", tps);
            cJSON_AddNumberToObject(cj, "weight_mb_per_token", mb);
            cJSON_AddNumberToObject(cj, "acceptance", r->drafted ? (double)r->accepted / r->drafted : 0);
            total += r->n_tasks;
            correct += r->n_correct;
        }
        if (o->json) continue;
        if (r->n_scored) printf("| %s | %d | - | %.2f | - | - | - |\n", CATEGORIES[c], r->n_tasks, ppl);
        else
            printf("| %s | %d | %.3f | - | %.1f | %.2f | %d/%d |\n", CATEGORIES[c], r->n_tasks,
                   (double)r->n_correct / r->n_tasks, tps, mb, r->accepted, r->drafted);
    }
    cJSON_AddNumberToObject(j, "overall_accuracy", total ? (double)correct / total : 0);
    if (o->json) {
        char *s = cJSON_PrintUnformatted(j);
        printf("%s\n", s);
        free(s);
    } else {
        printf("\noverall exact-match accuracy: %.3f over %d tasks (%s, %s)\n", total ? (double)correct / total : 0,
               total, info.path, decode_strategy_name(o->dc.strategy));
    }
    cJSON_Delete(j);
}

int cmd_eval(int argc, char **argv) {
    eval_opts o;
    int rc = parse_eval_args(argc, argv, &o);
    if (rc) return rc;
    char dir_buf[4096];
    if (!o.tasks_dir) {
        const char *m = default_model_path("aio-large", dir_buf, sizeof dir_buf);
        /* the task sets live beside the models: <root>/bench/tasks */
        if (m) {
            char *slash = strrchr(dir_buf, '/');
            if (slash) *slash = 0;
            strncat(dir_buf, "/../bench/tasks", sizeof dir_buf - strlen(dir_buf) - 1);
            o.tasks_dir = dir_buf;
        } else {
            o.tasks_dir = "bench/tasks";
        }
    }
    evaluator e = {0};
    if (eval_open(&e, &o) < 0) return eval_free(&e), 1;
    category_result res[N_CATEGORIES] = {0};
    for (int c = 0; c < N_CATEGORIES && rc == 0; c++) {
        char path[4200], err[512];
        snprintf(path, sizeof path, "%s/%s.jsonl", o.tasks_dir, CATEGORIES[c]);
        task_set ts;
        if (task_set_load(&ts, path, o.limit, err, sizeof err) < 0) {
            fprintf(stderr, "error: %s\n", err);
            rc = 1;
            break;
        }
        for (int i = 0; i < ts.n_tasks && rc == 0; i++) {
            const task *t = &ts.tasks[i];
            rc = task_is_exact(t) ? run_exact(&e, &o, t, &res[c]) : run_likelihood(&e, t, &res[c]);
            progress(CATEGORIES[c], (uint64_t)i + 1, (uint64_t)ts.n_tasks);
        }
        task_set_free(&ts);
    }
    if (rc == 0) print_results(&o, &e, res);
    eval_free(&e);
    return rc ? 1 : 0;
}
