/*
 * router.c - probe + policy behind a lock (see router.h).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "orch/policy.h"
#include "orch/probe.h"
#include "orch/router.h"

struct orch_router {
    policy pol;
    const aion_model *probe_model;
    probe *probe;
    aion_ctx *ctx;
    aion_threads *threads;
    int32_t *ids;
    pthread_mutex_t lock;
};

orch_router *orch_router_new(const aion_model *const *models, const char *const *names, int n_models,
                             const char *policy_path, char *err, size_t err_len) {
    orch_router *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    pthread_mutex_init(&r->lock, NULL);
    if (policy_load(&r->pol, policy_path, names, n_models, err, err_len) < 0) goto fail;
    for (int i = 0; i < n_models; i++)
        if (strcmp(names[i], r->pol.probe_model) == 0) r->probe_model = models[i];
    const char *labels[POLICY_MAX_CATEGORIES];
    for (int c = 0; c < r->pol.n_categories; c++) labels[c] = r->pol.categories[c];
    r->probe = probe_new(r->probe_model, labels, r->pol.n_categories, r->pol.probe_format, err, err_len);
    if (!r->probe) goto fail;
    aion_ctx_params cp = {.n_seq = 1, .n_ctx = 0, .n_batch = 512};
    r->ctx = aion_ctx_new(r->probe_model, &cp, err, err_len);
    r->threads = aion_threads_new(1); /* the schedulers own the cores; a probe is a few ms */
    r->ids = r->ctx ? malloc((size_t)aion_ctx_n_ctx(r->ctx) * sizeof *r->ids) : NULL;
    if (!r->ctx || !r->threads || !r->ids) goto fail;
    return r;
fail:
    orch_router_free(r);
    return NULL;
}

void orch_router_free(orch_router *r) {
    if (!r) return;
    probe_free(r->probe);
    aion_ctx_free(r->ctx);
    aion_threads_free(r->threads);
    free(r->ids);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

int orch_router_route(orch_router *r, const char *text, size_t len, route_decision *out, char *err, size_t err_len) {
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&r->lock);
    int cap = aion_ctx_n_ctx(r->ctx) - 3;
    int n = aion_tokenize(r->probe_model, text, len, true, false, NULL, 0);
    probe_result pr = {.category = -1};
    int rc = 0;
    if (n > 0 && n <= cap) {
        aion_tokenize(r->probe_model, text, len, true, false, r->ids, cap);
        aion_kv_truncate(r->ctx, 0, 0);
        probe_set_window(r->probe, policy_probe_window(&r->pol, n));
        rc = probe_classify(r->probe, r->ctx, 0, r->threads, r->ids, n, &pr, err, err_len);
        aion_kv_truncate(r->ctx, 0, 0);
    }
    pthread_mutex_unlock(&r->lock);
    if (rc < 0) return -1;
    const policy_route *route = policy_decide(&r->pol, pr.category, pr.confidence, n, &out->reason);
    snprintf(out->model, sizeof out->model, "%s", route->model);
    snprintf(out->category, sizeof out->category, "%s", pr.category >= 0 ? probe_label(r->probe, pr.category) : "none");
    out->confidence = pr.confidence;
    out->probe_seconds = pr.seconds;
    return 0;
}
