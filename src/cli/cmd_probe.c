/*
 * cmd_probe.c - `aio probe`: how well the small model labels requests.
 *
 * Runs the probe over the task sets (each task's category is its label) and
 * prints accuracy per category, mean confidence and the probe's cost, or
 * labels one prompt given with -p.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/tasks.h"
#include "cli.h"
#include "common.h"
#include "orch/probe.h"

static const char *const LABELS[] = {"code", "math", "qa", "chat"};

static int probe_text(probe *p, aion_model *m, aion_ctx *ctx, aion_threads *t, const char *text, probe_result *r) {
    char err[512];
    int cap = aion_ctx_n_ctx(ctx) - 3;
    int n = aion_tokenize(m, text, strlen(text), true, false, NULL, 0);
    int32_t *ids = malloc((size_t)(n > 0 ? n : 1) * sizeof *ids);
    if (!ids || n <= 0) return free(ids), -1;
    aion_tokenize(m, text, strlen(text), true, false, ids, n);
    if (n > cap) { /* long prompts: the probe reads BOS and the end */
        memmove(ids + 1, ids + n - (cap - 1), (size_t)(cap - 1) * sizeof *ids);
        n = cap;
    }
    aion_kv_truncate(ctx, 0, 0);
    int rc = probe_classify(p, ctx, 0, t, ids, n, r, err, sizeof err);
    if (rc) fprintf(stderr, "error: %s\n", err);
    aion_kv_truncate(ctx, 0, 0);
    free(ids);
    return rc;
}

int cmd_probe(int argc, char **argv) {
    const char *model_path = NULL, *tasks = "bench/tasks", *prompt = NULL, *fmt = "suffix";
    int limit = 0, window = 0;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        bool ok = true;
        if (opt_is(argv[i], "-m", "--model")) ok = opt_str(argc, argv, &i, &model_path);
        else if (opt_is(argv[i], NULL, "--tasks")) ok = opt_str(argc, argv, &i, &tasks);
        else if (opt_is(argv[i], "-p", "--prompt")) ok = opt_str(argc, argv, &i, &prompt);
        else if (opt_is(argv[i], NULL, "--format")) ok = opt_str(argc, argv, &i, &fmt);
        else if (opt_is(argv[i], NULL, "--limit")) ok = opt_int(argc, argv, &i, &limit);
        else if (opt_is(argv[i], NULL, "--window")) ok = opt_int(argc, argv, &i, &window);
        else if (opt_is(argv[i], NULL, "--json")) json = true;
        else ok = false;
        if (!ok || (strcmp(fmt, "suffix") && strcmp(fmt, "prefix"))) {
            fprintf(stderr, "usage: aio probe [-m SMALL.gguf] [-p PROMPT | --tasks DIR [--limit N]] "
                            "[--format suffix|prefix] [--window N] [--json]\n");
            return 2;
        }
    }
    char buf[4096], err[512];
    if (!model_path) model_path = default_model_path("aio-small", buf, sizeof buf);
    if (!model_path) return fprintf(stderr, "error: no probe model (-m) and no embedded aio-small\n"), 1;
    aion_model *m = aion_model_load(model_path, err, sizeof err);
    if (!m) return fprintf(stderr, "error: %s\n", err), 1;
    int format = strcmp(fmt, "prefix") == 0 ? PROBE_PREFIX : PROBE_SUFFIX;
    probe *p = probe_new(m, LABELS, 4, format, err, sizeof err);
    if (p) probe_set_window(p, window);
    aion_ctx_params cp = {.n_seq = 1, .n_ctx = 0, .n_batch = 512};
    aion_ctx *ctx = p ? aion_ctx_new(m, &cp, err, sizeof err) : NULL;
    aion_threads *t = aion_threads_new(0);
    int rc = 0;
    if (!p || !ctx) {
        fprintf(stderr, "error: %s\n", err);
        rc = 1;
    } else if (prompt) {
        probe_result r;
        if (probe_text(p, m, ctx, t, prompt, &r) == 0)
            printf("%s (confidence %.3f, label mass %.3f, %.2f ms)\n", LABELS[r.category], r.confidence, r.label_mass,
                   r.seconds * 1e3);
        else rc = 1;
    } else {
        int total = 0, correct = 0;
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "format", fmt);
        cJSON_AddNumberToObject(j, "window", window);
        if (!json) printf("| category | prompts | accuracy | mean confidence | ms/probe |\n|---|---|---|---|---|\n");
        for (int c = 0; c < 4 && rc == 0; c++) {
            char path[4200];
            snprintf(path, sizeof path, "%s/%s.jsonl", tasks, LABELS[c]);
            task_set ts;
            if (task_set_load(&ts, path, limit, err, sizeof err) < 0) {
                fprintf(stderr, "error: %s\n", err);
                rc = 1;
                break;
            }
            int ok = 0;
            double conf = 0, secs = 0;
            for (int i = 0; i < ts.n_tasks && rc == 0; i++) {
                probe_result r;
                rc = probe_text(p, m, ctx, t, ts.tasks[i].prompt, &r) ? 1 : 0;
                ok += rc == 0 && strcmp(LABELS[r.category], ts.tasks[i].category) == 0;
                conf += r.confidence;
                secs += r.seconds;
            }
            int n = ts.n_tasks ? ts.n_tasks : 1;
            if (!json)
                printf("| %s | %d | %.3f | %.3f | %.2f |\n", LABELS[c], ts.n_tasks, (double)ok / n, conf / n, secs / n * 1e3);
            cJSON *cj = cJSON_AddObjectToObject(j, LABELS[c]);
            cJSON_AddNumberToObject(cj, "accuracy", (double)ok / n);
            cJSON_AddNumberToObject(cj, "mean_confidence", conf / n);
            total += ts.n_tasks;
            correct += ok;
            task_set_free(&ts);
        }
        cJSON_AddNumberToObject(j, "accuracy", total ? (double)correct / total : 0);
        if (json) {
            char *s = cJSON_PrintUnformatted(j);
            printf("%s\n", s);
            free(s);
        } else {
            printf("\noverall probe accuracy: %.3f (%d prompts, format %s, window %d)\n",
                   total ? (double)correct / total : 0, total, fmt, window);
        }
        cJSON_Delete(j);
    }
    aion_threads_free(t);
    aion_ctx_free(ctx);
    probe_free(p);
    aion_model_free(m);
    return rc;
}
