/*
 * sample.c - from a row of logits to the next token.
 *
 * The sampler owns its random stream (seeded: same seed, same output) and the
 * recent-token history that the repetition penalty reads. It exposes the
 * distribution it draws from (aion_sampler_dist) as well as the draw itself,
 * because speculative rejection sampling needs the target's exact p(x): the
 * verifier and plain sampling must agree on one definition of "the
 * distribution", and this file is it.
 *
 * Order of transforms (as vLLM and Hugging Face do): repetition penalty,
 * temperature, top-k, top-p, min-p, renormalise.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "aion.h"

typedef struct candidate {
    float p;
    int32_t id;
} candidate;

struct aion_sampler {
    aion_sampler_params p;
    int32_t n_vocab;
    uint64_t rng;
    int32_t *history;     /* ring of the last repeat_last_n tokens */
    int n_history;        /* tokens ever accepted (ring index = n % cap) */
    int history_cap;
    float *scratch;       /* n_vocab: adjusted logits */
    float *probs;         /* n_vocab: the distribution of the last sample() */
    candidate *cand;      /* n_vocab: ids sorted by probability for top-k/p, min-p */
    int32_t banned[AION_MAX_MARKUP];
    int n_banned;
};

aion_sampler_params aion_sampler_default_params(void) {
    return (aion_sampler_params){.temperature = 0.8f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f,
                                 .repeat_penalty = 1.0f, .repeat_last_n = 64, .seed = 0x5EED};
}

aion_sampler *aion_sampler_new(const aion_sampler_params *p, int32_t n_vocab) {
    if (n_vocab <= 0) return NULL;
    aion_sampler *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->p = p ? *p : aion_sampler_default_params();
    s->n_vocab = n_vocab;
    s->rng = s->p.seed ^ 0x9E3779B97F4A7C15ull;
    s->history_cap = s->p.repeat_last_n > 0 ? s->p.repeat_last_n : 1;
    s->history = calloc((size_t)s->history_cap, sizeof *s->history);
    s->scratch = malloc((size_t)n_vocab * sizeof *s->scratch);
    s->probs = malloc((size_t)n_vocab * sizeof *s->probs);
    s->cand = malloc((size_t)n_vocab * sizeof *s->cand);
    if (!s->history || !s->scratch || !s->probs || !s->cand) {
        aion_sampler_free(s);
        return NULL;
    }
    return s;
}

void aion_sampler_free(aion_sampler *s) {
    if (!s) return;
    free(s->history);
    free(s->scratch);
    free(s->probs);
    free(s->cand);
    free(s);
}

bool aion_sampler_is_greedy(const aion_sampler *s) { return s->p.temperature <= 0.0f; }

aion_sampler_params aion_sampler_get_params(const aion_sampler *s) { return s->p; }

void aion_sampler_accept(aion_sampler *s, int32_t token) {
    s->history[s->n_history % s->history_cap] = token;
    s->n_history++;
}

/* The ring keeps only the window the penalty reads, so rolling back re-exposes nothing older:
 * truncation is exact as long as it stays within the window, which speculation guarantees
 * (drafts are shorter than any useful window). */
void aion_sampler_truncate(aion_sampler *s, int n) {
    if (n >= 0 && n < s->n_history) s->n_history = n;
}

/* splitmix64: small, fast, and good enough for sampling. */
static uint64_t next_u64(aion_sampler *s) {
    uint64_t z = (s->rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double aion_sampler_uniform(aion_sampler *s) { return (double)(next_u64(s) >> 11) * 0x1.0p-53; }

/* scratch <- logits with the repetition penalty applied (each penalised token once). */
void aion_sampler_ban(aion_sampler *s, int32_t token) {
    if (!s || token < 0 || token >= s->n_vocab || s->n_banned == AION_MAX_MARKUP) return;
    for (int i = 0; i < s->n_banned; i++)
        if (s->banned[i] == token) return;
    s->banned[s->n_banned++] = token;
}

static void penalised_logits(aion_sampler *s, const float *logits) {
    memcpy(s->scratch, logits, (size_t)s->n_vocab * sizeof(float));
    for (int i = 0; i < s->n_banned; i++) s->scratch[s->banned[i]] = -INFINITY;
    if (s->p.repeat_penalty == 1.0f || s->p.repeat_last_n <= 0) return;
    int window = s->n_history < s->p.repeat_last_n ? s->n_history : s->p.repeat_last_n;
    for (int i = 1; i <= window; i++) {
        int32_t tok = s->history[(s->n_history - i) % s->history_cap];
        if (tok < 0 || tok >= s->n_vocab) continue;
        bool seen_later = false; /* penalise each token once, at its most recent occurrence */
        for (int j = 1; j < i && !seen_later; j++) seen_later = s->history[(s->n_history - j) % s->history_cap] == tok;
        if (seen_later) continue;
        float *l = &s->scratch[tok];
        *l = *l > 0 ? *l / s->p.repeat_penalty : *l * s->p.repeat_penalty;
    }
}

static int32_t argmax(const float *v, int32_t n) {
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

static int by_prob_desc(const void *a, const void *b) {
    const candidate *ca = a, *cb = b;
    if (ca->p != cb->p) return ca->p < cb->p ? 1 : -1;
    return ca->id - cb->id; /* ties: lower id first, deterministic */
}

void aion_sampler_dist(aion_sampler *s, const float *logits, float *probs) {
    int32_t n = s->n_vocab;
    penalised_logits(s, logits);
    if (aion_sampler_is_greedy(s)) {
        memset(probs, 0, (size_t)n * sizeof *probs);
        probs[argmax(s->scratch, n)] = 1.0f;
        return;
    }
    float max_l = -FLT_MAX;
    for (int32_t i = 0; i < n; i++)
        if (s->scratch[i] > max_l) max_l = s->scratch[i];
    double sum = 0;
    for (int32_t i = 0; i < n; i++) {
        probs[i] = expf((s->scratch[i] - max_l) / s->p.temperature);
        sum += probs[i];
    }
    for (int32_t i = 0; i < n; i++) probs[i] = (float)(probs[i] / sum);

    bool truncate = (s->p.top_k > 0 && s->p.top_k < n) || s->p.top_p < 1.0f || s->p.min_p > 0.0f;
    if (!truncate) return;
    for (int32_t i = 0; i < n; i++) s->cand[i] = (candidate){probs[i], i};
    qsort(s->cand, (size_t)n, sizeof *s->cand, by_prob_desc);
    int32_t keep = n;
    if (s->p.top_k > 0 && s->p.top_k < keep) keep = s->p.top_k;
    if (s->p.top_p < 1.0f) {
        double cum = 0;
        for (int32_t i = 0; i < keep; i++) {
            cum += probs[s->cand[i].id];
            if (cum >= s->p.top_p) {
                keep = i + 1;
                break;
            }
        }
    }
    if (s->p.min_p > 0.0f) {
        float floor_p = s->p.min_p * s->cand[0].p;
        int32_t i = 1;
        while (i < keep && probs[s->cand[i].id] >= floor_p) i++;
        keep = i;
    }
    double kept = 0;
    for (int32_t i = 0; i < keep; i++) kept += probs[s->cand[i].id];
    for (int32_t i = keep; i < n; i++) probs[s->cand[i].id] = 0.0f;
    for (int32_t i = 0; i < keep; i++) probs[s->cand[i].id] = (float)(probs[s->cand[i].id] / kept);
}

int32_t aion_sampler_draw(aion_sampler *s, const float *probs) {
    double u = aion_sampler_uniform(s), cum = 0;
    int32_t last_nonzero = 0;
    for (int32_t i = 0; i < s->n_vocab; i++) {
        if (probs[i] <= 0) continue;
        cum += probs[i];
        last_nonzero = i;
        if (u < cum) return i;
    }
    return last_nonzero; /* rounding left u just above the total */
}

int32_t aion_sampler_sample(aion_sampler *s, const float *logits) {
    if (aion_sampler_is_greedy(s)) {
        penalised_logits(s, logits);
        return argmax(s->scratch, s->n_vocab);
    }
    aion_sampler_dist(s, logits, s->probs);
    return aion_sampler_draw(s, s->probs);
}
