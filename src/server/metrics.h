/*
 * metrics.h - the server's counters and histograms, rendered for Prometheus.
 *
 * Counters are recorded where things happen (connections, schedulers) and
 * read only when /metrics is scraped; gauges that belong to a scheduler
 * (queue length, active slots) are passed in at render time rather than
 * mirrored here, so there is one owner of each number.
 */
#ifndef AION_SERVER_METRICS_H
#define AION_SERVER_METRICS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct metrics metrics;

enum metrics_endpoint {
    EP_COMPLETIONS, EP_CHAT, EP_MODELS, EP_HEALTH, EP_METRICS, EP_OTHER, EP_COUNT
};

metrics *metrics_new(int n_models, const char *const *model_names);
void metrics_free(metrics *m);

void metrics_request(metrics *m, int endpoint, int http_status);
/* A request named `requested` (a model name or "auto") was served by model index `model`. */
/* Probed categories counted per model: code, math, qa, chat, other (any other label), none. */
#define METRICS_N_CATEGORIES 6
void metrics_route(metrics *m, bool automatic, int model, const char *category);
void metrics_tokens(metrics *m, int model, int prompt, int generated, int drafted, int accepted);
void metrics_ttft(metrics *m, int model, double seconds);
void metrics_tpot(metrics *m, int model, double seconds);
void metrics_step(metrics *m, int model, int n_tokens, int n_sequences);

typedef struct metrics_gauges {
    int queued, active, slots;
} metrics_gauges;

/* Prometheus text exposition; gauges[i] for model i. malloc'd, NULL when out of memory. */
char *metrics_render(metrics *m, const metrics_gauges *gauges);

#endif
