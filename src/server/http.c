/*
 * http.c - the server's only contact with libmicrohttpd.
 *
 * A thread per connection: a handler may then block while its generation
 * runs (answering when it is done, or feeding a stream as it grows) without
 * holding up anyone else, and the scheduler threads never touch a socket.
 * Blocking is always in short bounded waits, between which the connection
 * looks at its socket: a client that hung up is noticed within 100 ms and
 * its request cancelled, which frees its slot at the scheduler's next step.
 *
 * Bodies are collected up to max_body; a larger declared Content-Length is
 * refused before reading (413), a larger chunked body is read and dropped up
 * to a hard cap and then refused, beyond the cap the connection is closed.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/server_impl.h"

#define DISCARD_CAP ((size_t)64 << 20) /* dropped body bytes before the connection is closed */
#define CONNECTION_LIMIT 1024
#define IDLE_TIMEOUT_S 120
#define THREAD_STACK ((size_t)512 << 10) /* handlers keep little on the stack; 1024 threads stay cheap */

static const char *status_reason(int status) {
    switch (status) {
    case 400: return "bad request";
    case 401: return "unauthorized";
    case 404: return "not found";
    case 405: return "method not allowed";
    case 413: return "request body too large";
    case 429: return "too many requests";
    case 503: return "unavailable";
    default: return "error";
    }
}

int http_respond(http_call *call, int status, const char *content_type, char *body) {
    if (!body) return MHD_NO;
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    enum MHD_Result rc = MHD_queue_response(call->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    call->responded = true;
    metrics_request(call->srv->mx, call->endpoint, status);
    return rc;
}

int http_respond_error(http_call *call, int status, const char *message, const char *param, const char *code) {
    api_error e = {.status = status, .param = param, .code = code};
    snprintf(e.message, sizeof e.message, "%s", message && message[0] ? message : status_reason(status));
    return http_respond(call, status, "application/json", api_error_json(&e));
}

bool http_client_gone(http_call *call) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(call->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return true;
    struct pollfd p = {.fd = ci->connect_fd, .events = POLLRDHUP};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

const char *http_header(http_call *call, const char *name) {
    return MHD_lookup_connection_value(call->conn, MHD_HEADER_KIND, name);
}

/* The SSE body: blocks (in bounded waits) until there is something to send. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    http_call *call = cls;
    (void)pos;
    for (;;) {
        if (call->out.failed) return MHD_CONTENT_READER_END_WITH_ERROR;
        if (call->out_pos < call->out.len) {
            size_t n = call->out.len - call->out_pos;
            if (n > max) n = max;
            memcpy(buf, call->out.s + call->out_pos, n);
            call->out_pos += n;
            return (ssize_t)n;
        }
        call->out.len = call->out_pos = 0;
        if (call->done_sent) return MHD_CONTENT_READER_END_OF_STREAM;
        if (stream_produce(call)) continue;
        if (http_client_gone(call) || atomic_load(&call->srv->stopping)) {
            gen_request_cancel(call->req);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        gen_request_wait(call->req, call->text_sent, 0.1);
    }
}

int http_respond_stream(http_call *call) {
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_read, call, NULL);
    if (!resp) {
        gen_request_cancel(call->req);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    enum MHD_Result rc = MHD_queue_response(call->conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    call->responded = true;
    metrics_request(call->srv->mx, call->endpoint, 200);
    return rc;
}

/* ------------------------------------------------------------ MHD callbacks */

static bool declared_too_large(struct MHD_Connection *conn, size_t limit) {
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (!cl) return false;
    char *end;
    unsigned long long n = strtoull(cl, &end, 10);
    return end != cl && n > limit;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_size, void **con_cls) {
    aion_server *s = cls;
    (void)version;
    http_call *call = *con_cls;
    if (!call) { /* headers are in, the body is not */
        call = calloc(1, sizeof *call);
        if (!call) return MHD_NO;
        call->srv = s;
        call->conn = conn;
        *con_cls = call;
        if (declared_too_large(conn, s->cfg.max_body)) {
            call->too_large = true;
            return (enum MHD_Result)handle_request(call, url, method);
        }
        return MHD_YES;
    }
    if (*upload_size) {
        if (!call->too_large && call->body.len + *upload_size > s->cfg.max_body) {
            call->too_large = true;
            sbuf_free(&call->body);
        }
        if (call->too_large) call->discarded += *upload_size;
        else sbuf_put(&call->body, upload_data, *upload_size);
        *upload_size = 0;
        return call->discarded > DISCARD_CAP || call->body.failed ? MHD_NO : MHD_YES;
    }
    if (call->responded) return MHD_YES;
    return (enum MHD_Result)handle_request(call, url, method);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe) {
    aion_server *s = cls;
    (void)conn;
    (void)toe;
    http_call *call = *con_cls;
    if (!call) return;
    if (call->req) {
        gen_request_cancel(call->req); /* no-op when done; frees the slot when the client left */
        gen_request_unref(call->req);
        pthread_mutex_lock(&s->mu);
        s->in_flight--;
        pthread_cond_broadcast(&s->calls_done);
        pthread_mutex_unlock(&s->mu);
    }
    sbuf_free(&call->body);
    sbuf_free(&call->out);
    free(call);
    *con_cls = NULL;
}

static bool bind_address(const char *host, int port, struct sockaddr_in *addr, char *err, size_t err_len) {
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_port = htons((uint16_t)port);
    if (!host || !host[0] || strcmp(host, "localhost") == 0) host = "127.0.0.1";
    if (inet_pton(AF_INET, host, &addr->sin_addr) != 1) {
        snprintf(err, err_len, "--host '%s' is not an IPv4 address", host);
        return false;
    }
    return true;
}

int http_start(aion_server *s, char *err, size_t err_len) {
    struct sockaddr_in addr;
    if (s->cfg.port < 0 || s->cfg.port > 65535) {
        snprintf(err, err_len, "--port %d is out of range", s->cfg.port);
        return -1;
    }
    if (!bind_address(s->cfg.host, s->cfg.port, &addr, err, err_len)) return -1;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC | MHD_USE_POLL;
    s->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_CONNECTION_LIMIT,
                                 (unsigned)CONNECTION_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_TIMEOUT_S,
                                 MHD_OPTION_THREAD_STACK_SIZE, (size_t)THREAD_STACK, MHD_OPTION_END);
    if (!s->daemon) {
        snprintf(err, err_len, "cannot listen on %s:%d (in use, or not allowed)", s->cfg.host ? s->cfg.host : "127.0.0.1",
                 s->cfg.port);
        return -1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : s->cfg.port;
    return 0;
}

void http_quiesce(aion_server *s) {
    if (!s->daemon || s->quiesced_fd >= 0) return;
    MHD_socket fd = MHD_quiesce_daemon(s->daemon);
    s->quiesced_fd = fd == MHD_INVALID_SOCKET ? -1 : (int)fd;
}

void http_stop(aion_server *s) {
    if (!s->daemon) return;
    MHD_stop_daemon(s->daemon);
    s->daemon = NULL;
    if (s->quiesced_fd >= 0) close(s->quiesced_fd); /* after the stop: a thread might still use it */
    s->quiesced_fd = -1;
}
