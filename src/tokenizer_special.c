/*
 * tokenizer_special.c - finding special tokens written in the input text.
 *
 * Before SentencePiece or BPE see any text, llama.cpp cuts special tokens out
 * of it: longest token text first, each one at every leftmost non-overlapping
 * occurrence within the text the longer ones left, user-defined tokens always,
 * control and unknown tokens only when the caller parses specials. We keep
 * that order exactly (it decides which of two overlapping tokens wins) but
 * first find, in one pass over the text, which special tokens occur in it at
 * all, so a vocabulary with thousands of specials (DeepSeek has 2400) costs
 * one scan instead of thousands of searches.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer_impl.h"

#define N_BUCKETS 4096

/* ---------------------------------------------------------------- the list and its index */

typedef struct special_key {
    uint32_t len;
    int32_t id;
} special_key;

static int by_length_desc(const void *a, const void *b) {
    const special_key *x = a, *y = b;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id; /* equal lengths keep id order: deterministic splits */
}

static bool is_special(const tok_entry *e) {
    const uint16_t special = TOK_ATTR_CONTROL | TOK_ATTR_USER_DEFINED | TOK_ATTR_UNKNOWN;
    return (e->attr & special) && e->text_len > 0;
}

/* Tokens of two bytes or more are indexed by their first two bytes. */
static uint32_t bucket_of(const char *s) {
    uint32_t pair = (uint32_t)(unsigned char)s[0] << 8 | (unsigned char)s[1];
    return (pair * 2654435761u) >> 20; /* N_BUCKETS = 2^12 */
}

static bool build_list(tokenizer *t) {
    int32_t n = 0;
    for (int32_t i = 0; i < t->n_vocab; i++) n += is_special(&t->tokens[i]);
    special_key *keys = malloc((n ? n : 1) * sizeof *keys);
    t->specials = malloc((n ? n : 1) * sizeof *t->specials);
    if (!keys || !t->specials) {
        free(keys);
        return false;
    }
    for (int32_t i = 0; i < t->n_vocab; i++)
        if (is_special(&t->tokens[i])) keys[t->n_specials++] = (special_key){t->tokens[i].text_len, i};
    qsort(keys, (size_t)n, sizeof *keys, by_length_desc);
    for (int32_t i = 0; i < n; i++) t->specials[i] = keys[i].id;
    free(keys);
    return true;
}

/* Counting sort of the list positions into buckets: start[b]..start[b+1] index into items. */
static bool build_index(tokenizer *t) {
    t->special_bucket_start = calloc(N_BUCKETS + 1, sizeof *t->special_bucket_start);
    t->special_bucket_items = malloc((t->n_specials ? t->n_specials : 1) * sizeof *t->special_bucket_items);
    if (!t->special_bucket_start || !t->special_bucket_items) return false;
    for (int b = 0; b < 256; b++) t->special_of_byte[b] = -1;
    for (int32_t k = 0; k < t->n_specials; k++) {
        const tok_entry *e = &t->tokens[t->specials[k]];
        if (e->text_len == 1) t->special_of_byte[(unsigned char)tok_text(t, t->specials[k])[0]] = k;
        else t->special_bucket_start[bucket_of(tok_text(t, t->specials[k])) + 1]++;
    }
    for (int b = 0; b < N_BUCKETS; b++) t->special_bucket_start[b + 1] += t->special_bucket_start[b];
    int32_t *fill = malloc(N_BUCKETS * sizeof *fill);
    if (!fill) return false;
    memcpy(fill, t->special_bucket_start, N_BUCKETS * sizeof *fill);
    for (int32_t k = 0; k < t->n_specials; k++) {
        const char *s = tok_text(t, t->specials[k]);
        if (t->tokens[t->specials[k]].text_len > 1) t->special_bucket_items[fill[bucket_of(s)]++] = k;
    }
    free(fill);
    return true;
}

bool tok_build_specials(tokenizer *t) { return build_list(t) && build_index(t); }

/* found[k] = 1 when specials[k] occurs somewhere in text. */
static void find_present(const tokenizer *t, const char *text, size_t len, uint8_t *found) {
    for (size_t i = 0; i < len; i++) {
        int32_t single = t->special_of_byte[(unsigned char)text[i]];
        if (single >= 0) found[single] = 1;
        if (i + 1 >= len) break;
        uint32_t b = bucket_of(text + i);
        for (int32_t j = t->special_bucket_start[b]; j < t->special_bucket_start[b + 1]; j++) {
            int32_t k = t->special_bucket_items[j];
            const tok_entry *e = &t->tokens[t->specials[k]];
            if (!found[k] && e->text_len <= len - i && memcmp(text + i, t->texts + e->text_off, e->text_len) == 0)
                found[k] = 1;
        }
    }
}

/* ---------------------------------------------------------------- splitting */

static void frags_push(tok_frags *fs, size_t off, size_t len, int32_t id) {
    if (fs->failed) return;
    if (fs->n == fs->cap) {
        size_t cap = fs->cap ? fs->cap * 2 : 16;
        tok_frag *v = realloc(fs->v, cap * sizeof *v);
        if (!v) {
            fs->failed = true;
            return;
        }
        fs->v = v;
        fs->cap = cap;
    }
    fs->v[fs->n++] = (tok_frag){off, len, id};
}

static bool is_c_space(char ch) { return isspace((unsigned char)ch) != 0; }

/* Splits one text fragment at every (leftmost, non-overlapping) occurrence of token id; tokens
 * marked LSTRIP/RSTRIP also swallow the whitespace beside them. */
static void split_fragment(const tokenizer *t, const char *text, tok_frag frag, int32_t id, tok_frags *out) {
    const tok_entry *e = &t->tokens[id];
    const char *needle = t->texts + e->text_off;
    size_t off = frag.off, len = frag.len;
    while (len > 0) {
        const char *hit = memmem(text + off, len, needle, e->text_len);
        if (!hit) {
            frags_push(out, off, len, -1);
            return;
        }
        size_t left = (size_t)(hit - (text + off));
        if (e->attr & TOK_ATTR_LSTRIP)
            while (left > 0 && is_c_space(text[off + left - 1])) left--;
        if (left > 0) frags_push(out, off, left, -1);
        frags_push(out, 0, 0, id);
        size_t right_off = (size_t)(hit - text) + e->text_len;
        size_t right_len = off + len - right_off;
        if (e->attr & TOK_ATTR_RSTRIP)
            while (right_len > 0 && is_c_space(text[right_off])) right_off++, right_len--;
        off = right_off, len = right_len;
    }
}

/* Replaces every text fragment of fs by its split at token id (next is scratch space). */
static void split_all(const tokenizer *t, const char *text, int32_t id, tok_frags *fs, tok_frags *next) {
    next->n = 0;
    for (size_t i = 0; i < fs->n; i++) {
        if (fs->v[i].id >= 0) frags_push(next, 0, 0, fs->v[i].id);
        else split_fragment(t, text, fs->v[i], id, next);
    }
    tok_frags swap = *fs;
    *fs = *next;
    *next = swap;
    fs->failed |= next->failed;
}

bool tok_split_specials(const tokenizer *t, const char *text, size_t len, bool parse_special, tok_frags *fs) {
    const uint16_t needs_parse = TOK_ATTR_CONTROL | TOK_ATTR_UNKNOWN;
    tok_frags next = {0};
    fs->n = 0;
    if (len == 0) return true;
    frags_push(fs, 0, len, -1);
    if (t->n_specials == 0) return !fs->failed;
    uint8_t *found = calloc((size_t)t->n_specials, 1);
    if (!found) return false;
    find_present(t, text, len, found);
    for (int32_t k = 0; k < t->n_specials && !fs->failed; k++) {
        int32_t id = t->specials[k];
        if (!found[k] || (!parse_special && (t->tokens[id].attr & needs_parse))) continue;
        split_all(t, text, id, fs, &next);
    }
    free(next.v);
    free(found);
    return !fs->failed;
}
