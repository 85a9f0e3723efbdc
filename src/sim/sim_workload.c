/*
 * sim_workload.c - synthetic mixes and trace replay (see sim_workload.h).
 *
 * A trace has one row per (configuration, request) but no per-round counts,
 * so acceptance is recovered from totals: a pinned spec or lookup row with
 * draft length k produced output = 1 + rounds + accepted tokens, which gives
 * the mean accepted drafts per round, and the geometric per-position rate
 * with that mean. For lookup, drafts are assumed full length (k), which
 * turns the drafted total into the rounds that had a draft; a short n-gram
 * match makes that an underestimate of the draft rate.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim_workload.h"
#include "util.h"

/* Illustrative defaults (sim/README.md): 1B -> 7B drafters accept 0.6-0.8 per position in published
 * speculative decoding results; prompt lookup pays off where answers copy the prompt (code, qa). */
static const sim_category DEFAULT_CATEGORIES[] = {
    {"code", 0.30, 256, 192, 0.80, 0.75, 0.70},
    {"math", 0.25, 128, 160, 0.75, 0.60, 0.60},
    {"qa", 0.25, 320, 96, 0.65, 0.55, 0.50},
    {"chat", 0.20, 96, 224, 0.60, 0.35, 0.25},
};
#define N_DEFAULT (int)(sizeof DEFAULT_CATEGORIES / sizeof *DEFAULT_CATEGORIES)

/* A category a trace names but the defaults do not: middling acceptance until the trace says more. */
static const sim_category GENERIC_CATEGORY = {"", 0, 128, 128, 0.65, 0.45, 0.40};

void sim_workload_defaults(sim_workload *w) {
    memset(w, 0, sizeof *w);
    for (int i = 0; i < N_DEFAULT; i++) w->cats[i] = DEFAULT_CATEGORIES[i];
    w->n_categories = N_DEFAULT;
}

void sim_workload_free(sim_workload *w) {
    free(w->requests);
    w->requests = NULL;
    w->n_requests = 0;
}

int sim_workload_category(const sim_workload *w, const char *name) {
    for (int i = 0; i < w->n_categories; i++)
        if (strcmp(w->cats[i].name, name) == 0) return i;
    return -1;
}

int sim_workload_set_mix(sim_workload *w, const char *mix, char *err, size_t err_len) {
    double shares[SIM_MAX_CATEGORIES] = {0}, total = 0;
    const char *p = mix;
    while (*p) {
        char name[24];
        double share;
        int used = 0;
        if (sscanf(p, "%23[^:,]:%lf%n", name, &share, &used) != 2 || (p[used] != ',' && p[used] != 0))
            return set_err(err, err_len, "--mix %s: expected CATEGORY:SHARE,... (e.g. code:0.3,math:0.7)", mix), -1;
        int c = sim_workload_category(w, name);
        if (c < 0) return set_err(err, err_len, "--mix: unknown category '%s' (code, math, qa, chat)", name), -1;
        if (!(share >= 0 && share <= 1e6)) return set_err(err, err_len, "--mix: share of %s must be >= 0", name), -1;
        shares[c] = share;
        total += share;
        p += used + (p[used] == ',');
    }
    if (!(total > 0)) return set_err(err, err_len, "--mix %s: the shares sum to zero", mix), -1;
    for (int c = 0; c < w->n_categories; c++) w->cats[c].share = shares[c] / total;
    return 0;
}


static int draw_length(double mean, uint64_t *rng) {
    int n = (int)lround(mean * (0.5 + lcg_uniform(rng)));
    return n < 1 ? 1 : n;
}

int sim_workload_generate(sim_workload *w, int n, uint64_t seed, char *err, size_t err_len) {
    sim_workload_free(w);
    if (n < 1 || n > 1000000) return set_err(err, err_len, "--requests must be in 1..1000000"), -1;
    w->requests = calloc((size_t)n, sizeof *w->requests);
    if (!w->requests) return set_err(err, err_len, "out of memory for %d requests", n), -1;
    uint64_t rng = seed * 2654435761u + 12345;
    for (int i = 0; i < n; i++) {
        double u = lcg_uniform(&rng), acc = 0;
        int c = 0;
        while (c + 1 < w->n_categories && (acc += w->cats[c].share) <= u) c++;
        while (w->cats[c].share <= 0 && c > 0) c--; /* rounding at the top end */
        int out = draw_length(w->cats[c].output_tokens, &rng);
        w->requests[i] = (sim_request){.category = c, .probed = c, .confidence = 1,
                                       .prompt_tokens = draw_length(w->cats[c].prompt_tokens, &rng),
                                       .output_small = out, .output_large = out};
    }
    w->n_requests = n;
    snprintf(w->source, sizeof w->source, "synthetic mix of %d requests (seed %llu)", n, (unsigned long long)seed);
    return 0;
}

double sim_accept_solve(double mean_accepted, int k) {
    if (k < 1 || !(mean_accepted > 0)) return 0;
    if (mean_accepted >= k) return 0.999;
    double lo = 0, hi = 1;
    for (int it = 0; it < 60; it++) {
        double a = (lo + hi) / 2, sum = 0, p = 1;
        for (int i = 0; i < k; i++) sum += p *= a;
        if (sum < mean_accepted) lo = a;
        else hi = a;
    }
    return (lo + hi) / 2;
}

accept_profile sim_accept_profile(double a, double draft_rate) {
    accept_profile p = {.n_positions = DECODE_MAX_DRAFT, .draft_rate = draft_rate, .weight = 1};
    double v = 1;
    for (int i = 0; i < DECODE_MAX_DRAFT; i++) p.prefix[i] = v *= a;
    return p;
}

/* ------------------------------------------------------------------ traces */

typedef struct accept_sums {
    double drafted, accepted, rounds;
    int k;
} accept_sums;

typedef struct trace_state {
    sim_workload *w;
    char (*ids)[64];
    int cap;
    bool *seen_small, *seen_large;
    accept_sums lookup[SIM_MAX_CATEGORIES], spec[SIM_MAX_CATEGORIES];
    const char *path;
    int line;
    char *err;
    size_t err_len;
} trace_state;

static int trace_fail(trace_state *ts, const char *msg, const char *field) {
    set_err(ts->err, ts->err_len, "%s:%d: %s%s%s", ts->path, ts->line, msg, field ? field : "", field ? "\"" : "");
    return -1;
}

static int category_of(trace_state *ts, const char *name) {
    sim_workload *w = ts->w;
    int c = sim_workload_category(w, name);
    if (c >= 0) return c;
    if (w->n_categories == SIM_MAX_CATEGORIES) return trace_fail(ts, "too many categories", NULL);
    c = w->n_categories++;
    w->cats[c] = GENERIC_CATEGORY;
    snprintf(w->cats[c].name, sizeof w->cats[c].name, "%s", name);
    return c;
}

static int request_of(trace_state *ts, const char *id) {
    sim_workload *w = ts->w;
    for (int i = w->n_requests - 1; i >= 0; i--)
        if (strcmp(ts->ids[i], id) == 0) return i;
    if (w->n_requests == ts->cap) {
        int cap = ts->cap ? ts->cap * 2 : 64;
        void *r = realloc(w->requests, (size_t)cap * sizeof *w->requests);
        if (r) w->requests = r;
        void *ids = r ? realloc(ts->ids, (size_t)cap * sizeof *ts->ids) : NULL;
        if (ids) ts->ids = ids;
        void *s = ids ? realloc(ts->seen_small, (size_t)cap * sizeof *ts->seen_small) : NULL;
        if (s) ts->seen_small = s;
        void *l = s ? realloc(ts->seen_large, (size_t)cap * sizeof *ts->seen_large) : NULL;
        if (!l) return trace_fail(ts, "out of memory", NULL);
        ts->seen_large = l;
        ts->cap = cap;
    }
    int i = w->n_requests++;
    snprintf(ts->ids[i], sizeof ts->ids[i], "%s", id);
    w->requests[i] = (sim_request){.probed = -1};
    ts->seen_small[i] = ts->seen_large[i] = false;
    return i;
}

static const char *string_field(const cJSON *row, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool count_field(const cJSON *row, const char *key, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, key);
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1e9) return false;
    *out = v->valuedouble;
    return true;
}

/* A pinned row runs one strategy all along: phases "spec:3@0" (or, without phases, the configs of
 * `aio bench mixed` that pin one). Returns the strategy and sets *k, or -1. */
static int pinned_strategy(const cJSON *row, const char *config, int *k) {
    const char *phases = string_field(row, "phases");
    if (phases) {
        char name[16];
        int at = -1;
        if (strchr(phases, ' ') || sscanf(phases, "%15[a-z]:%d@%d", name, k, &at) != 3 || at != 0 || *k < 1)
            return -1;
        return strcmp(name, "spec") == 0 ? DECODE_SPEC : strcmp(name, "lookup") == 0 ? DECODE_LOOKUP : -1;
    }
    if (strcmp(config, "large+spec") == 0) return *k = 3, DECODE_SPEC;
    if (strcmp(config, "large+lookup") == 0) return *k = 7, DECODE_LOOKUP;
    return -1;
}

static void add_acceptance(trace_state *ts, const cJSON *row, const char *config, int c, double output,
                           double drafted, double accepted) {
    int k;
    int strategy = pinned_strategy(row, config, &k);
    double rounds = output - 1 - accepted;
    if (strategy < 0 || rounds <= 0) return;
    accept_sums *s = strategy == DECODE_SPEC ? &ts->spec[c] : &ts->lookup[c];
    s->drafted += drafted;
    s->accepted += accepted;
    s->rounds += rounds;
    s->k = k;
}

static bool served_by_small(const cJSON *row, const char *config) {
    const char *model = string_field(row, "model");
    return strstr(model ? model : config, "small") != NULL;
}

static int trace_row(trace_state *ts, const cJSON *row) {
    const char *config = string_field(row, "config"), *id = string_field(row, "id"),
               *category = string_field(row, "category");
    double prompt, output, drafted, accepted;
    if (!config) return trace_fail(ts, "missing string field \"", "config");
    if (!id) return trace_fail(ts, "missing string field \"", "id");
    if (!category) return trace_fail(ts, "missing string field \"", "category");
    if (!count_field(row, "prompt_tokens", &prompt)) return trace_fail(ts, "missing or negative field \"", "prompt_tokens");
    if (!count_field(row, "output_tokens", &output)) return trace_fail(ts, "missing or negative field \"", "output_tokens");
    if (!count_field(row, "drafted", &drafted)) return trace_fail(ts, "missing or negative field \"", "drafted");
    if (!count_field(row, "accepted", &accepted)) return trace_fail(ts, "missing or negative field \"", "accepted");
    int c = category_of(ts, category);
    int r = c < 0 ? -1 : request_of(ts, id);
    if (r < 0) return -1;
    sim_request *rq = &ts->w->requests[r];
    rq->category = c;
    rq->prompt_tokens = prompt < 1 ? 1 : (int)prompt;
    bool small = served_by_small(row, config);
    bool *seen = small ? &ts->seen_small[r] : &ts->seen_large[r];
    if (!*seen) { /* the first row served by a model: `aio bench mixed` writes the static configs first */
        *seen = true;
        *(small ? &rq->output_small : &rq->output_large) = output < 1 ? 1 : (int)output;
    }
    const char *probed = string_field(row, "probed");
    const cJSON *conf = cJSON_GetObjectItemCaseSensitive(row, "confidence");
    if (probed && strcmp(probed, "none") != 0 && rq->probed < 0) {
        int p = category_of(ts, probed);
        if (p < 0) return -1;
        rq->probed = p;
        rq->confidence = cJSON_IsNumber(conf) ? (float)conf->valuedouble : 1;
    }
    add_acceptance(ts, row, config, c, output, drafted, accepted);
    return 0;
}

/* Fills what rows left open and folds the acceptance sums into the categories. */
static void trace_finish(trace_state *ts) {
    sim_workload *w = ts->w;
    double prompt[SIM_MAX_CATEGORIES] = {0}, output[SIM_MAX_CATEGORIES] = {0};
    int count[SIM_MAX_CATEGORIES] = {0};
    for (int i = 0; i < w->n_requests; i++) {
        sim_request *rq = &w->requests[i];
        if (!ts->seen_small[i]) rq->output_small = ts->seen_large[i] ? rq->output_large : 1;
        if (!ts->seen_large[i]) rq->output_large = rq->output_small;
        if (rq->probed < 0) rq->probed = rq->category, rq->confidence = 1; /* no probe rows: a perfect probe */
        prompt[rq->category] += rq->prompt_tokens;
        output[rq->category] += rq->output_large;
        count[rq->category]++;
    }
    for (int c = 0; c < w->n_categories; c++) {
        sim_category *cat = &w->cats[c];
        cat->share = w->n_requests ? (double)count[c] / w->n_requests : 0;
        if (count[c]) cat->prompt_tokens = prompt[c] / count[c], cat->output_tokens = output[c] / count[c];
        const accept_sums *sp = &ts->spec[c], *lk = &ts->lookup[c];
        if (sp->rounds > 0) cat->spec_accept = sim_accept_solve(sp->accepted / sp->rounds, sp->k);
        if (lk->rounds > 0 && lk->drafted > 0) {
            double rounds_with_draft = lk->drafted / lk->k;
            cat->lookup_draft_rate = fmin(1, rounds_with_draft / lk->rounds);
            cat->lookup_accept = sim_accept_solve(lk->accepted / rounds_with_draft, lk->k);
        } else if (lk->rounds > 0) {
            cat->lookup_draft_rate = 0;
        }
    }
}

int sim_workload_load_trace(sim_workload *w, const char *path, char *err, size_t err_len) {
    sim_workload_free(w);
    FILE *f = fopen(path, "r");
    if (!f) return set_err(err, err_len, "%s: cannot open the trace", path), -1;
    trace_state ts = {.w = w, .path = path, .err = err, .err_len = err_len};
    char *line = NULL;
    size_t cap = 0;
    int rc = 0;
    while (rc == 0 && getline(&line, &cap, f) > 0) {
        ts.line++;
        if (strspn(line, " \t\r\n") == strlen(line)) continue;
        cJSON *row = cJSON_Parse(line);
        rc = cJSON_IsObject(row) ? trace_row(&ts, row) : trace_fail(&ts, "not a JSON object", NULL);
        cJSON_Delete(row);
    }
    free(line);
    fclose(f);
    if (rc == 0 && w->n_requests == 0) {
        set_err(err, err_len, "%s: the trace has no requests", path);
        rc = -1;
    }
    if (rc == 0) {
        trace_finish(&ts);
        snprintf(w->source, sizeof w->source, "trace %.120s (%d requests)", path, w->n_requests);
    }
    free(ts.ids);
    free(ts.seen_small);
    free(ts.seen_large);
    if (rc < 0) sim_workload_free(w);
    return rc;
}
