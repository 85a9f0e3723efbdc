/*
 * orch.h - the orchestrator: a resident pool of models, and per request the
 * choice of model and decoding strategy.
 *
 * Request path: the probe (small model) labels the prompt; the policy maps the
 * label, its confidence and the prompt length to a serving model and allowed
 * strategies; the cost model ranks those from the calibration curves and the
 * acceptance statistics of the category; the decoder runs, and every few
 * rounds the choice is revisited with what this request has shown (coarse,
 * with hysteresis, never per token). When the small model serves, its probe
 * prefill is reused; when it drafts for the large one, its cached prompt is.
 */
#ifndef AION_ORCH_H
#define AION_ORCH_H

#include <stdbool.h>
#include <stdint.h>

#include "aion.h"
#include "decode/decode.h"
#include "orch/costmodel.h"
#include "orch/policy.h"

#define ORCH_MAX_MODELS 4

typedef struct orch orch;

typedef struct orch_params {
    const char *model_paths[ORCH_MAX_MODELS];
    int n_models;
    const char *policy_path;   /* NULL: models/policy.json beside the first model */
    const char *profile_path;  /* NULL: calib_default_path */
    int n_ctx;                 /* 0: the smallest training context of the pool */
    uint64_t mem_budget;       /* bytes; 0 = no limit */
    int kv_f16;                /* the members' KV caches in f16 (aion_ctx_params.kv_f16) */
    aion_threads *threads;
} orch_params;

orch *orch_new(const orch_params *p, char *err, size_t err_len);
void orch_free(orch *o);

int orch_n_models(const orch *o);
const char *orch_model_name(const orch *o, int i);
const aion_model *orch_model(const orch *o, int i);
int orch_find_model(const orch *o, const char *name); /* -1 if not in the pool */
size_t orch_kv_bytes(const orch *o, int i);
const cost_curve *orch_curve(const orch *o, int i);
bool orch_curve_measured(const orch *o, int i); /* measured at start (profile absent/stale) */

typedef struct orch_request {
    const char *pin_model;     /* NULL or "auto": the probe and policy decide */
    int pin_strategy;          /* -1: the cost model decides */
    int pin_draft_max;         /* with pin_strategy; 0: default */
    bool use_probe;            /* false with pin_model: no probe at all */
    unsigned allowed_override; /* != 0: replaces the policy's allowed set (experiments, benchmarks) */
    bool never_revisit;
    bool static_strategy;      /* no cost model: the route's first speculative strategy (lookup, then
                                * spec) at the default k, for the whole request (the A-IO paper's rule) */
} orch_request;

typedef struct orch_report {
    char category[24];
    float confidence;
    char model[64];
    char reason[32];
    int first_strategy, first_draft_max, last_strategy;
    int n_switches;
    char phases[192];          /* "lookup:7@0 ar@24" strategy:k@token of each phase */
    double probe_seconds, route_seconds, switch_seconds, total_seconds;
    double probe_prompt_seconds;   /* the probe's prefill of the prompt, left in the small model's cache */
    double probe_overhead_seconds; /* probe time that serving did not reuse */
    int n_prompt, n_generated, prompt_tokens_reused;
    decode_stats stats;
} orch_report;

/* Generates for a tokenized prompt (the pool shares one vocabulary). */
int orch_generate(orch *o, const orch_request *req, const int32_t *prompt, int n_prompt,
                  const aion_sampler_params *sp, int max_new, decode_token_fn on_token, void *user, orch_report *rep,
                  char *err, size_t err_len);

/* The acceptance the orchestrator currently believes for a category (policy prior blended with
 * what requests have shown). */
const accept_profile *orch_acceptance(const orch *o, int category, int strategy);

#endif
