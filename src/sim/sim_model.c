/*
 * sim_model.c - model descriptions for the simulator (see sim_model.h).
 *
 * Named shapes come from src/bench/synth.c's table, so `aio synth --shape X`
 * and `aio sim --models X` mean the same model. Parameter counts follow the
 * llama layer (q, k, v, o, gate, up, down); norms and biases are too small to
 * matter for bandwidth and are left out. For a GGUF file the bytes are the
 * engine's own (aion_model_forward_bytes), so quantised types count exactly.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aion.h"
#include "bench/synth.h"
#include "quant.h"
#include "sim/sim_model.h"
#include "util.h"

#define DEFAULT_SHAPE_TYPE AION_DT_BF16 /* what accelerators serve */

/* The stored type (-1: some quantized type) and what it computes in: float types in their own, block-quantized
 * ones as the runtime does. */
static void set_weight_type(sim_model *m, int type) {
    snprintf(m->weight_type, sizeof m->weight_type, "%s", type < 0 ? "quantized" : quant_type_name(type));
    m->compute_dtype = type == AION_DT_F32    ? SIM_DTYPE_FP32
                       : type == AION_DT_F16  ? SIM_DTYPE_FP16
                       : type == AION_DT_BF16 ? SIM_DTYPE_BF16
                                              : SIM_DTYPE_QUANTIZED;
}

/* Explicit dimensions give only bytes per weight: the float type that size implies, else quantized (-1). */
static int type_of_bytes_per_weight(double bpw) { return bpw >= 4 ? AION_DT_F32 : bpw >= 2 ? AION_DT_BF16 : -1; }

static void count_params(sim_model *m) {
    double e = m->n_embd, kv_dim = (double)m->n_embd / m->n_head * m->n_head_kv;
    m->layer_params = m->n_layer * (2 * e * e + 2 * e * kv_dim + 3 * e * m->n_ff);
    m->output_params = e * m->n_vocab;
}

static int check_dims(const sim_model *m, const char *spec, char *err, size_t err_len) {
    if (m->n_layer < 1 || m->n_embd < 1 || m->n_head < 1 || m->n_head_kv < 1 || m->n_ff < 1 || m->n_vocab < 1 ||
        m->n_embd % m->n_head != 0 || m->n_head % m->n_head_kv != 0)
        return set_err(err, err_len, "%s: inconsistent dimensions (layers, embedding, heads, kv heads, "
                                      "feed-forward, vocabulary must be positive; heads divide the embedding, kv "
                                      "heads divide the heads)", spec),
               -1;
    if (!(m->bytes_per_weight >= 0.1 && m->bytes_per_weight <= 8))
        return set_err(err, err_len, "%s: bytes per weight must be in [0.1, 8]", spec), -1;
    return 0;
}

/* Bytes follow from the parameter counts; the embedding table is resident but gathered, not streamed. */
static void bytes_from_params(sim_model *m, bool tied) {
    count_params(m);
    m->layer_bytes = m->layer_params * m->bytes_per_weight;
    m->output_bytes = m->output_params * m->bytes_per_weight;
    m->resident_bytes = m->layer_bytes + m->output_bytes * (tied ? 1 : 2);
}

static int from_shape_name(const char *spec, sim_model *out, char *err, size_t err_len) {
    char name[SIM_MODEL_NAME];
    snprintf(name, sizeof name, "%s", spec);
    char *colon = strchr(name, ':');
    int type = DEFAULT_SHAPE_TYPE;
    if (colon) {
        *colon = 0;
        type = quant_type_from_name(colon + 1);
        if (type < 0 || !synth_type_supported(type))
            return set_err(err, err_len, "%s: unknown weight type '%s' (f32, f16, bf16, q8_0, q4_0)", spec,
                            colon + 1),
                   -1;
    }
    const synth_shape *s = synth_find_shape(name);
    if (!s) return 1; /* not a shape name: the caller tries a file */
    *out = (sim_model){.n_layer = s->n_layer, .n_embd = s->n_embd, .n_head = s->n_head, .n_head_kv = s->n_head_kv,
                       .n_ff = s->n_ff, .n_vocab = s->n_vocab,
                       .bytes_per_weight = (double)quant_block_bytes(type) / (double)quant_block_elems(type)};
    snprintf(out->name, sizeof out->name, "%s", spec);
    set_weight_type(out, type);
    bytes_from_params(out, s->tied);
    return check_dims(out, spec, err, err_len);
}

static int from_dims(const char *spec, sim_model *out, char *err, size_t err_len) {
    double v[7];
    int used = 0;
    if (sscanf(spec, "%lf,%lf,%lf,%lf,%lf,%lf,%lf%n", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &used) != 7 ||
        spec[used] != 0)
        return set_err(err, err_len, "%s: expected L,E,H,HKV,FF,V,BYTES_PER_WEIGHT", spec), -1;
    for (int i = 0; i < 6; i++)
        if (v[i] != (int)v[i] || v[i] > 1e7)
            return set_err(err, err_len, "%s: the six dimensions must be whole numbers", spec), -1;
    *out = (sim_model){.n_layer = (int)v[0], .n_embd = (int)v[1], .n_head = (int)v[2], .n_head_kv = (int)v[3],
                       .n_ff = (int)v[4], .n_vocab = (int)v[5], .bytes_per_weight = v[6]};
    snprintf(out->name, sizeof out->name, "L%d-E%d", out->n_layer, out->n_embd);
    if (check_dims(out, spec, err, err_len) < 0) return -1;
    set_weight_type(out, type_of_bytes_per_weight(out->bytes_per_weight));
    bytes_from_params(out, false);
    return 0;
}

static int from_gguf(const char *path, sim_model *out, char *err, size_t err_len) {
    aion_model *m = aion_model_load(path, err, err_len);
    if (!m) return -1;
    aion_model_info info;
    aion_model_get_info(m, &info);
    *out = (sim_model){.n_layer = info.n_layer, .n_embd = info.n_embd, .n_head = info.n_head,
                       .n_head_kv = info.n_head_kv, .n_ff = info.n_ff, .n_vocab = info.n_vocab};
    count_params(out);
    out->layer_bytes = (double)aion_model_forward_bytes(m, false);
    out->output_bytes = (double)aion_model_forward_bytes(m, true) - out->layer_bytes;
    out->resident_bytes = (double)info.weight_bytes;
    out->bytes_per_weight = out->layer_params > 0 ? out->layer_bytes / out->layer_params : 0;
    set_weight_type(out, info.main_type);
    if (info.name[0]) {
        snprintf(out->name, sizeof out->name, "%s", info.name);
    } else {
        const char *base = strrchr(path, '/');
        snprintf(out->name, sizeof out->name, "%s", base ? base + 1 : path);
    }
    aion_model_free(m);
    return 0;
}

int sim_model_parse(const char *spec, sim_model *out, char *err, size_t err_len) {
    if (!spec || !*spec) return set_err(err, err_len, "empty model description"), -1;
    if (isdigit((unsigned char)spec[0]) && strchr(spec, ',')) return from_dims(spec, out, err, err_len);
    int rc = from_shape_name(spec, out, err, err_len);
    if (rc <= 0) return rc;
    FILE *f = fopen(spec, "rb");
    if (!f) {
        char names[512] = "";
        for (int i = 0; i < synth_n_shapes(); i++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "",
                     synth_shape_at(i)->name);
        return set_err(err, err_len, "%s: neither a GGUF file nor a known shape (%s; or L,E,H,HKV,FF,V,BPW)", spec,
                        names),
               -1;
    }
    fclose(f);
    return from_gguf(spec, out, err, err_len);
}

static bool is_number(const char *s, size_t len) {
    if (len == 0) return false;
    for (size_t i = 0; i < len; i++)
        if (!isdigit((unsigned char)s[i]) && s[i] != '.') return false;
    return true;
}

int sim_model_parse_list(const char *list, sim_model *out, int max, char *err, size_t err_len) {
    int n = 0;
    const char *p = list;
    while (*p) {
        /* one item, or seven numbers in a row (an explicit shape) */
        const char *end = p;
        size_t len = strcspn(p, ",");
        int items = is_number(p, len) ? 7 : 1;
        for (int i = 0; i < items; i++) {
            end += strcspn(end, ",");
            if (i + 1 < items && *end == ',') end++;
        }
        if (n == max) return set_err(err, err_len, "%s: more than %d models", list, max), -1;
        char spec[1024];
        snprintf(spec, sizeof spec, "%.*s", (int)(end - p), p);
        if (sim_model_parse(spec, &out[n], err, err_len) < 0) return -1;
        n++;
        p = *end == ',' ? end + 1 : end;
    }
    return n;
}

double sim_model_kv_bytes_per_position(const sim_model *m, double kv_bytes_per_element) {
    double kv_dim = (double)m->n_embd / m->n_head * m->n_head_kv;
    return 2.0 * m->n_layer * kv_dim * kv_bytes_per_element;
}
