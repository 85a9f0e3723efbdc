/*
 * sim_cache.c - expected residency under random replacement (see sim_cache.h).
 *
 * Reading chunk i of a model: it hits with its residency p; the miss (1 - p)
 * first takes free space, then evicts the rest from every other resident
 * chunk in proportion (scale *= d); then chunk i is resident (p = 1).
 * Renormalising when the scale gets small keeps stored values in range.
 */
#include <math.h>
#include <string.h>

#include "sim/sim_cache.h"

#define RENORMALISE_BELOW 1e-12

void sim_cache_init(sim_cache *c, double cache_bytes) {
    memset(c, 0, sizeof *c);
    c->chunk_bytes = cache_bytes > 0 ? cache_bytes / SIM_CACHE_SLOTS : 0;
    c->scale = 1;
}

static void renormalise(sim_cache *c) {
    double sum = c->untracked *= c->scale;
    for (int m = 0; m < SIM_CACHE_MODELS; m++)
        for (int i = 0; i < c->n_chunks[m]; i++) sum += c->stored[m][i] *= c->scale;
    c->stored_sum = sum;
    c->scale = 1;
}

/* Makes room for `miss` chunks' worth of new data beside `keep` (stored units) that is not evicted. */
static void evict_for(sim_cache *c, double miss, double keep) {
    double resident = c->stored_sum * c->scale, others = resident - keep * c->scale;
    double excess = miss - (SIM_CACHE_SLOTS - resident);
    if (excess <= 0) return;
    double d = others > excess ? 1 - excess / others : 0;
    if (d <= 0) {
        memset(c->stored, 0, sizeof c->stored);
        c->untracked = c->stored_sum = 0;
        c->scale = 1;
        return;
    }
    c->scale *= d;
}

static double read_chunk(sim_cache *c, double *stored) {
    double p = *stored * c->scale;
    if (p > 1) p = 1;
    evict_for(c, 1 - p, *stored);
    double fresh = 1 / c->scale;
    c->stored_sum += fresh - *stored;
    *stored = fresh;
    if (c->scale < RENORMALISE_BELOW) renormalise(c);
    return p;
}

double sim_cache_stream(sim_cache *c, int model, double bytes) {
    if (!(c->chunk_bytes > 0) || !(bytes > 0)) return 0;
    double chunks = ceil(bytes / c->chunk_bytes);
    if (chunks > SIM_CACHE_MAX_CHUNKS || model < 0 || model >= SIM_CACHE_MODELS) {
        /* data no model will read again (or too long to track): it takes its room, at most the
         * whole cache, and evicts the rest; a whole cache's worth evicts everything */
        double taken = chunks < SIM_CACHE_SLOTS ? chunks : SIM_CACHE_SLOTS;
        evict_for(c, taken, 0);
        c->untracked += taken / c->scale;
        c->stored_sum += taken / c->scale;
        return 0;
    }
    int n = (int)chunks;
    if (n > c->n_chunks[model]) c->n_chunks[model] = n; /* new chunks start at zero (memset) */
    double hits = 0;
    for (int i = 0; i < n; i++) hits += read_chunk(c, &c->stored[model][i]);
    return hits / n;
}

double sim_cache_solo_hits(double cache_bytes, double bytes) {
    static const int PASSES = 24; /* converges within a few passes; a fixed count keeps it deterministic */
    sim_cache c;
    sim_cache_init(&c, cache_bytes);
    double h = 0;
    for (int pass = 0; pass < PASSES; pass++) h = sim_cache_stream(&c, 0, bytes);
    return h;
}
