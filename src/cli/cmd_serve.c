/*
 * cmd_serve.c - `aio serve`: run the OpenAI-compatible server until a signal.
 *
 * Parses the options into a server_config (src/server/server.h), starts the
 * server and prints one "listening on" line (with the real port, so --port 0
 * can be used by scripts), then waits for SIGINT/SIGTERM with sigwait: the
 * signals are blocked in every thread, so no handler and no global flag is
 * needed. The first signal drains (stop accepting, finish what is in flight,
 * exit 0); a second one, or the drain timeout, cancels what is left.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "common.h"

#ifdef AION_HAVE_SERVER
#include "server/server.h"

#define MAX_MODELS 16
#define DRAIN_TIMEOUT_S 120.0

typedef struct serve_opts {
    server_config cfg;
    const char *paths[MAX_MODELS];
    char default_paths[2][4096];
} serve_opts;

static void serve_usage(void) {
    fprintf(stderr,
            "usage: aio serve [options]\n"
            "  --host ADDR        IPv4 address to bind (default 127.0.0.1: loopback only)\n"
            "  --port N           TCP port (default 8080; 0 = any free port, printed at start)\n"
            "  --models A.gguf,B.gguf   the pool as one comma-separated list (same as repeating -m)\n"
            "  -m MODEL.gguf      a model to serve (repeat for several; default: the embedded family\n"
            "                     aio-large + aio-small). Its name in requests is its general.name;\n"
            "                     \"auto\" lets the router choose\n"
            "  --parallel N       slots per model: requests decoded together in one batch (default 8)\n"
            "  --ctx N            tokens per slot (default: the model's training context, at most 4096)\n"
            "  --kv T             KV cache type: f32 (default) | f16\n"
            "  -t N               worker threads (default: all cores)\n"
            "  --api-key KEY      require \"Authorization: Bearer KEY\" (not for /health)\n"
            "  --chat-template NAME  chatml | llama3 | llama2 | mistral | zephyr (default: the model's own)\n"
            "  --max-queue N      requests that may wait for a slot before 429 (default 64)\n"
            "  --prefill-chunk N  most prompt tokens per batched step (default 128)\n"
            "  --spec-max N       speculation (aio_strategy lookup) only while <= N sequences decode (default 2)\n"
            "  --max-body BYTES   larger request bodies get 413 (default 1048576)\n"
            "  --quiet            no log lines\n");
}

static int add_default_models(serve_opts *o) {
    static const char *const names[2] = {"aio-large", "aio-small"};
    for (int i = 0; i < 2; i++)
        if (default_model_path(names[i], o->default_paths[i], sizeof o->default_paths[i]))
            o->paths[o->cfg.n_models++] = o->default_paths[i];
    if (o->cfg.n_models == 0) {
        fprintf(stderr, "error: no model given (-m) and neither aio-large.gguf nor aio-small.gguf was found "
                        "(set AION_MODELS to the models/ folder)\n");
        return 1;
    }
    return 0;
}

/* Returns 0, or the exit code of a usage error. */
static int parse_serve_args(int argc, char **argv, serve_opts *o) {
    o->cfg = server_default_config();
    o->cfg.model_paths = o->paths;
    long long max_body = (long long)o->cfg.max_body;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool ok = true;
        int v;
        if (opt_is(a, "-h", "--help")) return serve_usage(), 2;
        else if (opt_is(a, NULL, "--host")) ok = opt_str(argc, argv, &i, &o->cfg.host);
        else if (opt_is(a, NULL, "--port")) ok = opt_int(argc, argv, &i, &o->cfg.port);
        else if (opt_is(a, "-m", "--model")) {
            if (o->cfg.n_models == MAX_MODELS) return fprintf(stderr, "error: at most %d models\n", MAX_MODELS), 2;
            ok = opt_str(argc, argv, &i, &o->paths[o->cfg.n_models]);
            o->cfg.n_models += ok;
        } else if (opt_is(a, NULL, "--models")) { /* comma-separated list: the pool in one option */
            const char *list;
            ok = opt_str(argc, argv, &i, &list);
            for (char *save = NULL, *p = ok ? strtok_r(argv[i], ",", &save) : NULL; p; p = strtok_r(NULL, ",", &save)) {
                if (o->cfg.n_models == MAX_MODELS) return fprintf(stderr, "error: at most %d models\n", MAX_MODELS), 2;
                o->paths[o->cfg.n_models++] = p;
            }
        } else if (opt_is(a, "-np", "--parallel")) ok = opt_int(argc, argv, &i, &o->cfg.sched.n_parallel);
        else if (opt_is(a, "-c", "--ctx")) ok = opt_int(argc, argv, &i, &o->cfg.sched.n_ctx);
        else if (opt_is(a, NULL, "--kv")) ok = opt_kv(argc, argv, &i, &o->cfg.sched.kv_f16);
        else if (opt_is(a, "-t", "--threads")) ok = opt_int(argc, argv, &i, &o->cfg.n_threads);
        else if (opt_is(a, NULL, "--api-key")) ok = opt_str(argc, argv, &i, &o->cfg.api_key);
        else if (opt_is(a, NULL, "--chat-template")) ok = opt_str(argc, argv, &i, &o->cfg.chat_template);
        else if (opt_is(a, NULL, "--max-queue")) ok = opt_int(argc, argv, &i, &o->cfg.sched.max_queue);
        else if (opt_is(a, NULL, "--prefill-chunk")) ok = opt_int(argc, argv, &i, &o->cfg.sched.prefill_chunk);
        else if (opt_is(a, NULL, "--spec-max")) ok = opt_int(argc, argv, &i, &o->cfg.sched.spec_max_active);
        else if (opt_is(a, NULL, "--max-body")) {
            ok = opt_int(argc, argv, &i, &v);
            max_body = v;
        } else if (opt_is(a, NULL, "--quiet")) o->cfg.quiet = true;
        else {
            fprintf(stderr, "error: unknown option '%s'\n", a);
            serve_usage();
            return 2;
        }
        if (!ok) return 2;
    }
    if (o->cfg.sched.n_parallel < 1 || o->cfg.sched.n_parallel > 256 || o->cfg.sched.n_ctx < 0 ||
        o->cfg.sched.max_queue < 0 || o->cfg.sched.prefill_chunk < 1 || o->cfg.sched.spec_max_active < 0 ||
        max_body < 1024 || o->cfg.port < 0 || o->cfg.port > 65535) {
        fprintf(stderr, "error: --parallel 1..256, --ctx >= 0, --max-queue >= 0, --prefill-chunk >= 1, "
                        "--spec-max >= 0, --max-body >= 1024, --port 0..65535\n");
        return 2;
    }
    o->cfg.max_body = (size_t)max_body;
    return o->cfg.n_models ? 0 : add_default_models(o);
}

/* Waits for a signal, at most timeout_s (< 0: forever). Returns the signal or 0. */
static int wait_signal(const sigset_t *set, double timeout_s) {
    if (timeout_s < 0) {
        int sig = 0;
        return sigwait(set, &sig) == 0 ? sig : 0;
    }
    struct timespec ts = {(time_t)timeout_s, (long)((timeout_s - (double)(time_t)timeout_s) * 1e9)};
    int sig = sigtimedwait(set, NULL, &ts);
    return sig > 0 ? sig : 0;
}

int cmd_serve(int argc, char **argv) {
    serve_opts o;
    memset(&o, 0, sizeof o);
    int rc = parse_serve_args(argc, argv, &o);
    if (rc) return rc;
    /* Block before any thread exists: every thread inherits the mask, only sigwait sees them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN); /* a client that vanishes must not kill the server */

    char err[512];
    aion_server *srv = server_new(&o.cfg, err, sizeof err);
    if (!srv) {
        fprintf(stderr, "error: %s\n", err);
        return 1;
    }
    fprintf(stderr, "aio serve: listening on http://%s:%d (models:", o.cfg.host, server_port(srv));
    for (int i = 0; i < server_n_models(srv); i++) fprintf(stderr, " %s", server_model_name(srv, i));
    fprintf(stderr, ", auto)\n");
    fflush(stderr);

    int sig = wait_signal(&set, -1);
    if (!o.cfg.quiet) fprintf(stderr, "aio serve: %s, draining\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    /* Drain in slices so that a second signal can cut it short. */
    bool drained = false;
    for (double waited = 0; !drained && waited < DRAIN_TIMEOUT_S; waited += 0.2) {
        drained = server_drain(srv, 0.2);
        if (!drained && wait_signal(&set, 0.0)) break;
    }
    if (!o.cfg.quiet) fprintf(stderr, "aio serve: %s\n", drained ? "drained, bye" : "stopping with requests cancelled");
    server_free(srv);
    return 0;
}

#else

int cmd_serve(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "error: this aio was built without the server (-DAION_SERVER=OFF)\n");
    return 1;
}

#endif
