/*
 * common.h - what the subcommands share: option parsing, where the default
 * models live, and printing figures.
 */
#ifndef AION_CLI_COMMON_H
#define AION_CLI_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aion.h"
#include "util.h"

/* Option parsing over argv: `opt_is(argv[i], "-n", "--n-predict")` and value getters that
 * print a usage error (and return false) when the value is missing or malformed. */
bool opt_is(const char *arg, const char *short_name, const char *long_name);
bool opt_int(int argc, char **argv, int *i, int *out);
bool opt_u64(int argc, char **argv, int *i, uint64_t *out);
bool opt_float(int argc, char **argv, int *i, float *out);
bool opt_str(int argc, char **argv, int *i, const char **out);
/* --kv f32|f16: the KV cache's element type, as aion_ctx_params.kv_f16 */
bool opt_kv(int argc, char **argv, int *i, int *kv_f16);

/* Path of a model of the embedded default family ("aio-large", "aio-small"): looked up in
 * $AION_MODELS, next to the executable (../models, ./models) and in the source tree. Writes into
 * buf and returns it, or NULL when not found. */
const char *default_model_path(const char *name, char *buf, size_t buf_len);

/* A file or folder of the source tree (bench/tasks, models/policy.json, ...); NULL if not found. */
const char *find_source_file(const char *rel, char *buf, size_t buf_len);

/* Reads a whole file into a malloc'd NUL-terminated buffer; NULL with a message on stderr. */
char *read_text_file(const char *path, size_t *len);


/* Progress on stderr when it is a terminal: "label 37%". done == total ends the line. */
void progress(const char *label, uint64_t done, uint64_t total);

/* aion_progress_fn for model loading: "loading NAME 42%" on a terminal. */
void load_progress(void *user, uint64_t done, uint64_t total);

#endif
