/*
 * cmd_bench.c - `aio bench KIND`: the engine's speed against the machine's limits.
 *
 * One dispatcher and the kernel-level benches:
 *   memory   read bandwidth with all threads (the decode roofline)
 *   decode   greedy tokens/s, weight bytes per token, effective GB/s, % of the roofline
 *   prefill  tokens/s of one N-token prompt in one forward
 *   batch    time of one forward of n = 1..32 tokens: the cost curve of verification
 *            and batching (t(n)/t(1)) that the orchestrator's cost model reads
 * Each prints a Markdown table on stdout, or one JSON object with --json.
 * Model benches also report "cpu %": the CPU time the process got over the
 * thread-time of the run. Below ~95 another process took the cores and the
 * figure is disturbed; that column is what makes numbers from a shared machine
 * readable at all.
 * Prompts are fixed pseudo-random token ids, so a weights-only file (or any
 * tokenizer) works and runs are comparable. Other benches (strategies, mixed,
 * serve) live in their own cmd_bench_*.c files and join the BENCHES table.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/membw.h"
#include "bench/peak.h"
#include "cli.h"
#include "common.h"
#include "cpu.h"
#include "quant.h"

/* Benches defined in other files of src/cli (cmd_bench_NAME.c) are declared here. */
int cmd_bench_strategies(int argc, char **argv);
int cmd_bench_mixed(int argc, char **argv);
int cmd_bench_serve(int argc, char **argv);

/* ------------------------------------------------------------------ options */

enum bench_opt_flags {
    BO_MODEL = 1 << 0,   /* -m MODEL */
    BO_N = 1 << 1,       /* -n tokens to decode */
    BO_PROMPT = 1 << 2,  /* -p prompt tokens */
    BO_RUNS = 1 << 3,    /* --runs R */
    BO_SIZE = 1 << 4,    /* --size MiB of the bandwidth probe */
    BO_POS = 1 << 5,     /* --pos P: context already cached before the timed forwards */
    BO_LOGITS = 1 << 6,  /* --logits all|last */
};

typedef struct bench_opts {
    const char *model_path;
    int n_threads, n_decode, n_prompt, n_runs, size_mib, pos;
    bool json, last_logits_only;
    int kv_f16;
} bench_opts;

typedef struct bench_spec {
    const char *usage;   /* the line after "usage: aio bench " */
    unsigned flags;
    bench_opts defaults;
} bench_spec;

static void bench_usage(const bench_spec *spec) {
    fprintf(stderr, "usage: aio bench %s\n", spec->usage);
    if (spec->flags & BO_MODEL) {
        fprintf(stderr, "  -m MODEL        the GGUF model (aio synth makes one of any shape)\n");
        fprintf(stderr, "  --kv T          KV cache type: f32 (default) | f16\n");
    }
    fprintf(stderr, "  -t N            threads (default: all cores)\n");
    if (spec->flags & BO_N) fprintf(stderr, "  -n N            tokens to decode (default %d)\n", spec->defaults.n_decode);
    if (spec->flags & BO_PROMPT) fprintf(stderr, "  -p N            prompt tokens (default %d)\n", spec->defaults.n_prompt);
    if (spec->flags & BO_POS)
        fprintf(stderr, "  --pos P         tokens already in the context (default %d)\n", spec->defaults.pos);
    if (spec->flags & BO_RUNS) fprintf(stderr, "  --runs R        timed repetitions (default %d)\n", spec->defaults.n_runs);
    if (spec->flags & BO_LOGITS)
        fprintf(stderr, "  --logits K      all (every row, like a verification; default) | last\n");
    if (spec->flags & BO_SIZE)
        fprintf(stderr, "  --size MIB      bandwidth probe buffer (default %d)\n", spec->defaults.size_mib);
    fprintf(stderr, "  --json          one JSON object instead of a Markdown table\n");
}

static bool parse_logits(int argc, char **argv, int *i, bench_opts *o) {
    const char *v;
    if (!opt_str(argc, argv, i, &v)) return false;
    if (strcmp(v, "all") != 0 && strcmp(v, "last") != 0) {
        fprintf(stderr, "error: --logits expects all or last, got '%s'\n", v);
        return false;
    }
    o->last_logits_only = strcmp(v, "last") == 0;
    return true;
}

/* Returns 0, or 2 after a usage message. */
static int parse_bench_args(int argc, char **argv, const bench_spec *spec, bench_opts *o) {
    *o = spec->defaults;
    unsigned f = spec->flags;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool ok = true;
        if (opt_is(a, "-h", "--help")) return bench_usage(spec), 2;
        else if (opt_is(a, "-t", "--threads")) ok = opt_int(argc, argv, &i, &o->n_threads);
        else if (opt_is(a, NULL, "--json")) o->json = true;
        else if ((f & BO_MODEL) && opt_is(a, "-m", "--model")) ok = opt_str(argc, argv, &i, &o->model_path);
        else if ((f & BO_MODEL) && opt_is(a, NULL, "--kv")) ok = opt_kv(argc, argv, &i, &o->kv_f16);
        else if ((f & BO_N) && opt_is(a, "-n", "--n-predict")) ok = opt_int(argc, argv, &i, &o->n_decode);
        else if ((f & BO_PROMPT) && opt_is(a, "-p", "--prompt-tokens")) ok = opt_int(argc, argv, &i, &o->n_prompt);
        else if ((f & BO_RUNS) && opt_is(a, NULL, "--runs")) ok = opt_int(argc, argv, &i, &o->n_runs);
        else if ((f & BO_SIZE) && opt_is(a, NULL, "--size")) ok = opt_int(argc, argv, &i, &o->size_mib);
        else if ((f & BO_POS) && opt_is(a, NULL, "--pos")) ok = opt_int(argc, argv, &i, &o->pos);
        else if ((f & BO_LOGITS) && opt_is(a, NULL, "--logits")) ok = parse_logits(argc, argv, &i, o);
        else {
            fprintf(stderr, "error: unknown option '%s'\n", a);
            bench_usage(spec);
            return 2;
        }
        if (!ok) return 2;
    }
    if ((f & BO_MODEL) && !o->model_path) {
        fprintf(stderr, "error: no model (-m MODEL.gguf)\n");
        return bench_usage(spec), 2;
    }
    if (o->n_threads < 0 || o->n_decode < 1 || o->n_prompt < 1 || o->n_runs < 1 || o->size_mib < 1 || o->pos < 0) {
        fprintf(stderr, "error: -t must be >= 0, --pos >= 0, and -n, -p, --runs, --size >= 1\n");
        return 2;
    }
    return 0;
}

/* ------------------------------------------------------------------ session */

/* What a model bench holds; bench_close releases whatever was opened. */
typedef struct bench_session {
    aion_threads *threads;
    aion_model *model;
    aion_ctx *ctx;
    aion_model_info info;
    int32_t *tokens, *pos;
    int8_t *want;
    float *logits;   /* n_batch rows of n_vocab */
    int n_batch;
    bool kv_f16;
    double meter_wall, meter_cpu; /* seconds of the forwards since bench_meter_reset */
} bench_session;

static double cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void bench_meter_reset(bench_session *s) { s->meter_wall = s->meter_cpu = 0; }

/* Percent of the metered forwards' thread-time the process really ran. */
static double bench_cpu_percent(const bench_session *s) {
    double thread_time = s->meter_wall * aion_threads_count(s->threads);
    return thread_time > 0 ? 100.0 * s->meter_cpu / thread_time : 0;
}

static void bench_close(bench_session *s) {
    aion_ctx_free(s->ctx);
    aion_model_free(s->model);
    aion_threads_free(s->threads);
    free(s->tokens);
    free(s->pos);
    free(s->want);
    free(s->logits);
}

/* Deterministic stand-ins for text: BOS then ids spread over the vocabulary (the byte and
 * control ids at the bottom are skipped, as real text rarely hits them). */
static void synthetic_tokens(const aion_model *m, int32_t *ids, int n) {
    uint32_t state = 12345;
    int32_t lo = aion_n_vocab(m) > 300 ? 259 : 3, span = aion_n_vocab(m) - lo;
    for (int i = 0; i < n; i++) {
        state = state * 1664525u + 1013904223u;
        ids[i] = span > 0 ? lo + (int32_t)((state >> 8) % (uint32_t)span) : 0;
    }
    if (n > 0 && aion_token_bos(m) >= 0) ids[0] = aion_token_bos(m);
}

/* Opens the model with a context of n_ctx tokens and forwards of up to n_batch. */
static int bench_open(bench_session *s, const bench_opts *o, int n_ctx, int n_batch) {
    char err[512];
    *s = (bench_session){.n_batch = n_batch, .kv_f16 = o->kv_f16};
    s->threads = aion_threads_new(o->n_threads);
    s->model = aion_model_load(o->model_path, err, sizeof err);
    if (!s->threads || !s->model) return fprintf(stderr, "error: %s\n", s->threads ? err : "cannot start threads"), -1;
    aion_model_get_info(s->model, &s->info);
    aion_ctx_params cp = {.n_seq = 1, .n_ctx = n_ctx, .n_batch = n_batch, .kv_f16 = o->kv_f16};
    s->ctx = aion_ctx_new(s->model, &cp, err, sizeof err);
    if (!s->ctx) return fprintf(stderr, "error: %s\n", err), -1;
    s->tokens = malloc((size_t)n_ctx * sizeof *s->tokens);
    s->pos = malloc((size_t)n_batch * sizeof *s->pos);
    s->want = malloc((size_t)n_batch);
    s->logits = malloc((size_t)n_batch * s->info.n_vocab * sizeof *s->logits);
    if (!s->tokens || !s->pos || !s->want || !s->logits) return fprintf(stderr, "error: out of memory\n"), -1;
    synthetic_tokens(s->model, s->tokens, n_ctx);
    return 0;
}

/* One forward of tokens [start, start + n) of s->tokens after the cached ones. Returns its
 * seconds, or a negative value after printing the error. */
static double bench_forward(bench_session *s, int start, int n, bool all_logits) {
    int base = aion_kv_len(s->ctx, 0);
    for (int i = 0; i < n; i++) {
        s->pos[i] = base + i;
        s->want[i] = all_logits || i == n - 1;
    }
    aion_batch b = {.n_tokens = n, .tokens = s->tokens + start, .pos = s->pos, .want_logits = s->want};
    char err[512];
    double c0 = cpu_seconds(), t0 = now_seconds();
    if (aion_forward(s->ctx, s->threads, &b, s->logits, err, sizeof err) < 0) {
        fprintf(stderr, "error: %s\n", err);
        return -1;
    }
    double wall = now_seconds() - t0;
    s->meter_wall += wall;
    s->meter_cpu += cpu_seconds() - c0;
    return wall;
}

/* Fills the cache with the first n tokens in forwards of at most n_batch. */
static int bench_fill(bench_session *s, int n) {
    for (int done = 0; done < n;) {
        int k = n - done < s->n_batch ? n - done : s->n_batch;
        if (bench_forward(s, done, k, false) < 0) return -1;
        done += k;
    }
    return 0;
}

static int32_t argmax(const float *x, int n) {
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts v and returns its median. */
static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* ------------------------------------------------------------------ output */

static cJSON *model_json(const bench_session *s) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "path", s->info.path);
    cJSON_AddStringToObject(j, "arch", s->info.arch);
    cJSON_AddStringToObject(j, "type", aion_dtype_name(s->info.main_type));
    cJSON_AddNumberToObject(j, "n_layer", s->info.n_layer);
    cJSON_AddNumberToObject(j, "n_embd", s->info.n_embd);
    cJSON_AddNumberToObject(j, "n_vocab", s->info.n_vocab);
    cJSON_AddNumberToObject(j, "weight_bytes", (double)s->info.weight_bytes);
    cJSON_AddStringToObject(j, "kv", s->kv_f16 ? "f16" : "f32");
    return j;
}

static cJSON *bench_json_head(const char *bench, int n_threads) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "bench", bench);
    cJSON_AddStringToObject(j, "cpu", cpu_describe());
    cJSON_AddNumberToObject(j, "threads", n_threads);
    return j;
}

static void print_json(cJSON *j) {
    char *text = cJSON_PrintUnformatted(j);
    if (text) printf("%s\n", text);
    free(text);
    cJSON_Delete(j);
}

static void print_model_line(const bench_session *s) {
    printf("model: %s (%s, %s, %d layers, %.1f MB of weights, %s KV) | threads: %d | cpu: %s\n\n", s->info.path,
           s->info.arch, aion_dtype_name(s->info.main_type), s->info.n_layer, s->info.weight_bytes / 1e6,
           s->kv_f16 ? "f16" : "f32", aion_threads_count(s->threads), cpu_describe());
}

/* ------------------------------------------------------------------ memory */

static const bench_spec MEMORY_SPEC = {
    "memory [-t N] [--size MIB] [--runs R] [--json]", BO_RUNS | BO_SIZE,
    {.n_decode = 1, .n_prompt = 1, .n_runs = MEMBW_DEFAULT_RUNS, .size_mib = (int)(MEMBW_DEFAULT_BYTES >> 20)}};

static int probe_memory(aion_threads *t, int size_mib, int n_runs, membw_result *r) {
    char err[256];
    if (membw_measure(t, (size_t)size_mib << 20, n_runs, r, err, sizeof err) == 0) return 0;
    fprintf(stderr, "error: %s\n", err);
    return -1;
}

static cJSON *membw_json(const membw_result *r) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "best_gbps", r->best_gbps);
    cJSON_AddNumberToObject(j, "median_gbps", r->median_gbps);
    cJSON_AddNumberToObject(j, "buffer_bytes", (double)r->bytes);
    cJSON_AddNumberToObject(j, "runs", r->n_runs);
    cJSON_AddStringToObject(j, "loads", r->isa);
    return j;
}

static int bench_memory(int argc, char **argv) {
    bench_opts o;
    int rc = parse_bench_args(argc, argv, &MEMORY_SPEC, &o);
    if (rc) return rc;
    aion_threads *t = aion_threads_new(o.n_threads);
    membw_result r;
    if (!t || probe_memory(t, o.size_mib, o.n_runs, &r) < 0) return aion_threads_free(t), 1;
    aion_threads_free(t);
    if (o.json) {
        cJSON *j = bench_json_head("memory", r.n_threads);
        cJSON_AddItemToObject(j, "memory", membw_json(&r));
        print_json(j);
        return 0;
    }
    printf("| threads | buffer | loads | runs | best GB/s | median GB/s |\n|---:|---:|---|---:|---:|---:|\n");
    printf("| %d | %zu MiB | %s | %d | %.2f | %.2f |\n", r.n_threads, r.bytes >> 20, r.isa, r.n_runs, r.best_gbps,
           r.median_gbps);
    return 0;
}

/* ------------------------------------------------------------------ compute */

static const bench_spec COMPUTE_SPEC = {"compute [-t N] [--runs R] [--json]", BO_RUNS,
                                        {.n_decode = 1, .n_prompt = 1, .n_runs = 5, .size_mib = 1}};

static cJSON *peak_json(const peak_result *p) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "int8_gmacs", p->int8_gmacs);
    cJSON_AddNumberToObject(j, "f32_gmacs", p->f32_gmacs);
    cJSON_AddStringToObject(j, "isa", p->isa);
    return j;
}

static int bench_compute(int argc, char **argv) {
    bench_opts o;
    int rc = parse_bench_args(argc, argv, &COMPUTE_SPEC, &o);
    if (rc) return rc;
    aion_threads *t = aion_threads_new(o.n_threads);
    if (!t) return 1;
    peak_result p;
    peak_measure(t, o.n_runs, &p);
    aion_threads_free(t);
    if (o.json) {
        cJSON *j = bench_json_head("compute", p.n_threads);
        cJSON_AddItemToObject(j, "peak", peak_json(&p));
        print_json(j);
        return 0;
    }
    printf("| threads | instructions | int8 GMAC/s | f32 GMAC/s |\n|---:|---|---:|---:|\n");
    printf("| %d | %s | %.1f | %.1f |\n", p.n_threads, p.isa, p.int8_gmacs, p.f32_gmacs);
    return 0;
}

/* ------------------------------------------------------------------ decode */

static const bench_spec DECODE_SPEC = {
    "decode -m MODEL [-n N] [-p N] [-t N] [--kv f16] [--size MIB] [--json]", BO_MODEL | BO_N | BO_PROMPT | BO_SIZE,
    {.n_decode = 64, .n_prompt = 16, .n_runs = 1, .size_mib = (int)(MEMBW_DEFAULT_BYTES >> 20)}};

typedef struct decode_figures {
    int n_tokens;
    double seconds, tokens_per_s, bytes_per_token, effective_gbps, percent_of_memory, cpu_percent;
} decode_figures;

/* Greedy decoding after the prompt; the first decoded token is untimed (it still faults in
 * pages and wakes the workers), then n tokens are timed. */
static int run_decode(bench_session *s, const bench_opts *o, double mem_gbps, decode_figures *f) {
    if (bench_forward(s, 0, o->n_prompt, false) < 0) return -1;
    double elapsed = 0;
    for (int i = 0; i <= o->n_decode; i++) {
        int at = o->n_prompt + i;
        s->tokens[at] = argmax(s->logits, s->info.n_vocab);
        if (i == 1) bench_meter_reset(s);
        double t0 = now_seconds();
        if (bench_forward(s, at, 1, true) < 0) return -1;
        if (i > 0) elapsed += now_seconds() - t0;
    }
    *f = (decode_figures){.n_tokens = o->n_decode, .seconds = elapsed, .cpu_percent = bench_cpu_percent(s)};
    f->tokens_per_s = o->n_decode / elapsed;
    f->bytes_per_token = (double)aion_model_forward_bytes(s->model, true);
    f->effective_gbps = f->bytes_per_token * f->tokens_per_s / 1e9;
    f->percent_of_memory = mem_gbps > 0 ? 100.0 * f->effective_gbps / mem_gbps : 0;
    return 0;
}

static void report_decode(const bench_session *s, const membw_result *mem, const decode_figures *f, bool json) {
    if (json) {
        cJSON *j = bench_json_head("decode", aion_threads_count(s->threads));
        cJSON_AddItemToObject(j, "model", model_json(s));
        cJSON_AddItemToObject(j, "memory", membw_json(mem));
        cJSON_AddNumberToObject(j, "tokens", f->n_tokens);
        cJSON_AddNumberToObject(j, "seconds", f->seconds);
        cJSON_AddNumberToObject(j, "tokens_per_second", f->tokens_per_s);
        cJSON_AddNumberToObject(j, "ms_per_token", 1e3 / f->tokens_per_s);
        cJSON_AddNumberToObject(j, "weight_bytes_per_token", f->bytes_per_token);
        cJSON_AddNumberToObject(j, "effective_gbps", f->effective_gbps);
        cJSON_AddNumberToObject(j, "percent_of_memory_bandwidth", f->percent_of_memory);
        cJSON_AddNumberToObject(j, "cpu_percent", f->cpu_percent);
        print_json(j);
        return;
    }
    print_model_line(s);
    printf("| tokens | tok/s | ms/token | MB/token | effective GB/s | memory GB/s | %% of memory | cpu %% |\n"
           "|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    printf("| %d | %.2f | %.2f | %.1f | %.2f | %.2f | %.1f | %.0f |\n", f->n_tokens, f->tokens_per_s,
           1e3 / f->tokens_per_s, f->bytes_per_token / 1e6, f->effective_gbps, mem->best_gbps, f->percent_of_memory,
           f->cpu_percent);
}

static int bench_decode(int argc, char **argv) {
    bench_opts o;
    int rc = parse_bench_args(argc, argv, &DECODE_SPEC, &o);
    if (rc) return rc;
    bench_session s;
    membw_result mem;
    /* The probe uses the pool the forwards use, so the roofline and the figure share threads. */
    if (bench_open(&s, &o, o.n_prompt + o.n_decode + 1, o.n_prompt) < 0 ||
        probe_memory(s.threads, o.size_mib, MEMBW_DEFAULT_RUNS, &mem) < 0)
        return bench_close(&s), 1;
    decode_figures f;
    if (run_decode(&s, &o, mem.best_gbps, &f) < 0) return bench_close(&s), 1;
    report_decode(&s, &mem, &f, o.json);
    bench_close(&s);
    return 0;
}

/* ------------------------------------------------------------------ prefill */

static const bench_spec PREFILL_SPEC = {
    "prefill -m MODEL [-p N] [-t N] [--kv f16] [--runs R] [--json]", BO_MODEL | BO_PROMPT | BO_RUNS,
    {.n_decode = 1, .n_prompt = 128, .n_runs = 3, .size_mib = 1}};

/* Multiply-adds of every layer matrix for one token. */
static double layer_macs(const aion_model_info *in) {
    double kv = (double)in->n_head_kv * in->head_dim, e = in->n_embd;
    return in->n_layer * (2 * e * e + 2 * e * kv + 3 * e * in->n_ff);
}

/* Multiply-adds x 2 of one forward of n tokens at positions 0..n-1 with logits for the last:
 * every layer matrix once per token, attention over the causal prefix, one output row. */
static double prefill_flops(const aion_model_info *in, int n) {
    double e = in->n_embd, attention = 2.0 * e * ((double)n * (n + 1) / 2); /* q.k and p.v per head position */
    return 2 * (layer_macs(in) * n + in->n_layer * attention + e * in->n_vocab);
}

static int bench_prefill(int argc, char **argv) {
    bench_opts o;
    int rc = parse_bench_args(argc, argv, &PREFILL_SPEC, &o);
    if (rc) return rc;
    bench_session s;
    if (bench_open(&s, &o, o.n_prompt, o.n_prompt) < 0) return bench_close(&s), 1;
    /* A short untimed forward maps the weights in (page faults are not prefill's cost). */
    double *t = malloc((size_t)o.n_runs * sizeof *t);
    bool ok = t && bench_forward(&s, 0, o.n_prompt < 8 ? o.n_prompt : 8, false) >= 0;
    bench_meter_reset(&s);
    for (int r = 0; ok && r < o.n_runs; r++) {
        aion_kv_truncate(s.ctx, 0, 0);
        ok = (t[r] = bench_forward(&s, 0, o.n_prompt, false)) >= 0;
    }
    if (!ok) return free(t), bench_close(&s), 1;
    double best = t[0];
    for (int r = 1; r < o.n_runs; r++) best = t[r] < best ? t[r] : best;
    double med = median(t, o.n_runs), gflop = prefill_flops(&s.info, o.n_prompt) / 1e9, cpu = bench_cpu_percent(&s);
    free(t);
    if (o.json) {
        cJSON *j = bench_json_head("prefill", aion_threads_count(s.threads));
        cJSON_AddItemToObject(j, "model", model_json(&s));
        cJSON_AddNumberToObject(j, "prompt_tokens", o.n_prompt);
        cJSON_AddNumberToObject(j, "runs", o.n_runs);
        cJSON_AddNumberToObject(j, "best_seconds", best);
        cJSON_AddNumberToObject(j, "median_seconds", med);
        cJSON_AddNumberToObject(j, "tokens_per_second", o.n_prompt / best);
        cJSON_AddNumberToObject(j, "median_tokens_per_second", o.n_prompt / med);
        cJSON_AddNumberToObject(j, "gflops", gflop / best);
        cJSON_AddNumberToObject(j, "cpu_percent", cpu);
        print_json(j);
    } else {
        print_model_line(&s);
        printf("| prompt | runs | best s | tok/s | median tok/s | GFLOP/s | cpu %% |\n"
               "|---:|---:|---:|---:|---:|---:|---:|\n");
        printf("| %d | %d | %.3f | %.1f | %.1f | %.1f | %.0f |\n", o.n_prompt, o.n_runs, best, o.n_prompt / best,
               o.n_prompt / med, gflop / best, cpu);
    }
    bench_close(&s);
    return 0;
}

/* ------------------------------------------------------------------ batch */

static const bench_spec BATCH_SPEC = {
    "batch -m MODEL [-t N] [--pos P] [--kv f16] [--runs R] [--logits all|last] [--size MIB] [--json]",
    BO_MODEL | BO_RUNS | BO_POS | BO_LOGITS | BO_SIZE,
    {.n_decode = 1, .n_prompt = 1, .n_runs = 5, .size_mib = (int)(MEMBW_DEFAULT_BYTES >> 20), .pos = 64}};

static const int BATCH_SIZES[] = {1, 2, 4, 8, 16, 32};
#define N_BATCH_SIZES ((int)(sizeof BATCH_SIZES / sizeof *BATCH_SIZES))
#define MAX_BATCH 32

/* Median seconds of one forward of n tokens after the same cached prefix (rolled back after
 * each), following one untimed forward; *cpu gets the cpu % of the timed ones. */
static double time_batch(bench_session *s, const bench_opts *o, int n, double *scratch, double *cpu) {
    int prefix = aion_kv_len(s->ctx, 0);
    for (int r = -1; r < o->n_runs; r++) {
        if (r == 0) bench_meter_reset(s);
        double sec = bench_forward(s, prefix, n, !o->last_logits_only);
        aion_kv_truncate(s->ctx, 0, prefix);
        if (sec < 0) return -1;
        if (r >= 0) scratch[r] = sec;
    }
    *cpu = bench_cpu_percent(s);
    return median(scratch, o->n_runs);
}

/* The matmuls' multiply-adds of a forward of n tokens with logits for all, at gmacs. */
static double macs_seconds(const aion_model_info *in, int n, double gmacs) {
    return gmacs > 0 ? n * (layer_macs(in) + (double)in->n_embd * in->n_vocab) / (gmacs * 1e9) : 0;
}

/* The arithmetic floor of a forward of n tokens: its multiply-adds at the probe's peak for the
 * weights' kind of arithmetic (int8 dots for the quantized types). */
static double compute_floor_seconds(const aion_model_info *in, const peak_result *peak, int n) {
    bool int8 = !quant_act_passthrough(in->main_type) && peak->int8_gmacs > 0;
    return macs_seconds(in, n, int8 ? peak->int8_gmacs : peak->f32_gmacs);
}

/* t(n)/t(1) means little without the memory speed of the moment: the same arithmetic hides
 * behind a slow stream and shows beside a fast one (this VM moves between ~35 and ~55 GB/s), so
 * the report carries a probe taken in the same run and where t(1) stands against it. */
static void report_batch(const bench_session *s, const bench_opts *o, const peak_result *peak,
                         const double *kernel_gmacs, const membw_result *mem, const double *sec, const double *cpu) {
    double bytes = (double)aion_model_forward_bytes(s->model, true);
    double t1_pct = mem->best_gbps > 0 ? 100.0 * bytes / sec[0] / 1e9 / mem->best_gbps : 0;
    if (o->json) {
        cJSON *j = bench_json_head("batch", aion_threads_count(s->threads));
        cJSON_AddItemToObject(j, "model", model_json(s));
        cJSON_AddNumberToObject(j, "context_pos", o->pos);
        cJSON_AddNumberToObject(j, "runs", o->n_runs);
        cJSON_AddStringToObject(j, "logits", o->last_logits_only ? "last" : "all");
        cJSON_AddItemToObject(j, "peak", peak_json(peak));
        cJSON_AddItemToObject(j, "memory", membw_json(mem));
        cJSON_AddNumberToObject(j, "t1_percent_of_memory", t1_pct);
        cJSON *rows = cJSON_AddArrayToObject(j, "rows");
        for (int i = 0; i < N_BATCH_SIZES; i++) {
            cJSON *row = cJSON_CreateObject();
            cJSON_AddNumberToObject(row, "n", BATCH_SIZES[i]);
            cJSON_AddNumberToObject(row, "seconds", sec[i]);
            cJSON_AddNumberToObject(row, "tokens_per_second", BATCH_SIZES[i] / sec[i]);
            cJSON_AddNumberToObject(row, "ratio_to_1", sec[i] / sec[0]);
            cJSON_AddNumberToObject(row, "weight_gbps", bytes / sec[i] / 1e9);
            cJSON_AddNumberToObject(row, "cpu_percent", cpu[i]);
            cJSON_AddNumberToObject(row, "compute_floor_seconds", compute_floor_seconds(&s->info, peak, BATCH_SIZES[i]));
            cJSON_AddNumberToObject(row, "kernel_gmacs", kernel_gmacs[i]);
            cJSON_AddNumberToObject(row, "kernel_floor_seconds", macs_seconds(&s->info, BATCH_SIZES[i], kernel_gmacs[i]));
            cJSON_AddItemToArray(rows, row);
        }
        print_json(j);
        return;
    }
    print_model_line(s);
    printf("context: %d cached tokens | logits: %s rows | median of %d | peak %.0f int8 / %.0f f32 GMAC/s (%s)\n",
           o->pos, o->last_logits_only ? "last" : "all", o->n_runs, peak->int8_gmacs, peak->f32_gmacs, peak->isa);
    printf("memory probe %.1f GB/s in this run; t(1) streams the weights at %.0f%% of it (a batch's arithmetic\n"
           "hides behind a slower stream: t(n)/t(1) falls with the probe)\n\n",
           mem->best_gbps, t1_pct);
    printf("compute floor: the matmuls' multiply-adds at that peak; kernel floor: at the rate of the %s matmul\n"
           "kernel itself on n tokens in cache (kernel GMAC/s: the per-block scaling and loads beside the dot\n"
           "products); bound: max(t(1), kernel floor) / t(1), what t(n)/t(1) would be if the kernels' arithmetic\n"
           "hid completely behind the weight stream and nothing else took time\n\n",
           quant_type_name(s->info.main_type));
    printf("| n | ms | tok/s | t(n)/t(1) | compute floor ms | kernel GMAC/s | kernel floor ms | bound | weight GB/s | cpu %% |\n"
           "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int i = 0; i < N_BATCH_SIZES; i++) {
        double floor_s = macs_seconds(&s->info, BATCH_SIZES[i], kernel_gmacs[i]);
        printf("| %d | %.2f | %.1f | %.2f | %.2f | %.0f | %.2f | %.2f | %.2f | %.0f |\n", BATCH_SIZES[i], sec[i] * 1e3,
               BATCH_SIZES[i] / sec[i], sec[i] / sec[0], compute_floor_seconds(&s->info, peak, BATCH_SIZES[i]) * 1e3,
               kernel_gmacs[i], floor_s * 1e3, (floor_s > sec[0] ? floor_s : sec[0]) / sec[0], bytes / sec[i] / 1e9,
               cpu[i]);
    }
}

static int bench_batch(int argc, char **argv) {
    bench_opts o;
    int rc = parse_bench_args(argc, argv, &BATCH_SPEC, &o);
    if (rc) return rc;
    bench_session s;
    double sec[N_BATCH_SIZES], cpu[N_BATCH_SIZES], *scratch = malloc((size_t)o.n_runs * sizeof *scratch);
    int fill_batch = o.pos > MAX_BATCH ? o.pos : MAX_BATCH;
    bool ok = scratch && bench_open(&s, &o, o.pos + MAX_BATCH, fill_batch) == 0 && bench_fill(&s, o.pos) == 0;
    for (int i = 0; ok && i < N_BATCH_SIZES; i++) ok = (sec[i] = time_batch(&s, &o, BATCH_SIZES[i], scratch, &cpu[i])) >= 0;
    peak_result peak;
    membw_result mem;
    double kernel_gmacs[N_BATCH_SIZES];
    if (ok) peak_measure(s.threads, 3, &peak);
    for (int i = 0; ok && i < N_BATCH_SIZES; i++) kernel_gmacs[i] = peak_kernel_gmacs(s.threads, s.info.main_type, BATCH_SIZES[i], 3);
    ok = ok && probe_memory(s.threads, o.size_mib, MEMBW_DEFAULT_RUNS, &mem) == 0;
    if (ok) report_batch(&s, &o, &peak, kernel_gmacs, &mem, sec, cpu);
    free(scratch);
    bench_close(&s);
    return ok ? 0 : 1;
}

/* ------------------------------------------------------------------ dispatch */

typedef struct bench_kind {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} bench_kind;

static const bench_kind BENCHES[] = {
    {"memory", bench_memory, "read bandwidth with all threads (the decode roofline)"},
    {"compute", bench_compute, "int8 and f32 multiply-add peak with all threads (the batch roofline)"},
    {"decode", bench_decode, "greedy decode tokens/s, bytes/token, % of memory bandwidth"},
    {"prefill", bench_prefill, "tokens/s of one N-token prompt"},
    {"batch", bench_batch, "time of one forward of 1..32 tokens and t(n)/t(1)"},
    {"strategies", cmd_bench_strategies, "ar / lookup / spec at each k on every task category, vs ar"},
    {"serve", cmd_bench_serve, "continuous batching vs one request at a time, concurrency 1..16"},
    {"mixed", cmd_bench_mixed, "a mixed workload under six serving policies: throughput, accuracy, bytes/token"},
    /* new benches: one line each, above this comment */
};

static void bench_list(FILE *out) {
    fprintf(out, "usage: aio bench KIND [options]   (aio bench KIND --help for its options)\n\nkinds:\n");
    for (size_t i = 0; i < sizeof BENCHES / sizeof *BENCHES; i++)
        fprintf(out, "  %-10s %s\n", BENCHES[i].name, BENCHES[i].help);
}

int cmd_bench(int argc, char **argv) {
    if (argc < 2 || opt_is(argv[1], "-h", "--help")) {
        bench_list(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof BENCHES / sizeof *BENCHES; i++)
        if (strcmp(argv[1], BENCHES[i].name) == 0) return BENCHES[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "error: unknown bench '%s'\n", argv[1]);
    bench_list(stderr);
    return 2;
}
