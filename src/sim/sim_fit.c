/*
 * sim_fit.c - fitting the local profile (see sim_fit.h).
 *
 * n=1 forward time of model i: t_i = bytes_i / B + kernels_i * l, with bytes the
 * weights streamed plus the KV cache read at the curve's first context. Two
 * unknowns, one equation per model: least squares, l clamped at zero (a
 * single model, or models of one depth, leave l undetermined: then l = 0 and
 * the overhead is folded into B). Compute is the marginal cost of a token
 * between the two largest forward sizes, where the matmuls are widest.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sim/sim_fit.h"
#include "sim/sim_machine.h"

#define CPU_KV_BYTES 4.0 /* src/model.c keeps the KV cache in f32 */

static void set_source(sim_fit *f, const char *key, const char *fmt, ...) {
    for (int i = 0; i < sim_hw_n_fields(); i++)
        if (strcmp(sim_hw_field_name(i), key) == 0) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(f->sources[i], sizeof f->sources[i], fmt, ap);
            va_end(ap);
        }
}

static double kernels_of(const sim_model *m) { return m->n_layer * SIM_FIT_KERNELS_PER_LAYER + SIM_KERNELS_OUTSIDE_LAYERS; }

static double bytes_at_n1(const sim_model *m, const cost_curve *c) {
    return m->layer_bytes + m->output_bytes + sim_model_kv_bytes_per_position(m, CPU_KV_BYTES) * (c->ctx[0] + 1);
}

/* Least squares of t = x*u + k*l over the models; u = 1/B. */
static void fit_bandwidth(const sim_model *models, const cost_curve *curves, int n, double *u, double *l) {
    double sxx = 0, skk = 0, sxk = 0, sxt = 0, skt = 0;
    for (int i = 0; i < n; i++) {
        double x = bytes_at_n1(&models[i], &curves[i]), k = kernels_of(&models[i]), t = curves[i].seconds[0][0];
        sxx += x * x, skk += k * k, sxk += x * k, sxt += x * t, skt += k * t;
    }
    double det = sxx * skk - sxk * sxk;
    *u = *l = 0;
    if (n >= 2 && det > 1e-9 * sxx * skk) {
        *u = (sxt * skk - skt * sxk) / det;
        *l = (sxx * skt - sxk * sxt) / det;
    }
    if (*u <= 0 || *l < 0) { /* undetermined or unphysical: no overhead, through the origin */
        *l = 0;
        *u = sxt / sxx;
    }
}

static double marginal_flops(const sim_model *m) { return 2 * m->layer_params; }

/* Seconds per extra token between the two largest sizes at the first context; 0 if not rising. */
static double marginal_seconds(const cost_curve *c) {
    int a = c->n_sizes - 2, b = c->n_sizes - 1;
    return (c->seconds[0][b] - c->seconds[0][a]) / (c->sizes[b] - c->sizes[a]);
}

static void fill_fixed(sim_fit *f, const char *machine) {
    sim_hw *hw = &f->hw;
    snprintf(hw->name, sizeof hw->name, "cpu-local");
    snprintf(hw->kind, sizeof hw->kind, "cpu");
    hw->execution = SIM_EXEC_EAGER;
    hw->host_overlap = false;
    hw->bandwidth_efficiency = hw->compute_efficiency = 1;
    hw->kv_bytes_per_element = CPU_KV_BYTES;
    hw->kernels_per_layer = SIM_FIT_KERNELS_PER_LAYER;
    hw->graph_launch_seconds = hw->sync_seconds = hw->compile_seconds = 0;
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    hw->memory_bytes = pages > 0 && page > 0 ? (double)pages * page : 1e9;
    set_source(f, "bandwidth_efficiency", "1: the fitted bandwidth is already what forwards achieve");
    set_source(f, "compute_efficiency", "1: the fitted compute is already what forwards achieve");
    set_source(f, "memory_GB", "sysconf(_SC_PHYS_PAGES) on %s", machine);
    set_source(f, "kv_bytes_per_element", "src/model.c keeps the KV cache in f32");
    set_source(f, "kernels_per_layer", "approximate parallel sections (thread barriers) per layer in src/model.c");
    set_source(f, "graph_launch_us", "no graphs on the CPU: unused (execution is eager)");
    set_source(f, "sync_us", "0: host and compute share memory, results need no copy");
    set_source(f, "graph_compile_s", "0: no graphs on the CPU");
}

int sim_fit_local(const sim_model *models, const cost_curve *curves, int n, const char *machine, sim_fit *out,
                  char *err, size_t err_len) {
    memset(out, 0, sizeof *out);
    if (n < 1 || n > SIM_FIT_MAX_MODELS) return snprintf(err, err_len, "fit: 1..%d models", SIM_FIT_MAX_MODELS), -1;
    for (int i = 0; i < n; i++)
        if (curves[i].n_sizes < 2 || curves[i].n_ctx < 1 || curves[i].sizes[0] != 1)
            return snprintf(err, err_len, "fit: the curve of %s lacks n=1 and a second size", models[i].name), -1;
    fill_fixed(out, machine);
    double u, l;
    fit_bandwidth(models, curves, n, &u, &l);
    out->hw.bandwidth = 1 / u;
    out->hw.launch_seconds = l;
    double flops = 0, seconds = 0;
    char names[512] = "";
    for (int i = 0; i < n; i++) {
        double t1 = curves[i].seconds[0][0] - kernels_of(&models[i]) * l;
        out->model_bandwidth[i] = t1 > 0 ? bytes_at_n1(&models[i], &curves[i]) / t1 : 0;
        double dt = marginal_seconds(&curves[i]);
        out->model_flops[i] = dt > 0 ? marginal_flops(&models[i]) / dt : 0;
        if (dt > 0) flops += marginal_flops(&models[i]), seconds += dt;
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s (%.1f GB/s, %.1f GFLOP/s)", i ? ", " : "",
                 models[i].name, out->model_bandwidth[i] / 1e9, out->model_flops[i] / 1e9);
    }
    if (!(seconds > 0))
        return snprintf(err, err_len, "fit: forward time does not grow with the tokens (noisy measurement?)"), -1;
    out->hw.peak_flops = flops / seconds;
    set_source(out, "memory_bandwidth_GBps",
               "fitted on %s: n=1 forward time = bytes/B + kernels x launch, least squares over %s", machine, names);
    set_source(out, "peak_TFLOPS", "fitted on %s: 2 x layer parameters / marginal seconds per token between the two "
                                   "largest calibrated sizes, over %s", machine, names);
    set_source(out, "kernel_launch_us", "fitted on %s with the bandwidth: the per-kernel overhead of a forward "
                                        "(thread-pool barriers), %s", machine, l > 0 ? "over models of different depth" : "0 where it cannot be told from bandwidth");
    return 0;
}
