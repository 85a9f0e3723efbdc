/*
 * test_tokenizer.c - the tokenizers against llama.cpp's reference vectors and
 * against small hand-built vocabularies.
 *
 *   test_tokenizer          unit tests on synthetic vocabularies written with the
 *                           GGUF writer: SentencePiece merges and byte fallback,
 *                           byte-level BPE, pre-tokenizer splits, special tokens,
 *                           pieces, streaming, NFC normalization (the function and
 *                           tokenizer.ggml.normalizer), and malformed metadata.
 *   test_tokenizer NAME     llama.cpp's vectors for ggml-vocab-NAME.gguf in
 *                           ../shared/data/tokenizer-vectors: every input of .inp
 *                           encoded (no BOS, specials not parsed, as llama.cpp's
 *                           test-tokenizer-0 does) must give the ids of .out, and
 *                           decoding and streaming must give the text back.
 *                           Exit 77 (skip) when ../shared is absent or the
 *                           vocabulary's algorithm is not one A-IO implements.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "gguf.h"
#include "tokenizer.h"
#include "tokenizer_impl.h"
#include "unicode.h"

#define VECTOR_DIR "../shared/data/tokenizer-vectors"

/* ================================================================ helpers */

typedef struct ids_buf {
    int32_t v[512];
    int n;
} ids_buf;

static ids_buf encode(const tokenizer *t, const char *text, bool bos, bool special) {
    ids_buf b = {{0}, 0};
    b.n = tokenizer_encode(t, text, strlen(text), bos, special, b.v, 512);
    return b;
}

static bool ids_equal(const ids_buf *b, const int32_t *want, int n) {
    if (b->n != n) return false;
    for (int i = 0; i < n; i++)
        if (b->v[i] != want[i]) return false;
    return true;
}

static void ids_print(const char *label, const int32_t *v, int n) {
    fprintf(stderr, "  %s:", label);
    for (int i = 0; i < n; i++) fprintf(stderr, " %d", v[i]);
    fprintf(stderr, "\n");
}

#define CHECK_IDS(t, text, bos, special, ...)                                                    \
    do {                                                                                         \
        const int32_t want_[] = {__VA_ARGS__};                                                   \
        ids_buf got_ = encode(t, text, bos, special);                                            \
        int n_want_ = (int)(sizeof want_ / sizeof want_[0]);                                     \
        CHECK(ids_equal(&got_, want_, n_want_), "encode(\"%s\")", text);                         \
        if (!ids_equal(&got_, want_, n_want_)) {                                                 \
            ids_print("want", want_, n_want_);                                                   \
            ids_print("got ", got_.v, got_.n > 0 ? got_.n : 0);                                  \
        }                                                                                        \
    } while (0)

/* Concatenation of the streamed pieces of ids. */
static char *stream_text(const tokenizer *t, const int32_t *ids, int n, bool render_special, size_t *len) {
    tok_stream *s = tok_stream_new(t, render_special);
    size_t cap = 64, used = 0, k;
    char *out = malloc(cap);
    for (int i = 0; i <= n; i++) {
        const char *p = i < n ? tok_stream_push(s, ids[i], &k) : tok_stream_flush(s, &k);
        while (used + k + 1 > cap) out = realloc(out, cap *= 2);
        memcpy(out + used, p, k);
        used += k;
    }
    out[used] = '\0';
    tok_stream_free(s);
    *len = used;
    return out;
}

static char tmp_dir[256];

static void make_tmp_dir(void) {
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/aion-test-tokenizer-XXXXXX");
    if (!mkdtemp(tmp_dir)) SKIP("cannot create a temporary directory");
}

/* Writes w to a temporary file and builds a tokenizer from it (NULL with err on failure). */
static tokenizer *load_written(gguf_writer *w, const char *name, gguf_file **file, char *err, size_t err_len) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s.gguf", tmp_dir, name);
    *file = NULL;
    if (gguf_writer_write(w, path, err, err_len) != 0) return NULL;
    *file = gguf_open(path, err, err_len);
    unlink(path);
    if (!*file) return NULL;
    return tokenizer_from_gguf(*file, err, err_len);
}

/* ================================================================ a tiny SentencePiece vocabulary */

/* ids: 0 <unk>, 1 <s>, 2 </s>, 3..258 <0x00>..<0xFF>, then the pieces below, then <probe>. */
static const char *const SPM_PIECES[] = {
    "\xe2\x96\x81", "a", "b", "c", "\xe2\x96\x81" "a", "ab", "\xe2\x96\x81" "ab", "abc", "<", "s", ">", "\xc3\xa9",
};
enum { SPM_SPACE = 259, SPM_A, SPM_B, SPM_C, SPM_SP_A, SPM_AB, SPM_SP_AB, SPM_ABC, SPM_LT, SPM_S, SPM_GT,
       SPM_E_ACUTE, SPM_PROBE, SPM_N };

static gguf_writer *spm_writer(void) {
    static char names[SPM_N][16];
    const char *toks[SPM_N];
    float scores[SPM_N];
    int32_t types[SPM_N];
    toks[0] = "<unk>", toks[1] = "<s>", toks[2] = "</s>";
    types[0] = 2, types[1] = 3, types[2] = 3;
    for (int b = 0; b < 256; b++) {
        snprintf(names[3 + b], sizeof names[3 + b], "<0x%02X>", b);
        toks[3 + b] = names[3 + b];
        types[3 + b] = 6;
    }
    for (int i = 0; i < SPM_PROBE - SPM_SPACE; i++) {
        toks[SPM_SPACE + i] = SPM_PIECES[i];
        types[SPM_SPACE + i] = 1;
    }
    toks[SPM_PROBE] = "<probe>", types[SPM_PROBE] = 4;
    for (int i = 0; i < SPM_N; i++) scores[i] = 0.0f;
    /* higher is merged first: "ab" before "▁a", so "▁ab" comes from "▁" + "ab" */
    scores[SPM_AB] = -1, scores[SPM_SP_A] = -2, scores[SPM_SP_AB] = -3, scores[SPM_ABC] = -4;
    scores[SPM_SPACE] = -10, scores[SPM_A] = -11, scores[SPM_B] = -12, scores[SPM_C] = -13;
    scores[SPM_LT] = -14, scores[SPM_S] = -15, scores[SPM_GT] = -16, scores[SPM_E_ACUTE] = -17;

    gguf_writer *w = gguf_writer_new();
    gguf_writer_set_str(w, "general.architecture", "llama");
    gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, SPM_N);
    gguf_writer_set_arr_f32(w, "tokenizer.ggml.scores", scores, SPM_N);
    gguf_writer_set_arr_i32(w, "tokenizer.ggml.token_type", types, SPM_N);
    gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1);
    gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2);
    gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    return w;
}

static void test_spm_encode(const tokenizer *t) {
    CHECK(tokenizer_kind(t) == TOK_KIND_SPM, "kind");
    CHECK(tokenizer_add_bos(t), "SentencePiece adds BOS by default");
    CHECK_IDS(t, "", false, false);
    CHECK_IDS(t, "", true, false, 1);
    CHECK_IDS(t, "ab", false, false, SPM_SP_AB);
    CHECK_IDS(t, "ab", true, false, 1, SPM_SP_AB);
    CHECK_IDS(t, "abc", false, false, SPM_SP_AB, SPM_C);      /* "▁"+"ab" wins over "ab"+"c" */
    CHECK_IDS(t, "c ab", false, false, SPM_SPACE, SPM_C, SPM_SP_AB);
    CHECK_IDS(t, " a", false, false, SPM_SPACE, SPM_SP_A);
    /* byte fallback: 'z' and U+00E8 are no pieces, U+00E9 is */
    CHECK_IDS(t, "z\xc3\xa8\xc3\xa9", false, false, SPM_SPACE, 3 + 'z', 3 + 0xc3, 3 + 0xa8, SPM_E_ACUTE);
    /* a stray byte in the text is a byte token too */
    CHECK_IDS(t, "\xff", false, false, SPM_SPACE, 3 + 0xff);
}

static void test_spm_specials(const tokenizer *t) {
    /* control tokens only with parse_special; never formed by merging */
    CHECK_IDS(t, "<s>a", false, false, SPM_SPACE, SPM_LT, SPM_S, SPM_GT, SPM_A);
    CHECK_IDS(t, "<s>a", false, true, 1, SPM_SP_A);
    /* user-defined tokens are always split out, and the text after them gets the space prefix */
    CHECK_IDS(t, "a<probe>b", false, false, SPM_SP_A, SPM_PROBE, SPM_SPACE, SPM_B);
    CHECK_IDS(t, "<probe>", false, false, SPM_PROBE);
    CHECK(tokenizer_find(t, "<probe>") == SPM_PROBE, "find <probe>");
    CHECK(tokenizer_find(t, "nope") == -1, "find a missing token");
    CHECK(tokenizer_is_eog(t, 2) && !tokenizer_is_eog(t, 1), "EOS ends generation, BOS does not");
    CHECK(strcmp(tokenizer_token_text(t, SPM_SP_AB), "\xe2\x96\x81" "ab") == 0, "token text as stored");
    CHECK(tokenizer_token_text(t, SPM_N) == NULL, "token text of a bad id");
}

static void test_spm_pieces(const tokenizer *t) {
    char buf[16];
    CHECK(tokenizer_token_piece(t, SPM_SP_AB, false, buf, sizeof buf) == 3 && memcmp(buf, " ab", 3) == 0,
          "U+2581 becomes a space");
    CHECK(tokenizer_token_piece(t, 3 + 0x41, false, buf, sizeof buf) == 1 && buf[0] == 'A', "byte token");
    CHECK(tokenizer_token_piece(t, 1, false, buf, sizeof buf) == 0, "control hidden");
    CHECK(tokenizer_token_piece(t, 1, true, buf, sizeof buf) == 3 && memcmp(buf, "<s>", 3) == 0, "control rendered");
    CHECK(tokenizer_token_piece(t, SPM_PROBE, false, buf, sizeof buf) == 7, "user-defined always rendered");
    CHECK(tokenizer_token_piece(t, SPM_N, false, buf, sizeof buf) == -1, "bad id");
    CHECK(tokenizer_token_piece(t, -1, false, buf, sizeof buf) == -1, "negative id");
    CHECK(tokenizer_token_piece(t, SPM_SP_AB, false, buf, 1) == 3 && buf[0] == ' ', "short buffer: length, prefix");

    int32_t ids[] = {1, SPM_SP_AB, SPM_SPACE, SPM_C};
    char *s = tokenizer_decode(t, ids + 1, 3, false);
    CHECK(s && strcmp(s, "ab c") == 0, "decode drops the prefixed space: '%s'", s ? s : "(null)");
    free(s);
    s = tokenizer_decode(t, ids, 4, true);
    CHECK(s && strcmp(s, "<s> ab c") == 0, "decode with BOS rendered: '%s'", s ? s : "(null)");
    free(s);
    int32_t bad[] = {SPM_A, 99999};
    CHECK(tokenizer_decode(t, bad, 2, false) == NULL, "decode rejects a bad id");
}

static void test_spm_stream(const tokenizer *t) {
    tok_stream *s = tok_stream_new(t, false);
    size_t n;
    const char *p = tok_stream_push(s, 3 + 0xc3, &n);
    CHECK(n == 0, "a lone lead byte is held back");
    p = tok_stream_push(s, 3 + 0xa9, &n);
    CHECK(n == 2 && memcmp(p, "\xc3\xa9", 2) == 0, "completed sequence released");
    p = tok_stream_push(s, 3 + 0xe2, &n);
    p = tok_stream_push(s, 3 + 0x96, &n);
    CHECK(n == 0, "two of three bytes held back");
    p = tok_stream_push(s, SPM_A, &n);
    CHECK(n == 3 && memcmp(p, "\xe2\x96" "a", 3) == 0, "an interrupted sequence is emitted as is");
    p = tok_stream_push(s, 3 + 0xf0, &n);
    p = tok_stream_flush(s, &n);
    CHECK(n == 1 && (unsigned char)p[0] == 0xf0, "flush releases what is held");
    p = tok_stream_flush(s, &n);
    CHECK(n == 0, "nothing left after a flush");
    p = tok_stream_push(s, 1, &n);
    CHECK(n == 0, "control token hidden in the stream");
    (void)p;
    tok_stream_free(s);
}

static void test_encode_buffer(const tokenizer *t) {
    int32_t out[2] = {-7, -7};
    const char *text = "c c c";
    int n = tokenizer_encode(t, text, strlen(text), true, false, NULL, 0);
    CHECK(n == 7, "count without a buffer: %d", n);
    CHECK(tokenizer_encode(t, text, strlen(text), true, false, out, 1) == 7 && out[0] == 1 && out[1] == -7,
          "a short buffer gets the prefix and the full count");
}

static void test_spm(void) {
    char err[256] = "";
    gguf_file *f;
    gguf_writer *w = spm_writer();
    tokenizer *t = load_written(w, "spm", &f, err, sizeof err);
    gguf_writer_free(w);
    CHECK(t != NULL, "load the SentencePiece vocabulary: %s", err);
    if (t) {
        test_spm_encode(t);
        test_spm_specials(t);
        test_spm_pieces(t);
        test_spm_stream(t);
        test_encode_buffer(t);
    }
    tokenizer_free(t);
    gguf_close(f);
}

/* ================================================================ a tiny byte-level BPE vocabulary */

/* ids 0..255: the byte alphabet in byte order; then merged tokens; then specials. */
/* "</s>" is ordinary text here, as in Qwen's vocabulary, though its text is on the EOG list. */
static const char *const BPE_EXTRA[] = {"\xc4\xa0" "a", "ab", "\xc4\xa0" "ab", "<|endoftext|>", "<sep>", "</s>"};
enum { BPE_SP_A = 256, BPE_AB, BPE_SP_AB, BPE_EOT, BPE_SEP, BPE_END_S, BPE_N };

static gguf_writer *bpe_writer(const char *pre, bool bad_merge) {
    static char alphabet[256][4];
    const char *toks[BPE_N];
    int32_t types[BPE_N];
    for (int b = 0; b < 256; b++) {
        int n = uni_encode(uni_byte_to_cp((uint8_t)b), alphabet[b]);
        alphabet[b][n] = '\0';
        toks[b] = alphabet[b];
        types[b] = 1;
    }
    for (int i = 0; i < BPE_N - 256; i++) toks[256 + i] = BPE_EXTRA[i], types[256 + i] = 1;
    types[BPE_EOT] = 3, types[BPE_SEP] = 4;
    const char *merges[] = {"a b", "\xc4\xa0 a", "\xc4\xa0 ab", bad_merge ? "nospace" : "b c"};

    gguf_writer *w = gguf_writer_new();
    gguf_writer_set_str(w, "general.architecture", "gpt2");
    gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2");
    if (pre) gguf_writer_set_str(w, "tokenizer.ggml.pre", pre);
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, BPE_N);
    gguf_writer_set_arr_i32(w, "tokenizer.ggml.token_type", types, BPE_N);
    gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", merges, 4);
    gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", BPE_EOT);
    gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", BPE_EOT);
    return w;
}

static void test_bpe(void) {
    char err[256] = "";
    gguf_file *f;
    gguf_writer *w = bpe_writer("gpt-2", false);
    tokenizer *t = load_written(w, "bpe", &f, err, sizeof err);
    gguf_writer_free(w);
    CHECK(t != NULL, "load the BPE vocabulary: %s", err);
    if (t) {
        int32_t nl = '\n'; /* the byte alphabet puts byte b at id b */
        CHECK(tokenizer_kind(t) == TOK_KIND_BPE, "kind");
        CHECK(!tokenizer_add_bos(t), "gpt-2 adds no BOS by default");
        CHECK_IDS(t, "ab ab", false, false, BPE_AB, BPE_SP_AB);
        CHECK_IDS(t, "a!", false, false, 'a', '!');
        CHECK_IDS(t, "a\n", false, false, 'a', nl);
        /* invalid UTF-8 is read as U+FFFD, whose bytes are then tokens */
        CHECK_IDS(t, "\xff", false, false, 0xef, 0xbf, 0xbd);
        CHECK_IDS(t, "a<|endoftext|>", false, false, 'a', '<', '|', 'e', 'n', 'd', 'o', 'f', 't', 'e', 'x', 't', '|',
                  '>');
        CHECK_IDS(t, "a<|endoftext|>", false, true, 'a', BPE_EOT);
        CHECK_IDS(t, "a<sep>b", false, false, 'a', BPE_SEP, 'b');
        CHECK(tokenizer_is_eog(t, BPE_EOT), "<|endoftext|> ends generation");
        /* the EOG list makes "</s>" end generation without making it a special token */
        CHECK(tokenizer_is_eog(t, BPE_END_S), "</s> ends generation");
        CHECK_IDS(t, "</s>", false, true, '<', '/', 's', '>');
        char piece[8];
        CHECK(tokenizer_token_piece(t, BPE_END_S, false, piece, sizeof piece) == 4, "</s> renders as text");
        /* no normalizer key: text is encoded as given, like llama.cpp */
        CHECK_IDS(t, "e\xcc\x81", false, false, 'e', 0xcc, 0x81);
        char buf[8];
        CHECK(tokenizer_token_piece(t, BPE_SP_AB, false, buf, sizeof buf) == 3 && memcmp(buf, " ab", 3) == 0,
              "byte-level piece");
        int32_t ids[] = {'a', BPE_SP_AB, ' ', ','};
        char *s = tokenizer_decode(t, ids, 4, false);
        CHECK(s && strcmp(s, "a ab,") == 0, "gpt-2 decoding cleans ' ,': '%s'", s ? s : "(null)");
        free(s);
    }
    tokenizer_free(t);
    gguf_close(f);
}

/* ================================================================ NFC */

/* uni_nfc(in) must be want; and the quick check may only call text NFC when it is. */
static void check_nfc(const char *in, const char *want, const char *what) {
    size_t n = 0, len = strlen(in);
    char *got = uni_nfc(in, len, &n);
    CHECK(got && n == strlen(want) && memcmp(got, want, n) == 0 && got[n] == '\0', "NFC of %s", what);
    CHECK(!uni_is_nfc(in, len) || strcmp(in, want) == 0, "quick check calls %s NFC", what);
    free(got);
}

static void test_nfc_function(void) {
    CHECK(uni_ccc('a') == 0 && uni_ccc(0x301) == 230 && uni_ccc(0x323) == 220 && uni_ccc(0x110000) == 0, "ccc");
    CHECK(uni_is_nfc("plain ASCII", 11) && uni_is_nfc("\xc3\xa9t\xc3\xa9 \xe4\xb8\x96", 9), "quick check: NFC text");
    CHECK(!uni_is_nfc("e\xcc\x81", 3), "quick check: a mark that may compose");

    /* composed and decomposed forms */
    check_nfc("", "", "the empty string");
    check_nfc("e\xcc\x81t\xc3\xa9", "\xc3\xa9t\xc3\xa9", "e + U+0301");
    check_nfc("A\xcc\x8a", "\xc3\x85", "A + ring above");
    check_nfc("\xe2\x84\xab", "\xc3\x85", "U+212B ANGSTROM SIGN (a singleton)");
    check_nfc("\xe1\xbe\x82", "\xe1\xbe\x82", "U+1F82, composed in three steps, is kept");
    check_nfc("\xce\xb1\xcc\x93\xcc\x80\xcd\x85", "\xe1\xbe\x82", "alpha + three marks");
    check_nfc("\xe0\xad\x87\xe0\xac\xbe", "\xe0\xad\x8b", "two starters: U+0B47 U+0B3E");

    /* Hangul, by arithmetic */
    check_nfc("\xe1\x84\x80\xe1\x85\xa1", "\xea\xb0\x80", "L V -> U+AC00");
    check_nfc("\xe1\x84\x80\xe1\x85\xa1\xe1\x86\xa8", "\xea\xb0\x81", "L V T -> U+AC01");
    check_nfc("\xea\xb0\x80\xe1\x86\xa8", "\xea\xb0\x81", "LV T -> U+AC01");
    check_nfc("\xea\xb0\x81\xe1\x86\xa8", "\xea\xb0\x81\xe1\x86\xa8", "LVT T stays");
    check_nfc("\xed\x95\x9c\xea\xb8\x80", "\xed\x95\x9c\xea\xb8\x80", "composed syllables stay");

    /* canonical ordering and blocking */
    check_nfc("q\xcc\x87\xcc\xa3", "q\xcc\xa3\xcc\x87", "marks sorted by class (230, 220)");
    check_nfc("a\xcc\x81\xcc\xa3", "\xe1\xba\xa1\xcc\x81", "the lower class composes first");
    check_nfc("a\xcc\x81\xcc\x81", "\xc3\xa1\xcc\x81", "a mark of the same class is blocked");
    check_nfc("\xcc\x81" "e", "\xcc\x81" "e", "a leading mark has no starter");

    /* composition exclusions */
    check_nfc("\xe0\xa5\x98", "\xe0\xa4\x95\xe0\xa4\xbc", "U+0958 (excluded) decomposes for good");
    check_nfc("\xe0\xa4\x95\xe0\xa4\xbc", "\xe0\xa4\x95\xe0\xa4\xbc", "U+0915 U+093C stays apart");
    check_nfc("\xcd\x84", "\xcc\x88\xcc\x81", "U+0344 (a non-starter decomposition)");

    /* bytes that are not UTF-8 pass through and compose with nothing */
    check_nfc("\xff" "e\xcc\x81\xc1\xa5\xcc\x81\xcc", "\xff\xc3\xa9\xc1\xa5\xcc\x81\xcc", "malformed bytes");

    /* a run of marks too long for insertion sorting */
    char in[128] = "a", want[128];
    size_t k = 1, w = 0;
    for (int i = 0; i < 20; i++) memcpy(in + k, "\xcc\x81\xcc\xa3", 4), k += 4;
    in[k] = '\0';
    memcpy(want, "\xe1\xba\xa1", 3), w = 3;
    for (int i = 0; i < 19; i++) memcpy(want + w, "\xcc\xa3", 2), w += 2;
    for (int i = 0; i < 20; i++) memcpy(want + w, "\xcc\x81", 2), w += 2;
    want[w] = '\0';
    check_nfc(in, want, "a long run of marks");
}

static void test_nfc_tokenizer(void) {
    char err[256] = "";
    gguf_file *f;
    gguf_writer *w = bpe_writer("qwen2", false);
    gguf_writer_set_str(w, "tokenizer.ggml.normalizer", "nfc");
    tokenizer *t = load_written(w, "bpe-nfc", &f, err, sizeof err);
    gguf_writer_free(w);
    CHECK(t != NULL, "load a BPE vocabulary with an NFC normalizer: %s", err);
    if (t) {
        CHECK_IDS(t, "e\xcc\x81", false, false, 0xc3, 0xa9);
        CHECK_IDS(t, "\xc3\xa9", false, false, 0xc3, 0xa9);
        /* normalized after the special tokens are cut out, one fragment at a time */
        CHECK_IDS(t, "<sep>\xcc\x81" "e\xcc\x81", false, false, BPE_SEP, 0xcc, 0x81, 0xc3, 0xa9);
        CHECK_IDS(t, "ab<|endoftext|>a\xcc\x8a", false, true, BPE_AB, BPE_EOT, 0xc3, 0xa5);
    }
    tokenizer_free(t);
    gguf_close(f);

    w = bpe_writer("gpt-2", false);
    gguf_writer_set_str(w, "tokenizer.ggml.normalizer", "none");
    t = load_written(w, "bpe-none", &f, err, sizeof err);
    gguf_writer_free(w);
    CHECK(t != NULL, "normalizer \"none\": %s", err);
    if (t) CHECK_IDS(t, "e\xcc\x81", false, false, 'e', 0xcc, 0x81);
    tokenizer_free(t);
    gguf_close(f);
}

/* ================================================================ pre-tokenizer splits */

/* Splits text with pre and compares the words with want ("|"-separated). */
static void check_split(enum tok_pre pre, const char *text, const char *want) {
    uint32_t cps[256];
    uint8_t props[256];
    size_t n = 0, len = strlen(text);
    for (size_t off = 0, adv; off < len && n < 256; off += adv) {
        cps[n] = uni_decode(text + off, len - off, &adv);
        props[n] = uni_props(cps[n]);
        n++;
    }
    tok_sizes words = {0};
    char got[1024];
    size_t g = 0;
    bool ok = pretok_split(pre, cps, props, n, &words);
    for (size_t w = 0, first = 0; ok && w < words.n; first += words.v[w++]) {
        if (w) got[g++] = '|';
        for (size_t i = first; i < first + words.v[w]; i++) g += (size_t)uni_encode(cps[i], got + g);
    }
    got[g] = '\0';
    CHECK(ok && strcmp(got, want) == 0, "split(%d, \"%s\"): got \"%s\", want \"%s\"", (int)pre, text, got, want);
    free(words.v);
}

static void test_pretok(void) {
    check_split(TOK_PRE_GPT2, "Hello world's  end\n\n x", "Hello| world|'s| | end|\n\n| x");
    check_split(TOK_PRE_GPT2, "a  ", "a|  ");
    check_split(TOK_PRE_GPT2, " 12ab?! ", " 12|ab|?!| ");
    check_split(TOK_PRE_LLAMA3, "Hello world!!\n\n  x 12345", "Hello| world|!!\n\n| | x| |123|45");
    check_split(TOK_PRE_LLAMA3, "I'M  \n\t ok", "I|'M|  \n|\t| ok");
    check_split(TOK_PRE_QWEN2, "x 123", "x| |1|2|3");
    check_split(TOK_PRE_DEFAULT, "a+=b 1234", "a|+=|b| |123|4");
    check_split(TOK_PRE_FALCON, "x`y 12345", "x|`|y| |123|45");
    check_split(TOK_PRE_STARCODER, "v12 x", "v|1|2| x");
    check_split(TOK_PRE_DEEPSEEK_LLM, "Hi 世界 42!\n", "Hi| |世界| |42|!|\n");
    check_split(TOK_PRE_DEEPSEEK_CODER, "ab 12", "ab| |1|2");
    check_split(TOK_PRE_PORO, "a b. c", "a| b|.| c");
    check_split(TOK_PRE_GPT2, "", "");
}

/* ================================================================ malformed metadata */

static void expect_error(gguf_writer *w, const char *name, const char *fragment) {
    char err[256] = "";
    gguf_file *f;
    tokenizer *t = load_written(w, name, &f, err, sizeof err);
    CHECK(t == NULL && f != NULL, "%s: loading must fail", name);
    CHECK(strstr(err, fragment) != NULL, "%s: message '%s' should mention '%s'", name, err, fragment);
    tokenizer_free(t);
    gguf_close(f);
    gguf_writer_free(w);
}

static void test_malformed(void) {
    const char *toks[] = {"<unk>", "<s>", "</s>", "a", "a"};
    const float scores[] = {0, 0, 0, -1};
    const int32_t types[] = {2, 3, 3, 1, 1};
    gguf_writer *w;

    w = gguf_writer_new();
    gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
    expect_error(w, "no-tokens", "tokenizer.ggml.tokens");

    w = gguf_writer_new();
    expect_error(w, "no-model", "tokenizer.ggml.model");

    w = gguf_writer_new();
    gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, 4);
    gguf_writer_set_arr_f32(w, "tokenizer.ggml.scores", scores, 3);
    expect_error(w, "short-scores", "tokenizer.ggml.scores");

    w = gguf_writer_new();
    gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, 4);
    gguf_writer_set_arr_f32(w, "tokenizer.ggml.token_type", scores, 4);
    expect_error(w, "float-types", "tokenizer.ggml.token_type");

    w = gguf_writer_new();
    gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, 5);
    gguf_writer_set_arr_i32(w, "tokenizer.ggml.token_type", types, 5);
    expect_error(w, "duplicate", "duplicate");

    w = gguf_writer_new();
    gguf_writer_set_str(w, "tokenizer.ggml.model", "t5");
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, 4);
    expect_error(w, "t5", "unsupported tokenizer model 't5'");

    w = bpe_writer("no-such-pre", false);
    expect_error(w, "bad-pre", "no-such-pre");

    w = bpe_writer("gpt-2", true);
    expect_error(w, "bad-merge", "tokenizer.ggml.merges");

    w = bpe_writer("gpt-2", false);
    gguf_writer_set_str(w, "tokenizer.ggml.normalizer", "nfkc");
    expect_error(w, "bad-normalizer", "unsupported normalizer 'nfkc'");

    w = bpe_writer("gpt-2", false);
    gguf_writer_set_u32(w, "tokenizer.ggml.normalizer", 1);
    expect_error(w, "number-normalizer", "tokenizer.ggml.normalizer");

    w = gguf_writer_new();
    gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2");
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, 4);
    expect_error(w, "no-merges", "merges");

    w = gguf_writer_new();
    gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2");
    gguf_writer_set_str(w, "tokenizer.ggml.pre", "gpt-2");
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, 4);
    gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", toks, 0);
    gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true);
    expect_error(w, "bos-missing", "BOS");
}

/* ================================================================ llama.cpp's vectors */

static char *read_file(const char *path, size_t *len) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *buf = malloc((size_t)(size > 0 ? size : 0) + 1);
    size_t got = buf ? fread(buf, 1, (size_t)(size > 0 ? size : 0), fp) : 0;
    fclose(fp);
    if (!buf) return NULL;
    buf[got] = '\0';
    *len = got;
    return buf;
}

typedef struct vectors {
    const char *text[256];
    size_t text_len[256];
    int n;
} vectors;

/* .inp: the texts, separated by "\n__ggml_vocab_test__\n" (read as llama.cpp's test does). */
static void parse_inputs(const char *inp, vectors *v) {
    const char *sep = "\n__ggml_vocab_test__\n";
    size_t sep_len = strlen(sep), len = strlen(inp), pos = 0;
    v->n = 0;
    while (pos < len && v->n < 256) {
        const char *next = strstr(inp + pos, sep);
        size_t end = next ? (size_t)(next - inp) : len;
        v->text[v->n] = inp + pos;
        v->text_len[v->n++] = end - pos;
        if (!next) break;
        pos = end + sep_len;
    }
}

/* The .out lines, empty ones included (getline semantics: a final newline ends the last line). */
static int split_lines(char *s, char **lines, int max) {
    int n = 0;
    char *p = s;
    while (*p && n < max) {
        char *nl = strchr(p, '\n');
        lines[n++] = p;
        if (!nl) break;
        *nl = '\0';
        p = nl + 1;
    }
    return n;
}

static int parse_ids(const char *line, int32_t *ids, int max) {
    int n = 0;
    const char *p = line;
    while (*p && n < max) {
        while (*p == ' ' || *p == '\r' || *p == '\t') p++;
        if (!*p) break;
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p) break;
        ids[n++] = (int32_t)v;
        p = end;
    }
    return n;
}

/* What decoding should give back: llama.cpp's space clean-up, when the vocabulary uses it, drops
 * the spaces before ?!., and ' contractions; those texts are not round trips. */
static bool survives_cleanup(const char *s, size_t len) {
    for (size_t i = 0; i + 1 < len; i++)
        if (s[i] == ' ' && strchr("?!.,'", s[i + 1])) return false;
    return true;
}

static void check_round_trip(const tokenizer *t, const char *name, int k, const char *text, size_t len,
                             const int32_t *ids, int n) {
    if (tokenizer_kind(t) == TOK_KIND_WPM) {
        /* WordPiece lowercases, strips accents and drops spacing: no text is a round trip */
        char *decoded = tokenizer_decode(t, ids, n, false);
        CHECK(decoded != NULL, "%s #%d: decode failed", name, k);
        free(decoded);
        return;
    }
    size_t slen;
    char *streamed = stream_text(t, ids, n, false, &slen);
    /* SentencePiece pieces carry the space it prefixed; decode drops it, the stream does not */
    bool prefixed = tokenizer_kind(t) == TOK_KIND_SPM && len > 0 && slen == len + 1 && streamed[0] == ' ';
    CHECK((prefixed && memcmp(streamed + 1, text, len) == 0) || (slen == len && memcmp(streamed, text, len) == 0),
          "%s #%d: streamed pieces are not the text", name, k);
    char *decoded = tokenizer_decode(t, ids, n, false);
    if (survives_cleanup(text, len))
        CHECK(decoded && strlen(decoded) == len && memcmp(decoded, text, len) == 0, "%s #%d: decode gives '%s'", name,
              k, decoded ? decoded : "(null)");
    free(decoded);
    free(streamed);
}

static int run_vectors(const tokenizer *t, const char *name, char *inp, char *out) {
    vectors v;
    parse_inputs(inp, &v);
    char *lines[256];
    int n_lines = split_lines(out, lines, 256);
    CHECK(n_lines == v.n, "%s: %d inputs but %d output lines", name, v.n, n_lines);
    int passed = 0;
    int32_t want[1024];
    int32_t *got = malloc(16384 * sizeof *got);
    for (int k = 0; k < v.n && k < n_lines; k++) {
        int n_want = parse_ids(lines[k], want, 1024);
        int n_got = tokenizer_encode(t, v.text[k], v.text_len[k], false, false, got, 16384);
        bool same = n_got == n_want && memcmp(got, want, (size_t)n_want * sizeof *got) == 0;
        CHECK(same, "%s #%d: \"%.*s\"", name, k, (int)(v.text_len[k] > 60 ? 60 : v.text_len[k]), v.text[k]);
        if (!same) {
            ids_print("want", want, n_want);
            ids_print("got ", got, n_got > 0 ? (n_got < 16384 ? n_got : 16384) : 0);
        }
        passed += same;
        if (n_got >= 0 && n_got <= 16384) check_round_trip(t, name, k, v.text[k], v.text_len[k], got, n_got);
    }
    free(got);
    printf("tokenizer vectors %s: %d/%d inputs match llama.cpp\n", name, passed, v.n);
    return passed;
}

/* Vocabularies without vectors still load and give back the text of llama-spm's inputs. */
static void run_round_trips(const tokenizer *t, const char *name, char *inp) {
    vectors v;
    parse_inputs(inp, &v);
    int32_t *ids = malloc(16384 * sizeof *ids);
    for (int k = 0; k < v.n; k++) {
        int n = tokenizer_encode(t, v.text[k], v.text_len[k], false, false, ids, 16384);
        CHECK(n >= 0 && n <= 16384, "%s #%d: encode", name, k);
        if (n >= 0 && n <= 16384) check_round_trip(t, name, k, v.text[k], v.text_len[k], ids, n);
    }
    free(ids);
    printf("tokenizer %s: %d texts round-tripped (no reference ids)\n", name, v.n);
}

static int test_vocab(const char *name) {
    struct stat st;
    char path[512], err[512];
    if (stat(VECTOR_DIR, &st) != 0) SKIP("%s is absent", VECTOR_DIR);
    snprintf(path, sizeof path, "%s/ggml-vocab-%s.gguf", VECTOR_DIR, name);
    if (stat(path, &st) != 0) SKIP("%s is absent", path);
    gguf_file *f = gguf_open(path, err, sizeof err);
    CHECK(f != NULL, "%s", err);
    if (!f) return check_done();
    size_t mlen = 0;
    const char *model = gguf_get_str(f, "tokenizer.ggml.model", &mlen);
    if (model && !(mlen == 5 && memcmp(model, "llama", 5) == 0) && !(mlen == 4 && memcmp(model, "gpt2", 4) == 0) &&
        !(mlen == 4 && memcmp(model, "bert", 4) == 0)) {
        char kind[64];
        snprintf(kind, sizeof kind, "%.*s", (int)(mlen < 63 ? mlen : 63), model);
        gguf_close(f);
        SKIP("%s uses tokenizer model '%s', which A-IO does not implement", name, kind);
    }
    tokenizer *t = tokenizer_from_gguf(f, err, sizeof err);
    CHECK(t != NULL, "%s: %s", name, err);
    if (t) {
        size_t n;
        char inp_path[600], out_path[600];
        snprintf(inp_path, sizeof inp_path, "%s.inp", path);
        snprintf(out_path, sizeof out_path, "%s.out", path);
        char *inp = read_file(inp_path, &n), *out = read_file(out_path, &n);
        if (inp && out) {
            run_vectors(t, name, inp, out);
        } else {
            free(inp);
            inp = read_file(VECTOR_DIR "/ggml-vocab-llama-spm.gguf.inp", &n);
            if (inp) run_round_trips(t, name, inp);
        }
        free(inp);
        free(out);
        tokenizer_free(t);
    }
    gguf_close(f);
    return check_done();
}

int main(int argc, char **argv) {
    if (argc > 1) return test_vocab(argv[1]);
    make_tmp_dir();
    test_spm();
    test_bpe();
    test_pretok();
    test_nfc_function();
    test_nfc_tokenizer();
    test_malformed();
    rmdir(tmp_dir);
    return check_done();
}
