/*
 * cmd_synth.c - `aio synth`: write a random-weight model of a real shape.
 *
 * The front end of src/bench/synth.c: picks a named shape or builds one from
 * --dims, checks the options, shows progress while several GB stream out, and
 * prints one line saying what was written. The benches run on these files, so
 * they need no downloaded model.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/synth.h"
#include "cli.h"
#include "common.h"
#include "quant.h"

typedef struct synth_opts {
    const char *shape_name, *dims, *arch, *type_name, *vocab_from, *out;
    int n_ctx;
    int tied; /* -1: the shape's default, 0/1: forced */
    uint64_t seed;
    bool list;
} synth_opts;

static void synth_usage(void) {
    fprintf(stderr,
            "usage: aio synth (--shape NAME | --dims L,E,H,HKV,FF,V) [options] OUT.gguf\n"
            "  --shape NAME         a published model's shape (--list shows them)\n"
            "  --dims L,E,H,HKV,FF,V  layers, embedding, heads, kv heads, feed-forward, vocabulary\n"
            "  --type T             f32 | f16 | bf16 | q8_0 | q4_0 | q4_k | q5_k | q6_k for the matrices\n"
            "                       (default q8_0);\n"
            "                       norms and biases stay f32\n"
            "  --arch A             llama | qwen2, with --dims (default llama)\n"
            "  --tied | --untied    share the output matrix with the embedding or not\n"
            "                       (default: the shape's; --dims: tied for qwen2 only)\n"
            "  --ctx N              context length written to the metadata\n"
            "  --vocab-from FILE    copy tokenizer.* from a GGUF file (default: a byte-level\n"
            "                       SentencePiece vocabulary padded to V)\n"
            "  --seed S             random seed (default 1; same seed, same file)\n"
            "  --list               print the named shapes\n");
}

static int parse_synth_args(int argc, char **argv, synth_opts *o) {
    *o = (synth_opts){.arch = "llama", .type_name = "q8_0", .tied = -1, .seed = 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool ok = true;
        if (opt_is(a, "-h", "--help")) return synth_usage(), 2;
        else if (opt_is(a, NULL, "--shape")) ok = opt_str(argc, argv, &i, &o->shape_name);
        else if (opt_is(a, NULL, "--dims")) ok = opt_str(argc, argv, &i, &o->dims);
        else if (opt_is(a, NULL, "--type")) ok = opt_str(argc, argv, &i, &o->type_name);
        else if (opt_is(a, NULL, "--arch")) ok = opt_str(argc, argv, &i, &o->arch);
        else if (opt_is(a, NULL, "--vocab-from")) ok = opt_str(argc, argv, &i, &o->vocab_from);
        else if (opt_is(a, NULL, "--ctx")) ok = opt_int(argc, argv, &i, &o->n_ctx);
        else if (opt_is(a, "-s", "--seed")) ok = opt_u64(argc, argv, &i, &o->seed);
        else if (opt_is(a, NULL, "--tied")) o->tied = 1;
        else if (opt_is(a, NULL, "--untied")) o->tied = 0;
        else if (opt_is(a, NULL, "--list")) o->list = true;
        else if (a[0] != '-' && !o->out) o->out = a;
        else {
            fprintf(stderr, "error: unknown option '%s'\n", a);
            synth_usage();
            return 2;
        }
        if (!ok) return 2;
    }
    if (o->list) return 0;
    if (!o->out || !o->shape_name == !o->dims) {
        fprintf(stderr, "error: give one of --shape or --dims, and an output file\n");
        synth_usage();
        return 2;
    }
    if (o->n_ctx < 0) {
        fprintf(stderr, "error: --ctx must be positive\n");
        return 2;
    }
    return 0;
}

static void list_shapes(void) {
    printf("| shape | arch | layers | embd | heads | kv heads | ff | vocab | tied |\n");
    printf("|---|---|---:|---:|---:|---:|---:|---:|---|\n");
    for (int i = 0; i < synth_n_shapes(); i++) {
        const synth_shape *s = synth_shape_at(i);
        printf("| %s | %s | %d | %d | %d | %d | %d | %d | %s |\n", s->name, s->arch, s->n_layer, s->n_embd, s->n_head,
               s->n_head_kv, s->n_ff, s->n_vocab, s->tied ? "yes" : "no");
    }
}

/* The shape the options ask for; 2 on a usage error. */
static int resolve_shape(const synth_opts *o, synth_shape *shape) {
    if (o->shape_name) {
        const synth_shape *s = synth_find_shape(o->shape_name);
        if (!s) {
            fprintf(stderr, "error: unknown shape '%s' (aio synth --list)\n", o->shape_name);
            return 2;
        }
        *shape = *s;
    } else {
        int d[6];
        char tail;
        if (sscanf(o->dims, "%d,%d,%d,%d,%d,%d%c", &d[0], &d[1], &d[2], &d[3], &d[4], &d[5], &tail) != 6) {
            fprintf(stderr, "error: --dims expects six integers L,E,H,HKV,FF,V, got '%s'\n", o->dims);
            return 2;
        }
        if (!synth_custom_shape(o->arch, d[0], d[1], d[2], d[3], d[4], d[5], shape)) {
            fprintf(stderr, "error: unknown architecture '%s' (llama, qwen2)\n", o->arch);
            return 2;
        }
    }
    if (o->tied >= 0) shape->tied = o->tied;
    if (o->n_ctx > 0) shape->n_ctx = o->n_ctx;
    return 0;
}

static void on_progress(void *user, uint64_t done, uint64_t total) { progress(user, done, total); }

int cmd_synth(int argc, char **argv) {
    synth_opts o;
    int rc = parse_synth_args(argc, argv, &o);
    if (rc) return rc;
    if (o.list) return list_shapes(), 0;
    synth_params p = {.seed = o.seed, .vocab_from = o.vocab_from, .type = quant_type_from_name(o.type_name)};
    if ((rc = resolve_shape(&o, &p.shape))) return rc;
    if (!synth_type_supported(p.type)) {
        fprintf(stderr, "error: unknown type '%s' (f32, f16, bf16, q8_0, q4_0, q4_k, q5_k, q6_k)\n", o.type_name);
        return 2;
    }
    char err[512];
    double t0 = now_seconds();
    if (synth_write(&p, o.out, on_progress, (void *)"synth", err, sizeof err) != 0) {
        fprintf(stderr, "error: %s\n", err);
        return 1;
    }
    printf("%s: %s %s, %d layers, %.1f MB of tensors, %.1f s\n", o.out, p.shape.name, quant_type_name(p.type),
           p.shape.n_layer, synth_data_bytes(&p) / 1e6, now_seconds() - t0);
    return 0;
}
