/*
 * router.h - the orchestrator's routing decision alone, for callers that run
 * their own decoding (the server's batching scheduler).
 *
 * Holds a probe context of its own on the probe model, so it can classify a
 * prompt while the schedulers keep their slots; thread-safe (one probe at a
 * time). The decision is the policy's route; the strategy is left to the
 * caller, whose batch size decides whether speculation pays.
 */
#ifndef AION_ROUTER_H
#define AION_ROUTER_H

#include <stddef.h>

#include "aion.h"

typedef struct orch_router orch_router;

typedef struct route_decision {
    char model[64];
    char category[24];
    float confidence;
    const char *reason;
    double probe_seconds;
} route_decision;

/* models/names: the pool; the probe model is the policy's. NULL with err if the policy cannot be
 * loaded or the probe model cannot probe. */
orch_router *orch_router_new(const aion_model *const *models, const char *const *names, int n_models,
                             const char *policy_path, char *err, size_t err_len);
void orch_router_free(orch_router *r);
/* Classifies text (tokenized with the probe model, BOS added) and applies the policy. */
int orch_router_route(orch_router *r, const char *text, size_t len, route_decision *out, char *err, size_t err_len);

#endif
