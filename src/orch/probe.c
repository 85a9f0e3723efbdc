/*
 * probe.c - the probe: one prefill of the small model, one distribution read.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "probe.h"
#include "util.h"

struct probe {
    const aion_model *model;
    int format;
    int window;                /* prompt tokens read at most (0: all) */
    int n_labels;
    char names[PROBE_MAX_LABELS][24];
    int32_t label_tokens[PROBE_MAX_LABELS];
    int32_t open_token, ask_token; /* <probe>, <label> */
    float *logits;
};

probe *probe_new(const aion_model *small, const char *const *labels, int n_labels, int format, char *err,
                 size_t err_len) {
    if (n_labels < 2 || n_labels > PROBE_MAX_LABELS) {
        snprintf(err, err_len, "a probe needs 2..%d categories, got %d", PROBE_MAX_LABELS, n_labels);
        return NULL;
    }
    probe *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->model = small;
    p->format = format;
    p->n_labels = n_labels;
    p->open_token = aion_token_find(small, "<probe>");
    p->ask_token = aion_token_find(small, "<label>");
    bool ok = p->ask_token >= 0 && (format == PROBE_SUFFIX || p->open_token >= 0);
    if (!ok) snprintf(err, err_len, "the probe model has no <label>/<probe> tokens: it was not trained to probe");
    for (int i = 0; ok && i < n_labels; i++) {
        char tok[40];
        snprintf(p->names[i], sizeof p->names[i], "%s", labels[i]);
        snprintf(tok, sizeof tok, "<%s>", labels[i]);
        p->label_tokens[i] = aion_token_find(small, tok);
        if (p->label_tokens[i] < 0) {
            snprintf(err, err_len, "the probe model has no token %s for category '%s'", tok, labels[i]);
            ok = false;
        }
    }
    p->logits = ok ? malloc((size_t)aion_n_vocab(small) * sizeof(float)) : NULL;
    if (!p->logits) {
        probe_free(p);
        return NULL;
    }
    return p;
}

void probe_free(probe *p) {
    if (!p) return;
    free(p->logits);
    free(p);
}

int probe_n_labels(const probe *p) { return p->n_labels; }
void probe_set_window(probe *p, int window) { p->window = window > 1 ? window : 0; }
const char *probe_label(const probe *p, int i) { return i >= 0 && i < p->n_labels ? p->names[i] : "none"; }

int probe_label_index(const probe *p, const char *name) {
    for (int i = 0; i < p->n_labels; i++)
        if (strcmp(p->names[i], name) == 0) return i;
    return -1;
}

/* Feeds ids at positions from kv_len on, logits of the last one wanted. */
static int feed(aion_ctx *ctx, int seq, aion_threads *t, const int32_t *ids, int n, float *logits, char *err,
                size_t err_len) {
    int32_t pos[512], seqs[512];
    int8_t want[512];
    int n_batch = aion_ctx_n_batch(ctx) < 512 ? aion_ctx_n_batch(ctx) : 512;
    for (int start = 0; start < n; start += n_batch) {
        int chunk = n - start < n_batch ? n - start : n_batch;
        int base = aion_kv_len(ctx, seq);
        for (int i = 0; i < chunk; i++) {
            pos[i] = base + i;
            seqs[i] = seq;
            want[i] = start + i == n - 1;
        }
        aion_batch b = {chunk, ids + start, pos, seqs, want};
        if (aion_forward(ctx, t, &b, logits, err, err_len) < 0) return -1;
    }
    return 0;
}

static void read_labels(const probe *p, probe_result *out) {
    const float *l = p->logits;
    int32_t n_vocab = aion_n_vocab(p->model);
    float mx = l[0];
    for (int32_t i = 1; i < n_vocab; i++)
        if (l[i] > mx) mx = l[i];
    double total = 0, labels = 0;
    for (int32_t i = 0; i < n_vocab; i++) total += exp(l[i] - mx);
    out->category = 0;
    for (int i = 0; i < p->n_labels; i++) {
        out->probs[i] = (float)exp(l[p->label_tokens[i]] - mx);
        labels += out->probs[i];
        if (out->probs[i] > out->probs[out->category]) out->category = i;
    }
    for (int i = 0; i < p->n_labels; i++) out->probs[i] = (float)(out->probs[i] / labels);
    out->confidence = out->probs[out->category];
    out->label_mass = (float)(labels / total);
}

int probe_classify(probe *p, aion_ctx *ctx, int seq, aion_threads *threads, const int32_t *prompt, int n_prompt,
                   probe_result *out, char *err, size_t err_len) {
    memset(out, 0, sizeof *out);
    out->category = -1;
    if (n_prompt < 1 || aion_kv_len(ctx, seq) != 0 || n_prompt + 2 >= aion_ctx_n_ctx(ctx)) {
        snprintf(err, err_len, "probe: the prompt (%d tokens) does not fit the probe context or the slot is busy",
                 n_prompt);
        return -1;
    }
    /* a window reads BOS, then the prompt's last window-1 tokens */
    bool windowed = p->window > 0 && n_prompt > p->window;
    const int32_t *rest = windowed ? prompt + n_prompt - (p->window - 1) : prompt + 1;
    int n_rest = windowed ? p->window - 1 : n_prompt - 1;
    double t0 = now_seconds();
    int rc = 0;
    if (p->format == PROBE_PREFIX) {
        /* BOS <probe> rest-of-prompt <label> */
        int32_t head[2] = {prompt[0], p->open_token};
        rc = feed(ctx, seq, threads, head, 2, p->logits, err, err_len);
        if (!rc && n_rest > 0) rc = feed(ctx, seq, threads, rest, n_rest, p->logits, err, err_len);
    } else if (!windowed) {
        rc = feed(ctx, seq, threads, prompt, n_prompt, p->logits, err, err_len);
    } else {
        /* one forward for BOS + tail, as for a whole prompt */
        int32_t *ids = malloc((size_t)p->window * sizeof *ids);
        if (!ids) {
            snprintf(err, err_len, "probe: out of memory");
            return -1;
        }
        ids[0] = prompt[0];
        memcpy(ids + 1, rest, (size_t)n_rest * sizeof *ids);
        rc = feed(ctx, seq, threads, ids, p->window, p->logits, err, err_len);
        free(ids);
    }
    out->prompt_seconds = now_seconds() - t0;
    if (!rc) rc = feed(ctx, seq, threads, &p->ask_token, 1, p->logits, err, err_len);
    if (rc) {
        aion_kv_truncate(ctx, seq, 0);
        return -1;
    }
    read_labels(p, out);
    out->tokens_read = 1 + n_rest;
    out->cached_tokens = p->format == PROBE_SUFFIX && !windowed ? n_prompt - 1 : 0;
    aion_kv_truncate(ctx, seq, out->cached_tokens);
    out->seconds = now_seconds() - t0;
    return 0;
}
