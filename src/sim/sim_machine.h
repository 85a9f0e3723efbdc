/*
 * sim_machine.h - the timeline of a host driving an accelerator, forward by
 * forward, with every second of wall time charged to its cause.
 *
 * Two clocks: the host's (launching work, waiting at syncs, compiling graphs)
 * and the device's (running forwards). The device runs a forward as soon as
 * it is launched and the previous one is done; while the host runs ahead,
 * launches cost nothing visible, and a host-device sync is what exposes them:
 * the host waits for the device, pays the round trip, and the device idles
 * until the host has launched again. Device idle time is charged to what the
 * host was doing meanwhile (launch, sync, compile); busy time to bandwidth or
 * compute, whichever bounds the forward. On a CPU (no overlap) the two clocks
 * are one and every cost adds up.
 *
 * The cost of one forward is a roofline per phase: the weight matmuls take
 * max(weight bytes / bandwidth, matmul FLOPs / compute), the attention takes
 * max(KV cache bytes / bandwidth, attention FLOPs / attention compute), one
 * after the other; a profile whose memory and compute overlap only in part
 * near the ridge point (a CPU: the same cores load and multiply) smooths the
 * max into (a^p + b^p)^(1/p) (sim_roofline, the profile's roofline_p). Compute is the profile's peak for the type the work runs
 * in: the model's compute type for the matmuls (sim_compute_dtype), the
 * profile's attention type for the attention. The part of a forward's bytes that the profile's
 * cache still holds streams at the cache's bandwidth, the rest at the memory's (sim_cache.h: CPUs;
 * accelerators' profiles have no cache, their models stream gigabytes).
 */
#ifndef AION_SIM_MACHINE_H
#define AION_SIM_MACHINE_H

#include <stdbool.h>

#include "sim/sim_cache.h"
#include "sim/sim_hw.h"
#include "sim/sim_model.h"

enum sim_cost { SIM_COST_BANDWIDTH, SIM_COST_COMPUTE, SIM_COST_LAUNCH, SIM_COST_SYNC, SIM_COST_COMPILE, SIM_N_COSTS };

const char *sim_cost_name(int cost); /* "bandwidth", "compute", "launch", "sync", "compile" */

#define SIM_MAX_MODELS SIM_CACHE_MODELS
#define SIM_MAX_SHAPE 4096 /* largest forward size whose compiled graph is tracked */

/* What model m's matmuls multiply in on hw: its own type, or for quantized weights the runtime's choice. */
sim_dtype sim_compute_dtype(const sim_hw *hw, const sim_model *m);

/* Device work of one forward of n_tokens on top of ctx cached positions, n_logits rows of logits. */
typedef struct sim_forward_cost {
    double bytes, flops;
    double seconds;                            /* device time */
    double bandwidth_seconds, compute_seconds; /* the parts of it bound by each (they sum to seconds) */
} sim_forward_cost;

/* Bytes one forward streams: the layer weights, the KV cache, the output matrix when any row wants logits. */
double sim_forward_bytes(const sim_hw *hw, const sim_model *m, int n_tokens, int ctx, int n_logits);

/* hit_fraction: the part of those bytes still in the profile's cache (sim_cache_stream), which
 * streams at the cache's bandwidth; 0 without a cache. */
sim_forward_cost sim_forward_device(const sim_hw *hw, const sim_model *m, int n_tokens, int ctx, int n_logits,
                                    double hit_fraction);

/* A phase of a seconds of bytes and b seconds of arithmetic: max(a, b) for p = 0, else
 * (a^p + b^p)^(1/p) (p = 1: no overlap at all). */
double sim_roofline(double bandwidth_seconds, double compute_seconds, double p);

/* (query, key) pairs the attention of a forward scores: n_tokens queries over ctx cached positions
 * plus the batch's own causal triangle. */
double sim_attention_pairs(int n_tokens, int ctx);

typedef struct sim_machine {
    const sim_hw *hw;
    sim_exec exec;
    bool shapes_free;        /* pretend every graph is compiled (steady-state estimates) */
    double host, device;     /* clocks, seconds */
    double split[SIM_N_COSTS];
    double bytes_read;
    long forwards, syncs, compiles, launches;
    struct host_activity { int cost; double start, end; } log[16];
    int n_log;
    bool compiled[SIM_MAX_MODELS][SIM_MAX_SHAPE + 1];
    sim_cache cache;         /* what the models' forwards left in the profile's cache */
} sim_machine;

void sim_machine_init(sim_machine *mc, const sim_hw *hw, sim_exec exec);

/* Launches one forward of model slot `model` (0..SIM_MAX_MODELS-1); compiles its shape first in
 * graph mode when this (model, n_tokens) has not been seen. */
void sim_machine_forward(sim_machine *mc, int model, const sim_model *m, int n_tokens, int ctx, int n_logits);

/* The host waits for the device and reads results back. */
void sim_machine_sync(sim_machine *mc);

/* Charges the remaining host tail so that the split sums to the elapsed time, and returns it. */
double sim_machine_finish(sim_machine *mc);

int sim_machine_shapes(const sim_machine *mc, int model); /* distinct shapes compiled */

#endif
