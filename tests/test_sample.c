/*
 * test_sample.c - the samplers: each transform keeps exactly the tokens it should,
 * the distribution sums to one, draws follow it, and a seed fixes the output.
 */
#include <string.h>

#include "aion.h"
#include "check.h"

#define V 8

static const float LOGITS[V] = {2.0f, 1.0f, 0.5f, 3.0f, -1.0f, 0.0f, 2.5f, -2.0f};

static aion_sampler_params plain(void) {
    aion_sampler_params p = aion_sampler_default_params();
    p.temperature = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.repeat_penalty = 1.0f;
    return p;
}

static int nonzero(const float *p) {
    int n = 0;
    for (int i = 0; i < V; i++) n += p[i] > 0;
    return n;
}

static double sum(const float *p) {
    double s = 0;
    for (int i = 0; i < V; i++) s += p[i];
    return s;
}

static void test_greedy(void) {
    aion_sampler_params p = plain();
    p.temperature = 0;
    aion_sampler *s = aion_sampler_new(&p, V);
    CHECK(aion_sampler_sample(s, LOGITS) == 3, "greedy picks the argmax");
    float probs[V];
    aion_sampler_dist(s, LOGITS, probs);
    CHECK(probs[3] == 1.0f && nonzero(probs) == 1, "greedy distribution is a point mass");
    aion_sampler_free(s);
}

static void test_truncations(void) {
    float probs[V];
    aion_sampler_params p = plain();
    p.top_k = 2;
    aion_sampler *s = aion_sampler_new(&p, V);
    aion_sampler_dist(s, LOGITS, probs);
    CHECK(nonzero(probs) == 2 && probs[3] > 0 && probs[6] > 0, "top-k 2 keeps the two best");
    CHECK_NEAR(sum(probs), 1.0, 1e-6, "top-k renormalised");
    aion_sampler_free(s);

    p = plain();
    p.top_p = 0.5f; /* softmax: 3.0 -> 0.44, 2.5 -> 0.27: the two reach 0.5 */
    s = aion_sampler_new(&p, V);
    aion_sampler_dist(s, LOGITS, probs);
    CHECK(nonzero(probs) == 2, "top-p 0.5 keeps the smallest set reaching 0.5 (%d kept)", nonzero(probs));
    aion_sampler_free(s);

    p = plain();
    p.min_p = 0.3f; /* keeps p >= 0.3 * p_max: logits within ln(1/0.3) = 1.2 of the best */
    s = aion_sampler_new(&p, V);
    aion_sampler_dist(s, LOGITS, probs);
    CHECK(nonzero(probs) == 3 && probs[0] > 0 && probs[1] == 0, "min-p keeps 3.0, 2.5, 2.0 (%d kept)", nonzero(probs));
    aion_sampler_free(s);

    p = plain();
    p.temperature = 0.5f;
    s = aion_sampler_new(&p, V);
    float sharp[V], flat[V];
    aion_sampler_dist(s, LOGITS, sharp);
    aion_sampler_free(s);
    p.temperature = 2.0f;
    s = aion_sampler_new(&p, V);
    aion_sampler_dist(s, LOGITS, flat);
    aion_sampler_free(s);
    CHECK(sharp[3] > flat[3] && sharp[7] < flat[7], "lower temperature sharpens");
    CHECK_NEAR(sum(sharp), 1.0, 1e-6, "temperature distribution sums to one");
}

static void test_repetition_penalty(void) {
    aion_sampler_params p = plain();
    p.temperature = 0;
    p.repeat_penalty = 2.0f;
    p.repeat_last_n = 4;
    aion_sampler *s = aion_sampler_new(&p, V);
    aion_sampler_accept(s, 3);
    CHECK(aion_sampler_sample(s, LOGITS) == 6, "3.0 / 2 = 1.5 < 2.5: the repeated best loses");
    for (int i = 0; i < 4; i++) aion_sampler_accept(s, 1);
    CHECK(aion_sampler_sample(s, LOGITS) == 3, "out of the window of 4, no penalty");
    aion_sampler_truncate(s, 0);
    aion_sampler_accept(s, 3);
    aion_sampler_accept(s, 5);
    CHECK(aion_sampler_sample(s, LOGITS) == 6, "3 is in the history again");
    aion_sampler_truncate(s, 0); /* a rejected draft rolled back */
    CHECK(aion_sampler_sample(s, LOGITS) == 3, "rolled back: no penalty");
    aion_sampler_free(s);
}

static void test_seed_and_draws(void) {
    aion_sampler_params p = plain();
    p.seed = 42;
    int a[64], b[64], c[64];
    aion_sampler *s1 = aion_sampler_new(&p, V), *s2 = aion_sampler_new(&p, V);
    p.seed = 43;
    aion_sampler *s3 = aion_sampler_new(&p, V);
    for (int i = 0; i < 64; i++) {
        a[i] = aion_sampler_sample(s1, LOGITS);
        b[i] = aion_sampler_sample(s2, LOGITS);
        c[i] = aion_sampler_sample(s3, LOGITS);
    }
    CHECK(memcmp(a, b, sizeof a) == 0, "same seed, same tokens");
    CHECK(memcmp(a, c, sizeof a) != 0, "another seed, other tokens");
    float probs[V];
    aion_sampler_dist(s1, LOGITS, probs);
    int counts[V] = {0};
    const int n = 40000;
    for (int i = 0; i < n; i++) counts[aion_sampler_draw(s1, probs)]++;
    for (int i = 0; i < V; i++)
        CHECK_NEAR((double)counts[i] / n, probs[i], 0.01, "draw frequency follows the distribution");
    aion_sampler_free(s1);
    aion_sampler_free(s2);
    aion_sampler_free(s3);
}

int main(void) {
    test_greedy();
    test_truncations();
    test_repetition_penalty();
    test_seed_and_draws();
    return check_done();
}
