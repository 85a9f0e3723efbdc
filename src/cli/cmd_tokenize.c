/*
 * cmd_tokenize.c - `aio tokenize` and `aio detokenize`: the tokenizer alone.
 *
 *   aio tokenize -m MODEL_OR_VOCAB.gguf (-f FILE | -p TEXT) [--no-bos] [--parse-special]
 *   aio detokenize -m MODEL_OR_VOCAB.gguf ID...
 *
 * Both open the GGUF file and build the tokenizer directly rather than loading
 * a model, so vocabulary-only files (no tensors, as llama.cpp's test vocabs
 * are) work too. tokenize prints the ids on one line; detokenize prints the
 * text with special tokens rendered, then a newline.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "common.h"
#include "gguf.h"
#include "tokenizer.h"

typedef struct vocab {
    gguf_file *file;
    tokenizer *tok;
} vocab;

static bool open_vocab(const char *path, vocab *v) {
    char err[512];
    v->file = gguf_open(path, err, sizeof err);
    if (!v->file) {
        fprintf(stderr, "error: %s\n", err);
        return false;
    }
    v->tok = tokenizer_from_gguf(v->file, err, sizeof err);
    if (!v->tok) {
        fprintf(stderr, "error: %s: tokenizer: %s\n", path, err);
        gguf_close(v->file);
        return false;
    }
    return true;
}

static void close_vocab(vocab *v) {
    tokenizer_free(v->tok);
    gguf_close(v->file);
}

/* ---------------------------------------------------------------- tokenize */

typedef struct tokenize_opts {
    const char *model, *file, *prompt;
    bool no_bos, parse_special;
} tokenize_opts;

static void tokenize_usage(FILE *out) {
    fprintf(out, "usage: aio tokenize -m MODEL_OR_VOCAB.gguf (-f FILE | -p TEXT) [--no-bos] [--parse-special]\n"
                 "  prints the token ids of the text, space-separated, on one line\n"
                 "  --no-bos         do not add BOS even if the model adds it by default\n"
                 "  --parse-special  read control tokens written in the text (e.g. <s>) as tokens\n");
}

/* Returns -1 when the options are good, else the exit code. */
static int parse_tokenize(int argc, char **argv, tokenize_opts *o) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool ok = true;
        if (opt_is(a, "-h", "--help")) {
            tokenize_usage(stdout);
            return 0;
        } else if (opt_is(a, "-m", "--model")) ok = opt_str(argc, argv, &i, &o->model);
        else if (opt_is(a, "-f", "--file")) ok = opt_str(argc, argv, &i, &o->file);
        else if (opt_is(a, "-p", "--prompt")) ok = opt_str(argc, argv, &i, &o->prompt);
        else if (opt_is(a, NULL, "--no-bos")) o->no_bos = true;
        else if (opt_is(a, NULL, "--parse-special")) o->parse_special = true;
        else {
            fprintf(stderr, "error: unknown option '%s'\n", a);
            ok = false;
        }
        if (!ok) {
            tokenize_usage(stderr);
            return 2;
        }
    }
    if (!o->model || (!o->file) == (!o->prompt)) {
        fprintf(stderr, "error: need -m and exactly one of -f, -p\n");
        tokenize_usage(stderr);
        return 2;
    }
    return -1;
}

static int print_ids(const tokenizer *t, const char *text, size_t len, const tokenize_opts *o) {
    bool bos = tokenizer_add_bos(t) && !o->no_bos;
    int n = tokenizer_encode(t, text, len, bos, o->parse_special, NULL, 0);
    int32_t *ids = n >= 0 ? malloc(((size_t)n + 1) * sizeof *ids) : NULL;
    if (!ids || tokenizer_encode(t, text, len, bos, o->parse_special, ids, n) != n) {
        fprintf(stderr, "error: cannot tokenize the text (out of memory)\n");
        free(ids);
        return 1;
    }
    for (int i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
    printf("\n");
    free(ids);
    return 0;
}

int cmd_tokenize(int argc, char **argv) {
    tokenize_opts o = {0};
    int rc = parse_tokenize(argc, argv, &o);
    if (rc >= 0) return rc;
    size_t len = o.prompt ? strlen(o.prompt) : 0;
    char *file_text = o.file ? read_text_file(o.file, &len) : NULL;
    if (o.file && !file_text) return 1;
    vocab v;
    rc = 1;
    if (open_vocab(o.model, &v)) {
        rc = print_ids(v.tok, o.file ? file_text : o.prompt, len, &o);
        close_vocab(&v);
    }
    free(file_text);
    return rc;
}

/* ---------------------------------------------------------------- detokenize */

static void detokenize_usage(FILE *out) {
    fprintf(out, "usage: aio detokenize -m MODEL_OR_VOCAB.gguf ID...\n"
                 "  prints the text of the token ids (special tokens shown as their text)\n");
}

static bool parse_id(const char *s, int32_t *id) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 0 || v > INT32_MAX) return false;
    *id = (int32_t)v;
    return true;
}

static int print_text(const tokenizer *t, char **args, int n) {
    int32_t *ids = malloc(((size_t)n + 1) * sizeof *ids);
    if (!ids) {
        fprintf(stderr, "error: out of memory\n");
        return 1;
    }
    for (int i = 0; i < n; i++) {
        if (!parse_id(args[i], &ids[i]) || ids[i] >= tokenizer_n_vocab(t)) {
            fprintf(stderr, "error: '%s' is not a token id (the vocabulary has %d)\n", args[i], tokenizer_n_vocab(t));
            free(ids);
            return 1;
        }
    }
    char *text = tokenizer_decode(t, ids, n, true);
    free(ids);
    if (!text) {
        fprintf(stderr, "error: cannot decode (out of memory)\n");
        return 1;
    }
    fputs(text, stdout);
    fputc('\n', stdout);
    free(text);
    return 0;
}

int cmd_detokenize(int argc, char **argv) {
    const char *model = NULL;
    int first_id = argc;
    for (int i = 1; i < argc && first_id == argc; i++) {
        if (opt_is(argv[i], "-h", "--help")) {
            detokenize_usage(stdout);
            return 0;
        } else if (opt_is(argv[i], "-m", "--model")) {
            if (!opt_str(argc, argv, &i, &model)) {
                detokenize_usage(stderr);
                return 2;
            }
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "error: unknown option '%s'\n", argv[i]);
            detokenize_usage(stderr);
            return 2;
        } else {
            first_id = i;
        }
    }
    if (!model) {
        fprintf(stderr, "error: need -m MODEL_OR_VOCAB.gguf\n");
        detokenize_usage(stderr);
        return 2;
    }
    vocab v;
    if (!open_vocab(model, &v)) return 1;
    int rc = print_text(v.tok, argv + first_id, argc - first_id);
    close_vocab(&v);
    return rc;
}
