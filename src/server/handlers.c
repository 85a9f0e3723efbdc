/*
 * handlers.c - what each endpoint does, independent of the HTTP library.
 *
 * A generation goes: parse and validate the body (api.c), pick the model
 * ("auto": route_auto), build the prompt (chat: the model's template), check
 * it against the context, submit it to the model's scheduler, then either wait
 * for the end (checking the client is still there) or hand the connection a
 * stream reader that turns the request's output into SSE events as it grows.
 * Submission and the draining flag share one lock, so nothing is submitted
 * once the server has begun to drain or stop.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "decode/decode.h"
#include "server/server_impl.h"

enum { DEFAULT_COMPLETION_TOKENS = 16 }; /* OpenAI's default for /v1/completions */

static int endpoint_of(const char *url) {
    if (strcmp(url, "/v1/completions") == 0) return EP_COMPLETIONS;
    if (strcmp(url, "/v1/chat/completions") == 0) return EP_CHAT;
    if (strcmp(url, "/v1/models") == 0 || strncmp(url, "/v1/models/", 11) == 0) return EP_MODELS;
    if (strcmp(url, "/health") == 0) return EP_HEALTH;
    if (strcmp(url, "/metrics") == 0) return EP_METRICS;
    return EP_OTHER;
}

static int respond_api_error(http_call *call, const api_error *e) {
    return http_respond_error(call, e->status, e->message, e->param, e->code);
}

static bool authorized(http_call *call) {
    const char *key = call->srv->api_key;
    if (!key || !key[0]) return true;
    const char *h = http_header(call, "Authorization");
    if (!h || strncmp(h, "Bearer ", 7) != 0) return false;
    return secret_equal(h + 7, key);
}

/* ------------------------------------------------------------ simple GETs */

static int handle_models(http_call *call, const char *url) {
    aion_server *s = call->srv;
    const char *one = strncmp(url, "/v1/models/", 11) == 0 ? url + 11 : NULL;
    if (one && strcmp(one, "auto") != 0 && pool_find(s, one) < 0)
        return http_respond_error(call, 404, "The model does not exist", "model", "model_not_found");
    sbuf b = {0};
    if (!one) sbuf_puts(&b, "{\"object\":\"list\",\"data\":[");
    for (int i = 0; i <= s->n_models; i++) {
        const char *name = i < s->n_models ? s->models[i].name : "auto";
        if (one && strcmp(one, name) != 0) continue;
        int n_ctx = i < s->n_models ? sched_n_ctx(s->models[i].sched) : 0;
        sbuf_printf(&b, "%s{\"id\":\"%s\",\"object\":\"model\",\"created\":%ld,\"owned_by\":\"aio\"", i && !one ? "," : "",
                    name, (long)call->created);
        if (n_ctx) sbuf_printf(&b, ",\"aio\":{\"context_length\":%d,\"slots\":%d}", n_ctx, s->cfg.sched.n_parallel);
        sbuf_puts(&b, "}");
        if (one) break;
    }
    if (!one) sbuf_puts(&b, "]}");
    char *body = sbuf_take(&b);
    return body ? http_respond(call, 200, "application/json", body)
                : http_respond_error(call, 500, "out of memory", NULL, NULL);
}

static int handle_health(http_call *call) {
    aion_server *s = call->srv;
    pthread_mutex_lock(&s->mu);
    bool draining = s->draining;
    pthread_mutex_unlock(&s->mu);
    char *body = strdup(draining ? "{\"status\":\"draining\"}" : "{\"status\":\"ok\"}");
    return http_respond(call, draining ? 503 : 200, "application/json", body);
}

static int handle_metrics(http_call *call) {
    aion_server *s = call->srv;
    metrics_gauges g[64];
    int n = s->n_models < 64 ? s->n_models : 64;
    for (int i = 0; i < n; i++) sched_gauges(s->models[i].sched, &g[i]);
    char *body = metrics_render(s->mx, g);
    return body ? http_respond(call, 200, "text/plain; version=0.0.4; charset=utf-8", body)
                : http_respond_error(call, 500, "out of memory", NULL, NULL);
}

/* ------------------------------------------------------------- generation */

static int resolve_model(http_call *call, const api_gen *g, api_error *e) {
    aion_server *s = call->srv;
    if (strcmp(g->model, "auto") == 0) {
        const char *text = g->chat ? g->messages[g->n_messages - 1].content : g->prompt;
        route_query q = {text, text ? strlen(text) : 0, g->chat, g->max_tokens};
        char category[24] = "none";
        int m = route_auto(s, &q, category, sizeof category);
        if (m < 0 || m >= s->n_models) m = 0; /* a router bug must not become a crash */
        metrics_route(s->mx, true, m, category);
        return m;
    }
    int m = pool_find(s, g->model);
    if (m < 0) api_error_set(e, 404, "model", "model_not_found", "The model '%s' does not exist", g->model);
    else metrics_route(s->mx, false, m, NULL);
    return m;
}

static int32_t *tokenize_text(const aion_model *m, const char *text, bool special, int *n_out, api_error *e) {
    size_t len = strlen(text);
    bool bos = aion_add_bos_default(m);
    int n = aion_tokenize(m, text, len, bos, special, NULL, 0);
    int32_t *ids = n > 0 ? malloc((size_t)n * sizeof *ids) : NULL;
    if (n < 0 || (n > 0 && !ids)) {
        api_error_set(e, 500, NULL, NULL, "cannot tokenize the prompt");
        free(ids);
        return NULL;
    }
    if (n > 0) aion_tokenize(m, text, len, bos, special, ids, n);
    *n_out = n;
    return ids;
}

/* The prompt's token ids for model pm, plus the stop the chat format implies (may be NULL). */
static int32_t *build_prompt(const pool_model *pm, const api_gen *g, int *n, const char **implicit_stop,
                             api_error *e) {
    *implicit_stop = NULL;
    if (g->chat) {
        char err[256];
        bool special;
        char *text = pool_chat_prompt(pm, g->messages, g->n_messages, &special, implicit_stop, err, sizeof err);
        if (!text) {
            api_error_set(e, 400, "messages", "invalid_value", "%s", err);
            return NULL;
        }
        int32_t *ids = tokenize_text(pm->model, text, special, n, e);
        free(text);
        return ids;
    }
    if (g->prompt) return tokenize_text(pm->model, g->prompt, false, n, e);
    int32_t n_vocab = aion_n_vocab(pm->model);
    for (int i = 0; i < g->n_prompt_ids; i++)
        if (g->prompt_ids[i] >= n_vocab) {
            api_error_set(e, 400, "prompt", "invalid_value", "token id %d is outside the vocabulary (%d)",
                          g->prompt_ids[i], n_vocab);
            return NULL;
        }
    int32_t *ids = malloc((size_t)g->n_prompt_ids * sizeof *ids);
    if (!ids) {
        api_error_set(e, 500, NULL, NULL, "out of memory");
        return NULL;
    }
    memcpy(ids, g->prompt_ids, (size_t)g->n_prompt_ids * sizeof *ids);
    *n = g->n_prompt_ids;
    return ids;
}

static uint64_t next_id(aion_server *s) {
    uint64_t x = atomic_fetch_add(&s->next_id, 1) * 0x9E3779B97F4A7C15ull + s->id_salt;
    x ^= x >> 31; /* splitmix finaliser: ids and seeds look unrelated */
    x *= 0xBF58476D1CE4E5B9ull;
    return x ^ (x >> 29);
}

static bool fill_params(http_call *call, const api_gen *g, int n_ctx, const char *implicit_stop, gen_params *p,
                        api_error *e) {
    if (g->max_tokens > n_ctx) {
        api_error_set(e, 400, "max_tokens", "invalid_value",
                      "max_tokens is %d; this model's context holds %d tokens", g->max_tokens, n_ctx);
        return false;
    }
    int room = n_ctx - p->n_prompt;
    p->max_tokens = g->max_tokens > 0 ? g->max_tokens : g->chat ? room : DEFAULT_COMPLETION_TOKENS;
    p->sampling = aion_sampler_default_params();
    p->sampling.temperature = g->temperature;
    p->sampling.top_p = g->top_p;
    p->sampling.top_k = 0;
    p->sampling.min_p = 0;
    p->sampling.repeat_penalty = 1.0f;
    p->sampling.seed = g->has_seed ? g->seed : next_id(call->srv);
    p->strategy = g->strategy;
    p->logprobs = g->logprobs;
    for (int i = 0; i < g->n_stops; i++)
        if (!(p->stops[p->n_stops++] = strdup(g->stops[i]))) return api_error_set(e, 500, NULL, NULL, "out of memory"), false;
    if (implicit_stop && p->n_stops < GEN_MAX_STOPS && !(p->stops[p->n_stops++] = strdup(implicit_stop)))
        return api_error_set(e, 500, NULL, NULL, "out of memory"), false;
    return true;
}

/* Submits, unless the server drains or the queue is full. */
static bool submit(http_call *call, gen_request *r, api_error *e) {
    aion_server *s = call->srv;
    pthread_mutex_lock(&s->mu);
    int rc = s->draining ? -3 : sched_submit(s->models[call->model].sched, r);
    if (rc == 0) s->in_flight++;
    pthread_mutex_unlock(&s->mu);
    if (rc == -3) api_error_set(e, 503, NULL, "server_shutting_down", "the server is shutting down");
    else if (rc == -1) api_error_set(e, 429, NULL, "queue_full", "too many requests are waiting; retry later");
    else if (rc == -2) api_error_set(e, 400, "prompt", "context_length_exceeded", "the prompt does not fit the context");
    return rc == 0;
}

static bool start_generation(http_call *call, const api_gen *g, api_error *e) {
    call->model = resolve_model(call, g, e);
    if (call->model < 0) return false;
    const pool_model *pm = &call->srv->models[call->model];
    int n_ctx = sched_n_ctx(pm->sched);
    gen_request *r = gen_request_new();
    if (!r) return api_error_set(e, 500, NULL, NULL, "out of memory"), false;
    const char *implicit_stop;
    r->params.prompt = build_prompt(pm, g, &r->params.n_prompt, &implicit_stop, e);
    bool ok = r->params.prompt != NULL;
    if (ok && r->params.n_prompt >= n_ctx) {
        api_error_set(e, 400, g->chat ? "messages" : "prompt", "context_length_exceeded",
                      "This model's maximum context length is %d tokens; the prompt has %d", n_ctx, r->params.n_prompt);
        ok = false;
    }
    ok = ok && fill_params(call, g, n_ctx, implicit_stop, &r->params, e) && submit(call, r, e);
    if (!ok) {
        gen_request_unref(r);
        return false;
    }
    call->req = r;
    call->chat = g->chat;
    call->stream = g->stream;
    call->include_usage = g->include_usage;
    call->logprobs = g->logprobs;
    call->n_prompt = r->params.n_prompt;
    call->strategy = g->strategy;
    call->trim_space = g->chat && pm->chat_template < 0;
    snprintf(call->id, sizeof call->id, "%s-%016" PRIx64, g->chat ? "chatcmpl" : "cmpl", next_id(call->srv));
    return true;
}

static api_reply reply_of(const http_call *call) {
    const pool_model *pm = &call->srv->models[call->model];
    return (api_reply){.id = call->id, .created = call->created, .model_name = pm->name, .model = pm->model,
                       .chat = call->chat, .n_prompt = call->n_prompt, .strategy = decode_strategy_name(call->strategy)};
}

static void error_of(const gen_request *r, api_error *e) {
    if (r->finish == GEN_CANCELLED) api_error_set(e, 503, NULL, "cancelled", "%s", r->error[0] ? r->error : "cancelled");
    else api_error_set(e, 500, NULL, NULL, "generation failed: %s", r->error);
}

static int wait_and_respond(http_call *call) {
    gen_request *r = call->req;
    while (!gen_request_wait(r, (size_t)-1, 0.1)) {
        if (http_client_gone(call) || atomic_load(&call->srv->stopping)) {
            gen_request_cancel(r); /* frees the slot at the scheduler's next step */
            return 0;              /* MHD_NO: close the connection */
        }
    }
    api_reply a = reply_of(call);
    api_error e;
    pthread_mutex_lock(&r->mu);
    a.skip = call->trim_space && r->text_len && r->text[0] == ' ';
    bool failed = r->finish == GEN_ERROR || r->finish == GEN_CANCELLED;
    char *body = failed ? NULL : api_full_response(&a, r);
    if (failed) error_of(r, &e);
    pthread_mutex_unlock(&r->mu);
    if (failed) return respond_api_error(call, &e);
    return body ? http_respond(call, 200, "application/json", body)
                : http_respond_error(call, 500, "out of memory", NULL, NULL);
}

bool stream_produce(http_call *call) {
    gen_request *r = call->req;
    api_reply a = reply_of(call);
    size_t before = call->out.len;
    pthread_mutex_lock(&r->mu);
    if (call->chat && !call->role_sent) {
        api_delta d = {.role = true, .usage_null = call->include_usage};
        api_stream_chunk(&a, &d, &call->out);
        call->role_sent = true;
    }
    if (call->trim_space && call->text_sent == 0 && r->text_len) {
        call->text_sent = r->text[0] == ' ';
        call->trim_space = false;
    }
    if (r->text_len > call->text_sent) {
        api_delta d = {r->text + call->text_sent, r->text_len - call->text_sent, NULL, 0, call->offset_sent, NULL,
                       false, call->include_usage};
        if (call->logprobs) {
            d.tokens = r->tokens + call->tokens_sent;
            d.n_tokens = r->n_tokens - call->tokens_sent;
            call->tokens_sent = r->n_tokens;
        }
        api_stream_chunk(&a, &d, &call->out);
        call->offset_sent += d.len;
        call->text_sent = r->text_len;
    }
    if (r->finish != GEN_RUNNING) {
        if (r->finish == GEN_ERROR || r->finish == GEN_CANCELLED) {
            api_error e;
            error_of(r, &e);
            api_stream_error(&e, &call->out);
        } else {
            api_delta d = {.finish = gen_finish_reason(r->finish), .usage_null = call->include_usage};
            api_stream_chunk(&a, &d, &call->out);
            if (call->include_usage) api_stream_usage(&a, r, &call->out);
        }
        api_stream_done(&call->out);
        call->done_sent = true;
    }
    pthread_mutex_unlock(&r->mu);
    return call->out.len > before || call->out.failed;
}

static int handle_generation(http_call *call, bool chat) {
    api_gen g;
    api_error e;
    if (!api_parse_gen(call->body.s ? call->body.s : "", call->body.len, chat, &g, &e))
        return respond_api_error(call, &e);
    bool ok = start_generation(call, &g, &e);
    api_gen_free(&g);
    if (!ok) return respond_api_error(call, &e);
    return call->stream ? http_respond_stream(call) : wait_and_respond(call);
}

/* ------------------------------------------------------------------ routing */

int handle_request(http_call *call, const char *url, const char *method) {
    call->endpoint = endpoint_of(url);
    call->created = (long)time(NULL);
    if (call->too_large) {
        char msg[96];
        snprintf(msg, sizeof msg, "the request body exceeds %zu bytes", call->srv->cfg.max_body);
        return http_respond_error(call, 413, msg, NULL, "request_too_large");
    }
    if (call->endpoint != EP_HEALTH && !authorized(call))
        return http_respond_error(call, 401, "Incorrect API key provided", NULL, "invalid_api_key");
    bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    switch (call->endpoint) {
    case EP_COMPLETIONS:
    case EP_CHAT:
        if (!post) break;
        return handle_generation(call, call->endpoint == EP_CHAT);
    case EP_MODELS:
        if (!get) break;
        return handle_models(call, url);
    case EP_HEALTH:
        if (!get) break;
        return handle_health(call);
    case EP_METRICS:
        if (!get) break;
        return handle_metrics(call);
    default:
        return http_respond_error(call, 404, "no such endpoint", NULL, "not_found");
    }
    return http_respond_error(call, 405, "method not allowed", NULL, "method_not_allowed");
}
