/*
 * metrics.c - counters and histograms behind GET /metrics.
 *
 * One mutex guards everything: updates are a handful per request or step,
 * far below anything that could contend. Histogram buckets are fixed and
 * chosen for what the numbers are on CPUs and small accelerators: time to
 * first token from milliseconds to tens of seconds (queueing included), time
 * per output token from a fraction of a millisecond to a second.
 */
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/metrics.h"
#include "server/util.h"

#define N_TTFT_BUCKETS 12
#define N_TPOT_BUCKETS 11
static const double TTFT_BOUNDS[N_TTFT_BUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
static const double TPOT_BOUNDS[N_TPOT_BUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};

static const char *const ENDPOINT_NAMES[EP_COUNT] = {"completions", "chat_completions", "models",
                                                     "health",      "metrics",          "other"};
/* The statuses the server answers with; anything else is counted as "other". */
static const int STATUSES[] = {200, 400, 401, 404, 405, 413, 429, 500, 503};
#define N_STATUSES (int)(sizeof STATUSES / sizeof *STATUSES)

typedef struct histogram {
    uint64_t counts[16]; /* per bucket, not cumulative; the last one is +Inf */
    double sum;
    uint64_t n;
} histogram;

typedef struct model_metrics {
    char *name;
    uint64_t route_named;
    uint64_t route_auto[METRICS_N_CATEGORIES]; /* per probed category */
    uint64_t prompt_tokens, generated_tokens, drafted, accepted;
    uint64_t steps, step_tokens, step_sequences;
    histogram ttft, tpot;
} model_metrics;

struct metrics {
    pthread_mutex_t mu;
    uint64_t requests[EP_COUNT][N_STATUSES + 1];
    int n_models;
    model_metrics *models;
};

metrics *metrics_new(int n_models, const char *const *model_names) {
    metrics *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    pthread_mutex_init(&m->mu, NULL);
    m->models = calloc((size_t)(n_models > 0 ? n_models : 1), sizeof *m->models);
    m->n_models = n_models;
    bool ok = m->models != NULL;
    for (int i = 0; ok && i < n_models; i++) ok = (m->models[i].name = strdup(model_names[i])) != NULL;
    if (!ok) {
        metrics_free(m);
        return NULL;
    }
    return m;
}

void metrics_free(metrics *m) {
    if (!m) return;
    for (int i = 0; m->models && i < m->n_models; i++) free(m->models[i].name);
    free(m->models);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static model_metrics *model_at(metrics *m, int model) {
    return model >= 0 && model < m->n_models ? &m->models[model] : NULL;
}

void metrics_request(metrics *m, int endpoint, int http_status) {
    if (endpoint < 0 || endpoint >= EP_COUNT) endpoint = EP_OTHER;
    int k = N_STATUSES;
    for (int i = 0; i < N_STATUSES; i++)
        if (STATUSES[i] == http_status) k = i;
    pthread_mutex_lock(&m->mu);
    m->requests[endpoint][k]++;
    pthread_mutex_unlock(&m->mu);
}

static const char *const CATEGORY_LABELS[METRICS_N_CATEGORIES] = {"code", "math", "qa", "chat", "other", "none"};

static int category_slot(const char *category) {
    if (!category || !category[0] || strcmp(category, "none") == 0) return METRICS_N_CATEGORIES - 1;
    for (int i = 0; i < METRICS_N_CATEGORIES - 2; i++)
        if (strcmp(category, CATEGORY_LABELS[i]) == 0) return i;
    return METRICS_N_CATEGORIES - 2;
}

void metrics_route(metrics *m, bool automatic, int model, const char *category) {
    pthread_mutex_lock(&m->mu);
    model_metrics *mm = model_at(m, model);
    if (mm) {
        if (automatic) mm->route_auto[category_slot(category)]++;
        else mm->route_named++;
    }
    pthread_mutex_unlock(&m->mu);
}

void metrics_tokens(metrics *m, int model, int prompt, int generated, int drafted, int accepted) {
    pthread_mutex_lock(&m->mu);
    model_metrics *mm = model_at(m, model);
    if (mm) {
        mm->prompt_tokens += (uint64_t)prompt;
        mm->generated_tokens += (uint64_t)generated;
        mm->drafted += (uint64_t)drafted;
        mm->accepted += (uint64_t)accepted;
    }
    pthread_mutex_unlock(&m->mu);
}

static void observe(histogram *h, const double *bounds, int n_bounds, double v) {
    int b = 0;
    while (b < n_bounds && v > bounds[b]) b++;
    h->counts[b]++;
    h->sum += v;
    h->n++;
}

void metrics_ttft(metrics *m, int model, double seconds) {
    pthread_mutex_lock(&m->mu);
    model_metrics *mm = model_at(m, model);
    if (mm) observe(&mm->ttft, TTFT_BOUNDS, N_TTFT_BUCKETS, seconds);
    pthread_mutex_unlock(&m->mu);
}

void metrics_tpot(metrics *m, int model, double seconds) {
    pthread_mutex_lock(&m->mu);
    model_metrics *mm = model_at(m, model);
    if (mm) observe(&mm->tpot, TPOT_BOUNDS, N_TPOT_BUCKETS, seconds);
    pthread_mutex_unlock(&m->mu);
}

void metrics_step(metrics *m, int model, int n_tokens, int n_sequences) {
    pthread_mutex_lock(&m->mu);
    model_metrics *mm = model_at(m, model);
    if (mm) {
        mm->steps++;
        mm->step_tokens += (uint64_t)n_tokens;
        mm->step_sequences += (uint64_t)n_sequences;
    }
    pthread_mutex_unlock(&m->mu);
}

static void header(sbuf *b, const char *name, const char *type, const char *help) {
    sbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void per_model_counter(sbuf *b, const metrics *m, const char *name, const char *help, size_t offset) {
    header(b, name, "counter", help);
    for (int i = 0; i < m->n_models; i++) {
        uint64_t v;
        memcpy(&v, (const char *)&m->models[i] + offset, sizeof v);
        sbuf_printf(b, "%s{model=\"%s\"} %llu\n", name, m->models[i].name, (unsigned long long)v);
    }
}

static void render_histogram(sbuf *b, const metrics *m, const char *name, const char *help, size_t offset,
                             const double *bounds, int n_bounds) {
    header(b, name, "histogram", help);
    for (int i = 0; i < m->n_models; i++) {
        const histogram *h = (const histogram *)((const char *)&m->models[i] + offset);
        const char *model = m->models[i].name;
        uint64_t cum = 0;
        for (int k = 0; k < n_bounds; k++) {
            cum += h->counts[k];
            sbuf_printf(b, "%s_bucket{model=\"%s\",le=\"%g\"} %llu\n", name, model, bounds[k], (unsigned long long)cum);
        }
        sbuf_printf(b, "%s_bucket{model=\"%s\",le=\"+Inf\"} %llu\n", name, model, (unsigned long long)h->n);
        sbuf_printf(b, "%s_sum{model=\"%s\"} %.6f\n", name, model, h->sum);
        sbuf_printf(b, "%s_count{model=\"%s\"} %llu\n", name, model, (unsigned long long)h->n);
    }
}

static void render_requests(sbuf *b, const metrics *m) {
    header(b, "aio_requests_total", "counter", "HTTP requests answered, by endpoint and status code");
    for (int e = 0; e < EP_COUNT; e++)
        for (int k = 0; k <= N_STATUSES; k++) {
            if (!m->requests[e][k]) continue;
            char code[16];
            if (k < N_STATUSES) snprintf(code, sizeof code, "%d", STATUSES[k]);
            else snprintf(code, sizeof code, "other");
            sbuf_printf(b, "aio_requests_total{endpoint=\"%s\",code=\"%s\"} %llu\n", ENDPOINT_NAMES[e], code,
                        (unsigned long long)m->requests[e][k]);
        }
}

static void render_routes(sbuf *b, const metrics *m) {
    header(b, "aio_route_decisions_total", "counter",
           "generation requests per serving model; requested=auto: the router chose it for the probed category");
    for (int i = 0; i < m->n_models; i++) {
        for (int c = 0; c < METRICS_N_CATEGORIES; c++)
            sbuf_printf(b, "aio_route_decisions_total{model=\"%s\",requested=\"auto\",category=\"%s\"} %llu\n",
                        m->models[i].name, CATEGORY_LABELS[c], (unsigned long long)m->models[i].route_auto[c]);
        sbuf_printf(b, "aio_route_decisions_total{model=\"%s\",requested=\"named\"} %llu\n", m->models[i].name,
                    (unsigned long long)m->models[i].route_named);
    }
}

static void render_gauges(sbuf *b, const metrics *m, const metrics_gauges *g) {
    header(b, "aio_queue_length", "gauge", "requests waiting for a slot");
    for (int i = 0; i < m->n_models; i++) sbuf_printf(b, "aio_queue_length{model=\"%s\"} %d\n", m->models[i].name, g[i].queued);
    header(b, "aio_active_slots", "gauge", "slots holding a request (prefilling or decoding)");
    for (int i = 0; i < m->n_models; i++) sbuf_printf(b, "aio_active_slots{model=\"%s\"} %d\n", m->models[i].name, g[i].active);
    header(b, "aio_slots", "gauge", "slots (sequences batched per step) of each model");
    for (int i = 0; i < m->n_models; i++) sbuf_printf(b, "aio_slots{model=\"%s\"} %d\n", m->models[i].name, g[i].slots);
}

char *metrics_render(metrics *m, const metrics_gauges *gauges) {
    sbuf b = {0};
    pthread_mutex_lock(&m->mu);
    render_requests(&b, m);
    render_routes(&b, m);
    per_model_counter(&b, m, "aio_prompt_tokens_total", "prompt tokens processed",
                      offsetof(model_metrics, prompt_tokens));
    per_model_counter(&b, m, "aio_generated_tokens_total", "completion tokens generated",
                      offsetof(model_metrics, generated_tokens));
    per_model_counter(&b, m, "aio_drafted_tokens_total", "tokens proposed by speculation",
                      offsetof(model_metrics, drafted));
    per_model_counter(&b, m, "aio_accepted_tokens_total", "drafted tokens the model verified",
                      offsetof(model_metrics, accepted));
    per_model_counter(&b, m, "aio_batch_steps_total", "batched forwards (scheduler steps)",
                      offsetof(model_metrics, steps));
    per_model_counter(&b, m, "aio_batch_tokens_total", "tokens carried by the batched forwards",
                      offsetof(model_metrics, step_tokens));
    per_model_counter(&b, m, "aio_batch_sequences_total",
                      "sequences in the batched forwards (divided by steps: the mean batch)",
                      offsetof(model_metrics, step_sequences));
    render_histogram(&b, m, "aio_time_to_first_token_seconds", "from arrival to the first token",
                     offsetof(model_metrics, ttft), TTFT_BOUNDS, N_TTFT_BUCKETS);
    render_histogram(&b, m, "aio_time_per_output_token_seconds", "mean time per token after the first, per request",
                     offsetof(model_metrics, tpot), TPOT_BOUNDS, N_TPOT_BUCKETS);
    pthread_mutex_unlock(&m->mu);
    render_gauges(&b, m, gauges);
    return sbuf_take(&b);
}
