/*
 * tokenizer_spm.c - SentencePiece encoding of one plain-text fragment.
 *
 * llama.cpp's llm_tokenizer_spm algorithm, which is SentencePiece's BPE
 * encoder: spaces become U+2581 (with one prefixed when asked), the text is cut
 * into UTF-8 characters, and the adjacent pair whose concatenation is the
 * highest-scoring vocabulary piece merges first (ties: leftmost), until no pair
 * forms a piece. Characters left without a piece fall back to byte tokens
 * <0xNN>. Like SentencePiece itself (and unlike llama.cpp), control, unknown and
 * byte tokens are never produced by merging, so "<s>" typed in the text stays
 * text; on ordinary text the ids are llama.cpp's.
 */
#include <stdlib.h>
#include <string.h>

#include "tokenizer_impl.h"

static const char ESCAPED_SPACE[3] = {'\xe2', '\x96', '\x81'}; /* U+2581 */

typedef struct spm_session {
    const tokenizer *t;
    char *text;
    size_t text_len;
    tok_symbol *syms;
    size_t syms_cap;
    tok_heap heap;
} spm_session;

/* Copies (optional space +) text with every space replaced by U+2581. */
static bool escape_spaces(spm_session *s, const char *text, size_t len, bool space_prefix) {
    size_t spaces = space_prefix;
    for (size_t i = 0; i < len; i++) spaces += text[i] == ' ';
    size_t out_len = len + space_prefix + 2 * spaces;
    s->text = malloc(out_len ? out_len : 1);
    if (!s->text) return false;
    char *o = s->text;
    if (space_prefix) memcpy(o, ESCAPED_SPACE, 3), o += 3;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') memcpy(o, ESCAPED_SPACE, 3), o += 3;
        else *o++ = text[i];
    }
    s->text_len = out_len;
    return true;
}

/* A vocabulary piece that merging may produce (SentencePiece's "normal" pieces). */
static int32_t mergeable_piece(const tokenizer *t, const char *s, size_t len) {
    int32_t id = tok_lookup(t, s, len);
    return id >= 0 && tok_is_mergeable(t, id) ? id : -1;
}

/* Queue keys are ascending, so map the score to an unsigned key where higher scores come first. */
static uint64_t score_key(float score, int32_t left) {
    uint32_t bits;
    if (score == 0.0f) score = 0.0f; /* -0 and +0 compare equal as floats */
    memcpy(&bits, &score, sizeof bits);
    uint32_t ascending = (bits & 0x80000000u) ? ~bits : bits | 0x80000000u;
    return (uint64_t)(~ascending) << 32 | (uint32_t)left;
}

static void try_add_bigram(spm_session *s, int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const tok_symbol *l = &s->syms[left], *r = &s->syms[right];
    int32_t id = mergeable_piece(s->t, s->text + l->off, l->n + r->n);
    if (id < 0) return;
    tok_heap_push(&s->heap, (tok_bigram){score_key(s->t->tokens[id].score, left), left, right, l->n + r->n});
}

static bool is_barrier(const spm_session *s, int32_t i) {
    unsigned char c = (unsigned char)s->text[s->syms[i].off];
    return c < 128 && s->t->spm_barrier[c];
}

/* Merges symbols [first, last) as far as the vocabulary allows. */
static void merge_segment(spm_session *s, int32_t first, int32_t last) {
    tok_bigram b;
    s->heap.n = 0;
    for (int32_t i = first + 1; i < last; i++) try_add_bigram(s, i - 1, i);
    while (tok_heap_pop(&s->heap, &b)) {
        tok_symbol *l = &s->syms[b.left], *r = &s->syms[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size) continue; /* stale: a side changed */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) s->syms[r->next].prev = b.left;
        try_add_bigram(s, l->prev, b.left);
        try_add_bigram(s, b.left, l->next);
    }
}

/* Segments end at barrier characters, which stay single symbols; the links between segments are
 * untouched by merging, so the symbol chain still runs through the whole text. */
static void merge_all(spm_session *s, int32_t n_syms) {
    int32_t first = 0;
    for (int32_t i = 0; i < n_syms; i++) {
        if (!is_barrier(s, i)) continue;
        merge_segment(s, first, i);
        first = i + 1;
    }
    merge_segment(s, first, n_syms);
}

/* A symbol that is no piece becomes its bytes (<0xNN>, else the unknown token, else nothing). */
static void emit_symbol(const spm_session *s, const tok_symbol *sym, tok_ids *out) {
    const char *text = s->text + sym->off;
    int32_t id = mergeable_piece(s->t, text, sym->n);
    if (id >= 0) {
        tok_ids_push(out, id);
        return;
    }
    for (uint32_t i = 0; i < sym->n; i++) {
        int32_t byte_id = s->t->byte_token[(unsigned char)text[i]];
        if (byte_id < 0) byte_id = s->t->unk;
        if (byte_id >= 0) tok_ids_push(out, byte_id);
    }
}

bool spm_encode(const tokenizer *t, const char *text, size_t len, bool space_prefix, tok_ids *out) {
    spm_session s = {.t = t};
    bool ok = escape_spaces(&s, text, len, space_prefix);
    int32_t n = ok ? tok_split_chars(s.text, s.text_len, &s.syms, &s.syms_cap) : -1;
    ok = n >= 0;
    if (ok && n > 0) {
        merge_all(&s, n);
        for (int32_t i = 0; i >= 0; i = s.syms[i].next) emit_symbol(&s, &s.syms[i], out);
    }
    ok = ok && !s.heap.failed;
    free(s.text);
    free(s.syms);
    free(s.heap.v);
    return ok;
}
