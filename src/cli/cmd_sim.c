/*
 * cmd_sim.c - `aio sim`: plan A-IO for accelerators we do not have.
 *
 *   aio sim --hw PROFILE --models SMALL,LARGE (--trace FILE | --mix SPEC) ...
 *       serves a workload under every policy on a simulated machine (src/sim/)
 *       and reports throughput, HBM bytes read and where the time goes, as a
 *       markdown table, JSON and a stacked-bar plot.
 *   aio sim fit-local [-m MODEL ...] [-o FILE]
 *       measures this machine (calib_measure) and writes the fitted profile,
 *       the check that the simulator predicts the one machine we can measure.
 *
 * This file is the front end only: options, finding profiles and policy
 * files, printing. Everything it reports is computed in src/sim/.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "common.h"
#include "orch/calibrate.h"
#include "sim/sim_fit.h"
#include "sim/sim_replay.h"

#define DEFAULT_MIX "code:0.3,math:0.25,qa:0.25,chat:0.2"

typedef struct sim_opts {
    const char *hw, *models, *trace, *mix, *out_dir, *mode, *dtype, *aio_policy, *paper_policy;
    int requests, spec_k, lookup_k, prefill_chunk;
    uint64_t seed;
    bool json;
} sim_opts;

static void sim_usage(void) {
    fprintf(stderr,
            "usage: aio sim --hw PROFILE --models SMALL,LARGE (--trace FILE | --mix SPEC) [options]\n"
            "       aio sim fit-local [-m MODEL ...] [-o FILE] [-t N] [--repeats R]\n"
            "  --hw PROFILE        sim/hw/NAME.json or a name there (ascend-910b, h200, cpu-local)\n"
            "  --models A,B        small and large: GGUF paths, shapes (tinyllama-1.1b, llama-7b[:q8_0], ...)\n"
            "                      or L,E,H,HKV,FF,V,BYTES_PER_WEIGHT\n"
            "  --trace FILE        replay `aio bench mixed --trace FILE`\n"
            "  --mix SPEC          synthetic mix (default " DEFAULT_MIX ")\n"
            "  --requests N        requests of the synthetic mix (default 100)\n"
            "  --seed S            seed of the mix and the acceptance draws (default 1)\n"
            "  --mode graph|eager  override the profile's execution\n"
            "  --dtype TYPE        compute both models in fp32|fp16|bf16|int8 (default: from the weights;\n"
            "                      quantized weights in the profile's quantized_dtype)\n"
            "  --spec-k K          draft length of spec-fine-k/spec-bucketed, cap of spec-fine-oracle (default 3)\n"
            "  --lookup-k K        draft length of large+lookup (default 7)\n"
            "  --prefill-chunk N   prompt tokens per prefill forward (default 128)\n"
            "  --policy FILE       A-IO's policy (default models/policy.json)\n"
            "  --paper-policy FILE the paper's policy (default models/policy-paper.json)\n"
            "  --out DIR           where sim-PROFILE.{md,json,dat,png} go (default bench/out)\n"
            "  --json              print JSON instead of the table\n");
}

static int parse_sim_args(int argc, char **argv, sim_opts *o) {
    *o = (sim_opts){.out_dir = "bench/out", .requests = 100, .spec_k = 3, .lookup_k = 7, .prefill_chunk = 128,
                    .seed = 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool ok = true;
        if (opt_is(a, "-h", "--help")) return sim_usage(), 2;
        else if (opt_is(a, NULL, "--hw")) ok = opt_str(argc, argv, &i, &o->hw);
        else if (opt_is(a, NULL, "--models")) ok = opt_str(argc, argv, &i, &o->models);
        else if (opt_is(a, NULL, "--trace")) ok = opt_str(argc, argv, &i, &o->trace);
        else if (opt_is(a, NULL, "--mix")) ok = opt_str(argc, argv, &i, &o->mix);
        else if (opt_is(a, "-n", "--requests")) ok = opt_int(argc, argv, &i, &o->requests);
        else if (opt_is(a, NULL, "--seed")) ok = opt_u64(argc, argv, &i, &o->seed);
        else if (opt_is(a, NULL, "--mode")) ok = opt_str(argc, argv, &i, &o->mode);
        else if (opt_is(a, NULL, "--dtype")) ok = opt_str(argc, argv, &i, &o->dtype);
        else if (opt_is(a, NULL, "--spec-k")) ok = opt_int(argc, argv, &i, &o->spec_k);
        else if (opt_is(a, NULL, "--lookup-k")) ok = opt_int(argc, argv, &i, &o->lookup_k);
        else if (opt_is(a, NULL, "--prefill-chunk")) ok = opt_int(argc, argv, &i, &o->prefill_chunk);
        else if (opt_is(a, NULL, "--policy")) ok = opt_str(argc, argv, &i, &o->aio_policy);
        else if (opt_is(a, NULL, "--paper-policy")) ok = opt_str(argc, argv, &i, &o->paper_policy);
        else if (opt_is(a, NULL, "--out")) ok = opt_str(argc, argv, &i, &o->out_dir);
        else if (opt_is(a, NULL, "--json")) o->json = true;
        else {
            fprintf(stderr, "error: unknown option '%s'\n", a);
            sim_usage();
            return 2;
        }
        if (!ok) return 2;
    }
    const char *why = !o->hw ? "--hw is required"
                      : !o->models ? "--models SMALL,LARGE is required"
                      : o->trace && o->mix ? "give --trace or --mix, not both"
                      : o->mode && strcmp(o->mode, "graph") && strcmp(o->mode, "eager") ? "--mode is graph or eager"
                      : o->dtype && sim_dtype_from_name(o->dtype) < 0 ? "--dtype is fp32, fp16, bf16 or int8"
                      : o->spec_k < 1 || o->spec_k > DECODE_MAX_DRAFT ? "--spec-k must be in 1..16"
                      : o->lookup_k < 1 || o->lookup_k > DECODE_MAX_DRAFT ? "--lookup-k must be in 1..16"
                      : o->prefill_chunk < 1 || o->prefill_chunk > SIM_MAX_SHAPE ? "--prefill-chunk must be in 1..4096"
                                                                                   : NULL;
    if (why) {
        fprintf(stderr, "error: %s\n", why);
        sim_usage();
        return 2;
    }
    if (!o->trace && !o->mix) o->mix = DEFAULT_MIX;
    return 0;
}

/* ------------------------------------------------------------- locating */

/* A file as given, else relative to the working directory's and the source tree's `dir`. */
static const char *find_data_file(const char *given, const char *dir, const char *suffix, char *buf, size_t len) {
    if (access(given, R_OK) == 0 || strchr(given, '/')) return given;
    snprintf(buf, len, "%s/%s%s", dir, given, suffix);
    if (access(buf, R_OK) == 0) return buf;
#ifdef AION_SOURCE_DIR
    snprintf(buf, len, "%s/%s/%s%s", AION_SOURCE_DIR, dir, given, suffix);
    if (access(buf, R_OK) == 0) return buf;
#endif
    return given;
}

/* The default family's policy files sit next to its models. */
static const char *default_policy(const char *file, char *buf, size_t len) {
    char model[4096];
    if (default_model_path("aio-small", model, sizeof model)) {
        char *slash = strrchr(model, '/');
        snprintf(buf, len, "%.*s/%s", slash ? (int)(slash - model) : 1, slash ? model : ".", file);
        if (access(buf, R_OK) == 0) return buf;
    }
    const char *found = find_data_file(file, "models", "", buf, len);
    return access(found, R_OK) == 0 ? found : NULL;
}

/* ------------------------------------------------------------- reporting */

static double per_token_ms(const sim_result *r, double seconds) {
    return r->output_tokens ? 1e3 * seconds / r->output_tokens : 0;
}

/* "13.21 GB", "420.9 kB": bytes a person reads at a glance. */
static const char *human_bytes(double bytes, char *buf, size_t len) {
    const char *units[] = {"B", "kB", "MB", "GB", "TB"};
    int u = 0;
    while (bytes >= 1000 && u < 4) bytes /= 1000, u++;
    snprintf(buf, len, "%.*f %s", u >= 3 ? 2 : 1, bytes, units[u]);
    return buf;
}

/* "llama-7b (13.21 GB per forward, bf16 weights computed in bf16 at 989 TFLOP/s)" */
static const char *describe_model(const sim_setup *s, const sim_model *m, char *buf, size_t len) {
    char bytes[32];
    sim_dtype d = sim_compute_dtype(&s->hw, m);
    snprintf(buf, len, "%s (%s per forward, %s weights computed in %s at %.4g T%s/s)", m->name,
             human_bytes(m->layer_bytes + m->output_bytes, bytes, sizeof bytes), m->weight_type, sim_dtype_name(d),
             s->hw.peak_flops[d] / 1e12, d == SIM_DTYPE_INT8 ? "OP" : "FLOP");
    return buf;
}

static void print_table(FILE *out, const sim_setup *s, const sim_workload *w, const sim_result *res) {
    char a[200], b[200];
    fprintf(out, "hw %s (%s, %s), models %s and %s, %s\n\n", s->hw.name, s->hw.kind,
            s->exec == SIM_EXEC_GRAPH ? "graph" : "eager", describe_model(s, &s->models[0], a, sizeof a),
            describe_model(s, &s->models[1], b, sizeof b), w->source);
    fprintf(out, "| policy | tok/s | steady tok/s | x static-large | GB read | MB/token | bandwidth s | compute s | "
                 "launch s | sync s | compile s | syncs | shapes small/large | to small |\n"
                 "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    double base = sim_result_tokens_per_second(&res[SIM_STATIC_LARGE]);
    for (int p = 0; p < SIM_N_POLICIES; p++) {
        const sim_result *r = &res[p];
        if (!r->ran) continue;
        double tps = sim_result_tokens_per_second(r);
        fprintf(out, "| %s | %.1f | %.1f | %.2f | %.1f | %.1f |", sim_policy_name(p), tps,
                sim_result_steady_tokens_per_second(r), base > 0 ? tps / base : 0, r->bytes_read / 1e9,
                r->output_tokens ? r->bytes_read / 1e6 / r->output_tokens : 0);
        for (int c = 0; c < SIM_N_COSTS; c++) fprintf(out, " %.2f |", r->split[c]);
        fprintf(out, " %ld | %d/%d | %d/%d |\n", r->syncs, sim_result_shapes(r, SIM_SMALL),
                sim_result_shapes(r, SIM_LARGE), r->routed_small, r->requests);
    }
}

static cJSON *model_json(const sim_setup *s, const sim_model *m) {
    cJSON *j = cJSON_CreateObject();
    sim_dtype d = sim_compute_dtype(&s->hw, m);
    cJSON_AddStringToObject(j, "name", m->name);
    cJSON_AddNumberToObject(j, "layers", m->n_layer);
    cJSON_AddNumberToObject(j, "bytes_per_weight", m->bytes_per_weight);
    cJSON_AddNumberToObject(j, "forward_bytes", m->layer_bytes + m->output_bytes);
    cJSON_AddStringToObject(j, "weight_type", m->weight_type);
    cJSON_AddStringToObject(j, "compute_dtype", sim_dtype_name(d));
    cJSON_AddNumberToObject(j, "peak_TFLOPS", s->hw.peak_flops[d] / 1e12);
    return j;
}

static cJSON *results_json(const sim_setup *s, const sim_workload *w, const sim_result *res) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "bench", "sim");
    cJSON_AddStringToObject(j, "hw", s->hw.name);
    cJSON_AddStringToObject(j, "execution", s->exec == SIM_EXEC_GRAPH ? "graph" : "eager");
    cJSON_AddStringToObject(j, "attention_dtype", sim_dtype_name(s->hw.attention_dtype));
    cJSON_AddItemToObject(j, "small", model_json(s, &s->models[SIM_SMALL]));
    cJSON_AddItemToObject(j, "large", model_json(s, &s->models[SIM_LARGE]));
    cJSON_AddStringToObject(j, "workload", w->source);
    cJSON *pj = cJSON_AddObjectToObject(j, "policies");
    for (int p = 0; p < SIM_N_POLICIES; p++) {
        const sim_result *r = &res[p];
        if (!r->ran) continue;
        cJSON *rj = cJSON_AddObjectToObject(pj, sim_policy_name(p));
        cJSON_AddNumberToObject(rj, "tokens_per_second", sim_result_tokens_per_second(r));
        cJSON_AddNumberToObject(rj, "steady_tokens_per_second", sim_result_steady_tokens_per_second(r));
        cJSON_AddNumberToObject(rj, "seconds", r->seconds);
        cJSON_AddNumberToObject(rj, "output_tokens", (double)r->output_tokens);
        cJSON_AddNumberToObject(rj, "bytes_read", r->bytes_read);
        cJSON *split = cJSON_AddObjectToObject(rj, "seconds_by_cause");
        for (int c = 0; c < SIM_N_COSTS; c++) cJSON_AddNumberToObject(split, sim_cost_name(c), r->split[c]);
        cJSON_AddNumberToObject(rj, "syncs", (double)r->syncs);
        cJSON_AddNumberToObject(rj, "forwards", (double)r->forwards);
        cJSON_AddNumberToObject(rj, "rounds", (double)r->rounds);
        cJSON_AddNumberToObject(rj, "drafted", (double)r->drafted);
        cJSON_AddNumberToObject(rj, "accepted", (double)r->accepted);
        cJSON_AddNumberToObject(rj, "shapes_small", sim_result_shapes(r, SIM_SMALL));
        cJSON_AddNumberToObject(rj, "shapes_large", sim_result_shapes(r, SIM_LARGE));
        cJSON_AddNumberToObject(rj, "routed_small", r->routed_small);
    }
    return j;
}

/* Stacked bars of the time per output token by cause; gnuplot is optional. */
static void write_plot(const char *dir, const sim_setup *s, const sim_result *res) {
    char dat[4200], gp[4200], png[4200];
    snprintf(dat, sizeof dat, "%s/sim-%s.dat", dir, s->hw.name);
    snprintf(gp, sizeof gp, "%s/sim-%s.gp", dir, s->hw.name);
    snprintf(png, sizeof png, "%s/sim-%s.png", dir, s->hw.name);
    FILE *f = fopen(dat, "w");
    if (!f) return;
    fprintf(f, "# policy, then ms per output token: bandwidth compute launch sync compile\n");
    for (int p = 0; p < SIM_N_POLICIES; p++) {
        if (!res[p].ran) continue;
        fprintf(f, "\"%s\"", sim_policy_name(p));
        for (int c = 0; c < SIM_N_COSTS; c++) fprintf(f, " %.5f", per_token_ms(&res[p], res[p].split[c]));
        fprintf(f, "\n");
    }
    fclose(f);
    f = fopen(gp, "w");
    if (!f) return;
    fprintf(f,
            "set terminal png size 1000,600\nset output '%s'\n"
            "set title 'A-IO on %s (%s, %s): time per output token by cause'\n"
            "set style data histograms\nset style histogram rowstacked\nset style fill solid 0.8 border -1\n"
            "set boxwidth 0.7\nset ylabel 'ms per output token'\nset xtics rotate by -25\nset key outside right\n"
            "set grid ytics\nplot '%s' using 2:xtic(1) title 'bandwidth', '' using 3 title 'compute', "
            "'' using 4 title 'launch', '' using 5 title 'sync', '' using 6 title 'compile'\n",
            png, s->hw.name, s->models[SIM_SMALL].name, s->models[SIM_LARGE].name, dat);
    fclose(f);
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "command -v gnuplot >/dev/null 2>&1 && gnuplot '%s' 2>/dev/null", gp);
    if (system(cmd) != 0) fprintf(stderr, "warning: gnuplot failed or is absent: no plot\n");
}

static void write_outputs(const char *dir, const sim_setup *s, const sim_workload *w, const sim_result *res,
                          const char *json_text) {
    char cmd[4300], path[4300];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "warning: cannot create %s: no files written\n", dir);
        return;
    }
    snprintf(path, sizeof path, "%s/sim-%s.md", dir, s->hw.name);
    FILE *f = fopen(path, "w");
    if (f) print_table(f, s, w, res), fclose(f);
    snprintf(path, sizeof path, "%s/sim-%s.json", dir, s->hw.name);
    f = fopen(path, "w");
    if (f) fprintf(f, "%s\n", json_text), fclose(f);
    write_plot(dir, s, res);
}

/* ------------------------------------------------------------- the run */

static void warn_about_setup(const sim_setup *s, const sim_workload *w) {
    const sim_model *a = &s->models[SIM_SMALL], *b = &s->models[SIM_LARGE];
    if (a->n_vocab != b->n_vocab)
        fprintf(stderr, "warning: %s and %s have different vocabularies (%d, %d): one cannot draft for the other; "
                        "speculation is simulated as if they shared one\n", a->name, b->name, a->n_vocab, b->n_vocab);
    int longest = 0;
    for (int i = 0; i < w->n_requests; i++) {
        const sim_request *r = &w->requests[i];
        int n = r->prompt_tokens + (r->output_large > r->output_small ? r->output_large : r->output_small);
        if (n > longest) longest = n;
    }
    double need = a->resident_bytes + b->resident_bytes +
                  (sim_model_kv_bytes_per_position(a, s->hw.kv_bytes_per_element) +
                   sim_model_kv_bytes_per_position(b, s->hw.kv_bytes_per_element)) * longest;
    if (need > s->hw.memory_bytes)
        fprintf(stderr, "warning: the two models and their caches need %.1f GB, over the %.1f GB of %s\n", need / 1e9,
                s->hw.memory_bytes / 1e9, s->hw.name);
}

static int build_setup(const sim_opts *o, sim_setup *s, char *err, size_t err_len) {
    char buf[4200], aio_buf[4200], paper_buf[4200];
    sim_hw hw;
    if (sim_hw_load(find_data_file(o->hw, "sim/hw", ".json", buf, sizeof buf), &hw, err, err_len) < 0) return -1;
    sim_model models[3];
    int n = sim_model_parse_list(o->models, models, 3, err, err_len);
    if (n < 0) return -1;
    if (n != 2) return set_err(err, err_len, "--models needs exactly two models, SMALL,LARGE (got %d)", n), -1;
    for (int i = 0; i < n && o->dtype; i++) models[i].compute_dtype = (sim_dtype)sim_dtype_from_name(o->dtype);
    sim_setup_init(s, &hw, &models[0], &models[1]);
    if (o->mode) s->exec = strcmp(o->mode, "graph") == 0 ? SIM_EXEC_GRAPH : SIM_EXEC_EAGER;
    s->spec_k = o->spec_k;
    s->lookup_k = o->lookup_k;
    s->prefill_chunk = o->prefill_chunk;
    s->seed = o->seed;
    const char *aio = o->aio_policy ? o->aio_policy : default_policy("policy.json", aio_buf, sizeof aio_buf);
    const char *paper =
        o->paper_policy ? o->paper_policy : default_policy("policy-paper.json", paper_buf, sizeof paper_buf);
    if (!aio || !paper) fprintf(stderr, "warning: models/policy*.json not found: the routed policies are skipped\n");
    return sim_setup_policies(s, aio, paper, err, err_len);
}

static int load_workload(const sim_opts *o, sim_workload *w, char *err, size_t err_len) {
    sim_workload_defaults(w);
    if (o->trace) return sim_workload_load_trace(w, o->trace, err, err_len);
    if (sim_workload_set_mix(w, o->mix, err, err_len) < 0) return -1;
    return sim_workload_generate(w, o->requests, o->seed, err, err_len);
}

static int run_sim(const sim_opts *o) {
    char err[512];
    sim_setup setup;
    sim_workload w = {0};
    if (build_setup(o, &setup, err, sizeof err) < 0 || load_workload(o, &w, err, sizeof err) < 0) {
        fprintf(stderr, "error: %s\n", err);
        sim_workload_free(&w);
        return 1;
    }
    warn_about_setup(&setup, &w);
    sim_result *res = calloc(SIM_N_POLICIES, sizeof *res);
    if (!res) return sim_workload_free(&w), 1;
    for (int p = 0; p < SIM_N_POLICIES; p++) sim_run_policy(&setup, &w, p, &res[p]);
    cJSON *j = results_json(&setup, &w, res);
    char *text = cJSON_PrintUnformatted(j);
    if (o->json) printf("%s\n", text);
    else print_table(stdout, &setup, &w, res);
    write_outputs(o->out_dir, &setup, &w, res, text);
    free(text);
    cJSON_Delete(j);
    free(res);
    sim_workload_free(&w);
    return 0;
}

/* ------------------------------------------------------------- fit-local */

typedef struct fit_opts {
    const char *paths[SIM_FIT_MAX_MODELS];
    int n_paths, n_threads, repeats;
    const char *out;
} fit_opts;

static int parse_fit_args(int argc, char **argv, fit_opts *o, char bufs[2][4096]) {
    *o = (fit_opts){.repeats = 9};
    for (int i = 2; i < argc; i++) {
        bool ok = true;
        if (opt_is(argv[i], "-m", "--model")) {
            if (o->n_paths == SIM_FIT_MAX_MODELS) return fprintf(stderr, "error: at most 8 models\n"), 2;
            ok = opt_str(argc, argv, &i, &o->paths[o->n_paths++]);
        } else if (opt_is(argv[i], "-o", "--out")) ok = opt_str(argc, argv, &i, &o->out);
        else if (opt_is(argv[i], "-t", "--threads")) ok = opt_int(argc, argv, &i, &o->n_threads);
        else if (opt_is(argv[i], NULL, "--repeats")) ok = opt_int(argc, argv, &i, &o->repeats);
        else ok = false;
        if (!ok || o->repeats < 1 || o->repeats > 16) {
            sim_usage();
            return 2;
        }
    }
    if (o->n_paths == 0) {
        const char *names[2] = {"aio-small", "aio-large"};
        for (int i = 0; i < 2; i++)
            if (default_model_path(names[i], bufs[i], 4096)) o->paths[o->n_paths++] = bufs[i];
        if (o->n_paths == 0) return fprintf(stderr, "error: no -m MODEL and no default family found\n"), 1;
    }
    return 0;
}

static int measure_model(const char *path, aion_threads *t, int repeats, sim_model *m, cost_curve *c, char *err,
                         size_t err_len) {
    if (sim_model_parse(path, m, err, err_len) < 0) return -1;
    aion_model *model = aion_model_load(path, err, err_len);
    if (!model) return -1;
    decode_config dc = decode_default_config();
    int rc = calib_measure(model, t, &dc, false, repeats, c, err, err_len);
    aion_model_free(model);
    return rc;
}

static void print_fit(const char *out, const sim_fit *fit, const sim_model *models, const cost_curve *curves, int n) {
    const sim_hw *hw = &fit->hw;
    printf("%s: memory %.2f GB/s, cache %.0f MB at %.2f GB/s, attention %.2f GFLOP/s, %.3f us per kernel, roofline "
           "p %g; matmul G(FL)OP/s:", out, hw->bandwidth / 1e9, hw->cache_bytes / 1e6, hw->cache_bandwidth / 1e9,
           hw->peak_flops[hw->attention_dtype] * hw->attention_efficiency / 1e9, hw->launch_seconds * 1e6,
           hw->roofline_p);
    for (int d = 0; d < SIM_N_DTYPES; d++)
        printf(" %s %.2f (%s)", sim_dtype_name(d), hw->peak_flops[d] / 1e9, fit->fitted[d] ? "fitted" : "stand-in");
    printf("\n");
    for (int i = 0; i < n; i++) {
        const cost_curve *c = &curves[i];
        int last = c->n_ctx - 1, big = c->n_sizes - 1;
        printf("  %s (%s at n=1): n=1 ctx %d measured %.3f ms, fitted %.3f ms; n=1 ctx %d %.3f / %.3f ms; "
               "n=%d %.3f / %.3f ms\n",
               models[i].name, fit->memory_bound[i] ? "memory-bound" : "compute-bound", c->ctx[0],
               c->seconds[0][0] * 1e3, sim_fit_predict(&fit->hw, &models[i], 1, c->ctx[0]) * 1e3, c->ctx[last],
               c->seconds[last][0] * 1e3, sim_fit_predict(&fit->hw, &models[i], 1, c->ctx[last]) * 1e3, c->sizes[big],
               c->seconds[0][big] * 1e3, sim_fit_predict(&fit->hw, &models[i], c->sizes[big], c->ctx[0]) * 1e3);
    }
}

static int fit_local(int argc, char **argv) {
    fit_opts o;
    char bufs[2][4096], err[512], out_buf[4200], id[300];
    int rc = parse_fit_args(argc, argv, &o, bufs);
    if (rc) return rc;
    const char *out = o.out ? o.out : find_data_file("cpu-local", "sim/hw", ".json", out_buf, sizeof out_buf);
    if (!o.out && access(out, F_OK) != 0) out = "sim/hw/cpu-local.json";
    sim_model models[SIM_FIT_MAX_MODELS];
    cost_curve curves[SIM_FIT_MAX_MODELS];
    aion_threads *t = aion_threads_new(o.n_threads);
    int n_threads = aion_threads_count(t);
    for (int i = 0; i < o.n_paths && rc == 0; i++) {
        fprintf(stderr, "measuring %s\n", o.paths[i]);
        rc = measure_model(o.paths[i], t, o.repeats, &models[i], &curves[i], err, sizeof err) < 0 ? 1 : 0;
    }
    sim_fit_machine mach;
    if (rc == 0) sim_fit_probe_machine(t, &mach, id, sizeof id);
    aion_threads_free(t);
    sim_fit fit = {0};
    if (rc == 0 && sim_fit_local(models, curves, o.n_paths, &mach, &fit, err, sizeof err) < 0) rc = 1;
    const char *sources[SIM_HW_MAX_SOURCES];
    for (int i = 0; i < sim_hw_n_sources(); i++) sources[i] = fit.sources[i];
    char description[600];
    snprintf(description, sizeof description, "%s, fitted by `aio sim fit-local` with %d thread(s) from calibration "
             "curves of %d model(s)", id, n_threads, o.n_paths);
    if (rc == 0 && sim_hw_write(out, &fit.hw, description, sources, err, sizeof err) < 0)
        rc = 1;
    if (rc) {
        fprintf(stderr, "error: %s\n", err);
        return rc;
    }
    print_fit(out, &fit, models, curves, o.n_paths);
    return 0;
}

int cmd_sim(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "fit-local") == 0) return fit_local(argc, argv);
    sim_opts o;
    int rc = parse_sim_args(argc, argv, &o);
    return rc ? rc : run_sim(&o);
}
