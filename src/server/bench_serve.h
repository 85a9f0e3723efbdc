/*
 * bench_serve.h - what continuous batching buys, measured in process (for `aio bench serve`).
 *
 * The same measurement as bench/serve_bench.sh without HTTP: for each
 * concurrency level C, C client threads each send requests back to back
 * (greedy, distinct prompts) to one model's scheduler; once with as many
 * slots as the highest level (batched) and once with one slot (one request
 * at a time). Reports output tokens/s and latency percentiles per level.
 */
#ifndef AION_SERVER_BENCH_SERVE_H
#define AION_SERVER_BENCH_SERVE_H

#include <stdbool.h>
#include <stdio.h>

#define SERVE_BENCH_MAX_LEVELS 8

typedef struct serve_bench_config {
    const char *model_path;
    int n_threads;           /* <= 0: all cores */
    int levels[SERVE_BENCH_MAX_LEVELS]; /* concurrency levels, ascending */
    int n_levels;
    int max_tokens;          /* per request */
    int requests_per_stream; /* each client sends this many, one after the other */
    int n_ctx;               /* tokens per slot; 0: 512 */
} serve_bench_config;

serve_bench_config serve_bench_default_config(void); /* levels 1 2 4 8 16, 64 tokens, 2 per stream */

typedef struct serve_bench_row {
    bool batched;            /* false: one slot, requests served one at a time */
    int slots, streams, requests;
    long output_tokens;
    double seconds, tokens_per_second;
    double latency_p50, latency_p99, ttft_p50, ttft_p99;
} serve_bench_row;

/* Runs both modes at every level; rows needs 2 * n_levels entries. Returns the number of rows,
 * or -1 with err. */
int serve_bench_run(const serve_bench_config *cfg, serve_bench_row *rows, char *err, size_t err_len);
/* A Markdown table (and the 8-stream speedup), or one JSON object with json. */
void serve_bench_print(const serve_bench_config *cfg, const serve_bench_row *rows, int n, bool json, FILE *out);

#endif
