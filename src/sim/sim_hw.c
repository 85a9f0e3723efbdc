/*
 * sim_hw.c - hardware profiles: parsing, validation and writing (see sim_hw.h).
 *
 * One table lists every numeric field with its unit, its valid range and where
 * it lands in sim_hw, so the parser, the source check and the writer cannot
 * disagree about what a profile holds. The peak is one value per compute type
 * (a datasheet quotes each separately, and which one a model uses depends on
 * its weights and the runtime), each with its own source. Files state values
 * in the units datasheets use (GB/s, TFLOP/s, microseconds); sim_hw holds SI
 * units.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim_hw.h"
#include "util.h"

static const char *const DTYPE_NAMES[SIM_N_DTYPES] = {"fp32", "fp16", "bf16", "int8"};
#define DTYPE_LIST "fp32, fp16, bf16, int8"

const char *sim_dtype_name(int dtype) { return dtype >= 0 && dtype < SIM_N_DTYPES ? DTYPE_NAMES[dtype] : "?"; }

int sim_dtype_from_name(const char *name) {
    for (int d = 0; name && d < SIM_N_DTYPES; d++)
        if (strcmp(name, DTYPE_NAMES[d]) == 0) return d;
    return -1;
}

typedef struct hw_field {
    const char *key;
    const char *what; /* said in the error when the field is missing or wrong */
    double scale;     /* file unit -> SI */
    double lo, hi;    /* valid range, file units; lo exclusive when lo_open */
    bool lo_open;
    bool per_dtype;   /* an object with one value per compute type, at offset as double[SIM_N_DTYPES] */
    size_t offset;
} hw_field;

#define FIELD(key, what, scale, lo, hi, lo_open, member) \
    {key, what, scale, lo, hi, lo_open, false, offsetof(sim_hw, member)}

#define PEAK_KEY "peak_TFLOPS"

static const hw_field FIELDS[] = {
    FIELD("memory_bandwidth_GBps", "peak memory bandwidth, GB/s", 1e9, 0, 1e5, true, bandwidth),
    FIELD("bandwidth_efficiency", "fraction of peak bandwidth a decode forward achieves", 1, 0, 1, true,
          bandwidth_efficiency),
    FIELD("memory_GB", "device memory, GB", 1e9, 0, 1e5, true, memory_bytes),
    {PEAK_KEY, "dense peak compute per compute type, TFLOP/s (int8: TOPS)", 1e12, 0, 1e5, true, true,
     offsetof(sim_hw, peak_flops)},
    FIELD("compute_efficiency", "fraction of peak compute the weight matmuls achieve", 1, 0, 1, true,
          compute_efficiency),
    FIELD("roofline_p", "how a phase's memory time a and compute time b combine: (a^p + b^p)^(1/p), p of 1 or "
                        "more; 0: max(a, b), complete overlap", 1, 0, 64, false, roofline_p),
    FIELD("attention_efficiency", "fraction of peak compute the attention achieves", 1, 0, 1, true,
          attention_efficiency),
    FIELD("cache_MB", "last-level cache the weights stream through, MB; 0: none", 1e6, 0, 1e6, false,
          cache_bytes),
    FIELD("cache_bandwidth_GBps", "bandwidth of that cache, GB/s; 0 with no cache", 1e9, 0, 1e6, false,
          cache_bandwidth),
    FIELD("kv_bytes_per_element", "bytes per KV cache element", 1, 0.5, 8, false, kv_bytes_per_element),
    FIELD("kernel_launch_us", "one eager kernel launch, microseconds", 1e-6, 0, 1e5, false, launch_seconds),
    FIELD("kernels_per_layer", "eager kernel launches per transformer layer", 1, 1, 1000, false, kernels_per_layer),
    FIELD("graph_launch_us", "one compiled-graph launch, microseconds", 1e-6, 0, 1e6, false, graph_launch_seconds),
    FIELD("sync_us", "host-device round trip, microseconds", 1e-6, 0, 1e6, false, sync_seconds),
    FIELD("graph_compile_s", "compiling a new shape, seconds", 1, 0, 1e5, false, compile_seconds),
};
#define N_FIELDS (int)(sizeof FIELDS / sizeof *FIELDS)

/* The peak entries' source keys, in DTYPE_NAMES order. */
static const char *const PEAK_SOURCE_KEYS[SIM_N_DTYPES] = {PEAK_KEY ".fp32", PEAK_KEY ".fp16", PEAK_KEY ".bf16",
                                                           PEAK_KEY ".int8"};

/* Which compute type the runtime picks where the model does not decide. */
typedef struct dtype_choice {
    const char *key, *what;
    size_t offset;
} dtype_choice;

static const dtype_choice CHOICES[] = {
    {"quantized_dtype", "what the runtime multiplies block-quantized weights in", offsetof(sim_hw, quantized_dtype)},
    {"attention_dtype", "what the attention computes in", offsetof(sim_hw, attention_dtype)},
};
#define N_CHOICES (int)(sizeof CHOICES / sizeof *CHOICES)
_Static_assert(sizeof FIELDS / sizeof *FIELDS + SIM_N_DTYPES - 1 + sizeof CHOICES / sizeof *CHOICES <=
                   SIM_HW_MAX_SOURCES,
               "raise SIM_HW_MAX_SOURCES");

int sim_hw_n_sources(void) { return N_FIELDS + SIM_N_DTYPES - 1 + N_CHOICES; }

const char *sim_hw_source_key(int i) {
    for (int f = 0; f < N_FIELDS && i >= 0; f++) {
        int slots = FIELDS[f].per_dtype ? SIM_N_DTYPES : 1;
        if (i < slots) return FIELDS[f].per_dtype ? PEAK_SOURCE_KEYS[i] : FIELDS[f].key;
        i -= slots;
    }
    return i >= 0 && i < N_CHOICES ? CHOICES[i].key : NULL;
}

static double *field_ptr(sim_hw *hw, const hw_field *f) { return (double *)((char *)hw + f->offset); }

static const double *field_cptr(const sim_hw *hw, const hw_field *f) {
    return (const double *)((const char *)hw + f->offset);
}

static sim_dtype *choice_ptr(sim_hw *hw, const dtype_choice *c) { return (sim_dtype *)((char *)hw + c->offset); }

static sim_dtype choice_value(const sim_hw *hw, const dtype_choice *c) {
    return *(const sim_dtype *)((const char *)hw + c->offset);
}

/* One number of field f, shown as `key` in errors ("sync_us", "peak_TFLOPS.int8"). */
static int parse_value(const cJSON *v, const hw_field *f, const char *key, const char *src, double *out, char *err,
                       size_t err_len) {
    if (!v) return set_err(err, err_len, "%s: missing field \"%s\" (%s)", src, key, f->what), -1;
    bool below = f->lo_open ? v->valuedouble <= f->lo : v->valuedouble < f->lo;
    if (!cJSON_IsNumber(v) || below || v->valuedouble > f->hi)
        return set_err(err, err_len, "%s: \"%s\" must be a number in %s%g, %g] (%s)", src, key, f->lo_open ? "(" : "[",
                        f->lo, f->hi, f->what),
               -1;
    *out = v->valuedouble * f->scale;
    return 0;
}

/* {"fp32": .., "fp16": .., "bf16": .., "int8": ..}: every type, and no other name. */
static int parse_per_dtype(const cJSON *root, const hw_field *f, const char *src, sim_hw *out, char *err,
                           size_t err_len) {
    const cJSON *obj = cJSON_GetObjectItemCaseSensitive(root, f->key);
    if (!obj) return set_err(err, err_len, "%s: missing field \"%s\" (%s: " DTYPE_LIST ")", src, f->key, f->what), -1;
    if (!cJSON_IsObject(obj))
        return set_err(err, err_len, "%s: \"%s\" must be an object with one entry per compute type (" DTYPE_LIST
                                      "), not a single number (%s)", src, f->key, f->what),
               -1;
    for (const cJSON *e = obj->child; e; e = e->next)
        if (sim_dtype_from_name(e->string) < 0)
            return set_err(err, err_len, "%s: \"%s\": unknown compute type \"%s\" (known: " DTYPE_LIST ")", src,
                            f->key, e->string),
                   -1;
    for (int d = 0; d < SIM_N_DTYPES; d++)
        if (parse_value(cJSON_GetObjectItemCaseSensitive(obj, DTYPE_NAMES[d]), f, PEAK_SOURCE_KEYS[d], src,
                        &field_ptr(out, f)[d], err, err_len) < 0)
            return -1;
    return 0;
}

static int parse_field(const cJSON *root, const hw_field *f, const char *src, sim_hw *out, char *err, size_t err_len) {
    if (f->per_dtype) return parse_per_dtype(root, f, src, out, err, err_len);
    return parse_value(cJSON_GetObjectItemCaseSensitive(root, f->key), f, f->key, src, field_ptr(out, f), err,
                       err_len);
}

static int parse_choice(const cJSON *root, const dtype_choice *c, const char *src, sim_hw *out, char *err,
                        size_t err_len) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, c->key);
    int d = cJSON_IsString(v) ? sim_dtype_from_name(v->valuestring) : -1;
    if (d >= 0) return *choice_ptr(out, c) = (sim_dtype)d, 0;
    if (cJSON_IsString(v))
        return set_err(err, err_len, "%s: \"%s\": unknown compute type \"%s\" (known: " DTYPE_LIST ")", src, c->key,
                        v->valuestring),
               -1;
    return set_err(err, err_len, "%s: \"%s\" must be one of " DTYPE_LIST " (%s)", src, c->key, c->what), -1;
}

static int parse_strings(const cJSON *root, const char *src, sim_hw *out, char *err, size_t err_len) {
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "name");
    if (!cJSON_IsString(name) || !name->valuestring[0] || strlen(name->valuestring) >= sizeof out->name)
        return set_err(err, err_len, "%s: \"name\" must be a non-empty string under 64 bytes", src), -1;
    snprintf(out->name, sizeof out->name, "%s", name->valuestring);
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(root, "kind");
    if (!cJSON_IsString(kind) || (strcmp(kind->valuestring, "gpu") && strcmp(kind->valuestring, "npu") &&
                                  strcmp(kind->valuestring, "cpu")))
        return set_err(err, err_len, "%s: \"kind\" must be \"gpu\", \"npu\" or \"cpu\"", src), -1;
    snprintf(out->kind, sizeof out->kind, "%s", kind->valuestring);
    const cJSON *exec = cJSON_GetObjectItemCaseSensitive(root, "execution");
    if (!cJSON_IsString(exec) || (strcmp(exec->valuestring, "graph") && strcmp(exec->valuestring, "eager")))
        return set_err(err, err_len, "%s: \"execution\" must be \"graph\" or \"eager\"", src), -1;
    out->execution = strcmp(exec->valuestring, "graph") == 0 ? SIM_EXEC_GRAPH : SIM_EXEC_EAGER;
    const cJSON *overlap = cJSON_GetObjectItemCaseSensitive(root, "host_overlap");
    if (!cJSON_IsBool(overlap))
        return set_err(err, err_len, "%s: \"host_overlap\" must be true or false (does the host enqueue work "
                                      "while the device runs?)", src),
               -1;
    out->host_overlap = cJSON_IsTrue(overlap);
    for (int i = 0; i < N_CHOICES; i++)
        if (parse_choice(root, &CHOICES[i], src, out, err, err_len) < 0) return -1;
    return 0;
}

/* A source key "a.b" names entry "b" of object "a": puts "a" in outer and returns "b"; NULL for a plain key. */
static const char *split_key(const char *key, char *outer, size_t len) {
    const char *dot = strchr(key, '.');
    if (dot) snprintf(outer, len, "%.*s", (int)(dot - key), key);
    return dot ? dot + 1 : NULL;
}

static const cJSON *source_at(const cJSON *sources, const char *key) {
    char outer[64];
    const char *inner = split_key(key, outer, sizeof outer);
    if (!inner) return cJSON_GetObjectItemCaseSensitive(sources, key);
    return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(sources, outer), inner);
}

/* Every value must say where it comes from: a datasheet, a measurement, or "estimate: why". */
static int check_sources(const cJSON *root, const char *src, char *err, size_t err_len) {
    const cJSON *sources = cJSON_GetObjectItemCaseSensitive(root, "sources");
    if (!cJSON_IsObject(sources))
        return set_err(err, err_len, "%s: missing object \"sources\" (where each value comes from)", src), -1;
    for (int i = 0; i < sim_hw_n_sources(); i++) {
        const cJSON *s = source_at(sources, sim_hw_source_key(i));
        if (!cJSON_IsString(s) || !s->valuestring[0])
            return set_err(err, err_len, "%s: sources.%s: missing (say where the value comes from)", src,
                            sim_hw_source_key(i)),
                   -1;
    }
    return 0;
}

int sim_hw_parse(const char *json_text, const char *source_name, sim_hw *out, char *err, size_t err_len) {
    memset(out, 0, sizeof *out);
    cJSON *root = cJSON_Parse(json_text);
    int rc = 0;
    if (!cJSON_IsObject(root)) {
        set_err(err, err_len, "%s: not a JSON object", source_name);
        rc = -1;
    }
    if (rc == 0) rc = parse_strings(root, source_name, out, err, err_len);
    for (int i = 0; i < N_FIELDS && rc == 0; i++) rc = parse_field(root, &FIELDS[i], source_name, out, err, err_len);
    if (rc == 0 && out->cache_bytes > 0 && !(out->cache_bandwidth > 0)) {
        set_err(err, err_len, "%s: \"cache_bandwidth_GBps\" must be positive when \"cache_MB\" is", source_name);
        rc = -1;
    }
    if (rc == 0 && out->roofline_p > 0 && out->roofline_p < 1) {
        set_err(err, err_len, "%s: \"roofline_p\" must be 0 (max) or 1 or more: below 1 a phase would take longer "
                              "than its memory and compute times added", source_name);
        rc = -1;
    }
    if (rc == 0) rc = check_sources(root, source_name, err, err_len);
    cJSON_Delete(root);
    return rc;
}

static char *read_small_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *text = NULL;
    long len = -1;
    if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && len < (1 << 20) && fseek(f, 0, SEEK_SET) == 0 &&
        (text = malloc((size_t)len + 1)) && fread(text, 1, (size_t)len, f) == (size_t)len) {
        text[len] = 0;
    } else {
        free(text);
        text = NULL;
    }
    fclose(f);
    return text;
}

int sim_hw_load(const char *path, sim_hw *out, char *err, size_t err_len) {
    char *text = read_small_file(path);
    if (!text)
        return set_err(err, err_len, "%s: cannot read the hardware profile (missing, unreadable or over 1 MiB)",
                        path),
               -1;
    int rc = sim_hw_parse(text, path, out, err, err_len);
    free(text);
    return rc;
}

static void write_field(cJSON *root, const sim_hw *hw, const hw_field *f) {
    const double *v = field_cptr(hw, f);
    if (!f->per_dtype) {
        cJSON_AddNumberToObject(root, f->key, *v / f->scale);
        return;
    }
    cJSON *obj = cJSON_AddObjectToObject(root, f->key);
    for (int d = 0; d < SIM_N_DTYPES; d++) cJSON_AddNumberToObject(obj, DTYPE_NAMES[d], v[d] / f->scale);
}

/* sources[i] under its key, "a.b" inside object "a" (created on first use). */
static void write_sources(cJSON *root, const char *const *sources) {
    cJSON *src = cJSON_AddObjectToObject(root, "sources");
    for (int i = 0; i < sim_hw_n_sources(); i++) {
        char outer[64];
        const char *key = sim_hw_source_key(i), *inner = split_key(key, outer, sizeof outer);
        const char *text = sources && sources[i] ? sources[i] : "";
        cJSON *obj = src;
        if (inner && !(obj = cJSON_GetObjectItemCaseSensitive(src, outer))) obj = cJSON_AddObjectToObject(src, outer);
        cJSON_AddStringToObject(obj, inner ? inner : key, text);
    }
}

int sim_hw_write(const char *path, const sim_hw *hw, const char *description, const char *const *sources,
                 char *err, size_t err_len) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "name", hw->name);
    if (description) cJSON_AddStringToObject(root, "description", description);
    cJSON_AddStringToObject(root, "kind", hw->kind);
    cJSON_AddStringToObject(root, "execution", hw->execution == SIM_EXEC_GRAPH ? "graph" : "eager");
    cJSON_AddBoolToObject(root, "host_overlap", hw->host_overlap);
    for (int i = 0; i < N_FIELDS; i++) write_field(root, hw, &FIELDS[i]);
    for (int i = 0; i < N_CHOICES; i++)
        cJSON_AddStringToObject(root, CHOICES[i].key, sim_dtype_name(choice_value(hw, &CHOICES[i])));
    write_sources(root, sources);
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    FILE *f = text ? fopen(path, "w") : NULL;
    bool ok = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF;
    if (f) ok = fclose(f) == 0 && ok;
    if (!ok) set_err(err, err_len, "%s: cannot write the hardware profile: %s", path, strerror(errno));
    free(text);
    return ok ? 0 : -1;
}
