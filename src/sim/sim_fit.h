/*
 * sim_fit.h - a hardware profile of this machine, fitted from the forward
 * times `aio calibrate` measures.
 *
 * The simulator is only believable on machines we do not have if it predicts
 * the one we do. So the local profile is not written by hand: bandwidth comes
 * from n=1 forwards (bytes streamed / time, after a per-kernel overhead fitted
 * across models by least squares), compute from the slope of the time over
 * the largest forward sizes, and launch, sync and compile costs of a CPU are
 * what the fit says they are (a thread barrier per kernel at most).
 */
#ifndef AION_SIM_FIT_H
#define AION_SIM_FIT_H

#include <stddef.h>

#include "orch/costmodel.h"
#include "sim/sim_hw.h"
#include "sim/sim_model.h"

#define SIM_FIT_MAX_MODELS 8
#define SIM_FIT_KERNELS_PER_LAYER 10 /* parallel sections of one layer in src/model.c, roughly */

typedef struct sim_fit {
    sim_hw hw;
    char sources[16][400];                        /* per sim_hw field, in sim_hw_field_name order */
    double model_bandwidth[SIM_FIT_MAX_MODELS];   /* bytes/s each model's n=1 forwards achieved */
    double model_flops[SIM_FIT_MAX_MODELS];       /* FLOP/s of each model's large-n slope */
} sim_fit;

/* models[i] was measured as curves[i] (calib_measure) on the machine `machine`. Returns 0, or
 * -1 with err when no curve has the sizes a fit needs. */
int sim_fit_local(const sim_model *models, const cost_curve *curves, int n, const char *machine, sim_fit *out,
                  char *err, size_t err_len);

#endif
