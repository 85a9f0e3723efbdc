/*
 * test_synth.c - `aio synth` files are valid models of the shape asked for.
 *
 * For both architectures and every weight type, a tiny custom shape is written
 * to a temporary folder and loaded back: the metadata, tensor list and types,
 * the byte and parameter counts the loader reports, and a forward pass that
 * gives finite, non-constant logits. Then what the benches rely on: the same
 * seed writes the same bytes, --vocab-from carries a tokenizer over, the
 * built-in vocabulary has distinct pieces and round-trips text, and bad shapes
 * are refused with a message instead of a broken file.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aion.h"
#include "bench/synth.h"
#include "check.h"
#include "gguf.h"
#include "quant.h"

static const int TYPES[] = {AION_DT_F32, AION_DT_F16, AION_DT_BF16, AION_DT_Q8_0, AION_DT_Q4_0};
#define N_TYPES ((int)(sizeof TYPES / sizeof *TYPES))

/* The tiny shape: 2 layers, embedding 64, 4 heads over 2 kv heads, ff 160, vocabulary 320. */
enum { L = 2, E = 64, H = 4, HKV = 2, FF = 160, V = 320 };

typedef struct temp_dir {
    const char *path;
    char files[32][128];
    int n_files;
} temp_dir;

static const char *temp_file(temp_dir *d, const char *name) {
    if (d->n_files == (int)(sizeof d->files / sizeof *d->files)) abort(); /* a test outgrew the list */
    char *p = d->files[d->n_files++];
    snprintf(p, sizeof d->files[0], "%s/%s", d->path, name);
    return p;
}

static void temp_cleanup(temp_dir *d) {
    for (int i = 0; i < d->n_files; i++) unlink(d->files[i]);
    rmdir(d->path);
}

static synth_params tiny_params(const char *arch, int type) {
    synth_params p = {.type = type, .seed = 7};
    synth_custom_shape(arch, L, E, H, HKV, FF, V, &p.shape);
    return p;
}

/* What model.c should count for the tiny shape. */
static void expected_sizes(const synth_params *p, uint64_t *bytes, uint64_t *params) {
    const synth_shape *s = &p->shape;
    int64_t kv = (int64_t)s->n_embd / s->n_head * s->n_head_kv;
    int64_t rows_e = 2 * s->n_embd + 2 * kv + 2 * s->n_ff; /* q, o, k, v, gate, up: rows of n_embd */
    bool biases = strcmp(s->arch, "qwen2") == 0;
    uint64_t embd_mats = s->tied ? 1 : 2;
    *bytes = s->n_layer * (quant_row_bytes(p->type, s->n_embd) * rows_e + quant_row_bytes(p->type, s->n_ff) * s->n_embd) +
             embd_mats * quant_row_bytes(p->type, s->n_embd) * s->n_vocab;
    *params = s->n_layer * ((uint64_t)rows_e * s->n_embd + (uint64_t)s->n_ff * s->n_embd + 2 * s->n_embd +
                            (biases ? s->n_embd + 2 * kv : 0)) +
              embd_mats * (uint64_t)s->n_embd * s->n_vocab + s->n_embd;
}

static void check_file_layout(const char *path, const synth_params *p) {
    char err[400];
    gguf_file *f = gguf_open(path, err, sizeof err);
    CHECK(f != NULL, "gguf_open %s: %s", path, err);
    if (!f) return;
    bool biases = strcmp(p->shape.arch, "qwen2") == 0;
    int want = 2 + p->shape.n_layer * (biases ? 12 : 9) + (p->shape.tied ? 0 : 1);
    CHECK(gguf_n_tensors(f) == want, "%s: %d tensors, expected %d", path, gguf_n_tensors(f), want);
    CHECK(gguf_find_key(f, "general.alignment") < 0, "%s: the alignment helper key leaked into the file", path);
    size_t len;
    const char *arch = gguf_get_str(f, "general.architecture", &len);
    CHECK(arch && len == strlen(p->shape.arch) && memcmp(arch, p->shape.arch, len) == 0, "%s: architecture", path);
    for (int i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_get_tensor(f, i);
        int want_type = t->n_dims == 2 ? p->type : AION_DT_F32;
        CHECK((int)t->type == want_type, "%s: tensor %s has type %s", path, t->name, quant_type_name(t->type));
    }
    gguf_close(f);
}

/* Logits of an 8-token forward on a fresh context with n_threads threads; rows or -1. */
static int forward_logits(aion_model *m, int n_threads, float *logits, char *err, size_t err_len) {
    aion_ctx_params cp = {.n_seq = 1, .n_ctx = 16, .n_batch = 8};
    aion_ctx *c = aion_ctx_new(m, &cp, err, err_len);
    if (!c) return -1;
    aion_threads *t = aion_threads_new(n_threads);
    int32_t tok[8], pos[8];
    int8_t want[8];
    for (int i = 0; i < 8; i++) tok[i] = (i * 37 + 1) % aion_n_vocab(m), pos[i] = i, want[i] = 1;
    aion_batch b = {.n_tokens = 8, .tokens = tok, .pos = pos, .want_logits = want};
    int rows = aion_forward(c, t, &b, logits, err, err_len);
    aion_threads_free(t);
    aion_ctx_free(c);
    return rows;
}

/* Finite logits of a sane span, the same bits with 1, 2 and 3 threads (each thread's share
 * of rows must not change a number), and within rounding of the weights read in place from
 * the file when the loader repacked them (AION_REPACK=0 turns that off). */
static void check_forward(aion_model *m, const char *path, const char *what) {
    const int n_vocab = aion_n_vocab(m);
    const size_t n_logits = (size_t)(8 * n_vocab);
    char err[400];
    float *logits = malloc(n_logits * sizeof *logits), *other = malloc(n_logits * sizeof *other);
    int rows = forward_logits(m, 2, logits, err, sizeof err);
    CHECK(rows == 8, "%s: forward gave %d rows: %s", what, rows, rows < 0 ? err : "");
    double lo = INFINITY, hi = -INFINITY;
    int finite = 0;
    for (size_t i = 0; rows == 8 && i < n_logits; i++) {
        finite += isfinite(logits[i]) != 0;
        lo = logits[i] < lo ? logits[i] : lo;
        hi = logits[i] > hi ? logits[i] : hi;
    }
    CHECK(rows != 8 || finite == 8 * n_vocab, "%s: %d of %d logits are not finite", what, 8 * n_vocab - finite, 8 * n_vocab);
    CHECK(rows != 8 || (hi > lo && hi - lo < 100), "%s: logits span [%g, %g]", what, lo, hi);
    for (int n_threads = 1; rows == 8 && n_threads <= 3; n_threads += 2) {
        int got = forward_logits(m, n_threads, other, err, sizeof err);
        CHECK(got == 8 && memcmp(logits, other, n_logits * sizeof *logits) == 0,
              "%s: %d threads give other logits than 2", what, n_threads);
    }
    setenv("AION_REPACK", "0", 1);
    aion_model *in_place = aion_model_load(path, err, sizeof err);
    unsetenv("AION_REPACK");
    CHECK(in_place != NULL, "%s: load in place: %s", what, err);
    if (in_place && rows == 8 && forward_logits(in_place, 2, other, err, sizeof err) == 8) {
        double worst = 0;
        for (size_t i = 0; i < n_logits; i++) worst = fmax(worst, fabs((double)logits[i] - other[i]));
        CHECK(worst <= 1e-4 * (hi - lo), "%s: repacked and in-place weights differ by %g (span %g)", what, worst, hi - lo);
    }
    aion_model_free(in_place);
    free(logits), free(other);
}

static void check_model(const char *path, const synth_params *p) {
    char err[400], what[160];
    snprintf(what, sizeof what, "%s %s", p->shape.arch, quant_type_name(p->type));
    check_file_layout(path, p);
    aion_model *m = aion_model_load(path, err, sizeof err);
    CHECK(m != NULL, "%s: load: %s", what, err);
    if (!m) return;
    aion_model_info in;
    aion_model_get_info(m, &in);
    uint64_t bytes, params;
    expected_sizes(p, &bytes, &params);
    CHECK(strcmp(in.arch, p->shape.arch) == 0, "%s: arch %s", what, in.arch);
    const synth_shape *sh = &p->shape;
    CHECK(in.n_layer == sh->n_layer && in.n_embd == sh->n_embd && in.n_head == sh->n_head &&
              in.n_head_kv == sh->n_head_kv && in.n_ff == sh->n_ff && in.n_vocab == sh->n_vocab &&
              in.head_dim == sh->n_embd / sh->n_head,
          "%s: dims %d,%d,%d,%d,%d,%d", what, in.n_layer, in.n_embd, in.n_head, in.n_head_kv, in.n_ff, in.n_vocab);
    CHECK(in.main_type == p->type, "%s: main type %s", what, aion_dtype_name(in.main_type));
    CHECK(in.tied_embeddings == p->shape.tied, "%s: tied %d", what, in.tied_embeddings);
    CHECK(in.weight_bytes == bytes, "%s: weight bytes %llu, expected %llu", what, (unsigned long long)in.weight_bytes,
          (unsigned long long)bytes);
    CHECK(in.n_params == params, "%s: params %llu, expected %llu", what, (unsigned long long)in.n_params,
          (unsigned long long)params);
    CHECK(aion_n_vocab(m) == sh->n_vocab && aion_token_bos(m) == 1 && aion_token_eos(m) == 2, "%s: vocab/bos/eos", what);
    check_forward(m, path, what);
    aion_model_free(m);
}

static void test_every_type(temp_dir *d) {
    const char *archs[] = {"llama", "qwen2"};
    for (int a = 0; a < 2; a++)
        for (int i = 0; i < N_TYPES; i++) {
            synth_params p = tiny_params(archs[a], TYPES[i]);
            char name[64], err[400];
            snprintf(name, sizeof name, "%s-%s.gguf", archs[a], quant_type_name(TYPES[i]));
            const char *path = temp_file(d, name);
            int rc = synth_write(&p, path, NULL, NULL, err, sizeof err);
            CHECK(rc == 0, "synth %s: %s", name, err);
            if (rc == 0) check_model(path, &p);
        }
}

/* The K-quants need rows of whole 256-weight super-blocks: a shape of its own. */
static void test_k_types(temp_dir *d) {
    const int k_types[] = {AION_DT_Q4_K, AION_DT_Q5_K, AION_DT_Q6_K};
    for (int i = 0; i < 3; i++) {
        synth_params p = {.type = k_types[i], .seed = 7};
        synth_custom_shape("llama", 1, 256, 4, 2, 512, V, &p.shape);
        char name[64], err[400];
        snprintf(name, sizeof name, "llama-%s.gguf", quant_type_name(k_types[i]));
        const char *path = temp_file(d, name);
        int rc = synth_write(&p, path, NULL, NULL, err, sizeof err);
        CHECK(rc == 0, "synth %s: %s", name, err);
        if (rc == 0) check_model(path, &p);
    }
    synth_params bad = {.type = AION_DT_Q4_K, .seed = 7};
    synth_custom_shape("llama", 1, 64, 4, 2, 160, V, &bad.shape);
    char err[400] = "";
    CHECK(synth_write(&bad, temp_file(d, "bad-k.gguf"), NULL, NULL, err, sizeof err) < 0 && strstr(err, "256"),
          "q4_k with embedding 64 is refused with the block size in the message: %s", err);
}

static bool same_bytes(const char *a, const char *b) {
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    bool same = fa && fb;
    while (same) {
        int ca = fgetc(fa), cb = fgetc(fb);
        same = ca == cb;
        if (ca == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

static void test_deterministic(temp_dir *d) {
    synth_params p = tiny_params("llama", AION_DT_Q4_0);
    const char *a = temp_file(d, "seed-a.gguf"), *b = temp_file(d, "seed-b.gguf"), *c = temp_file(d, "seed-c.gguf");
    char err[400];
    CHECK(synth_write(&p, a, NULL, NULL, err, sizeof err) == 0, "seed a: %s", err);
    CHECK(synth_write(&p, b, NULL, NULL, err, sizeof err) == 0, "seed b: %s", err);
    p.seed = 8;
    CHECK(synth_write(&p, c, NULL, NULL, err, sizeof err) == 0, "seed c: %s", err);
    CHECK(same_bytes(a, b), "the same seed wrote different files");
    CHECK(!same_bytes(a, c), "different seeds wrote the same file");
}

static void test_vocab_from(temp_dir *d) {
    synth_params src = tiny_params("llama", AION_DT_Q8_0);
    const char *src_path = temp_file(d, "vocab-src.gguf"), *dst_path = temp_file(d, "vocab-dst.gguf");
    char err[400];
    CHECK(synth_write(&src, src_path, NULL, NULL, err, sizeof err) == 0, "vocab source: %s", err);
    synth_params p = tiny_params("qwen2", AION_DT_F16);
    p.vocab_from = src_path;
    p.shape.n_vocab = V + 64; /* a padded embedding, as published models have */
    CHECK(synth_write(&p, dst_path, NULL, NULL, err, sizeof err) == 0, "--vocab-from: %s", err);
    aion_model *m = aion_model_load(dst_path, err, sizeof err);
    CHECK(m != NULL, "--vocab-from load: %s", err);
    if (m) {
        CHECK(aion_n_vocab(m) == V + 64 && aion_token_bos(m) == 1, "--vocab-from: vocab %d", aion_n_vocab(m));
        aion_model_free(m);
    }
    p.shape.n_vocab = V - 1;
    CHECK(synth_write(&p, dst_path, NULL, NULL, err, sizeof err) != 0 && strstr(err, "more than"),
          "a vocabulary larger than the embedding was accepted (%s)", err);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* All pieces distinct (a duplicate would make the tokenizer ambiguous), and text round-trips. */
static void test_builtin_vocab(temp_dir *d) {
    enum { BIG_V = 40000 };
    synth_params p = tiny_params("llama", AION_DT_Q4_0);
    p.shape.n_vocab = BIG_V;
    const char *path = temp_file(d, "big-vocab.gguf");
    char err[400];
    CHECK(synth_write(&p, path, NULL, NULL, err, sizeof err) == 0, "big vocab: %s", err);
    gguf_file *f = gguf_open(path, err, sizeof err);
    CHECK(f != NULL, "big vocab: %s", err);
    if (!f) return;
    char **pieces = calloc(BIG_V, sizeof *pieces);
    for (int i = 0; i < BIG_V; i++) {
        size_t len;
        const char *s = gguf_get_arr_str(f, "tokenizer.ggml.tokens", (uint64_t)i, &len);
        pieces[i] = s ? strndup(s, len) : strdup("");
    }
    qsort(pieces, BIG_V, sizeof *pieces, cmp_str);
    int dups = 0;
    for (int i = 1; i < BIG_V; i++) dups += strcmp(pieces[i - 1], pieces[i]) == 0;
    CHECK(dups == 0, "the built-in vocabulary has %d duplicate pieces", dups);
    for (int i = 0; i < BIG_V; i++) free(pieces[i]);
    free(pieces);
    gguf_close(f);

    aion_model *m = aion_model_load(path, err, sizeof err);
    CHECK(m != NULL, "big vocab load: %s", err);
    if (!m) return;
    const char *text = "hello world, the quick brown fox! 123";
    int32_t ids[128];
    int n = aion_tokenize(m, text, strlen(text), false, false, ids, 128);
    CHECK(n > 0 && n < (int)strlen(text), "tokenize gave %d ids for %zu bytes (pieces should merge)", n, strlen(text));
    char *back = n > 0 && n <= 128 ? aion_detokenize(m, ids, n) : NULL;
    CHECK(back && strcmp(back, text) == 0, "round trip gave '%s'", back ? back : "(null)");
    free(back);
    aion_model_free(m);
}

static void test_bad_shapes(temp_dir *d) {
    const char *path = temp_file(d, "bad.gguf");
    char err[400];
    synth_params p = tiny_params("llama", AION_DT_Q8_0);
    p.shape.n_embd = 48; /* not a multiple of the 32-element block */
    p.shape.n_head = 4;
    CHECK(synth_write(&p, path, NULL, NULL, err, sizeof err) != 0 && strstr(err, "block"), "E=48 q8_0: '%s'", err);
    p = tiny_params("llama", AION_DT_F32);
    p.shape.n_vocab = 100;
    CHECK(synth_write(&p, path, NULL, NULL, err, sizeof err) != 0 && strstr(err, "259"), "V=100: '%s'", err);
    p = tiny_params("llama", AION_DT_Q4_1);
    CHECK(synth_write(&p, path, NULL, NULL, err, sizeof err) != 0 && strstr(err, "type"), "q4_1: '%s'", err);
    p = tiny_params("llama", AION_DT_F32);
    p.shape.n_head_kv = 3;
    CHECK(synth_write(&p, path, NULL, NULL, err, sizeof err) != 0, "4 heads over 3 kv heads accepted");
    CHECK(access(path, F_OK) != 0, "a refused shape left a file behind");
    synth_shape s;
    CHECK(!synth_custom_shape("gpt2", L, E, H, HKV, FF, V, &s), "unknown arch accepted");
    CHECK(synth_find_shape("tinyllama-1.1b") && synth_find_shape("qwen2.5-0.5b") && synth_find_shape("llama-3.2-1b") &&
              synth_find_shape("llama-7b") && !synth_find_shape("nope"),
          "named shapes");
}

int main(void) {
    char dir[] = "/tmp/aio-test-synth-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    temp_dir d = {.path = dir};
    test_every_type(&d);
    test_k_types(&d);
    test_deterministic(&d);
    test_vocab_from(&d);
    test_builtin_vocab(&d);
    test_bad_shapes(&d);
    temp_cleanup(&d);
    return check_done();
}
