/*
 * tokenizer.c - builds a tokenizer from GGUF metadata and drives encoding.
 *
 * Owns the vocabulary as the rest of the engine sees it: token texts, scores
 * and attributes read from tokenizer.ggml.*, the hash indexes over texts and
 * merge rules, the special ids (BOS/EOS/EOT/...), the end-of-generation set, and
 * the first step of every encode: splitting special tokens out of the text
 * before SentencePiece (tokenizer_spm.c) or byte-level BPE (tokenizer_bpe.c)
 * sees the plain fragments. Defaults and quirks follow llama.cpp's vocabulary
 * loader so that ids match it exactly; where llama.cpp would abort or throw on
 * bad input we return an error instead.
 *
 * One addition to llama.cpp's metadata: tokenizer.ggml.normalizer = "nfc"
 * (written by `aio convert` for tokenizer.json files with an NFC normalizer,
 * Qwen's) puts each plain fragment in Unicode NFC before it is encoded, as
 * Hugging Face's tokenizers do after cutting out the added tokens. Without the
 * key nothing is normalized, as in llama.cpp, whose GGUFs never have it.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer_impl.h"
#include "unicode.h"

/* ---------------------------------------------------------------- small containers */

void tok_ids_push(tok_ids *ids, int32_t id) {
    if (ids->failed) return;
    if (ids->n == ids->cap) {
        size_t cap = ids->cap ? ids->cap * 2 : 64;
        int32_t *v = realloc(ids->v, cap * sizeof *v);
        if (!v) {
            ids->failed = true;
            return;
        }
        ids->v = v;
        ids->cap = cap;
    }
    ids->v[ids->n++] = id;
}

void tok_heap_push(tok_heap *h, tok_bigram b) {
    if (h->failed) return;
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        tok_bigram *v = realloc(h->v, cap * sizeof *v);
        if (!v) {
            h->failed = true;
            return;
        }
        h->v = v;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0 && h->v[(i - 1) / 2].key > b.key) {
        h->v[i] = h->v[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->v[i] = b;
}

bool tok_heap_pop(tok_heap *h, tok_bigram *out) {
    if (h->n == 0) return false;
    *out = h->v[0];
    tok_bigram last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= h->n) break;
        if (child + 1 < h->n && h->v[child + 1].key < h->v[child].key) child++;
        if (h->v[child].key >= last.key) break;
        h->v[i] = h->v[child];
        i = child;
    }
    if (h->n > 0) h->v[i] = last;
    return true;
}

int32_t tok_split_chars(const char *text, size_t len, tok_symbol **syms, size_t *cap) {
    if (len > 0x7fffffff) return -1;
    if (*cap < len) {
        tok_symbol *v = realloc(*syms, len * sizeof *v);
        if (!v) return -1;
        *syms = v;
        *cap = len;
    }
    int32_t n = 0;
    for (size_t off = 0; off < len; n++) {
        size_t step = uni_utf8_len((unsigned char)text[off]);
        if (step > len - off) step = len - off;
        (*syms)[n] = (tok_symbol){(uint32_t)off, (uint32_t)step, n - 1, -1};
        if (n > 0) (*syms)[n - 1].next = n;
        off += step;
    }
    return n;
}

static uint64_t hash_bytes(uint64_t h, const char *s, size_t len) {
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static const uint64_t HASH_SEED = 0xcbf29ce484222325ull;

/* FNV's low bits mix poorly and the tables index by the low bits: fold the high half in. */
static uint32_t slot_of(uint64_t h, uint32_t mask) { return (uint32_t)(h ^ (h >> 29) ^ (h >> 47)) & mask; }

static bool index_init(tok_index *ix, size_t n_items) {
    size_t size = 16;
    while (size < n_items * 2) size *= 2;
    ix->slots = calloc(size, sizeof *ix->slots);
    ix->mask = (uint32_t)(size - 1);
    return ix->slots != NULL;
}

/* ---------------------------------------------------------------- lookups */

static bool text_equals(const tokenizer *t, int32_t id, const char *s, size_t len) {
    const tok_entry *e = &t->tokens[id];
    return e->text_len == len && memcmp(t->texts + e->text_off, s, len) == 0;
}

int32_t tok_lookup(const tokenizer *t, const char *s, size_t len) {
    uint32_t i = slot_of(hash_bytes(HASH_SEED, s, len), t->by_text.mask);
    for (;; i = (i + 1) & t->by_text.mask) {
        uint32_t slot = t->by_text.slots[i];
        if (slot == 0) return -1;
        if (text_equals(t, (int32_t)(slot - 1), s, len)) return (int32_t)(slot - 1);
    }
}

/* A merge rule hashes as its text "left right", so rules and lookups agree without a copy. */
static uint64_t pair_hash(const char *l, size_t ll, const char *r, size_t rl) {
    return hash_bytes(hash_bytes(hash_bytes(HASH_SEED, l, ll), " ", 1), r, rl);
}

static bool merge_equals(const tokenizer *t, int32_t rank, const char *l, size_t ll, const char *r,
                         size_t rl) {
    const tok_merge *m = &t->merges[rank];
    const char *text = t->merge_text + m->off;
    return m->left_len == ll && m->right_len == rl && memcmp(text, l, ll) == 0 &&
           memcmp(text + ll + 1, r, rl) == 0;
}

int32_t tok_merge_rank(const tokenizer *t, const char *l, size_t ll, const char *r, size_t rl) {
    if (t->n_merges == 0) return -1;
    uint32_t i = slot_of(pair_hash(l, ll, r, rl), t->by_pair.mask);
    for (;; i = (i + 1) & t->by_pair.mask) {
        uint32_t slot = t->by_pair.slots[i];
        if (slot == 0) return -1;
        if (merge_equals(t, (int32_t)(slot - 1), l, ll, r, rl)) return (int32_t)(slot - 1);
    }
}

/* ---------------------------------------------------------------- loading: errors */

typedef struct load_ctx {
    const gguf_file *f;
    tokenizer *t;
    char *err;
    size_t err_len;
} load_ctx;

static bool fail(load_ctx *c, const char *fmt, ...) {
    if (c->err && c->err_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, c->err_len, fmt, ap);
        va_end(ap);
    }
    return false;
}

static bool str_is(const char *s, size_t len, const char *lit) {
    return s && strlen(lit) == len && memcmp(s, lit, len) == 0;
}

/* ---------------------------------------------------------------- loading: model and pre-tokenizer */

typedef struct pre_name {
    const char *name;
    enum tok_pre pre;
} pre_name;

/* tokenizer.ggml.pre values and the regex set each one uses (llama.cpp's table). */
static const pre_name PRE_NAMES[] = {
    {"default", TOK_PRE_DEFAULT},
    {"llama3", TOK_PRE_LLAMA3}, {"llama-v3", TOK_PRE_LLAMA3}, {"llama-bpe", TOK_PRE_LLAMA3},
    {"falcon3", TOK_PRE_LLAMA3}, {"falcon-h1", TOK_PRE_LLAMA3}, {"pixtral", TOK_PRE_LLAMA3},
    {"midm-2.0", TOK_PRE_LLAMA3}, {"lfm2", TOK_PRE_LLAMA3}, {"jina-v5-nano", TOK_PRE_LLAMA3},
    {"dbrx", TOK_PRE_LLAMA3}, {"smaug-bpe", TOK_PRE_LLAMA3}, {"glm4", TOK_PRE_LLAMA3},
    {"chatglm-bpe", TOK_PRE_LLAMA3},
    {"deepseek-llm", TOK_PRE_DEEPSEEK_LLM},
    {"deepseek-coder", TOK_PRE_DEEPSEEK_CODER},
    {"deepseek-v3", TOK_PRE_DEEPSEEK3}, {"hunyuan-dense", TOK_PRE_DEEPSEEK3},
    {"joyai-llm", TOK_PRE_DEEPSEEK3}, {"hy_v4", TOK_PRE_DEEPSEEK3},
    {"falcon", TOK_PRE_FALCON},
    {"mpt", TOK_PRE_GPT2}, {"gpt-2", TOK_PRE_GPT2}, {"phi-2", TOK_PRE_GPT2}, {"jina-es", TOK_PRE_GPT2},
    {"jina-de", TOK_PRE_GPT2}, {"gigachat", TOK_PRE_GPT2}, {"jina-v2-es", TOK_PRE_GPT2},
    {"jina-v2-de", TOK_PRE_GPT2}, {"a.x-4.0", TOK_PRE_GPT2}, {"mellum", TOK_PRE_GPT2},
    {"modern-bert", TOK_PRE_GPT2}, {"jina-v1-en", TOK_PRE_GPT2}, {"jina-v2-code", TOK_PRE_GPT2},
    {"roberta-bpe", TOK_PRE_GPT2}, {"olmo", TOK_PRE_GPT2}, {"jais", TOK_PRE_GPT2},
    {"trillion", TOK_PRE_GPT2}, {"granite-docling", TOK_PRE_GPT2}, {"exaone4", TOK_PRE_GPT2},
    {"starcoder", TOK_PRE_STARCODER}, {"refact", TOK_PRE_STARCODER}, {"command-r", TOK_PRE_STARCODER},
    {"smollm", TOK_PRE_STARCODER}, {"codeshell", TOK_PRE_STARCODER}, {"exaone", TOK_PRE_STARCODER},
    {"minerva-7b", TOK_PRE_STARCODER}, {"mellum2", TOK_PRE_STARCODER},
    {"qwen2", TOK_PRE_QWEN2}, {"deepseek-r1-qwen", TOK_PRE_QWEN2}, {"kormo", TOK_PRE_QWEN2},
    {"f2llmv2", TOK_PRE_QWEN2}, {"megrez", TOK_PRE_QWEN2}, {"stablelm2", TOK_PRE_QWEN2},
    {"hunyuan", TOK_PRE_QWEN2}, {"solar-open", TOK_PRE_QWEN2},
    {"poro-chat", TOK_PRE_PORO}, {"bloom", TOK_PRE_PORO}, {"gpt3-finnish", TOK_PRE_PORO},
    {"viking", TOK_PRE_VIKING},
};

/* Pre-tokenizer names whose detokenizer does not clean up spaces before punctuation. */
static const char *const NO_CLEAN_SPACES[] = {
    "deepseek-llm", "deepseek-coder", "deepseek-v3", "hunyuan-dense", "joyai-llm", "hy_v4", "command-r",
    "qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "poro-chat", "viking", "smollm", "hunyuan",
    "solar-open", "trillion", "granite-docling",
};

static bool name_in(const char *s, size_t len, const char *const *names, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (str_is(s, len, names[i])) return true;
    return false;
}

static bool read_model(load_ctx *c) {
    size_t len;
    const char *model = gguf_get_str(c->f, "tokenizer.ggml.model", &len);
    if (!model) return fail(c, "no tokenizer.ggml.model string in the file");
    if (str_is(model, len, "llama")) {
        c->t->kind = TOK_KIND_SPM;
        return true;
    }
    if (str_is(model, len, "gpt2")) {
        c->t->kind = TOK_KIND_BPE;
        return true;
    }
    if (str_is(model, len, "bert")) {
        c->t->kind = TOK_KIND_WPM;
        return true;
    }
    return fail(c, "unsupported tokenizer model '%.*s' (supported: llama, gpt2, bert)", (int)(len > 64 ? 64 : len),
                model);
}

static bool read_pre(load_ctx *c) {
    tokenizer *t = c->t;
    size_t len = 0;
    const char *pre = gguf_get_str(c->f, "tokenizer.ggml.pre", &len);
    t->pre = TOK_PRE_DEFAULT;
    if (!pre || len == 0) return true; /* llama.cpp warns and uses the default regexes */
    for (size_t i = 0; i < sizeof PRE_NAMES / sizeof *PRE_NAMES; i++) {
        if (str_is(pre, len, PRE_NAMES[i].name)) {
            t->pre = PRE_NAMES[i].pre;
            t->ignore_merges = t->pre == TOK_PRE_LLAMA3;
            t->clean_spaces = !name_in(pre, len, NO_CLEAN_SPACES, sizeof NO_CLEAN_SPACES / sizeof *NO_CLEAN_SPACES);
            t->add_bos = t->pre == TOK_PRE_LLAMA3;
            /* chatglm has no BOS, which matters only if metadata leaves the default in place */
            if (str_is(pre, len, "glm4") || str_is(pre, len, "chatglm-bpe")) t->bos = -1;
            return true;
        }
    }
    return fail(c, "unsupported pre-tokenizer '%.*s' (tokenizer.ggml.pre)", (int)(len > 64 ? 64 : len), pre);
}

/* tokenizer.ggml.normalizer: absent (or "none") leaves text alone. Any other value is refused
 * rather than ignored, since ignoring it would tokenize differently from training. */
static bool read_normalizer(load_ctx *c) {
    size_t len = 0;
    const char *norm = gguf_get_str(c->f, "tokenizer.ggml.normalizer", &len);
    if (gguf_find_key(c->f, "tokenizer.ggml.normalizer") >= 0 && !norm)
        return fail(c, "tokenizer.ggml.normalizer is not a string");
    if (!norm || str_is(norm, len, "none")) return true;
    if (str_is(norm, len, "nfc")) {
        c->t->nfc = true;
        return true;
    }
    return fail(c, "unsupported normalizer '%.*s' (tokenizer.ggml.normalizer; supported: nfc)",
                (int)(len > 64 ? 64 : len), norm);
}

static void set_kind_defaults(tokenizer *t) {
    if (t->kind == TOK_KIND_SPM) {
        t->bos = 1, t->eos = 2, t->unk = 0;
        t->add_bos = true, t->add_space_prefix = true;
    } else if (t->kind == TOK_KIND_WPM) {
        /* BERT's [CLS] text [SEP]: llama.cpp's defaults, [SEP] playing the part of EOS */
        t->bos = 101, t->eos = 102, t->unk = 100;
        t->add_bos = true, t->add_eos = true;
    } else {
        t->bos = 11, t->eos = 11, t->unk = -1; /* llama.cpp's BPE defaults (GPT-NeoX era) */
        t->clean_spaces = true;
    }
    t->pad = t->eot = t->eom = -1;
}

/* ---------------------------------------------------------------- loading: the token list */

static uint16_t attr_of_type(int32_t type) {
    switch (type) {
    case 1: return TOK_ATTR_NORMAL;
    case 2: return TOK_ATTR_UNKNOWN;
    case 3: return TOK_ATTR_CONTROL;
    case 4: return TOK_ATTR_USER_DEFINED;
    case 5: return TOK_ATTR_UNUSED;
    case 6: return TOK_ATTR_BYTE;
    default: return TOK_ATTR_UNDEFINED;
    }
}

static int32_t load_i32(const void *data, uint64_t i) {
    const unsigned char *p = (const unsigned char *)data + 4 * i;
    return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
}

static float load_f32(const void *data, uint64_t i) {
    uint32_t bits = (uint32_t)load_i32(data, i);
    float x;
    memcpy(&x, &bits, sizeof x);
    return x;
}

/* A numeric per-token array: absent is fine (NULL), but present it must cover every token. */
static bool per_token_array(load_ctx *c, const char *key, enum gguf_vtype want1, enum gguf_vtype want2,
                            const void **data, enum gguf_vtype *type) {
    uint64_t count;
    *data = NULL;
    if (gguf_find_key(c->f, key) < 0) return true;
    if (!gguf_get_arr(c->f, key, type, &count, data) || (*type != want1 && *type != want2))
        return fail(c, "%s is not an array of the expected type", key);
    if (count < (uint64_t)c->t->n_vocab)
        return fail(c, "%s has %llu entries for %d tokens", key, (unsigned long long)count, c->t->n_vocab);
    return true;
}

static bool index_insert_token(load_ctx *c, int32_t id) {
    tokenizer *t = c->t;
    const tok_entry *e = &t->tokens[id];
    const char *s = t->texts + e->text_off;
    uint32_t i = slot_of(hash_bytes(HASH_SEED, s, e->text_len), t->by_text.mask);
    for (;; i = (i + 1) & t->by_text.mask) {
        uint32_t slot = t->by_text.slots[i];
        if (slot == 0) break;
        if (text_equals(t, (int32_t)(slot - 1), s, e->text_len))
            return fail(c, "duplicate token '%.*s' in the vocabulary (ids %u and %d)", (int)(e->text_len > 64 ? 64 : e->text_len),
                        s, slot - 1, id);
    }
    t->by_text.slots[i] = (uint32_t)id + 1;
    return true;
}

static bool copy_token_texts(load_ctx *c) {
    tokenizer *t = c->t;
    const char *key = "tokenizer.ggml.tokens";
    size_t total = 0;
    for (int32_t i = 0; i < t->n_vocab; i++) {
        size_t len = 0;
        if (!gguf_get_arr_str(c->f, key, (uint64_t)i, &len)) return fail(c, "%s[%d] is unreadable", key, i);
        if (len > 0xffffff) return fail(c, "%s[%d] is %zu bytes long", key, i, len);
        total += len + 1;
    }
    if (total > 0xffffffffu) return fail(c, "%s holds too much text", key);
    t->texts = malloc(total);
    if (!t->texts) return fail(c, "out of memory for the vocabulary");
    uint32_t off = 0;
    for (int32_t i = 0; i < t->n_vocab; i++) {
        size_t len = 0;
        const char *s = gguf_get_arr_str(c->f, key, (uint64_t)i, &len);
        memcpy(t->texts + off, s, len);
        t->texts[off + len] = '\0';
        t->tokens[i].text_off = off;
        t->tokens[i].text_len = (uint32_t)len;
        off += (uint32_t)len + 1;
    }
    return true;
}

static bool read_tokens(load_ctx *c) {
    tokenizer *t = c->t;
    enum gguf_vtype et;
    uint64_t n;
    if (!gguf_get_arr(c->f, "tokenizer.ggml.tokens", &et, &n, NULL))
        return fail(c, "no tokenizer.ggml.tokens array in the file");
    if (et != GGUF_VT_STRING) return fail(c, "tokenizer.ggml.tokens is not an array of strings");
    if (n == 0) return fail(c, "tokenizer.ggml.tokens is empty");
    if (n > 0x7fffffff / 4) return fail(c, "tokenizer.ggml.tokens has %llu entries", (unsigned long long)n);
    t->n_vocab = (int32_t)n;
    t->tokens = calloc(n, sizeof *t->tokens);
    if (!t->tokens || !index_init(&t->by_text, n)) return fail(c, "out of memory for the vocabulary");
    if (!copy_token_texts(c)) return false;

    const void *scores, *types;
    enum gguf_vtype score_type, type_type;
    if (!per_token_array(c, "tokenizer.ggml.scores", GGUF_VT_FLOAT32, GGUF_VT_INT32, &scores, &score_type) ||
        !per_token_array(c, "tokenizer.ggml.token_type", GGUF_VT_INT32, GGUF_VT_INT32, &types, &type_type))
        return false;
    for (int32_t i = 0; i < t->n_vocab; i++) {
        tok_entry *e = &t->tokens[i];
        if (scores) e->score = score_type == GGUF_VT_FLOAT32 ? load_f32(scores, i) : (float)load_i32(scores, i);
        e->attr = types ? attr_of_type(load_i32(types, i)) : TOK_ATTR_NORMAL;
        /* An empty text would match everywhere; it stays a token but is never looked up. */
        if (e->text_len > 0 && !index_insert_token(c, i)) return false;
    }
    return true;
}

/* ---------------------------------------------------------------- loading: merges */

static bool copy_merges(load_ctx *c, uint64_t n) {
    tokenizer *t = c->t;
    const char *key = "tokenizer.ggml.merges";
    size_t total = 0;
    for (uint64_t i = 0; i < n; i++) {
        size_t len = 0;
        if (!gguf_get_arr_str(c->f, key, i, &len)) return fail(c, "%s[%llu] is unreadable", key, (unsigned long long)i);
        total += len;
    }
    if (total > 0xffffffffu) return fail(c, "%s holds too much text", key);
    t->merge_text = malloc(total ? total : 1);
    t->merges = calloc(n ? n : 1, sizeof *t->merges);
    if (!t->merge_text || !t->merges || !index_init(&t->by_pair, n)) return fail(c, "out of memory for the merges");
    uint32_t off = 0;
    for (uint64_t i = 0; i < n; i++) {
        size_t len = 0;
        const char *s = gguf_get_arr_str(c->f, key, i, &len);
        /* llama.cpp splits at the first space after the first byte. */
        const char *space = len > 1 ? memchr(s + 1, ' ', len - 1) : NULL;
        if (!space)
            return fail(c, "%s[%llu] ('%.*s') is not two symbols separated by a space", key, (unsigned long long)i,
                        (int)(len > 64 ? 64 : len), s);
        memcpy(t->merge_text + off, s, len);
        t->merges[i].off = off;
        t->merges[i].left_len = (uint32_t)(space - s);
        t->merges[i].right_len = (uint32_t)(len - (size_t)(space - s) - 1);
        off += (uint32_t)len;
    }
    t->n_merges = (int32_t)n;
    return true;
}

static void index_merges(tokenizer *t) {
    for (int32_t r = 0; r < t->n_merges; r++) {
        const tok_merge *m = &t->merges[r];
        const char *l = t->merge_text + m->off, *rt = l + m->left_len + 1;
        uint32_t i = slot_of(pair_hash(l, m->left_len, rt, m->right_len), t->by_pair.mask);
        bool duplicate = false;
        for (;; i = (i + 1) & t->by_pair.mask) {
            uint32_t slot = t->by_pair.slots[i];
            if (slot == 0) break;
            if (merge_equals(t, (int32_t)(slot - 1), l, m->left_len, rt, m->right_len)) {
                duplicate = true; /* the first (lowest) rank wins, as with llama.cpp's emplace */
                break;
            }
        }
        if (!duplicate) t->by_pair.slots[i] = (uint32_t)r + 1;
    }
}

static bool read_merges(load_ctx *c) {
    enum gguf_vtype et;
    uint64_t n;
    if (c->t->kind != TOK_KIND_BPE) return true;
    if (!gguf_get_arr(c->f, "tokenizer.ggml.merges", &et, &n, NULL))
        return fail(c, "no tokenizer.ggml.merges array (a gpt2 tokenizer needs its merges)");
    if (et != GGUF_VT_STRING) return fail(c, "tokenizer.ggml.merges is not an array of strings");
    if (n > 0x7fffffff / 4) return fail(c, "tokenizer.ggml.merges has %llu entries", (unsigned long long)n);
    if (!copy_merges(c, n)) return false;
    index_merges(c->t);
    return true;
}

/* ---------------------------------------------------------------- loading: special ids and flags */

static bool id_in_range(const tokenizer *t, int64_t id) { return id >= 0 && id < t->n_vocab; }

/* Metadata overrides a default only with an id inside the vocabulary (llama.cpp warns otherwise). */
static void read_id(load_ctx *c, const char *key, int32_t *id) {
    int64_t v;
    if (!id_in_range(c->t, *id)) *id = -1;
    if (gguf_get_int(c->f, key, &v) && id_in_range(c->t, v)) *id = (int32_t)v;
}

static void read_flag(load_ctx *c, const char *key, bool *flag) {
    int64_t v;
    if (gguf_get_int(c->f, key, &v)) *flag = v != 0;
}

static bool read_specials(load_ctx *c) {
    tokenizer *t = c->t;
    read_id(c, "tokenizer.ggml.bos_token_id", &t->bos);
    read_id(c, "tokenizer.ggml.eos_token_id", &t->eos);
    /* BERT appends its separator, not an end-of-sequence token (the key's spelling is GGUF's) */
    if (t->kind == TOK_KIND_WPM) read_id(c, "tokenizer.ggml.seperator_token_id", &t->eos);
    read_id(c, "tokenizer.ggml.eot_token_id", &t->eot);
    read_id(c, "tokenizer.ggml.eom_token_id", &t->eom);
    read_id(c, "tokenizer.ggml.unknown_token_id", &t->unk);
    read_id(c, "tokenizer.ggml.padding_token_id", &t->pad);
    read_flag(c, "tokenizer.ggml.add_space_prefix", &t->add_space_prefix);
    read_flag(c, "tokenizer.ggml.add_bos_token", &t->add_bos);
    read_flag(c, "tokenizer.ggml.add_eos_token", &t->add_eos);
    if (t->add_bos && t->bos < 0) return fail(c, "tokenizer.ggml.add_bos_token is true but there is no BOS token");
    if (t->add_eos && t->eos < 0) return fail(c, "tokenizer.ggml.add_eos_token is true but there is no EOS token");
    return true;
}

/* ---------------------------------------------------------------- loading: attributes by text */

/* DeepSeek writes its markers with U+FF5C (fullwidth bar) and U+2581 (the SentencePiece space). */
#define FW_BAR "\xef\xbd\x9c"
#define SP_SPACE "\xe2\x96\x81"

/* Texts that end generation (llama.cpp's list). Unlike llama.cpp we do not also make them
 * control tokens: being in this list only makes tokenizer_is_eog true, and the token type
 * alone decides whether the text is parsed as a special token. Qwen's vocabulary has "</s>"
 * as ordinary text (Hugging Face splits "<s> </s>" into plain pieces), which promoting it
 * would break. */
static const char *const EOG_TEXTS[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
    "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
    "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
    ("<" FW_BAR "end" SP_SPACE "of" SP_SPACE "sentence" FW_BAR ">"), "[e~[",
    /* fill-in-the-middle pad / repo / file-separator tokens also end generation */
    "<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]", "<|fim_repo|>", "<|repo_name|>",
    "<fim-repo>", "<REPO>", "<reponame>", "<|file_sep|>",
};

/* Fill-in-the-middle markers: control tokens, not text. */
static const char *const FIM_TEXTS[] = {
    "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", ("<" FW_BAR "fim" SP_SPACE "begin" FW_BAR ">"),
    "<PRE>", (SP_SPACE "<PRE>"), "<|code_prefix|>", "<|prefix|>",
    "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", ("<" FW_BAR "fim" SP_SPACE "hole" FW_BAR ">"),
    "<SUF>", (SP_SPACE "<SUF>"), "<|code_suffix|>", "<|suffix|>",
    "<|fim_middle|>", "<fim-middle>", "<fim_middle>", ("<" FW_BAR "fim" SP_SPACE "end" FW_BAR ">"),
    "<MID>", (SP_SPACE "<MID>"), "<|code_middle|>", "<|middle|>",
};

/* gpt-oss's channel markers are always rendered, so llama.cpp makes them user-defined. */
static const char *const ALWAYS_RENDERED[] = {"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"};

static int32_t find_text(const tokenizer *t, const char *text) { return tok_lookup(t, text, strlen(text)); }

static void add_eog(tokenizer *t, int32_t id) {
    if (id < 0) return;
    for (int32_t i = 0; i < t->n_eog; i++)
        if (t->eog[i] == id) return;
    t->eog[t->n_eog++] = id;
}

static bool build_eog(load_ctx *c) {
    tokenizer *t = c->t;
    const size_t n_texts = sizeof EOG_TEXTS / sizeof *EOG_TEXTS;
    t->eog = malloc((n_texts + 8) * sizeof *t->eog);
    if (!t->eog) return fail(c, "out of memory");
    for (size_t i = 0; i < n_texts; i++) add_eog(t, find_text(t, EOG_TEXTS[i]));
    const char *fim_keys[] = {"tokenizer.ggml.fim_pad_token_id", "tokenizer.ggml.fim_rep_token_id",
                              "tokenizer.ggml.fim_sep_token_id"};
    for (size_t i = 0; i < 3; i++) {
        int32_t id = -1;
        read_id(c, fim_keys[i], &id);
        add_eog(t, id);
    }
    add_eog(t, t->eos);
    add_eog(t, t->eot);
    add_eog(t, t->eom);
    return true;
}

static void mark_by_text(tokenizer *t) {
    for (size_t i = 0; i < sizeof FIM_TEXTS / sizeof *FIM_TEXTS; i++) {
        int32_t id = find_text(t, FIM_TEXTS[i]);
        if (id >= 0) t->tokens[id].attr |= TOK_ATTR_CONTROL;
    }
    for (size_t i = 0; i < sizeof ALWAYS_RENDERED / sizeof *ALWAYS_RENDERED; i++) {
        int32_t id = find_text(t, ALWAYS_RENDERED[i]);
        if (id >= 0) t->tokens[id].attr = TOK_ATTR_USER_DEFINED;
    }
}

static bool contains_ci(const char *s, size_t len, const char *needle) {
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; i++) {
        size_t j = 0;
        while (j < n && tolower((unsigned char)s[i + j]) == needle[j]) j++;
        if (j == n) return true;
    }
    return false;
}

static void set_attr_by_text(tokenizer *t, const char *text, uint16_t attr, bool on) {
    int32_t id = find_text(t, text);
    if (id < 0) return;
    if (on) t->tokens[id].attr |= attr;
    else t->tokens[id].attr &= (uint16_t)~attr;
}

/* Whitespace-stripping special tokens, which llama.cpp assigns by model name (not in GGUF). */
static void mark_strip_attrs(load_ctx *c) {
    tokenizer *t = c->t;
    size_t name_len = 0, pre_len = 0;
    const char *name = gguf_get_str(c->f, "general.name", &name_len);
    const char *pre = gguf_get_str(c->f, "tokenizer.ggml.pre", &pre_len);
    if (pre && (contains_ci(pre, pre_len, "jina-v2-de") || contains_ci(pre, pre_len, "jina-v2-es") ||
                contains_ci(pre, pre_len, "jina-v2-code"))) {
        set_attr_by_text(t, "<mask>", TOK_ATTR_LSTRIP, true);
    } else if (name && (contains_ci(name, name_len, "phi-3") || contains_ci(name, name_len, "phi3"))) {
        for (int32_t i = 0; i < t->n_specials; i++) t->tokens[t->specials[i]].attr |= TOK_ATTR_RSTRIP;
        set_attr_by_text(t, "</s>", TOK_ATTR_RSTRIP, true);
        set_attr_by_text(t, "<unk>", TOK_ATTR_RSTRIP, false);
        set_attr_by_text(t, "<s>", TOK_ATTR_RSTRIP, false);
        set_attr_by_text(t, "<|endoftext|>", TOK_ATTR_RSTRIP, false);
    } else if (name && contains_ci(name, name_len, "modern-bert")) {
        set_attr_by_text(t, "[MASK]", TOK_ATTR_LSTRIP, true);
    }
}

/* ---------------------------------------------------------------- loading: byte tokens and barriers */

static void find_byte_tokens(tokenizer *t) {
    static const char hex[] = "0123456789ABCDEF";
    for (int b = 0; b < 256; b++) {
        char name[7] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>', 0};
        char raw = (char)b;
        int32_t id = tok_lookup(t, name, 6);
        t->byte_token[b] = id >= 0 ? id : tok_lookup(t, &raw, 1);
    }
}

static void find_spm_barriers(tokenizer *t) {
    for (int c = 0; c < 128; c++) t->spm_barrier[c] = true;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        const tok_entry *e = &t->tokens[id];
        if (e->text_len < 2 || !tok_is_mergeable(t, id)) continue;
        const unsigned char *s = (const unsigned char *)tok_text(t, id);
        for (uint32_t i = 0; i < e->text_len; i++)
            if (s[i] < 128) t->spm_barrier[s[i]] = false;
    }
}

/* ---------------------------------------------------------------- public: lifetime */

void tokenizer_free(tokenizer *t) {
    if (!t) return;
    free(t->tokens);
    free(t->texts);
    free(t->pieces);
    free(t->by_text.slots);
    free(t->merges);
    free(t->merge_text);
    free(t->by_pair.slots);
    free(t->specials);
    free(t->special_bucket_start);
    free(t->special_bucket_items);
    free(t->eog);
    free(t);
}

tokenizer *tokenizer_from_gguf(const gguf_file *f, char *err, size_t err_len) {
    load_ctx c = {f, calloc(1, sizeof(tokenizer)), err, err_len};
    if (!c.t) {
        fail(&c, "out of memory");
        return NULL;
    }
    bool ok = f && read_model(&c);
    if (ok) {
        set_kind_defaults(c.t);
        ok = (c.t->kind != TOK_KIND_BPE || read_pre(&c)) && read_normalizer(&c) && read_tokens(&c) &&
             read_merges(&c) && read_specials(&c) && build_eog(&c);
    } else if (!f) {
        fail(&c, "no file");
    }
    if (ok) {
        mark_by_text(c.t);
        for (int32_t id = 0; id < c.t->n_vocab; id++)
            if (c.t->tokens[id].text_len > c.t->max_token_len) c.t->max_token_len = c.t->tokens[id].text_len;
        ok = tok_build_specials(c.t) || fail(&c, "out of memory");
    }
    if (ok) {
        mark_strip_attrs(&c);
        find_byte_tokens(c.t);
        find_spm_barriers(c.t);
        ok = tok_build_pieces(c.t) || fail(&c, "out of memory for the token pieces");
    }
    if (!ok) {
        tokenizer_free(c.t);
        return NULL;
    }
    return c.t;
}

/* ---------------------------------------------------------------- public: accessors */

int tokenizer_kind(const tokenizer *t) { return t->kind; }
int32_t tokenizer_n_vocab(const tokenizer *t) { return t->n_vocab; }
int32_t tokenizer_bos(const tokenizer *t) { return t->bos; }
int32_t tokenizer_eos(const tokenizer *t) { return t->eos; }
bool tokenizer_add_bos(const tokenizer *t) { return t->add_bos && t->bos >= 0; }

bool tokenizer_is_eog(const tokenizer *t, int32_t id) {
    for (int32_t i = 0; i < t->n_eog; i++)
        if (t->eog[i] == id) return true;
    return false;
}

int32_t tokenizer_find(const tokenizer *t, const char *text) {
    return text && *text ? tok_lookup(t, text, strlen(text)) : -1;
}

const char *tokenizer_token_text(const tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_vocab ? tok_text(t, id) : NULL;
}

/* ---------------------------------------------------------------- encoding: driver */

static bool encode_plain(const tokenizer *t, const char *text, size_t len, bool space_prefix, tok_ids *ids) {
    if (t->kind == TOK_KIND_SPM) return spm_encode(t, text, len, space_prefix, ids);
    if (t->kind == TOK_KIND_WPM) return wpm_encode(t, text, len, ids);
    return bpe_encode(t, text, len, ids);
}

/* Fragments are normalized one by one, after the special tokens are cut out: Hugging Face
 * matches its (unnormalized) added tokens in the raw text, so a combining mark right after
 * one must not compose into it, and canonical reordering stops at it. */
static bool encode_fragments(const tokenizer *t, const char *text, const tok_frags *fs, tok_ids *ids) {
    bool prev_special = true; /* SentencePiece prefixes a space at the start and after specials */
    for (size_t i = 0; i < fs->n; i++) {
        const tok_frag *fr = &fs->v[i];
        if (fr->id >= 0) {
            tok_ids_push(ids, fr->id);
            prev_special = true;
            continue;
        }
        const char *s = text + fr->off;
        bool space_prefix = t->add_space_prefix && prev_special, ok;
        if (t->nfc && !uni_is_nfc(s, fr->len)) {
            size_t n;
            char *norm = uni_nfc(s, fr->len, &n);
            ok = norm && encode_plain(t, norm, n, space_prefix, ids);
            free(norm);
        } else {
            ok = encode_plain(t, s, fr->len, space_prefix, ids);
        }
        prev_special = false;
        if (!ok || ids->failed) return false;
    }
    return true;
}

int tokenizer_encode(const tokenizer *t, const char *text, size_t len, bool add_bos, bool parse_special,
                     int32_t *out, int max_out) {
    tok_frags fs = {0};
    tok_ids ids = {0};
    if (!t || (!text && len > 0)) return -1;
    bool ok = tok_split_specials(t, text, len, parse_special, &fs);
    if (ok && add_bos && t->bos >= 0) tok_ids_push(&ids, t->bos);
    ok = ok && encode_fragments(t, text, &fs, &ids);
    /* llama.cpp ties EOS to the same "add special tokens" switch as BOS */
    if (ok && add_bos && t->add_eos && t->eos >= 0) tok_ids_push(&ids, t->eos);
    ok = ok && !ids.failed && ids.n <= 0x7fffffff;
    int n = ok ? (int)ids.n : -1;
    if (ok && out && max_out > 0 && n > 0) memcpy(out, ids.v, (size_t)(n < max_out ? n : max_out) * sizeof *out);
    free(fs.v);
    free(ids.v);
    return n;
}
