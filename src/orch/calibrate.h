/*
 * calibrate.h - measuring t(n tokens, context) per model, and keeping it.
 *
 * The cost model's curves come from this machine, never from constants: a
 * forward of every bucket size at a few context lengths, median of several
 * runs. Profiles are kept in one JSON file keyed by machine (CPU model and
 * core count), model file (path, size, modification time) and KV cache type
 * (an f16 cache halves what attention reads, so its long-context points
 * differ); a stale or corrupt entry is re-measured, a corrupt file is
 * reported and rewritten.
 */
#ifndef AION_CALIBRATE_H
#define AION_CALIBRATE_H

#include <stdbool.h>
#include <stddef.h>

#include "aion.h"
#include "costmodel.h"

/* "AMD EPYC ... x2": what a profile is valid for. */
void calib_machine_id(char *buf, size_t buf_len);

/* Measures the curve of model m (sizes = the buckets of dc) with a KV cache of f16 (kv_f16) or f32. */
int calib_measure(const aion_model *m, aion_threads *t, const decode_config *dc, bool kv_f16, int repeats,
                  cost_curve *out, char *err, size_t err_len);

/* Profile file: 0 found and fresh; 1 absent or stale; -1 the file is corrupt (err says why). The
 * entry is the one for model_path with that KV cache type. */
int calib_load(const char *profile_path, const char *model_path, bool kv_f16, cost_curve *out, char *err,
               size_t err_len);
int calib_save(const char *profile_path, const char *model_path, bool kv_f16, const cost_curve *c, char *err,
               size_t err_len);

/* Load, or measure and save when absent, stale or corrupt. *measured tells which happened. */
int calib_get(const char *profile_path, const aion_model *m, const char *model_path, bool kv_f16, aion_threads *t,
              const decode_config *dc, cost_curve *out, bool *measured, char *err, size_t err_len);

/* Default profile location: $AION_PROFILE, else $XDG_CACHE_HOME or ~/.cache + /aion/profile.json. */
const char *calib_default_path(char *buf, size_t buf_len);

#endif
