/*
 * server_impl.h - the inside of an aion_server, shared by the server's files.
 *
 * pool.c loads the models and decides which one serves a request (route_auto),
 * api.c reads OpenAI request bodies, render.c writes OpenAI responses,
 * handlers.c implements the endpoints, http.c connects them to libmicrohttpd,
 * server.c starts and stops the whole. Not for use outside src/server/.
 */
#ifndef AION_SERVER_IMPL_H
#define AION_SERVER_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "chat.h"
#include "server/api.h"
#include "server/metrics.h"
#include "server/sched.h"
#include "server/server.h"
#include "server/util.h"

struct MHD_Daemon;
struct MHD_Connection;

typedef struct pool_model {
    aion_model *model;
    char *name;          /* general.name made safe for URLs and metric labels */
    char *path;
    int chat_template;   /* enum chat_template, or -1: the plain fallback (pool.c) */
    uint64_t weight_bytes;
    sched *sched;
} pool_model;

struct aion_server {
    server_config cfg;
    char *host, *api_key; /* owned copies */
    pool_model *models;
    int n_models;
    struct orch_router *router; /* probe + policy for "auto"; NULL: the largest model */
    aion_threads *threads;
    pthread_mutex_t forward_lock;
    metrics *mx;
    struct MHD_Daemon *daemon;
    int port;
    int quiesced_fd;     /* the listening socket once quiesced; closed after the daemon stops */
    atomic_bool stopping; /* server_free: connection threads give up their waits */
    atomic_uint_fast64_t next_id;
    uint64_t id_salt;

    pthread_mutex_t mu;  /* guards the fields below */
    pthread_cond_t calls_done;
    bool draining;       /* no new generations */
    int in_flight;       /* generations submitted and not yet answered */
};

/* ---- pool.c ---- */
int pool_load(aion_server *s, char *err, size_t err_len);
void pool_free(aion_server *s);
int pool_find(const aion_server *s, const char *name); /* -1 when no model has that name */

/* What the router may look at. */
typedef struct route_query {
    const char *text;  /* the prompt text (completions) or the last user message (chat); may be NULL */
    size_t len;
    bool chat;
    int max_tokens;    /* -1 when not given */
} route_query;
/* Writes the probed category ("none" without a probe) to category. */
int route_auto(const aion_server *s, const route_query *q, char *category, size_t category_len);

/* The prompt text of a conversation for model pm: its own chat template, else the fallback.
 * *parse_special tells how to tokenize it; *implicit_stop (may be NULL) is a stop string the
 * format needs. malloc'd; NULL with err. */
char *pool_chat_prompt(const pool_model *pm, const chat_msg *msgs, int n, bool *parse_special,
                       const char **implicit_stop, char *err, size_t err_len);

/* ---- handlers.c ---- */
/* Everything a connection needs to answer one request; http.c owns the lifecycle. */
typedef struct http_call {
    aion_server *srv;
    struct MHD_Connection *conn;
    int endpoint;          /* enum metrics_endpoint */
    sbuf body;
    bool too_large;
    size_t discarded;
    bool responded;
    /* a generation */
    gen_request *req;
    int model;             /* pool index */
    bool chat, stream, include_usage, logprobs;
    bool trim_space;       /* plain chat format: the answer's first space follows "Assistant:", not shown */
    int n_prompt;
    int strategy;
    char id[48];
    long created;
    /* streaming progress */
    size_t text_sent;
    int tokens_sent;
    bool role_sent, done_sent;
    size_t offset_sent;    /* text offset for completion logprobs */
    sbuf out;
    size_t out_pos;
} http_call;

/* Answers call (queues a response on its connection); returns the MHD result. */
int handle_request(http_call *call, const char *url, const char *method);

/* ---- http.c ---- */
int http_start(aion_server *s, char *err, size_t err_len);
void http_quiesce(aion_server *s);
void http_stop(aion_server *s);
/* Queue a complete response. */
int http_respond(http_call *call, int status, const char *content_type, char *body /* taken */);
int http_respond_error(http_call *call, int status, const char *message, const char *param, const char *code);
int http_respond_stream(http_call *call);
/* True when the client has gone (hung up or reset). */
bool http_client_gone(http_call *call);
/* A request header's value, NULL when absent. */
const char *http_header(http_call *call, const char *name);

/* ---- handlers.c, for http.c's stream reader ---- */
/* Appends the SSE events that are ready to call->out; false when there is nothing new yet. */
bool stream_produce(http_call *call);

#endif
