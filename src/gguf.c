/*
 * gguf.c - the GGUF file format: a validating v2/v3 reader and a v3 writer.
 *
 * This file owns every byte-level decision about GGUF. The reader walks the
 * header once, with a cursor that refuses to step past the end of the bytes,
 * and bounds every count by the bytes left before allocating for it, so no
 * input (truncated, hostile or fuzzed) can make it read out of bounds or ask
 * for a huge allocation. Everything above (model loader, tokenizer) then
 * trusts the index it builds: keys and tensor names are unique, tensor data
 * lies inside the file, is aligned, and has the size its type and shape say.
 * Values are decoded little-endian byte by byte, so nothing depends on the
 * host's byte order or on the mapping's alignment.
 *
 * The writer keeps metadata as ready-encoded byte strings and copies tensor
 * data when it is added, then lays the file out in one pass into a temporary
 * sibling that is renamed over the target, so a reader that has the old file
 * mapped never sees it change under it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gguf.h"
#include "util.h"

#define GGUF_MAX_NAME 64 /* tensor names: ggml keeps them in a fixed 64-byte field */
/* The smallest encodings, used to bound counts by the bytes that are left. */
#define GGUF_MIN_KV_BYTES (8 + 1 + 4 + 1)                  /* 1-byte key, u8 value */
#define GGUF_MIN_TENSOR_INFO_BYTES (8 + 1 + 4 + 8 + 4 + 8) /* 1-byte name, 1 dim */
#define GGUF_STR_LEN_BYTES 8

static const char *const VTYPE_NAMES[GGUF_VT_COUNT] = {
    "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64",
};

/* Bytes of one scalar of each type; 0 for the variable-length ones. */
static const size_t VTYPE_SIZES[GGUF_VT_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

static const char *vtype_name(uint32_t t) { return t < GGUF_VT_COUNT ? VTYPE_NAMES[t] : "unknown"; }

static bool vtype_is_scalar(uint32_t t) { return t < GGUF_VT_COUNT && VTYPE_SIZES[t] != 0; }

static uint64_t load_le(const uint8_t *p, size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void store_le(uint8_t *p, uint64_t v, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Names and keys come from the file: quote at most 64 bytes and replace anything that is
 * not printable ASCII, so an error stays one short line whatever the file holds. */
static const char *printable(char *buf, size_t buf_len, const void *bytes, size_t len) {
    const uint8_t *p = bytes;
    size_t keep = len < 64 ? len : 64, o = 0;
    for (size_t i = 0; i < keep && o + 1 < buf_len; i++)
        buf[o++] = (p[i] >= 0x20 && p[i] < 0x7f) ? (char)p[i] : '?';
    if (keep < len && o + 4 < buf_len) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
    return buf;
}

/* ------------------------------------------------------------------------------------------ */
/* Name index: open addressing over entry numbers, for unique-name checks and lookups that stay
 * linear in the number of entries (a fuzzed file may hold tens of thousands). */

typedef const char *(*name_of_fn)(const void *owner, int32_t i);

typedef struct name_index {
    int32_t *slots; /* entry number, -1 when free */
    size_t mask;
} name_index;

static uint64_t hash_name(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static bool index_init(name_index *ix, size_t n_entries) {
    size_t cap = 8;
    while (cap < 2 * n_entries) cap *= 2;
    ix->slots = malloc(cap * sizeof *ix->slots);
    if (!ix->slots) return false;
    memset(ix->slots, 0xff, cap * sizeof *ix->slots);
    ix->mask = cap - 1;
    return true;
}

/* The slot holding `name`, or the free slot where it would go. */
static size_t index_probe(const name_index *ix, const char *name, name_of_fn name_of, const void *owner) {
    size_t s = (size_t)hash_name(name) & ix->mask;
    while (ix->slots[s] >= 0 && strcmp(name_of(owner, ix->slots[s]), name) != 0) s = (s + 1) & ix->mask;
    return s;
}

/* Adds entry i; returns -1, or the number of an earlier entry with the same name. */
static int32_t index_insert(name_index *ix, int32_t i, name_of_fn name_of, const void *owner) {
    size_t s = index_probe(ix, name_of(owner, i), name_of, owner);
    if (ix->slots[s] >= 0) return ix->slots[s];
    ix->slots[s] = i;
    return -1;
}

static int32_t index_find(const name_index *ix, const char *name, name_of_fn name_of, const void *owner) {
    if (!ix->slots || !name) return -1;
    return ix->slots[index_probe(ix, name, name_of, owner)];
}

/* ------------------------------------------------------------------------------------------ */
/* The open file. */

typedef struct gguf_kv {
    char *key;
    enum gguf_vtype type;
    enum gguf_vtype elem_type; /* arrays */
    uint64_t count;            /* arrays: elements; strings: bytes */
    const uint8_t *value;      /* scalar bytes, string bytes, or the first array element */
    size_t *str_offsets;       /* string arrays: each element's length prefix, from value */
    const uint8_t *raw;        /* type tag through the end of the value, for copying */
    size_t raw_len;
} gguf_kv;

struct gguf_file {
    const uint8_t *base;
    size_t size;
    void *map; /* non-NULL when gguf_open mapped the file */
    size_t map_size;
    uint32_t version;
    uint64_t alignment;
    uint64_t data_start;
    gguf_kv *kvs;
    int n_kv;
    gguf_tensor *tensors;
    int n_tensors;
    name_index kv_index;
    name_index tensor_index;
};

static const char *kv_name_of(const void *owner, int32_t i) { return ((const gguf_file *)owner)->kvs[i].key; }

static const char *tensor_name_of(const void *owner, int32_t i) {
    return ((const gguf_file *)owner)->tensors[i].name;
}

/* ------------------------------------------------------------------------------------------ */
/* The parse cursor: position, bounds and error reporting. */

typedef struct cursor {
    const uint8_t *base;
    size_t size;
    size_t pos;
    const char *file_name;
    char where[128]; /* the item being parsed, e.g. "tensor 'blk.0.attn_q.weight'" */
    char *err;
    size_t err_len;
} cursor;

static bool fail(cursor *c, const char *fmt, ...) {
    if (!c->err || c->err_len == 0) return false;
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->where[0])
        snprintf(c->err, c->err_len, "%s: %s: %s", c->file_name, c->where, msg);
    else
        snprintf(c->err, c->err_len, "%s: %s", c->file_name, msg);
    return false;
}

static size_t bytes_left(const cursor *c) { return c->size - c->pos; }

static bool take(cursor *c, uint64_t n, const char *what, const uint8_t **out) {
    *out = NULL;
    if (n > bytes_left(c))
        return fail(c, "truncated: %s needs %" PRIu64 " bytes at offset %zu but the file is %zu bytes", what,
                    n, c->pos, c->size);
    *out = c->base + c->pos;
    c->pos += (size_t)n;
    return true;
}

static bool read_u32(cursor *c, const char *what, uint32_t *v) {
    const uint8_t *p;
    if (!take(c, 4, what, &p)) return false;
    *v = (uint32_t)load_le(p, 4);
    return true;
}

static bool read_u64(cursor *c, const char *what, uint64_t *v) {
    const uint8_t *p;
    if (!take(c, 8, what, &p)) return false;
    *v = load_le(p, 8);
    return true;
}

static bool read_str(cursor *c, const char *what, const uint8_t **p, uint64_t *len) {
    *p = NULL;
    char len_what[64];
    snprintf(len_what, sizeof len_what, "%s length", what);
    if (!read_u64(c, len_what, len)) return false;
    if (*len > bytes_left(c))
        return fail(c, "%s length %" PRIu64 " runs past the end of the file (%zu bytes left at offset %zu)",
                    what, *len, bytes_left(c), c->pos);
    return take(c, *len, what, p);
}

/* A key or tensor name: non-empty, no NUL inside (the engine uses them as C strings). */
static bool read_name(cursor *c, const char *what, char **out) {
    const uint8_t *p;
    uint64_t len;
    if (!read_str(c, what, &p, &len)) return false;
    if (len == 0) return fail(c, "empty %s", what);
    if (memchr(p, 0, len)) {
        char shown[80];
        return fail(c, "%s '%s' contains a NUL byte", what, printable(shown, sizeof shown, p, len));
    }
    *out = malloc(len + 1);
    if (!*out) return fail(c, "out of memory for a %" PRIu64 "-byte %s", len, what);
    memcpy(*out, p, len);
    (*out)[len] = '\0';
    return true;
}

/* ------------------------------------------------------------------------------------------ */
/* Header and key/value section. */

static bool parse_magic_and_version(cursor *c, uint32_t *version) {
    if (c->size < 4) return fail(c, "too small to be a GGUF file (%zu bytes)", c->size);
    if (memcmp(c->base, "GGUF", 4) != 0)
        return fail(c, "not a GGUF file (starts with bytes %02x %02x %02x %02x, expected \"GGUF\")",
                    c->base[0], c->base[1], c->base[2], c->base[3]);
    c->pos = 4;
    if (!read_u32(c, "version", version)) return false;
    if (*version == 2 || *version == 3) return true;
    if (*version == 1) return fail(c, "GGUF version 1 is not supported (only versions 2 and 3)");
    if ((*version & 0xffffu) == 0 && (*version >> 24) >= 1 && (*version >> 24) <= 3)
        return fail(c, "big-endian GGUF files are not supported");
    return fail(c, "unsupported GGUF version %" PRIu32 " (only versions 2 and 3)", *version);
}

/* Both counts are bounded by what the remaining bytes could hold at the smallest encoding. */
static bool parse_counts(cursor *c, uint64_t *n_tensors, uint64_t *n_kv) {
    if (!read_u64(c, "tensor count", n_tensors) || !read_u64(c, "key/value count", n_kv)) return false;
    size_t left = bytes_left(c);
    if (*n_kv > left / GGUF_MIN_KV_BYTES || *n_kv > INT_MAX)
        return fail(c, "key/value count %" PRIu64 " is impossible in a %zu-byte file", *n_kv, c->size);
    left -= (size_t)*n_kv * GGUF_MIN_KV_BYTES;
    if (*n_tensors > left / GGUF_MIN_TENSOR_INFO_BYTES || *n_tensors > INT_MAX)
        return fail(c, "tensor count %" PRIu64 " is impossible in a %zu-byte file", *n_tensors, c->size);
    return true;
}

static bool check_bools(cursor *c, const uint8_t *p, uint64_t n) {
    for (uint64_t i = 0; i < n; i++)
        if (p[i] > 1) return fail(c, "bool value %u (element %" PRIu64 ") is not 0 or 1", p[i], i);
    return true;
}

static bool parse_scalar_value(cursor *c, gguf_kv *kv) {
    if (!take(c, VTYPE_SIZES[kv->type], "value", &kv->value)) return false;
    if (kv->type == GGUF_VT_BOOL && kv->value[0] > 1)
        return fail(c, "bool value %u is not 0 or 1", kv->value[0]);
    return true;
}

static bool parse_string_array(cursor *c, gguf_kv *kv) {
    if (kv->count > bytes_left(c) / GGUF_STR_LEN_BYTES)
        return fail(c, "array of %" PRIu64 " strings cannot fit in the %zu bytes left at offset %zu",
                    kv->count, bytes_left(c), c->pos);
    if (kv->count == 0) return true;
    kv->str_offsets = malloc((size_t)kv->count * sizeof *kv->str_offsets);
    if (!kv->str_offsets) return fail(c, "out of memory for an array of %" PRIu64 " strings", kv->count);
    for (uint64_t i = 0; i < kv->count; i++) {
        const uint8_t *p;
        uint64_t len;
        kv->str_offsets[i] = (size_t)(c->base + c->pos - kv->value);
        if (!read_str(c, "array string", &p, &len)) return false;
    }
    return true;
}

static bool parse_array_value(cursor *c, gguf_kv *kv) {
    uint32_t elem_type;
    if (!read_u32(c, "array element type", &elem_type) || !read_u64(c, "array length", &kv->count))
        return false;
    if (elem_type >= GGUF_VT_COUNT) return fail(c, "array of unknown value type %" PRIu32, elem_type);
    if (elem_type == GGUF_VT_ARRAY) return fail(c, "arrays of arrays are not supported");
    kv->elem_type = elem_type;
    kv->value = c->base + c->pos;
    if (elem_type == GGUF_VT_STRING) return parse_string_array(c, kv);
    size_t elem_size = VTYPE_SIZES[elem_type];
    if (kv->count > bytes_left(c) / elem_size)
        return fail(
            c, "array of %" PRIu64 " %s values runs past the end of the file (%zu bytes left at offset %zu)",
            kv->count, vtype_name(elem_type), bytes_left(c), c->pos);
    const uint8_t *p;
    if (!take(c, kv->count * elem_size, "array", &p)) return false;
    return elem_type != GGUF_VT_BOOL || check_bools(c, p, kv->count);
}

static bool parse_value(cursor *c, gguf_kv *kv) {
    size_t start = c->pos;
    uint32_t type;
    if (!read_u32(c, "value type", &type)) return false;
    if (type >= GGUF_VT_COUNT) return fail(c, "unknown value type %" PRIu32, type);
    kv->type = type;
    bool ok;
    if (type == GGUF_VT_STRING)
        ok = read_str(c, "string value", &kv->value, &kv->count);
    else if (type == GGUF_VT_ARRAY)
        ok = parse_array_value(c, kv);
    else
        ok = parse_scalar_value(c, kv);
    kv->raw = c->base + start;
    kv->raw_len = c->pos - start;
    return ok;
}

static bool parse_kvs(cursor *c, gguf_file *f, int n_kv) {
    f->kvs = calloc(n_kv ? (size_t)n_kv : 1, sizeof *f->kvs);
    if (!f->kvs || !index_init(&f->kv_index, (size_t)n_kv)) return fail(c, "out of memory for %d keys", n_kv);
    for (int i = 0; i < n_kv; i++) {
        snprintf(c->where, sizeof c->where, "key/value %d", i);
        gguf_kv *kv = &f->kvs[i];
        if (!read_name(c, "key", &kv->key)) return false;
        f->n_kv = i + 1; /* from here on gguf_close frees this entry */
        char shown[80];
        snprintf(c->where, sizeof c->where, "key '%s'",
                 printable(shown, sizeof shown, kv->key, strlen(kv->key)));
        int32_t dup = index_insert(&f->kv_index, i, kv_name_of, f);
        if (dup >= 0) return fail(c, "duplicate key (key/values %d and %d)", (int)dup, i);
        if (!parse_value(c, kv)) return false;
    }
    c->where[0] = '\0';
    return true;
}

/* general.alignment, when present, must be a u32 power of two (ggml's rule); 32 otherwise. */
static bool apply_alignment(cursor *c, gguf_file *f) {
    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    int32_t i = index_find(&f->kv_index, "general.alignment", kv_name_of, f);
    if (i < 0) return true;
    const gguf_kv *kv = &f->kvs[i];
    if (kv->type != GGUF_VT_UINT32)
        return fail(c, "general.alignment must be a u32, not a %s", vtype_name(kv->type));
    uint64_t a = load_le(kv->value, 4);
    if (a == 0 || (a & (a - 1)) != 0)
        return fail(c, "general.alignment %" PRIu64 " is not a power of two", a);
    f->alignment = a;
    return true;
}

/* ------------------------------------------------------------------------------------------ */
/* Tensor infos and the data section. */

static bool parse_dims(cursor *c, gguf_tensor *t) {
    uint32_t n_dims;
    if (!read_u32(c, "dimension count", &n_dims)) return false;
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS)
        return fail(c, "%" PRIu32 " dimensions (must be 1 to %d)", n_dims, GGUF_MAX_DIMS);
    t->n_dims = (int)n_dims;
    int64_t n_elems = 1;
    for (int d = 0; d < GGUF_MAX_DIMS; d++) t->ne[d] = 1;
    for (int d = 0; d < t->n_dims; d++) {
        uint64_t ne;
        if (!read_u64(c, "dimension", &ne)) return false;
        if (ne == 0) return fail(c, "dimension %d is 0", d);
        if (ne > (uint64_t)INT64_MAX || (int64_t)ne > INT64_MAX / n_elems)
            return fail(c, "element count overflows at dimension %d (%" PRIu64 ")", d, ne);
        t->ne[d] = (int64_t)ne;
        n_elems *= (int64_t)ne;
    }
    return true;
}

static bool parse_type_and_size(cursor *c, gguf_tensor *t) {
    uint32_t type;
    if (!read_u32(c, "tensor type", &type)) return false;
    if (type >= AION_DT_COUNT || !quant_type_known((int)type))
        return fail(c, "unknown tensor type %" PRIu32, type);
    t->type = (enum aion_dtype)type;
    int64_t block = quant_block_elems(t->type);
    if (t->ne[0] % block != 0)
        return fail(c, "row length %" PRId64 " is not a multiple of the %s block size %" PRId64, t->ne[0],
                    quant_type_name(t->type), block);
    int64_t n_elems = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]; /* checked by parse_dims */
    uint64_t n_blocks = (uint64_t)(n_elems / block);
    size_t block_bytes = quant_block_bytes(t->type);
    if (n_blocks > SIZE_MAX / block_bytes)
        return fail(c, "byte size of %" PRId64 " elements overflows", n_elems);
    t->n_bytes = (size_t)n_blocks * block_bytes;
    return true;
}

static bool parse_tensor_info(cursor *c, gguf_file *f, int i) {
    gguf_tensor *t = &f->tensors[i];
    snprintf(c->where, sizeof c->where, "tensor %d", i);
    char *name;
    if (!read_name(c, "tensor name", &name)) return false;
    t->name = name;
    f->n_tensors = i + 1; /* from here on gguf_close frees the name */
    char shown[80];
    size_t len = strlen(name);
    if (len > GGUF_MAX_NAME)
        return fail(c, "tensor name '%s' is %zu bytes long (the limit is %d)",
                    printable(shown, sizeof shown, name, len), len, GGUF_MAX_NAME);
    snprintf(c->where, sizeof c->where, "tensor '%s'", printable(shown, sizeof shown, name, len));
    int32_t dup = index_insert(&f->tensor_index, i, tensor_name_of, f);
    if (dup >= 0) return fail(c, "duplicate tensor name (tensors %d and %d)", (int)dup, i);
    if (!parse_dims(c, t) || !parse_type_and_size(c, t) || !read_u64(c, "data offset", &t->offset))
        return false;
    if (t->offset % f->alignment != 0)
        return fail(c, "data offset %" PRIu64 " is not a multiple of the alignment %" PRIu64, t->offset,
                    f->alignment);
    return true;
}

static bool parse_tensor_infos(cursor *c, gguf_file *f, uint64_t n_tensors) {
    /* Re-bound now that the key/values have consumed their share of the file. */
    if (n_tensors > bytes_left(c) / GGUF_MIN_TENSOR_INFO_BYTES)
        return fail(c, "tensor count %" PRIu64 " cannot fit in the %zu bytes left after the key/values",
                    n_tensors, bytes_left(c));
    f->tensors = calloc(n_tensors ? (size_t)n_tensors : 1, sizeof *f->tensors);
    if (!f->tensors || !index_init(&f->tensor_index, (size_t)n_tensors))
        return fail(c, "out of memory for %" PRIu64 " tensors", n_tensors);
    for (int i = 0; i < (int)n_tensors; i++)
        if (!parse_tensor_info(c, f, i)) return false;
    c->where[0] = '\0';
    return true;
}

/* The data section starts at the first aligned offset after the header; every tensor's bytes
 * must lie inside the file. With no tensors the file may end before that offset. */
static bool place_tensors(cursor *c, gguf_file *f) {
    uint64_t pos = c->pos, a = f->alignment;
    f->data_start = pos % a ? pos + (a - pos % a) : pos; /* pos < 2^63 and a <= 2^31: no overflow */
    uint64_t data_len = f->data_start < f->size ? f->size - f->data_start : 0;
    for (int i = 0; i < f->n_tensors; i++) {
        gguf_tensor *t = &f->tensors[i];
        if (t->offset > data_len || t->n_bytes > data_len - t->offset) {
            char shown[80];
            snprintf(c->where, sizeof c->where, "tensor '%s'",
                     printable(shown, sizeof shown, t->name, strlen(t->name)));
            if (t->offset <= UINT64_MAX - f->data_start)
                return fail(c, "data [offset %" PRIu64 ", %zu bytes] lies outside the file (size %zu)",
                            f->data_start + t->offset, t->n_bytes, f->size);
            return fail(c, "data offset %" PRIu64 " lies outside the file (size %zu)", t->offset, f->size);
        }
        t->data = f->base + f->data_start + t->offset;
    }
    return true;
}

typedef struct extent {
    uint64_t begin, end;
    int tensor;
} extent;

static int compare_extents(const void *a, const void *b) {
    const extent *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

/* Two tensors sharing bytes is never produced by a writer; it means a corrupt index. */
static bool check_overlaps(cursor *c, const gguf_file *f) {
    if (f->n_tensors < 2) return true;
    extent *ext = malloc((size_t)f->n_tensors * sizeof *ext);
    if (!ext) return fail(c, "out of memory for %d tensors", f->n_tensors);
    for (int i = 0; i < f->n_tensors; i++)
        ext[i] = (extent){f->tensors[i].offset, f->tensors[i].offset + f->tensors[i].n_bytes, i};
    qsort(ext, (size_t)f->n_tensors, sizeof *ext, compare_extents);
    bool ok = true;
    for (int i = 1; i < f->n_tensors && ok; i++) {
        if (ext[i].begin >= ext[i - 1].end) continue;
        char a[80], b[80];
        const char *na = f->tensors[ext[i - 1].tensor].name, *nb = f->tensors[ext[i].tensor].name;
        ok = fail(c, "tensors '%s' and '%s' overlap in the data section",
                  printable(a, sizeof a, na, strlen(na)), printable(b, sizeof b, nb, strlen(nb)));
    }
    free(ext);
    return ok;
}

static bool parse_file(cursor *c, gguf_file *f) {
    uint64_t n_tensors, n_kv;
    return parse_magic_and_version(c, &f->version) && parse_counts(c, &n_tensors, &n_kv) &&
           parse_kvs(c, f, (int)n_kv) && apply_alignment(c, f) && parse_tensor_infos(c, f, n_tensors) &&
           place_tensors(c, f) && check_overlaps(c, f);
}

static void set_error(char *err, size_t err_len, const char *name, const char *what, int errnum) {
    if (err && err_len) snprintf(err, err_len, "%s: %s: %s", name, what, strerror(errnum));
}

gguf_file *gguf_open_buffer(const void *data, size_t size, const char *name, char *err, size_t err_len) {
    if (err && err_len) err[0] = '\0';
    cursor c = {
        .base = data, .size = size, .file_name = name ? name : "<buffer>", .err = err, .err_len = err_len};
    if (!data && size) {
        fail(&c, "no data");
        return NULL;
    }
    gguf_file *f = calloc(1, sizeof *f);
    if (!f) {
        fail(&c, "out of memory");
        return NULL;
    }
    f->base = data;
    f->size = size;
    if (!parse_file(&c, f)) {
        gguf_close(f);
        return NULL;
    }
    return f;
}

/* With AION_HUGEPAGES set, the file is read into anonymous memory backed by transparent huge
 * pages instead of being mapped: decoding streams every weight once per token, and with 4 KiB
 * page-cache pages the TLB walks and the prefetchers' stop at every page boundary cost ~12% of
 * decode speed on a 1.1 GB model here (aio bench decode). Off by default: it costs a copy at
 * load and the memory is no longer shared with the page cache or other processes. */
static void *read_to_huge_pages(int fd, size_t size, size_t *mapped_out) {
    size_t mapped;
    uint8_t *mem = huge_alloc(size, &mapped);
    if (!mem) return NULL;
    for (size_t done = 0; done < size;) {
        ssize_t got = pread(fd, mem + done, size - done > (1u << 30) ? (1u << 30) : size - done, (off_t)done);
        if (got <= 0) {
            huge_free(mem, mapped);
            return NULL;
        }
        done += (size_t)got;
    }
    huge_seal(mem, mapped);
    *mapped_out = mapped;
    return mem;
}

/* Maps the whole file read-only; returns NULL with a message naming it on failure. */
static void *map_file(const char *path, size_t *size, size_t *map_size, char *err, size_t err_len) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        set_error(err, err_len, path, "cannot open", errno);
        return NULL;
    }
    struct stat st;
    void *map = NULL;
    if (fstat(fd, &st) != 0) {
        set_error(err, err_len, path, "cannot stat", errno);
    } else if (!S_ISREG(st.st_mode)) {
        if (err && err_len) snprintf(err, err_len, "%s: not a regular file", path);
    } else if (st.st_size <= 0 || (uint64_t)st.st_size > SIZE_MAX) {
        if (err && err_len) snprintf(err, err_len, "%s: file is empty", path);
    } else {
        *size = (size_t)st.st_size;
        *map_size = *size;
        const char *huge = getenv("AION_HUGEPAGES");
        map = huge && strcmp(huge, "0") != 0 ? read_to_huge_pages(fd, *size, map_size) : NULL;
        if (!map) map = mmap(NULL, *size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            set_error(err, err_len, path, "cannot map", errno);
            map = NULL;
        }
    }
    close(fd);
    return map;
}

gguf_file *gguf_open(const char *path, char *err, size_t err_len) {
    if (err && err_len) err[0] = '\0';
    if (!path) {
        if (err && err_len) snprintf(err, err_len, "(null): no path given");
        return NULL;
    }
    size_t size = 0, map_size = 0;
    void *map = map_file(path, &size, &map_size, err, err_len);
    if (!map) return NULL;
    gguf_file *f = gguf_open_buffer(map, size, path, err, err_len);
    if (!f) {
        munmap(map, map_size);
        return NULL;
    }
    f->map = map;
    f->map_size = map_size;
    return f;
}

void gguf_close(gguf_file *f) {
    if (!f) return;
    for (int i = 0; i < f->n_kv; i++) {
        free(f->kvs[i].key);
        free(f->kvs[i].str_offsets);
    }
    for (int i = 0; i < f->n_tensors; i++) free((char *)f->tensors[i].name);
    free(f->kvs);
    free(f->tensors);
    free(f->kv_index.slots);
    free(f->tensor_index.slots);
    if (f->map) munmap(f->map, f->map_size);
    free(f);
}

/* ------------------------------------------------------------------------------------------ */
/* Accessors. */

uint32_t gguf_version(const gguf_file *f) { return f ? f->version : 0; }

size_t gguf_file_size(const gguf_file *f) { return f ? f->size : 0; }

int gguf_n_kv(const gguf_file *f) { return f ? f->n_kv : 0; }

int gguf_find_key(const gguf_file *f, const char *key) {
    return f ? index_find(&f->kv_index, key, kv_name_of, f) : -1;
}

const char *gguf_key_name(const gguf_file *f, int kv) {
    return f && kv >= 0 && kv < f->n_kv ? f->kvs[kv].key : NULL;
}

enum gguf_vtype gguf_kv_type(const gguf_file *f, int kv) {
    return f && kv >= 0 && kv < f->n_kv ? f->kvs[kv].type : GGUF_VT_COUNT;
}

static const gguf_kv *find_kv(const gguf_file *f, const char *key) {
    int i = gguf_find_key(f, key);
    return i >= 0 ? &f->kvs[i] : NULL;
}

/* Integer (or bool) value of a scalar of type t at p; false for other types or a u64 that
 * does not fit int64. */
static bool scalar_int(enum gguf_vtype t, const uint8_t *p, int64_t *out) {
    switch (t) {
    case GGUF_VT_UINT8:
    case GGUF_VT_UINT16:
    case GGUF_VT_UINT32:
    case GGUF_VT_BOOL: *out = (int64_t)load_le(p, VTYPE_SIZES[t]); return true;
    case GGUF_VT_INT8: *out = (int8_t)(uint8_t)load_le(p, 1); return true;
    case GGUF_VT_INT16: *out = (int16_t)(uint16_t)load_le(p, 2); return true;
    case GGUF_VT_INT32: *out = (int32_t)(uint32_t)load_le(p, 4); return true;
    case GGUF_VT_INT64: *out = (int64_t)load_le(p, 8); return true;
    case GGUF_VT_UINT64: {
        uint64_t v = load_le(p, 8);
        if (v > (uint64_t)INT64_MAX) return false;
        *out = (int64_t)v;
        return true;
    }
    default: return false;
    }
}

bool gguf_get_int(const gguf_file *f, const char *key, int64_t *out) {
    const gguf_kv *kv = find_kv(f, key);
    int64_t v;
    if (!kv || !vtype_is_scalar(kv->type) || !scalar_int(kv->type, kv->value, &v)) return false;
    if (out) *out = v;
    return true;
}

bool gguf_get_float(const gguf_file *f, const char *key, double *out) {
    const gguf_kv *kv = find_kv(f, key);
    if (!kv || !vtype_is_scalar(kv->type) || kv->type == GGUF_VT_BOOL) return false;
    double v;
    int64_t iv;
    if (kv->type == GGUF_VT_FLOAT32) {
        uint32_t bits = (uint32_t)load_le(kv->value, 4);
        float x;
        memcpy(&x, &bits, sizeof x);
        v = x;
    } else if (kv->type == GGUF_VT_FLOAT64) {
        uint64_t bits = load_le(kv->value, 8);
        memcpy(&v, &bits, sizeof v);
    } else if (kv->type == GGUF_VT_UINT64) {
        v = (double)load_le(kv->value, 8);
    } else {
        if (!scalar_int(kv->type, kv->value, &iv)) return false;
        v = (double)iv;
    }
    if (out) *out = v;
    return true;
}

const char *gguf_get_str(const gguf_file *f, const char *key, size_t *len) {
    const gguf_kv *kv = find_kv(f, key);
    if (!kv || kv->type != GGUF_VT_STRING) return NULL;
    if (len) *len = (size_t)kv->count;
    return (const char *)kv->value;
}

bool gguf_get_arr(const gguf_file *f, const char *key, enum gguf_vtype *elem_type, uint64_t *count,
                  const void **data) {
    const gguf_kv *kv = find_kv(f, key);
    if (!kv || kv->type != GGUF_VT_ARRAY) return false;
    if (elem_type) *elem_type = kv->elem_type;
    if (count) *count = kv->count;
    if (data) *data = kv->value;
    return true;
}

const char *gguf_get_arr_str(const gguf_file *f, const char *key, uint64_t i, size_t *len) {
    const gguf_kv *kv = find_kv(f, key);
    if (!kv || kv->type != GGUF_VT_ARRAY || kv->elem_type != GGUF_VT_STRING || i >= kv->count) return NULL;
    const uint8_t *p = kv->value + kv->str_offsets[i];
    if (len) *len = (size_t)load_le(p, GGUF_STR_LEN_BYTES);
    return (const char *)p + GGUF_STR_LEN_BYTES;
}

int gguf_n_tensors(const gguf_file *f) { return f ? f->n_tensors : 0; }

const gguf_tensor *gguf_get_tensor(const gguf_file *f, int i) {
    return f && i >= 0 && i < f->n_tensors ? &f->tensors[i] : NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name) {
    int32_t i = f ? index_find(&f->tensor_index, name, tensor_name_of, f) : -1;
    return i >= 0 ? &f->tensors[i] : NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Writer. Every setter that can fail records the first failure; gguf_writer_write reports it,
 * so callers can build a file with a run of void calls and check once. */

typedef struct byte_buf {
    uint8_t *data;
    size_t len, cap;
    bool oom;
} byte_buf;

static void buf_append(byte_buf *b, const void *src, size_t n) {
    if (b->oom || n == 0) return;
    if (n > b->cap - b->len) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap - b->len < n) {
            if (cap > SIZE_MAX / 2) {
                b->oom = true;
                return;
            }
            cap *= 2;
        }
        uint8_t *p = realloc(b->data, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, src, n);
    b->len += n;
}

static void buf_put_uint(byte_buf *b, uint64_t v, size_t n) {
    uint8_t tmp[8];
    store_le(tmp, v, n);
    buf_append(b, tmp, n);
}

static void buf_put_str(byte_buf *b, const char *s, size_t len) {
    buf_put_uint(b, len, GGUF_STR_LEN_BYTES);
    buf_append(b, s, len);
}

typedef struct writer_kv {
    char *key;
    byte_buf value; /* type tag and value, exactly as in the file */
} writer_kv;

typedef struct writer_tensor {
    char *name;
    int n_dims;
    int64_t ne[GGUF_MAX_DIMS];
    enum aion_dtype type;
    size_t n_bytes;
    void *data;
} writer_tensor;

struct gguf_writer {
    writer_kv *kvs;
    size_t n_kvs, cap_kvs;
    writer_tensor *tensors;
    size_t n_tensors, cap_tensors;
    char error[256]; /* the first failure, empty while all is well */
};

static void writer_fail(gguf_writer *w, const char *fmt, ...) {
    if (w->error[0]) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->error, sizeof w->error, fmt, ap);
    va_end(ap);
    if (!w->error[0]) snprintf(w->error, sizeof w->error, "error");
}

/* Grows an array of elem_size entries to hold one more; false when out of memory. */
static bool grow(void **items, size_t *cap, size_t n, size_t elem_size) {
    if (n < *cap) return true;
    size_t new_cap = *cap ? *cap * 2 : 16;
    if (new_cap > SIZE_MAX / elem_size) return false;
    void *p = realloc(*items, new_cap * elem_size);
    if (!p) return false;
    *items = p;
    *cap = new_cap;
    return true;
}

static char *copy_string(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

gguf_writer *gguf_writer_new(void) { return calloc(1, sizeof(gguf_writer)); }

void gguf_writer_free(gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kvs; i++) {
        free(w->kvs[i].key);
        free(w->kvs[i].value.data);
    }
    for (size_t i = 0; i < w->n_tensors; i++) {
        free(w->tensors[i].name);
        free(w->tensors[i].data);
    }
    free(w->kvs);
    free(w->tensors);
    free(w);
}

/* Takes ownership of value: stores it under key, replacing an earlier value of the same key. */
static void writer_put_kv(gguf_writer *w, const char *key, byte_buf value) {
    if (!key || !key[0]) {
        writer_fail(w, "empty key");
    } else if (value.oom) {
        writer_fail(w, "key '%s': out of memory", key);
    } else {
        for (size_t i = 0; i < w->n_kvs; i++) {
            if (strcmp(w->kvs[i].key, key) != 0) continue;
            free(w->kvs[i].value.data);
            w->kvs[i].value = value;
            return;
        }
        char *k = copy_string(key);
        if (k && grow((void **)&w->kvs, &w->cap_kvs, w->n_kvs, sizeof *w->kvs)) {
            w->kvs[w->n_kvs++] = (writer_kv){k, value};
            return;
        }
        free(k);
        writer_fail(w, "key '%s': out of memory", key);
    }
    free(value.data);
}

/* Appends one scalar of type t read from the C object at v (uint8_t ... double, bool). */
static void buf_put_scalar(byte_buf *b, enum gguf_vtype t, const void *v) {
    switch (t) {
    case GGUF_VT_UINT8: buf_put_uint(b, *(const uint8_t *)v, 1); break;
    case GGUF_VT_INT8: buf_put_uint(b, (uint8_t) * (const int8_t *)v, 1); break;
    case GGUF_VT_UINT16: buf_put_uint(b, *(const uint16_t *)v, 2); break;
    case GGUF_VT_INT16: buf_put_uint(b, (uint16_t) * (const int16_t *)v, 2); break;
    case GGUF_VT_UINT32: buf_put_uint(b, *(const uint32_t *)v, 4); break;
    case GGUF_VT_INT32: buf_put_uint(b, (uint32_t) * (const int32_t *)v, 4); break;
    case GGUF_VT_UINT64: buf_put_uint(b, *(const uint64_t *)v, 8); break;
    case GGUF_VT_INT64: buf_put_uint(b, (uint64_t) * (const int64_t *)v, 8); break;
    case GGUF_VT_BOOL: buf_put_uint(b, *(const bool *)v ? 1 : 0, 1); break;
    case GGUF_VT_FLOAT32: {
        uint32_t bits;
        memcpy(&bits, v, sizeof bits);
        buf_put_uint(b, bits, 4);
        break;
    }
    case GGUF_VT_FLOAT64: {
        uint64_t bits;
        memcpy(&bits, v, sizeof bits);
        buf_put_uint(b, bits, 8);
        break;
    }
    default: break;
    }
}

/* The size of the C object buf_put_scalar reads for type t. */
static size_t c_scalar_size(enum gguf_vtype t) { return t == GGUF_VT_BOOL ? sizeof(bool) : VTYPE_SIZES[t]; }

void gguf_writer_set_scalar(gguf_writer *w, const char *key, enum gguf_vtype type, const void *value) {
    if (!w) return;
    if (!vtype_is_scalar(type) || !value) {
        writer_fail(w, "key '%s': %s is not a scalar value", key ? key : "(null)", vtype_name(type));
        return;
    }
    byte_buf b = {0};
    buf_put_uint(&b, type, 4);
    buf_put_scalar(&b, type, value);
    writer_put_kv(w, key, b);
}

void gguf_writer_set_arr(gguf_writer *w, const char *key, enum gguf_vtype elem_type, const void *values,
                         size_t n) {
    if (!w) return;
    if (!vtype_is_scalar(elem_type) || (n && !values)) {
        writer_fail(w, "key '%s': bad %s array", key ? key : "(null)", vtype_name(elem_type));
        return;
    }
    byte_buf b = {0};
    buf_put_uint(&b, GGUF_VT_ARRAY, 4);
    buf_put_uint(&b, elem_type, 4);
    buf_put_uint(&b, n, 8);
    size_t stride = c_scalar_size(elem_type);
    for (size_t i = 0; i < n; i++) buf_put_scalar(&b, elem_type, (const uint8_t *)values + i * stride);
    writer_put_kv(w, key, b);
}

void gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v) {
    gguf_writer_set_scalar(w, key, GGUF_VT_UINT32, &v);
}

void gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v) {
    gguf_writer_set_scalar(w, key, GGUF_VT_INT32, &v);
}

void gguf_writer_set_f32(gguf_writer *w, const char *key, float v) {
    gguf_writer_set_scalar(w, key, GGUF_VT_FLOAT32, &v);
}

void gguf_writer_set_bool(gguf_writer *w, const char *key, bool v) {
    gguf_writer_set_scalar(w, key, GGUF_VT_BOOL, &v);
}

void gguf_writer_set_str(gguf_writer *w, const char *key, const char *v) {
    if (!w) return;
    if (!v) {
        writer_fail(w, "key '%s': NULL string", key ? key : "(null)");
        return;
    }
    byte_buf b = {0};
    buf_put_uint(&b, GGUF_VT_STRING, 4);
    buf_put_str(&b, v, strlen(v));
    writer_put_kv(w, key, b);
}

void gguf_writer_set_arr_str(gguf_writer *w, const char *key, const char *const *v, size_t n) {
    if (!w) return;
    byte_buf b = {0};
    buf_put_uint(&b, GGUF_VT_ARRAY, 4);
    buf_put_uint(&b, GGUF_VT_STRING, 4);
    buf_put_uint(&b, n, 8);
    for (size_t i = 0; i < n; i++) {
        if (!v || !v[i]) {
            free(b.data);
            writer_fail(w, "key '%s': NULL string at index %zu", key ? key : "(null)", i);
            return;
        }
        buf_put_str(&b, v[i], strlen(v[i]));
    }
    writer_put_kv(w, key, b);
}

void gguf_writer_set_arr_f32(gguf_writer *w, const char *key, const float *v, size_t n) {
    gguf_writer_set_arr(w, key, GGUF_VT_FLOAT32, v, n);
}

void gguf_writer_set_arr_i32(gguf_writer *w, const char *key, const int32_t *v, size_t n) {
    gguf_writer_set_arr(w, key, GGUF_VT_INT32, v, n);
}

void gguf_writer_copy_kv(gguf_writer *w, const gguf_file *src, int kv) {
    if (!w) return;
    if (!src || kv < 0 || kv >= src->n_kv) {
        writer_fail(w, "copy of key/value %d: no such entry", kv);
        return;
    }
    byte_buf b = {0};
    buf_append(&b, src->kvs[kv].raw, src->kvs[kv].raw_len);
    writer_put_kv(w, src->kvs[kv].key, b);
}

/* Validates a tensor's name and shape as the reader will; returns its byte size or 0. */
static size_t writer_tensor_bytes(gguf_writer *w, const char *name, enum aion_dtype type, int n_dims,
                                  const int64_t *ne) {
    size_t name_len = name ? strlen(name) : 0;
    if (name_len == 0 || name_len > GGUF_MAX_NAME) {
        writer_fail(w, "tensor name '%s' must be 1 to %d bytes", name ? name : "(null)", GGUF_MAX_NAME);
        return 0;
    }
    for (size_t i = 0; i < w->n_tensors; i++)
        if (strcmp(w->tensors[i].name, name) == 0) {
            writer_fail(w, "duplicate tensor name '%s'", name);
            return 0;
        }
    if (!quant_type_known(type) || n_dims < 1 || n_dims > GGUF_MAX_DIMS || !ne) {
        writer_fail(w, "tensor '%s': bad type %d or dimension count %d", name, (int)type, n_dims);
        return 0;
    }
    int64_t n_elems = 1;
    for (int d = 0; d < n_dims; d++) {
        if (ne[d] < 1 || ne[d] > INT64_MAX / n_elems) {
            writer_fail(w, "tensor '%s': bad dimension %d (%" PRId64 ")", name, d, ne[d]);
            return 0;
        }
        n_elems *= ne[d];
    }
    int64_t block = quant_block_elems(type);
    if (ne[0] % block != 0) {
        writer_fail(w, "tensor '%s': row length %" PRId64 " is not a multiple of the %s block size %" PRId64,
                    name, ne[0], quant_type_name(type), block);
        return 0;
    }
    uint64_t n_blocks = (uint64_t)(n_elems / block);
    if (n_blocks > SIZE_MAX / quant_block_bytes(type)) {
        writer_fail(w, "tensor '%s': too large", name);
        return 0;
    }
    return (size_t)n_blocks * quant_block_bytes(type);
}

void gguf_writer_add_tensor(gguf_writer *w, const char *name, enum aion_dtype type, int n_dims,
                            const int64_t *ne, const void *data) {
    if (!w) return;
    size_t n_bytes = writer_tensor_bytes(w, name, type, n_dims, ne);
    if (n_bytes == 0) return;
    if (!data) {
        writer_fail(w, "tensor '%s': no data", name);
        return;
    }
    writer_tensor t = {.n_dims = n_dims, .type = type, .n_bytes = n_bytes};
    for (int d = 0; d < GGUF_MAX_DIMS; d++) t.ne[d] = d < n_dims ? ne[d] : 1;
    t.name = copy_string(name);
    t.data = malloc(n_bytes);
    if (!t.name || !t.data ||
        !grow((void **)&w->tensors, &w->cap_tensors, w->n_tensors, sizeof *w->tensors)) {
        free(t.name);
        free(t.data);
        writer_fail(w, "tensor '%s': out of memory for %zu bytes", name, n_bytes);
        return;
    }
    memcpy(t.data, data, n_bytes);
    w->tensors[w->n_tensors++] = t;
}

/* A general.alignment set by the caller is honoured (tests use it); it must be a u32 power of
 * two, as the reader demands. Returns 0 when it is unusable. */
static uint64_t writer_alignment(const gguf_writer *w) {
    for (size_t i = 0; i < w->n_kvs; i++) {
        if (strcmp(w->kvs[i].key, "general.alignment") != 0) continue;
        const byte_buf *v = &w->kvs[i].value;
        if (v->len != 8 || load_le(v->data, 4) != GGUF_VT_UINT32) return 0;
        uint64_t a = load_le(v->data + 4, 4);
        return a && (a & (a - 1)) == 0 ? a : 0;
    }
    return GGUF_DEFAULT_ALIGNMENT;
}

static uint64_t align_up(uint64_t x, uint64_t a) { return x % a ? x + (a - x % a) : x; }

/* Everything before the data section, padded to the alignment. */
static bool writer_header(const gguf_writer *w, uint64_t alignment, byte_buf *h) {
    buf_append(h, "GGUF", 4);
    buf_put_uint(h, 3, 4);
    buf_put_uint(h, w->n_tensors, 8);
    buf_put_uint(h, w->n_kvs, 8);
    for (size_t i = 0; i < w->n_kvs; i++) {
        buf_put_str(h, w->kvs[i].key, strlen(w->kvs[i].key));
        buf_append(h, w->kvs[i].value.data, w->kvs[i].value.len);
    }
    uint64_t offset = 0;
    for (size_t i = 0; i < w->n_tensors; i++) {
        const writer_tensor *t = &w->tensors[i];
        buf_put_str(h, t->name, strlen(t->name));
        buf_put_uint(h, (uint64_t)t->n_dims, 4);
        for (int d = 0; d < t->n_dims; d++) buf_put_uint(h, (uint64_t)t->ne[d], 8);
        buf_put_uint(h, (uint64_t)t->type, 4);
        buf_put_uint(h, offset, 8);
        offset = align_up(offset + t->n_bytes, alignment);
    }
    static const uint8_t zeros[64];
    while (!h->oom && h->len % alignment) {
        uint64_t pad = alignment - h->len % alignment;
        buf_append(h, zeros, pad < sizeof zeros ? (size_t)pad : sizeof zeros);
    }
    return !h->oom;
}

static bool write_padding(FILE *out, size_t n) {
    static const uint8_t zeros[64];
    while (n > 0) {
        size_t k = n < sizeof zeros ? n : sizeof zeros;
        if (fwrite(zeros, 1, k, out) != k) return false;
        n -= k;
    }
    return true;
}

static bool writer_body(const gguf_writer *w, uint64_t alignment, const byte_buf *header, FILE *out) {
    if (fwrite(header->data, 1, header->len, out) != header->len) return false;
    for (size_t i = 0; i < w->n_tensors; i++) {
        const writer_tensor *t = &w->tensors[i];
        if (fwrite(t->data, 1, t->n_bytes, out) != t->n_bytes) return false;
        if (!write_padding(out, (size_t)(align_up(t->n_bytes, alignment) - t->n_bytes))) return false;
    }
    return true;
}

/* Writes into tmp_path; returns 0, or -1 with errno-based message in err. */
static int writer_to_file(const gguf_writer *w, uint64_t alignment, const byte_buf *header, const char *path,
                          const char *tmp_path, char *err, size_t err_len) {
    int fd = open(tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) {
        set_error(err, err_len, path, "cannot create", errno);
        return -1;
    }
    FILE *out = fdopen(fd, "wb");
    if (!out) {
        set_error(err, err_len, path, "cannot write", errno);
        close(fd);
        return -1;
    }
    bool ok = writer_body(w, alignment, header, out);
    int write_errno = errno;
    if (fclose(out) != 0 && ok) {
        ok = false;
        write_errno = errno;
    }
    if (!ok) {
        set_error(err, err_len, path, "write failed", write_errno ? write_errno : EIO);
        return -1;
    }
    return 0;
}

int gguf_writer_write(const gguf_writer *w, const char *path, char *err, size_t err_len) {
    if (err && err_len) err[0] = '\0';
    const char *name = path ? path : "(null)";
    if (!w || !path || w->error[0]) {
        if (err && err_len)
            snprintf(err, err_len, "%s: cannot write: %s", name,
                     !w || !path ? "no writer or path" : w->error);
        return -1;
    }
    uint64_t alignment = writer_alignment(w);
    if (!alignment) {
        if (err && err_len)
            snprintf(err, err_len, "%s: cannot write: general.alignment must be a u32 power of two", name);
        return -1;
    }
    byte_buf header = {0};
    size_t tmp_len = strlen(path) + 32;
    char *tmp_path = malloc(tmp_len);
    if (!tmp_path || !writer_header(w, alignment, &header)) {
        if (err && err_len) snprintf(err, err_len, "%s: cannot write: out of memory", name);
        free(tmp_path);
        free(header.data);
        return -1;
    }
    snprintf(tmp_path, tmp_len, "%s.tmp.%ld", path, (long)getpid());
    int rc = writer_to_file(w, alignment, &header, path, tmp_path, err, err_len);
    if (rc == 0 && rename(tmp_path, path) != 0) {
        set_error(err, err_len, path, "cannot rename the finished file into place", errno);
        rc = -1;
    }
    if (rc != 0) unlink(tmp_path);
    free(tmp_path);
    free(header.data);
    return rc;
}

/* Every weight is read by the first forward anyway; faulting the pages in one by one there would
 * show as a slow first request, so the loader reads them up front, in chunks it can report. */
void gguf_prefault(const gguf_file *f, void (*progress)(void *user, uint64_t done, uint64_t total), void *user) {
    if (!f->map) return;
    const volatile uint8_t *bytes = f->map;
    size_t size = gguf_file_size(f), chunk = (size_t)64 << 20;
    uint8_t sink = 0;
    for (size_t start = 0; start < size; start += chunk) {
        size_t end = size - start < chunk ? size : start + chunk;
        madvise((void *)((uintptr_t)f->map + start), end - start, MADV_WILLNEED);
        for (size_t i = start; i < end; i += 4096) sink ^= bytes[i];
        if (progress) progress(user, end, size);
    }
    (void)sink;
}
