/*
 * cmd_perplexity.c - `aio perplexity`: the standard quality check of a model.
 *
 * Same method as llama.cpp's llama-perplexity, so the two print comparable
 * numbers for the same model and file: the text is tokenized once (with BOS),
 * cut into chunks of n_ctx tokens, each chunk evaluated from an empty cache with
 * its first token replaced by BOS, and only the second half of each chunk
 * scored (those tokens have at least n_ctx/2 tokens of context).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "common.h"

typedef struct ppl_state {
    aion_threads *threads;
    aion_model *model;
    aion_ctx *ctx;
    char *text;
    int32_t *tokens;
    float *logits;
} ppl_state;

static void ppl_free(ppl_state *s) {
    aion_ctx_free(s->ctx);
    aion_model_free(s->model);
    aion_threads_free(s->threads);
    free(s->text);
    free(s->tokens);
    free(s->logits);
}

static double log_softmax_at(const float *logits, int n_vocab, int32_t target) {
    float mx = logits[0];
    for (int i = 1; i < n_vocab; i++)
        if (logits[i] > mx) mx = logits[i];
    double sum = 0;
    for (int i = 0; i < n_vocab; i++) sum += exp((double)logits[i] - mx);
    return (double)logits[target] - mx - log(sum);
}

/* Evaluates one chunk; returns the summed negative log-likelihood of its scored tokens. */
static int eval_chunk(ppl_state *s, const int32_t *chunk, int n_ctx, int first, double *nll) {
    int n_vocab = aion_n_vocab(s->model), n_batch = aion_ctx_n_batch(s->ctx);
    int32_t *pos = malloc((size_t)n_batch * sizeof *pos);
    int8_t *want = malloc((size_t)n_batch);
    char err[512];
    int rows_done = 0, rc = 0;
    aion_kv_truncate(s->ctx, 0, 0);
    for (int start = 0; start < n_ctx && rc == 0; start += n_batch) {
        int n = n_ctx - start < n_batch ? n_ctx - start : n_batch;
        for (int i = 0; i < n; i++) {
            pos[i] = start + i;
            want[i] = start + i >= first && start + i < n_ctx - 1;
        }
        aion_batch b = {n, chunk + start, pos, NULL, want};
        int rows = aion_forward(s->ctx, s->threads, &b, s->logits + (size_t)rows_done * n_vocab, err, sizeof err);
        if (rows < 0) {
            fprintf(stderr, "error: %s\n", err);
            rc = -1;
        } else {
            rows_done += rows;
        }
    }
    *nll = 0;
    for (int j = 0; rc == 0 && j < rows_done; j++)
        *nll -= log_softmax_at(s->logits + (size_t)j * n_vocab, n_vocab, chunk[first + j + 1]);
    free(pos);
    free(want);
    return rc;
}

int cmd_perplexity(int argc, char **argv) {
    const char *model_path = NULL, *file = NULL;
    int n_ctx = 512, n_threads = 0, max_chunks = 0;
    for (int i = 1; i < argc; i++) {
        bool ok = true;
        if (opt_is(argv[i], "-m", "--model")) ok = opt_str(argc, argv, &i, &model_path);
        else if (opt_is(argv[i], "-f", "--file")) ok = opt_str(argc, argv, &i, &file);
        else if (opt_is(argv[i], "-c", "--ctx-size")) ok = opt_int(argc, argv, &i, &n_ctx);
        else if (opt_is(argv[i], "-t", "--threads")) ok = opt_int(argc, argv, &i, &n_threads);
        else if (opt_is(argv[i], NULL, "--chunks")) ok = opt_int(argc, argv, &i, &max_chunks);
        else ok = false;
        if (!ok) {
            fprintf(stderr, "usage: aio perplexity -m MODEL.gguf -f TEXT_FILE [-c CTX] [-t N] [--chunks N]\n");
            return 2;
        }
    }
    if (!model_path || !file || n_ctx < 4) {
        fprintf(stderr, "usage: aio perplexity -m MODEL.gguf -f TEXT_FILE [-c CTX (>= 4)] [-t N] [--chunks N]\n");
        return 2;
    }
    ppl_state s = {0};
    char err[512];
    size_t len;
    s.text = read_text_file(file, &len);
    if (!s.text) return 1;
    s.model = aion_model_load_ex(model_path, load_progress, "loading", err, sizeof err);
    if (!s.model) {
        fprintf(stderr, "error: %s\n", err);
        return ppl_free(&s), 1;
    }
    bool bos = aion_add_bos_default(s.model);
    int n_tokens = aion_tokenize(s.model, s.text, len, bos, false, NULL, 0);
    s.tokens = n_tokens > 0 ? malloc((size_t)n_tokens * sizeof *s.tokens) : NULL;
    if (!s.tokens) {
        fprintf(stderr, "error: cannot tokenize %s\n", file);
        return ppl_free(&s), 1;
    }
    aion_tokenize(s.model, s.text, len, bos, false, s.tokens, n_tokens);
    int n_chunks = n_tokens / n_ctx;
    if (max_chunks > 0 && max_chunks < n_chunks) n_chunks = max_chunks;
    if (n_chunks < 1) {
        fprintf(stderr, "error: %s has %d tokens, fewer than one chunk of %d (lower -c)\n", file, n_tokens, n_ctx);
        return ppl_free(&s), 1;
    }
    aion_ctx_params cp = {.n_seq = 1, .n_ctx = n_ctx, .n_batch = n_ctx < 512 ? n_ctx : 512};
    s.ctx = aion_ctx_new(s.model, &cp, err, sizeof err);
    s.threads = aion_threads_new(n_threads);
    s.logits = malloc((size_t)n_ctx * aion_n_vocab(s.model) * sizeof(float));
    if (!s.ctx || !s.logits) {
        fprintf(stderr, "error: %s\n", s.ctx ? "out of memory" : err);
        return ppl_free(&s), 1;
    }
    fprintf(stderr, "perplexity: %d tokens, %d chunks of %d\n", n_tokens, n_chunks, n_ctx);
    int first = n_ctx / 2;
    double nll_total = 0, t0 = now_seconds();
    long scored = 0;
    int32_t *chunk = malloc((size_t)n_ctx * sizeof *chunk);
    for (int c = 0; c < n_chunks; c++) {
        memcpy(chunk, s.tokens + (size_t)c * n_ctx, (size_t)n_ctx * sizeof *chunk);
        if (bos && aion_token_bos(s.model) >= 0) chunk[0] = aion_token_bos(s.model);
        double nll;
        if (eval_chunk(&s, chunk, n_ctx, first, &nll) < 0) {
            free(chunk);
            return ppl_free(&s), 1;
        }
        nll_total += nll;
        scored += n_ctx - 1 - first;
        printf("[%d]%.4f,", c + 1, exp(nll_total / scored));
        fflush(stdout);
        progress("perplexity", (uint64_t)c + 1, (uint64_t)n_chunks);
    }
    free(chunk);
    double ppl = exp(nll_total / scored);
    printf("\nFinal estimate: PPL = %.4f (%ld tokens scored, %.1f s)\n", ppl, scored, now_seconds() - t0);
    ppl_free(&s);
    return 0;
}
