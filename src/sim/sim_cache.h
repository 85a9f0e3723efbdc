/*
 * sim_cache.h - what a last-level cache keeps of the weights that models
 * stream through it, forward after forward.
 *
 * A forward reads its model's bytes in order; the cache is modelled as
 * random replacement in expectation: it holds SIM_CACHE_SLOTS equal chunks,
 * every chunk a read brings in (a miss) evicts resident chunks in proportion
 * to how much of each is resident, and a chunk read is resident afterwards.
 * Only a model's own chunks can hit. That one rule gives what LRU cannot and
 * what a CPU's cache shows (measured here, test_sim): a model somewhat larger
 * than the cache still hits on part of its bytes when it runs alone (44 MB
 * through 32 MB: about half), and a small model that fits loses most but not
 * all of its chunks to one forward of a larger one and needs a few forwards
 * to be resident again (about 40%, 90%, 99%). No fitted parameter: the size
 * is the machine's.
 *
 * State is a residency per chunk, kept as stored * scale so that evicting in
 * proportion from every chunk is one multiplication.
 */
#ifndef AION_SIM_CACHE_H
#define AION_SIM_CACHE_H

#define SIM_CACHE_SLOTS 512
#define SIM_CACHE_MODELS 2
/* A stream over this many chunks (4 caches) leaves nothing of what was there
 * before, itself included for its next forward: it is not tracked chunk by chunk. */
#define SIM_CACHE_MAX_CHUNKS (4 * SIM_CACHE_SLOTS)

typedef struct sim_cache {
    double chunk_bytes; /* cache bytes / SIM_CACHE_SLOTS; 0: no cache */
    double scale;       /* residency of a chunk = stored * scale */
    double stored_sum;  /* of every stored value, untracked included */
    double untracked;   /* stored residency of chunks no model owns (huge streams) */
    double stored[SIM_CACHE_MODELS][SIM_CACHE_MAX_CHUNKS];
    int n_chunks[SIM_CACHE_MODELS]; /* chunks of each model seen so far */
} sim_cache;

/* An empty cache of cache_bytes (0: none; every read then misses). */
void sim_cache_init(sim_cache *c, double cache_bytes);

/* Model `model` (0..SIM_CACHE_MODELS-1; any other: data of no model) reads `bytes` from its
 * start. Returns the expected fraction of them that hit, and updates what stays resident. */
double sim_cache_stream(sim_cache *c, int model, double bytes);

/* The fraction of its bytes a model hits when it alone streams `bytes` forward after forward. */
double sim_cache_solo_hits(double cache_bytes, double bytes);

#endif
