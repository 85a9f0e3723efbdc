/*
 * hf_tokenizer.c - turns a Hugging Face tokenizer.json into GGUF tokenizer metadata.
 *
 * The JSON is untrusted: every id is bounded (and the holes between ids, so a
 * tiny file cannot ask for a huge table), every merge must join two tokens of
 * the vocabulary into a third, byte-level tokens must be spelled in the
 * byte-level alphabet, and an id or a text given twice is an error. The
 * pre-tokenizer is recognised by its exact regex: a tokenizer whose text
 * splitting we cannot name for the engine is refused, because converting it
 * anyway would give a model that reads text differently from how it was
 * trained, without any sign of it.
 *
 * For SentencePiece-style vocabularies the GGUF form wants a score per token
 * (merges happen highest score first); tokenizer.json has merge ranks instead.
 * A token's score is minus the rank of the first merge producing it, which
 * keeps the order of the merges, so both algorithms pick the same merge at
 * every step.
 *
 * The one normalizer a byte-level tokenizer may have is NFC (Qwen's), alone or
 * in a Sequence; SentencePiece-style ones may add it to their space handling.
 * It becomes tokenizer.ggml.normalizer = "nfc", a key of ours that llama.cpp
 * does not define, which the engine's tokenizer applies to plain text.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hf_tokenizer.h"
#include "util.h"

#define HF_MAX_VOCAB (1 << 24)
#define HF_MAX_HOLES 65536 /* ids left unused between the given ones */

/* GGUF token types (llama.cpp's). */
enum { TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_USER = 4, TT_UNUSED = 5, TT_BYTE = 6 };

struct hf_vocab {
    const char *model; /* "gpt2" or "llama" (static) */
    const char *pre;   /* static, or NULL */
    int n_tokens;
    char **tokens;
    int32_t *types;
    float *scores; /* llama only */
    char **merges; /* gpt2 only: "a b" */
    int n_merges;
    int32_t bos, eos, unk, pad;
    bool add_bos, add_eos, add_space_prefix;
    bool nfc; /* the normalizer puts text in Unicode NFC */
    char *chat_template;
};

typedef struct token_map {
    int32_t *slots; /* token id, -1 free */
    size_t mask;
} token_map;

typedef struct parser {
    hf_vocab *v;
    const char *name;        /* tokenizer.json, for messages */
    const char *config_name; /* tokenizer_config.json */
    char *err;
    size_t err_len;
    token_map map;
    int n_given; /* vocab + added entries, to bound the holes */
} parser;

static bool fail_in(parser *p, const char *file, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    set_err(p->err, p->err_len, "%s: %s", file, msg);
    return false;
}

#define fail(p, ...) fail_in((p), (p)->name, __VA_ARGS__)

/* Quotes at most 48 bytes of text from the file, escaping the unprintable, for one-line errors. */
static const char *quote(char *buf, size_t buf_len, const char *s) {
    size_t o = 0, i = 0;
    for (; s[i] && i < 48 && o + 5 < buf_len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != 0x7f)
            buf[o++] = (char)c; /* UTF-8 passes through */
        else
            o += (size_t)snprintf(buf + o, buf_len - o, "\\x%02x", c);
    }
    if (s[i] && o + 4 < buf_len) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = 0;
    return buf;
}

/* ---------------------------------------------------------------- token text -> id */

static uint64_t hash_text(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static size_t map_probe(const token_map *m, char *const *tokens, const char *text) {
    size_t s = (size_t)hash_text(text) & m->mask;
    while (m->slots[s] >= 0 && strcmp(tokens[m->slots[s]], text) != 0)
        s = (s + 1) & m->mask;
    return s;
}

static int32_t map_find(const parser *p, const char *text) {
    if (!p->map.slots) return -1;
    return p->map.slots[map_probe(&p->map, p->v->tokens, text)];
}

/* Indexes every token; two ids with one text make the vocabulary ambiguous. */
static bool build_map(parser *p) {
    size_t cap = 16;
    while (cap < 2 * (size_t)p->v->n_tokens)
        cap *= 2;
    p->map.slots = malloc(cap * sizeof *p->map.slots);
    if (!p->map.slots) return fail(p, "out of memory");
    memset(p->map.slots, 0xff, cap * sizeof *p->map.slots);
    p->map.mask = cap - 1;
    for (int32_t id = 0; id < p->v->n_tokens; id++) {
        size_t s = map_probe(&p->map, p->v->tokens, p->v->tokens[id]);
        if (p->map.slots[s] >= 0) {
            char q[160];
            return fail(p, "token '%s' has two ids (%d and %d)", quote(q, sizeof q, p->v->tokens[id]), p->map.slots[s],
                        id);
        }
        p->map.slots[s] = id;
    }
    return true;
}

/* ---------------------------------------------------------------- vocabulary */

/* A JSON number that is a whole id in [0, HF_MAX_VOCAB). */
static bool json_id(const cJSON *j, int32_t *out) {
    if (!cJSON_IsNumber(j)) return false;
    double d = j->valuedouble;
    if (!(d >= 0 && d < HF_MAX_VOCAB) || d != (double)(int32_t)d) return false;
    *out = (int32_t)d;
    return true;
}

static bool set_token(parser *p, int32_t id, const char *text, const char *where) {
    char q1[160], q2[160];
    hf_vocab *v = p->v;
    if (text[0] == 0) return fail(p, "%s: token %d is empty", where, id);
    if (v->tokens[id]) {
        if (strcmp(v->tokens[id], text) == 0) return true; /* added tokens often repeat vocab entries */
        return fail(p, "%s: id %d is given to both '%s' and '%s'", where, id, quote(q1, sizeof q1, v->tokens[id]),
                    quote(q2, sizeof q2, text));
    }
    if (!(v->tokens[id] = strdup(text))) return fail(p, "out of memory");
    v->types[id] = TT_NORMAL;
    return true;
}

/* Largest id of the vocab and added tokens, each entry checked. */
static bool scan_ids(parser *p, const cJSON *vocab, const cJSON *added, int32_t *max_id) {
    char q[160];
    *max_id = -1;
    p->n_given = 0;
    for (const cJSON *e = vocab->child; e; e = e->next, p->n_given++) {
        int32_t id;
        if (!json_id(e, &id)) return fail(p, "model.vocab: token '%s' has no valid id", quote(q, sizeof q, e->string));
        if (id > *max_id) *max_id = id;
    }
    if (!added) return true;
    if (!cJSON_IsArray(added)) return fail(p, "added_tokens is not an array");
    int i = 0;
    for (const cJSON *e = added->child; e; e = e->next, i++, p->n_given++) {
        int32_t id;
        if (!cJSON_IsObject(e) || !json_id(cJSON_GetObjectItemCaseSensitive(e, "id"), &id) ||
            !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "content")))
            return fail(p, "added_tokens[%d] lacks a valid id or content", i);
        if (id > *max_id) *max_id = id;
    }
    return true;
}

static bool alloc_tokens(parser *p, int n) {
    hf_vocab *v = p->v;
    v->tokens = calloc((size_t)(n ? n : 1), sizeof *v->tokens);
    v->types = calloc((size_t)(n ? n : 1), sizeof *v->types);
    if (!v->tokens || !v->types) return fail(p, "out of memory for %d tokens", n);
    v->n_tokens = n;
    return true;
}

static bool read_vocab(parser *p, const cJSON *model, const cJSON *added) {
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    if (!cJSON_IsObject(vocab)) return fail(p, "model.vocab is not an object");
    int32_t max_id;
    if (!scan_ids(p, vocab, added, &max_id)) return false;
    if (max_id < 0) return fail(p, "the vocabulary is empty");
    if ((int64_t)max_id + 1 - p->n_given > HF_MAX_HOLES)
        return fail(p, "ids go up to %d but only %d tokens are given", max_id, p->n_given);
    if (!alloc_tokens(p, max_id + 1)) return false;
    for (const cJSON *e = vocab->child; e; e = e->next) {
        int32_t id = 0;
        json_id(e, &id); /* checked by scan_ids */
        if (!set_token(p, id, e->string, "model.vocab")) return false;
    }
    for (const cJSON *e = added ? added->child : NULL; e; e = e->next) {
        int32_t id = 0;
        json_id(cJSON_GetObjectItemCaseSensitive(e, "id"), &id);
        if (!set_token(p, id, cJSON_GetObjectItemCaseSensitive(e, "content")->valuestring, "added_tokens"))
            return false;
        /* HF matches every added token in raw text; special ones are the model's control tokens. */
        p->v->types[id] = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "special")) ? TT_CONTROL : TT_USER;
    }
    return true;
}

/* Ids nobody gave a token get a unique placeholder, unused, as llama.cpp's converter does. */
static bool fill_holes(parser *p) {
    for (int32_t id = 0; id < p->v->n_tokens; id++) {
        if (p->v->tokens[id]) continue;
        char buf[32];
        snprintf(buf, sizeof buf, "[PAD%d]", id);
        if (!(p->v->tokens[id] = strdup(buf))) return fail(p, "out of memory");
        p->v->types[id] = TT_UNUSED;
    }
    return true;
}

/* ---------------------------------------------------------------- byte-level alphabet */

/* GPT-2's byte-level BPE spells each byte as one code point: printable Latin-1 as itself,
 * the other 68 bytes as U+0100..U+0143. */
static bool byte_level_code_point(uint32_t cp) {
    return (cp >= 33 && cp <= 126) || (cp >= 161 && cp <= 172) || (cp >= 174 && cp <= 323);
}

/* Decodes one UTF-8 sequence; returns its length, 0 when malformed. */
static int utf8_decode(const unsigned char *s, uint32_t *cp) {
    if (s[0] < 0x80) return *cp = s[0], 1;
    int n = (s[0] & 0xe0) == 0xc0 ? 2 : (s[0] & 0xf0) == 0xe0 ? 3 : (s[0] & 0xf8) == 0xf0 ? 4 : 0;
    if (!n) return 0;
    uint32_t v = s[0] & (0x7f >> n);
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        v = v << 6 | (s[i] & 0x3f);
    }
    *cp = v;
    return n;
}

static bool is_byte_level(const char *text) {
    const unsigned char *s = (const unsigned char *)text;
    while (*s) {
        uint32_t cp;
        int n = utf8_decode(s, &cp);
        if (!n || !byte_level_code_point(cp)) return false;
        s += n;
    }
    return true;
}

static bool check_byte_level_tokens(parser *p) {
    for (int32_t id = 0; id < p->v->n_tokens; id++) {
        if (p->v->types[id] != TT_NORMAL || is_byte_level(p->v->tokens[id])) continue;
        char q[160];
        return fail(p, "token %d '%s' is not spelled in the byte-level alphabet", id,
                    quote(q, sizeof q, p->v->tokens[id]));
    }
    return true;
}

/* SentencePiece byte tokens "<0xNN>". */
static bool is_byte_token(const char *s) {
    static const char hex[] = "0123456789ABCDEF";
    return strlen(s) == 6 && memcmp(s, "<0x", 3) == 0 && strchr(hex, s[3]) && strchr(hex, s[4]) && s[5] == '>';
}

/* ---------------------------------------------------------------- pre-tokenizer and kind */

/* The split regexes whose behaviour the engine's tokenizer implements, under llama.cpp's names. */
static const struct {
    const char *name, *regex;
} PRE_REGEXES[] = {
    {"llama-bpe",
     "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
     "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
    {"llama-bpe",
     "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
     "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
    {"qwen2", "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
              "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
};

static bool type_is(const cJSON *obj, const char *type) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(obj, "type");
    return cJSON_IsString(t) && strcmp(t->valuestring, type) == 0;
}

/* The "type" of a component, quoted for a message. */
static const char *type_of(const cJSON *obj, char *buf, size_t len) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(obj, "type");
    return cJSON_IsString(t) ? quote(buf, len, t->valuestring) : "(none)";
}

static const char *regex_name(const char *regex) {
    for (size_t i = 0; i < sizeof PRE_REGEXES / sizeof *PRE_REGEXES; i++)
        if (strcmp(regex, PRE_REGEXES[i].regex) == 0) return PRE_REGEXES[i].name;
    return NULL;
}

/* A ByteLevel step that adds a leading space would change every first word. */
static bool check_byte_level_step(parser *p, const cJSON *bl) {
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(bl, "add_prefix_space")))
        return fail(p, "ByteLevel pre-tokenizer with add_prefix_space is not supported");
    return true;
}

/* Sequence [Split(regex), ByteLevel(use_regex false)] names its regex; ByteLevel alone splits
 * with GPT-2's own. */
static bool detect_pre(parser *p, const cJSON *pre) {
    if (type_is(pre, "ByteLevel")) {
        if (cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(pre, "use_regex")))
            return fail(p, "ByteLevel pre-tokenizer without a split regex is not supported");
        p->v->pre = "gpt-2";
        return check_byte_level_step(p, pre);
    }
    const cJSON *steps = cJSON_GetObjectItemCaseSensitive(pre, "pretokenizers");
    const cJSON *split = steps ? steps->child : NULL, *bl = split ? split->next : NULL;
    if (!cJSON_IsArray(steps) || cJSON_GetArraySize(steps) != 2 || !type_is(split, "Split") ||
        !type_is(bl, "ByteLevel"))
        return fail(p, "pre-tokenizer is not [Split, ByteLevel] (not a recognised byte-level BPE)");
    const cJSON *regex = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(split, "pattern"), "Regex");
    const cJSON *behavior = cJSON_GetObjectItemCaseSensitive(split, "behavior");
    if (!cJSON_IsString(regex)) return fail(p, "the Split pre-tokenizer has no regex pattern");
    if (!cJSON_IsString(behavior) || strcmp(behavior->valuestring, "Isolated") != 0 ||
        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(split, "invert")))
        return fail(p, "the Split pre-tokenizer is not 'Isolated' (not supported)");
    if (!cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(bl, "use_regex")))
        return fail(p, "the ByteLevel step after Split also splits (use_regex) - not supported");
    p->v->pre = regex_name(regex->valuestring);
    if (!p->v->pre) {
        char q[160];
        return fail(p, "unknown pre-tokenizer regex '%s' (known: llama-bpe (Llama 3), qwen2)",
                    quote(q, sizeof q, regex->valuestring));
    }
    return check_byte_level_step(p, bl);
}

static bool has_byte_level(const cJSON *pre) {
    if (type_is(pre, "ByteLevel")) return true;
    const cJSON *steps = cJSON_GetObjectItemCaseSensitive(pre, "pretokenizers");
    for (const cJSON *s = cJSON_IsArray(steps) ? steps->child : NULL; s; s = s->next)
        if (type_is(s, "ByteLevel")) return true;
    return false;
}

/* A byte-level BPE's normalizer: none, NFC, or a Sequence of nothing but NFC steps. */
static bool check_byte_level_norm_step(parser *p, const cJSON *s) {
    char q[160];
    if (!type_is(s, "NFC"))
        return fail(p, "normalizer %s is not supported for a byte-level BPE", type_of(s, q, sizeof q));
    p->v->nfc = true;
    return true;
}

static bool check_byte_level_norm(parser *p, const cJSON *norm) {
    if (!norm || cJSON_IsNull(norm)) return true;
    if (!type_is(norm, "Sequence")) return check_byte_level_norm_step(p, norm);
    const cJSON *steps = cJSON_GetObjectItemCaseSensitive(norm, "normalizers");
    if (!cJSON_IsArray(steps)) return fail(p, "normalizer Sequence without a 'normalizers' list");
    for (const cJSON *s = steps->child; s; s = s->next)
        if (!check_byte_level_norm_step(p, s)) return false;
    return true;
}

/* SentencePiece-style normalizers: Replace(" " -> U+2581) spells spaces as the tokens do,
 * Prepend(U+2581) adds the leading space. */
static bool check_spm_norm_step(parser *p, const cJSON *s) {
    /* NFC touches neither spaces nor U+2581, so its place in the sequence does not matter. */
    if (type_is(s, "NFC")) {
        p->v->nfc = true;
        return true;
    }
    if (type_is(s, "Prepend")) {
        p->v->add_space_prefix = true;
        return true;
    }
    const cJSON *from = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(s, "pattern"), "String");
    const cJSON *to = cJSON_GetObjectItemCaseSensitive(s, "content");
    if (type_is(s, "Replace") && cJSON_IsString(from) && cJSON_IsString(to) && strcmp(from->valuestring, " ") == 0 &&
        strcmp(to->valuestring, "\xe2\x96\x81") == 0)
        return true;
    char q[160];
    return fail(p, "normalizer %s is not supported for a SentencePiece-style BPE", type_of(s, q, sizeof q));
}

static bool detect_spm(parser *p, const cJSON *pre, const cJSON *norm) {
    if (type_is(norm, "Sequence")) {
        const cJSON *steps = cJSON_GetObjectItemCaseSensitive(norm, "normalizers");
        if (!cJSON_IsArray(steps)) return fail(p, "normalizer Sequence without a 'normalizers' list");
        for (const cJSON *s = steps->child; s; s = s->next)
            if (!check_spm_norm_step(p, s)) return false;
    } else if (norm && !cJSON_IsNull(norm) && !check_spm_norm_step(p, norm)) {
        return false;
    }
    if (type_is(pre, "Metaspace")) {
        const cJSON *scheme = cJSON_GetObjectItemCaseSensitive(pre, "prepend_scheme");
        if (cJSON_IsString(scheme))
            p->v->add_space_prefix = strcmp(scheme->valuestring, "never") != 0;
        else
            p->v->add_space_prefix = !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(pre, "add_prefix_space"));
    } else if (pre && !cJSON_IsNull(pre)) {
        char q[160];
        return fail(p, "pre-tokenizer %s is not supported", type_of(pre, q, sizeof q));
    }
    p->v->model = "llama";
    return true;
}

static bool detect_kind(parser *p, const cJSON *root, const cJSON *model) {
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
    const cJSON *norm = cJSON_GetObjectItemCaseSensitive(root, "normalizer");
    const cJSON *sfx = cJSON_GetObjectItemCaseSensitive(model, "end_of_word_suffix");
    const cJSON *pfx = cJSON_GetObjectItemCaseSensitive(model, "continuing_subword_prefix");
    if ((cJSON_IsString(sfx) && sfx->valuestring[0]) || (cJSON_IsString(pfx) && pfx->valuestring[0]))
        return fail(p, "BPE with a subword prefix or word suffix is not supported");
    if (has_byte_level(pre)) {
        if (!check_byte_level_norm(p, norm)) return false;
        p->v->model = "gpt2";
        return detect_pre(p, pre);
    }
    bool byte_fallback = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(model, "byte_fallback"));
    if (!byte_fallback && !type_is(pre, "Metaspace"))
        return fail(p, "BPE that is neither byte-level nor SentencePiece-style (byte_fallback) is not supported");
    return detect_spm(p, pre, norm);
}

/* ---------------------------------------------------------------- merges */

/* A merge as its two halves: "a b" (one space) or ["a", "b"]. Writes into buf. */
static bool merge_halves(parser *p, const cJSON *m, int i, char *buf, size_t buf_len, const char **a, const char **b) {
    if (cJSON_IsString(m)) {
        const char *sp = strchr(m->valuestring, ' ');
        if (!sp || sp == m->valuestring || !sp[1] || strchr(sp + 1, ' '))
            return fail(p, "merges[%d] is not two tokens separated by one space", i);
        size_t la = (size_t)(sp - m->valuestring);
        if (la + 1 + strlen(sp + 1) + 1 > buf_len) return fail(p, "merges[%d] is too long", i);
        memcpy(buf, m->valuestring, la);
        buf[la] = 0;
        strcpy(buf + la + 1, sp + 1);
        *a = buf;
        *b = buf + la + 1;
        return true;
    }
    if (!cJSON_IsArray(m) || cJSON_GetArraySize(m) != 2 || !cJSON_IsString(m->child) || !cJSON_IsString(m->child->next))
        return fail(p, "merges[%d] is neither \"a b\" nor [\"a\", \"b\"]", i);
    *a = m->child->valuestring;
    *b = m->child->next->valuestring;
    return true;
}

/* Checks a merge joins two tokens into a third; returns the id of the result or -1. */
static int32_t merge_result(parser *p, int i, const char *a, const char *b, char *joined, size_t joined_len) {
    char q[160];
    size_t la = strlen(a), lb = strlen(b);
    if (la + lb + 1 > joined_len) return fail(p, "merges[%d] is too long", i), -1;
    if (map_find(p, a) < 0)
        return fail(p, "merges[%d] uses '%s', which is not in the vocabulary", i, quote(q, sizeof q, a)), -1;
    if (map_find(p, b) < 0)
        return fail(p, "merges[%d] uses '%s', which is not in the vocabulary", i, quote(q, sizeof q, b)), -1;
    memcpy(joined, a, la);
    memcpy(joined + la, b, lb + 1);
    int32_t id = map_find(p, joined);
    if (id < 0) fail(p, "merges[%d] makes '%s', which is not in the vocabulary", i, quote(q, sizeof q, joined));
    return id;
}

static bool store_merge(parser *p, int i, const char *a, const char *b) {
    if (strchr(a, ' ') || strchr(b, ' '))
        return fail(p, "merges[%d] has a token with a space, which GGUF's \"a b\" form cannot hold", i);
    size_t n = strlen(a) + strlen(b) + 2;
    char *s = malloc(n);
    if (!s) return fail(p, "out of memory");
    snprintf(s, n, "%s %s", a, b);
    p->v->merges[p->v->n_merges++] = s;
    return true;
}

/* Scores for SentencePiece-style merging: minus the first rank producing the token; tokens no
 * merge produces sort below all of those, in id order. */
static void set_merge_score(parser *p, int32_t id, int rank) {
    if (p->v->scores[id] > 0) p->v->scores[id] = -(float)rank;
}

static bool read_merges(parser *p, const cJSON *model) {
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    if (!cJSON_IsArray(merges)) return fail(p, "model.merges is not an array");
    hf_vocab *v = p->v;
    int n = cJSON_GetArraySize(merges);
    bool spm = strcmp(v->model, "llama") == 0;
    if (spm) {
        if (!(v->scores = malloc((size_t)v->n_tokens * sizeof *v->scores))) return fail(p, "out of memory");
        for (int32_t id = 0; id < v->n_tokens; id++)
            v->scores[id] = 1; /* "not produced yet" */
    } else if (!(v->merges = malloc((size_t)(n ? n : 1) * sizeof *v->merges))) {
        return fail(p, "out of memory");
    }
    size_t cap = 4096;
    char *buf = malloc(cap), *joined = malloc(cap);
    bool ok = buf && joined ? true : fail(p, "out of memory");
    int i = 0;
    for (const cJSON *m = merges->child; ok && m; m = m->next, i++) {
        const char *a = NULL, *b = NULL;
        ok = merge_halves(p, m, i, buf, cap, &a, &b);
        int32_t id = ok ? merge_result(p, i, a, b, joined, cap) : -1;
        ok = ok && id >= 0;
        if (ok && spm)
            set_merge_score(p, id, i);
        else if (ok)
            ok = store_merge(p, i, a, b);
    }
    free(buf);
    free(joined);
    if (ok && spm)
        for (int32_t id = 0; id < v->n_tokens; id++)
            if (v->scores[id] > 0) v->scores[id] = v->types[id] == TT_NORMAL ? -(float)(n + id) : 0.0f;
    return ok;
}

/* ---------------------------------------------------------------- token types */

static void type_spm_tokens(parser *p, const cJSON *model) {
    hf_vocab *v = p->v;
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(model, "byte_fallback")))
        for (int32_t id = 0; id < v->n_tokens; id++)
            if (v->types[id] == TT_NORMAL && is_byte_token(v->tokens[id])) v->types[id] = TT_BYTE;
    const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_token");
    if (cJSON_IsString(unk)) v->unk = map_find(p, unk->valuestring);
    if (v->unk >= 0) v->types[v->unk] = TT_UNKNOWN;
}

/* ---------------------------------------------------------------- special tokens (config) */

/* A token in tokenizer_config.json: "text", {"content": "text", ...} or null. Returns false on
 * a malformed entry or a text outside the vocabulary; *id stays as it was when absent. */
static bool config_token(parser *p, const cJSON *cfg, const char *key, int32_t *id) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (!t || cJSON_IsNull(t)) return true;
    if (cJSON_IsObject(t)) t = cJSON_GetObjectItemCaseSensitive(t, "content");
    if (!cJSON_IsString(t)) return fail_in(p, p->config_name, "%s is neither a string nor {\"content\": ...}", key);
    int32_t found = map_find(p, t->valuestring);
    char q[160];
    if (found < 0)
        return fail_in(p, p->config_name, "%s '%s' is not in the vocabulary", key, quote(q, sizeof q, t->valuestring));
    *id = found;
    return true;
}

static bool config_bool(parser *p, const cJSON *cfg, const char *key, bool *out) {
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (!b || cJSON_IsNull(b)) return true;
    if (!cJSON_IsBool(b)) return fail_in(p, p->config_name, "%s is not true or false", key);
    *out = cJSON_IsTrue(b);
    return true;
}

/* A template string, or the list form [{name, template}] (the "default" one, else the first). */
static bool config_template(parser *p, const cJSON *cfg) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(cfg, "chat_template");
    if (!t || cJSON_IsNull(t)) return true;
    if (cJSON_IsArray(t)) {
        const cJSON *pick = NULL;
        for (const cJSON *e = t->child; e; e = e->next) {
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(e, "name");
            if (!pick || (cJSON_IsString(name) && strcmp(name->valuestring, "default") == 0)) pick = e;
        }
        t = cJSON_GetObjectItemCaseSensitive(pick, "template");
    }
    if (!cJSON_IsString(t)) return fail_in(p, p->config_name, "chat_template is not a string");
    free(p->v->chat_template);
    if (!(p->v->chat_template = strdup(t->valuestring))) return fail(p, "out of memory");
    return true;
}

/* BOS/EOS a TemplateProcessing post-processor puts around every sequence. */
static void post_processor_specials(parser *p, const cJSON *root, bool *add_bos, bool *add_eos) {
    const cJSON *pp = cJSON_GetObjectItemCaseSensitive(root, "post_processor");
    const cJSON *steps = cJSON_GetObjectItemCaseSensitive(pp, "processors");
    if (cJSON_IsArray(steps))
        for (const cJSON *s = steps->child; s; s = s->next)
            if (type_is(s, "TemplateProcessing")) pp = s;
    if (!type_is(pp, "TemplateProcessing")) return;
    const cJSON *single = cJSON_GetObjectItemCaseSensitive(pp, "single");
    if (!cJSON_IsArray(single) || !single->child) return;
    const cJSON *first =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(single->child, "SpecialToken"), "id");
    const cJSON *last_item = cJSON_GetArrayItem(single, cJSON_GetArraySize(single) - 1);
    const cJSON *last =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(last_item, "SpecialToken"), "id");
    if (cJSON_IsString(first) && map_find(p, first->valuestring) >= 0) {
        p->v->bos = map_find(p, first->valuestring);
        *add_bos = true;
    }
    if (last_item != single->child && cJSON_IsString(last) && map_find(p, last->valuestring) >= 0) {
        p->v->eos = map_find(p, last->valuestring);
        *add_eos = true;
    }
}

static bool read_specials(parser *p, const cJSON *root, const cJSON *cfg) {
    hf_vocab *v = p->v;
    bool spm = strcmp(v->model, "llama") == 0;
    bool add_bos = false, add_eos = false;
    post_processor_specials(p, root, &add_bos, &add_eos);
    if (spm && v->bos < 0) v->bos = map_find(p, "<s>");
    if (spm && v->eos < 0) v->eos = map_find(p, "</s>");
    /* Without a word from the config, SentencePiece models and Llama 3 want BOS (llama.cpp's rule). */
    if (spm || (v->pre && strcmp(v->pre, "llama-bpe") == 0)) add_bos = add_bos || v->bos >= 0;
    if (cfg) {
        if (!config_token(p, cfg, "bos_token", &v->bos) || !config_token(p, cfg, "eos_token", &v->eos) ||
            !config_token(p, cfg, "unk_token", &v->unk) || !config_token(p, cfg, "pad_token", &v->pad) ||
            !config_bool(p, cfg, "add_bos_token", &add_bos) || !config_bool(p, cfg, "add_eos_token", &add_eos) ||
            !config_template(p, cfg))
            return false;
    }
    v->add_bos = add_bos && v->bos >= 0;
    v->add_eos = add_eos && v->eos >= 0;
    return true;
}

/* ---------------------------------------------------------------- entry points */

static cJSON *parse_json(parser *p, const char *file, const char *text, size_t len) {
    char *copy = malloc(len + 1); /* cJSON wants a terminated string; the input may not be one */
    if (!copy) return fail_in(p, file, "out of memory"), NULL;
    memcpy(copy, text, len);
    copy[len] = 0;
    const char *end = NULL;
    cJSON *root = memchr(copy, 0, len) ? NULL : cJSON_ParseWithOpts(copy, &end, true);
    if (!root)
        fail_in(p, file, "not valid JSON (near byte %ld)", end ? (long)(end - copy) : 0L);
    else if (!cJSON_IsObject(root)) {
        fail_in(p, file, "not a JSON object");
        cJSON_Delete(root);
        root = NULL;
    }
    free(copy);
    return root;
}

static bool parse_root(parser *p, const cJSON *root, const cJSON *cfg) {
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!cJSON_IsObject(model)) return fail(p, "no 'model' object");
    char q[160];
    if (!type_is(model, "BPE"))
        return fail(p, "model type '%s' is not supported (BPE only)", type_of(model, q, sizeof q));
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    if (cJSON_IsNull(added)) added = NULL;
    if (!read_vocab(p, model, added) || !fill_holes(p) || !detect_kind(p, root, model)) return false;
    if (strcmp(p->v->model, "gpt2") == 0 && !check_byte_level_tokens(p)) return false;
    if (!build_map(p)) return false;
    if (strcmp(p->v->model, "llama") == 0) type_spm_tokens(p, model);
    return read_merges(p, model) && read_specials(p, root, cfg);
}

hf_vocab *hf_vocab_parse(const char *json, size_t len, const char *name, const char *config_json, size_t config_len,
                         const char *config_name, char *err, size_t err_len) {
    hf_vocab *v = calloc(1, sizeof *v);
    parser p = {v, name, config_name ? config_name : "tokenizer_config.json", err, err_len, {0}, 0};
    if (!v) {
        set_err(err, err_len, "%s: out of memory", name);
        return NULL;
    }
    v->bos = v->eos = v->unk = v->pad = -1;
    cJSON *root = parse_json(&p, name, json, len);
    cJSON *cfg = root && config_json ? parse_json(&p, p.config_name, config_json, config_len) : NULL;
    bool ok = root && (!config_json || cfg) && parse_root(&p, root, cfg);
    cJSON_Delete(root);
    cJSON_Delete(cfg);
    free(p.map.slots);
    if (!ok) {
        hf_vocab_free(v);
        return NULL;
    }
    return v;
}

static char *read_file(const char *path, size_t *len, bool *missing, char *err, size_t err_len) {
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        *missing = errno == ENOENT;
        set_err(err, err_len, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t used = 0, cap = 0, got;
    do {
        if (used + 65536 + 1 > cap) {
            cap = (used + 65536 + 1) * 2;
            char *nb = realloc(buf, cap);
            if (!nb) break;
            buf = nb;
        }
        got = fread(buf + used, 1, 65536, fp);
        used += got;
    } while (got == 65536);
    bool bad = ferror(fp) || !buf || used + 1 > cap;
    fclose(fp);
    if (bad) {
        free(buf);
        set_err(err, err_len, "%s: cannot read (out of memory or I/O error)", path);
        return NULL;
    }
    buf[used] = 0;
    *len = used;
    return buf;
}

static char *join_path(const char *dir, const char *file) {
    size_t n = strlen(dir) + strlen(file) + 2;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s/%s", dir, file);
    return s;
}

/* chat_template.jinja (newer transformers keep the template there) wins over the config's. */
static bool load_template_file(hf_vocab *v, const char *dir, char *err, size_t err_len) {
    char *path = join_path(dir, "chat_template.jinja");
    size_t len;
    bool missing = false;
    char *text = path ? read_file(path, &len, &missing, err, err_len) : NULL;
    free(path);
    if (!text) return missing;
    free(v->chat_template);
    v->chat_template = text;
    return true;
}

hf_vocab *hf_vocab_load(const char *dir, char *err, size_t err_len) {
    char *tok_path = join_path(dir, "tokenizer.json"), *cfg_path = join_path(dir, "tokenizer_config.json");
    size_t len = 0, cfg_len = 0;
    bool missing = false, cfg_missing = false;
    char *json = tok_path ? read_file(tok_path, &len, &missing, err, err_len) : NULL;
    char *cfg = json && cfg_path ? read_file(cfg_path, &cfg_len, &cfg_missing, err, err_len) : NULL;
    hf_vocab *v = NULL;
    if (json && (cfg || cfg_missing)) v = hf_vocab_parse(json, len, tok_path, cfg, cfg_len, cfg_path, err, err_len);
    if (v && !load_template_file(v, dir, err, err_len)) {
        hf_vocab_free(v);
        v = NULL;
    }
    free(json);
    free(cfg);
    free(tok_path);
    free(cfg_path);
    return v;
}

void hf_vocab_free(hf_vocab *v) {
    if (!v) return;
    for (int i = 0; v->tokens && i < v->n_tokens; i++)
        free(v->tokens[i]);
    for (int i = 0; i < v->n_merges; i++)
        free(v->merges[i]);
    free(v->tokens);
    free(v->types);
    free(v->scores);
    free(v->merges);
    free(v->chat_template);
    free(v);
}

int hf_vocab_n_tokens(const hf_vocab *v) { return v->n_tokens; }
const char *hf_vocab_model(const hf_vocab *v) { return v->model; }
const char *hf_vocab_pre(const hf_vocab *v) { return v->pre; }
const char *hf_vocab_token(const hf_vocab *v, int id) { return id >= 0 && id < v->n_tokens ? v->tokens[id] : NULL; }
int32_t hf_vocab_token_type(const hf_vocab *v, int id) { return id >= 0 && id < v->n_tokens ? v->types[id] : -1; }
const char *hf_vocab_chat_template(const hf_vocab *v) { return v->chat_template; }
int32_t hf_vocab_bos(const hf_vocab *v) { return v->bos; }
int32_t hf_vocab_eos(const hf_vocab *v) { return v->eos; }

bool hf_vocab_pad_to(hf_vocab *v, int n, char *err, size_t err_len) {
    if (n < v->n_tokens) {
        set_err(err, err_len, "the tokenizer has %d tokens but the model only %d embedding rows", v->n_tokens, n);
        return false;
    }
    if (n == v->n_tokens) return true;
    char **tokens = realloc(v->tokens, (size_t)n * sizeof *tokens);
    if (tokens) v->tokens = tokens;
    int32_t *types = tokens ? realloc(v->types, (size_t)n * sizeof *types) : NULL;
    if (types) v->types = types;
    float *scores = types && v->scores ? realloc(v->scores, (size_t)n * sizeof *scores) : NULL;
    if (scores) v->scores = scores;
    if (!tokens || !types || (v->scores && !scores)) {
        set_err(err, err_len, "out of memory padding the vocabulary to %d tokens", n);
        return false;
    }
    for (int id = v->n_tokens; id < n; id++) {
        char buf[32];
        snprintf(buf, sizeof buf, "[PAD%d]", id);
        if (!(v->tokens[id] = strdup(buf))) {
            v->n_tokens = id;
            set_err(err, err_len, "out of memory padding the vocabulary to %d tokens", n);
            return false;
        }
        v->types[id] = TT_UNUSED;
        if (v->scores) v->scores[id] = 0;
        v->n_tokens = id + 1;
    }
    return true;
}

void hf_vocab_to_gguf(const hf_vocab *v, gguf_writer *w) {
    gguf_writer_set_str(w, "tokenizer.ggml.model", v->model);
    if (v->pre) gguf_writer_set_str(w, "tokenizer.ggml.pre", v->pre);
    if (v->nfc) gguf_writer_set_str(w, "tokenizer.ggml.normalizer", "nfc");
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)v->tokens, (size_t)v->n_tokens);
    gguf_writer_set_arr_i32(w, "tokenizer.ggml.token_type", v->types, (size_t)v->n_tokens);
    if (v->scores) gguf_writer_set_arr_f32(w, "tokenizer.ggml.scores", v->scores, (size_t)v->n_tokens);
    if (v->merges)
        gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", (const char *const *)v->merges, (size_t)v->n_merges);
    if (v->bos >= 0) gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)v->bos);
    if (v->eos >= 0) gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)v->eos);
    if (v->unk >= 0) gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", (uint32_t)v->unk);
    if (v->pad >= 0) gguf_writer_set_u32(w, "tokenizer.ggml.padding_token_id", (uint32_t)v->pad);
    gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", v->add_bos);
    gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", v->add_eos);
    if (strcmp(v->model, "llama") == 0) gguf_writer_set_bool(w, "tokenizer.ggml.add_space_prefix", v->add_space_prefix);
    if (v->chat_template) gguf_writer_set_str(w, "tokenizer.chat_template", v->chat_template);
}
