/*
 * probe.h - single-token semantic probing: what kind of request is this?
 *
 * The small model reads the prompt followed by a <label> token and its next-
 * token distribution over the category tokens (<code>, <math>, <qa>, <chat>)
 * names the category; the winning probability is the confidence. The default
 * family is trained on "<probe>PROMPT<label>CATEGORY" examples.
 *
 * Two layouts: PROBE_PREFIX feeds "<probe>" before the prompt, exactly as
 * trained; PROBE_SUFFIX feeds the plain prompt and only appends <label>, so
 * the small model's cache of the prompt is the one serving needs: when the
 * small model then serves the request, its prefill is not repeated.
 */
#ifndef AION_PROBE_H
#define AION_PROBE_H

#include <stdbool.h>
#include <stdint.h>

#include "aion.h"

#define PROBE_MAX_LABELS 8

enum probe_format { PROBE_SUFFIX = 0, PROBE_PREFIX = 1 };

typedef struct probe_result {
    int category;                   /* index into the labels; -1 if the probe could not run */
    float confidence;               /* p(category) renormalised over the labels */
    float probs[PROBE_MAX_LABELS];
    float label_mass;               /* p of all label tokens together (how sure it is that a label comes) */
    int cached_tokens;              /* prompt tokens left in the slot's cache for serving (0 for PREFIX) */
    int tokens_read;                /* prompt tokens the probe fed (the window, when the prompt is longer) */
    double seconds;                 /* all of it */
    double prompt_seconds;          /* the part that fed prompt tokens: reusable when cached_tokens > 0 */
} probe_result;

typedef struct probe probe;

/* labels: category names; their tokens are "<name>". Fails if the model lacks <label> or a label. */
probe *probe_new(const aion_model *small, const char *const *labels, int n_labels, int format, char *err,
                 size_t err_len);
void probe_free(probe *p);
int probe_n_labels(const probe *p);
const char *probe_label(const probe *p, int i);
int probe_label_index(const probe *p, const char *name); /* -1 if unknown */

/* Reads at most `window` prompt tokens (BOS plus the prompt's tail; 0: the whole prompt): a long
 * prompt's category shows in its last lines, and the probe's cost stays bounded. A windowed probe
 * leaves nothing reusable in the cache. */
void probe_set_window(probe *p, int window);

/* Classifies prompt (token ids of the small model, BOS included) on slot seq of ctx, which must be
 * empty. With PROBE_SUFFIX (and the whole prompt read) the slot keeps prompt[0 .. n_prompt-1)
 * afterwards (ready for decoder_prefill_cached); otherwise it is emptied. Returns 0 or -1 with err. */
int probe_classify(probe *p, aion_ctx *ctx, int seq, aion_threads *threads, const int32_t *prompt, int n_prompt,
                   probe_result *out, char *err, size_t err_len);

#endif
