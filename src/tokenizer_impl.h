/*
 * tokenizer_impl.h - the inside of a tokenizer, shared by its source files.
 *
 * tokenizer.c loads the vocabulary and owns everything common to all
 * algorithms (lookups, special-token splitting, pieces, decoding, streaming);
 * tokenizer_spm.c, tokenizer_bpe.c and tokenizer_wpm.c each encode one plain-text fragment;
 * tokenizer_pretok.c holds the byte-level BPE pre-tokenizers. Nothing here is
 * part of the engine's API: include tokenizer.h instead.
 */
#ifndef AION_TOKENIZER_IMPL_H
#define AION_TOKENIZER_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tokenizer.h"

/* Per-token attributes, as llama.cpp derives them from tokenizer.ggml.token_type. */
enum tok_attr {
    TOK_ATTR_UNDEFINED = 0,
    TOK_ATTR_UNKNOWN = 1 << 0,
    TOK_ATTR_UNUSED = 1 << 1,
    TOK_ATTR_NORMAL = 1 << 2,
    TOK_ATTR_CONTROL = 1 << 3,
    TOK_ATTR_USER_DEFINED = 1 << 4,
    TOK_ATTR_BYTE = 1 << 5,
    TOK_ATTR_LSTRIP = 1 << 6, /* eat whitespace left of the token when splitting it out */
    TOK_ATTR_RSTRIP = 1 << 7, /* ... and right of it */
};

/* Byte-level BPE pre-tokenizers (tokenizer.ggml.pre), one per distinct set of regexes. */
enum tok_pre {
    TOK_PRE_DEFAULT,
    TOK_PRE_GPT2,
    TOK_PRE_LLAMA3,
    TOK_PRE_QWEN2,
    TOK_PRE_DEEPSEEK_LLM,
    TOK_PRE_DEEPSEEK_CODER,
    TOK_PRE_DEEPSEEK3,
    TOK_PRE_FALCON,
    TOK_PRE_STARCODER,
    TOK_PRE_PORO,
    TOK_PRE_VIKING,
};

typedef struct tok_entry {
    uint32_t text_off, text_len;   /* into tokenizer.texts (NUL-terminated there) */
    uint32_t piece_off, piece_len; /* rendered bytes, control tokens included, into .pieces */
    float score;
    uint16_t attr;
} tok_entry;

/* A merge rule "left right"; its text (with the space) lives in tokenizer.merge_text. */
typedef struct tok_merge {
    uint32_t off;
    uint32_t left_len, right_len;
} tok_merge;

/* Open-addressing hash table of ids (stored +1; 0 marks an empty slot). */
typedef struct tok_index {
    uint32_t *slots;
    uint32_t mask;
} tok_index;

struct tokenizer {
    int kind; /* enum tok_kind */
    enum tok_pre pre;
    int32_t n_vocab;
    uint32_t max_token_len; /* longest token text in bytes (bounds WordPiece's prefix search) */
    tok_entry *tokens;
    char *texts;
    char *pieces;
    tok_index by_text;

    tok_merge *merges;
    int32_t n_merges;
    char *merge_text;
    tok_index by_pair;

    int32_t bos, eos, unk, pad, eot, eom;
    bool add_bos, add_eos, add_space_prefix, ignore_merges, clean_spaces;
    bool nfc; /* tokenizer.ggml.normalizer "nfc": plain text is put in NFC before encoding */

    int32_t *specials; /* control, user-defined and unknown tokens, longest text first */
    int32_t n_specials;
    int32_t special_of_byte[256];  /* position in specials of a one-byte special token, or -1 */
    int32_t *special_bucket_start; /* longer ones by a hash of their first two bytes */
    int32_t *special_bucket_items;
    int32_t *eog;
    int32_t n_eog;
    int32_t byte_token[256]; /* SentencePiece byte fallback: <0xNN> (or the byte itself), -1 */
    /* SentencePiece: ASCII characters that no multi-character piece contains. No merge can
     * cross one, so the text is merged in independent segments between them (same result,
     * a small queue instead of one over the whole text). */
    bool spm_barrier[128];
};

/* A growing list of ids; `failed` records an allocation failure (the list stops growing). */
typedef struct tok_ids {
    int32_t *v;
    size_t n, cap;
    bool failed;
} tok_ids;

void tok_ids_push(tok_ids *ids, int32_t id);

static inline const char *tok_text(const tokenizer *t, int32_t id) {
    return t->texts + t->tokens[id].text_off;
}

/* Id of the token whose text is exactly s[0..len), or -1. */
int32_t tok_lookup(const tokenizer *t, const char *s, size_t len);
/* Rank of the merge rule (left, right), or -1. */
int32_t tok_merge_rank(const tokenizer *t, const char *left, size_t left_len, const char *right,
                       size_t right_len);

/* A span of the input: plain text (id < 0) or one special token. */
typedef struct tok_frag {
    size_t off, len;
    int32_t id;
} tok_frag;

typedef struct tok_frags {
    tok_frag *v;
    size_t n, cap;
    bool failed;
} tok_frags;

/* tokenizer_special.c: the special-token list (longest first) and its index, built at load;
 * splitting text into plain fragments and special tokens. False when out of memory. */
bool tok_build_specials(tokenizer *t);
bool tok_split_specials(const tokenizer *t, const char *text, size_t len, bool parse_special, tok_frags *fs);

/* tokenizer_decode.c: every token's piece, computed at load. False when out of memory. */
bool tok_build_pieces(tokenizer *t);

/* A symbol of a word being merged: bytes [off, off+n) of the word; n == 0 once merged away. */
typedef struct tok_symbol {
    uint32_t off, n;
    int32_t prev, next;
} tok_symbol;

/* A candidate merge of symbols left and right into size bytes. key orders the queue (smallest
 * first) and ends with the left index, so equal priorities resolve leftmost first. */
typedef struct tok_bigram {
    uint64_t key;
    int32_t left, right;
    uint32_t size;
} tok_bigram;

typedef struct tok_heap {
    tok_bigram *v;
    size_t n, cap;
    bool failed;
} tok_heap;

void tok_heap_push(tok_heap *h, tok_bigram b);
bool tok_heap_pop(tok_heap *h, tok_bigram *out);

/* Splits text[0..len) into symbols of one UTF-8 character each (judged by the lead byte). Returns
 * the count, or -1 when out of memory; *syms is grown as needed. */
int32_t tok_split_chars(const char *text, size_t len, tok_symbol **syms, size_t *cap);

/* The pieces SentencePiece merging may produce: not control, unknown or byte tokens. */
static inline bool tok_is_mergeable(const tokenizer *t, int32_t id) {
    return !(t->tokens[id].attr & (TOK_ATTR_CONTROL | TOK_ATTR_UNKNOWN | TOK_ATTR_BYTE));
}

/* Encode one fragment of plain text (no special tokens in it) onto out. Return false only when
 * memory runs out. */
bool spm_encode(const tokenizer *t, const char *text, size_t len, bool space_prefix, tok_ids *out);
bool bpe_encode(const tokenizer *t, const char *text, size_t len, tok_ids *out);
/* tokenizer_wpm.c: WordPiece (BERT); the kind is TOK_KIND_WPM. */
bool wpm_encode(const tokenizer *t, const char *text, size_t len, tok_ids *out);

/* A growing list of sizes (word lengths in code points). */
typedef struct tok_sizes {
    size_t *v;
    size_t n, cap;
    bool failed;
} tok_sizes;

/* Splits code points cps[0..n) (props[i] = uni_props(cps[i])) into words as pre-tokenizer pre
 * does: on return words holds the word lengths, in order, summing to n. False when out of memory. */
bool pretok_split(enum tok_pre pre, const uint32_t *cps, const uint8_t *props, size_t n,
                  tok_sizes *words);

#endif
