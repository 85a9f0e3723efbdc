/*
 * api.c - OpenAI request bodies in, OpenAI responses out (see api.h).
 *
 * Reading: each field has one small reader that accepts absence or null as
 * "not given" and names the field in the error otherwise, so the 400 answers
 * say exactly what was wrong. Writing builds cJSON trees; every text that came
 * from the model passes through utf8_repair first, because byte-level tokens
 * can produce invalid UTF-8 and JSON strings may not carry it.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode/decode.h"
#include "server/api.h"

void api_error_set(api_error *e, int status, const char *param, const char *code, const char *fmt, ...) {
    e->status = status;
    e->param = param;
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------ field readers */

static const cJSON *field(const cJSON *root, const char *name) {
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(root, name);
    return f && !cJSON_IsNull(f) ? f : NULL;
}

static bool read_int(const cJSON *root, const char *name, double lo, double hi, long long *out, bool *given,
                     api_error *e) {
    const cJSON *f = field(root, name);
    *given = f != NULL;
    if (!f) return true;
    double v = cJSON_IsNumber(f) ? f->valuedouble : NAN;
    if (!cJSON_IsNumber(f) || v != floor(v)) {
        api_error_set(e, 400, name, "invalid_type", "'%s' must be an integer", name);
        return false;
    }
    if (v < lo || v > hi) {
        api_error_set(e, 400, name, "invalid_value", "'%s' is %.0f; it must be between %.0f and %.0f", name, v, lo, hi);
        return false;
    }
    *out = (long long)v;
    return true;
}

static bool read_number(const cJSON *root, const char *name, double lo, double hi, float *out, api_error *e) {
    const cJSON *f = field(root, name);
    if (!f) return true;
    if (!cJSON_IsNumber(f)) {
        api_error_set(e, 400, name, "invalid_type", "'%s' must be a number", name);
        return false;
    }
    if (!(f->valuedouble >= lo && f->valuedouble <= hi)) {
        api_error_set(e, 400, name, "invalid_value", "'%s' is %g; it must be between %g and %g", name, f->valuedouble,
                      lo, hi);
        return false;
    }
    *out = (float)f->valuedouble;
    return true;
}

static bool read_bool(const cJSON *root, const char *name, bool *out, api_error *e) {
    const cJSON *f = field(root, name);
    if (!f) return true;
    if (!cJSON_IsBool(f)) {
        api_error_set(e, 400, name, "invalid_type", "'%s' must be a boolean", name);
        return false;
    }
    *out = cJSON_IsTrue(f);
    return true;
}

static bool read_model(const cJSON *root, api_gen *g, api_error *e) {
    const cJSON *f = field(root, "model");
    snprintf(g->model, sizeof g->model, "auto");
    if (!f) return true;
    if (!cJSON_IsString(f)) {
        api_error_set(e, 400, "model", "invalid_type", "'model' must be a string");
        return false;
    }
    if (strlen(f->valuestring) >= sizeof g->model) {
        api_error_set(e, 404, "model", "model_not_found", "The model does not exist");
        return false;
    }
    snprintf(g->model, sizeof g->model, "%s", f->valuestring);
    return true;
}

static bool read_stops(const cJSON *root, api_gen *g, api_error *e) {
    const cJSON *f = field(root, "stop");
    if (!f) return true;
    const cJSON *one = cJSON_IsString(f) ? f : NULL;
    if (!one && (!cJSON_IsArray(f) || cJSON_GetArraySize(f) > GEN_MAX_STOPS)) {
        api_error_set(e, 400, "stop", "invalid_type", "'stop' must be a string or an array of at most %d strings",
                      GEN_MAX_STOPS);
        return false;
    }
    for (const cJSON *s = one ? one : f->child; s; s = one ? NULL : s->next) {
        if (!cJSON_IsString(s) || strlen(s->valuestring) > GEN_MAX_STOP_LEN) {
            api_error_set(e, 400, "stop", "invalid_type", "each stop sequence must be a string of at most %d bytes",
                          GEN_MAX_STOP_LEN);
            return false;
        }
        if (!s->valuestring[0]) continue; /* an empty stop would end every generation at once */
        if (!(g->stops[g->n_stops] = strdup(s->valuestring))) {
            api_error_set(e, 500, NULL, NULL, "out of memory");
            return false;
        }
        g->n_stops++;
    }
    return true;
}

static bool read_strategy(const cJSON *root, api_gen *g, api_error *e) {
    const cJSON *f = field(root, "aio_strategy");
    g->strategy = DECODE_AR;
    if (!f) return true;
    int st = cJSON_IsString(f) ? decode_strategy_from_name(f->valuestring) : -1;
    if (st != DECODE_AR && st != DECODE_LOOKUP) {
        api_error_set(e, 400, "aio_strategy", "invalid_value", "'aio_strategy' must be \"ar\" or \"lookup\"");
        return false;
    }
    g->strategy = st;
    return true;
}

/* Sampling, length and output options common to both endpoints. */
static bool read_options(const cJSON *root, api_gen *g, api_error *e) {
    long long v;
    bool given;
    if (!read_int(root, "n", 1, 1, &v, &given, e)) return false;
    if (!read_int(root, g->chat ? "max_completion_tokens" : "max_tokens", 1, 1 << 20, &v, &given, e)) return false;
    if (!given && g->chat && !read_int(root, "max_tokens", 1, 1 << 20, &v, &given, e)) return false;
    g->max_tokens = given ? (int)v : -1;
    g->temperature = 1.0f;
    g->top_p = 1.0f;
    if (!read_number(root, "temperature", 0, 2, &g->temperature, e)) return false;
    if (!read_number(root, "top_p", 1e-9, 1, &g->top_p, e)) return false;
    float ignored = 0;
    if (!read_number(root, "presence_penalty", -2, 2, &ignored, e)) return false;
    if (!read_number(root, "frequency_penalty", -2, 2, &ignored, e)) return false;
    if (!read_int(root, "seed", -9.2e18, 9.2e18, &v, &g->has_seed, e)) return false;
    g->seed = (uint64_t)v;
    if (!read_bool(root, "stream", &g->stream, e)) return false;
    const cJSON *so = field(root, "stream_options");
    if (so && !cJSON_IsObject(so)) {
        api_error_set(e, 400, "stream_options", "invalid_type", "'stream_options' must be an object");
        return false;
    }
    if (so && !read_bool(so, "include_usage", &g->include_usage, e)) return false;
    if (g->chat) {
        if (!read_bool(root, "logprobs", &g->logprobs, e)) return false;
        if (!read_int(root, "top_logprobs", 0, 20, &v, &given, e)) return false;
    } else {
        const cJSON *lp = field(root, "logprobs");
        if (lp && cJSON_IsBool(lp)) g->logprobs = cJSON_IsTrue(lp);
        else if (!read_int(root, "logprobs", 0, 5, &v, &given, e)) return false;
        else if (given) g->logprobs = v > 0;
    }
    return read_stops(root, g, e) && read_strategy(root, g, e);
}

static bool read_prompt(const cJSON *root, api_gen *g, api_error *e) {
    const cJSON *f = field(root, "prompt");
    if (f && cJSON_IsArray(f) && cJSON_GetArraySize(f) == 1 && cJSON_IsString(f->child)) f = f->child;
    if (f && cJSON_IsString(f)) return (g->prompt = strdup(f->valuestring)) != NULL;
    bool ids = f && cJSON_IsArray(f) && cJSON_GetArraySize(f) > 0;
    for (const cJSON *t = ids ? f->child : NULL; t; t = t->next)
        if (!cJSON_IsNumber(t) || t->valuedouble != floor(t->valuedouble) || t->valuedouble < 0 || t->valuedouble > 1e9)
            ids = false;
    if (!ids) {
        api_error_set(e, 400, "prompt", f ? "invalid_type" : "missing_required_parameter",
                      "'prompt' must be a string, an array of one string or an array of token ids");
        return false;
    }
    g->n_prompt_ids = cJSON_GetArraySize(f);
    g->prompt_ids = malloc((size_t)g->n_prompt_ids * sizeof *g->prompt_ids);
    if (!g->prompt_ids) return false;
    int i = 0;
    for (const cJSON *t = f->child; t; t = t->next) g->prompt_ids[i++] = (int32_t)t->valuedouble;
    return true;
}

/* Message content: a string, or an array of {"type": "text", "text": ...} parts. */
static char *message_content(const cJSON *c) {
    if (!c) return strdup("");
    if (cJSON_IsString(c)) return strdup(c->valuestring);
    if (!cJSON_IsArray(c)) return NULL;
    sbuf b = {0};
    sbuf_puts(&b, "");
    for (const cJSON *part = c->child; part; part = part->next) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type");
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (!cJSON_IsString(type) || strcmp(type->valuestring, "text") != 0 || !cJSON_IsString(text)) {
            sbuf_free(&b);
            return NULL;
        }
        sbuf_puts(&b, text->valuestring);
    }
    return sbuf_take(&b);
}

static bool read_messages(const cJSON *root, api_gen *g, api_error *e) {
    const cJSON *f = field(root, "messages");
    int n = f && cJSON_IsArray(f) ? cJSON_GetArraySize(f) : 0;
    if (n < 1 || n > 4096) {
        api_error_set(e, 400, "messages", f ? "invalid_value" : "missing_required_parameter",
                      "'messages' must be a non-empty array of messages");
        return false;
    }
    g->messages = calloc((size_t)n, sizeof *g->messages);
    if (!g->messages) return false;
    for (const cJSON *m = f->child; m; m = m->next) {
        const cJSON *role = cJSON_IsObject(m) ? cJSON_GetObjectItemCaseSensitive(m, "role") : NULL;
        const cJSON *content = cJSON_IsObject(m) ? field(m, "content") : NULL;
        bool assistant = cJSON_IsString(role) && strcmp(role->valuestring, "assistant") == 0;
        if (!cJSON_IsString(role) || !role->valuestring[0] || (!content && !assistant)) {
            api_error_set(e, 400, "messages", "invalid_value",
                          "messages[%d] needs a 'role' string and a 'content' (string or text parts)", g->n_messages);
            return false;
        }
        chat_msg *cm = &g->messages[g->n_messages++];
        cm->role = strdup(role->valuestring);
        cm->content = message_content(content);
        if (!cm->role || !cm->content) {
            api_error_set(e, 400, "messages", "invalid_value", "messages[%d].content must be a string or text parts",
                          g->n_messages - 1);
            return false;
        }
    }
    return true;
}

bool api_parse_gen(const char *body, size_t len, bool chat, api_gen *g, api_error *e) {
    memset(g, 0, sizeof *g);
    g->chat = chat;
    g->max_tokens = -1;
    api_error_set(e, 500, NULL, NULL, "out of memory"); /* what a bare false means below */
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!root || !cJSON_IsObject(root)) {
        api_error_set(e, 400, NULL, NULL, root ? "the request body must be a JSON object"
                                               : "the request body is not valid JSON");
        cJSON_Delete(root);
        return false;
    }
    bool ok = read_model(root, g, e) && (chat ? read_messages(root, g, e) : read_prompt(root, g, e)) &&
              read_options(root, g, e);
    cJSON_Delete(root);
    if (!ok) api_gen_free(g);
    return ok;
}

void api_gen_free(api_gen *g) {
    free(g->prompt);
    free(g->prompt_ids);
    for (int i = 0; i < g->n_messages; i++) {
        free((char *)g->messages[i].role);
        free((char *)g->messages[i].content);
    }
    free(g->messages);
    for (int i = 0; i < g->n_stops; i++) free(g->stops[i]);
    bool chat = g->chat;
    memset(g, 0, sizeof *g);
    g->chat = chat;
}

/* ------------------------------------------------------------------ writing */

static void add_text(cJSON *obj, const char *key, const char *s, size_t n) {
    char *fixed = utf8_repair(s ? s : "", s ? n : 0);
    cJSON_AddStringToObject(obj, key, fixed ? fixed : "");
    free(fixed);
}

static char *print_and_free(cJSON *j) {
    char *s = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    return s;
}

static cJSON *error_object(const api_error *e) {
    cJSON *j = cJSON_CreateObject(), *err = cJSON_AddObjectToObject(j, "error");
    cJSON_AddStringToObject(err, "message", e->message);
    cJSON_AddStringToObject(err, "type", e->status >= 500 ? "server_error" : "invalid_request_error");
    if (e->param) cJSON_AddStringToObject(err, "param", e->param);
    else cJSON_AddNullToObject(err, "param");
    if (e->code) cJSON_AddStringToObject(err, "code", e->code);
    else cJSON_AddNullToObject(err, "code");
    return j;
}

char *api_error_json(const api_error *e) { return print_and_free(error_object(e)); }

static int token_text(const aion_model *m, int32_t id, char *buf, int cap) {
    int n = aion_token_piece(m, id, buf, cap - 1);
    if (n < 0) n = 0;
    if (n > cap - 1) n = cap - 1;
    buf[n] = 0;
    return n;
}

/* Completions: {"tokens", "token_logprobs", "top_logprobs", "text_offset"}. */
static cJSON *completion_logprobs(const api_reply *a, const gen_token *toks, int n, size_t offset) {
    cJSON *lp = cJSON_CreateObject();
    cJSON *tokens = cJSON_AddArrayToObject(lp, "tokens"), *lps = cJSON_AddArrayToObject(lp, "token_logprobs");
    cJSON *tops = cJSON_AddArrayToObject(lp, "top_logprobs"), *offs = cJSON_AddArrayToObject(lp, "text_offset");
    for (int i = 0; i < n; i++) {
        char piece[256];
        int len = token_text(a->model, toks[i].id, piece, sizeof piece);
        char *fixed = utf8_repair(piece, (size_t)len);
        cJSON_AddItemToArray(tokens, cJSON_CreateString(fixed ? fixed : ""));
        cJSON_AddItemToArray(lps, cJSON_CreateNumber(toks[i].logprob));
        cJSON *top = cJSON_CreateObject();
        cJSON_AddNumberToObject(top, fixed ? fixed : "", toks[i].logprob);
        cJSON_AddItemToArray(tops, top);
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)offset));
        offset += (size_t)len;
        free(fixed);
    }
    return lp;
}

/* Chat: {"content": [{"token", "logprob", "bytes", "top_logprobs"}]}. */
static cJSON *chat_logprobs(const api_reply *a, const gen_token *toks, int n) {
    cJSON *lp = cJSON_CreateObject(), *content = cJSON_AddArrayToObject(lp, "content");
    for (int i = 0; i < n; i++) {
        char piece[256];
        int len = token_text(a->model, toks[i].id, piece, sizeof piece);
        char *fixed = utf8_repair(piece, (size_t)len);
        cJSON *t = cJSON_CreateObject();
        cJSON_AddStringToObject(t, "token", fixed ? fixed : "");
        cJSON_AddNumberToObject(t, "logprob", toks[i].logprob);
        cJSON *bytes = cJSON_AddArrayToObject(t, "bytes");
        for (int k = 0; k < len; k++) cJSON_AddItemToArray(bytes, cJSON_CreateNumber((unsigned char)piece[k]));
        cJSON *top = cJSON_AddArrayToObject(t, "top_logprobs"), *first = cJSON_CreateObject();
        cJSON_AddStringToObject(first, "token", fixed ? fixed : "");
        cJSON_AddNumberToObject(first, "logprob", toks[i].logprob);
        cJSON_AddItemToArray(top, first);
        cJSON_AddItemToArray(content, t);
        free(fixed);
    }
    return lp;
}

static cJSON *envelope(const api_reply *a, const char *object) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "id", a->id);
    cJSON_AddStringToObject(j, "object", object);
    cJSON_AddNumberToObject(j, "created", (double)a->created);
    cJSON_AddStringToObject(j, "model", a->model_name);
    cJSON_AddStringToObject(j, "system_fingerprint", "aio");
    return j;
}

static void add_usage(cJSON *j, const api_reply *a, const gen_request *r) {
    cJSON *u = cJSON_AddObjectToObject(j, "usage");
    cJSON_AddNumberToObject(u, "prompt_tokens", a->n_prompt);
    cJSON_AddNumberToObject(u, "completion_tokens", r->n_generated);
    cJSON_AddNumberToObject(u, "total_tokens", a->n_prompt + r->n_generated);
}

/* The extra object OpenAI clients ignore: which model and strategy served, what speculation did. */
static void add_aio(cJSON *j, const api_reply *a, const gen_request *r) {
    cJSON *x = cJSON_AddObjectToObject(j, "aio");
    cJSON_AddStringToObject(x, "model", a->model_name);
    cJSON_AddStringToObject(x, "strategy", a->strategy);
    cJSON_AddNumberToObject(x, "rounds", r->rounds);
    cJSON_AddNumberToObject(x, "drafted", r->drafted);
    cJSON_AddNumberToObject(x, "accepted", r->accepted);
}

static const char *finish_name(int finish) { return finish == GEN_LENGTH ? "length" : "stop"; }

char *api_full_response(const api_reply *a, const gen_request *r) {
    cJSON *j = envelope(a, a->chat ? "chat.completion" : "text_completion");
    cJSON *choices = cJSON_AddArrayToObject(j, "choices"), *c = cJSON_CreateObject();
    cJSON_AddItemToArray(choices, c);
    cJSON_AddNumberToObject(c, "index", 0);
    bool lp = r->params.logprobs;
    if (a->chat) {
        cJSON *msg = cJSON_AddObjectToObject(c, "message");
        cJSON_AddStringToObject(msg, "role", "assistant");
        size_t skip = a->skip < r->text_len ? a->skip : r->text_len;
        add_text(msg, "content", r->text ? r->text + skip : NULL, r->text_len - skip);
        if (lp) cJSON_AddItemToObject(c, "logprobs", chat_logprobs(a, r->tokens, r->n_tokens));
        else cJSON_AddNullToObject(c, "logprobs");
    } else {
        add_text(c, "text", r->text, r->text_len);
        if (lp) cJSON_AddItemToObject(c, "logprobs", completion_logprobs(a, r->tokens, r->n_tokens, 0));
        else cJSON_AddNullToObject(c, "logprobs");
    }
    cJSON_AddStringToObject(c, "finish_reason", finish_name(r->finish));
    add_usage(j, a, r);
    add_aio(j, a, r);
    return print_and_free(j);
}

static void put_event(sbuf *out, cJSON *j) {
    char *s = print_and_free(j);
    if (!s) {
        out->failed = true;
        return;
    }
    sbuf_puts(out, "data: ");
    sbuf_puts(out, s);
    sbuf_puts(out, "\n\n");
    free(s);
}

void api_stream_chunk(const api_reply *a, const api_delta *d, sbuf *out) {
    cJSON *j = envelope(a, a->chat ? "chat.completion.chunk" : "text_completion");
    cJSON *choices = cJSON_AddArrayToObject(j, "choices"), *c = cJSON_CreateObject();
    cJSON_AddItemToArray(choices, c);
    cJSON_AddNumberToObject(c, "index", 0);
    bool with_lp = d->n_tokens > 0;
    if (a->chat) {
        cJSON *delta = cJSON_AddObjectToObject(c, "delta");
        if (d->role) cJSON_AddStringToObject(delta, "role", "assistant");
        if (d->len || d->role) add_text(delta, "content", d->text, d->len);
        if (with_lp) cJSON_AddItemToObject(c, "logprobs", chat_logprobs(a, d->tokens, d->n_tokens));
        else cJSON_AddNullToObject(c, "logprobs");
    } else {
        add_text(c, "text", d->text, d->len);
        if (with_lp) cJSON_AddItemToObject(c, "logprobs", completion_logprobs(a, d->tokens, d->n_tokens, d->text_offset));
        else cJSON_AddNullToObject(c, "logprobs");
    }
    if (d->finish) cJSON_AddStringToObject(c, "finish_reason", d->finish);
    else cJSON_AddNullToObject(c, "finish_reason");
    if (d->usage_null) cJSON_AddNullToObject(j, "usage");
    put_event(out, j);
}

void api_stream_usage(const api_reply *a, const gen_request *r, sbuf *out) {
    cJSON *j = envelope(a, a->chat ? "chat.completion.chunk" : "text_completion");
    cJSON_AddArrayToObject(j, "choices");
    add_usage(j, a, r);
    add_aio(j, a, r);
    put_event(out, j);
}

void api_stream_error(const api_error *e, sbuf *out) { put_event(out, error_object(e)); }

void api_stream_done(sbuf *out) { sbuf_puts(out, "data: [DONE]\n\n"); }
