/*
 * api.h - OpenAI request bodies read into plain C, and OpenAI responses written.
 *
 * Reading validates every field a generation uses, by type and range, before
 * anything else sees it; a violation becomes an api_error carrying what the
 * OpenAI error object needs (message, param, code) and the HTTP status.
 * Fields the server does not use are ignored, as OpenAI clients send many.
 * Writing covers the full responses, the SSE chunks and the error object.
 */
#ifndef AION_SERVER_API_H
#define AION_SERVER_API_H

#include <stdbool.h>
#include <stdint.h>

#include "chat.h"
#include "server/request.h"
#include "server/util.h"

typedef struct api_error {
    int status;
    char message[320];
    const char *param; /* NULL: null */
    const char *code;  /* NULL: null */
} api_error;

typedef struct api_gen {
    bool chat;
    char model[128];
    /* completions: a text, or token ids */
    char *prompt;
    int32_t *prompt_ids;
    int n_prompt_ids;
    /* chat */
    chat_msg *messages; /* role and content owned */
    int n_messages;

    int max_tokens;     /* -1: not given */
    bool stream, include_usage;
    float temperature, top_p;
    bool has_seed;
    uint64_t seed;
    char *stops[GEN_MAX_STOPS]; /* owned */
    int n_stops;
    bool logprobs;
    int strategy;       /* DECODE_AR or DECODE_LOOKUP */
} api_gen;

/* Parses and validates a request body. false with e filled (status 400). */
bool api_parse_gen(const char *body, size_t len, bool chat, api_gen *g, api_error *e);
void api_gen_free(api_gen *g);

void api_error_set(api_error *e, int status, const char *param, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* ---- writing (malloc'd JSON text, NULL when out of memory) ---- */
char *api_error_json(const api_error *e);

/* What a response says about its request, beyond the generated text. */
typedef struct api_reply {
    const char *id;
    long created;
    const char *model_name;
    const aion_model *model; /* token texts for logprobs */
    bool chat;
    int n_prompt;
    const char *strategy;
    size_t skip;             /* leading bytes of the text not shown (the plain chat format's space) */
} api_reply;

/* The whole answer; r must be done and locked by the caller. */
char *api_full_response(const api_reply *a, const gen_request *r);
/* What one streamed chunk carries. */
typedef struct api_delta {
    const char *text;      /* new text (may be empty) */
    size_t len;
    const gen_token *tokens; /* new tokens, for logprobs */
    int n_tokens;
    size_t text_offset;    /* completions logprobs: where this text starts in the completion */
    const char *finish;    /* finish reason, NULL while running */
    bool role;             /* chat: the first chunk announces the assistant */
    bool usage_null;       /* stream_options.include_usage: every chunk says "usage": null */
} api_delta;

/* SSE events ("data: ...\n\n") appended to out. */
void api_stream_chunk(const api_reply *a, const api_delta *d, sbuf *out);
/* The usage chunk (choices empty) that include_usage asks for; r locked by the caller. */
void api_stream_usage(const api_reply *a, const gen_request *r, sbuf *out);
void api_stream_error(const api_error *e, sbuf *out);
void api_stream_done(sbuf *out);

#endif
