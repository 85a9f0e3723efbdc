/*
 * convert.c - builds a GGUF file from a Hugging Face model folder.
 *
 * The work is planned before any byte is converted: config.json gives the
 * hyper-parameters, they give the exact list of tensors a model of that shape
 * has (HF name, GGUF name, shape, whether its rows need the RoPE reordering),
 * and the checkpoint must match that list both ways - a missing tensor, a
 * wrong shape or a tensor nobody expects is an error, since each of them
 * means the model is not what the config says. Only then are the tensors
 * converted row by row (source dtype -> f32 -> target type) into the writer.
 *
 * The RoPE reordering: Hugging Face's llama rotates the two halves of each
 * head (dim i with i + head_dim/2), GGUF's llama rotates adjacent pairs
 * (2i with 2i+1). Viewing the rows of q (k: with the KV head count) as
 * [head][half][i] and writing them as [head][i][half] makes the second act
 * exactly like the first; qwen2 is NEOX in GGUF and keeps the HF order.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "convert.h"
#include "gguf.h"
#include "hf_tokenizer.h"
#include "quant.h"
#include "safetensors.h"
#include "util.h"

#define MAX_DIM (1 << 28) /* any hyper-parameter above this is a broken config, not a model */

typedef struct hparams {
    char arch[16];
    bool permute_qk; /* llama: HF rotate-half rows -> GGUF adjacent pairs */
    bool biases;     /* qwen2: q/k/v biases */
    bool tied;
    int64_t n_embd, n_layer, n_ff, n_head, n_head_kv, n_ctx, n_vocab;
    double rope_base, eps;
} hparams;

typedef struct plan_entry {
    char hf[128], gguf[64];
    int64_t rows, cols; /* PyTorch shape [rows, cols]; cols 0 for a vector of rows elements */
    int64_t permute_heads;
} plan_entry;

typedef struct job {
    const convert_params *p;
    convert_report *report;
    char *err;
    size_t err_len;
    char *config_path;
} job;

static bool fail(job *j, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->err, j->err_len, fmt, ap);
    va_end(ap);
    return false;
}

/* Text from a config or checkpoint, made safe for a one-line message: printable ASCII, short. */
static const char *printable(char *buf, size_t len, const char *s) {
    size_t o = 0, i = 0;
    for (; s[i] && i < 64 && o + 1 < len; i++)
        buf[o++] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
    if (s[i] && o + 4 < len) memcpy(buf + o, "...", 3), o += 3;
    buf[o] = 0;
    return buf;
}

static void add_note(convert_report *r, const char *note) {
    size_t used = strlen(r->note);
    snprintf(r->note + used, sizeof r->note - used, "%s%s", used ? "; " : "", note);
}

int convert_type_from_name(const char *name) {
    static const struct {
        const char *name;
        int type;
    } types[] = {{"f32", AION_DT_F32},   {"f16", AION_DT_F16},   {"q8_0", AION_DT_Q8_0}, {"q4_0", AION_DT_Q4_0},
                 {"q4_k", AION_DT_Q4_K}, {"q5_k", AION_DT_Q5_K}, {"q6_k", AION_DT_Q6_K}};
    for (size_t i = 0; i < sizeof types / sizeof *types; i++)
        if (strcmp(name, types[i].name) == 0) return types[i].type;
    return -1;
}


static char *join_path(const char *dir, const char *file) {
    size_t n = strlen(dir) + strlen(file) + 2;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s/%s", dir, file);
    return s;
}

/* ---------------------------------------------------------------- config.json */

static cJSON *read_json_file(job *j, const char *path) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return fail(j, "%s: cannot open: %s", path, strerror(errno)), NULL;
    char *buf = NULL;
    size_t used = 0, cap = 0, got;
    do {
        if (used + 4096 + 1 > cap) {
            cap = (used + 4096 + 1) * 2;
            char *nb = cap <= (64u << 20) ? realloc(buf, cap) : NULL; /* a config is kilobytes */
            if (!nb) break;
            buf = nb;
        }
        got = fread(buf + used, 1, 4096, fp);
        used += got;
    } while (got == 4096);
    bool bad = ferror(fp) || !buf || used + 1 > cap;
    fclose(fp);
    if (bad) {
        free(buf);
        return fail(j, "%s: cannot read (too large or I/O error)", path), NULL;
    }
    buf[used] = 0;
    cJSON *root = cJSON_ParseWithLength(buf, used);
    free(buf);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return fail(j, "%s: not a JSON object", path), NULL;
    }
    return root;
}

/* An integer field in [1, MAX_DIM]; `fallback` < 0 makes it required. */
static bool cfg_int(job *j, const cJSON *cfg, const char *key, int64_t fallback, int64_t *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (!v || cJSON_IsNull(v)) {
        if (fallback < 0) return fail(j, "%s: missing '%s'", j->config_path, key);
        *out = fallback;
        return true;
    }
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 1 && v->valuedouble <= MAX_DIM) ||
        v->valuedouble != (double)(int64_t)v->valuedouble)
        return fail(j, "%s: '%s' is not an integer in [1, %d]", j->config_path, key, MAX_DIM);
    *out = (int64_t)v->valuedouble;
    return true;
}

static bool cfg_float(job *j, const cJSON *cfg, const char *key, double fallback, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (!v || cJSON_IsNull(v)) {
        *out = fallback;
        return true;
    }
    if (!cJSON_IsNumber(v) || !(v->valuedouble > 0 && v->valuedouble < 1e12))
        return fail(j, "%s: '%s' is not a positive number", j->config_path, key);
    *out = v->valuedouble;
    return true;
}

static bool cfg_bool(const cJSON *cfg, const char *key) {
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cfg, key));
}

/* The architecture from "architectures" (or "model_type"), "" when neither names one we convert. */
static const char *arch_of(const cJSON *cfg, const char **hf_name, bool *permute) {
    static const struct {
        const char *hf, *model_type, *arch;
        bool permute;
    } archs[] = {{"LlamaForCausalLM", "llama", "llama", true},
                 {"MistralForCausalLM", "mistral", "llama", true},
                 {"Qwen2ForCausalLM", "qwen2", "qwen2", false}};
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(cfg, "architectures");
    const cJSON *first = cJSON_IsArray(list) ? list->child : NULL;
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(cfg, "model_type");
    *hf_name = cJSON_IsString(first) ? first->valuestring : cJSON_IsString(mt) ? mt->valuestring : "(none)";
    for (size_t i = 0; i < sizeof archs / sizeof *archs; i++) {
        bool match = cJSON_IsString(first) ? strcmp(first->valuestring, archs[i].hf) == 0
                                           : cJSON_IsString(mt) && strcmp(mt->valuestring, archs[i].model_type) == 0;
        if (match) {
            *permute = archs[i].permute;
            return archs[i].arch;
        }
    }
    return "";
}

/* What the engine's forward pass does not implement is refused; harmless extras are noted. */
static bool check_features(job *j, const cJSON *cfg, hparams *hp) {
    char q[80];
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(cfg, "hidden_act");
    if (cJSON_IsString(act) && strcmp(act->valuestring, "silu") != 0)
        return fail(j, "%s: hidden_act '%s' is not supported (silu only)", j->config_path,
                    printable(q, sizeof q, act->valuestring));
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(cfg, "rope_scaling");
    if (rs && !cJSON_IsNull(rs)) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(rs, "rope_type");
        if (!t) t = cJSON_GetObjectItemCaseSensitive(rs, "type");
        if (!cJSON_IsString(t) || strcmp(t->valuestring, "default") != 0)
            return fail(j, "%s: rope_scaling '%s' is not supported", j->config_path,
                        cJSON_IsString(t) ? printable(q, sizeof q, t->valuestring) : "?");
    }
    if (cfg_bool(cfg, "attention_bias") && hp->permute_qk)
        return fail(j, "%s: attention biases on a llama model are not supported", j->config_path);
    if (cfg_bool(cfg, "mlp_bias")) return fail(j, "%s: MLP biases are not supported", j->config_path);
    const cJSON *sw = cJSON_GetObjectItemCaseSensitive(cfg, "sliding_window");
    bool swa = cJSON_IsNumber(sw) && (strcmp(hp->arch, "qwen2") != 0 || cfg_bool(cfg, "use_sliding_window"));
    if (swa && sw->valuedouble < (double)hp->n_ctx) {
        char note[96];
        snprintf(note, sizeof note, "sliding window of %.0f tokens ignored (full attention)", sw->valuedouble);
        add_note(j->report, note);
    }
    return true;
}

static bool read_hparams(job *j, const cJSON *cfg, hparams *hp) {
    const char *hf_name;
    const char *arch = arch_of(cfg, &hf_name, &hp->permute_qk);
    char q[80];
    if (!arch[0])
        return fail(j,
                    "%s: architecture '%s' is not supported (LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM)",
                    j->config_path, printable(q, sizeof q, hf_name));
    snprintf(hp->arch, sizeof hp->arch, "%s", arch);
    hp->biases = strcmp(arch, "qwen2") == 0;
    bool qwen = hp->biases;
    int64_t head_dim;
    if (!cfg_int(j, cfg, "hidden_size", -1, &hp->n_embd) || !cfg_int(j, cfg, "num_hidden_layers", -1, &hp->n_layer) ||
        !cfg_int(j, cfg, "intermediate_size", -1, &hp->n_ff) ||
        !cfg_int(j, cfg, "num_attention_heads", -1, &hp->n_head) ||
        !cfg_int(j, cfg, "num_key_value_heads", hp->n_head, &hp->n_head_kv) ||
        !cfg_int(j, cfg, "max_position_embeddings", qwen ? 32768 : 2048, &hp->n_ctx) ||
        !cfg_int(j, cfg, "vocab_size", 0, &hp->n_vocab) || !cfg_float(j, cfg, "rope_theta", 10000.0, &hp->rope_base) ||
        !cfg_float(j, cfg, "rms_norm_eps", 1e-6, &hp->eps))
        return false;
    if (hp->n_embd % hp->n_head || hp->n_head % hp->n_head_kv || (hp->n_embd / hp->n_head) % 2)
        return fail(j, "%s: hidden_size %lld, %lld heads and %lld KV heads do not fit together", j->config_path,
                    (long long)hp->n_embd, (long long)hp->n_head, (long long)hp->n_head_kv);
    if (!cfg_int(j, cfg, "head_dim", hp->n_embd / hp->n_head, &head_dim)) return false;
    if (head_dim != hp->n_embd / hp->n_head)
        return fail(j, "%s: head_dim %lld differs from hidden_size / num_attention_heads (not supported)",
                    j->config_path, (long long)head_dim);
    hp->tied = cfg_bool(cfg, "tie_word_embeddings");
    return check_features(j, cfg, hp);
}

/* ---------------------------------------------------------------- plan */

static void plan_add(plan_entry *e, int *n, const char *hf, const char *gguf, int64_t rows, int64_t cols,
                     int64_t permute_heads) {
    plan_entry *pe = &e[(*n)++];
    snprintf(pe->hf, sizeof pe->hf, "%s", hf);
    snprintf(pe->gguf, sizeof pe->gguf, "%s", gguf);
    pe->rows = rows;
    pe->cols = cols;
    pe->permute_heads = permute_heads;
}

static void plan_layer(const hparams *hp, int64_t il, plan_entry *e, int *n) {
    static const struct {
        const char *hf, *gguf;
        /* rows/cols: 'e' n_embd, 'k' KV dim, 'f' n_ff, 0 (cols) a vector;
         * permute: 'q'/'k' llama RoPE rows over the head / KV-head count, 'b' a bias (qwen2 only) */
        char rows, cols, permute;
    } parts[] = {
        {"input_layernorm.weight", "attn_norm.weight", 'e', 0, 0},
        {"self_attn.q_proj.weight", "attn_q.weight", 'e', 'e', 'q'},
        {"self_attn.k_proj.weight", "attn_k.weight", 'k', 'e', 'k'},
        {"self_attn.v_proj.weight", "attn_v.weight", 'k', 'e', 0},
        {"self_attn.q_proj.bias", "attn_q.bias", 'e', 0, 'b'},
        {"self_attn.k_proj.bias", "attn_k.bias", 'k', 0, 'b'},
        {"self_attn.v_proj.bias", "attn_v.bias", 'k', 0, 'b'},
        {"self_attn.o_proj.weight", "attn_output.weight", 'e', 'e', 0},
        {"post_attention_layernorm.weight", "ffn_norm.weight", 'e', 0, 0},
        {"mlp.gate_proj.weight", "ffn_gate.weight", 'f', 'e', 0},
        {"mlp.up_proj.weight", "ffn_up.weight", 'f', 'e', 0},
        {"mlp.down_proj.weight", "ffn_down.weight", 'e', 'f', 0},
    };
    int64_t kv = hp->n_embd / hp->n_head * hp->n_head_kv;
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) {
        if (parts[i].permute == 'b' && !hp->biases) continue;
        char hf[128], gguf[64];
        snprintf(hf, sizeof hf, "model.layers.%lld.%s", (long long)il, parts[i].hf);
        snprintf(gguf, sizeof gguf, "blk.%lld.%s", (long long)il, parts[i].gguf);
        int64_t dims[2];
        for (int d = 0; d < 2; d++) {
            char c = d ? parts[i].cols : parts[i].rows;
            dims[d] = c == 'e' ? hp->n_embd : c == 'k' ? kv : c == 'f' ? hp->n_ff : 0;
        }
        int64_t heads = !hp->permute_qk           ? 0
                        : parts[i].permute == 'q' ? hp->n_head
                        : parts[i].permute == 'k' ? hp->n_head_kv
                                                  : 0;
        plan_add(e, n, hf, gguf, dims[0], dims[1], heads);
    }
}

/* Every tensor the model must have, in the order they are written. */
static plan_entry *make_plan(const hparams *hp, int64_t n_vocab, int *n) {
    plan_entry *e = calloc((size_t)(hp->n_layer * 12 + 3), sizeof *e);
    if (!e) return NULL;
    *n = 0;
    plan_add(e, n, "model.embed_tokens.weight", "token_embd.weight", n_vocab, hp->n_embd, 0);
    for (int64_t il = 0; il < hp->n_layer; il++)
        plan_layer(hp, il, e, n);
    plan_add(e, n, "model.norm.weight", "output_norm.weight", hp->n_embd, 0, 0);
    if (!hp->tied) plan_add(e, n, "lm_head.weight", "output.weight", n_vocab, hp->n_embd, 0);
    return e;
}

/* Checkpoint tensors no model needs: RoPE tables older exports saved, a tied model's copy of
 * the embedding. */
static bool ignorable(const hparams *hp, const char *name) {
    const char *inv = "rotary_emb.inv_freq";
    size_t n = strlen(name), ni = strlen(inv);
    return (n >= ni && strcmp(name + n - ni, inv) == 0) || (hp->tied && strcmp(name, "lm_head.weight") == 0);
}

/* Both ways: the plan's tensors exist with their shapes, and nothing else is in the checkpoint. */
static bool check_plan(job *j, const hparams *hp, const st_model *sm, const plan_entry *e, int n) {
    for (int i = 0; i < n; i++) {
        const st_tensor *t = st_model_find(sm, e[i].hf);
        if (!t) return fail(j, "%s: tensor '%s' is missing", j->p->hf_dir, e[i].hf);
        int want_dims = e[i].cols ? 2 : 1;
        if (t->n_dims != want_dims || t->shape[0] != e[i].rows || (e[i].cols && t->shape[1] != e[i].cols))
            return fail(j, "%s: tensor '%s' has shape [%lld, %lld] (%d dims), expected [%lld, %lld] from config.json",
                        j->p->hf_dir, e[i].hf, (long long)t->shape[0], (long long)(t->n_dims > 1 ? t->shape[1] : 0),
                        t->n_dims, (long long)e[i].rows, (long long)e[i].cols);
    }
    for (int i = 0; i < st_model_n_tensors(sm); i++) {
        const char *name = st_model_tensor(sm, i)->name;
        bool planned = false;
        for (int k = 0; k < n && !planned; k++)
            planned = strcmp(e[k].hf, name) == 0;
        char q[80];
        if (!planned && !ignorable(hp, name))
            return fail(j, "%s: unexpected tensor '%s' (not part of a %s model as config.json describes it)",
                        j->p->hf_dir, printable(q, sizeof q, name), hp->arch);
    }
    return true;
}

/* ---------------------------------------------------------------- tensors */

/* Row r of the GGUF tensor comes from this row of the HF one. */
static int64_t source_row(int64_t r, int64_t heads, int64_t rows) {
    if (heads <= 0) return r;
    int64_t head_dim = rows / heads, half = head_dim / 2;
    int64_t head = r / head_dim, w = r % head_dim;
    return head * head_dim + (w % 2) * half + w / 2;
}

static bool convert_tensor(job *j, const plan_entry *pe, const st_tensor *t, gguf_writer *w) {
    bool vector = pe->cols == 0;
    int64_t cols = vector ? pe->rows : pe->cols, rows = vector ? 1 : pe->rows;
    int type = vector ? AION_DT_F32 : j->p->type;
    if (cols % quant_block_elems(type)) {
        type = AION_DT_F16; /* what llama.cpp's quantizer falls back to as well */
        j->report->n_fallback++;
    }
    size_t row_bytes = quant_row_bytes(type, cols);
    uint8_t *out = malloc(row_bytes * (size_t)rows);
    float *row = malloc((size_t)cols * sizeof *row);
    if (!out || !row) {
        free(out);
        free(row);
        return fail(j, "%s: out of memory converting '%s'", j->p->hf_dir, pe->hf);
    }
    for (int64_t r = 0; r < rows; r++) {
        st_read_f32(t, source_row(r, pe->permute_heads, rows) * cols, cols, row);
        quant_quantize_row(type, row, out + (size_t)r * row_bytes, cols);
    }
    int64_t ne[2] = {cols, rows};
    gguf_writer_add_tensor(w, pe->gguf, (enum aion_dtype)type, vector ? 1 : 2, ne, out);
    free(out);
    free(row);
    j->report->n_tensors++;
    j->report->n_params += (uint64_t)(cols * rows);
    return true;
}

static void write_hparams(gguf_writer *w, const hparams *hp, int type) {
    char key[96];
#define ARCH_KEY(k) (snprintf(key, sizeof key, "%s." k, hp->arch), key)
    gguf_writer_set_u32(w, ARCH_KEY("context_length"), (uint32_t)hp->n_ctx);
    gguf_writer_set_u32(w, ARCH_KEY("embedding_length"), (uint32_t)hp->n_embd);
    gguf_writer_set_u32(w, ARCH_KEY("block_count"), (uint32_t)hp->n_layer);
    gguf_writer_set_u32(w, ARCH_KEY("feed_forward_length"), (uint32_t)hp->n_ff);
    gguf_writer_set_u32(w, ARCH_KEY("attention.head_count"), (uint32_t)hp->n_head);
    gguf_writer_set_u32(w, ARCH_KEY("attention.head_count_kv"), (uint32_t)hp->n_head_kv);
    gguf_writer_set_f32(w, ARCH_KEY("rope.freq_base"), (float)hp->rope_base);
    gguf_writer_set_u32(w, ARCH_KEY("rope.dimension_count"), (uint32_t)(hp->n_embd / hp->n_head));
    gguf_writer_set_f32(w, ARCH_KEY("attention.layer_norm_rms_epsilon"), (float)hp->eps);
#undef ARCH_KEY
    gguf_writer_set_u32(w, "general.file_type", quant_file_type(type));
    if (type == AION_DT_Q8_0 || type == AION_DT_Q4_0) gguf_writer_set_u32(w, "general.quantization_version", 2);
}

/* The folder's last component names the model. */
static void model_name(const char *dir, char *buf, size_t len) {
    size_t end = strlen(dir);
    while (end > 1 && dir[end - 1] == '/')
        end--;
    size_t start = end;
    while (start > 0 && dir[start - 1] != '/')
        start--;
    snprintf(buf, len, "%.*s", (int)(end - start), dir + start);
}

static bool convert_weights(job *j, const hparams *hp, gguf_writer *w, hf_vocab *vocab) {
    st_model *sm = st_model_open(j->p->hf_dir, j->err, j->err_len);
    if (!sm) return false;
    const st_tensor *emb = st_model_find(sm, "model.embed_tokens.weight");
    bool ok = emb ? true : fail(j, "%s: tensor 'model.embed_tokens.weight' is missing", j->p->hf_dir);
    int64_t n_vocab = ok ? emb->shape[0] : 0;
    if (ok && hp->n_vocab && hp->n_vocab != n_vocab)
        ok = fail(j, "%s: vocab_size %lld but the embedding has %lld rows", j->config_path, (long long)hp->n_vocab,
                  (long long)n_vocab);
    if (ok && (n_vocab < 1 || n_vocab > (1 << 24)))
        ok = fail(j, "%s: the embedding has %lld rows", j->p->hf_dir, (long long)n_vocab);
    char msg[200];
    if (ok && !hf_vocab_pad_to(vocab, (int)n_vocab, msg, sizeof msg)) ok = fail(j, "%s: %s", j->p->hf_dir, msg);
    int n = 0;
    plan_entry *plan = ok ? make_plan(hp, n_vocab, &n) : NULL;
    if (ok && !plan) ok = fail(j, "out of memory");
    ok = ok && check_plan(j, hp, sm, plan, n);
    for (int i = 0; ok && i < n; i++)
        ok = convert_tensor(j, &plan[i], st_model_find(sm, plan[i].hf), w);
    free(plan);
    st_model_close(sm);
    return ok;
}

/* Without config.json a vocab-only file still needs an architecture: the tokenizer's family. */
static const char *vocab_arch(const hf_vocab *v) {
    const char *pre = hf_vocab_pre(v);
    return pre && strcmp(pre, "qwen2") == 0 ? "qwen2" : "llama";
}

static bool run(job *j, gguf_writer *w) {
    const convert_params *p = j->p;
    hparams hp = {0};
    bool have_config = access(j->config_path, F_OK) == 0;
    if (!have_config && !p->vocab_only) return fail(j, "%s: cannot open: %s", j->config_path, strerror(ENOENT));
    cJSON *cfg = have_config ? read_json_file(j, j->config_path) : NULL;
    if (have_config && !cfg) return false;
    bool ok = !cfg || read_hparams(j, cfg, &hp);
    cJSON_Delete(cfg);
    if (!ok) return false;
    hf_vocab *vocab = hf_vocab_load(p->hf_dir, j->err, j->err_len);
    if (!vocab) return false;
    char name[128];
    model_name(p->hf_dir, name, sizeof name);
    const char *arch = have_config ? hp.arch : vocab_arch(vocab);
    snprintf(j->report->arch, sizeof j->report->arch, "%s", arch);
    gguf_writer_set_str(w, "general.architecture", arch);
    gguf_writer_set_str(w, "general.name", name);
    if (!p->vocab_only) {
        write_hparams(w, &hp, p->type);
        ok = convert_weights(j, &hp, w, vocab);
    }
    if (ok) {
        hf_vocab_to_gguf(vocab, w);
        j->report->n_vocab = hf_vocab_n_tokens(vocab);
    }
    hf_vocab_free(vocab);
    return ok && gguf_writer_write(w, p->out_path, j->err, j->err_len) == 0;
}

int convert_hf(const convert_params *p, convert_report *report, char *err, size_t err_len) {
    convert_report dummy;
    if (!report) report = &dummy;
    memset(report, 0, sizeof *report);
    if (convert_type_from_name(quant_type_name(p->type)) < 0) {
        set_err(err, err_len, "convert: type %s is not one of f32, f16, q8_0, q4_0", quant_type_name(p->type));
        return -1;
    }
    job j = {p, report, err, err_len, join_path(p->hf_dir, "config.json")};
    gguf_writer *w = gguf_writer_new();
    bool ok = j.config_path && w ? run(&j, w) : fail(&j, "convert: out of memory");
    gguf_writer_free(w);
    free(j.config_path);
    return ok ? 0 : -1;
}
