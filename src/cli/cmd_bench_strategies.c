/*
 * cmd_bench_strategies.c - `aio bench strategies`: the speed of every decoding strategy on
 * every task category, against ar measured in the same run.
 *
 * This file owns the command around the measurement (src/bench/strategies.c): options, the
 * two models, and the reports. The reports are a Markdown table (stdout, or one JSON object
 * with --json) and, in the output folder, the same table, the JSON, a gnuplot data file and
 * its plot. The table marks every row slower than ar and ends with where each strategy
 * loses: the orchestrator's choice is only as good as the losses it knows about. Tokens
 * that differ from ar's make the command fail loudly (exit 1) after the reports are
 * written, since the strategies are lossless and a difference is a bug.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/strategies.h"
#include "cli.h"
#include "common.h"
#include "cpu.h"

#define WIN_MARGIN 0.03    /* |x - 1| within this is "even": below the noise of one run */
#define MAX_SHOWN_POSITIONS 8

int cmd_bench_strategies(int argc, char **argv);

typedef struct strat_opts {
    const char *model_path, *draft_path, *tasks_dir, *out_dir;
    int limit, max_new, chat_max_new, n_threads, repeat;
    bool json, whole;
} strat_opts;

/* What the run was, for the reports' headers. */
typedef struct run_info {
    aion_model_info target, draft;
    const char *tasks_dir;
    int limit, n_threads, repeat;
    double wall_seconds, cpu_percent;
} run_info;

/* ------------------------------------------------------------------ options */

static void strat_usage(void) {
    fprintf(stderr,
            "usage: aio bench strategies [-m LARGE] [--draft SMALL] [--tasks DIR] [--limit N] [-n N]\n"
            "                            [--chat-max-new N] [--whole] [--repeat R] [-t N] [--json] [--out DIR]\n"
            "  -m MODEL          target (default: the embedded aio-large)\n"
            "  --draft MODEL     draft model of spec (default: the embedded aio-small)\n"
            "  --tasks DIR       task sets (default: bench/tasks)\n"
            "  --limit N         first N tasks of each category (default: all)\n"
            "  -n N              most new tokens of code, math, qa; they also stop at a line end (default 48)\n"
            "  --chat-max-new N  new tokens of chat, no line stop (default 64)\n"
            "  --whole           code, math, qa decode -n tokens too, past the first line\n"
            "  --repeat R        decode each (task, strategy) R times, count the fastest (default 1)\n"
            "  -t N              threads (default: all cores)\n"
            "  --json            one JSON object on stdout instead of the Markdown table\n"
            "  --out DIR         also write strategies.{md,json,dat,png} there (default bench/out)\n");
}

static int parse_strat_args(int argc, char **argv, strat_opts *o) {
    *o = (strat_opts){.out_dir = "bench/out", .max_new = 48, .chat_max_new = 64, .repeat = 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool ok = true;
        if (opt_is(a, "-h", "--help")) return strat_usage(), 2;
        else if (opt_is(a, "-m", "--model")) ok = opt_str(argc, argv, &i, &o->model_path);
        else if (opt_is(a, NULL, "--draft")) ok = opt_str(argc, argv, &i, &o->draft_path);
        else if (opt_is(a, NULL, "--tasks")) ok = opt_str(argc, argv, &i, &o->tasks_dir);
        else if (opt_is(a, NULL, "--out")) ok = opt_str(argc, argv, &i, &o->out_dir);
        else if (opt_is(a, NULL, "--limit")) ok = opt_int(argc, argv, &i, &o->limit);
        else if (opt_is(a, "-n", "--max-new")) ok = opt_int(argc, argv, &i, &o->max_new);
        else if (opt_is(a, NULL, "--chat-max-new")) ok = opt_int(argc, argv, &i, &o->chat_max_new);
        else if (opt_is(a, "-t", "--threads")) ok = opt_int(argc, argv, &i, &o->n_threads);
        else if (opt_is(a, NULL, "--repeat")) ok = opt_int(argc, argv, &i, &o->repeat);
        else if (opt_is(a, NULL, "--json")) o->json = true;
        else if (opt_is(a, NULL, "--whole")) o->whole = true;
        else {
            fprintf(stderr, "error: unknown option '%s'\n", a);
            return strat_usage(), 2;
        }
        if (!ok) return 2;
    }
    if (o->max_new < 1 || o->chat_max_new < 1 || o->n_threads < 0 || o->limit < 0 || o->repeat < 1) {
        fprintf(stderr, "error: -n, --chat-max-new and --repeat must be >= 1, -t and --limit >= 0\n");
        return 2;
    }
    return 0;
}

/* ------------------------------------------------------------------ models */

typedef struct strat_models {
    aion_threads *threads;
    aion_model *target, *draft;
    aion_ctx *target_ctx, *draft_ctx;
} strat_models;

static void models_close(strat_models *m) {
    aion_ctx_free(m->target_ctx);
    aion_ctx_free(m->draft_ctx);
    aion_model_free(m->target);
    aion_model_free(m->draft);
    aion_threads_free(m->threads);
}

static aion_model *load_named(const char *path, const char *default_name, const char *role) {
    char buf[4096], err[512];
    if (!path) path = default_model_path(default_name, buf, sizeof buf);
    if (!path) {
        fprintf(stderr, "error: no %s model given and no embedded %s found (models/%s.gguf)\n", role, default_name,
                default_name);
        return NULL;
    }
    aion_model *m = aion_model_load(path, err, sizeof err);
    if (!m) fprintf(stderr, "error: %s model: %s\n", role, err);
    return m;
}

static int n_ctx_train(const aion_model *m) {
    aion_model_info info;
    aion_model_get_info(m, &info);
    return info.n_ctx_train;
}

/* Both contexts get two sequence slots (the prompt's and the decoding's, see strategies.h)
 * of the context both models can hold. */
static int models_open(strat_models *m, const strat_opts *o) {
    char err[512];
    *m = (strat_models){0};
    m->target = load_named(o->model_path, "aio-large", "target");
    m->draft = m->target ? load_named(o->draft_path, "aio-small", "draft") : NULL;
    if (!m->draft) return -1;
    int n_ctx = n_ctx_train(m->target) < n_ctx_train(m->draft) ? n_ctx_train(m->target) : n_ctx_train(m->draft);
    aion_ctx_params cp = {.n_seq = 2, .n_ctx = n_ctx, .n_batch = 512};
    m->target_ctx = aion_ctx_new(m->target, &cp, err, sizeof err);
    m->draft_ctx = m->target_ctx ? aion_ctx_new(m->draft, &cp, err, sizeof err) : NULL;
    if (!m->draft_ctx) return fprintf(stderr, "error: %s\n", err), -1;
    m->threads = aion_threads_new(o->n_threads);
    return m->threads ? 0 : (fprintf(stderr, "error: cannot start threads\n"), -1);
}

/* ------------------------------------------------------------------ Markdown */

static const char *verdict(const strat_variant *v, double speedup) {
    if (v->strategy == DECODE_AR) return "ref";
    if (speedup < 1 - WIN_MARGIN) return "**LOSS**";
    return speedup > 1 + WIN_MARGIN ? "win" : "even";
}

/* ".95 .80 -" : acceptance at the first draft positions ("-" where nothing was drafted). */
static void format_positions(const strat_tally *t, const strat_variant *v, char *buf, size_t len) {
    size_t used = 0;
    buf[0] = 0;
    if (v->strategy == DECODE_AR) {
        snprintf(buf, len, "-");
        return;
    }
    int shown = v->k < MAX_SHOWN_POSITIONS ? v->k : MAX_SHOWN_POSITIONS;
    for (int i = 0; i < shown && used < len; i++) {
        if (t->drafted_at[i] == 0) used += snprintf(buf + used, len - used, "%s-", i ? " " : "");
        else {
            char num[16];
            snprintf(num, sizeof num, "%.2f", (double)t->accepted_at[i] / t->drafted_at[i]);
            used += snprintf(buf + used, len - used, "%s%s", i ? " " : "", num[0] == '0' ? num + 1 : num);
        }
    }
    if (v->k > shown && used < len) snprintf(buf + used, len - used, " …");
}

static void markdown_header(FILE *f, const run_info *ri, const strat_result *r) {
    fprintf(f, "# Decoding strategies vs ar (one run)\n\n");
    fprintf(f, "target: %s (%s, %.1f MB of weights) | draft: %s (%s, %.1f MB)\n", ri->target.path,
            aion_dtype_name(ri->target.main_type), ri->target.weight_bytes / 1e6, ri->draft.path,
            aion_dtype_name(ri->draft.main_type), ri->draft.weight_bytes / 1e6);
    char first[32] = "all tasks";
    if (ri->limit > 0) snprintf(first, sizeof first, "first %d tasks", ri->limit);
    fprintf(f, "tasks: %s, %s per category | greedy; code, math, qa: %s %d tokens; "
               "chat: %d tokens | each decoded %d time%s, the fastest counted\n",
            ri->tasks_dir, first, r->whole ? "whole continuations of" : "first line, at most", r->max_new,
            r->chat_max_new, ri->repeat, ri->repeat == 1 ? "" : "s");
    fprintf(f, "threads: %d | cpu: %s | run: %.0f s, cpu %.0f%% of the threads' time%s\n\n", ri->n_threads,
            cpu_describe(), ri->wall_seconds, ri->cpu_percent,
            ri->cpu_percent < 90 ? " (other processes took the cores: figures are disturbed)" : "");
    fprintf(f, "Decoding rounds only (the prompt is excluded for both models). tok/s: tokens kept per second; "
               "x vs ar: its ratio to ar in this run (win/even/LOSS at ±%.0f%%); acceptance: accepted/drafted "
               "tokens, then by draft position (among the drafts that reached it); tok/round: tokens kept per "
               "target forward; MB/token: weights read per kept token, target + draft.\n\n",
            WIN_MARGIN * 100);
}

static void markdown_row(FILE *f, const strat_result *r, int c, int v) {
    const strat_variant *var = &r->variants[v];
    const strat_tally *t = &r->tally[c][v];
    strat_figures g = strat_figures_of(r, c, v);
    char pos[128], acc[32], k[8] = "-";
    format_positions(t, var, pos, sizeof pos);
    if (var->k) snprintf(k, sizeof k, "%d", var->k);
    if (var->strategy == DECODE_AR) snprintf(acc, sizeof acc, "-");
    else snprintf(acc, sizeof acc, "%.2f (%d/%d)", g.acceptance, t->accepted, t->drafted);
    fprintf(f, "| %s | %s | %s | %.1f | %.2f %s | %s | %s | %.2f | %.2f (%.2f+%.2f) | %d | %s |\n",
            strat_category_name(c), decode_strategy_name(var->strategy), k,
            g.tokens_per_second, g.speedup, verdict(var, g.speedup), acc, pos, g.tokens_per_round,
            g.target_mb_per_token + g.draft_mb_per_token, g.target_mb_per_token, g.draft_mb_per_token, t->n_tokens,
            var->strategy == DECODE_AR ? "ref" : t->n_mismatched ? "**NO**" : "yes");
}

static void markdown_losses(FILE *f, const strat_result *r) {
    fprintf(f, "\n## Where each strategy loses to ar\n\n");
    for (int v = 1; v < r->n_variants; v++) {
        char label[64];
        int n_lost = 0;
        fprintf(f, "- %s: ", strat_variant_label(&r->variants[v], label, sizeof label));
        for (int c = 0; c < STRAT_N_CATEGORIES; c++) {
            double x = strat_figures_of(r, c, v).speedup;
            if (x < 1 - WIN_MARGIN) fprintf(f, "%s%s %.2fx", n_lost++ ? ", " : "", strat_category_name(c), x);
        }
        fprintf(f, n_lost ? "\n" : "never slower by more than %.0f%%\n", WIN_MARGIN * 100);
    }
    fprintf(f, "\nbest per category: ");
    for (int c = 0; c < STRAT_N_CATEGORIES; c++) {
        int best = 0;
        for (int v = 1; v < r->n_variants; v++)
            if (strat_figures_of(r, c, v).speedup > strat_figures_of(r, c, best).speedup) best = v;
        char label[64];
        fprintf(f, "%s%s %s %.2fx", c ? "; " : "", strat_category_name(c),
                strat_variant_label(&r->variants[best], label, sizeof label), strat_figures_of(r, c, best).speedup);
    }
    fprintf(f, "\n");
}

static void write_markdown(FILE *f, const run_info *ri, const strat_result *r) {
    markdown_header(f, ri, r);
    fprintf(f, "| category | strategy | k | tok/s | x vs ar | acceptance | by position | tok/round | "
               "MB/token (target+draft) | tokens | = ar |\n"
               "|---|---|---:|---:|---|---|---|---:|---|---:|---|\n");
    for (int c = 0; c < STRAT_N_CATEGORIES; c++)
        for (int v = 0; v < r->n_variants; v++) markdown_row(f, r, c, v);
    markdown_losses(f, r);
}

/* ------------------------------------------------------------------ JSON */

static cJSON *model_json(const aion_model_info *in) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "path", in->path);
    cJSON_AddStringToObject(j, "type", aion_dtype_name(in->main_type));
    cJSON_AddNumberToObject(j, "n_layer", in->n_layer);
    cJSON_AddNumberToObject(j, "n_embd", in->n_embd);
    cJSON_AddNumberToObject(j, "weight_bytes", (double)in->weight_bytes);
    return j;
}

static cJSON *acceptance_at_json(const strat_tally *t, int k) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < k && i < DECODE_MAX_DRAFT; i++)
        cJSON_AddItemToArray(a, t->drafted_at[i] ? cJSON_CreateNumber((double)t->accepted_at[i] / t->drafted_at[i])
                                                 : cJSON_CreateNull());
    return a;
}

/* Key order is fixed (category, strategy, k first): tests match rows by it. */
static cJSON *row_json(const strat_result *r, int c, int v) {
    const strat_variant *var = &r->variants[v];
    const strat_tally *t = &r->tally[c][v];
    strat_figures g = strat_figures_of(r, c, v);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "category", strat_category_name(c));
    cJSON_AddStringToObject(j, "strategy", decode_strategy_name(var->strategy));
    cJSON_AddNumberToObject(j, "k", var->k);
    cJSON_AddNumberToObject(j, "tasks", t->n_tasks);
    cJSON_AddNumberToObject(j, "tokens", t->n_tokens);
    cJSON_AddNumberToObject(j, "seconds", t->decode_seconds);
    cJSON_AddNumberToObject(j, "tokens_per_second", g.tokens_per_second);
    cJSON_AddNumberToObject(j, "speedup_vs_ar", g.speedup);
    cJSON_AddNumberToObject(j, "rounds", t->rounds);
    cJSON_AddNumberToObject(j, "tokens_per_round", g.tokens_per_round);
    cJSON_AddNumberToObject(j, "drafted", t->drafted);
    cJSON_AddNumberToObject(j, "accepted", t->accepted);
    cJSON_AddNumberToObject(j, "acceptance", g.acceptance);
    cJSON_AddItemToObject(j, "acceptance_at", acceptance_at_json(t, var->k));
    cJSON_AddNumberToObject(j, "draft_forwards", t->draft_forwards);
    cJSON_AddNumberToObject(j, "target_mb_per_token", g.target_mb_per_token);
    cJSON_AddNumberToObject(j, "draft_mb_per_token", g.draft_mb_per_token);
    cJSON_AddNumberToObject(j, "mb_per_token", g.target_mb_per_token + g.draft_mb_per_token);
    cJSON_AddBoolToObject(j, "matches_ar", t->n_mismatched == 0);
    return j;
}

static char *render_json(const run_info *ri, const strat_result *r) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "bench", "strategies");
    cJSON_AddStringToObject(j, "cpu", cpu_describe());
    cJSON_AddNumberToObject(j, "threads", ri->n_threads);
    cJSON_AddNumberToObject(j, "cpu_percent", ri->cpu_percent);
    cJSON_AddNumberToObject(j, "wall_seconds", ri->wall_seconds);
    cJSON_AddItemToObject(j, "target", model_json(&ri->target));
    cJSON_AddItemToObject(j, "draft", model_json(&ri->draft));
    cJSON_AddStringToObject(j, "tasks_dir", ri->tasks_dir);
    cJSON_AddNumberToObject(j, "limit", ri->limit);
    cJSON_AddNumberToObject(j, "repeat", ri->repeat);
    cJSON_AddNumberToObject(j, "max_new", r->max_new);
    cJSON_AddNumberToObject(j, "chat_max_new", r->chat_max_new);
    cJSON_AddBoolToObject(j, "whole", r->whole);
    cJSON_AddBoolToObject(j, "lossless", r->n_mismatches == 0);
    cJSON_AddNumberToObject(j, "mismatches", r->n_mismatches);
    if (r->n_mismatches) cJSON_AddStringToObject(j, "first_mismatch", r->first_mismatch);
    cJSON *rows = cJSON_AddArrayToObject(j, "rows");
    for (int c = 0; c < STRAT_N_CATEGORIES; c++)
        for (int v = 0; v < r->n_variants; v++) cJSON_AddItemToArray(rows, row_json(r, c, v));
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return text;
}

/* ------------------------------------------------------------------ plot */

/* One row per category, one column per variant: the speedups bench/plot_strategies.gp draws. */
static void write_dat(FILE *f, const run_info *ri, const strat_result *r) {
    fprintf(f, "# aio bench strategies: decode tok/s relative to ar in the same run (1 = ar)\n");
    fprintf(f, "# target %s, draft %s, %d tasks per category (0: all)\n", ri->target.path, ri->draft.path,
            ri->limit);
    fprintf(f, "category");
    for (int v = 0; v < r->n_variants; v++)
        if (r->variants[v].strategy == DECODE_AR) fprintf(f, " ar");
        else fprintf(f, " %s-k%d", decode_strategy_name(r->variants[v].strategy), r->variants[v].k);
    fprintf(f, "\n");
    for (int c = 0; c < STRAT_N_CATEGORIES; c++) {
        fprintf(f, "%s", strat_category_name(c));
        for (int v = 0; v < r->n_variants; v++) fprintf(f, " %.4f", strat_figures_of(r, c, v).speedup);
        fprintf(f, "\n");
    }
}

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* gnuplot -e "datafile='…'; outfile='…'; plottitle='…'" bench/plot_strategies.gp. A missing
 * gnuplot or script only costs the picture: a warning, never a failed bench. */
static bool run_gnuplot(const char *dat, const char *png, const run_info *ri) {
    char script_buf[4096], vars[8192];
    const char *script = find_source_file("bench/plot_strategies.gp", script_buf, sizeof script_buf);
    if (!script) return fprintf(stderr, "warning: bench/plot_strategies.gp not found: no plot\n"), false;
    if (strchr(dat, '\'') || strchr(png, '\''))
        return fprintf(stderr, "warning: a quote in the output path: no plot\n"), false;
    char title[512];
    snprintf(title, sizeof title, "%s drafted by %s", base_name(ri->target.path), base_name(ri->draft.path));
    for (char *q = title; *q; q++)
        if (*q == '\'') *q = '_'; /* it goes inside a gnuplot string */
    if (snprintf(vars, sizeof vars, "datafile='%s'; outfile='%s'; plottitle='%s'", dat, png, title) >= (int)sizeof vars)
        return fprintf(stderr, "warning: output path too long: no plot\n"), false;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return fprintf(stderr, "warning: fork: %s: no plot\n", strerror(errno)), false;
    if (pid == 0) {
        execlp("gnuplot", "gnuplot", "-e", vars, script, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return true;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
        fprintf(stderr, "warning: gnuplot not found (apt-get install gnuplot-nox): no plot\n");
    else
        fprintf(stderr, "warning: gnuplot failed: no plot\n");
    return false;
}

/* ------------------------------------------------------------------ files */

static int make_dirs(const char *path) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0755) < 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(buf, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

static FILE *open_out(const char *dir, const char *name, char *path, size_t len) {
    snprintf(path, len, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) fprintf(stderr, "error: cannot write %s: %s\n", path, strerror(errno));
    return f;
}

static int write_files(const char *dir, const run_info *ri, const strat_result *r, const char *json) {
    char md_path[4200], json_path[4200], dat_path[4200], png_path[4200];
    if (make_dirs(dir) < 0) return fprintf(stderr, "error: cannot create %s: %s\n", dir, strerror(errno)), -1;
    FILE *md = open_out(dir, "strategies.md", md_path, sizeof md_path);
    FILE *js = open_out(dir, "strategies.json", json_path, sizeof json_path);
    FILE *dat = open_out(dir, "strategies.dat", dat_path, sizeof dat_path);
    if (md) write_markdown(md, ri, r);
    if (js) fprintf(js, "%s\n", json);
    if (dat) write_dat(dat, ri, r);
    int rc = md && js && dat ? 0 : -1;
    if ((md && fclose(md)) | (js && fclose(js)) | (dat && fclose(dat))) rc = -1;
    if (rc == 0) {
        snprintf(png_path, sizeof png_path, "%s/strategies.png", dir);
        bool plotted = run_gnuplot(dat_path, png_path, ri);
        fprintf(stderr, "wrote %s/strategies.{md,json,dat%s}\n", dir, plotted ? ",png" : "");
    }
    return rc;
}

/* ------------------------------------------------------------------ entry */

static void report_progress(void *user, const char *category, int done, int total) {
    (void)user;
    progress(category, (uint64_t)done, (uint64_t)total);
}

static double process_cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int measure(const strat_opts *o, strat_models *m, run_info *ri, strat_result *r) {
    char err[512], tasks_buf[4096];
    strat_config cfg = strat_default_config();
    cfg.tasks_dir = o->tasks_dir ? o->tasks_dir : find_source_file("bench/tasks", tasks_buf, sizeof tasks_buf);
    if (!cfg.tasks_dir) return fprintf(stderr, "error: no bench/tasks found (--tasks DIR)\n"), -1;
    cfg.limit = o->limit;
    cfg.repeat = o->repeat;
    cfg.max_new = o->max_new;
    cfg.chat_max_new = o->chat_max_new;
    cfg.whole = o->whole;
    cfg.progress = report_progress;
    *ri = (run_info){.tasks_dir = cfg.tasks_dir, .limit = o->limit, .repeat = o->repeat,
                     .n_threads = aion_threads_count(m->threads)};
    aion_model_get_info(m->target, &ri->target);
    aion_model_get_info(m->draft, &ri->draft);
    double t0 = now_seconds(), c0 = process_cpu_seconds();
    if (strat_run(&cfg, m->target_ctx, m->draft_ctx, m->threads, r, err, sizeof err) < 0)
        return fprintf(stderr, "error: %s\n", err), -1;
    ri->wall_seconds = now_seconds() - t0;
    ri->cpu_percent = 100 * (process_cpu_seconds() - c0) / (ri->wall_seconds * ri->n_threads);
    /* tasks_dir may point into tasks_buf: keep a copy that outlives this frame */
    ri->tasks_dir = strdup(cfg.tasks_dir);
    if (r->max_new < o->max_new || r->chat_max_new < o->chat_max_new)
        fprintf(stderr, "note: the context holds %d tokens: at most %d (chat %d) new tokens\n",
                aion_ctx_n_ctx(m->target_ctx), r->max_new, r->chat_max_new);
    return 0;
}

static void shout_mismatch(const strat_result *r) {
    fprintf(stderr,
            "\n"
            "################################################################################\n"
            "ERROR: %d decodings differ from ar's tokens: a strategy is NOT lossless.\n"
            "first: %s\n"
            "################################################################################\n",
            r->n_mismatches, r->first_mismatch);
}

int cmd_bench_strategies(int argc, char **argv) {
    strat_opts o;
    int rc = parse_strat_args(argc, argv, &o);
    if (rc) return rc;
    strat_models m;
    if (models_open(&m, &o) < 0) return models_close(&m), 1;
    run_info ri;
    strat_result *r = calloc(1, sizeof *r);
    if (!r || measure(&o, &m, &ri, r) < 0) return free(r), models_close(&m), 1;
    char *json = render_json(&ri, r);
    if (o.json) printf("%s\n", json ? json : "{}");
    else write_markdown(stdout, &ri, r);
    fflush(stdout);
    if (!json || (o.out_dir && *o.out_dir && write_files(o.out_dir, &ri, r, json) < 0)) rc = 1;
    if (r->n_mismatches) shout_mismatch(r), rc = 1;
    free(json);
    free((char *)ri.tasks_dir);
    free(r);
    models_close(&m);
    return rc;
}
