/*
 * sim_replay.h - a workload served under each serving policy on a simulated
 * machine: what A-IO would do on an accelerator we do not have.
 *
 * The policies are those of `aio bench mixed`, plus the two granularities of
 * speculation the A-IO paper contrasts:
 *   static-small, static-large   one model, autoregressive
 *   large+lookup                 prompt lookup on the large model, k = 7
 *   spec-fine-oracle             the small model drafts for the large one token by token:
 *                                the host reads every draft token (a sync each) and stops at
 *                                exactly the first the target will reject (an oracle: the
 *                                upper bound of any per-token stopping rule), and the target
 *                                verifies exactly 1 + drafted tokens, so every draft length
 *                                is a new shape
 *   spec-fine-k                  what a per-token loop without an oracle does: the fixed k of
 *                                spec-bucketed drafted one token at a time, a sync (the host
 *                                reads the token) and an exposed drafter launch each, then
 *                                the target verifies exactly 1 + k tokens (one shape)
 *   spec-bucketed                the same drafter with a fixed k: the k draft steps and the
 *                                verification (padded to a bucket) run back to back on the
 *                                device, one sync per round, shapes from the bucket set
 *   paper-policy                 probe, route by models/policy-paper.json, static strategy
 *   aio-policy                   probe, route by models/policy.json, strategy and k from
 *                                the cost model (orch/costmodel.c) on this machine's curves;
 *                                on a graph-compiled machine a plan whose shapes are not yet
 *                                compiled must save more than their compile cost over the
 *                                expected rest of the workload (sim_replay.c, choose_compiled)
 * Every request is served alone (batch 1), as `aio bench mixed` serves them; a sync also ends
 * every autoregressive step and every prefill (the host needs the token). Policy files name
 * the default family's members: "aio-small" is the small model, "aio-large" the large one.
 */
#ifndef AION_SIM_REPLAY_H
#define AION_SIM_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "decode/decode.h"
#include "orch/costmodel.h"
#include "orch/policy.h"
#include "sim/sim_hw.h"
#include "sim/sim_machine.h"
#include "sim/sim_model.h"
#include "sim/sim_workload.h"

enum sim_policy {
    SIM_STATIC_SMALL,
    SIM_STATIC_LARGE,
    SIM_LOOKUP,
    SIM_SPEC_FINE_ORACLE,
    SIM_SPEC_FINE_K,
    SIM_SPEC_BUCKETED,
    SIM_PAPER,
    SIM_AIO,
    SIM_N_POLICIES
};

const char *sim_policy_name(int policy_id);

enum { SIM_SMALL = 0, SIM_LARGE = 1 }; /* model slots */

typedef struct sim_setup {
    sim_hw hw;
    sim_exec exec;                 /* hw.execution unless overridden */
    sim_model models[SIM_MAX_MODELS];
    decode_config dc;              /* buckets; dc.draft_max is the paper policy's static k */
    int spec_k, lookup_k;          /* of the pinned policies */
    int prefill_chunk;             /* prompt tokens per prefill forward (padded in graph mode) */
    policy aio_policy, paper_policy;
    bool have_aio_policy, have_paper_policy;
    bool compile_aware;            /* aio-policy on graph-compiled machines counts compile cost (default) */
    uint64_t seed;
} sim_setup;

/* Defaults: the profile's execution, A-IO's buckets, spec k 3, lookup k 7, prefill chunks of 128,
 * compile-aware A-IO. */
void sim_setup_init(sim_setup *s, const sim_hw *hw, const sim_model *small, const sim_model *large);
/* Loads the two policy files (either may be NULL: that policy is then skipped). */
int sim_setup_policies(sim_setup *s, const char *aio_path, const char *paper_path, char *err, size_t err_len);

typedef struct sim_result {
    int policy_id;
    bool ran;
    double seconds;                /* wall time of the whole workload, compiles included */
    double split[SIM_N_COSTS];
    double bytes_read;
    long output_tokens, rounds, drafted, accepted, forwards, syncs, compiles;
    int requests, routed_small;
    bool compiled[SIM_MAX_MODELS][SIM_MAX_SHAPE + 1]; /* the shapes this policy compiled */
} sim_result;

double sim_result_tokens_per_second(const sim_result *r);
/* Without the one-time compiles: the rate once every graph exists. */
double sim_result_steady_tokens_per_second(const sim_result *r);
int sim_result_shapes(const sim_result *r, int model);

/* Serves the whole workload under one policy. Returns 0, or -1 when the policy cannot run
 * (paper/aio without their policy file: r->ran is false then). */
int sim_run_policy(const sim_setup *s, const sim_workload *w, int policy_id, sim_result *r);

/* The calibration curve `aio calibrate` would measure for a model on this machine: a target's
 * forward with the sync that ends its round, or a drafter's forward inside a pipelined round. */
void sim_cost_curve(const sim_setup *s, int model, bool target, cost_curve *out);

#endif
