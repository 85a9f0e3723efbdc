/*
 * server.h - `aio serve`: an OpenAI-compatible HTTP server over a pool of models.
 *
 * One aion_server owns everything it runs: the models, one continuous-batching
 * scheduler per model (sched.h), the worker pool they share, the metrics and
 * the HTTP daemon (libmicrohttpd, a thread per connection). There is no global
 * state, so several servers can live in one process (the tests do).
 *
 * Endpoints: GET /v1/models, POST /v1/completions, POST /v1/chat/completions
 * (with SSE streaming), GET /health, GET /metrics (Prometheus). The request
 * field "model" names a pool member (its general.name) or "auto" (route_auto).
 */
#ifndef AION_SERVER_H
#define AION_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "server/sched.h"

typedef struct server_config {
    const char *host;          /* IPv4 address to bind; default 127.0.0.1 (loopback only) */
    int port;                  /* 0: any free port (see server_port) */
    const char *const *model_paths; /* GGUF files; none: the embedded default family */
    int n_models;
    int n_threads;             /* worker threads of the shared pool; <= 0: all cores */
    const char *api_key;       /* when set, requests need "Authorization: Bearer KEY" (not /health) */
    size_t max_body;           /* larger request bodies get 413 */
    sched_config sched;        /* per model: slots, context, queue */
    bool quiet;                /* no log lines on stderr */
    const char *chat_template; /* NULL: each model's own (tokenizer.chat_template); else a name */
} server_config;

server_config server_default_config(void);

typedef struct aion_server aion_server;

/* Loads the models, starts the schedulers and listens. NULL with a message in err. */
aion_server *server_new(const server_config *cfg, char *err, size_t err_len);
int server_port(const aion_server *s);
/* Stops accepting connections and new generations, then waits up to timeout_s for the ones in
 * flight to be answered. Returns true when everything drained. */
bool server_drain(aion_server *s, double timeout_s);
/* Stops everything (cancelling what is still running) and frees. */
void server_free(aion_server *s);

/* Names of the served models, in pool order (valid while the server lives). */
int server_n_models(const aion_server *s);
const char *server_model_name(const aion_server *s, int i);

#endif
