/*
 * test_gguf.c - the GGUF reader and writer: round trip, then hostile input.
 *
 * First a file with every value type and tensors of each stored type goes
 * through the writer and back through the reader, value by value and byte by
 * byte (also via copy_kv and a non-default alignment). Then a hand-built file,
 * whose field offsets this test records as it lays them out, is broken one
 * field at a time (and truncated at every header offset, and mutated at
 * random): each variant must be refused with a message naming the file, and
 * none may crash or leak (CI runs this under ASan+UBSan). Last, the committed
 * files in tests/data/gguf-broken/ must fail with the message their README
 * lists, so the README is the one place the expectations live.
 */
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "check.h"
#include "gguf.h"

#define BROKEN_DIR "tests/data/gguf-broken"

static char tmp_dir[256];

static void tmp_path(char *out, size_t len, const char *name) { snprintf(out, len, "%s/%s", tmp_dir, name); }

static bool write_bytes(const char *path, const void *data, size_t n) {
    FILE *fp = fopen(path, "wb");
    if (!fp) return false;
    bool ok = fwrite(data, 1, n, fp) == n;
    return fclose(fp) == 0 && ok;
}

static uint8_t *read_bytes(const char *path, size_t *n) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *p = malloc(size > 0 ? (size_t)size : 1);
    if (p && fread(p, 1, (size_t)size, fp) != (size_t)size) {
        free(p);
        p = NULL;
    }
    fclose(fp);
    *n = (size_t)size;
    return p;
}

/* Deterministic bytes for tensor contents. */
static void fill_pattern(uint8_t *p, size_t n, uint32_t seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = (uint8_t)(seed >> 24);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Round trip through the writer. */

typedef struct test_tensor {
    const char *name;
    enum aion_dtype type;
    int n_dims;
    int64_t ne[4];
} test_tensor;

static const test_tensor TENSORS[] = {
    {"tok_embd.weight", AION_DT_F32, 2, {8, 3, 1, 1}},
    {"blk.0.attn_q.weight", AION_DT_F16, 2, {16, 2, 1, 1}},
    {"blk.0.ffn_up.weight", AION_DT_Q8_0, 2, {64, 2, 1, 1}},
    {"blk.0.ffn_down.weight", AION_DT_Q4_0, 3, {32, 3, 2, 1}},
    {"output_norm.weight", AION_DT_BF16, 1, {5, 1, 1, 1}},
    {"four.d", AION_DT_F32, 4, {2, 3, 4, 5}},
};
#define N_TENSORS (int)(sizeof TENSORS / sizeof TENSORS[0])

static size_t tensor_bytes(const test_tensor *t) {
    return quant_row_bytes(t->type, t->ne[0]) * (size_t)(t->ne[1] * t->ne[2] * t->ne[3]);
}

static const char *const WORDS[] = {"alpha", "", "g\xc3\xa9", "delta with spaces"};
static const float FLOATS[] = {0.5f, -1.25f, 3e8f};
static const int32_t INTS[] = {-7, 0, 2147483647};

static void add_every_value_type(gguf_writer *w) {
    uint8_t u8 = 250;
    int8_t i8 = -100;
    uint16_t u16 = 65000;
    int16_t i16 = -32000;
    uint64_t u64 = UINT64_MAX, u64_small = 1ull << 40;
    int64_t i64 = INT64_MIN;
    double f64 = -2.5e-300;
    gguf_writer_set_scalar(w, "t.u8", GGUF_VT_UINT8, &u8);
    gguf_writer_set_scalar(w, "t.i8", GGUF_VT_INT8, &i8);
    gguf_writer_set_scalar(w, "t.u16", GGUF_VT_UINT16, &u16);
    gguf_writer_set_scalar(w, "t.i16", GGUF_VT_INT16, &i16);
    gguf_writer_set_u32(w, "t.u32", 4000000000u);
    gguf_writer_set_i32(w, "t.i32", -2000000000);
    gguf_writer_set_f32(w, "t.f32", 0.1f);
    gguf_writer_set_bool(w, "t.bool", true);
    gguf_writer_set_str(w, "t.str", "hello, gguf");
    gguf_writer_set_str(w, "t.empty", "");
    gguf_writer_set_scalar(w, "t.u64", GGUF_VT_UINT64, &u64);
    gguf_writer_set_scalar(w, "t.u64small", GGUF_VT_UINT64, &u64_small);
    gguf_writer_set_scalar(w, "t.i64", GGUF_VT_INT64, &i64);
    gguf_writer_set_scalar(w, "t.f64", GGUF_VT_FLOAT64, &f64);
    gguf_writer_set_arr_str(w, "t.words", WORDS, 4);
    gguf_writer_set_arr_f32(w, "t.floats", FLOATS, 3);
    gguf_writer_set_arr_i32(w, "t.ints", INTS, 3);
    gguf_writer_set_arr_i32(w, "t.none", NULL, 0);
    const uint16_t u16s[] = {1, 65535};
    const bool bools[] = {true, false, true};
    const double f64s[] = {1.0, -0.0, 1e300};
    const int64_t i64s[] = {INT64_MAX, -1};
    gguf_writer_set_arr(w, "t.u16s", GGUF_VT_UINT16, u16s, 2);
    gguf_writer_set_arr(w, "t.bools", GGUF_VT_BOOL, bools, 3);
    gguf_writer_set_arr(w, "t.f64s", GGUF_VT_FLOAT64, f64s, 3);
    gguf_writer_set_arr(w, "t.i64s", GGUF_VT_INT64, i64s, 2);
    gguf_writer_set_u32(w, "t.replaced", 1);
    gguf_writer_set_str(w, "t.replaced", "second wins");
}
#define N_VALUE_KEYS 23

static void add_tensors(gguf_writer *w, uint8_t **bufs) {
    for (int i = 0; i < N_TENSORS; i++) {
        size_t n = tensor_bytes(&TENSORS[i]);
        bufs[i] = malloc(n);
        fill_pattern(bufs[i], n, (uint32_t)i + 1);
        gguf_writer_add_tensor(w, TENSORS[i].name, TENSORS[i].type, TENSORS[i].n_dims, TENSORS[i].ne,
                               bufs[i]);
    }
}

static void check_ints(const gguf_file *f) {
    int64_t v = 0;
    CHECK(gguf_get_int(f, "t.u8", &v) && v == 250, "u8 %lld", (long long)v);
    CHECK(gguf_get_int(f, "t.i8", &v) && v == -100, "i8 %lld", (long long)v);
    CHECK(gguf_get_int(f, "t.u16", &v) && v == 65000, "u16 %lld", (long long)v);
    CHECK(gguf_get_int(f, "t.i16", &v) && v == -32000, "i16 %lld", (long long)v);
    CHECK(gguf_get_int(f, "t.u32", &v) && v == 4000000000ll, "u32 %lld", (long long)v);
    CHECK(gguf_get_int(f, "t.i32", &v) && v == -2000000000ll, "i32 %lld", (long long)v);
    CHECK(gguf_get_int(f, "t.bool", &v) && v == 1, "bool %lld", (long long)v);
    CHECK(gguf_get_int(f, "t.i64", &v) && v == INT64_MIN, "i64 %lld", (long long)v);
    CHECK(gguf_get_int(f, "t.u64small", &v) && v == (1ll << 40), "u64 %lld", (long long)v);
    CHECK(!gguf_get_int(f, "t.u64", &v), "u64 max must not fit int64");
    CHECK(!gguf_get_int(f, "t.f32", &v), "f32 is not an integer");
    CHECK(!gguf_get_int(f, "t.str", &v), "string is not an integer");
    CHECK(!gguf_get_int(f, "t.ints", &v), "array is not an integer");
    CHECK(!gguf_get_int(f, "no.such.key", &v), "absent key");
}

static void check_floats(const gguf_file *f) {
    double d = 0;
    CHECK(gguf_get_float(f, "t.f32", &d) && d == (double)0.1f, "f32 %g", d);
    CHECK(gguf_get_float(f, "t.f64", &d) && d == -2.5e-300, "f64 %g", d);
    CHECK(gguf_get_float(f, "t.i16", &d) && d == -32000.0, "i16 as float %g", d);
    CHECK(gguf_get_float(f, "t.u64", &d) && d == (double)UINT64_MAX, "u64 as float %g", d);
    CHECK(!gguf_get_float(f, "t.bool", &d), "bool is not a float");
    CHECK(!gguf_get_float(f, "t.str", &d), "string is not a float");
}

static void check_strings(const gguf_file *f) {
    size_t len = 99;
    const char *s = gguf_get_str(f, "t.str", &len);
    CHECK(s && len == 11 && memcmp(s, "hello, gguf", 11) == 0, "t.str");
    s = gguf_get_str(f, "t.empty", &len);
    CHECK(s && len == 0, "t.empty");
    s = gguf_get_str(f, "t.replaced", &len);
    CHECK(s && len == 11 && memcmp(s, "second wins", 11) == 0, "set twice: the second value wins");
    CHECK(!gguf_get_str(f, "t.u32", &len), "u32 is not a string");
    enum gguf_vtype et;
    uint64_t count;
    const void *data;
    CHECK(gguf_get_arr(f, "t.words", &et, &count, &data) && et == GGUF_VT_STRING && count == 4, "t.words");
    for (uint64_t i = 0; i < 4; i++) {
        s = gguf_get_arr_str(f, "t.words", i, &len);
        CHECK(s && len == strlen(WORDS[i]) && memcmp(s, WORDS[i], len) == 0, "t.words[%d]", (int)i);
    }
    CHECK(!gguf_get_arr_str(f, "t.words", 4, &len), "index past the end");
    CHECK(!gguf_get_arr_str(f, "t.ints", 0, &len), "not a string array");
}

static void check_arrays(const gguf_file *f) {
    enum gguf_vtype et;
    uint64_t count;
    const void *data;
    CHECK(gguf_get_arr(f, "t.floats", &et, &count, &data) && et == GGUF_VT_FLOAT32 && count == 3 &&
              memcmp(data, FLOATS, sizeof FLOATS) == 0,
          "t.floats");
    CHECK(gguf_get_arr(f, "t.ints", &et, &count, &data) && et == GGUF_VT_INT32 && count == 3 &&
              memcmp(data, INTS, sizeof INTS) == 0,
          "t.ints");
    CHECK(gguf_get_arr(f, "t.none", &et, &count, &data) && et == GGUF_VT_INT32 && count == 0, "t.none");
    const uint8_t bools[] = {1, 0, 1};
    CHECK(gguf_get_arr(f, "t.bools", &et, &count, &data) && et == GGUF_VT_BOOL && count == 3 &&
              memcmp(data, bools, 3) == 0,
          "t.bools");
    CHECK(gguf_get_arr(f, "t.u16s", &et, &count, &data) && et == GGUF_VT_UINT16 && count == 2 &&
              memcmp(data, "\x01\x00\xff\xff", 4) == 0,
          "t.u16s");
    double f64s[3];
    CHECK(gguf_get_arr(f, "t.f64s", &et, &count, &data) && et == GGUF_VT_FLOAT64 && count == 3, "t.f64s");
    if (count == 3) {
        memcpy(f64s, data, sizeof f64s);
        CHECK(f64s[0] == 1.0 && f64s[1] == 0.0 && f64s[2] == 1e300, "t.f64s values");
    }
    int64_t i64s[2];
    CHECK(gguf_get_arr(f, "t.i64s", &et, &count, &data) && et == GGUF_VT_INT64 && count == 2, "t.i64s");
    if (count == 2) {
        memcpy(i64s, data, sizeof i64s);
        CHECK(i64s[0] == INT64_MAX && i64s[1] == -1, "t.i64s values");
    }
    CHECK(!gguf_get_arr(f, "t.str", &et, &count, &data), "a string is not an array");
}

static void check_kv_index(const gguf_file *f, int n_kv_expected) {
    CHECK(gguf_n_kv(f) == n_kv_expected, "n_kv %d, expected %d", gguf_n_kv(f), n_kv_expected);
    for (int i = 0; i < gguf_n_kv(f); i++) {
        const char *key = gguf_key_name(f, i);
        CHECK(key && gguf_find_key(f, key) == i, "key %d round trips through find_key", i);
    }
    int i = gguf_find_key(f, "t.u16");
    CHECK(i >= 0 && gguf_kv_type(f, i) == GGUF_VT_UINT16, "t.u16 type");
    i = gguf_find_key(f, "t.words");
    CHECK(i >= 0 && gguf_kv_type(f, i) == GGUF_VT_ARRAY, "t.words type");
    CHECK(gguf_find_key(f, "t") == -1 && gguf_find_key(f, NULL) == -1, "absent keys");
    CHECK(gguf_key_name(f, -1) == NULL && gguf_key_name(f, gguf_n_kv(f)) == NULL, "key index bounds");
    CHECK(gguf_kv_type(f, 1000) == GGUF_VT_COUNT, "kv type out of range");
}

static void check_tensors(const gguf_file *f, uint8_t *const *bufs, uint64_t alignment) {
    CHECK(gguf_n_tensors(f) == N_TENSORS, "n_tensors %d", gguf_n_tensors(f));
    const uint8_t *first = gguf_n_tensors(f) ? gguf_get_tensor(f, 0)->data : NULL;
    for (int i = 0; i < N_TENSORS && i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_get_tensor(f, i);
        const test_tensor *e = &TENSORS[i];
        CHECK(strcmp(t->name, e->name) == 0, "tensor %d name %s", i, t->name);
        CHECK(gguf_find_tensor(f, e->name) == t, "find %s", e->name);
        CHECK(t->type == e->type && t->n_dims == e->n_dims, "tensor %s type/dims", e->name);
        for (int d = 0; d < 4; d++)
            CHECK(t->ne[d] == e->ne[d], "tensor %s ne[%d] %lld", e->name, d, (long long)t->ne[d]);
        CHECK(t->n_bytes == tensor_bytes(e), "tensor %s bytes %zu", e->name, t->n_bytes);
        CHECK(t->offset % alignment == 0, "tensor %s offset %llu aligned", e->name,
              (unsigned long long)t->offset);
        CHECK((size_t)((const uint8_t *)t->data - first) == t->offset, "tensor %s data pointer", e->name);
        CHECK(memcmp(t->data, bufs[i], t->n_bytes) == 0, "tensor %s bytes", e->name);
    }
    CHECK(gguf_find_tensor(f, "missing") == NULL && gguf_get_tensor(f, N_TENSORS) == NULL &&
              gguf_get_tensor(f, -1) == NULL,
          "absent tensors");
}

static void check_every_value(const gguf_file *f) {
    check_ints(f);
    check_floats(f);
    check_strings(f);
    check_arrays(f);
}

/* Copies every entry of src into a new file (with the same tensors) and checks it reads back. */
static void check_copy_kv(const gguf_file *src, uint8_t *const *bufs) {
    gguf_writer *w = gguf_writer_new();
    for (int i = 0; i < gguf_n_kv(src); i++) gguf_writer_copy_kv(w, src, i);
    for (int i = 0; i < N_TENSORS; i++)
        gguf_writer_add_tensor(w, TENSORS[i].name, TENSORS[i].type, TENSORS[i].n_dims, TENSORS[i].ne,
                               bufs[i]);
    char path[300], err[512];
    tmp_path(path, sizeof path, "copy.gguf");
    CHECK(gguf_writer_write(w, path, err, sizeof err) == 0, "copy write: %s", err);
    gguf_writer_free(w);
    gguf_file *f = gguf_open(path, err, sizeof err);
    CHECK(f != NULL, "copy open: %s", err);
    if (!f) return;
    check_kv_index(f, N_VALUE_KEYS);
    check_every_value(f);
    check_tensors(f, bufs, GGUF_DEFAULT_ALIGNMENT);
    gguf_close(f);
    unlink(path);
}

static void test_round_trip(void) {
    uint8_t *bufs[N_TENSORS];
    gguf_writer *w = gguf_writer_new();
    add_every_value_type(w);
    add_tensors(w, bufs);
    char path[300], err[512] = "";
    tmp_path(path, sizeof path, "every.gguf");
    CHECK(gguf_writer_write(w, path, err, sizeof err) == 0, "write: %s", err);
    gguf_writer_free(w);

    gguf_file *f = gguf_open(path, err, sizeof err);
    CHECK(f != NULL, "open: %s", err);
    if (f) {
        CHECK(gguf_version(f) == 3, "version %u", gguf_version(f));
        check_kv_index(f, N_VALUE_KEYS);
        check_every_value(f);
        check_tensors(f, bufs, GGUF_DEFAULT_ALIGNMENT);
        check_copy_kv(f, bufs);
        gguf_close(f);
    }
    /* The same bytes through the buffer entry point. */
    size_t n;
    uint8_t *bytes = read_bytes(path, &n);
    f = bytes ? gguf_open_buffer(bytes, n, "mem", err, sizeof err) : NULL;
    CHECK(f != NULL, "open_buffer: %s", err);
    if (f) {
        CHECK(gguf_file_size(f) == n, "file size");
        check_every_value(f);
        check_tensors(f, bufs, GGUF_DEFAULT_ALIGNMENT);
        gguf_close(f);
    }
    free(bytes);
    unlink(path);
    for (int i = 0; i < N_TENSORS; i++) free(bufs[i]);
}

static void test_alignment_and_empty(void) {
    uint8_t *bufs[N_TENSORS];
    gguf_writer *w = gguf_writer_new();
    gguf_writer_set_u32(w, "general.alignment", 256);
    add_tensors(w, bufs);
    char path[300], err[512] = "";
    tmp_path(path, sizeof path, "align.gguf");
    CHECK(gguf_writer_write(w, path, err, sizeof err) == 0, "write: %s", err);
    gguf_writer_free(w);
    size_t n;
    uint8_t *bytes = read_bytes(path, &n);
    gguf_file *f = bytes ? gguf_open_buffer(bytes, n, path, err, sizeof err) : NULL;
    CHECK(f != NULL, "open align 256: %s", err);
    if (f) {
        check_tensors(f, bufs, 256);
        for (int i = 0; i < gguf_n_tensors(f); i++) {
            size_t at = (size_t)((const uint8_t *)gguf_get_tensor(f, i)->data - bytes);
            CHECK(at % 256 == 0, "tensor %d at file offset %zu is 256-aligned", i, at);
        }
        gguf_close(f);
    }
    free(bytes);
    for (int i = 0; i < N_TENSORS; i++) free(bufs[i]);

    w = gguf_writer_new();
    CHECK(gguf_writer_write(w, path, err, sizeof err) == 0, "empty write: %s", err);
    gguf_writer_free(w);
    f = gguf_open(path, err, sizeof err);
    CHECK(f && gguf_n_kv(f) == 0 && gguf_n_tensors(f) == 0, "empty file opens: %s", err);
    gguf_close(f);
    unlink(path);
}

static void expect_write_error(gguf_writer *w, const char *path, const char *want) {
    char err[512] = "";
    CHECK(gguf_writer_write(w, path, err, sizeof err) == -1, "write should fail (%s)", want);
    CHECK(strstr(err, path) && strstr(err, want), "message '%s' should name %s and say '%s'", err, path,
          want);
    gguf_writer_free(w);
}

static void test_writer_errors(void) {
    char path[300];
    tmp_path(path, sizeof path, "bad.gguf");
    uint8_t data[64] = {0};
    int64_t ne33[] = {33, 1};

    gguf_writer *w = gguf_writer_new();
    gguf_writer_add_tensor(w, "q", AION_DT_Q8_0, 2, ne33, data);
    expect_write_error(w, path, "not a multiple of the q8_0 block size 32");

    w = gguf_writer_new();
    int64_t ne4[] = {4};
    gguf_writer_add_tensor(w, "x", AION_DT_F32, 1, ne4, data);
    gguf_writer_add_tensor(w, "x", AION_DT_F32, 1, ne4, data);
    expect_write_error(w, path, "duplicate tensor name 'x'");

    w = gguf_writer_new();
    gguf_writer_add_tensor(w, "x", (enum aion_dtype)99, 1, ne4, data);
    expect_write_error(w, path, "bad type 99");

    w = gguf_writer_new();
    gguf_writer_set_u32(w, "general.alignment", 48);
    expect_write_error(w, path, "general.alignment");

    w = gguf_writer_new();
    gguf_writer_set_str(w, "", "x");
    expect_write_error(w, path, "empty key");

    char missing[400];
    snprintf(missing, sizeof missing, "%s/no/such/dir/x.gguf", tmp_dir);
    expect_write_error(gguf_writer_new(), missing, "cannot create");
    CHECK(access(path, F_OK) != 0, "failed writes leave no file");
}

/* A write that the OS refuses part-way (here: a file size limit, as a full disk would) must
 * be reported and leave neither the target nor the temporary file behind. */
static void test_write_io_failure(void) {
    struct rlimit old;
    if (getrlimit(RLIMIT_FSIZE, &old) != 0) return;
    char path[300], err[512] = "";
    tmp_path(path, sizeof path, "big.gguf");
    static uint8_t data[16384];
    int64_t ne[] = {4096};
    gguf_writer *w = gguf_writer_new();
    gguf_writer_add_tensor(w, "big", AION_DT_F32, 1, ne, data);
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    struct rlimit small = {4096, old.rlim_max};
    int rc = setrlimit(RLIMIT_FSIZE, &small) == 0 ? gguf_writer_write(w, path, err, sizeof err) : 0;
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, old_handler);
    gguf_writer_free(w);
    CHECK(rc == -1 && strstr(err, path) && strstr(err, "write failed"), "I/O failure: rc %d, '%s'", rc, err);
    CHECK(access(path, F_OK) != 0, "a failed write leaves no file");
    DIR *dir = opendir(tmp_dir);
    for (struct dirent *e; dir && (e = readdir(dir));)
        CHECK(strncmp(e->d_name, "big.gguf", 8) != 0, "leftover %s", e->d_name);
    if (dir) closedir(dir);
}

/* ------------------------------------------------------------------------------------------ */
/* A hand-built file whose field offsets are recorded, to break one field at a time. */

typedef struct bytes {
    uint8_t *p;
    size_t len, cap;
} bytes;

static void put(bytes *b, const void *src, size_t n) {
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
}

static size_t put_u32(bytes *b, uint32_t v) {
    uint8_t t[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put(b, t, 4);
    return b->len - 4;
}

static size_t put_u64(bytes *b, uint64_t v) {
    put_u32(b, (uint32_t)v);
    put_u32(b, (uint32_t)(v >> 32));
    return b->len - 8;
}

static size_t put_str(bytes *b, const char *s) {
    size_t at = put_u64(b, strlen(s));
    put(b, s, strlen(s));
    return at;
}

static void set_u32(bytes *b, size_t at, uint32_t v) {
    for (int i = 0; i < 4; i++) b->p[at + i] = (uint8_t)(v >> (8 * i));
}

static void set_u64(bytes *b, size_t at, uint64_t v) {
    set_u32(b, at, (uint32_t)v);
    set_u32(b, at + 4, (uint32_t)(v >> 32));
}

typedef struct layout {
    size_t version, n_tensors, n_kv;
    size_t align_key_len, align_type, align_value;
    size_t name_key, str_type, str_len;
    size_t ints_elem_type, ints_count;
    size_t words_count, flag_value, namf_key;
    size_t t_name_len[3], t_name[3], t_ndims[3], t_ne[3], t_type[3], t_offset[3];
} layout;

#define BASE_N_KV 6

static void base_kvs(bytes *b, layout *l) {
    l->align_key_len = put_str(b, "general.alignment");
    l->align_type = put_u32(b, GGUF_VT_UINT32);
    l->align_value = put_u32(b, 32);
    l->name_key = put_str(b, "test.name") + 8;
    l->str_type = put_u32(b, GGUF_VT_STRING);
    l->str_len = put_str(b, "hello");
    put_str(b, "test.ints");
    put_u32(b, GGUF_VT_ARRAY);
    l->ints_elem_type = put_u32(b, GGUF_VT_UINT32);
    l->ints_count = put_u64(b, 3);
    for (uint32_t i = 1; i <= 3; i++) put_u32(b, i);
    put_str(b, "test.words");
    put_u32(b, GGUF_VT_ARRAY);
    put_u32(b, GGUF_VT_STRING);
    l->words_count = put_u64(b, 2);
    put_str(b, "a");
    put_str(b, "bc");
    put_str(b, "test.flag");
    put_u32(b, GGUF_VT_BOOL);
    l->flag_value = b->len;
    put(b, "\x01", 1);
    l->namf_key = put_str(b, "test.namf") + 8;
    put_u32(b, GGUF_VT_UINT32);
    put_u32(b, 7);
}

/* Three tensors: f32 [8,2] at 0 (64 bytes), q8_0 [32,2] at 64 (68), f16 [4] at 160 (8); the
 * last one ends the file, so any truncation cuts into some tensor. */
static void base_tensors(bytes *b, layout *l, const char *first_name) {
    static const char *names[3] = {NULL, "tensor.b", "tensor.c"};
    static const uint32_t types[3] = {AION_DT_F32, AION_DT_Q8_0, AION_DT_F16};
    static const uint32_t ndims[3] = {2, 2, 1};
    static const uint64_t ne[3][2] = {{8, 2}, {32, 2}, {4, 1}};
    static const uint64_t offsets[3] = {0, 64, 160};
    for (int i = 0; i < 3; i++) {
        l->t_name_len[i] = put_str(b, i == 0 ? first_name : names[i]);
        l->t_name[i] = l->t_name_len[i] + 8;
        l->t_ndims[i] = put_u32(b, ndims[i]);
        l->t_ne[i] = b->len;
        for (uint32_t d = 0; d < ndims[i]; d++) put_u64(b, ne[i][d]);
        l->t_type[i] = put_u32(b, types[i]);
        l->t_offset[i] = put_u64(b, offsets[i]);
    }
    while (b->len % 32) put(b, "", 1);
    uint8_t data[168];
    fill_pattern(data, sizeof data, 7);
    put(b, data, sizeof data);
}

static bytes build_base(layout *l, const char *first_name) {
    bytes b = {0};
    put(&b, "GGUF", 4);
    l->version = put_u32(&b, 3);
    l->n_tensors = put_u64(&b, 3);
    l->n_kv = put_u64(&b, BASE_N_KV);
    base_kvs(&b, l);
    base_tensors(&b, l, first_name);
    return b;
}

/* Walks everything an opened file offers, as the fuzzer does, so a file that opens is also
 * read in full under the sanitizers. */
static uint64_t walk(const gguf_file *f) {
    uint64_t sum = 0;
    for (int i = 0; i < gguf_n_kv(f); i++) {
        const char *key = gguf_key_name(f, i);
        int64_t iv;
        double dv;
        size_t len;
        enum gguf_vtype et;
        uint64_t count;
        const void *data;
        sum += gguf_get_int(f, key, &iv) + gguf_get_float(f, key, &dv);
        if (gguf_get_str(f, key, &len)) sum += len;
        if (gguf_get_arr(f, key, &et, &count, &data))
            for (uint64_t j = 0; et == GGUF_VT_STRING && j < count; j++)
                sum += gguf_get_arr_str(f, key, j, &len) ? len : 0;
    }
    for (int i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_get_tensor(f, i);
        for (size_t j = 0; j < t->n_bytes; j++) sum += ((const uint8_t *)t->data)[j];
    }
    return sum;
}

/* The bytes must be refused by both entry points, with the file name and `want` (if given). */
static void expect_broken(const bytes *b, size_t len, const char *want, const char *what) {
    char path[300], err[512] = "";
    tmp_path(path, sizeof path, "broken.gguf");
    if (!write_bytes(path, b->p, len)) {
        CHECK(0, "cannot write %s", path);
        return;
    }
    gguf_file *f = gguf_open(path, err, sizeof err);
    CHECK(f == NULL, "%s: should not open", what);
    if (f) walk(f);
    gguf_close(f);
    CHECK(err[0] && strstr(err, path) && !strchr(err, '\n'), "%s: message '%s' should name the file", what,
          err);
    if (want) CHECK(strstr(err, want), "%s: message '%s' should say '%s'", what, err, want);

    f = gguf_open_buffer(b->p, len, "buf", err, sizeof err);
    CHECK(f == NULL && strncmp(err, "buf: ", 5) == 0, "%s: buffer open: '%s'", what, err);
    gguf_close(f);
}

typedef struct field_patch {
    const char *what;
    size_t layout_field; /* offsetof into layout, or (size_t)-1 for "at" absolute */
    int width;           /* 4 or 8 */
    uint64_t value;
    const char *want;
} field_patch;

#define AT(field) offsetof(layout, field)

static const field_patch PATCHES[] = {
    {"version 1", AT(version), 4, 1, "GGUF version 1 is not supported"},
    {"version 0", AT(version), 4, 0, "unsupported GGUF version 0"},
    {"version 4", AT(version), 4, 4, "unsupported GGUF version 4"},
    {"big-endian", AT(version), 4, 0x03000000u, "big-endian"},
    {"n_tensors max", AT(n_tensors), 8, UINT64_MAX, "tensor count 18446744073709551615 is impossible"},
    {"n_tensors 2^32", AT(n_tensors), 8, 1ull << 32, "tensor count"},
    {"n_tensors +1", AT(n_tensors), 8, 4, NULL},
    {"n_kv max", AT(n_kv), 8, UINT64_MAX, "key/value count 18446744073709551615 is impossible"},
    {"n_kv 2^31", AT(n_kv), 8, 1ull << 31, "key/value count"},
    {"n_kv +1", AT(n_kv), 8, BASE_N_KV + 1, NULL},
    {"key length max", AT(align_key_len), 8, UINT64_MAX, "key length 18446744073709551615 runs past"},
    {"key length 2^63", AT(align_key_len), 8, 1ull << 63, "runs past the end"},
    {"key length 0", AT(align_key_len), 8, 0, "empty key"},
    {"alignment 0", AT(align_value), 4, 0, "general.alignment 0 is not a power of two"},
    {"alignment 3", AT(align_value), 4, 3, "general.alignment 3 is not a power of two"},
    {"alignment 48", AT(align_value), 4, 48, "general.alignment 48"},
    {"alignment 64", AT(align_value), 4, 64, "data offset 160 is not a multiple of the alignment 64"},
    {"alignment 2^31", AT(align_value), 4, 1u << 31, "not a multiple of the alignment"},
    {"alignment as i32", AT(align_type), 4, GGUF_VT_INT32, "general.alignment must be a u32"},
    {"value type 13", AT(str_type), 4, 13, "unknown value type 13"},
    {"value type max", AT(str_type), 4, UINT32_MAX, "unknown value type 4294967295"},
    {"string length max", AT(str_len), 8, UINT64_MAX, "string value length 18446744073709551615"},
    {"string length +", AT(str_len), 8, 1000, "runs past the end"},
    {"array elem type 13", AT(ints_elem_type), 4, 13, "array of unknown value type 13"},
    {"array of arrays", AT(ints_elem_type), 4, GGUF_VT_ARRAY, "arrays of arrays are not supported"},
    {"array count max", AT(ints_count), 8, UINT64_MAX, "array of 18446744073709551615 u32 values runs past"},
    {"array count 2^62", AT(ints_count), 8, 1ull << 62, "runs past the end"},
    {"string array count max", AT(words_count), 8, UINT64_MAX, "strings cannot fit"},
    {"string array count 3", AT(words_count), 8, 3, NULL},
    {"tensor name length max", AT(t_name_len[1]), 8, UINT64_MAX, "tensor name length 18446744073709551615"},
    {"tensor name length 0", AT(t_name_len[1]), 8, 0, "empty tensor name"},
    {"n_dims 0", AT(t_ndims[0]), 4, 0, "0 dimensions (must be 1 to 4)"},
    {"n_dims 5", AT(t_ndims[0]), 4, 5, "5 dimensions"},
    {"n_dims max", AT(t_ndims[0]), 4, UINT32_MAX, "4294967295 dimensions"},
    {"dim 0", AT(t_ne[0]), 8, 0, "dimension 0 is 0"},
    {"dim max", AT(t_ne[0]), 8, UINT64_MAX, "overflows"},
    {"dim 2^62", AT(t_ne[0]), 8, 1ull << 62, "overflows at dimension 1"},
    {"row not block multiple", AT(t_ne[1]), 8, 33,
     "row length 33 is not a multiple of the q8_0 block size 32"},
    {"type 99", AT(t_type[1]), 4, 99, "unknown tensor type 99"},
    {"type 4", AT(t_type[1]), 4, 4, "unknown tensor type 4"},
    {"type max", AT(t_type[1]), 4, UINT32_MAX, "unknown tensor type 4294967295"},
    {"offset unaligned", AT(t_offset[1]), 8, 65, "data offset 65 is not a multiple of the alignment 32"},
    {"offset past end", AT(t_offset[2]), 8, 192, "lies outside the file"},
    {"offset huge", AT(t_offset[2]), 8, UINT64_MAX - 31, "lies outside the file"},
    {"offset 2^63", AT(t_offset[2]), 8, 1ull << 63, "lies outside the file"},
    {"overlap", AT(t_offset[1]), 8, 0, "overlap"},
    {"overlap 2", AT(t_offset[2]), 8, 128, "overlap"},
};

static void test_field_patches(void) {
    layout l;
    bytes base = build_base(&l, "tensor.a");
    char err[512] = "";
    gguf_file *f = gguf_open_buffer(base.p, base.len, "base", err, sizeof err);
    CHECK(f != NULL && gguf_n_tensors(f) == 3 && gguf_n_kv(f) == BASE_N_KV, "the hand-built base opens: %s",
          err);
    if (f) walk(f);
    gguf_close(f);

    bytes b = {malloc(base.len), base.len, base.len};
    memcpy(b.p, base.p, base.len);
    set_u32(&b, l.version, 2);
    f = gguf_open_buffer(b.p, b.len, "v2", err, sizeof err);
    CHECK(f != NULL && gguf_version(f) == 2, "version 2 opens: %s", err);
    gguf_close(f);
    for (size_t i = 0; i < sizeof PATCHES / sizeof PATCHES[0]; i++) {
        const field_patch *p = &PATCHES[i];
        memcpy(b.p, base.p, base.len);
        size_t at = *(const size_t *)((const char *)&l + p->layout_field);
        if (p->width == 4)
            set_u32(&b, at, (uint32_t)p->value);
        else
            set_u64(&b, at, p->value);
        expect_broken(&b, b.len, p->want, p->what);
    }

    struct {
        const char *what;
        size_t at;
        const char *bytes;
        const char *want;
    } edits[] = {
        {"bad magic", 0, "GGML", "not a GGUF file"},
        {"duplicate key", l.namf_key + 8, "e", "duplicate key"},
        {"NUL in key", l.name_key, "\0", "contains a NUL byte"},
        {"duplicate tensor", l.t_name[2] + 7, "b", "duplicate tensor name"},
        {"bool 2", l.flag_value, "\x02", "bool value 2 is not 0 or 1"},
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        memcpy(b.p, base.p, base.len);
        memcpy(b.p + edits[i].at, edits[i].bytes, edits[i].bytes[0] ? strlen(edits[i].bytes) : 1);
        expect_broken(&b, b.len, edits[i].want, edits[i].what);
    }
    free(b.p);
    free(base.p);

    bytes long_name = build_base(&l, "a.name.that.is.sixty.five.bytes.long.which.is.one.past.the.limits");
    expect_broken(&long_name, long_name.len, "is 65 bytes long (the limit is 64)", "long tensor name");
    free(long_name.p);
}

/* Every prefix of the file up to its data section, and a few past it, must be refused. */
static void test_truncations(void) {
    layout l;
    bytes base = build_base(&l, "tensor.a");
    size_t header_end = base.len - 168;
    char what[64];
    for (size_t n = 0; n <= header_end; n++) {
        snprintf(what, sizeof what, "truncated at %zu", n);
        expect_broken(&base, n, NULL, what);
    }
    size_t tails[] = {header_end + 1, header_end + 64, header_end + 100, base.len - 1};
    for (size_t i = 0; i < 4; i++) {
        snprintf(what, sizeof what, "truncated at %zu", tails[i]);
        expect_broken(&base, tails[i], "lies outside the file", what);
    }
    free(base.p);
}

/* Random byte flips over the header: whatever opens must be fully readable. */
static void test_random_mutations(void) {
    layout l;
    bytes base = build_base(&l, "tensor.a");
    size_t header_end = base.len - 168;
    uint8_t *buf = malloc(base.len);
    uint32_t seed = 12345;
    int n_opened = 0;
    for (int round = 0; round < 20000; round++) {
        memcpy(buf, base.p, base.len);
        for (int k = 0; k < 1 + round % 4; k++) {
            seed = seed * 1664525u + 1013904223u;
            size_t at = (seed >> 8) % header_end;
            seed = seed * 1664525u + 1013904223u;
            buf[at] = (round & 1) ? (uint8_t)(seed >> 24) : buf[at] ^ (uint8_t)(1u << (seed >> 29));
        }
        char err[256];
        gguf_file *f = gguf_open_buffer(buf, base.len, "mut", err, sizeof err);
        if (f) {
            walk(f);
            n_opened++;
        } else if (!err[0] || strncmp(err, "mut: ", 5) != 0) {
            CHECK(0, "mutation %d: bad message '%s'", round, err);
        }
        gguf_close(f);
    }
    CHECK(n_opened > 0 && n_opened < 20000, "some mutations open (%d)", n_opened);
    free(buf);
    free(base.p);
}

static void test_open_errors(void) {
    char err[512];
    char path[300];
    tmp_path(path, sizeof path, "missing.gguf");
    CHECK(!gguf_open(path, err, sizeof err) && strstr(err, path) && strstr(err, "cannot open"), "missing: %s",
          err);
    CHECK(!gguf_open(tmp_dir, err, sizeof err) && strstr(err, tmp_dir) && strstr(err, "not a regular file"),
          "directory: %s", err);
    tmp_path(path, sizeof path, "empty.gguf");
    write_bytes(path, "", 0);
    CHECK(!gguf_open(path, err, sizeof err) && strstr(err, path) && strstr(err, "empty"), "empty: %s", err);
    unlink(path);
    CHECK(!gguf_open_buffer(NULL, 0, "nothing", err, sizeof err) && strstr(err, "nothing: too small"), "%s",
          err);
    CHECK(!gguf_open_buffer("GGUF", 4, NULL, err, 0), "err_len 0 is allowed");
    CHECK(!gguf_open_buffer("GGUF", 4, NULL, NULL, 0), "err NULL is allowed");
}

/* ------------------------------------------------------------------------------------------ */
/* The committed broken files, with the expectations their README lists. */

typedef struct broken_row {
    char file[128];
    char want[256];
} broken_row;

/* Rows look like: | `file.gguf` | how it is broken | `expected message` | */
static int read_broken_readme(broken_row *rows, int max_rows) {
    FILE *fp = fopen(BROKEN_DIR "/README.md", "r");
    if (!fp) return -1;
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof line, fp) && n < max_rows) {
        if (strncmp(line, "| `", 3) != 0) continue;
        char *file_end = strchr(line + 3, '`');
        char *last = strrchr(line, '`');
        char *want_start = last ? last - 1 : NULL;
        while (want_start && want_start > file_end && *want_start != '`') want_start--;
        if (!file_end || !want_start || want_start <= file_end) continue;
        snprintf(rows[n].file, sizeof rows[n].file, "%.*s", (int)(file_end - line - 3), line + 3);
        snprintf(rows[n].want, sizeof rows[n].want, "%.*s", (int)(last - want_start - 1), want_start + 1);
        n++;
    }
    fclose(fp);
    return n;
}

static bool listed(const broken_row *rows, int n, const char *file) {
    for (int i = 0; i < n; i++)
        if (strcmp(rows[i].file, file) == 0) return true;
    return false;
}

static void test_committed_broken_files(void) {
    broken_row rows[64];
    int n = read_broken_readme(rows, 64);
    CHECK(n >= 10, "%s/README.md lists %d files", BROKEN_DIR, n);
    for (int i = 0; i < n; i++) {
        char path[512], err[512] = "";
        snprintf(path, sizeof path, "%s/%.200s", BROKEN_DIR, rows[i].file);
        gguf_file *f = gguf_open(path, err, sizeof err);
        CHECK(f == NULL, "%s should not open", path);
        gguf_close(f);
        CHECK(strstr(err, path) && strstr(err, rows[i].want), "%s: message '%s' should say '%s'", path, err,
              rows[i].want);
    }
    DIR *dir = opendir(BROKEN_DIR);
    CHECK(dir != NULL, "open %s", BROKEN_DIR);
    for (struct dirent *e; dir && (e = readdir(dir));) {
        size_t len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".gguf") == 0)
            CHECK(listed(rows, n, e->d_name), "%s is not listed in the README", e->d_name);
    }
    if (dir) closedir(dir);
}

int main(void) {
    const char *base = getenv("TMPDIR");
    snprintf(tmp_dir, sizeof tmp_dir, "%s/test_gguf.XXXXXX", base && base[0] ? base : "/tmp");
    if (!mkdtemp(tmp_dir)) {
        fprintf(stderr, "cannot create a temporary directory under %s\n", base ? base : "/tmp");
        return 1;
    }
    test_round_trip();
    test_alignment_and_empty();
    test_writer_errors();
    test_write_io_failure();
    test_field_patches();
    test_truncations();
    test_random_mutations();
    test_open_errors();
    test_committed_broken_files();
    char path[300];
    tmp_path(path, sizeof path, "broken.gguf");
    unlink(path);
    rmdir(tmp_dir);
    return check_done();
}
