/*
 * sim_machine.c - the host/device timeline (see sim_machine.h).
 *
 * The host keeps a short log of what it did since the device last started
 * work; when the device starts late, the gap is charged to the overlapping
 * log entries, so "sync" and "launch" mean time the device really idled for
 * them, not time the host spent while the device was busy anyway.
 */
#include <math.h>
#include <string.h>

#include "sim/sim_machine.h"

static const char *const COST_NAMES[SIM_N_COSTS] = {"bandwidth", "compute", "launch", "sync", "compile"};

const char *sim_cost_name(int cost) { return cost >= 0 && cost < SIM_N_COSTS ? COST_NAMES[cost] : "?"; }

double sim_attention_pairs(int n_tokens, int ctx) { return (double)n_tokens * (ctx + (n_tokens + 1) / 2.0); }

double sim_roofline(double bandwidth_seconds, double compute_seconds, double p) {
    double hi = bandwidth_seconds > compute_seconds ? bandwidth_seconds : compute_seconds;
    double lo = bandwidth_seconds > compute_seconds ? compute_seconds : bandwidth_seconds;
    if (!(p >= 1) || !(hi > 0)) return hi;
    return hi * pow(1 + pow(lo / hi, p), 1 / p);
}

/* Adds one phase's roofline time to the cost, charged to whichever bounds it. */
static void add_phase(sim_forward_cost *c, double p, double bandwidth_seconds, double compute_seconds) {
    double seconds = sim_roofline(bandwidth_seconds, compute_seconds, p);
    if (bandwidth_seconds >= compute_seconds) c->bandwidth_seconds += seconds;
    else c->compute_seconds += seconds;
}

sim_dtype sim_compute_dtype(const sim_hw *hw, const sim_model *m) {
    return m->compute_dtype == SIM_DTYPE_QUANTIZED ? hw->quantized_dtype : m->compute_dtype;
}

static double weight_bytes(const sim_model *m, int n_logits) {
    return m->layer_bytes + (n_logits > 0 ? m->output_bytes : 0);
}

/* one fused attention per layer reads the KV cache once for the whole batch */
static double kv_bytes(const sim_hw *hw, const sim_model *m, int n_tokens, int ctx) {
    return sim_model_kv_bytes_per_position(m, hw->kv_bytes_per_element) * (ctx + n_tokens);
}

double sim_forward_bytes(const sim_hw *hw, const sim_model *m, int n_tokens, int ctx, int n_logits) {
    return weight_bytes(m, n_logits) + kv_bytes(hw, m, n_tokens, ctx);
}

sim_forward_cost sim_forward_device(const sim_hw *hw, const sim_model *m, int n_tokens, int ctx, int n_logits,
                                    double hit_fraction) {
    sim_forward_cost c = {0};
    double weights = weight_bytes(m, n_logits), kv = kv_bytes(hw, m, n_tokens, ctx);
    double matmul_flops = 2 * (m->layer_params * n_tokens + m->output_params * n_logits);
    /* per layer, each (query, key) pair costs 2*E for the score and 2*E for the weighted value */
    double attention_flops = 4.0 * m->n_layer * m->n_embd * sim_attention_pairs(n_tokens, ctx);
    c.bytes = weights + kv;
    c.flops = matmul_flops + attention_flops;
    double hit = hw->cache_bytes > 0 && hw->cache_bandwidth > 0 && hit_fraction > 0 ? hit_fraction : 0;
    double seconds_per_byte = (1 - hit) / hw->bandwidth + (hit > 0 ? hit / hw->cache_bandwidth : 0);
    double bandwidth = hw->bandwidth_efficiency / seconds_per_byte;
    double matmul_peak = hw->peak_flops[sim_compute_dtype(hw, m)], attention_peak = hw->peak_flops[hw->attention_dtype];
    add_phase(&c, hw->roofline_p, weights / bandwidth, matmul_flops / (matmul_peak * hw->compute_efficiency));
    add_phase(&c, hw->roofline_p, kv / bandwidth, attention_flops / (attention_peak * hw->attention_efficiency));
    c.seconds = c.bandwidth_seconds + c.compute_seconds;
    return c;
}

void sim_machine_init(sim_machine *mc, const sim_hw *hw, sim_exec exec) {
    memset(mc, 0, sizeof *mc);
    mc->hw = hw;
    mc->exec = exec;
    sim_cache_init(&mc->cache, hw->cache_bytes);
}

static void host_do(sim_machine *mc, int cost, double seconds) {
    if (seconds <= 0) return;
    if (mc->n_log == (int)(sizeof mc->log / sizeof *mc->log)) { /* the oldest ended first: merge it away */
        memmove(mc->log, mc->log + 1, sizeof mc->log - sizeof *mc->log);
        mc->n_log--;
    }
    mc->log[mc->n_log++] = (struct host_activity){cost, mc->host, mc->host + seconds};
    mc->host += seconds;
}

/* The device was idle in [device, until): charge each part to what the host did then. */
static void charge_idle(sim_machine *mc, double until) {
    if (until < mc->device) until = mc->device;
    double gap = until - mc->device, charged = 0;
    for (int i = 0; i < mc->n_log; i++) {
        double lo = mc->log[i].start > mc->device ? mc->log[i].start : mc->device;
        double hi = mc->log[i].end < until ? mc->log[i].end : until;
        if (hi > lo) {
            mc->split[mc->log[i].cost] += hi - lo;
            charged += hi - lo;
        }
    }
    if (gap > charged) mc->split[SIM_COST_LAUNCH] += gap - charged; /* rounding only: the host is never idle */
    int kept = 0;
    for (int i = 0; i < mc->n_log; i++)
        if (mc->log[i].end > until) mc->log[kept++] = mc->log[i];
    mc->n_log = kept;
    mc->device = until;
}

static void device_run(sim_machine *mc, double bandwidth_seconds, double compute_seconds) {
    charge_idle(mc, mc->host > mc->device ? mc->host : mc->device);
    mc->device += bandwidth_seconds + compute_seconds;
    mc->split[SIM_COST_BANDWIDTH] += bandwidth_seconds;
    mc->split[SIM_COST_COMPUTE] += compute_seconds;
    if (!mc->hw->host_overlap) mc->host = mc->device; /* the same cores: the host waits for its own work */
}

static void compile_if_new(sim_machine *mc, int model, int n_tokens) {
    if (mc->shapes_free || model < 0 || model >= SIM_MAX_MODELS) return;
    int shape = n_tokens <= SIM_MAX_SHAPE ? n_tokens : SIM_MAX_SHAPE;
    if (mc->compiled[model][shape]) return;
    mc->compiled[model][shape] = true;
    mc->compiles++;
    host_do(mc, SIM_COST_COMPILE, mc->hw->compile_seconds);
}

void sim_machine_forward(sim_machine *mc, int model, const sim_model *m, int n_tokens, int ctx, int n_logits) {
    double hit = sim_cache_stream(&mc->cache, model, sim_forward_bytes(mc->hw, m, n_tokens, ctx, n_logits));
    sim_forward_cost c = sim_forward_device(mc->hw, m, n_tokens, ctx, n_logits, hit);
    mc->forwards++;
    mc->bytes_read += c.bytes;
    if (mc->exec == SIM_EXEC_GRAPH) {
        compile_if_new(mc, model, n_tokens);
        host_do(mc, SIM_COST_LAUNCH, mc->hw->graph_launch_seconds);
        mc->launches++;
        device_run(mc, c.bandwidth_seconds, c.compute_seconds);
        return;
    }
    /* eager: every kernel is launched by the host; the device starves when launching is slower */
    int kernels = (int)(m->n_layer * mc->hw->kernels_per_layer) + SIM_KERNELS_OUTSIDE_LAYERS;
    for (int i = 0; i < kernels; i++) {
        host_do(mc, SIM_COST_LAUNCH, mc->hw->launch_seconds);
        device_run(mc, c.bandwidth_seconds / kernels, c.compute_seconds / kernels);
    }
    mc->launches += kernels;
}

void sim_machine_sync(sim_machine *mc) {
    if (mc->host < mc->device) mc->host = mc->device;
    host_do(mc, SIM_COST_SYNC, mc->hw->sync_seconds);
    mc->syncs++;
}

double sim_machine_finish(sim_machine *mc) {
    if (mc->host > mc->device) charge_idle(mc, mc->host);
    mc->host = mc->device;
    return mc->device;
}

int sim_machine_shapes(const sim_machine *mc, int model) {
    int n = 0;
    for (int s = 0; model >= 0 && model < SIM_MAX_MODELS && s <= SIM_MAX_SHAPE; s++) n += mc->compiled[model][s];
    return n;
}
