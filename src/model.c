/*
 * model.c - llama-family models: loading from GGUF, the KV cache, the forward pass.
 *
 * One forward pass serves every shape the engine runs: a single decode token,
 * a whole prompt (prefill), a draft to verify, or tokens of several sequences
 * at once (continuous batching). Each weight matrix is streamed once per
 * forward for all tokens of the batch, which is what makes verification and
 * batching cheap on memory-bound hardware.
 *
 * Weights stay in the mmapped file (quant.c reads the blocks in place, or a
 * layout repacked once at load where its kernels stream that faster); only the
 * small vectors (norms, biases) are copied to F32 at load. The KV cache is F32
 * (or F16 on request), one slab per sequence, head-major (each KV head's positions contiguous),
 * allocated once for n_ctx tokens; rollback is just a shorter length, since
 * positions past it are overwritten before use.
 *
 * Architectures: `llama` (Llama 2/3, TinyLlama, Mistral: rotary pairs adjacent)
 * and `qwen2` (q/k/v biases, NEOX rotary pairs half a head apart).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aion.h"
#include "gguf.h"
#include "model.h"
#include "quant.h"
#include "threadpool.h"
#include "tokenizer.h"
#include "util.h"

/* A 2D weight: n_rows rows of n_cols elements of `type`, in place in the file, or repacked
 * once at load into the kernels' row-group layout (packed; the model owns that copy). */
typedef struct matrix {
    const void *data;
    int type;
    int64_t n_cols, n_rows;
    size_t row_bytes;       /* of a row in the file layout: what a forward streams per row */
    bool packed;
    void *pack_mem;
    size_t pack_mapped;
} matrix;

typedef struct layer {
    float *attn_norm, *ffn_norm;   /* owned, n_embd */
    float *bq, *bk, *bv;           /* owned, NULL when the architecture has none */
    matrix wq, wk, wv, wo;
    matrix w_gate, w_up, w_down;
} layer;

struct aion_model {
    char *path;
    gguf_file *file;
    tokenizer *tok;                /* NULL when the file has no tokenizer metadata */
    char arch[32];
    char name[128];
    int n_vocab, n_ctx_train, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff;
    float rope_freq_base, norm_eps;
    bool rope_neox;                /* qwen2: pairs (i, i + head_dim/2); llama: (2i, 2i+1) */
    matrix tok_embd, output;       /* output == tok_embd when tied */
    bool tied;
    float *output_norm;            /* owned */
    layer *layers;
    uint64_t n_params, weight_bytes, layer_bytes;
    int main_type;
    int32_t markup[AION_MAX_MARKUP];  /* tokens that frame the probe format, never text */
    int n_markup;
};

/* ------------------------------------------------------------------ loading */

typedef struct loader {
    aion_model *m;
    char *err;
    size_t err_len;
    bool failed;
} loader;

static void load_fail(loader *ld, const char *fmt, ...) {
    if (ld->failed) return;
    ld->failed = true;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    set_err(ld->err, ld->err_len, "%s: %s", ld->m->path, msg);
}

static const gguf_tensor *find_tensor(loader *ld, const char *name, bool required) {
    const gguf_tensor *t = gguf_find_tensor(ld->m->file, name);
    if (!t && required) load_fail(ld, "missing tensor '%s'", name);
    return t;
}

/* Checks shape [n_cols, n_rows] and a type the kernels run; counts the bytes. */
static matrix load_matrix(loader *ld, const char *name, int64_t n_cols, int64_t n_rows, bool required) {
    matrix mat = {0};
    const gguf_tensor *t = find_tensor(ld, name, required);
    if (!t || ld->failed) return mat;
    if (!quant_type_supported(t->type)) {
        load_fail(ld, "tensor '%s' has type %s, which A-IO does not run (yet)", name, quant_type_name(t->type));
        return mat;
    }
    if (t->n_dims != 2 || t->ne[0] != n_cols || t->ne[1] != n_rows) {
        load_fail(ld, "tensor '%s' has shape [%lld, %lld], expected [%lld, %lld]", name, (long long)t->ne[0],
                  (long long)t->ne[1], (long long)n_cols, (long long)n_rows);
        return mat;
    }
    mat = (matrix){.data = t->data, .type = t->type, .n_cols = n_cols, .n_rows = n_rows, .row_bytes = quant_row_bytes(t->type, n_cols)};
    ld->m->n_params += (uint64_t)(n_cols * n_rows);
    return mat;
}

/* Repack a matmul weight when this machine's kernels stream the packed layout faster
 * (quant_pack_wanted; measured: aio bench decode). AION_REPACK=0 keeps every weight in place
 * in the mmap (no copy, memory shared with the page cache). Never the token embedding: its
 * rows are looked up one by one. */
static void pack_matrix(loader *ld, matrix *mat) {
    const char *env = getenv("AION_REPACK");
    if (ld->failed || !mat->data || !quant_pack_wanted(mat->type) || (env && strcmp(env, "0") == 0)) return;
    size_t bytes = quant_packed_bytes(mat->type, mat->n_rows, mat->n_cols);
    void *mem = huge_alloc(bytes, &mat->pack_mapped);
    if (!mem) {
        load_fail(ld, "out of memory repacking %zu bytes of weights", bytes);
        return;
    }
    quant_pack(mat->type, mat->data, mat->n_rows, mat->n_cols, mem);
    huge_seal(mem, mat->pack_mapped);
    mat->pack_mem = mem;
    mat->data = mem;
    mat->packed = true;
}

static void matrix_free(matrix *mat) {
    huge_free(mat->pack_mem, mat->pack_mapped);
    mat->pack_mem = NULL;
}

/* Small 1D tensors (norm weights, biases) are converted to F32 once. */
static float *load_vector(loader *ld, const char *name, int64_t n, bool required) {
    const gguf_tensor *t = find_tensor(ld, name, required);
    if (!t || ld->failed) return NULL;
    if (t->n_dims != 1 || t->ne[0] != n) {
        load_fail(ld, "tensor '%s' has %lld elements in %d dims, expected %lld", name, (long long)t->ne[0], t->n_dims,
                  (long long)n);
        return NULL;
    }
    if (!quant_type_supported(t->type)) {
        load_fail(ld, "tensor '%s' has unsupported type %s", name, quant_type_name(t->type));
        return NULL;
    }
    float *v = malloc((size_t)n * sizeof *v);
    if (!v) {
        load_fail(ld, "out of memory");
        return NULL;
    }
    quant_dequantize_row(t->type, t->data, v, n);
    ld->m->n_params += (uint64_t)n;
    return v;
}

static int64_t arch_int(loader *ld, const char *key, int64_t fallback, bool required) {
    char full[128];
    snprintf(full, sizeof full, "%s.%s", ld->m->arch, key);
    int64_t v;
    if (gguf_get_int(ld->m->file, full, &v)) {
        if (v < 0 || v > (1 << 28)) load_fail(ld, "metadata %s = %lld is out of range", full, (long long)v);
        return v;
    }
    if (required) load_fail(ld, "missing metadata key %s", full);
    return fallback;
}

static double arch_float(loader *ld, const char *key, double fallback) {
    char full[128];
    snprintf(full, sizeof full, "%s.%s", ld->m->arch, key);
    double v;
    return gguf_get_float(ld->m->file, full, &v) ? v : fallback;
}

static void read_arch(loader *ld) {
    aion_model *m = ld->m;
    size_t len;
    const char *arch = gguf_get_str(m->file, "general.architecture", &len);
    if (!arch) {
        load_fail(ld, "missing metadata key general.architecture");
        return;
    }
    if (len >= sizeof m->arch) len = sizeof m->arch - 1;
    memcpy(m->arch, arch, len);
    m->arch[len] = 0;
    if (strcmp(m->arch, "llama") == 0 || strcmp(m->arch, "mistral") == 0) {
        m->rope_neox = false;
    } else if (strcmp(m->arch, "qwen2") == 0) {
        m->rope_neox = true;
    } else {
        load_fail(ld, "unknown architecture '%s' (A-IO runs llama, mistral and qwen2)", m->arch);
        return;
    }
    const char *name = gguf_get_str(m->file, "general.name", &len);
    if (name) {
        if (len >= sizeof m->name) len = sizeof m->name - 1;
        memcpy(m->name, name, len);
        m->name[len] = 0;
    }
}

static void read_hparams(loader *ld) {
    aion_model *m = ld->m;
    m->n_embd = (int)arch_int(ld, "embedding_length", 0, true);
    m->n_layer = (int)arch_int(ld, "block_count", 0, true);
    m->n_ff = (int)arch_int(ld, "feed_forward_length", 0, true);
    m->n_head = (int)arch_int(ld, "attention.head_count", 0, true);
    m->n_head_kv = (int)arch_int(ld, "attention.head_count_kv", m->n_head, false);
    m->n_ctx_train = (int)arch_int(ld, "context_length", 2048, false);
    m->rope_freq_base = (float)arch_float(ld, "rope.freq_base", 10000.0);
    m->norm_eps = (float)arch_float(ld, "attention.layer_norm_rms_epsilon", 1e-5);
    if (ld->failed) return;
    if (m->n_embd <= 0 || m->n_layer <= 0 || m->n_head <= 0 || m->n_ff <= 0 || m->n_head_kv <= 0 ||
        m->n_embd % m->n_head != 0 || m->n_head % m->n_head_kv != 0 || m->n_layer > 4096) {
        load_fail(ld, "inconsistent hyper-parameters (n_embd %d, n_layer %d, n_head %d, n_head_kv %d, n_ff %d)",
                  m->n_embd, m->n_layer, m->n_head, m->n_head_kv, m->n_ff);
        return;
    }
    m->head_dim = m->n_embd / m->n_head;
    if (m->head_dim % 2) load_fail(ld, "head dimension %d is odd", m->head_dim);
    int64_t rope_dims = arch_int(ld, "rope.dimension_count", m->head_dim, false);
    if (rope_dims != m->head_dim)
        load_fail(ld, "partial rotary embeddings (%lld of %d dims) are not supported", (long long)rope_dims, m->head_dim);
    if (m->n_ctx_train <= 0) m->n_ctx_train = 2048;
}

static void load_layer(loader *ld, int il) {
    aion_model *m = ld->m;
    layer *L = &m->layers[il];
    int64_t kv_dim = (int64_t)m->n_head_kv * m->head_dim;
    char name[96];
#define LNAME(suffix) (snprintf(name, sizeof name, "blk.%d." suffix, il), name)
    L->attn_norm = load_vector(ld, LNAME("attn_norm.weight"), m->n_embd, true);
    L->ffn_norm = load_vector(ld, LNAME("ffn_norm.weight"), m->n_embd, true);
    L->wq = load_matrix(ld, LNAME("attn_q.weight"), m->n_embd, m->n_embd, true);
    L->wk = load_matrix(ld, LNAME("attn_k.weight"), m->n_embd, kv_dim, true);
    L->wv = load_matrix(ld, LNAME("attn_v.weight"), m->n_embd, kv_dim, true);
    L->wo = load_matrix(ld, LNAME("attn_output.weight"), m->n_embd, m->n_embd, true);
    L->w_gate = load_matrix(ld, LNAME("ffn_gate.weight"), m->n_embd, m->n_ff, true);
    L->w_up = load_matrix(ld, LNAME("ffn_up.weight"), m->n_embd, m->n_ff, true);
    L->w_down = load_matrix(ld, LNAME("ffn_down.weight"), m->n_ff, m->n_embd, true);
    matrix *mats[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
    for (size_t i = 0; i < sizeof mats / sizeof mats[0]; i++) pack_matrix(ld, mats[i]);
    bool biases = strcmp(m->arch, "qwen2") == 0;
    L->bq = load_vector(ld, LNAME("attn_q.bias"), m->n_embd, biases);
    L->bk = load_vector(ld, LNAME("attn_k.bias"), kv_dim, biases);
    L->bv = load_vector(ld, LNAME("attn_v.bias"), kv_dim, biases);
#undef LNAME
}

static uint64_t matrix_bytes(const matrix *mat) { return (uint64_t)mat->row_bytes * (uint64_t)mat->n_rows; }

static void count_bytes(aion_model *m) {
    uint64_t by_type[AION_DT_COUNT] = {0};
    m->layer_bytes = 0;
    for (int il = 0; il < m->n_layer; il++) {
        const matrix *mats[] = {&m->layers[il].wq, &m->layers[il].wk, &m->layers[il].wv, &m->layers[il].wo,
                                &m->layers[il].w_gate, &m->layers[il].w_up, &m->layers[il].w_down};
        for (size_t i = 0; i < sizeof mats / sizeof *mats; i++) {
            m->layer_bytes += matrix_bytes(mats[i]);
            by_type[mats[i]->type] += matrix_bytes(mats[i]);
        }
    }
    by_type[m->tok_embd.type] += matrix_bytes(&m->tok_embd);
    if (!m->tied) by_type[m->output.type] += matrix_bytes(&m->output);
    m->weight_bytes = 0;
    m->main_type = 0;
    for (int t = 0; t < AION_DT_COUNT; t++) {
        m->weight_bytes += by_type[t];
        if (by_type[t] > by_type[m->main_type]) m->main_type = t;
    }
}

static void load_weights(loader *ld) {
    aion_model *m = ld->m;
    const gguf_tensor *emb = find_tensor(ld, "token_embd.weight", true);
    if (ld->failed) return;
    if (emb->n_dims != 2 || emb->ne[0] != m->n_embd || emb->ne[1] < 1 || emb->ne[1] > (1 << 24)) {
        load_fail(ld, "tensor 'token_embd.weight' has shape [%lld, %lld], expected [%d, n_vocab]",
                  (long long)emb->ne[0], (long long)emb->ne[1], m->n_embd);
        return;
    }
    m->n_vocab = (int)emb->ne[1];
    m->tok_embd = load_matrix(ld, "token_embd.weight", m->n_embd, m->n_vocab, true);
    m->output_norm = load_vector(ld, "output_norm.weight", m->n_embd, true);
    m->tied = gguf_find_tensor(m->file, "output.weight") == NULL;
    m->output = m->tied ? m->tok_embd : load_matrix(ld, "output.weight", m->n_embd, m->n_vocab, true);
    if (!m->tied) pack_matrix(ld, &m->output);
    m->layers = calloc((size_t)m->n_layer, sizeof *m->layers);
    if (!m->layers) {
        load_fail(ld, "out of memory");
        return;
    }
    for (int il = 0; il < m->n_layer && !ld->failed; il++) load_layer(ld, il);
    if (!ld->failed) count_bytes(m);
}

/* A-IO's own family marks its probe format with tokens (<probe>, <label>, one per category)
 * and names them in aio.probe.*: they frame a classification and are never text, so that
 * generation can leave them out. Other models have none. */
static void load_markup(aion_model *m) {
    int64_t id;
    if (gguf_get_int(m->file, "aio.probe.prefix_token_id", &id) && id >= 0 && id < m->n_vocab)
        m->markup[m->n_markup++] = (int32_t)id;
    if (gguf_get_int(m->file, "aio.probe.label_token_id", &id) && id >= 0 && id < m->n_vocab)
        m->markup[m->n_markup++] = (int32_t)id;
    enum gguf_vtype type;
    uint64_t count;
    const void *data;
    if (!gguf_get_arr(m->file, "aio.probe.category_token_ids", &type, &count, &data) ||
        (type != GGUF_VT_UINT32 && type != GGUF_VT_INT32))
        return;
    for (uint64_t i = 0; i < count && m->n_markup < AION_MAX_MARKUP; i++) {
        uint32_t v;
        memcpy(&v, (const uint8_t *)data + 4 * i, sizeof v);
        if (v < (uint32_t)m->n_vocab) m->markup[m->n_markup++] = (int32_t)v;
    }
}

int aion_markup_tokens(const aion_model *m, int32_t *out, int cap) {
    for (int i = 0; i < m->n_markup && i < cap; i++) out[i] = m->markup[i];
    return m->n_markup;
}

static void load_tokenizer(loader *ld) {
    aion_model *m = ld->m;
    if (gguf_find_key(m->file, "tokenizer.ggml.model") < 0) return; /* a weights-only file still runs on ids */
    char msg[300];
    m->tok = tokenizer_from_gguf(m->file, msg, sizeof msg);
    if (!m->tok) {
        load_fail(ld, "tokenizer: %s", msg);
        return;
    }
    if (tokenizer_n_vocab(m->tok) > m->n_vocab)
        load_fail(ld, "tokenizer has %d tokens but the embedding only %d rows", tokenizer_n_vocab(m->tok), m->n_vocab);
}

aion_model *aion_model_load(const char *path, char *err, size_t err_len) {
    return aion_model_load_ex(path, NULL, NULL, err, err_len);
}

aion_model *aion_model_load_ex(const char *path, aion_progress_fn progress, void *user, char *err, size_t err_len) {
    aion_model *m = calloc(1, sizeof *m);
    if (!m) {
        set_err(err, err_len, "%s: out of memory", path);
        return NULL;
    }
    m->path = strdup(path);
    char msg[400];
    m->file = gguf_open(path, msg, sizeof msg);
    if (!m->file) {
        set_err(err, err_len, "%s", msg);
        aion_model_free(m);
        return NULL;
    }
    loader ld = {m, err, err_len, false};
    read_arch(&ld);
    if (!ld.failed) read_hparams(&ld);
    if (!ld.failed) load_weights(&ld);
    if (!ld.failed) load_tokenizer(&ld);
    if (!ld.failed) load_markup(m);
    if (ld.failed) {
        aion_model_free(m);
        return NULL;
    }
    gguf_prefault(m->file, progress, user);
    return m;
}

void aion_model_free(aion_model *m) {
    if (!m) return;
    if (m->layers) {
        for (int il = 0; il < m->n_layer; il++) {
            layer *L = &m->layers[il];
            free(L->attn_norm);
            free(L->ffn_norm);
            free(L->bq);
            free(L->bk);
            free(L->bv);
            matrix *mats[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
            for (size_t i = 0; i < sizeof mats / sizeof mats[0]; i++) matrix_free(mats[i]);
        }
        free(m->layers);
    }
    if (!m->tied) matrix_free(&m->output);
    free(m->output_norm);
    tokenizer_free(m->tok);
    gguf_close(m->file);
    free(m->path);
    free(m);
}

void aion_model_get_info(const aion_model *m, aion_model_info *info) {
    *info = (aion_model_info){
        .path = m->path, .arch = m->arch, .name = m->name, .n_vocab = m->n_vocab, .n_ctx_train = m->n_ctx_train,
        .n_embd = m->n_embd, .n_layer = m->n_layer, .n_head = m->n_head, .n_head_kv = m->n_head_kv,
        .head_dim = m->head_dim, .n_ff = m->n_ff, .rope_freq_base = m->rope_freq_base, .norm_eps = m->norm_eps,
        .n_tensors = gguf_n_tensors(m->file), .n_params = m->n_params, .weight_bytes = m->weight_bytes,
        .main_type = m->main_type, .tied_embeddings = m->tied,
    };
}

const char *aion_dtype_name(int type) { return quant_type_name(type); }

uint64_t aion_model_forward_bytes(const aion_model *m, bool with_logits) {
    return m->layer_bytes + (with_logits ? matrix_bytes(&m->output) : 0);
}

/* ------------------------------------------------------------- tokenizer */

int32_t aion_n_vocab(const aion_model *m) { return m->n_vocab; }
int32_t aion_token_bos(const aion_model *m) { return m->tok ? tokenizer_bos(m->tok) : -1; }
int32_t aion_token_eos(const aion_model *m) { return m->tok ? tokenizer_eos(m->tok) : -1; }
bool aion_token_is_eog(const aion_model *m, int32_t id) { return m->tok && tokenizer_is_eog(m->tok, id); }
bool aion_add_bos_default(const aion_model *m) { return m->tok && tokenizer_add_bos(m->tok); }

int aion_tokenize(const aion_model *m, const char *text, size_t len, bool add_bos, bool parse_special, int32_t *out,
                  int max_out) {
    if (!m->tok) return -1;
    return tokenizer_encode(m->tok, text, len, add_bos, parse_special, out, max_out);
}

char *aion_detokenize(const aion_model *m, const int32_t *ids, int n_ids) {
    if (!m->tok) return NULL;
    return tokenizer_decode(m->tok, ids, n_ids, false);
}

int aion_token_piece(const aion_model *m, int32_t id, char *buf, int buf_len) {
    if (!m->tok) return -1;
    return tokenizer_token_piece(m->tok, id, false, buf, buf_len);
}

int32_t aion_token_find(const aion_model *m, const char *text) {
    return m->tok ? tokenizer_find(m->tok, text) : -1;
}

struct aion_detok {
    tok_stream *stream;
};

aion_detok *aion_detok_new(const aion_model *m) {
    if (!m->tok) return NULL;
    aion_detok *d = malloc(sizeof *d);
    if (!d) return NULL;
    d->stream = tok_stream_new(m->tok, false);
    if (!d->stream) {
        free(d);
        return NULL;
    }
    return d;
}

void aion_detok_free(aion_detok *d) {
    if (!d) return;
    tok_stream_free(d->stream);
    free(d);
}

const char *aion_detok_push(aion_detok *d, int32_t id, size_t *len) { return tok_stream_push(d->stream, id, len); }
const char *aion_detok_flush(aion_detok *d, size_t *len) { return tok_stream_flush(d->stream, len); }

/* ---------------------------------------------------------------- context */

struct aion_ctx {
    const aion_model *m;
    int n_seq, n_ctx, n_batch;
    int kv_dim;
    /* [n_seq][n_layer][n_head_kv][n_ctx][head_dim]: each head's keys (values) contiguous, so
     * attention streams them as one run the hardware prefetchers follow; with positions
     * outermost, a head's rows were 256 bytes every kv_dim and decode at 2000 tokens of
     * context waited on the cache misses (TinyLlama q4_0 t(1) 26 -> 20 ms). Elements are f32,
     * or f16 (kv_f16), which attention's kernels widen as they load. */
    void *k_cache, *v_cache;
    bool kv_f16;
    size_t kv_elem_bytes;
    int *kv_len;               /* per sequence */
    /* scratch, [n_batch][...] */
    float *x, *xb, *xb2, *q, *k, *v, *attn_out, *hb, *hb2;
    float *rope_cs;            /* [n_batch][head_dim]: cos, sin of each rotation pair at the token's position */
    void *act;                 /* prepared activations, [n_batch] rows shared by all threads */
    size_t act_row_bytes;
    uint8_t **thread_act;      /* [n_thread_act][PREP_PER_THREAD_MAX] rows, each thread's own */
    float **thread_xn;         /* [n_thread_act][PREP_PER_THREAD_MAX][n_embd]: its normalized input */
    int n_thread_act;
    int8_t *want;              /* per token of the current batch */
    int *logit_rows;           /* batch index of each logits row */
    int *run_start;            /* attention's runs of one sequence's tokens (attn_runs), n_batch + 1 */
    int n_runs;
    aion_ctx_stats stats;
};

aion_ctx_params aion_ctx_default_params(void) { return (aion_ctx_params){.n_seq = 1, .n_ctx = 0, .n_batch = 512}; }

static size_t max_act_row_bytes(const aion_model *m) {
    int64_t widest = m->n_ff > m->n_embd ? m->n_ff : m->n_embd;
    size_t best = 0;
    for (int t = 0; t < AION_DT_COUNT; t++) {
        if (!quant_type_supported(t)) continue;
        size_t b = quant_act_row_bytes(t, widest);
        if (b > best) best = b;
    }
    return best;
}

aion_ctx *aion_ctx_new(const aion_model *m, const aion_ctx_params *p, char *err, size_t err_len) {
    aion_ctx_params d = p ? *p : aion_ctx_default_params();
    if (d.n_ctx <= 0) d.n_ctx = m->n_ctx_train;
    if (d.n_seq <= 0) d.n_seq = 1;
    if (d.n_batch <= 0) d.n_batch = 512;
    if (d.n_seq > 4096 || d.n_ctx > (1 << 22) || d.n_batch > (1 << 16)) {
        set_err(err, err_len, "context parameters out of range (n_seq %d, n_ctx %d, n_batch %d)", d.n_seq, d.n_ctx,
                d.n_batch);
        return NULL;
    }
    aion_ctx *c = calloc(1, sizeof *c);
    if (!c) goto oom;
    c->m = m;
    c->n_seq = d.n_seq;
    c->n_ctx = d.n_ctx;
    c->n_batch = d.n_batch;
    c->kv_dim = m->n_head_kv * m->head_dim;
    c->kv_f16 = d.kv_f16 != 0;
    c->kv_elem_bytes = c->kv_f16 ? sizeof(uint16_t) : sizeof(float);
    size_t kv_elems = (size_t)d.n_seq * m->n_layer * d.n_ctx * c->kv_dim;
    c->k_cache = malloc(kv_elems * c->kv_elem_bytes);
    c->v_cache = malloc(kv_elems * c->kv_elem_bytes);
    c->kv_len = calloc((size_t)d.n_seq, sizeof *c->kv_len);
    size_t nb = (size_t)d.n_batch;
    c->x = malloc(nb * m->n_embd * sizeof(float));
    c->xb = malloc(nb * m->n_embd * sizeof(float));
    c->xb2 = malloc(nb * m->n_embd * sizeof(float));
    c->q = malloc(nb * m->n_embd * sizeof(float));
    c->k = malloc(nb * c->kv_dim * sizeof(float));
    c->v = malloc(nb * c->kv_dim * sizeof(float));
    c->attn_out = malloc(nb * m->n_embd * sizeof(float));
    c->hb = malloc(nb * m->n_ff * sizeof(float));
    c->hb2 = malloc(nb * m->n_ff * sizeof(float));
    c->rope_cs = malloc(nb * m->head_dim * sizeof(float));
    c->act_row_bytes = max_act_row_bytes(m);
    c->act = malloc(nb * c->act_row_bytes + 64);
    c->want = malloc(nb);
    c->logit_rows = malloc(nb * sizeof(int));
    c->run_start = malloc((nb + 1) * sizeof(int));
    if (!c->k_cache || !c->v_cache || !c->kv_len || !c->x || !c->xb || !c->xb2 || !c->q || !c->k || !c->v ||
        !c->attn_out || !c->hb || !c->hb2 || !c->rope_cs || !c->act || !c->want || !c->logit_rows || !c->run_start)
        goto oom;
    return c;
oom:
    set_err(err, err_len, "out of memory for a context of %d sequences x %d tokens", d.n_seq, d.n_ctx);
    aion_ctx_free(c);
    return NULL;
}

void aion_ctx_free(aion_ctx *c) {
    if (!c) return;
    free(c->k_cache);
    free(c->v_cache);
    free(c->kv_len);
    free(c->x);
    free(c->xb);
    free(c->xb2);
    free(c->q);
    free(c->k);
    free(c->v);
    free(c->attn_out);
    free(c->hb);
    free(c->hb2);
    free(c->rope_cs);
    free(c->act);
    for (int i = 0; i < c->n_thread_act; i++) free(c->thread_act[i]), free(c->thread_xn[i]);
    free(c->thread_act);
    free(c->thread_xn);
    free(c->want);
    free(c->logit_rows);
    free(c->run_start);
    free(c);
}

const aion_model *aion_ctx_model(const aion_ctx *c) { return c->m; }
int aion_ctx_n_ctx(const aion_ctx *c) { return c->n_ctx; }
int aion_ctx_n_seq(const aion_ctx *c) { return c->n_seq; }
int aion_ctx_n_batch(const aion_ctx *c) { return c->n_batch; }
size_t aion_ctx_kv_bytes(const aion_ctx *c) {
    return 2 * (size_t)c->n_seq * c->m->n_layer * c->n_ctx * c->kv_dim * sizeof(float);
}

int aion_kv_len(const aion_ctx *c, int seq) { return seq >= 0 && seq < c->n_seq ? c->kv_len[seq] : 0; }

void aion_kv_truncate(aion_ctx *c, int seq, int len) {
    if (seq < 0 || seq >= c->n_seq || len < 0) return;
    if (len < c->kv_len[seq]) c->kv_len[seq] = len;
}

/* The cached row of one KV head at position pos; its later positions follow at head_dim. */
static void *kv_head_row(const aion_ctx *c, void *cache, int seq, int il, int kv_head, int pos) {
    const aion_model *m = c->m;
    size_t elem = ((((size_t)seq * m->n_layer + il) * m->n_head_kv + kv_head) * c->n_ctx + pos) * m->head_dim;
    return (char *)cache + elem * c->kv_elem_bytes;
}

static void kv_store_row(const aion_ctx *c, void *dst, const float *src) {
    quant_quantize_row(c->kv_f16 ? AION_DT_F16 : AION_DT_F32, src, dst, c->m->head_dim);
}

void aion_kv_copy(aion_ctx *c, int dst_seq, int src_seq, int len) {
    if (dst_seq < 0 || dst_seq >= c->n_seq || src_seq < 0 || src_seq >= c->n_seq || dst_seq == src_seq) return;
    if (len > c->kv_len[src_seq]) len = c->kv_len[src_seq];
    if (len < 0) len = 0;
    size_t bytes = (size_t)len * c->m->head_dim * c->kv_elem_bytes;
    for (int il = 0; il < c->m->n_layer; il++)
        for (int h = 0; h < c->m->n_head_kv; h++) {
            memcpy(kv_head_row(c, c->k_cache, dst_seq, il, h, 0), kv_head_row(c, c->k_cache, src_seq, il, h, 0), bytes);
            memcpy(kv_head_row(c, c->v_cache, dst_seq, il, h, 0), kv_head_row(c, c->v_cache, src_seq, il, h, 0), bytes);
        }
    c->kv_len[dst_seq] = len;
}

void aion_ctx_get_stats(const aion_ctx *c, aion_ctx_stats *s) { *s = c->stats; }
void aion_ctx_reset_stats(aion_ctx *c) { memset(&c->stats, 0, sizeof c->stats); }

/* ----------------------------------------------------------- forward pass */

/* One or more matrices reading the same prepared input, each thread taking its share of the
 * rows of each: one fork/join for wq/wk/wv or gate/up instead of one per matrix. */
#define MAX_SHARED_MATMULS 3

/* What each thread does to its own rows once its matmuls are done, so that the element-wise
 * step after a matmul runs on all threads instead of on the caller while the others wait:
 * SwiGLU after gate/up (y0 = silu(y0) * y1), the residual after wo / w_down (x += y0). */
typedef enum matmul_epilogue { EPILOGUE_NONE, EPILOGUE_SWIGLU, EPILOGUE_RESIDUAL } matmul_epilogue;

/* A matmul's input: the rows of x, or with norm set their RMS norm times norm. In a batch of
 * up to PREP_PER_THREAD_MAX tokens every thread normalizes the rows itself, inside the task, as
 * it quantizes them: the caller normalizing while the other threads waited was a serial step
 * before each attention and FFN block. */
typedef struct mm_input {
    const float *x;
    const float *norm; /* NULL: x as it is */
    float eps;
} mm_input;

typedef struct matmul_task {
    const matrix *w[MAX_SHARED_MATMULS];
    float *y[MAX_SHARED_MATMULS];
    int count;
    const void *act;          /* the prepared input, or NULL: each thread prepares `in` itself */
    mm_input in;              /* n_tok rows of w[0]->n_cols, when act is NULL */
    uint8_t *const *thread_act;
    float *const *thread_xn;
    int n_tok;
    matmul_epilogue epilogue;
    float *residual; /* EPILOGUE_RESIDUAL: x, n_tok rows of w[0]->n_rows */
} matmul_task;

static void apply_epilogue(const matmul_task *mt, int64_t r0, int64_t r1) {
    const int64_t n_rows = mt->w[0]->n_rows;
    for (int t = 0; t < mt->n_tok; t++) {
        float *y0 = mt->y[0] + (size_t)t * n_rows;
        if (mt->epilogue == EPILOGUE_SWIGLU) {
            const float *y1 = mt->y[1] + (size_t)t * n_rows;
            quant_swiglu_f32(y0 + r0, y1 + r0, r1 - r0);
        } else {
            float *x = mt->residual + (size_t)t * n_rows;
            for (int64_t r = r0; r < r1; r++) x[r] += y0[r];
        }
    }
}

/* The task's input as this thread's kernels read it (see task_input). */
static const void *worker_act(const matmul_task *mt, int ith) {
    if (mt->act) return mt->act;
    const matrix *w = mt->w[0];
    const float *x = mt->in.x;
    if (mt->in.norm) {
        float *xn = mt->thread_xn[ith];
        for (int i = 0; i < mt->n_tok; i++)
            quant_rmsnorm_f32(xn + (size_t)i * w->n_cols, x + (size_t)i * w->n_cols, mt->in.norm, w->n_cols,
                              mt->in.eps);
        x = xn;
    }
    if (quant_act_passthrough(w->type)) return x;
    size_t stride = quant_act_row_bytes(w->type, w->n_cols);
    for (int i = 0; i < mt->n_tok; i++)
        quant_act_prepare(w->type, x + (size_t)i * w->n_cols, mt->thread_act[ith] + i * stride, w->n_cols);
    return mt->thread_act[ith];
}

static void matmul_worker(void *arg, int ith, int nth) {
    const matmul_task *mt = arg;
    const void *act = worker_act(mt, ith);
    int64_t r0 = 0, r1 = 0;
    for (int k = 0; k < mt->count; k++) {
        const matrix *w = mt->w[k];
        tp_split(w->n_rows, ith, nth, 16, &r0, &r1);
        if (r1 <= r0) continue;
        if (w->packed) quant_matmul_packed(w->type, w->data, w->n_cols, act, mt->n_tok, mt->y[k], w->n_rows, r0, r1);
        else quant_matmul(w->type, w->data, w->n_cols, act, mt->n_tok, mt->y[k], w->n_rows, r0, r1);
    }
    /* the epilogue's matrices have equal row counts, so this thread computed rows [r0, r1) of each */
    if (mt->epilogue != EPILOGUE_NONE && r1 > r0) apply_epilogue(mt, r0, r1);
}

typedef struct prepare_task {
    int wtype;
    int64_t n_cols;
    const float *x;
    uint8_t *act;
    int n_tok;
} prepare_task;

static void prepare_worker(void *arg, int ith, int nth) {
    const prepare_task *pt = arg;
    int64_t t0, t1;
    tp_split(pt->n_tok, ith, nth, 1, &t0, &t1);
    size_t stride = quant_act_row_bytes(pt->wtype, pt->n_cols);
    for (int64_t i = t0; i < t1; i++)
        quant_act_prepare(pt->wtype, pt->x + (size_t)i * pt->n_cols, pt->act + i * stride, pt->n_cols);
}

/* The input of a task whose first matrix is w, as its kernels read it: x itself for float
 * weights; for a batch of up to PREP_PER_THREAD_MAX tokens, nothing yet: every thread quantizes
 * x into its own rows inside the task; for larger batches, rows in c->act that all threads
 * quantized a share of beforehand. Shared rows are written by one core after both read them,
 * so each store first took the line back from the other core: an 8-token forward spent 2-5 M
 * cycles per thread preparing 4 tokens each, against 2.5-3 M preparing all 8 in its own rows
 * (and one dispatch fewer per matmul); a prefill's hundreds of tokens would make the
 * duplicated work the larger cost. */
#define PREP_PER_THREAD_MAX 8

/* in as plain rows: a batch too large for per-thread preparation is normalized once, here, into
 * c->xb (n_embd columns: every normalized input is a residual-stream row). */
static mm_input normalized(aion_ctx *c, mm_input in, int n_tok) {
    if (!in.norm) return in;
    const int n_embd = c->m->n_embd;
    for (int i = 0; i < n_tok; i++)
        quant_rmsnorm_f32(c->xb + (size_t)i * n_embd, in.x + (size_t)i * n_embd, in.norm, n_embd, in.eps);
    return (mm_input){c->xb, NULL, 0};
}

static void task_input(aion_ctx *c, aion_threads *t, matmul_task *mt, const matrix *w, mm_input in) {
    if (mt->n_tok <= PREP_PER_THREAD_MAX && (in.norm || !quant_act_passthrough(w->type))) {
        mt->act = NULL;
        mt->in = in;
        mt->thread_act = c->thread_act;
        mt->thread_xn = c->thread_xn;
        return;
    }
    const float *x = normalized(c, in, mt->n_tok).x;
    if (quant_act_passthrough(w->type)) {
        mt->act = x;
    } else {
        prepare_task pt = {w->type, w->n_cols, x, c->act, mt->n_tok};
        tp_run(t, prepare_worker, &pt);
        mt->act = c->act;
    }
}

/* y_k[t][0..rows_k) = W_k x[t] for the count matrices W_k, all reading the n_tok rows of the
 * input (n_cols floats each); one preparation serves every W_k whose kernels read the same one. */
static void matmul_shared(aion_ctx *c, aion_threads *t, mm_input in, int n_tok, const matrix *const *ws,
                          float *const *ys, int count) {
    if (n_tok > PREP_PER_THREAD_MAX) in = normalized(c, in, n_tok); /* once for all the tasks */
    for (int k = 0; k < count;) {
        matmul_task mt = {.count = 0, .n_tok = n_tok};
        task_input(c, t, &mt, ws[k], in);
        for (; k < count && mt.count < MAX_SHARED_MATMULS && quant_act_compatible(ws[k]->type, mt.w[0] ? mt.w[0]->type : ws[k]->type); k++) {
            mt.w[mt.count] = ws[k];
            mt.y[mt.count++] = ys[k];
        }
        tp_run(t, matmul_worker, &mt);
    }
}

static void matmul(aion_ctx *c, aion_threads *t, const matrix *w, const float *x, int n_tok, float *y) {
    matmul_shared(c, t, (mm_input){x, NULL, 0}, n_tok, &w, &y, 1);
}

/* resid[t] += W x[t] (y is scratch for W x). */
static void matmul_residual(aion_ctx *c, aion_threads *t, const matrix *w, const float *x, int n_tok, float *y,
                            float *resid) {
    matmul_task mt = {.w = {w}, .y = {y}, .count = 1, .n_tok = n_tok, .epilogue = EPILOGUE_RESIDUAL, .residual = resid};
    task_input(c, t, &mt, w, (mm_input){x, NULL, 0});
    tp_run(t, matmul_worker, &mt);
}

/* hg[t] = silu(W_gate x[t]) * (W_up x[t]) for the input's rows x[t]; hu is scratch for W_up x. */
static void matmul_swiglu(aion_ctx *c, aion_threads *t, const matrix *gate, const matrix *up, mm_input in,
                          int n_tok, float *hg, float *hu) {
    if (!quant_act_compatible(gate->type, up->type)) { /* two preparations: the epilogue on the caller */
        matmul_shared(c, t, in, n_tok, (const matrix *[]){gate, up}, (float *[]){hg, hu}, 2);
        matmul_task mt = {.w = {gate, up}, .y = {hg, hu}, .count = 2, .n_tok = n_tok, .epilogue = EPILOGUE_SWIGLU};
        apply_epilogue(&mt, 0, gate->n_rows);
        return;
    }
    matmul_task mt = {.w = {gate, up}, .y = {hg, hu}, .count = 2, .n_tok = n_tok, .epilogue = EPILOGUE_SWIGLU};
    task_input(c, t, &mt, gate, in);
    tp_run(t, matmul_worker, &mt);
}

static void add_bias(float *y, const float *bias, int n_tok, int n) {
    if (!bias) return;
    for (int t = 0; t < n_tok; t++)
        for (int i = 0; i < n; i++) y[(size_t)t * n + i] += bias[i];
}

/* cos and sin of every rotation pair of each batch token, once per forward: every layer and
 * both q and k rotate by the same angles (per layer and head they cost a pow, a cos and a sin
 * per pair, 0.7 ms of a TinyLlama 8-token forward). */
static void rope_angles(aion_ctx *c, const aion_batch *b) {
    const aion_model *m = c->m;
    int half = m->head_dim / 2;
    for (int t = 0; t < b->n_tokens; t++) {
        float *cs = c->rope_cs + (size_t)t * m->head_dim;
        for (int i = 0; i < half; i++) {
            double theta = (double)b->pos[t] * pow((double)m->rope_freq_base, -2.0 * i / m->head_dim);
            cs[2 * i] = (float)cos(theta);
            cs[2 * i + 1] = (float)sin(theta);
        }
    }
}

/* Rotates each head of vec (n_heads x head_dim) by the angles cs (rope_angles). */
static void rope(float *vec, int n_heads, int head_dim, const float *cs, bool neox) {
    int half = head_dim / 2;
    for (int i = 0; i < half; i++) {
        float cos_t = cs[2 * i], sin_t = cs[2 * i + 1];
        for (int h = 0; h < n_heads; h++) {
            float *v = vec + (size_t)h * head_dim;
            int a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1;
            float x0 = v[a], x1 = v[b];
            v[a] = x0 * cos_t - x1 * sin_t;
            v[b] = x0 * sin_t + x1 * cos_t;
        }
    }
}

typedef struct attn_task {
    aion_ctx *c;
    const aion_batch *b;
    int il;
} attn_task;

#define ATTN_CHUNK 256
#define ATTN_MAX_GROUP 16 /* query heads attended together; larger groups are split */
#define ATTN_MAX_RUN 8    /* batch tokens of one sequence attended together */

/* The softmax state of one query (token, head) while its keys stream by in chunks: a running
 * maximum and sum, so no score buffer of context length is needed; out holds the weighted sum. */
typedef struct attn_state {
    float run_max, run_sum;
} attn_state;

/* The running softmax of one query takes a chunk's raw scores: rescale what it has so far to
 * the new maximum and turn the scores into the weights of the chunk's values. */
static void softmax_step(attn_state *st, float *out, float *scores, int nk, int hd, float scale) {
    float chunk_max = quant_max_f32(scores, nk) * scale; /* scale > 0: the max of the scaled */
    float new_max = chunk_max > st->run_max ? chunk_max : st->run_max;
    float rescale = expf(st->run_max - new_max);
    if (rescale != 1.0f) {
        for (int d = 0; d < hd; d++) out[d] *= rescale;
        st->run_sum *= rescale;
    }
    st->run_max = new_max;
    st->run_sum += quant_exp_f32(scores, nk, scale, new_max); /* now the weights of the values */
}

static void attend_chunk(const aion_ctx *c, attn_state *st, const float *q, float *out, const void *keys,
                         const void *vals, int nk, int hd, float scale, float *scores) {
    quant_dot_rows(q, keys, c->kv_f16, (size_t)hd, nk, hd, scores);
    softmax_step(st, out, scores, nk, hd, scale);
    quant_axpy_rows(out, scores, vals, c->kv_f16, (size_t)hd, nk, hd);
}

/* Two queries of the same KV head take a chunk in one pass over its keys and one over its values
 * (each row loaded once for both: the chunk streams from L2, and its loads were the bound). */
static void attend_chunk2(const aion_ctx *c, attn_state *st, const float *q, float *out, size_t q_step,
                          const void *keys, const void *vals, int nk, int hd, float scale, float *scores) {
    float *scores_b = scores + ATTN_CHUNK;
    quant_dot_rows2(q, q + q_step, keys, c->kv_f16, (size_t)hd, nk, hd, scores, scores_b);
    softmax_step(&st[0], out, scores, nk, hd, scale);
    softmax_step(&st[1], out + q_step, scores_b, nk, hd, scale);
    quant_axpy_rows2(out, out + q_step, scores, scores_b, vals, c->kv_f16, (size_t)hd, nk, hd);
}

/* Batch tokens [t0, t0 + n_tok) of one sequence (consecutive positions) x query heads
 * [h0, h0 + n_q) of one KV head. Every query takes each chunk of keys and values in turn while
 * it is in L2, so the chunk comes from memory once for the whole run and group: head by head
 * over the whole cache, each KV byte came from L3 or memory once per query head (8 times for
 * TinyLlama), which doubled decode time at 2000 tokens of context. Each query sees the same
 * chunks and operations as it would alone, so a batch gives the bits of token-by-token. */
static void attend_run(const aion_ctx *c, const aion_batch *b, int il, int t0, int n_tok, int kv_head, int h0, int n_q) {
    const aion_model *m = c->m;
    int hd = m->head_dim, seq = b->seq ? b->seq[t0] : 0;
    float scale = 1.0f / sqrtf((float)hd);
    float scores[2 * ATTN_CHUNK];
    attn_state st[ATTN_MAX_RUN][ATTN_MAX_GROUP];
    for (int i = 0; i < n_tok; i++) {
        for (int h = 0; h < n_q; h++) st[i][h] = (attn_state){-INFINITY, 0};
        memset(c->attn_out + (size_t)(t0 + i) * m->n_embd + (size_t)h0 * hd, 0, (size_t)n_q * hd * sizeof(float));
    }
    int n_keys = b->pos[t0 + n_tok - 1] + 1;
    for (int k0 = 0; k0 < n_keys; k0 += ATTN_CHUNK) {
        const void *keys = kv_head_row(c, c->k_cache, seq, il, kv_head, k0);
        const void *vals = kv_head_row(c, c->v_cache, seq, il, kv_head, k0);
        for (int i = 0; i < n_tok; i++) {
            int nk = b->pos[t0 + i] + 1 - k0;
            if (nk <= 0) continue;
            if (nk > ATTN_CHUNK) nk = ATTN_CHUNK;
            int h = 0;
            for (; h + 2 <= n_q; h += 2) { /* the heads of a run are adjacent in q and attn_out */
                size_t off = (size_t)(t0 + i) * m->n_embd + (size_t)(h0 + h) * hd;
                attend_chunk2(c, &st[i][h], c->q + off, c->attn_out + off, (size_t)hd, keys, vals, nk, hd, scale, scores);
            }
            if (h < n_q) {
                size_t off = (size_t)(t0 + i) * m->n_embd + (size_t)(h0 + h) * hd;
                attend_chunk(c, &st[i][h], c->q + off, c->attn_out + off, keys, vals, nk, hd, scale, scores);
            }
        }
    }
    for (int i = 0; i < n_tok; i++)
        for (int h = 0; h < n_q; h++) {
            float inv = 1.0f / st[i][h].run_sum, *out = c->attn_out + (size_t)(t0 + i) * m->n_embd + (size_t)(h0 + h) * hd;
            for (int d = 0; d < hd; d++) out[d] *= inv;
        }
}

/* Jobs are (run of a sequence's tokens, KV head, slice of its query heads), dealt out round
 * robin: later runs of a prefill attend to more keys, and contiguous halves left one thread
 * with most of the work. */
static void attn_worker(void *arg, int ith, int nth) {
    const attn_task *at = arg;
    aion_ctx *c = at->c;
    const aion_model *m = c->m;
    int group = m->n_head / m->n_head_kv;
    int slices = (group + ATTN_MAX_GROUP - 1) / ATTN_MAX_GROUP, per_slice = (group + slices - 1) / slices;
    int per_run = m->n_head_kv * slices;
    for (int job = ith; job < c->n_runs * per_run; job += nth) {
        int r = job / per_run, kv_head = job % per_run / slices, slice = job % slices;
        int h0 = kv_head * group + slice * per_slice, end = kv_head * group + group;
        int t0 = c->run_start[r];
        attend_run(c, at->b, at->il, t0, c->run_start[r + 1] - t0, kv_head, h0, end - h0 < per_slice ? end - h0 : per_slice);
    }
}

/* Split the batch into runs of consecutive tokens of one sequence, at most ATTN_MAX_RUN long;
 * once per forward, every layer attends over the same runs. */
static void attn_runs(aion_ctx *c, const aion_batch *b) {
    int n_runs = 0;
    for (int i = 0; i < b->n_tokens; i++) {
        int seq = b->seq ? b->seq[i] : 0;
        bool same = i > 0 && (b->seq ? b->seq[i - 1] : 0) == seq && i - c->run_start[n_runs - 1] < ATTN_MAX_RUN;
        if (!same) c->run_start[n_runs++] = i;
    }
    c->run_start[n_runs] = b->n_tokens;
    c->n_runs = n_runs;
}

static void attention_block(aion_ctx *c, aion_threads *t, const aion_batch *b, int il) {
    const aion_model *m = c->m;
    const layer *L = &m->layers[il];
    int n = b->n_tokens;
    matmul_shared(c, t, (mm_input){c->x, L->attn_norm, m->norm_eps}, n, (const matrix *[]){&L->wq, &L->wk, &L->wv},
                  (float *[]){c->q, c->k, c->v}, 3);
    add_bias(c->q, L->bq, n, m->n_embd);
    add_bias(c->k, L->bk, n, c->kv_dim);
    add_bias(c->v, L->bv, n, c->kv_dim);
    for (int i = 0; i < n; i++) {
        int seq = b->seq ? b->seq[i] : 0, pos = b->pos[i];
        const float *cs = c->rope_cs + (size_t)i * m->head_dim;
        rope(c->q + (size_t)i * m->n_embd, m->n_head, m->head_dim, cs, m->rope_neox);
        rope(c->k + (size_t)i * c->kv_dim, m->n_head_kv, m->head_dim, cs, m->rope_neox);
        for (int h = 0; h < m->n_head_kv; h++) {
            size_t off = (size_t)i * c->kv_dim + (size_t)h * m->head_dim;
            kv_store_row(c, kv_head_row(c, c->k_cache, seq, il, h, pos), c->k + off);
            kv_store_row(c, kv_head_row(c, c->v_cache, seq, il, h, pos), c->v + off);
        }
    }
    attn_task at = {c, b, il};
    tp_run(t, attn_worker, &at);
    matmul_residual(c, t, &L->wo, c->attn_out, n, c->xb2, c->x);
}

static void ffn_block(aion_ctx *c, aion_threads *t, int n, int il) {
    const aion_model *m = c->m;
    const layer *L = &m->layers[il];
    matmul_swiglu(c, t, &L->w_gate, &L->w_up, (mm_input){c->x, L->ffn_norm, m->norm_eps}, n, c->hb, c->hb2);
    matmul_residual(c, t, &L->w_down, c->hb, n, c->xb2, c->x);
}

/* Checks the whole batch before anything touches the cache, so a rejected batch leaves no trace. */
static bool validate_batch(const aion_ctx *c, const aion_batch *b, char *err, size_t err_len) {
    if (!b || b->n_tokens <= 0 || !b->tokens || !b->pos) {
        set_err(err, err_len, "empty batch");
        return false;
    }
    if (b->n_tokens > c->n_batch) {
        set_err(err, err_len, "batch of %d tokens exceeds the context's n_batch %d", b->n_tokens, c->n_batch);
        return false;
    }
    int next_pos[64];
    int *expect = c->n_seq <= 64 ? next_pos : malloc((size_t)c->n_seq * sizeof(int));
    if (!expect) {
        set_err(err, err_len, "out of memory");
        return false;
    }
    memcpy(expect, c->kv_len, (size_t)c->n_seq * sizeof(int));
    bool ok = true;
    for (int i = 0; i < b->n_tokens && ok; i++) {
        int seq = b->seq ? b->seq[i] : 0;
        if (b->tokens[i] < 0 || b->tokens[i] >= c->m->n_vocab) {
            set_err(err, err_len, "token id %d at batch index %d is outside the vocabulary (%d)", b->tokens[i], i,
                    c->m->n_vocab);
            ok = false;
        } else if (seq < 0 || seq >= c->n_seq) {
            set_err(err, err_len, "sequence id %d at batch index %d is outside [0, %d)", seq, i, c->n_seq);
            ok = false;
        } else if (b->pos[i] != expect[seq]) {
            set_err(err, err_len, "position %d at batch index %d does not continue sequence %d (expected %d)",
                    b->pos[i], i, seq, expect[seq]);
            ok = false;
        } else if (b->pos[i] >= c->n_ctx) {
            set_err(err, err_len, "sequence %d is full: position %d exceeds the context of %d tokens", seq, b->pos[i],
                    c->n_ctx);
            ok = false;
        } else {
            expect[seq]++;
        }
    }
    if (expect != next_pos) free(expect);
    return ok;
}

static void embed(aion_ctx *c, const aion_batch *b) {
    const matrix *emb = &c->m->tok_embd;
    for (int i = 0; i < b->n_tokens; i++)
        quant_dequantize_row(emb->type, (const char *)emb->data + (size_t)b->tokens[i] * emb->row_bytes,
                             c->x + (size_t)i * c->m->n_embd, c->m->n_embd);
}

/* Final norm of the rows that want logits, packed, then one output matmul for all of them. */
static int output_logits(aion_ctx *c, aion_threads *t, const aion_batch *b, float *logits) {
    const aion_model *m = c->m;
    int n_rows = 0;
    for (int i = 0; i < b->n_tokens; i++) {
        bool want = b->want_logits ? b->want_logits[i] != 0 : i == b->n_tokens - 1;
        if (!want) continue;
        quant_rmsnorm_f32(c->xb + (size_t)n_rows * m->n_embd, c->x + (size_t)i * m->n_embd, m->output_norm, m->n_embd,
                          m->norm_eps);
        n_rows++;
    }
    if (n_rows && logits) matmul(c, t, &m->output, c->xb, n_rows, logits);
    return n_rows;
}

/* Each thread's own activation rows, allocated when a pool larger than any before first runs:
 * no allocation per token. */
static bool ensure_thread_act(aion_ctx *c, int n_threads) {
    if (n_threads <= c->n_thread_act) return true;
    uint8_t **rows = realloc(c->thread_act, (size_t)n_threads * sizeof *rows);
    if (rows) c->thread_act = rows;
    float **xn = realloc(c->thread_xn, (size_t)n_threads * sizeof *xn);
    if (xn) c->thread_xn = xn;
    if (!rows || !xn) return false;
    size_t bytes = (PREP_PER_THREAD_MAX * c->act_row_bytes + 63) & ~(size_t)63;
    size_t xn_bytes = (PREP_PER_THREAD_MAX * (size_t)c->m->n_embd * sizeof(float) + 63) & ~(size_t)63;
    for (; c->n_thread_act < n_threads; c->n_thread_act++) {
        rows[c->n_thread_act] = aligned_alloc(64, bytes);
        xn[c->n_thread_act] = aligned_alloc(64, xn_bytes);
        if (!rows[c->n_thread_act] || !xn[c->n_thread_act]) {
            free(rows[c->n_thread_act]), free(xn[c->n_thread_act]);
            return false;
        }
    }
    return true;
}

int aion_forward(aion_ctx *c, aion_threads *t, const aion_batch *b, float *logits, char *err, size_t err_len) {
    if (!validate_batch(c, b, err, err_len)) return -1;
    if (!ensure_thread_act(c, aion_threads_count(t))) {
        set_err(err, err_len, "out of memory for %d threads' activation rows", aion_threads_count(t));
        return -1;
    }
    double t0 = now_seconds();
    embed(c, b);
    rope_angles(c, b);
    attn_runs(c, b);
    for (int il = 0; il < c->m->n_layer; il++) {
        attention_block(c, t, b, il);
        ffn_block(c, t, b->n_tokens, il);
    }
    for (int i = 0; i < b->n_tokens; i++) {
        int seq = b->seq ? b->seq[i] : 0;
        c->kv_len[seq] = b->pos[i] + 1;
    }
    int n_rows = output_logits(c, t, b, logits);
    c->stats.n_forwards++;
    c->stats.n_tokens += (uint64_t)b->n_tokens;
    c->stats.weight_bytes_read += aion_model_forward_bytes(c->m, n_rows > 0 && logits);
    c->stats.forward_seconds += now_seconds() - t0;
    return n_rows;
}

/* ------------------------------------------------------- internal views */

int model_head_dim(const aion_ctx *c) { return c->m->head_dim; }
int model_n_head_kv(const aion_ctx *c) { return c->m->n_head_kv; }
int model_n_layer(const aion_ctx *c) { return c->m->n_layer; }
const void *model_kv_key(const aion_ctx *c, int seq, int il, int kv_head, int pos) {
    return kv_head_row(c, c->k_cache, seq, il, kv_head, pos);
}
const void *model_kv_value(const aion_ctx *c, int seq, int il, int kv_head, int pos) {
    return kv_head_row(c, c->v_cache, seq, il, kv_head, pos);
}
size_t model_kv_row_bytes(const aion_ctx *c) { return (size_t)c->m->head_dim * c->kv_elem_bytes; }
