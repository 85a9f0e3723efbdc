/*
 * cmd_bench_serve.c - `aio bench serve`: continuous batching against one request
 * at a time, at concurrency 1..16, in one run (the measurement lives in
 * src/server/bench_serve.c; bench/serve_bench.sh does the same over HTTP).
 */
#include <stdio.h>
#include <string.h>

#include "common.h"
#ifdef AION_HAVE_SERVER
#include "server/bench_serve.h"
#endif

int cmd_bench_serve(int argc, char **argv) {
#ifndef AION_HAVE_SERVER
    (void)argc, (void)argv;
    fprintf(stderr, "error: this aio was built without the server (-DAION_SERVER=OFF)\n");
    return 1;
#else
    serve_bench_config cfg = serve_bench_default_config();
    const char *model = NULL;
    bool json = false;
    char buf[4096], err[512];
    for (int i = 1; i < argc; i++) {
        bool ok = true;
        if (opt_is(argv[i], "-m", "--model")) ok = opt_str(argc, argv, &i, &model);
        else if (opt_is(argv[i], "-t", "--threads")) ok = opt_int(argc, argv, &i, &cfg.n_threads);
        else if (opt_is(argv[i], "-n", "--max-tokens")) ok = opt_int(argc, argv, &i, &cfg.max_tokens);
        else if (opt_is(argv[i], NULL, "--requests")) ok = opt_int(argc, argv, &i, &cfg.requests_per_stream);
        else if (opt_is(argv[i], NULL, "--json")) json = true;
        else ok = false;
        if (!ok || cfg.max_tokens < 1 || cfg.requests_per_stream < 1) {
            fprintf(stderr, "usage: aio bench serve [-m MODEL] [-n TOKENS] [--requests N] [-t N] [--json]\n");
            return 2;
        }
    }
    cfg.model_path = model ? model : default_model_path("aio-large", buf, sizeof buf);
    if (!cfg.model_path) return fprintf(stderr, "error: no model (-m) and no embedded aio-large\n"), 1;
    serve_bench_row rows[2 * SERVE_BENCH_MAX_LEVELS];
    int n = serve_bench_run(&cfg, rows, err, sizeof err);
    if (n < 0) return fprintf(stderr, "error: %s\n", err), 1;
    serve_bench_print(&cfg, rows, n, json, stdout);
    return 0;
#endif
}
