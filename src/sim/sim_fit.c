/*
 * sim_fit.c - fitting the local profile (see sim_fit.h).
 *
 * The profile's forward time, for n tokens at context c, on a CPU (eager, no
 * overlap), as calibration measures it (logits for every token, as a
 * verification wants them, so the output matrix is in W and in the FLOPs):
 *   kernels * l + R(W / B, matmul FLOPs / F) + R(KV / B, pairs * 4LE / A)
 * with R(a, b) = (a^p + b^p)^(1/p) (max for p = 0), B the mix of the cache's and
 * the memory's bandwidth that the cache model (sim_cache.h) gives the bytes,
 * fitted in order, each step using the ones before:
 *   A  attention FLOP/s: 4LE per extra cached position over the n=1 context slope,
 *      over the models with the widest heads, weighted by 1 / t(n=1)^2
 *   F  matmul FLOP/s per compute type: 2 x (layer + output) parameters per extra
 *      token between the two largest sizes, after the attention those tokens add,
 *      over the models of that type; a type no model has takes the first fitted
 *      one as a stand-in
 *   l  per-kernel overhead: the least that n=1 forwards of compute-bound models take
 *      beyond their compute (memory-bound ones cannot tell it from bandwidth); a
 *      model that takes over 10% more than l and its compute is waiting for bytes
 *      and counts as memory-bound for B
 *   B  bytes / the rest of the n=1 time, over memory-bound models; compute-bound
 *      ones only bound it from below (B >= W / compute time); the cache's from
 *      models that fit it, the memory's from the bytes larger ones miss
 *   p  the candidate whose profile (B refitted for each) predicts the first
 *      context's forwards of the memory-bound, cache-sized models best
 * A model is memory-bound at n=1 when its second token costs less than half
 * the marginal token (the first one was waiting for bytes, not arithmetic),
 * or when its n=1 time is over three times its arithmetic: for a model tens of
 * megabytes large the second token is a few percent of the first and noise
 * decides the first test.
 * The attention runs in f32 whatever the weights (src/model.c), so A is one
 * figure, stated relative to the fp32 peak.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/membw.h"
#include "orch/calibrate.h"
#include "sim/sim_cache.h"
#include "sim/sim_fit.h"
#include "sim/sim_machine.h"
#include "util.h"

#define CPU_KV_BYTES 4.0 /* src/model.c keeps the KV cache in f32 */
#define MEMORY_BOUND_RATIO 3.0 /* an n=1 forward this many times its arithmetic is waiting for bytes */
#define BYTES_WAIT_RATIO 1.1   /* beyond the overhead, this much more than the arithmetic is time spent on bytes */

/* A stand-in for a compute type no calibrated model has: the first fitted in this order (f16 and bf16 weights are
 * widened to f32 before the multiply, so fp32 is their nearest figure). */
static const sim_dtype STAND_IN_ORDER[SIM_N_DTYPES] = {SIM_DTYPE_FP32, SIM_DTYPE_FP16, SIM_DTYPE_BF16, SIM_DTYPE_INT8};

static double model_peak(const sim_hw *hw, const sim_model *m) { return hw->peak_flops[sim_compute_dtype(hw, m)]; }

static void set_source(sim_fit *f, const char *key, const char *fmt, ...) {
    for (int i = 0; i < sim_hw_n_sources(); i++)
        if (strcmp(sim_hw_source_key(i), key) == 0) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(f->sources[i], sizeof f->sources[i], fmt, ap);
            va_end(ap);
        }
}

static double kernels_of(const sim_model *m) { return m->n_layer * SIM_FIT_KERNELS_PER_LAYER + SIM_KERNELS_OUTSIDE_LAYERS; }

static double flops_per_pair(const sim_model *m) { return 4.0 * m->n_layer * m->n_embd; }

/* Multiply-adds per token of a calibration forward: calib_measure wants logits for every token. */
static double params_per_token(const sim_model *m) { return m->layer_params + m->output_params; }

/* Bytes of an n=1 calibration forward at the curve's first context, the output matrix included. */
static double bytes_at_n1(const sim_model *m, const cost_curve *c) {
    return m->layer_bytes + m->output_bytes + sim_model_kv_bytes_per_position(m, CPU_KV_BYTES) * (c->ctx[0] + 1);
}

static double t_at(const cost_curve *c, int size_index, int ctx_index) { return c->seconds[ctx_index][size_index]; }

static int head_dim(const sim_model *m) { return m->n_head > 0 ? m->n_embd / m->n_head : 0; }

/* Step A: FLOP/s of the attention, from the context slope of n=1 forwards. Only the models with
 * the widest heads count: a head of 16 floats is one vector, its per-head overhead outweighs its
 * arithmetic, and the shapes simulated have heads of 64 to 128. Among those, a slope is the
 * difference of two forward times whose noise grows with the forward, so each counts with weight
 * 1 / t(n=1)^2 (inverse variance): a 2 ms forward's jitter does not outweigh a clean 0.15 ms one. */
static double fit_attention(const sim_model *models, const cost_curve *curves, int n) {
    int widest = 0;
    for (int i = 0; i < n; i++)
        if (head_dim(&models[i]) > widest) widest = head_dim(&models[i]);
    double flops = 0, seconds = 0;
    for (int i = 0; i < n; i++) {
        const cost_curve *c = &curves[i];
        int last = c->n_ctx - 1;
        double slope = (t_at(c, 0, last) - t_at(c, 0, 0)) / (c->ctx[last] - c->ctx[0]);
        double weight = 1 / (t_at(c, 0, 0) * t_at(c, 0, 0));
        if (head_dim(&models[i]) == widest && slope > 0 && isfinite(weight))
            flops += weight * flops_per_pair(&models[i]), seconds += weight * slope;
    }
    return seconds > 0 ? flops / seconds : 0;
}

static double attention_seconds(const sim_model *m, double attention_flops_per_s, int n_tokens, int ctx) {
    return attention_flops_per_s > 0 ? sim_attention_pairs(n_tokens, ctx) * flops_per_pair(m) / attention_flops_per_s : 0;
}

/* Step B: FLOP/s of the matmuls of one compute type, from the marginal token between the two largest sizes of the
 * models of that type; 0 when none has it (or none grows). */
static double fit_matmul(const sim_model *models, const cost_curve *curves, int n, double attention, const sim_hw *hw,
                         sim_dtype dtype) {
    double flops = 0, seconds = 0;
    for (int i = 0; i < n; i++) {
        if (sim_compute_dtype(hw, &models[i]) != dtype) continue;
        const cost_curve *c = &curves[i];
        int a = c->n_sizes - 2, b = c->n_sizes - 1, ctx = c->ctx[0];
        double dt = t_at(c, b, 0) - t_at(c, a, 0) - attention_seconds(&models[i], attention, c->sizes[b], ctx) +
                    attention_seconds(&models[i], attention, c->sizes[a], ctx);
        double per_token = dt / (c->sizes[b] - c->sizes[a]);
        if (per_token > 0) flops += 2 * params_per_token(&models[i]), seconds += per_token;
    }
    return seconds > 0 ? flops / seconds : 0;
}

/* n=1 time left for weights after attention: compute or bytes, plus the overhead. */
static double n1_rest(const sim_model *m, const cost_curve *c, double attention) {
    return t_at(c, 0, 0) - attention_seconds(m, attention, 1, c->ctx[0]);
}

static bool is_memory_bound(const sim_model *m, const cost_curve *c, double matmul, double attention) {
    double second_token = (t_at(c, 1, 0) - t_at(c, 0, 0)) / (c->sizes[1] - 1) -
                          (attention_seconds(m, attention, c->sizes[1], c->ctx[0]) -
                           attention_seconds(m, attention, 1, c->ctx[0])) / (c->sizes[1] - 1);
    double compute = 2 * params_per_token(m) / matmul;
    /* a second token that costs a few percent of n=1 is noisy: a forward far longer than its arithmetic is waiting
     * for bytes whatever the second token seemed to cost */
    return second_token < 0.5 * compute || n1_rest(m, c, attention) > MEMORY_BOUND_RATIO * compute;
}

static double n1_compute(const sim_model *m, const sim_hw *hw) { return 2 * params_per_token(m) / model_peak(hw, m); }

/* Step C: the per-kernel overhead, the least n=1 time beyond compute per kernel over compute-bound models: what
 * every forward pays whatever its weights. */
static double fit_overhead(const sim_model *models, const cost_curve *curves, int n, const sim_fit *f,
                           double attention) {
    double least = -1;
    for (int i = 0; i < n; i++)
        if (!f->memory_bound[i]) {
            double extra = n1_rest(&models[i], &curves[i], attention) - n1_compute(&models[i], &f->hw);
            double per_kernel = extra / kernels_of(&models[i]);
            if (least < 0 || per_kernel < least) least = per_kernel;
        }
    return least > 0 ? least : 0;
}

/* A model whose n=1 forward takes clearly longer than that overhead plus its arithmetic is waiting for bytes at
 * its memory level (f32 weights read at n=1 where q8_0 ones, a quarter the bytes, are not): it measures the
 * level's bandwidth from here on. */
static void mark_waiting_for_bytes(const sim_model *models, const cost_curve *curves, int n, sim_fit *f,
                                   double attention) {
    for (int i = 0; i < n; i++) {
        double rest = n1_rest(&models[i], &curves[i], attention) - kernels_of(&models[i]) * f->hw.launch_seconds;
        if (rest > BYTES_WAIT_RATIO * n1_compute(&models[i], &f->hw)) f->memory_bound[i] = true;
    }
}

/* The bytes part of a phase that took `seconds` beside `compute` seconds of arithmetic under the
 * roofline of exponent p (sim_roofline inverted); 0 when the arithmetic alone explains it. */
static double bytes_seconds(double seconds, double compute, double p) {
    if (!(p >= 1)) return seconds;
    return seconds > compute ? pow(pow(seconds, p) - pow(compute, p), 1 / p) : 0;
}

typedef struct bandwidth_fit {
    double bytes, seconds; /* over memory-bound models */
    double lower_bound;    /* from compute-bound ones */
    int n_models;
    char names[300];
} bandwidth_fit;

/* Step D, one memory level: bytes over time of memory-bound models, else the lower bound. `bytes` and
 * `seconds` are what the model read from this level and the time that took (the rest of its n=1 time
 * less what its hits in the cache took). */
static void add_to_level(bandwidth_fit *b, const sim_model *m, bool memory_bound, double bytes, double seconds,
                         double compute) {
    if (memory_bound && seconds > 0) {
        b->bytes += bytes;
        b->seconds += seconds;
    } else if (bytes / compute > b->lower_bound) {
        b->lower_bound = bytes / compute;
    }
    snprintf(b->names + strlen(b->names), sizeof b->names - strlen(b->names), "%s%s (%s, %.2f MB)",
             b->n_models++ ? ", " : "", m->name, memory_bound ? "memory-bound" : "compute-bound", bytes / 1e6);
}

static double level_bandwidth(const bandwidth_fit *b) {
    return b->seconds > 0 ? b->bytes / b->seconds : b->lower_bound;
}

static const char *level_how(const bandwidth_fit *b) {
    return b->seconds > 0 ? "bytes / n=1 time (less attention and overhead) of the memory-bound ones"
                          : "a lower bound: no model is memory-bound, W / n=1 compute time of the largest";
}

static void fill_fixed(sim_fit *f, const sim_fit_machine *mach) {
    sim_hw *hw = &f->hw;
    snprintf(hw->name, sizeof hw->name, "cpu-local");
    snprintf(hw->kind, sizeof hw->kind, "cpu");
    hw->execution = SIM_EXEC_EAGER;
    hw->host_overlap = false;
    hw->bandwidth_efficiency = hw->compute_efficiency = 1;
    hw->kv_bytes_per_element = CPU_KV_BYTES;
    hw->kernels_per_layer = SIM_FIT_KERNELS_PER_LAYER;
    hw->graph_launch_seconds = hw->sync_seconds = hw->compile_seconds = 0;
    hw->quantized_dtype = SIM_DTYPE_INT8;
    hw->attention_dtype = SIM_DTYPE_FP32;
    hw->memory_bytes = mach->memory_bytes > 0 ? mach->memory_bytes : 1e9;
    set_source(f, "quantized_dtype", "A-IO's CPU kernels multiply Q8_0, Q4_0 and K-quant weights as integer dots "
                                     "against activations quantized to 8 bits (src/quant.h)");
    set_source(f, "attention_dtype", "src/model.c keeps the KV cache in f32 and computes the attention in f32");
    set_source(f, "bandwidth_efficiency", "1: the fitted bandwidths are already what forwards achieve");
    set_source(f, "compute_efficiency", "1: the fitted compute is already what forwards achieve");
    set_source(f, "memory_GB", "physical memory of %s", mach->id);
    set_source(f, "kv_bytes_per_element", "src/model.c keeps the KV cache in f32");
    set_source(f, "kernels_per_layer", "approximate parallel sections (thread barriers) per layer in src/model.c");
    set_source(f, "graph_launch_us", "no graphs on the CPU: unused (execution is eager)");
    set_source(f, "sync_us", "0: host and compute share memory, results need no copy");
    set_source(f, "graph_compile_s", "0: no graphs on the CPU");
}

static int check_curves(const sim_model *models, const cost_curve *curves, int n, char *err, size_t err_len) {
    if (n < 1 || n > SIM_FIT_MAX_MODELS) return set_err(err, err_len, "fit: 1..%d models", SIM_FIT_MAX_MODELS), -1;
    for (int i = 0; i < n; i++)
        if (curves[i].n_sizes < 3 || curves[i].n_ctx < 2 || curves[i].sizes[0] != 1)
            return set_err(err, err_len, "fit: the curve of %s needs n=1, two more sizes and two contexts",
                            models[i].name),
                   -1;
    return 0;
}

/* Models that fit the cache hit it fully when they run alone, and give its bandwidth; larger ones
 * still hit on part of their bytes (sim_cache_solo_hits), and the rest, over the time left after
 * those hits, gives the memory's. */
static void fit_levels(const sim_model *models, const cost_curve *curves, int n, const sim_fit_machine *mach,
                       sim_fit *f, double attention) {
    bandwidth_fit cache = {0}, memory = {0};
    double rest[SIM_FIT_MAX_MODELS], bytes[SIM_FIT_MAX_MODELS];
    for (int i = 0; i < n; i++) {
        rest[i] = n1_rest(&models[i], &curves[i], attention) - kernels_of(&models[i]) * f->hw.launch_seconds;
        rest[i] = bytes_seconds(rest[i], n1_compute(&models[i], &f->hw), f->hw.roofline_p);
        bytes[i] = bytes_at_n1(&models[i], &curves[i]);
        if (bytes[i] <= mach->cache_bytes)
            add_to_level(&cache, &models[i], f->memory_bound[i], bytes[i], rest[i], n1_compute(&models[i], &f->hw));
    }
    f->hw.cache_bytes = cache.n_models ? mach->cache_bytes : 0;
    f->hw.cache_bandwidth = cache.n_models ? level_bandwidth(&cache) : 0;
    for (int i = 0; i < n; i++) {
        if (bytes[i] <= mach->cache_bytes) continue;
        double hits = f->hw.cache_bytes > 0 ? sim_cache_solo_hits(f->hw.cache_bytes, bytes[i]) : 0;
        double from_cache = hits > 0 ? hits * bytes[i] / f->hw.cache_bandwidth : 0;
        add_to_level(&memory, &models[i], f->memory_bound[i], (1 - hits) * bytes[i], rest[i] - from_cache,
                     n1_compute(&models[i], &f->hw));
    }
    if (cache.n_models) {
        set_source(f, "cache_MB", "last-level cache of %s (random replacement, src/sim/sim_cache.h)", mach->id);
        set_source(f, "cache_bandwidth_GBps", "fitted on %s over models that fit in the cache: %s; %s", mach->id,
                   cache.names, level_how(&cache));
    } else {
        set_source(f, "cache_MB", "0: no calibrated model fits in the last-level cache, so it is not modelled");
        set_source(f, "cache_bandwidth_GBps", "unused without a cache");
    }
    if (memory.n_models) {
        f->hw.bandwidth = level_bandwidth(&memory);
        set_source(f, "memory_bandwidth_GBps", "fitted on %s over models larger than the cache: %s; %s, the bytes "
                                               "and time of their hits in the cache removed", mach->id,
                   memory.names, level_how(&memory));
    } else if (mach->streaming_bandwidth > 0) {
        f->hw.bandwidth = mach->streaming_bandwidth;
        set_source(f, "memory_bandwidth_GBps", "measured on %s by a streaming read far larger than the cache "
                                               "(src/bench/membw.c): no calibrated model is larger", mach->id);
    } else {
        f->hw.bandwidth = f->hw.cache_bandwidth;
        set_source(f, "memory_bandwidth_GBps", "the cache's figure: no calibrated model is larger than the cache "
                                               "and no streaming read was measured");
    }
}

/* The calibrated models of one compute type, "aio-small, aio-large", into buf. */
static const char *models_of(const sim_model *models, int n, const sim_hw *hw, sim_dtype dtype, char *buf,
                             size_t len) {
    buf[0] = 0;
    for (int i = 0; i < n; i++)
        if (sim_compute_dtype(hw, &models[i]) == dtype)
            snprintf(buf + strlen(buf), len - strlen(buf), "%s%s", buf[0] ? ", " : "", models[i].name);
    return buf;
}

/* Why a compute type has no fitted peak, and what stands in for it. */
static void stand_in_source(sim_fit *f, sim_dtype dtype, sim_dtype stand_in, const char *machine) {
    static const char *const WHY[SIM_N_DTYPES] = {
        "no calibrated model has f32 weights",
        "no calibrated model has f16 weights; A-IO's CPU kernels widen f16 weights to f32 and multiply in f32 "
        "(src/quant_avx2.c), so they run at the fp32 rate at best",
        "no calibrated model has bf16 weights; A-IO's CPU kernels widen bf16 weights to f32 and multiply in f32 "
        "(src/quant_avx2.c), so they run at the fp32 rate at best",
        "no calibrated model has quantized weights; A-IO multiplies Q8_0, Q4_0 and K-quant weights as integer dots "
        "against 8-bit activations (src/quant.h), at a rate of its own",
    };
    static const char *const EXAMPLE[SIM_N_DTYPES] = {"an F32", "an F16", "a BF16", "a Q8_0"};
    char key[32];
    snprintf(key, sizeof key, "peak_TFLOPS.%s", sim_dtype_name(dtype));
    set_source(f, key, "not fitted on %s: %s. Estimate: the fitted %s figure stands in; `aio sim fit-local -m` %s "
                       "model fits it", machine, WHY[dtype], sim_dtype_name(stand_in), EXAMPLE[dtype]);
}

/* Step B for every compute type: fitted where a model has it, a stand-in elsewhere. */
static int fit_peaks(const sim_model *models, const cost_curve *curves, int n, double attention, const char *machine,
                     sim_fit *f, char *err, size_t err_len) {
    char names[300], key[32];
    int first = -1;
    for (int k = 0; k < SIM_N_DTYPES; k++) {
        sim_dtype d = STAND_IN_ORDER[k];
        if (!models_of(models, n, &f->hw, d, names, sizeof names)[0]) continue;
        f->hw.peak_flops[d] = fit_matmul(models, curves, n, attention, &f->hw, d);
        if (!(f->hw.peak_flops[d] > 0))
            return set_err(err, err_len, "fit: forward time of %s (%s) does not grow with the tokens (noisy "
                                          "measurement?)", names, sim_dtype_name(d)),
                   -1;
        f->fitted[d] = true;
        if (first < 0) first = d;
        snprintf(key, sizeof key, "peak_TFLOPS.%s", sim_dtype_name(d));
        set_source(f, key, "fitted on %s from %s: 2 x (layer + output) parameters / marginal seconds per token "
                           "between the two largest calibrated sizes (their attention removed)", machine, names);
    }
    if (first < 0) return set_err(err, err_len, "fit: no model to fit the compute from"), -1;
    for (int d = 0; d < SIM_N_DTYPES; d++)
        if (!f->fitted[d]) {
            f->hw.peak_flops[d] = f->hw.peak_flops[first];
            stand_in_source(f, (sim_dtype)d, (sim_dtype)first, machine);
        }
    return 0;
}

/* Squared log error of the profile over the first context's forwards (every size) of the
 * memory-bound models that stream through the last-level cache or memory: where their bytes and
 * arithmetic meet, what p is about. A model small enough for the core's own caches (an eighth of
 * the last level) streams from neither level the profile knows. */
static double curve_error(const sim_model *models, const cost_curve *curves, int n, const sim_fit_machine *mach,
                          const sim_fit *f, int *count) {
    double sum = 0;
    *count = 0;
    for (int i = 0; i < n; i++) {
        if (!f->memory_bound[i] || bytes_at_n1(&models[i], &curves[i]) < mach->cache_bytes / 8) continue;
        for (int k = 0; k < curves[i].n_sizes; k++) {
            double predicted = sim_fit_predict(&f->hw, &models[i], curves[i].sizes[k], curves[i].ctx[0]);
            double measured = t_at(&curves[i], k, 0);
            if (predicted > 0 && measured > 0) sum += pow(log(predicted / measured), 2), ++*count;
        }
    }
    return sum;
}

/* Step E: the roofline's p, the one of a few whose profile (its bandwidths refitted, step D)
 * predicts the curves best. On a CPU the cores both load and multiply, so near the ridge point
 * the two add in part: a forward's second to fourth token costs more than max() says. */
static void fit_roofline(const sim_model *models, const cost_curve *curves, int n, const sim_fit_machine *mach,
                         sim_fit *f, double attention) {
    static const double CANDIDATES[] = {0, 1, 1.25, 1.5, 1.75, 2, 2.5, 3, 4, 6, 8};
    sim_fit best = *f, trial;
    double best_error = -1;
    int count = 0;
    for (size_t c = 0; c < sizeof CANDIDATES / sizeof *CANDIDATES; c++) {
        trial = *f;
        trial.hw.roofline_p = CANDIDATES[c];
        fit_levels(models, curves, n, mach, &trial, attention);
        if (!(trial.hw.bandwidth > 0)) continue;
        double error = curve_error(models, curves, n, mach, &trial, &count);
        if (best_error < 0 || error < best_error) best_error = error, best = trial;
    }
    *f = best;
    if (count > 0)
        set_source(f, "roofline_p", "fitted on %s: of 0 (max) and 1 to 8, the p that predicts the %d forwards of the "
                                    "memory-bound models at the first context best (least squares of log time, the "
                                    "bandwidths refitted for each)",
                   mach->id, count);
    else
        set_source(f, "roofline_p", "0 (max): no memory-bound model to fit it from on %s", mach->id);
}

int sim_fit_local(const sim_model *models, const cost_curve *curves, int n, const sim_fit_machine *machine,
                  sim_fit *out, char *err, size_t err_len) {
    memset(out, 0, sizeof *out);
    if (check_curves(models, curves, n, err, err_len) < 0) return -1;
    fill_fixed(out, machine);
    double attention = fit_attention(models, curves, n);
    if (fit_peaks(models, curves, n, attention, machine->id, out, err, err_len) < 0) return -1;
    double fp32 = out->hw.peak_flops[SIM_DTYPE_FP32];
    if (!(attention > 0)) attention = fp32; /* the context did not cost anything measurable */
    for (int i = 0; i < n; i++)
        out->memory_bound[i] = is_memory_bound(&models[i], &curves[i], model_peak(&out->hw, &models[i]), attention);
    out->hw.attention_efficiency = attention < fp32 ? attention / fp32 : 1;
    out->hw.launch_seconds = fit_overhead(models, curves, n, out, attention);
    mark_waiting_for_bytes(models, curves, n, out, attention);
    fit_roofline(models, curves, n, machine, out, attention);
    if (!(out->hw.bandwidth > 0))
        return set_err(err, err_len, "fit: no bandwidth could be fitted (n=1 forwards faster than their overhead)"),
               -1;
    set_source(out, "attention_efficiency", "fitted on %s: 4 x layers x embedding FLOPs per cached position / the "
                                            "n=1 context slope, relative to the fp32 peak", machine->id);
    set_source(out, "kernel_launch_us", "fitted on %s: the least n=1 time of compute-bound models beyond their "
                                        "compute, per kernel (thread-pool barriers, small operators); 0 when none is",
               machine->id);
    return 0;
}

double sim_fit_predict(const sim_hw *hw, const sim_model *m, int n_tokens, int ctx) {
    double bytes = sim_forward_bytes(hw, m, n_tokens, ctx, n_tokens);
    sim_forward_cost c = sim_forward_device(hw, m, n_tokens, ctx, n_tokens, sim_cache_solo_hits(hw->cache_bytes, bytes));
    double kernels = m->n_layer * hw->kernels_per_layer + SIM_KERNELS_OUTSIDE_LAYERS;
    return c.seconds + kernels * hw->launch_seconds;
}

/* The size of the highest-level cache cpu0 reports, 0 if none. */
static double sysfs_last_level_cache(void) {
    double best = 0;
    int best_level = 0;
    for (int i = 0; i < 8; i++) {
        char path[96], text[64] = "";
        int level = 0;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/level", i);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        bool ok = fscanf(f, "%d", &level) == 1;
        fclose(f);
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
        f = fopen(path, "r");
        if (!f) continue;
        ok = ok && fscanf(f, "%63s", text) == 1;
        fclose(f);
        double size = atof(text) * (strchr(text, 'M') ? 1048576.0 : strchr(text, 'K') ? 1024.0 : 1.0);
        if (ok && level > best_level) best_level = level, best = size;
    }
    return best;
}

void sim_fit_probe_machine(aion_threads *t, sim_fit_machine *out, char *id, size_t id_len) {
    calib_machine_id(id, id_len);
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE), l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
    double cache = sysfs_last_level_cache();
    *out = (sim_fit_machine){.id = id, .cache_bytes = cache > 0 ? cache : l3 > 0 ? (double)l3 : 0,
                             .memory_bytes = pages > 0 && page > 0 ? (double)pages * page : 0};
    membw_result bw;
    char err[256];
    if (membw_measure(t, (size_t)256 << 20, 3, &bw, err, sizeof err) == 0) out->streaming_bandwidth = bw.best_gbps * 1e9;
}
