/*
 * test_model_load.c - a model file that parses as GGUF but is not a model A-IO can run
 * gets a clear one-line error naming the file and the problem: unknown architecture,
 * missing tensor, wrong shape, a tensor type the kernels do not run.
 */
#include <string.h>
#include <unistd.h>

#include "aion.h"
#include "check.h"
#include "gguf.h"

#define E 32

/* A one-layer llama with every tensor, then the caller's sabotage applied. */
static void write_model(const char *path, const char *arch, const char *skip_tensor, int q_type, int64_t q_rows) {
    gguf_writer *w = gguf_writer_new();
    gguf_writer_set_str(w, "general.architecture", arch);
    char key[96];
#define ARCH_U32(k, v) (snprintf(key, sizeof key, "%s." k, arch), gguf_writer_set_u32(w, key, v))
    ARCH_U32("embedding_length", E);
    ARCH_U32("block_count", 1);
    ARCH_U32("feed_forward_length", 64);
    ARCH_U32("attention.head_count", 2);
    ARCH_U32("context_length", 16);
#undef ARCH_U32
    static float zeros[64 * 256];
    const struct { const char *name; int type; int64_t cols, rows; } t[] = {
        {"token_embd.weight", AION_DT_F32, E, 16}, {"output_norm.weight", AION_DT_F32, E, 1},
        {"blk.0.attn_norm.weight", AION_DT_F32, E, 1}, {"blk.0.ffn_norm.weight", AION_DT_F32, E, 1},
        {"blk.0.attn_q.weight", q_type, E, q_rows}, {"blk.0.attn_k.weight", AION_DT_F32, E, E},
        {"blk.0.attn_v.weight", AION_DT_F32, E, E}, {"blk.0.attn_output.weight", AION_DT_F32, E, E},
        {"blk.0.ffn_gate.weight", AION_DT_F32, E, 64}, {"blk.0.ffn_up.weight", AION_DT_F32, E, 64},
        {"blk.0.ffn_down.weight", AION_DT_F32, 64, E},
    };
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
        if (skip_tensor && strcmp(t[i].name, skip_tensor) == 0) continue;
        int64_t ne[2] = {t[i].cols, t[i].rows};
        bool vec = t[i].rows == 1;
        /* a K-quant row needs 256 elements: give that tensor a matching width */
        if (quant_block_elems(t[i].type) == 256) ne[0] = 256;
        gguf_writer_add_tensor(w, t[i].name, t[i].type, vec ? 1 : 2, ne, zeros);
    }
    char err[256];
    CHECK(gguf_writer_write(w, path, err, sizeof err) == 0, "write %s: %s", path, err);
    gguf_writer_free(w);
}

static void expect_error(const char *path, const char *needle) {
    char err[512] = "";
    aion_model *m = aion_model_load(path, err, sizeof err);
    CHECK(m == NULL && strstr(err, needle) && strstr(err, path) && !strchr(err, '\n'),
          "expected one line naming %s with '%s', got '%s'", path, needle, err);
    aion_model_free(m);
}

int main(void) {
    char path[] = "/tmp/aion-test-model-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    write_model(path, "llama", NULL, AION_DT_F32, E);
    char err[512];
    aion_model *ok = aion_model_load(path, err, sizeof err);
    CHECK(ok != NULL, "the intact model loads: %s", err);
    aion_model_free(ok);
    write_model(path, "gptx", NULL, AION_DT_F32, E);
    expect_error(path, "unknown architecture 'gptx'");
    write_model(path, "llama", "blk.0.ffn_up.weight", AION_DT_F32, E);
    expect_error(path, "missing tensor 'blk.0.ffn_up.weight'");
    write_model(path, "llama", NULL, AION_DT_F32, E + 8);
    expect_error(path, "has shape");
    write_model(path, "llama", NULL, AION_DT_Q2_K, E); /* a type GGUF knows and A-IO does not run */
    expect_error(path, "q2_k");
    unlink(path);
    return check_done();
}
