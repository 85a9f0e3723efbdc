/*
 * cmd_bench_mixed.c - `aio bench mixed`: the A-IO claim, measured in one run.
 *
 * A mixed workload drawn from the task sets (a documented, seeded mix of
 * categories) is served by six configurations: static small, static large,
 * large+lookup, large+spec(small), the A-IO paper's policy (probe routing,
 * lookup switched on statically for qa and math, long prompts to the large
 * model) and A-IO's full policy (probe, policy, cost model, revisits). For each:
 * output tokens per second end to end (probe, prefill and decode included),
 * accuracy per category and overall, weight bytes read per output token, and
 * the probe's share of the time and its overhead (the part serving did not
 * reuse: a probe prefill the small model then serves or drafts from is not
 * overhead). A markdown table, JSON, a per-request trace
 * and a plot of accuracy against throughput (the Pareto picture).
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/tasks.h"
#include "common.h"
#include "orch/orch.h"
#include "util.h"

#define N_CATS 4
static const char *const CATS[N_CATS] = {"code", "math", "qa", "chat"};
/* The mix: shares of the workload per category (documented in bench/README.md). */
static const double MIX[N_CATS] = {0.30, 0.25, 0.25, 0.20};

typedef struct config {
    const char *name;
    const char *pin_model; /* NULL: auto */
    int pin_strategy;      /* -1: the orchestrator decides */
    int draft_max;
    bool paper;            /* the paper's policy file and static strategy */
} config;

static const config CONFIGS[] = {
    {"static-small", "aio-small", DECODE_AR, 0, false},
    {"static-large", "aio-large", DECODE_AR, 0, false},
    {"large+lookup", "aio-large", DECODE_LOOKUP, 7, false},
    {"large+spec", "aio-large", DECODE_SPEC, 3, false},
    {"paper-policy", NULL, -1, 0, true},
    {"aio-policy", NULL, -1, 0, false},
};
#define N_CONFIGS (int)(sizeof CONFIGS / sizeof *CONFIGS)

typedef struct workload {
    const task *items[1024];
    int n_items;
    task_set sets[N_CATS];
} workload;

typedef struct result {
    int n[N_CATS], correct[N_CATS];
    long generated;
    double seconds, probe_seconds, probe_overhead_seconds;
    double weight_bytes;
    int drafted, accepted;
    int routed_small;
} result;


static int build_workload(workload *w, const char *dir, int n_total, uint64_t seed) {
    char err[512];
    memset(w, 0, sizeof *w);
    for (int c = 0; c < N_CATS; c++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s.jsonl", dir, CATS[c]);
        int want = (int)(MIX[c] * n_total + 0.5);
        if (task_set_load(&w->sets[c], path, want, err, sizeof err) < 0) return fprintf(stderr, "error: %s\n", err), -1;
        for (int i = 0; i < w->sets[c].n_tasks && w->n_items < 1024; i++) w->items[w->n_items++] = &w->sets[c].tasks[i];
    }
    for (int i = w->n_items - 1; i > 0; i--) { /* seeded shuffle: categories interleave as in traffic */
        int j = (int)((lcg_next(&seed) >> 33) % (uint64_t)(i + 1));
        const task *t = w->items[i];
        w->items[i] = w->items[j];
        w->items[j] = t;
    }
    return 0;
}

static int cat_index(const char *name) {
    for (int c = 0; c < N_CATS; c++)
        if (strcmp(CATS[c], name) == 0) return c;
    return -1;
}

static void trace_line(FILE *trace, const config *cf, const task *t, const orch_report *rep, bool correct) {
    if (!trace) return;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "config", cf->name);
    cJSON_AddStringToObject(j, "id", t->id);
    cJSON_AddStringToObject(j, "category", t->category);
    cJSON_AddStringToObject(j, "probed", rep->category);
    cJSON_AddNumberToObject(j, "confidence", rep->confidence);
    cJSON_AddStringToObject(j, "model", rep->model);
    cJSON_AddStringToObject(j, "phases", rep->phases);
    cJSON_AddNumberToObject(j, "prompt_tokens", rep->n_prompt);
    cJSON_AddNumberToObject(j, "output_tokens", rep->n_generated);
    cJSON_AddNumberToObject(j, "drafted", rep->stats.drafted);
    cJSON_AddNumberToObject(j, "accepted", rep->stats.accepted);
    cJSON_AddNumberToObject(j, "seconds", rep->total_seconds);
    cJSON_AddNumberToObject(j, "probe_seconds", rep->probe_seconds);
    cJSON_AddNumberToObject(j, "probe_overhead_seconds", rep->probe_overhead_seconds);
    cJSON_AddBoolToObject(j, "correct", correct);
    char *s = cJSON_PrintUnformatted(j);
    fprintf(trace, "%s\n", s);
    free(s);
    cJSON_Delete(j);
}

static int serve_one(orch *o, const config *cf, const task *t, int max_new, result *r, FILE *trace) {
    char err[512];
    const aion_model *m = orch_model(o, 0);
    int32_t ids[1024];
    int n = aion_tokenize(m, t->prompt, strlen(t->prompt), true, false, ids, 1024);
    if (n <= 0 || n > 1024 - max_new - 8) return 0; /* too long for the pool's context: not part of the mix */
    aion_sampler_params sp = aion_sampler_default_params();
    sp.temperature = 0;
    orch_request req = {.pin_model = cf->pin_model, .pin_strategy = cf->pin_strategy, .pin_draft_max = cf->draft_max,
                        .static_strategy = cf->paper};
    answer_sink sink;
    answer_sink_init(&sink, m, task_is_exact(t));
    orch_report rep;
    int got = orch_generate(o, &req, ids, n, &sp, max_new, answer_sink_push, &sink, &rep, err, sizeof err);
    bool correct = got >= 0 && task_answer_matches(t, sink.text);
    answer_sink_free(&sink);
    if (got < 0) {
        fprintf(stderr, "error: %s: task %s: %s\n", cf->name, t->id, err);
        return -1;
    }
    int c = cat_index(t->category);
    if (c >= 0) {
        r->n[c]++;
        r->correct[c] += correct;
    }
    r->generated += got;
    r->seconds += rep.total_seconds;
    r->probe_seconds += rep.probe_seconds;
    r->probe_overhead_seconds += rep.probe_overhead_seconds;
    r->weight_bytes += (double)(rep.stats.target_weight_bytes + rep.stats.draft_weight_bytes);
    r->drafted += rep.stats.drafted;
    r->accepted += rep.stats.accepted;
    r->routed_small += strcmp(rep.model, "aio-small") == 0;
    trace_line(trace, cf, t, &rep, correct);
    return 0;
}

static double overall_accuracy(const result *r) {
    int n = 0, ok = 0;
    for (int c = 0; c < N_CATS; c++)
        if (strcmp(CATS[c], "chat") != 0) n += r->n[c], ok += r->correct[c];
    return n ? (double)ok / n : 0;
}

static double tokens_per_second(const result *r) { return r->seconds > 0 ? r->generated / r->seconds : 0; }

static void print_table(FILE *out, const result *res, int n_requests) {
    fprintf(out, "| config | tok/s | x static-large | code | math | qa | overall acc | MB read/token | probe %% | "
                 "probe overhead %% | accepted | to small |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    double base = tokens_per_second(&res[1]);
    for (int i = 0; i < N_CONFIGS; i++) {
        const result *r = &res[i];
        fprintf(out, "| %s | %.1f | %.2f |", CONFIGS[i].name, tokens_per_second(r), base > 0 ? tokens_per_second(r) / base : 0);
        for (int c = 0; c < 3; c++) fprintf(out, " %.3f |", r->n[c] ? (double)r->correct[c] / r->n[c] : 0);
        fprintf(out, " %.3f | %.2f | %.1f | %.1f | %d/%d | %d/%d |\n", overall_accuracy(r),
                r->generated ? r->weight_bytes / 1e6 / r->generated : 0,
                r->seconds > 0 ? 100 * r->probe_seconds / r->seconds : 0,
                r->seconds > 0 ? 100 * r->probe_overhead_seconds / r->seconds : 0, r->accepted, r->drafted,
                r->routed_small, n_requests);
    }
}

static cJSON *results_json(const result *res) {
    cJSON *j = cJSON_CreateObject();
    for (int i = 0; i < N_CONFIGS; i++) {
        const result *r = &res[i];
        cJSON *cj = cJSON_AddObjectToObject(j, CONFIGS[i].name);
        cJSON_AddNumberToObject(cj, "tokens_per_second", tokens_per_second(r));
        cJSON_AddNumberToObject(cj, "overall_accuracy", overall_accuracy(r));
        for (int c = 0; c < N_CATS; c++) {
            char key[32];
            snprintf(key, sizeof key, "accuracy_%s", CATS[c]);
            if (strcmp(CATS[c], "chat") != 0) cJSON_AddNumberToObject(cj, key, r->n[c] ? (double)r->correct[c] / r->n[c] : 0);
        }
        cJSON_AddNumberToObject(cj, "weight_bytes_per_token", r->generated ? r->weight_bytes / r->generated : 0);
        cJSON_AddNumberToObject(cj, "probe_share", r->seconds > 0 ? r->probe_seconds / r->seconds : 0);
        cJSON_AddNumberToObject(cj, "probe_overhead_share", r->seconds > 0 ? r->probe_overhead_seconds / r->seconds : 0);
        cJSON_AddNumberToObject(cj, "output_tokens", (double)r->generated);
        cJSON_AddNumberToObject(cj, "seconds", r->seconds);
    }
    return j;
}

static void write_plot(const char *dir, const result *res) {
    char path[4200];
    snprintf(path, sizeof path, "%s/mixed.dat", dir);
    FILE *f = fopen(path, "w");
    if (!f) return;
    for (int i = 0; i < N_CONFIGS; i++)
        fprintf(f, "\"%s\" %.3f %.4f\n", CONFIGS[i].name, tokens_per_second(&res[i]), overall_accuracy(&res[i]));
    fclose(f);
    char cmd[9000];
    snprintf(cmd, sizeof cmd,
             "gnuplot -e \"set terminal png size 900,600; set output '%s/mixed.png'; set title 'A-IO mixed workload: "
             "accuracy vs throughput'; set xlabel 'output tokens/s'; set ylabel 'exact-match accuracy'; set key off; "
             "set grid; plot '%s/mixed.dat' using 2:3 with points pt 7 ps 2, '' using 2:3:1 with labels offset 0,1\" "
             "2>/dev/null",
             dir, dir);
    if (system(cmd) != 0) fprintf(stderr, "warning: gnuplot failed or is absent: no plot\n");
}

int cmd_bench_mixed(int argc, char **argv) {
    const char *tasks = "bench/tasks", *trace_path = NULL, *out_dir = "bench/out", *policy_path = NULL;
    int n_total = 80, max_new = 48, n_threads = 0;
    bool json = false;
    uint64_t seed = 7;
    for (int i = 1; i < argc; i++) {
        bool ok = true;
        if (opt_is(argv[i], NULL, "--tasks")) ok = opt_str(argc, argv, &i, &tasks);
        else if (opt_is(argv[i], "-n", "--requests")) ok = opt_int(argc, argv, &i, &n_total);
        else if (opt_is(argv[i], NULL, "--max-new")) ok = opt_int(argc, argv, &i, &max_new);
        else if (opt_is(argv[i], NULL, "--trace")) ok = opt_str(argc, argv, &i, &trace_path);
        else if (opt_is(argv[i], NULL, "--out")) ok = opt_str(argc, argv, &i, &out_dir);
        else if (opt_is(argv[i], NULL, "--policy")) ok = opt_str(argc, argv, &i, &policy_path);
        else if (opt_is(argv[i], NULL, "--seed")) ok = opt_u64(argc, argv, &i, &seed);
        else if (opt_is(argv[i], "-t", "--threads")) ok = opt_int(argc, argv, &i, &n_threads);
        else if (opt_is(argv[i], NULL, "--json")) json = true;
        else ok = false;
        if (!ok || n_total < 4 || n_total > 1000) {
            fprintf(stderr, "usage: aio bench mixed [-n REQUESTS (4..1000)] [--tasks DIR] [--max-new N] [--seed S] "
                            "[--trace FILE] [--out DIR] [--policy FILE] [-t N] [--json]\n");
            return 2;
        }
    }
    char small[4096], large[4096], paper_policy[4200], err[512];
    if (!default_model_path("aio-small", small, sizeof small) || !default_model_path("aio-large", large, sizeof large)) {
        fprintf(stderr, "error: the embedded family (aio-small, aio-large) was not found\n");
        return 1;
    }
    snprintf(paper_policy, sizeof paper_policy, "%.4090s", small);
    char *slash = strrchr(paper_policy, '/');
    snprintf(slash ? slash + 1 : paper_policy, 64, "policy-paper.json");
    workload w;
    if (build_workload(&w, tasks, n_total, seed) < 0) return 1;
    aion_threads *t = aion_threads_new(n_threads);
    orch_params op = {.model_paths = {small, large}, .n_models = 2, .policy_path = policy_path, .threads = t};
    orch *aio = orch_new(&op, err, sizeof err);
    op.policy_path = paper_policy;
    orch *paper = aio ? orch_new(&op, err, sizeof err) : NULL;
    FILE *trace = trace_path ? fopen(trace_path, "w") : NULL;
    int rc = aio && paper ? 0 : 1;
    if (rc) fprintf(stderr, "error: %s\n", err);
    result res[N_CONFIGS];
    memset(res, 0, sizeof res);
    for (int ci = 0; ci < N_CONFIGS && rc == 0; ci++) {
        for (int i = 0; i < w.n_items && rc == 0; i++) {
            rc = serve_one(CONFIGS[ci].paper ? paper : aio, &CONFIGS[ci], w.items[i], max_new, &res[ci], trace) ? 1 : 0;
            progress(CONFIGS[ci].name, (uint64_t)i + 1, (uint64_t)w.n_items);
        }
    }
    if (rc == 0) {
        cJSON *j = results_json(res);
        char *s = cJSON_PrintUnformatted(j);
        if (json) printf("%s\n", s);
        else print_table(stdout, res, w.n_items);
        char cmd[4300], path[4300];
        snprintf(cmd, sizeof cmd, "mkdir -p '%s'", out_dir);
        if (system(cmd) == 0) {
            snprintf(path, sizeof path, "%s/mixed.md", out_dir);
            FILE *f = fopen(path, "w");
            if (f) print_table(f, res, w.n_items), fclose(f);
            snprintf(path, sizeof path, "%s/mixed.json", out_dir);
            f = fopen(path, "w");
            if (f) fprintf(f, "%s\n", s), fclose(f);
            write_plot(out_dir, res);
        }
        free(s);
        cJSON_Delete(j);
    }
    if (trace) fclose(trace);
    orch_free(aio);
    orch_free(paper);
    aion_threads_free(t);
    for (int c = 0; c < N_CATS; c++) task_set_free(&w.sets[c]);
    return rc;
}
