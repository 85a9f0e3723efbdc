/*
 * tokenizer_bpe.c - byte-level BPE encoding of one plain-text fragment.
 *
 * GPT-2's scheme as llama.cpp runs it: the text is decoded into code points
 * (malformed bytes become U+FFFD), cut into words by the pre-tokenizer
 * (tokenizer_pretok.c), each word's UTF-8 bytes are spelled in the byte-level
 * alphabet (every byte a printable character), and within a word the adjacent
 * pair with the lowest merge rank joins first (ties: leftmost) until no rule
 * applies. A final symbol that is not in the vocabulary falls back to the
 * tokens of its single bytes, where they exist.
 */
#include <stdlib.h>
#include <string.h>

#include "tokenizer_impl.h"
#include "unicode.h"

typedef struct bpe_session {
    const tokenizer *t;
    uint32_t *cps;
    uint8_t *props;
    size_t n_cps;
    tok_sizes words;
    char *word;        /* the current word in the byte-level alphabet */
    size_t word_cap;
    tok_symbol *syms;
    size_t syms_cap;
    tok_heap heap;
} bpe_session;

static bool decode_text(bpe_session *s, const char *text, size_t len) {
    s->cps = malloc((len ? len : 1) * sizeof *s->cps);
    s->props = malloc(len ? len : 1);
    if (!s->cps || !s->props) return false;
    size_t n = 0;
    for (size_t off = 0, adv; off < len; off += adv) {
        s->cps[n] = uni_decode(text + off, len - off, &adv);
        s->props[n] = uni_props(s->cps[n]);
        n++;
    }
    s->n_cps = n;
    return true;
}

/* Spells code points [first, first+count) byte by byte in the byte-level alphabet (each byte
 * becomes a 2-byte character at most). Returns the spelled length, or 0 when out of memory. */
static size_t spell_word(bpe_session *s, size_t first, size_t count) {
    size_t need = count * 8;
    if (s->word_cap < need) {
        char *w = realloc(s->word, need);
        if (!w) return 0;
        s->word = w;
        s->word_cap = need;
    }
    size_t n = 0;
    for (size_t i = first; i < first + count; i++) {
        char utf8[4];
        int len = uni_encode(s->cps[i], utf8);
        for (int k = 0; k < len; k++) n += (size_t)uni_encode(uni_byte_to_cp((uint8_t)utf8[k]), s->word + n);
    }
    return n;
}

static void add_bigram(bpe_session *s, int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const tok_symbol *l = &s->syms[left], *r = &s->syms[right];
    int32_t rank = tok_merge_rank(s->t, s->word + l->off, l->n, s->word + r->off, r->n);
    if (rank < 0) return;
    tok_heap_push(&s->heap, (tok_bigram){(uint64_t)rank << 32 | (uint32_t)left, left, right, l->n + r->n});
}

static void merge_all(bpe_session *s, int32_t n_syms) {
    tok_bigram b;
    s->heap.n = 0;
    for (int32_t i = 1; i < n_syms; i++) add_bigram(s, i - 1, i);
    while (tok_heap_pop(&s->heap, &b)) {
        tok_symbol *l = &s->syms[b.left], *r = &s->syms[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size) continue; /* stale: a side changed */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) s->syms[r->next].prev = b.left;
        add_bigram(s, l->prev, b.left);
        add_bigram(s, b.left, l->next);
    }
}

static void emit_symbol(const bpe_session *s, const tok_symbol *sym, tok_ids *out) {
    const char *text = s->word + sym->off;
    int32_t id = tok_lookup(s->t, text, sym->n);
    if (id >= 0) {
        tok_ids_push(out, id);
        return;
    }
    for (uint32_t i = 0; i < sym->n; i++) {
        int32_t byte_id = tok_lookup(s->t, text + i, 1);
        if (byte_id >= 0) tok_ids_push(out, byte_id);
    }
}

static bool encode_word(bpe_session *s, size_t first, size_t count, tok_ids *out) {
    size_t len = spell_word(s, first, count);
    if (len == 0) return false;
    if (s->t->ignore_merges) {
        /* Llama 3 style: a word that is a whole token is taken as is, merges or not. */
        int32_t id = tok_lookup(s->t, s->word, len);
        if (id >= 0) {
            tok_ids_push(out, id);
            return true;
        }
    }
    int32_t n = tok_split_chars(s->word, len, &s->syms, &s->syms_cap);
    if (n < 0) return false;
    merge_all(s, n);
    for (int32_t i = 0; i >= 0; i = s->syms[i].next) emit_symbol(s, &s->syms[i], out);
    return !s->heap.failed;
}

bool bpe_encode(const tokenizer *t, const char *text, size_t len, tok_ids *out) {
    bpe_session s = {.t = t};
    bool ok = decode_text(&s, text, len) && pretok_split(t->pre, s.cps, s.props, s.n_cps, &s.words);
    for (size_t w = 0, first = 0; ok && w < s.words.n; first += s.words.v[w++])
        ok = encode_word(&s, first, s.words.v[w], out);
    free(s.cps);
    free(s.props);
    free(s.words.v);
    free(s.word);
    free(s.syms);
    free(s.heap.v);
    return ok;
}
