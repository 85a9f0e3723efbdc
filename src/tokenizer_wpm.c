/*
 * tokenizer_wpm.c - WordPiece (BERT) encoding of one plain-text fragment, the
 * tokenizer llama.cpp calls "WPM" (tokenizer.ggml.model = "bert").
 *
 * The text is first cut into words the way llama.cpp's BERT pre-processing
 * does: every code point is replaced by the first code point of its canonical
 * decomposition (which drops accents: "é" -> "e") and lowercased; white space
 * separates words; NUL, U+FFFD and control/format/unassigned code points are
 * dropped; punctuation, ASCII symbols and CJK ideographs each become a word of
 * their own. Each word is then matched greedily, longest vocabulary entry
 * first, from left to right. llama.cpp's converter stores word-initial pieces
 * with SentencePiece's "▁" in front and continuation pieces bare (without
 * BERT's "##"), so the word is matched with "▁" prepended. A word that cannot be
 * covered completely becomes the unknown token as a whole.
 *
 * Matching is over bytes, not code points, exactly like the reference: the
 * vocabulary only holds whole characters, so a cut inside one simply finds
 * nothing and the next shorter candidate is tried.
 */
#include <stdlib.h>
#include <string.h>

#include "tokenizer_impl.h"
#include "unicode.h"

/* U+2581, the word-start marker the GGUF vocabulary carries. */
static const char WORD_START[] = "\xe2\x96\x81";
#define WORD_START_LEN 3

#define HANGUL_S 0xAC00u
#define HANGUL_S_COUNT 11172u
#define HANGUL_L 0x1100u
#define HANGUL_N_COUNT 588u /* vowel count * trailing count */

/* First code point of cp's full canonical decomposition (cp itself when it has none).
 * llama.cpp's "NFD" table is exactly this one-to-one map, so the marks that follow the
 * base letter in the decomposition are lost rather than kept as separate code points. */
static uint32_t decomp_first(uint32_t cp) {
    if (cp >= HANGUL_S && cp < HANGUL_S + HANGUL_S_COUNT) return HANGUL_L + (cp - HANGUL_S) / HANGUL_N_COUNT;
    size_t lo = 0, hi = uni_n_decomps;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (uni_decomps[mid].cp < cp) lo = mid + 1;
        else hi = mid;
    }
    if (lo == uni_n_decomps || uni_decomps[lo].cp != cp || uni_decomps[lo].len == 0) return cp;
    return uni_decomp_pool[uni_decomps[lo].off];
}

/* The CJK ideograph blocks BERT isolates. The range starting at U+2B920 (not U+2B820) is
 * what Hugging Face's Rust code, and therefore the reference, uses. */
static bool is_cjk(uint32_t cp) {
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
           (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) ||
           (cp >= 0x2B920 && cp <= 0x2CEAF) || (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

static bool is_other(uint8_t p) {
    p &= UNI_GC_MASK;
    return p == UNI_Cn || p >= UNI_Cc;
}

/* A growing byte buffer for the current word (with its "▁" in front). */
typedef struct wpm_word {
    char *v;
    size_t n, cap;
    bool failed;
} wpm_word;

static void word_append(wpm_word *w, const char *s, size_t n) {
    if (w->failed) return;
    if (w->n + n > w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        while (cap < w->n + n) cap *= 2;
        char *v = realloc(w->v, cap);
        if (!v) {
            w->failed = true;
            return;
        }
        w->v = v, w->cap = cap;
    }
    memcpy(w->v + w->n, s, n);
    w->n += n;
}

/* Greedy longest-prefix match of w (which starts with "▁"); all or nothing, then [UNK]. */
static void match_word(const tokenizer *t, const wpm_word *w, tok_ids *ids) {
    size_t n = w->n, start = ids->n;
    if (n <= WORD_START_LEN) return;
    for (size_t i = 0; i < n;) {
        size_t j = n - i > t->max_token_len ? i + t->max_token_len : n;
        int32_t id = -1;
        for (; j > i; j--)
            if ((id = tok_lookup(t, w->v + i, j - i)) >= 0) break;
        if (id < 0) {
            ids->n = start; /* one unmatched piece discards the whole word */
            break;
        }
        tok_ids_push(ids, id);
        i = j;
    }
    if (ids->n == start) tok_ids_push(ids, t->unk);
}

static void end_word(const tokenizer *t, wpm_word *w, tok_ids *ids) {
    match_word(t, w, ids);
    w->n = WORD_START_LEN;
}

bool wpm_encode(const tokenizer *t, const char *text, size_t len, tok_ids *ids) {
    wpm_word w = {0};
    word_append(&w, WORD_START, WORD_START_LEN);
    for (size_t i = 0; i < len && !w.failed && !ids->failed;) {
        size_t adv;
        uint32_t cp = decomp_first(uni_decode(text + i, len - i, &adv));
        i += adv;
        uint8_t p = uni_props(cp);
        if (uni_is_space(p)) {
            end_word(t, &w, ids);
            continue;
        }
        if (cp == 0 || cp == UNI_REPLACEMENT || is_other(p)) continue;
        char utf8[4];
        int n = uni_encode(uni_tolower(cp), utf8);
        if (uni_is_punct(p) || (cp < 0x7F && uni_is_symbol(p)) || is_cjk(cp)) {
            end_word(t, &w, ids);
            word_append(&w, utf8, (size_t)n);
            end_word(t, &w, ids);
        } else {
            word_append(&w, utf8, (size_t)n);
        }
    }
    if (!w.failed) match_word(t, &w, ids);
    bool ok = !w.failed && !ids->failed;
    free(w.v);
    return ok;
}
