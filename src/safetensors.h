/*
 * safetensors.h - a validating reader of Hugging Face safetensors files.
 *
 * `aio convert` reads model weights from here. A safetensors file is an 8-byte
 * little-endian header length, a JSON header naming every tensor (dtype, shape,
 * [begin, end) offsets into the data section) and the data section itself. The
 * reader maps the file and checks everything the header claims against the
 * bytes really there - offsets inside the data section, sizes matching dtype
 * and shape, tensors neither overlapping nor leaving holes, names unique - so
 * the converter can trust a tensor it gets. Only the float dtypes a checkpoint
 * of the supported families uses (F32, F16, BF16) are accepted.
 *
 * st_model groups the shards of one checkpoint: model.safetensors alone, or
 * the files listed by model.safetensors.index.json, under one tensor lookup.
 * Errors are one line naming the file.
 */
#ifndef AION_SAFETENSORS_H
#define AION_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "quant.h"

#define ST_MAX_DIMS 4

typedef struct st_tensor {
    const char *name;           /* NUL-terminated, owned by the st_file */
    enum aion_dtype type;       /* AION_DT_F32, AION_DT_F16 or AION_DT_BF16 */
    int n_dims;                 /* 0 (scalar) .. ST_MAX_DIMS */
    int64_t shape[ST_MAX_DIMS]; /* outermost first, as safetensors (and PyTorch) write it */
    int64_t n_elems;
    size_t n_bytes;
    const void *data; /* inside the mapping (or caller's buffer); may be unaligned */
} st_tensor;

typedef struct st_file st_file;

st_file *st_open(const char *path, char *err, size_t err_len);
/* Over a caller-owned buffer that must outlive the result (tests, the fuzzer). */
st_file *st_open_buffer(const void *data, size_t size, const char *name, char *err, size_t err_len);
void st_close(st_file *f);

int st_n_tensors(const st_file *f);
const st_tensor *st_get_tensor(const st_file *f, int i); /* in the order of their offsets */
const st_tensor *st_find_tensor(const st_file *f, const char *name);

/* Converts n elements of a tensor, starting at element `first`, to float. */
void st_read_f32(const st_tensor *t, int64_t first, int64_t n, float *out);

/* ---- a whole checkpoint (one file or shards) ---- */
typedef struct st_model st_model;

/* dir/model.safetensors.index.json when present (its weight_map names the shard of every
 * tensor; each shard must hold exactly the tensors the map gives it), else dir/model.safetensors. */
st_model *st_model_open(const char *dir, char *err, size_t err_len);
void st_model_close(st_model *m);
int st_model_n_tensors(const st_model *m);
const st_tensor *st_model_tensor(const st_model *m, int i);
const st_tensor *st_model_find(const st_model *m, const char *name);

#endif
