/*
 * gguf.h - the GGUF file format: a validating reader over mmap and a writer.
 *
 * The reader owns the mapping of one file and an index of its key/value pairs
 * and tensors. Every length, count, offset and dimension is checked against the
 * bytes that are really there before anything else in the engine sees it, so
 * code above this layer may trust what it gets (a tensor's data lies inside the
 * file and its size matches its type and shape). Errors are one line naming
 * the file and what is wrong.
 *
 * The writer collects metadata and copies of the tensors (callers may free their
 * buffers at once) and lays the file out on write: tests, `aio synth`, `aio convert`.
 */
#ifndef AION_GGUF_H
#define AION_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "quant.h"

enum gguf_vtype {
    GGUF_VT_UINT8 = 0, GGUF_VT_INT8 = 1, GGUF_VT_UINT16 = 2, GGUF_VT_INT16 = 3,
    GGUF_VT_UINT32 = 4, GGUF_VT_INT32 = 5, GGUF_VT_FLOAT32 = 6, GGUF_VT_BOOL = 7,
    GGUF_VT_STRING = 8, GGUF_VT_ARRAY = 9, GGUF_VT_UINT64 = 10, GGUF_VT_INT64 = 11,
    GGUF_VT_FLOAT64 = 12,
    GGUF_VT_COUNT
};

#define GGUF_MAX_DIMS 4
#define GGUF_DEFAULT_ALIGNMENT 32

typedef struct gguf_file gguf_file;

typedef struct gguf_tensor {
    const char *name;          /* NUL-terminated copy owned by the gguf_file */
    int n_dims;
    int64_t ne[GGUF_MAX_DIMS]; /* ne[0] is the contiguous (row) dimension; unused dims are 1 */
    enum aion_dtype type;
    uint64_t offset;           /* relative to the start of the data section */
    size_t n_bytes;
    const void *data;          /* points into the mapping */
} gguf_tensor;

/* Open and validate. On failure returns NULL and writes a one-line message to err. */
gguf_file *gguf_open(const char *path, char *err, size_t err_len);
/* Same over a caller-owned buffer (which must outlive the result); used by the fuzzer. */
gguf_file *gguf_open_buffer(const void *data, size_t size, const char *name, char *err, size_t err_len);
void gguf_close(gguf_file *f);
/* Reads every page of a mapped file in (no-op for buffers), reporting bytes done. */
void gguf_prefault(const gguf_file *f, void (*progress)(void *user, uint64_t done, uint64_t total), void *user);

uint32_t gguf_version(const gguf_file *f);
size_t gguf_file_size(const gguf_file *f);

/* Key/value access. Lookups return -1 / false when absent or of another kind. */
int gguf_n_kv(const gguf_file *f);
int gguf_find_key(const gguf_file *f, const char *key);
const char *gguf_key_name(const gguf_file *f, int kv);
enum gguf_vtype gguf_kv_type(const gguf_file *f, int kv);
/* Any integer or bool type, range-checked into int64. */
bool gguf_get_int(const gguf_file *f, const char *key, int64_t *out);
/* float32/float64 (or an integer) as double. */
bool gguf_get_float(const gguf_file *f, const char *key, double *out);
/* String value: pointer into the mapping (NOT NUL-terminated), length in *len. */
const char *gguf_get_str(const gguf_file *f, const char *key, size_t *len);
/* Arrays: element type and count. For numeric arrays, *data points at the packed elements
 * (possibly unaligned: read with memcpy); for string arrays use gguf_get_arr_str. */
bool gguf_get_arr(const gguf_file *f, const char *key, enum gguf_vtype *elem_type, uint64_t *count,
                  const void **data);
const char *gguf_get_arr_str(const gguf_file *f, const char *key, uint64_t i, size_t *len);

/* Tensors. */
int gguf_n_tensors(const gguf_file *f);
const gguf_tensor *gguf_get_tensor(const gguf_file *f, int i);
const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name);

/* ---- writer ---- */
typedef struct gguf_writer gguf_writer;

gguf_writer *gguf_writer_new(void);
void gguf_writer_free(gguf_writer *w);
void gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v);
void gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v);
void gguf_writer_set_f32(gguf_writer *w, const char *key, float v);
void gguf_writer_set_bool(gguf_writer *w, const char *key, bool v);
void gguf_writer_set_str(gguf_writer *w, const char *key, const char *v);
void gguf_writer_set_arr_str(gguf_writer *w, const char *key, const char *const *v, size_t n);
void gguf_writer_set_arr_f32(gguf_writer *w, const char *key, const float *v, size_t n);
void gguf_writer_set_arr_i32(gguf_writer *w, const char *key, const int32_t *v, size_t n);
/* Any numeric or bool scalar / array; value(s) are C objects of the type (uint8_t ... double, bool). */
void gguf_writer_set_scalar(gguf_writer *w, const char *key, enum gguf_vtype type, const void *value);
void gguf_writer_set_arr(gguf_writer *w, const char *key, enum gguf_vtype elem_type, const void *values,
                         size_t n);
/* Copy entry kv of src as it is, whatever its type (for `aio convert`). */
void gguf_writer_copy_kv(gguf_writer *w, const gguf_file *src, int kv);
/* Tensor data is copied. ne[0] must be a multiple of the type's block size. */
void gguf_writer_add_tensor(gguf_writer *w, const char *name, enum aion_dtype type, int n_dims,
                            const int64_t *ne, const void *data);
/* Returns 0 on success, -1 with a message in err. */
int gguf_writer_write(const gguf_writer *w, const char *path, char *err, size_t err_len);

#endif
