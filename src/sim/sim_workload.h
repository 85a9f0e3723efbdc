/*
 * sim_workload.h - what the simulator serves: requests with a category,
 * prompt and output lengths, and the acceptance statistics per category that
 * decide how much lookup and speculation gain.
 *
 * Two sources. A synthetic mix (`--mix code:0.3,math:0.25,qa:0.25,chat:0.2`)
 * draws seeded requests from per-category defaults (documented in
 * sim/README.md). A trace (`aio bench mixed --trace FILE`, JSON lines) is
 * replayed request by request: its prompt and output lengths as measured (the
 * small and the large model's outputs differ in length), the probe's labels,
 * and acceptance per category estimated from its lookup and spec rows; values
 * the trace lacks keep their defaults.
 */
#ifndef AION_SIM_WORKLOAD_H
#define AION_SIM_WORKLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "orch/costmodel.h"

#define SIM_MAX_CATEGORIES 8

typedef struct sim_category {
    char name[24];
    double share;                /* of the synthetic mix */
    double prompt_tokens, output_tokens;
    double spec_accept;          /* per-position acceptance of the drafter: P(first i accepted) = a^i */
    double lookup_accept;        /* the same for prompt lookup, over rounds that found a draft */
    double lookup_draft_rate;    /* share of lookup rounds that found a draft at all */
} sim_category;

typedef struct sim_request {
    int category;                /* index into the workload's categories */
    int probed;                  /* the probe's label (category index), -1 for none */
    float confidence;
    int prompt_tokens;
    int output_small, output_large; /* tokens generated when the small / the large model serves */
} sim_request;

typedef struct sim_workload {
    int n_categories;
    sim_category cats[SIM_MAX_CATEGORIES];
    int n_requests;
    sim_request *requests;
    char source[160];            /* "mix of 100 requests (seed 1)", "trace FILE (40 requests)" */
} sim_workload;

/* The default categories (code, math, qa, chat) with their documented statistics. */
void sim_workload_defaults(sim_workload *w);
/* "code:0.3,math:0.25,...": shares of known categories; the rest get share 0. */
int sim_workload_set_mix(sim_workload *w, const char *mix, char *err, size_t err_len);
/* n seeded requests drawn from the shares; lengths uniform in [0.5, 1.5] x the category mean. */
int sim_workload_generate(sim_workload *w, int n, uint64_t seed, char *err, size_t err_len);
/* Replaces the requests with those of a trace and overrides what it measures. */
int sim_workload_load_trace(sim_workload *w, const char *path, char *err, size_t err_len);
void sim_workload_free(sim_workload *w);

int sim_workload_category(const sim_workload *w, const char *name); /* -1 if unknown */

/* The cost model's acceptance profile of a geometric per-position acceptance a. */
accept_profile sim_accept_profile(double a, double draft_rate);
/* The per-position acceptance a whose expected accepted drafts per round at draft length k is
 * mean_accepted (a + a^2 + ... + a^k = mean_accepted), by bisection. */
double sim_accept_solve(double mean_accepted, int k);

#endif
