/*
 * tokenizer_decode.c - from ids back to bytes: token pieces, whole-sequence
 * decoding and the streaming decoder.
 *
 * Every token's piece (the bytes it stands for, control tokens rendered as
 * their text) is computed once at load, as llama.cpp caches them, so the hot
 * per-token path is a lookup and a copy. Whole-sequence decoding reproduces
 * llama_detokenize: the first piece loses one leading space when the
 * tokenizer prefixes one while encoding, and BPE vocabularies that ask for it
 * get the same "clean up tokenization spaces" pass. The stream does neither:
 * it emits raw pieces, holding back only an unfinished UTF-8 sequence.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer_impl.h"
#include "unicode.h"

/* ---------------------------------------------------------------- building pieces */

typedef struct byte_buf {
    char *v;
    size_t n, cap;
    bool failed;
} byte_buf;

static void buf_append(byte_buf *b, const char *s, size_t len) {
    if (b->failed || len == 0) return;
    if (b->n + len > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + len) cap *= 2;
        char *v = realloc(b->v, cap);
        if (!v) {
            b->failed = true;
            return;
        }
        b->v = v;
        b->cap = cap;
    }
    memcpy(b->v + b->n, s, len);
    b->n += len;
}

/* SentencePiece text: U+2581 stands for a space. */
static void append_unescaped(byte_buf *b, const char *s, size_t len) {
    size_t start = 0;
    for (size_t i = 0; i + 2 < len; i++) {
        if (s[i] == '\xe2' && s[i + 1] == '\x96' && s[i + 2] == '\x81') {
            buf_append(b, s + start, i - start);
            buf_append(b, " ", 1);
            i += 2;
            start = i + 1;
        }
    }
    buf_append(b, s + start, len - start);
}

/* Byte-level BPE text: each character stands for one byte. A character outside that alphabet
 * is written the way llama.cpp writes it: [UNK_BYTE_0x<its utf-8 in hex><the token text>]. */
static void append_byte_level(byte_buf *b, const char *s, size_t len) {
    for (size_t off = 0, adv; off < len; off += adv) {
        uint32_t cp = uni_decode(s + off, len - off, &adv);
        int byte = uni_cp_to_byte(cp);
        if (byte >= 0) {
            char c = (char)byte;
            buf_append(b, &c, 1);
            continue;
        }
        char utf8[4], hex[16];
        int n = uni_encode(cp, utf8);
        buf_append(b, "[UNK_BYTE_0x", 12);
        for (int k = 0; k < n; k++) {
            snprintf(hex, sizeof hex, "%02x", (unsigned char)utf8[k]);
            buf_append(b, hex, 2);
        }
        buf_append(b, s, len);
        buf_append(b, "]", 1);
    }
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* <0xNN> -> the byte NN (malformed names read as far as they are hex, like strtol). */
static char byte_of_name(const char *s, size_t len) {
    int value = 0;
    for (size_t i = 3; i < 5 && i < len && hex_digit(s[i]) >= 0; i++) value = value * 16 + hex_digit(s[i]);
    return (char)value;
}

static void append_piece(const tokenizer *t, int32_t id, byte_buf *b) {
    const tok_entry *e = &t->tokens[id];
    const char *s = tok_text(t, id);
    if (e->attr & (TOK_ATTR_UNKNOWN | TOK_ATTR_CONTROL | TOK_ATTR_USER_DEFINED)) {
        buf_append(b, s, e->text_len);
    } else if (e->attr & TOK_ATTR_NORMAL) {
        if (t->kind != TOK_KIND_BPE) append_unescaped(b, s, e->text_len);
        else append_byte_level(b, s, e->text_len);
    } else if (e->attr & TOK_ATTR_BYTE) {
        char c = byte_of_name(s, e->text_len);
        buf_append(b, &c, 1);
    }
    /* unused and undefined tokens stand for nothing */
}

bool tok_build_pieces(tokenizer *t) {
    byte_buf b = {0};
    for (int32_t id = 0; id < t->n_vocab; id++) {
        size_t start = b.n;
        append_piece(t, id, &b);
        t->tokens[id].piece_off = (uint32_t)start;
        t->tokens[id].piece_len = (uint32_t)(b.n - start);
        if (b.n > 0xffffffffu) b.failed = true;
    }
    if (b.failed) {
        free(b.v);
        return false;
    }
    t->pieces = b.v ? b.v : malloc(1);
    return t->pieces != NULL;
}

/* ---------------------------------------------------------------- pieces */

static const char *piece_of(const tokenizer *t, int32_t id, bool render_special, size_t *len) {
    const tok_entry *e = &t->tokens[id];
    if (!render_special && (e->attr & (TOK_ATTR_UNKNOWN | TOK_ATTR_CONTROL))) {
        *len = 0;
        return "";
    }
    *len = e->piece_len;
    return t->pieces + e->piece_off;
}

int tokenizer_token_piece(const tokenizer *t, int32_t id, bool render_special, char *buf, int buf_len) {
    size_t len;
    if (!t || id < 0 || id >= t->n_vocab) return -1;
    const char *p = piece_of(t, id, render_special, &len);
    if (buf && buf_len > 0) memcpy(buf, p, len < (size_t)buf_len ? len : (size_t)buf_len);
    return (int)len;
}

/* ---------------------------------------------------------------- whole-sequence decoding */

/* Removes the space before ?!., : " ?" -> "?". */
static size_t clean_punctuation(char *s, size_t n) {
    size_t out = n ? 1 : 0;
    for (size_t i = 1; i < n; i++) {
        char x = s[i];
        if (s[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) out--;
        s[out++] = x;
    }
    return out;
}

/* " ' " -> "'" */
static size_t clean_lone_apostrophe(char *s, size_t n) {
    size_t out = n ? 1 : 0;
    for (size_t i = 1; i < n; i++) {
        char x = s[i];
        if (x == '\'' && i + 1 < n && s[i - 1] == ' ' && s[i + 1] == ' ') {
            out--;
            s[++i] = '\0'; /* the space after goes too: it is overwritten, then skipped */
        }
        s[out++] = x;
    }
    return out;
}

/* " 's" " 'm" " 're" " 've" -> "'s" ... (" 't", " 'd", " 'll" keep their space) */
static size_t clean_contractions(char *s, size_t n) {
    size_t out = n ? 1 : 0;
    for (size_t i = 1; i < n; i++) {
        char x = s[i];
        if (s[i - 1] == ' ' && x == '\'' && i + 1 < n) {
            char x1 = s[i + 1];
            if (x1 == 's' || x1 == 'm') out--;
            else if (i + 2 < n && ((x1 == 'r' && s[i + 2] == 'e') || (x1 == 'v' && s[i + 2] == 'e'))) out--;
        }
        s[out++] = x;
    }
    return out;
}

/* llama.cpp's clean_up_tokenization_spaces, three passes over the bytes in place. */
static size_t clean_spaces(char *s, size_t n) {
    n = clean_punctuation(s, n);
    n = clean_lone_apostrophe(s, n);
    return clean_contractions(s, n);
}

char *tokenizer_decode(const tokenizer *t, const int32_t *ids, int n_ids, bool render_special) {
    size_t total = 0, len;
    if (!t || n_ids < 0 || (!ids && n_ids > 0)) return NULL;
    for (int i = 0; i < n_ids; i++) {
        if (ids[i] < 0 || ids[i] >= t->n_vocab) return NULL;
        piece_of(t, ids[i], render_special, &len);
        total += len;
    }
    char *out = malloc(total + 1), *o = out;
    if (!out) return NULL;
    for (int i = 0; i < n_ids; i++) {
        const char *p = piece_of(t, ids[i], render_special, &len);
        /* the space SentencePiece prefixed while encoding: only the first token's, once */
        if (i == 0 && t->add_space_prefix && len > 0 && p[0] == ' ') p++, len--;
        memcpy(o, p, len);
        o += len;
    }
    size_t n = (size_t)(o - out);
    if (t->clean_spaces) n = clean_spaces(out, n);
    out[n] = '\0';
    return out;
}

/* ---------------------------------------------------------------- streaming */

struct tok_stream {
    const tokenizer *t;
    bool render_special;
    char *buf;
    size_t cap;
    char held[4]; /* the start of a UTF-8 sequence still waiting for its last bytes */
    size_t n_held;
};

tok_stream *tok_stream_new(const tokenizer *t, bool render_special) {
    tok_stream *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->t = t;
    s->render_special = render_special;
    return s;
}

void tok_stream_free(tok_stream *s) {
    if (!s) return;
    free(s->buf);
    free(s);
}

/* Bytes at the end of s[0..n) that begin a UTF-8 sequence not yet complete (0..3). */
static size_t unfinished_tail(const char *s, size_t n) {
    for (size_t back = 1; back <= 4 && back <= n; back++) {
        unsigned char c = (unsigned char)s[n - back];
        if ((c & 0xc0) == 0x80) continue; /* continuation: keep looking for the lead */
        size_t need = c >= 0xf0 && c <= 0xf7 ? 4 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xc0 && c <= 0xdf ? 2 : 1;
        return need > back ? back : 0;
    }
    return 0;
}

static bool reserve(tok_stream *s, size_t need) {
    if (s->cap >= need) return true;
    size_t cap = s->cap ? s->cap : 256;
    while (cap < need) cap *= 2;
    char *b = realloc(s->buf, cap);
    if (!b) return false;
    s->buf = b;
    s->cap = cap;
    return true;
}

const char *tok_stream_push(tok_stream *s, int32_t id, size_t *out_len) {
    size_t len = 0;
    *out_len = 0;
    if (!s) return "";
    const char *p = id >= 0 && id < s->t->n_vocab ? piece_of(s->t, id, s->render_special, &len) : "";
    if (!reserve(s, s->n_held + len + 1)) return "";
    memcpy(s->buf, s->held, s->n_held);
    memcpy(s->buf + s->n_held, p, len);
    size_t n = s->n_held + len;
    size_t keep = unfinished_tail(s->buf, n);
    memcpy(s->held, s->buf + n - keep, keep);
    s->n_held = keep;
    *out_len = n - keep;
    return s->buf;
}

const char *tok_stream_flush(tok_stream *s, size_t *out_len) {
    *out_len = 0;
    if (!s || !reserve(s, s->n_held + 1)) return "";
    memcpy(s->buf, s->held, s->n_held);
    *out_len = s->n_held;
    s->n_held = 0;
    return s->buf;
}
