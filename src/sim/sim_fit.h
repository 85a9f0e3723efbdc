/*
 * sim_fit.h - a hardware profile of this machine, fitted from the forward
 * times `aio calibrate` measures.
 *
 * The simulator is only believable on machines we do not have if it predicts
 * the one we do. So the local profile is not written by hand but fitted to
 * the curves t(n tokens, context) of `aio calibrate`, in the profile's own
 * terms: attention throughput from how n=1 forwards grow with the context,
 * matmul compute per compute type from the marginal cost of a token between
 * the two largest sizes (f32 models give the fp32 peak, quantized ones the
 * int8 peak: A-IO's CPU kernels multiply those as integer dots), a per-kernel
 * overhead, and bandwidth = bytes / time of the n=1 forwards that are
 * memory-bound (a token more costs them little). Models that fit in the
 * last-level cache give the cache's bandwidth, larger ones the memory's (the
 * part of their bytes they still hit in the cache removed); when
 * no model is large enough, a streaming read measures it. A compute type no
 * calibrated model uses is not fitted: the profile carries a stand-in and its
 * source says so.
 */
#ifndef AION_SIM_FIT_H
#define AION_SIM_FIT_H

#include <stdbool.h>
#include <stddef.h>

#include "aion.h"
#include "orch/costmodel.h"
#include "sim/sim_hw.h"
#include "sim/sim_model.h"

#define SIM_FIT_MAX_MODELS 8
#define SIM_FIT_KERNELS_PER_LAYER 10 /* parallel sections of one layer in src/model.c, roughly */

typedef struct sim_fit_machine {
    const char *id;             /* calib_machine_id */
    double cache_bytes;         /* last-level cache */
    double memory_bytes;
    double streaming_bandwidth; /* bytes/s of a read far larger than the cache (membw), 0 if unknown */
} sim_fit_machine;

typedef struct sim_fit {
    sim_hw hw;
    char sources[SIM_HW_MAX_SOURCES][600];        /* in sim_hw_source_key order */
    bool memory_bound[SIM_FIT_MAX_MODELS];        /* at n=1 */
    bool fitted[SIM_N_DTYPES];                    /* peaks measured here (the others are stand-ins) */
} sim_fit;

/* This machine's facts: calib_machine_id, the last-level cache (from sysfs: glibc's sysconf
 * misreports it in some VMs), physical memory, and a 256 MB streaming read with t. */
void sim_fit_probe_machine(aion_threads *t, sim_fit_machine *out, char *id, size_t id_len);

/* models[i] was measured as curves[i] (calib_measure: sizes from 1, at least three, and two
 * contexts). Returns 0, or -1 with err when the curves do not allow a fit. */
int sim_fit_local(const sim_model *models, const cost_curve *curves, int n, const sim_fit_machine *machine,
                  sim_fit *out, char *err, size_t err_len);

/* What the fitted profile predicts for one forward of the calibration (n tokens on top of ctx,
 * logits for each, as calib_measure runs them), overhead included: what fit-local compares with
 * the measurement. */
double sim_fit_predict(const sim_hw *hw, const sim_model *m, int n_tokens, int ctx);

#endif
