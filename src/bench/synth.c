/*
 * synth.c - random-weight GGUF models of real shapes (see synth.h).
 *
 * This file owns the named shapes, the deterministic weight generator and the
 * streaming GGUF layout of `aio synth`. The project's gguf_writer copies every
 * tensor into memory before it writes, which a 7B file (several GB) cannot
 * afford, so the writer is used for what it is good at - encoding the
 * key/value metadata, tokenizer arrays included - and the rest of the file
 * (tensor infos, then aligned data) is laid out here, tensor by tensor, from
 * one chunk of generated rows at a time.
 *
 * To get the writer's metadata bytes without its padding, the metadata is
 * written with general.alignment = 1 as its last key; that entry (whose
 * encoding is fixed) is then cut off again, so the final file has the
 * default alignment and exactly the caller's keys.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/synth.h"
#include "gguf.h"
#include "quant.h"

/* ------------------------------------------------------------------ shapes */

/* Published models' hyper-parameters (their config.json); the context is what their GGUF files
 * declare, which callers normally override with a smaller -c. */
static const synth_shape SHAPES[] = {
    {"tinyllama-1.1b", "llama", 22, 2048, 32, 4, 5632, 32000, 2048, false, 10000.0f, 1e-5f},
    {"qwen2.5-0.5b", "qwen2", 24, 896, 14, 2, 4864, 151936, 32768, true, 1000000.0f, 1e-6f},
    {"qwen2.5-1.5b", "qwen2", 28, 1536, 12, 2, 8960, 151936, 32768, true, 1000000.0f, 1e-6f},
    {"llama-3.2-1b", "llama", 16, 2048, 32, 8, 8192, 128256, 131072, true, 500000.0f, 1e-5f},
    {"llama-3-8b", "llama", 32, 4096, 32, 8, 14336, 128256, 8192, false, 500000.0f, 1e-5f},
    {"llama-7b", "llama", 32, 4096, 32, 32, 11008, 32000, 4096, false, 10000.0f, 1e-5f},
};

int synth_n_shapes(void) { return (int)(sizeof SHAPES / sizeof *SHAPES); }

const synth_shape *synth_shape_at(int i) { return i >= 0 && i < synth_n_shapes() ? &SHAPES[i] : NULL; }

const synth_shape *synth_find_shape(const char *name) {
    for (int i = 0; i < synth_n_shapes(); i++)
        if (strcmp(SHAPES[i].name, name) == 0) return &SHAPES[i];
    return NULL;
}

bool synth_custom_shape(const char *arch, int n_layer, int n_embd, int n_head, int n_head_kv, int n_ff,
                        int n_vocab, synth_shape *out) {
    bool qwen = strcmp(arch, "qwen2") == 0;
    if (!qwen && strcmp(arch, "llama") != 0) return false;
    *out = (synth_shape){.name = "custom", .arch = qwen ? "qwen2" : "llama", .n_layer = n_layer,
                         .n_embd = n_embd, .n_head = n_head, .n_head_kv = n_head_kv, .n_ff = n_ff,
                         .n_vocab = n_vocab, .n_ctx = 2048, .tied = qwen,
                         .rope_freq_base = qwen ? 1000000.0f : 10000.0f, .norm_eps = qwen ? 1e-6f : 1e-5f};
    return true;
}

/* ------------------------------------------------------------ tensor plan */

enum fill_kind { FILL_RANDOM, FILL_ONES };

typedef struct synth_tensor {
    char name[64];
    int n_dims;
    int64_t ne[2];
    int type;
    enum fill_kind fill;
} synth_tensor;

/* Standard deviation of every random weight (matrices and biases). Like a freshly initialised
 * transformer: with unit-RMS inputs each projection stays O(1), so activations and logits are
 * finite over any depth the shapes have. */
#define WEIGHT_STD 0.02f

typedef struct tensor_plan {
    synth_tensor *t;
    int n;
} tensor_plan;

static void plan_add(tensor_plan *plan, const char *name, int n_dims, int64_t ne0, int64_t ne1, int type,
                     enum fill_kind fill) {
    synth_tensor *t = &plan->t[plan->n++];
    *t = (synth_tensor){.n_dims = n_dims, .ne = {ne0, ne1}, .type = type, .fill = fill};
    snprintf(t->name, sizeof t->name, "%s", name);
}

static void plan_layer(tensor_plan *plan, const synth_params *p, int il) {
    const synth_shape *s = &p->shape;
    int64_t kv_dim = (int64_t)s->n_embd / s->n_head * s->n_head_kv;
    bool biases = strcmp(s->arch, "qwen2") == 0;
    char name[64];
#define BLK(suffix) (snprintf(name, sizeof name, "blk.%d." suffix, il), name)
    plan_add(plan, BLK("attn_norm.weight"), 1, s->n_embd, 1, AION_DT_F32, FILL_ONES);
    plan_add(plan, BLK("attn_q.weight"), 2, s->n_embd, s->n_embd, p->type, FILL_RANDOM);
    plan_add(plan, BLK("attn_k.weight"), 2, s->n_embd, kv_dim, p->type, FILL_RANDOM);
    plan_add(plan, BLK("attn_v.weight"), 2, s->n_embd, kv_dim, p->type, FILL_RANDOM);
    if (biases) {
        plan_add(plan, BLK("attn_q.bias"), 1, s->n_embd, 1, AION_DT_F32, FILL_RANDOM);
        plan_add(plan, BLK("attn_k.bias"), 1, kv_dim, 1, AION_DT_F32, FILL_RANDOM);
        plan_add(plan, BLK("attn_v.bias"), 1, kv_dim, 1, AION_DT_F32, FILL_RANDOM);
    }
    plan_add(plan, BLK("attn_output.weight"), 2, s->n_embd, s->n_embd, p->type, FILL_RANDOM);
    plan_add(plan, BLK("ffn_norm.weight"), 1, s->n_embd, 1, AION_DT_F32, FILL_ONES);
    plan_add(plan, BLK("ffn_gate.weight"), 2, s->n_embd, s->n_ff, p->type, FILL_RANDOM);
    plan_add(plan, BLK("ffn_up.weight"), 2, s->n_embd, s->n_ff, p->type, FILL_RANDOM);
    plan_add(plan, BLK("ffn_down.weight"), 2, s->n_ff, s->n_embd, p->type, FILL_RANDOM);
#undef BLK
}

/* The tensors in llama.cpp's order; false when out of memory. */
static bool plan_build(const synth_params *p, tensor_plan *plan) {
    const synth_shape *s = &p->shape;
    plan->n = 0;
    plan->t = calloc((size_t)s->n_layer * 12 + 3, sizeof *plan->t);
    if (!plan->t) return false;
    plan_add(plan, "token_embd.weight", 2, s->n_embd, s->n_vocab, p->type, FILL_RANDOM);
    for (int il = 0; il < s->n_layer; il++) plan_layer(plan, p, il);
    plan_add(plan, "output_norm.weight", 1, s->n_embd, 1, AION_DT_F32, FILL_ONES);
    if (!s->tied) plan_add(plan, "output.weight", 2, s->n_embd, s->n_vocab, p->type, FILL_RANDOM);
    return true;
}

static uint64_t tensor_bytes(const synth_tensor *t) { return (uint64_t)quant_row_bytes(t->type, t->ne[0]) * t->ne[1]; }

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

static uint64_t plan_data_bytes(const tensor_plan *plan) {
    uint64_t total = 0;
    for (int i = 0; i < plan->n; i++) total = align_up(total + tensor_bytes(&plan->t[i]), GGUF_DEFAULT_ALIGNMENT);
    return total;
}

/* ------------------------------------------------------------- validation */

bool synth_type_supported(int type) {
    return type == AION_DT_F32 || type == AION_DT_F16 || type == AION_DT_BF16 || type == AION_DT_Q8_0 ||
           type == AION_DT_Q4_0 || type == AION_DT_Q4_K || type == AION_DT_Q5_K || type == AION_DT_Q6_K;
}

/* The smallest vocabulary the built-in tokenizer fits in: <unk>, <s>, </s> and 256 byte tokens. */
#define BUILTIN_VOCAB_MIN 259

static bool validate(const synth_params *p, char *err, size_t err_len) {
    const synth_shape *s = &p->shape;
    const char *why = NULL;
    if (!synth_type_supported(p->type)) why = "the weight type must be f32, f16, bf16, q8_0, q4_0, q4_k, q5_k or q6_k";
    else if (s->n_layer < 1 || s->n_embd < 1 || s->n_head < 1 || s->n_head_kv < 1 || s->n_ff < 1 || s->n_vocab < 1)
        why = "every dimension must be positive";
    else if (s->n_embd % s->n_head || s->n_head % s->n_head_kv || (s->n_embd / s->n_head) % 2)
        why = "n_embd must split into an even head size and n_head into whole kv groups";
    else if (s->n_embd % quant_block_elems(p->type) || s->n_ff % quant_block_elems(p->type))
        why = quant_block_elems(p->type) == 256 ? "n_embd and n_ff must be multiples of the type's block size (256)"
                                                : "n_embd and n_ff must be multiples of the type's block size (32)";
    else if (!p->vocab_from && s->n_vocab < BUILTIN_VOCAB_MIN)
        why = "the built-in byte-level vocabulary needs n_vocab >= 259";
    if (why) snprintf(err, err_len, "shape %s (%d,%d,%d,%d,%d,%d) as %s: %s", s->name, s->n_layer, s->n_embd,
                      s->n_head, s->n_head_kv, s->n_ff, s->n_vocab, quant_type_name(p->type), why);
    return why == NULL;
}

/* ------------------------------------------------------------------ random */

/* splitmix64: tiny, fast, and good enough for weights that only need to look unstructured. */
static uint64_t rng_next(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Approximately standard normal from one draw: the sum of four uniform 16-bit lanes (Irwin-Hall,
 * mean 2, variance 1/3) rescaled. Tails end at 3.5 sigma, which only helps keep things finite,
 * and it is several times cheaper than Box-Muller over billions of weights. */
static float rng_normal(uint64_t *state) {
    uint64_t r = rng_next(state);
    uint32_t sum = (uint32_t)(r & 0xFFFF) + (uint32_t)((r >> 16) & 0xFFFF) + (uint32_t)((r >> 32) & 0xFFFF) +
                   (uint32_t)(r >> 48);
    const float lane_scale = 1.0f / 65536.0f, sqrt3 = 1.7320508f;
    return ((float)sum * lane_scale + 4 * 0.5f * lane_scale - 2.0f) * sqrt3;
}

/* Each tensor has its own stream, so its values do not depend on the tensors before it. */
static uint64_t tensor_seed(uint64_t seed, int index) {
    uint64_t s = seed ^ (0xD1B54A32D192ED03ull * (uint64_t)(index + 1));
    return rng_next(&s);
}

static void fill_row(const synth_tensor *t, uint64_t *rng, float *row) {
    for (int64_t i = 0; i < t->ne[0]; i++) row[i] = t->fill == FILL_ONES ? 1.0f : WEIGHT_STD * rng_normal(rng);
}

/* ---------------------------------------------------------- little endian */

typedef struct out_buf {
    uint8_t *data;
    size_t len, cap;
} out_buf;

static bool out_reserve(out_buf *b, size_t n) {
    if (b->len + n <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n) cap *= 2;
    uint8_t *p = realloc(b->data, cap);
    if (!p) return false;
    b->data = p;
    b->cap = cap;
    return true;
}

static void store_le(uint8_t *p, uint64_t v, int n) {
    for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t load_le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static bool out_uint(out_buf *b, uint64_t v, int n) {
    if (!out_reserve(b, (size_t)n)) return false;
    store_le(b->data + b->len, v, n);
    b->len += (size_t)n;
    return true;
}

static bool out_bytes(out_buf *b, const void *src, size_t n) {
    if (!out_reserve(b, n)) return false;
    memcpy(b->data + b->len, src, n);
    b->len += n;
    return true;
}

/* --------------------------------------------------------------- tokenizer */

#define SPM_SPACE "\xE2\x96\x81" /* U+2581, SentencePiece's word-start mark */

/* The i-th string of `len` lowercase letters, in counting order. */
static void letters(char *out, int64_t i, int len) {
    for (int k = len - 1; k >= 0; k--, i /= 26) out[k] = (char)('a' + i % 26);
    out[len] = 0;
}

/* The next filler piece: U+2581, printable ASCII other than lowercase letters, then every run of
 * lowercase letters with and without the word mark, shortest first, so each piece has its
 * prefixes in the vocabulary and SentencePiece merges really happen on English-like text. */
typedef struct filler {
    int stage;   /* 0: the mark, 1: ASCII, 2: letter runs */
    int ascii;   /* next ASCII code in stage 1 */
    int len;     /* run length in stage 2 */
    int64_t idx; /* run index; odd/even = with/without the mark */
} filler;

static void filler_next(filler *f, char *out, size_t out_len) {
    if (f->stage == 0) {
        f->stage = 1;
        f->ascii = '!';
        snprintf(out, out_len, SPM_SPACE);
        return;
    }
    while (f->stage == 1) {
        int c = f->ascii++;
        if (c > '~') {
            f->stage = 2;
            f->len = 1;
            f->idx = 0;
            break;
        }
        if (c >= 'a' && c <= 'z') continue;
        snprintf(out, out_len, "%c", c);
        return;
    }
    int64_t runs = 1;
    for (int k = 0; k < f->len; k++) runs *= 26;
    if (f->idx >= 2 * runs) {
        f->len++;
        f->idx = 0;
    }
    char run[16];
    letters(run, f->idx / 2, f->len);
    snprintf(out, out_len, "%s%s", f->idx % 2 ? SPM_SPACE : "", run);
    f->idx++;
}

enum { TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_BYTE = 6 };

typedef struct builtin_vocab {
    char **tokens;
    float *scores;
    int32_t *types;
    int n;
} builtin_vocab;

static void vocab_free(builtin_vocab *v) {
    if (v->tokens)
        for (int i = 0; i < v->n; i++) free(v->tokens[i]);
    free(v->tokens);
    free(v->scores);
    free(v->types);
}

static bool vocab_build(builtin_vocab *v, int n_vocab) {
    *v = (builtin_vocab){calloc((size_t)n_vocab, sizeof(char *)), malloc((size_t)n_vocab * sizeof(float)),
                         malloc((size_t)n_vocab * sizeof(int32_t)), n_vocab};
    if (!v->tokens || !v->scores || !v->types) return false;
    filler f = {0};
    for (int i = 0; i < n_vocab; i++) {
        char piece[32];
        int type = TT_NORMAL;
        if (i < 3) {
            snprintf(piece, sizeof piece, "%s", i == 0 ? "<unk>" : i == 1 ? "<s>" : "</s>");
            type = i == 0 ? TT_UNKNOWN : TT_CONTROL;
        } else if (i < BUILTIN_VOCAB_MIN) {
            snprintf(piece, sizeof piece, "<0x%02X>", i - 3);
            type = TT_BYTE;
        } else {
            filler_next(&f, piece, sizeof piece);
        }
        v->tokens[i] = strdup(piece);
        if (!v->tokens[i]) return false;
        v->types[i] = type;
        /* Earlier (shorter) pieces score higher, so they merge first, like a trained model. */
        v->scores[i] = type == TT_NORMAL ? -(float)(i - BUILTIN_VOCAB_MIN) : 0.0f;
    }
    return true;
}

static bool meta_builtin_tokenizer(gguf_writer *w, int n_vocab, char *err, size_t err_len) {
    builtin_vocab v;
    bool ok = vocab_build(&v, n_vocab);
    if (ok) {
        gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
        gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)v.tokens, (size_t)n_vocab);
        gguf_writer_set_arr_f32(w, "tokenizer.ggml.scores", v.scores, (size_t)n_vocab);
        gguf_writer_set_arr_i32(w, "tokenizer.ggml.token_type", v.types, (size_t)n_vocab);
        gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0);
        gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1);
        gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2);
        gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true);
        gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", false);
    } else {
        snprintf(err, err_len, "out of memory for a vocabulary of %d tokens", n_vocab);
    }
    vocab_free(&v);
    return ok;
}

/* Copies every tokenizer.* key of another model; its vocabulary must fit the embedding. */
static bool meta_copied_tokenizer(gguf_writer *w, const char *path, int n_vocab, char *err, size_t err_len) {
    char msg[400];
    gguf_file *src = gguf_open(path, msg, sizeof msg);
    if (!src) {
        snprintf(err, err_len, "--vocab-from: %s", msg);
        return false;
    }
    enum gguf_vtype elem;
    uint64_t n_tokens = 0;
    const void *unused;
    bool ok = gguf_get_arr(src, "tokenizer.ggml.tokens", &elem, &n_tokens, &unused);
    if (!ok) snprintf(err, err_len, "--vocab-from: %s has no tokenizer.ggml.tokens", path);
    else if (n_tokens > (uint64_t)n_vocab)
        snprintf(err, err_len, "--vocab-from: %s has %llu tokens, more than the shape's vocabulary of %d", path,
                 (unsigned long long)n_tokens, n_vocab);
    ok = ok && n_tokens <= (uint64_t)n_vocab;
    for (int i = 0; ok && i < gguf_n_kv(src); i++)
        if (strncmp(gguf_key_name(src, i), "tokenizer.", 10) == 0) gguf_writer_copy_kv(w, src, i);
    gguf_close(src);
    return ok;
}

/* ------------------------------------------------------------------ metadata */


static void meta_model(gguf_writer *w, const synth_params *p) {
    const synth_shape *s = &p->shape;
    char key[96], name[128];
#define ARCH_KEY(suffix) (snprintf(key, sizeof key, "%s." suffix, s->arch), key)
    snprintf(name, sizeof name, "synth-%s-%s", s->name, quant_type_name(p->type));
    gguf_writer_set_str(w, "general.architecture", s->arch);
    gguf_writer_set_str(w, "general.name", name);
    gguf_writer_set_u32(w, "general.file_type", quant_file_type(p->type));
    gguf_writer_set_u32(w, ARCH_KEY("context_length"), (uint32_t)s->n_ctx);
    gguf_writer_set_u32(w, ARCH_KEY("embedding_length"), (uint32_t)s->n_embd);
    gguf_writer_set_u32(w, ARCH_KEY("block_count"), (uint32_t)s->n_layer);
    gguf_writer_set_u32(w, ARCH_KEY("feed_forward_length"), (uint32_t)s->n_ff);
    gguf_writer_set_u32(w, ARCH_KEY("attention.head_count"), (uint32_t)s->n_head);
    gguf_writer_set_u32(w, ARCH_KEY("attention.head_count_kv"), (uint32_t)s->n_head_kv);
    gguf_writer_set_f32(w, ARCH_KEY("rope.freq_base"), s->rope_freq_base);
    gguf_writer_set_u32(w, ARCH_KEY("rope.dimension_count"), (uint32_t)(s->n_embd / s->n_head));
    gguf_writer_set_f32(w, ARCH_KEY("attention.layer_norm_rms_epsilon"), s->norm_eps);
#undef ARCH_KEY
}

#define GGUF_HEADER_BYTES 24 /* magic, version, tensor count, kv count */
#define ALIGN_KEY "general.alignment"
#define ALIGN_ENTRY_BYTES (8 + sizeof ALIGN_KEY - 1 + 4 + 4)

/* True when the last bytes of meta are exactly the entry general.alignment = (u32) 1. */
static bool ends_with_align_entry(const out_buf *meta) {
    if (meta->len < GGUF_HEADER_BYTES + ALIGN_ENTRY_BYTES) return false;
    const uint8_t *e = meta->data + meta->len - ALIGN_ENTRY_BYTES;
    return load_le(e, 8) == sizeof ALIGN_KEY - 1 && memcmp(e + 8, ALIGN_KEY, sizeof ALIGN_KEY - 1) == 0 &&
           load_le(e + 8 + sizeof ALIGN_KEY - 1, 4) == GGUF_VT_UINT32 && load_le(e + ALIGN_ENTRY_BYTES - 4, 4) == 1;
}

static bool read_file(const char *path, out_buf *b) {
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    uint8_t chunk[1 << 16];
    size_t got;
    bool ok = true;
    while (ok && (got = fread(chunk, 1, sizeof chunk, f)) > 0) ok = out_bytes(b, chunk, got);
    ok = ok && !ferror(f);
    fclose(f);
    return ok;
}

/* The writer's encoding of header + key/values, without the trailing alignment entry. */
static bool meta_encode(gguf_writer *w, const char *path, out_buf *meta, char *err, size_t err_len) {
    gguf_writer_set_u32(w, ALIGN_KEY, 1);
    size_t tmp_len = strlen(path) + 32;
    char *tmp = malloc(tmp_len);
    if (!tmp) return snprintf(err, err_len, "out of memory"), false;
    snprintf(tmp, tmp_len, "%s.meta.%ld", path, (long)getpid());
    bool ok = gguf_writer_write(w, tmp, err, err_len) == 0;
    if (ok && !read_file(tmp, meta)) {
        snprintf(err, err_len, "%s: cannot read back the metadata: %s", tmp, strerror(errno));
        ok = false;
    }
    unlink(tmp);
    free(tmp);
    if (ok && !ends_with_align_entry(meta)) {
        snprintf(err, err_len, "gguf_writer laid out the metadata unexpectedly (alignment entry not last)");
        ok = false;
    }
    if (ok) {
        meta->len -= ALIGN_ENTRY_BYTES;
        store_le(meta->data + 16, load_le(meta->data + 16, 8) - 1, 8);
    }
    return ok;
}

static bool meta_build(const synth_params *p, const char *path, out_buf *meta, char *err, size_t err_len) {
    gguf_writer *w = gguf_writer_new();
    if (!w) return snprintf(err, err_len, "out of memory"), false;
    meta_model(w, p);
    bool ok = p->vocab_from ? meta_copied_tokenizer(w, p->vocab_from, p->shape.n_vocab, err, err_len)
                            : meta_builtin_tokenizer(w, p->shape.n_vocab, err, err_len);
    ok = ok && meta_encode(w, path, meta, err, err_len);
    gguf_writer_free(w);
    return ok;
}

/* Tensor infos after the key/values, then zero padding up to the data section. */
static bool meta_add_tensor_infos(out_buf *meta, const tensor_plan *plan) {
    bool ok = true;
    uint64_t offset = 0;
    for (int i = 0; i < plan->n && ok; i++) {
        const synth_tensor *t = &plan->t[i];
        size_t name_len = strlen(t->name);
        ok = out_uint(meta, name_len, 8) && out_bytes(meta, t->name, name_len) && out_uint(meta, (uint64_t)t->n_dims, 4);
        for (int d = 0; d < t->n_dims && ok; d++) ok = out_uint(meta, (uint64_t)t->ne[d], 8);
        ok = ok && out_uint(meta, (uint64_t)t->type, 4) && out_uint(meta, offset, 8);
        offset = align_up(offset + tensor_bytes(t), GGUF_DEFAULT_ALIGNMENT);
    }
    while (ok && meta->len % GGUF_DEFAULT_ALIGNMENT) ok = out_uint(meta, 0, 1);
    if (ok) store_le(meta->data + 8, (uint64_t)plan->n, 8);
    return ok;
}

/* ------------------------------------------------------------------ streaming */

/* Rows are generated and quantized into a buffer of about this size, then written at once. */
#define CHUNK_BYTES (4u << 20)

typedef struct stream_state {
    FILE *out;
    float *row;       /* one row of generated floats */
    uint8_t *chunk;   /* encoded rows waiting to be written */
    size_t chunk_cap;
} stream_state;

static bool write_zeros(FILE *out, size_t n) {
    static const uint8_t zeros[GGUF_DEFAULT_ALIGNMENT];
    return n == 0 || fwrite(zeros, 1, n, out) == n;
}

static bool stream_tensor(stream_state *st, const synth_tensor *t, uint64_t seed) {
    size_t row_bytes = quant_row_bytes(t->type, t->ne[0]);
    int64_t rows_per_chunk = (int64_t)(st->chunk_cap / row_bytes);
    uint64_t rng = seed;
    for (int64_t r0 = 0; r0 < t->ne[1]; r0 += rows_per_chunk) {
        int64_t n = t->ne[1] - r0 < rows_per_chunk ? t->ne[1] - r0 : rows_per_chunk;
        for (int64_t r = 0; r < n; r++) {
            fill_row(t, &rng, st->row);
            quant_quantize_row(t->type, st->row, st->chunk + (size_t)r * row_bytes, t->ne[0]);
        }
        if (fwrite(st->chunk, row_bytes, (size_t)n, st->out) != (size_t)n) return false;
    }
    uint64_t bytes = tensor_bytes(t);
    return write_zeros(st->out, (size_t)(align_up(bytes, GGUF_DEFAULT_ALIGNMENT) - bytes));
}

static bool stream_all(FILE *out, const synth_params *p, const tensor_plan *plan, const out_buf *meta,
                       synth_progress_fn progress, void *user) {
    int64_t widest = p->shape.n_embd > p->shape.n_ff ? p->shape.n_embd : p->shape.n_ff;
    size_t max_row = quant_row_bytes(AION_DT_F32, widest);
    stream_state st = {out, malloc((size_t)widest * sizeof(float)), NULL, CHUNK_BYTES > max_row ? CHUNK_BYTES : max_row};
    st.chunk = malloc(st.chunk_cap);
    bool ok = st.row && st.chunk && fwrite(meta->data, 1, meta->len, out) == meta->len;
    uint64_t done = 0, total = plan_data_bytes(plan);
    for (int i = 0; i < plan->n && ok; i++) {
        ok = stream_tensor(&st, &plan->t[i], tensor_seed(p->seed, i));
        done = align_up(done + tensor_bytes(&plan->t[i]), GGUF_DEFAULT_ALIGNMENT);
        if (ok && progress) progress(user, done, total);
    }
    free(st.row);
    free(st.chunk);
    return ok;
}

uint64_t synth_data_bytes(const synth_params *p) {
    tensor_plan plan;
    if (!plan_build(p, &plan)) return 0;
    uint64_t total = plan_data_bytes(&plan);
    free(plan.t);
    return total;
}

/* The metadata and tensor infos, then the data; false with err set. */
static bool write_model(FILE *out, const char *path, const synth_params *p, synth_progress_fn progress, void *user,
                        char *err, size_t err_len) {
    tensor_plan plan = {0};
    out_buf meta = {0};
    bool ok = plan_build(p, &plan) && meta_build(p, path, &meta, err, err_len);
    if (ok && !meta_add_tensor_infos(&meta, &plan)) ok = false, snprintf(err, err_len, "out of memory");
    if (!ok && !err[0]) snprintf(err, err_len, "out of memory");
    errno = 0;
    if (ok && !stream_all(out, p, &plan, &meta, progress, user))
        ok = false, snprintf(err, err_len, "%s: write failed: %s", path, strerror(errno ? errno : EIO));
    free(plan.t);
    free(meta.data);
    return ok;
}

/* Streams into a temporary sibling and renames it into place, so no half-written model is ever
 * seen under the final name. The file is created first, so an unwritable path is the error. */
int synth_write(const synth_params *p, const char *path, synth_progress_fn progress, void *user, char *err,
                size_t err_len) {
    if (err_len) err[0] = 0;
    if (!validate(p, err, err_len)) return -1;
    size_t tmp_len = strlen(path) + 32;
    char *tmp = malloc(tmp_len);
    if (!tmp) return snprintf(err, err_len, "out of memory"), -1;
    snprintf(tmp, tmp_len, "%s.tmp.%ld", path, (long)getpid());
    FILE *out = fopen(tmp, "wb");
    if (!out) {
        snprintf(err, err_len, "%s: cannot create: %s", path, strerror(errno));
        free(tmp);
        return -1;
    }
    bool ok = write_model(out, path, p, progress, user, err, err_len);
    if (fclose(out) != 0 && ok) ok = false, snprintf(err, err_len, "%s: write failed: %s", path, strerror(errno));
    if (ok && rename(tmp, path) != 0)
        ok = false, snprintf(err, err_len, "%s: cannot rename into place: %s", path, strerror(errno));
    if (!ok) unlink(tmp);
    free(tmp);
    return ok ? 0 : -1;
}
