/*
 * sim_hw.c - hardware profiles: parsing, validation and writing (see sim_hw.h).
 *
 * One table lists every numeric field with its unit, its valid range and where
 * it lands in sim_hw, so the parser, the source check and the writer cannot
 * disagree about what a profile holds. Files state values in the units
 * datasheets use (GB/s, TFLOP/s, microseconds); sim_hw holds SI units.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim_hw.h"
#include "util.h"

typedef struct hw_field {
    const char *key;
    const char *what; /* said in the error when the field is missing or wrong */
    double scale;     /* file unit -> SI */
    double lo, hi;    /* valid range, file units; lo exclusive when lo_open */
    bool lo_open;
    size_t offset;
} hw_field;

#define FIELD(key, what, scale, lo, hi, lo_open, member) {key, what, scale, lo, hi, lo_open, offsetof(sim_hw, member)}

static const hw_field FIELDS[] = {
    FIELD("memory_bandwidth_GBps", "peak memory bandwidth, GB/s", 1e9, 0, 1e5, true, bandwidth),
    FIELD("bandwidth_efficiency", "fraction of peak bandwidth a decode forward achieves", 1, 0, 1, true,
          bandwidth_efficiency),
    FIELD("memory_GB", "device memory, GB", 1e9, 0, 1e5, true, memory_bytes),
    FIELD("peak_TFLOPS", "dense peak compute, TFLOP/s", 1e12, 0, 1e5, true, peak_flops),
    FIELD("compute_efficiency", "fraction of peak compute the weight matmuls achieve", 1, 0, 1, true,
          compute_efficiency),
    FIELD("attention_efficiency", "fraction of peak compute the attention achieves", 1, 0, 1, true,
          attention_efficiency),
    FIELD("cache_MB", "cache a whole forward's bytes must fit in to stream from it, MB; 0: none", 1e6, 0, 1e6, false,
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
_Static_assert(sizeof FIELDS / sizeof *FIELDS <= SIM_HW_MAX_FIELDS, "raise SIM_HW_MAX_FIELDS");

int sim_hw_n_fields(void) { return N_FIELDS; }

const char *sim_hw_field_name(int i) { return i >= 0 && i < N_FIELDS ? FIELDS[i].key : NULL; }

static double *field_ptr(sim_hw *hw, const hw_field *f) { return (double *)((char *)hw + f->offset); }

static double field_value(const sim_hw *hw, const hw_field *f) {
    return *(const double *)((const char *)hw + f->offset) / f->scale;
}

static int parse_number(const cJSON *root, const hw_field *f, const char *src, sim_hw *out, char *err,
                        size_t err_len) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, f->key);
    if (!v) return set_err(err, err_len, "%s: missing field \"%s\" (%s)", src, f->key, f->what), -1;
    bool below = f->lo_open ? v->valuedouble <= f->lo : v->valuedouble < f->lo;
    if (!cJSON_IsNumber(v) || below || v->valuedouble > f->hi)
        return set_err(err, err_len, "%s: \"%s\" must be a number in %s%g, %g] (%s)", src, f->key,
                        f->lo_open ? "(" : "[", f->lo, f->hi, f->what),
               -1;
    *field_ptr(out, f) = v->valuedouble * f->scale;
    return 0;
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
    return 0;
}

/* Every numeric value must say where it comes from: a datasheet, a measurement, or "estimate: why". */
static int check_sources(const cJSON *root, const char *src, char *err, size_t err_len) {
    const cJSON *sources = cJSON_GetObjectItemCaseSensitive(root, "sources");
    if (!cJSON_IsObject(sources))
        return set_err(err, err_len, "%s: missing object \"sources\" (where each value comes from)", src), -1;
    for (int i = 0; i < N_FIELDS; i++) {
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(sources, FIELDS[i].key);
        if (!cJSON_IsString(s) || !s->valuestring[0])
            return set_err(err, err_len, "%s: sources.%s: missing (say where the value comes from)", src,
                            FIELDS[i].key),
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
    for (int i = 0; i < N_FIELDS && rc == 0; i++) rc = parse_number(root, &FIELDS[i], source_name, out, err, err_len);
    if (rc == 0 && out->cache_bytes > 0 && !(out->cache_bandwidth > 0)) {
        set_err(err, err_len, "%s: \"cache_bandwidth_GBps\" must be positive when \"cache_MB\" is", source_name);
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

int sim_hw_write(const char *path, const sim_hw *hw, const char *description, const char *const *sources,
                 char *err, size_t err_len) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "name", hw->name);
    if (description) cJSON_AddStringToObject(root, "description", description);
    cJSON_AddStringToObject(root, "kind", hw->kind);
    cJSON_AddStringToObject(root, "execution", hw->execution == SIM_EXEC_GRAPH ? "graph" : "eager");
    cJSON_AddBoolToObject(root, "host_overlap", hw->host_overlap);
    for (int i = 0; i < N_FIELDS; i++) cJSON_AddNumberToObject(root, FIELDS[i].key, field_value(hw, &FIELDS[i]));
    cJSON *src = cJSON_AddObjectToObject(root, "sources");
    for (int i = 0; i < N_FIELDS; i++)
        cJSON_AddStringToObject(src, FIELDS[i].key, sources && sources[i] ? sources[i] : "");
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    FILE *f = text ? fopen(path, "w") : NULL;
    bool ok = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF;
    if (f) ok = fclose(f) == 0 && ok;
    if (!ok) set_err(err, err_len, "%s: cannot write the hardware profile: %s", path, strerror(errno));
    free(text);
    return ok ? 0 : -1;
}
