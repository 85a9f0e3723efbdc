/*
 * bench_serve.c - the scheduler under closed-loop concurrent load (see bench_serve.h).
 *
 * Clients are threads that submit straight to a scheduler and wait on the
 * request like a connection does, so what is measured is the batching engine
 * itself: tokens/s grows with the number of streams while one forward serves
 * them all, and stays flat when one slot serves them in turn. Every wait is
 * bounded; a request that does not finish in time fails the run.
 */
#include <stdlib.h>
#include <string.h>

#include "decode/decode.h"
#include "server/bench_serve.h"
#include "server/sched.h"
#include "server/util.h"

#define REQUEST_TIMEOUT_S 600.0

serve_bench_config serve_bench_default_config(void) {
    return (serve_bench_config){.levels = {1, 2, 4, 8, 16}, .n_levels = 5, .max_tokens = 64, .requests_per_stream = 2};
}

typedef struct bench_env {
    const aion_model *model;
    aion_threads *threads;
    pthread_mutex_t forward_lock;
    int max_tokens;
} bench_env;

typedef struct bench_client {
    const bench_env *env;
    sched *s;
    int first, n;       /* request indices [first, first + n) */
    double *latency, *ttft; /* per request, written at [i - first] */
    long tokens;
    bool failed;
} bench_client;

static const char *const SUBJECTS[] = {"a list", "two numbers", "a string", "a matrix",
                                       "a tree", "a file",      "a queue",  "a graph"};

static gen_request *bench_request(const bench_env *env, int index) {
    char text[256];
    snprintf(text, sizeof text, "def process_%d(data):\n    \"\"\"Handle %s number %d.\"\"\"\n", index,
             SUBJECTS[index % 8], index);
    gen_request *r = gen_request_new();
    if (!r) return NULL;
    bool bos = aion_add_bos_default(env->model);
    int n = aion_tokenize(env->model, text, strlen(text), bos, false, NULL, 0);
    r->params.prompt = n > 0 ? malloc((size_t)n * sizeof *r->params.prompt) : NULL;
    if (!r->params.prompt) {
        gen_request_unref(r);
        return NULL;
    }
    aion_tokenize(env->model, text, strlen(text), bos, false, r->params.prompt, n);
    r->params.n_prompt = n;
    r->params.max_tokens = env->max_tokens;
    r->params.sampling = aion_sampler_default_params();
    r->params.sampling.temperature = 0;
    r->params.strategy = DECODE_AR;
    return r;
}

/* Submits one request and waits for it; false on failure or timeout. */
static bool bench_one(bench_client *c, int index, double *latency, double *ttft) {
    gen_request *r = bench_request(c->env, index);
    if (!r) return false;
    double t0 = mono_seconds(), first = 0;
    bool ok = sched_submit(c->s, r) == 0;
    while (ok) {
        bool done;
        pthread_mutex_lock(&r->mu);
        done = r->finish != GEN_RUNNING;
        if (!first && (r->n_tokens > 0 || done)) first = mono_seconds();
        pthread_mutex_unlock(&r->mu);
        if (done) break;
        if (mono_seconds() - t0 > REQUEST_TIMEOUT_S) ok = false;
        else if (first) gen_request_wait(r, (size_t)-1, 0.05);
        else gen_request_wait_tokens(r, 0, 0.05);
    }
    if (ok) {
        *latency = mono_seconds() - t0;
        *ttft = first - t0;
        c->tokens += r->n_generated;
        ok = r->finish == GEN_STOP || r->finish == GEN_LENGTH;
    } else {
        gen_request_cancel(r);
    }
    gen_request_unref(r);
    return ok;
}

static void *client_main(void *arg) {
    bench_client *c = arg;
    for (int i = 0; i < c->n && !c->failed; i++)
        if (!bench_one(c, c->first + i, &c->latency[i], &c->ttft[i])) c->failed = true;
    return NULL;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double percentile(double *xs, int n, double p) {
    if (n == 0) return 0;
    qsort(xs, (size_t)n, sizeof *xs, cmp_double);
    int i = (int)(p / 100.0 * n);
    return xs[i < n ? i : n - 1];
}

/* One level: `streams` clients against scheduler s. */
static bool run_level(const bench_env *env, sched *s, int streams, int per_stream, serve_bench_row *row) {
    int total = streams * per_stream;
    bench_client *clients = calloc((size_t)streams, sizeof *clients);
    pthread_t *tids = calloc((size_t)streams, sizeof *tids);
    double *latency = calloc((size_t)total, sizeof *latency), *ttft = calloc((size_t)total, sizeof *ttft);
    bool ok = clients && tids && latency && ttft;
    int started = 0;
    double t0 = mono_seconds();
    for (int i = 0; ok && i < streams; i++, started++) {
        clients[i] = (bench_client){env, s, i * per_stream, per_stream, latency + i * per_stream, ttft + i * per_stream,
                                    0, false};
        if (pthread_create(&tids[i], NULL, client_main, &clients[i]) != 0) ok = false;
    }
    for (int i = 0; i < started; i++) pthread_join(tids[i], NULL);
    row->seconds = mono_seconds() - t0;
    row->streams = streams;
    row->requests = total;
    row->output_tokens = 0;
    for (int i = 0; i < started; i++) {
        row->output_tokens += clients[i].tokens;
        ok = ok && !clients[i].failed;
    }
    row->tokens_per_second = row->seconds > 0 ? row->output_tokens / row->seconds : 0;
    if (ok) {
        row->latency_p50 = percentile(latency, total, 50);
        row->latency_p99 = percentile(latency, total, 99);
        row->ttft_p50 = percentile(ttft, total, 50);
        row->ttft_p99 = percentile(ttft, total, 99);
    }
    free(clients);
    free(tids);
    free(latency);
    free(ttft);
    return ok;
}

static bool run_mode(const bench_env *env, const serve_bench_config *cfg, bool batched, serve_bench_row *rows,
                     char *err, size_t err_len) {
    int max_level = cfg->levels[cfg->n_levels - 1];
    sched_config sc = sched_default_config();
    sc.n_parallel = batched ? max_level : 1;
    sc.n_ctx = cfg->n_ctx > 0 ? cfg->n_ctx : 512;
    sc.max_queue = max_level;
    sched *s = sched_new(env->model, 0, &sc, env->threads, (pthread_mutex_t *)&env->forward_lock, NULL, err, err_len);
    if (!s) return false;
    serve_bench_row warm;
    bool ok = run_level(env, s, 1, 1, &warm); /* page faults and thread start-up are not measured */
    for (int i = 0; ok && i < cfg->n_levels; i++) {
        rows[i] = (serve_bench_row){.batched = batched, .slots = sc.n_parallel};
        ok = run_level(env, s, cfg->levels[i], cfg->requests_per_stream, &rows[i]);
    }
    if (!ok) snprintf(err, err_len, "a benchmark request failed or timed out");
    sched_free(s);
    return ok;
}

int serve_bench_run(const serve_bench_config *cfg, serve_bench_row *rows, char *err, size_t err_len) {
    if (cfg->n_levels < 1 || cfg->n_levels > SERVE_BENCH_MAX_LEVELS || cfg->max_tokens < 1 ||
        cfg->requests_per_stream < 1) {
        snprintf(err, err_len, "bad benchmark settings");
        return -1;
    }
    for (int i = 0; i < cfg->n_levels; i++)
        if (cfg->levels[i] < 1 || cfg->levels[i] > 256 || (i && cfg->levels[i] <= cfg->levels[i - 1])) {
            snprintf(err, err_len, "concurrency levels must ascend within 1..256");
            return -1;
        }
    bench_env env = {.max_tokens = cfg->max_tokens};
    aion_model *m = aion_model_load(cfg->model_path, err, err_len);
    if (!m) return -1;
    env.model = m;
    env.threads = aion_threads_new(cfg->n_threads);
    pthread_mutex_init(&env.forward_lock, NULL);
    bool ok = env.threads && run_mode(&env, cfg, true, rows, err, err_len) &&
              run_mode(&env, cfg, false, rows + cfg->n_levels, err, err_len);
    if (!env.threads) snprintf(err, err_len, "cannot start threads");
    pthread_mutex_destroy(&env.forward_lock);
    aion_threads_free(env.threads);
    aion_model_free(m);
    return ok ? 2 * cfg->n_levels : -1;
}

static double tps_at(const serve_bench_row *rows, int n, bool batched, int streams) {
    for (int i = 0; i < n; i++)
        if (rows[i].batched == batched && rows[i].streams == streams) return rows[i].tokens_per_second;
    return 0;
}

void serve_bench_print(const serve_bench_config *cfg, const serve_bench_row *rows, int n, bool json, FILE *out) {
    double base = tps_at(rows, n, true, 1);
    if (json) {
        fprintf(out, "{\"bench\":\"serve\",\"model\":\"%s\",\"max_tokens\":%d,\"results\":[", cfg->model_path,
                cfg->max_tokens);
        for (int i = 0; i < n; i++) {
            const serve_bench_row *r = &rows[i];
            fprintf(out,
                    "%s{\"mode\":\"%s\",\"slots\":%d,\"streams\":%d,\"requests\":%d,\"output_tokens\":%ld,"
                    "\"seconds\":%.4f,\"tokens_per_second\":%.2f,\"speedup_vs_1_stream\":%.3f,\"latency_p50\":%.4f,"
                    "\"latency_p99\":%.4f,\"ttft_p50\":%.4f,\"ttft_p99\":%.4f}",
                    i ? "," : "", r->batched ? "batched" : "single", r->slots, r->streams, r->requests, r->output_tokens,
                    r->seconds, r->tokens_per_second, base > 0 ? r->tokens_per_second / base : 0, r->latency_p50,
                    r->latency_p99, r->ttft_p50, r->ttft_p99);
        }
        fprintf(out, "]}\n");
        return;
    }
    fprintf(out, "serving %s, %d tokens per request (greedy), streams sending back to back\n\n", cfg->model_path,
            cfg->max_tokens);
    fprintf(out, "| mode | slots | streams | requests | output tok/s | x 1 stream | p50 latency s | p99 latency s | "
                 "p50 TTFT s |\n|---|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < n; i++) {
        const serve_bench_row *r = &rows[i];
        fprintf(out, "| %s | %d | %d | %d | %.1f | %.2f | %.3f | %.3f | %.3f |\n", r->batched ? "batched" : "single",
                r->slots, r->streams, r->requests, r->tokens_per_second, base > 0 ? r->tokens_per_second / base : 0,
                r->latency_p50, r->latency_p99, r->ttft_p50);
    }
    double b8 = tps_at(rows, n, true, 8), s8 = tps_at(rows, n, false, 8);
    if (b8 > 0 && base > 0) {
        fprintf(out, "\nbatched, 8 streams: %.2fx the tokens/s of 1 stream", b8 / base);
        if (s8 > 0) fprintf(out, "; %.2fx one-at-a-time serving at 8 streams", b8 / s8);
        fprintf(out, "\n");
    }
}
