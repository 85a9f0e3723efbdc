/*
 * test_server.c - the server's scheduler batches without changing results,
 * and its HTTP front answers bad input with the right errors.
 *
 * Batching invariance: 8 concurrent greedy requests on a tiny model, mixed
 * into shared forwards (with chunked prefill and some asking for lookup
 * speculation), return token for token what each returns alone, and what
 * the plain decoder loop (`aio run`) returns. Around it: stop strings cut
 * across token boundaries, cancellation frees a slot at once, a full queue
 * refuses. Then an in-process server on a loopback port with a small raw
 * HTTP client: the bad-input table (malformed JSON, wrong types, out of range,
 * unknown model, too large a body, wrong key) and a client that disconnects
 * mid-stream, after which /metrics shows the slot free and the server serves.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "decode/decode.h"
#include "server/bench_serve.h"
#include "server/request.h"
#include "server/sched.h"
#include "server/server.h"
#include "server/util.h"

#ifndef AION_HAVE_SERVER
int main(void) { SKIP("built without the server (-DAION_SERVER=OFF)"); }
#else

#define MODEL_PATH "tests/data/ref/llama-f32.gguf"
#define N_CTX 64
#define N_REQ 8

typedef struct fixture {
    aion_model *model;
    aion_threads *threads;
    pthread_mutex_t forward_lock;
} fixture;

static uint64_t rng_state = 777;
static int32_t rand_token(int32_t n_vocab) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (int32_t)((rng_state >> 33) % (uint64_t)(n_vocab - 3)) + 3;
}

static int make_prompt(int which, int32_t n_vocab, int32_t *prompt) {
    int n = 5 + (which * 7) % 17;
    prompt[0] = 1;
    for (int i = 1; i < n; i++) prompt[i] = rand_token(n_vocab);
    if (which % 3 == 1) /* a copy task, where lookup finds drafts */
        for (int i = n / 2; i < n; i++) prompt[i] = prompt[i - n / 2 + 1];
    return n;
}

static gen_request *new_request(const int32_t *prompt, int n_prompt, int max_tokens, int strategy) {
    gen_request *r = gen_request_new();
    r->params.prompt = malloc((size_t)n_prompt * sizeof *prompt);
    memcpy(r->params.prompt, prompt, (size_t)n_prompt * sizeof *prompt);
    r->params.n_prompt = n_prompt;
    r->params.max_tokens = max_tokens;
    r->params.sampling = aion_sampler_default_params();
    r->params.sampling.temperature = 0;
    r->params.strategy = strategy;
    return r;
}

/* Waits (bounded) until r is done; false on timeout. */
static bool wait_done(gen_request *r, double timeout_s) {
    double end = mono_seconds() + timeout_s;
    while (mono_seconds() < end) {
        pthread_mutex_lock(&r->mu);
        bool done = r->finish != GEN_RUNNING;
        pthread_mutex_unlock(&r->mu);
        if (done) return true;
        gen_request_wait(r, (size_t)-1, 0.05);
    }
    return false;
}

static sched *new_sched_mx(fixture *fx, int n_parallel, int prefill_chunk, int max_queue, metrics *mx) {
    char err[256];
    sched_config c = sched_default_config();
    c.n_parallel = n_parallel;
    c.n_ctx = N_CTX;
    c.prefill_chunk = prefill_chunk;
    c.max_queue = max_queue;
    sched *s = sched_new(fx->model, 0, &c, fx->threads, &fx->forward_lock, mx, err, sizeof err);
    CHECK(s != NULL, "sched_new: %s", err);
    return s;
}

static sched *new_sched(fixture *fx, int n_parallel, int prefill_chunk, int max_queue) {
    return new_sched_mx(fx, n_parallel, prefill_chunk, max_queue, NULL);
}

/* A series' value in a metrics text, -1 when absent. */
static double series_value(const char *text, const char *series) {
    const char *at = text ? strstr(text, series) : NULL;
    return at ? atof(at + strlen(series)) : -1;
}

/* The reference: the plain decoder loop on a context of its own. */
static int reference_tokens(fixture *fx, const int32_t *prompt, int n_prompt, int max_new, int32_t *out) {
    char err[256];
    aion_ctx_params cp = {.n_seq = 1, .n_ctx = N_CTX, .n_batch = 32};
    aion_ctx *ctx = aion_ctx_new(fx->model, &cp, err, sizeof err);
    aion_sampler_params sp = aion_sampler_default_params();
    sp.temperature = 0;
    aion_sampler *smp = aion_sampler_new(&sp, aion_n_vocab(fx->model));
    decoder *d = decoder_new(NULL, ctx, 0, NULL, 0, smp, fx->threads, err, sizeof err);
    int n = 0;
    int32_t round[DECODE_MAX_DRAFT + 1];
    if (d && decoder_prefill(d, prompt, n_prompt, &round[0], err, sizeof err) == 0) {
        int got = 1;
        while (got > 0 && n < max_new) {
            for (int i = 0; i < got && n < max_new; i++) {
                if (aion_token_is_eog(fx->model, round[i])) return decoder_free(d), aion_sampler_free(smp), aion_ctx_free(ctx), n;
                out[n++] = round[i];
            }
            if (n < max_new) got = decoder_step(d, round, err, sizeof err);
        }
    }
    decoder_free(d);
    aion_sampler_free(smp);
    aion_ctx_free(ctx);
    return n;
}

static bool same_tokens(gen_request *a, const int32_t *ref, int n_ref) {
    if (a->n_tokens != n_ref) return false;
    for (int i = 0; i < n_ref; i++)
        if (a->tokens[i].id != ref[i]) return false;
    return true;
}

static void test_batching_invariance(fixture *fx, int prefill_chunk) {
    int32_t n_vocab = aion_n_vocab(fx->model);
    int32_t prompts[N_REQ][32], ref[N_REQ][N_CTX];
    int n_prompt[N_REQ], n_ref[N_REQ], max_tokens[N_REQ];
    rng_state = 777;
    for (int i = 0; i < N_REQ; i++) {
        n_prompt[i] = make_prompt(i, n_vocab, prompts[i]);
        max_tokens[i] = 12 + (i * 5) % 25;
        if (n_prompt[i] + max_tokens[i] > N_CTX - 1) max_tokens[i] = N_CTX - 1 - n_prompt[i];
        n_ref[i] = reference_tokens(fx, prompts[i], n_prompt[i], max_tokens[i], ref[i]);
    }
    sched *s = new_sched(fx, N_REQ, prefill_chunk, 0);
    if (!s) return;
    /* Alone: one request at a time through a scheduler; lookup speculates then. */
    int drafted = 0;
    for (int i = 0; i < N_REQ; i++) {
        gen_request *r = new_request(prompts[i], n_prompt[i], max_tokens[i], i % 2 ? DECODE_LOOKUP : DECODE_AR);
        CHECK(sched_submit(s, r) == 0, "submit alone %d", i);
        CHECK(wait_done(r, 30), "request %d alone did not finish", i);
        CHECK(same_tokens(r, ref[i], n_ref[i]), "chunk %d: request %d alone differs from the decoder loop (%d vs %d tokens)",
              prefill_chunk, i, r->n_tokens, n_ref[i]);
        drafted += r->drafted;
        gen_request_unref(r);
        for (int k = 0; k < 100 && !sched_idle(s); k++) usleep(10000); /* it leaves just after it is done */
    }
    CHECK(drafted > 0, "lookup drafted tokens when alone");
    sched_free(s);
    /* Together: all submitted at once to a fresh scheduler, so they share its steps. */
    const char *names[] = {"m"};
    metrics *mx = metrics_new(1, names);
    s = new_sched_mx(fx, N_REQ, prefill_chunk, 0, mx);
    if (!s) return metrics_free(mx);
    gen_request *rs[N_REQ];
    for (int i = 0; i < N_REQ; i++) {
        rs[i] = new_request(prompts[i], n_prompt[i], max_tokens[i], i % 2 ? DECODE_LOOKUP : DECODE_AR);
        CHECK(sched_submit(s, rs[i]) == 0, "submit together %d", i);
    }
    for (int i = 0; i < N_REQ; i++) {
        CHECK(wait_done(rs[i], 60), "request %d together did not finish", i);
        CHECK(same_tokens(rs[i], ref[i], n_ref[i]), "chunk %d: request %d batched differs from alone (%d vs %d tokens)",
              prefill_chunk, i, rs[i]->n_tokens, n_ref[i]);
        CHECK(rs[i]->finish == (n_ref[i] < max_tokens[i] ? GEN_STOP : GEN_LENGTH), "request %d finish %d", i,
              rs[i]->finish);
        gen_request_unref(rs[i]);
    }
    for (int i = 0; i < 100 && !sched_idle(s); i++) usleep(10000);
    CHECK(sched_idle(s), "scheduler idle after all requests");
    metrics_gauges g = {0};
    char *text = metrics_render(mx, &g);
    double steps = series_value(text, "aio_batch_steps_total{model=\"m\"} ");
    double seqs = series_value(text, "aio_batch_sequences_total{model=\"m\"} ");
    CHECK(steps > 0 && seqs / steps > 2, "requests shared steps: %.0f sequences in %.0f steps", seqs, steps);
    printf("chunk %d: %d requests together: mean batch %.2f sequences over %.0f steps\n", prefill_chunk, N_REQ,
           seqs / steps, steps);
    free(text);
    sched_free(s);
    metrics_free(mx);
}

static void test_cancel_and_queue(fixture *fx) {
    int32_t prompt[8] = {1, 5, 6, 7, 8, 9, 10, 11};
    sched *s = new_sched(fx, 1, 128, 1);
    if (!s) return;
    gen_request *a = new_request(prompt, 8, 50, DECODE_AR), *b = new_request(prompt, 8, 50, DECODE_AR),
                *c = new_request(prompt, 8, 50, DECODE_AR);
    CHECK(sched_submit(s, a) == 0, "first request accepted");
    CHECK(sched_submit(s, b) == 0, "second request queued");
    int rc = sched_submit(s, c);
    CHECK(rc == -1, "third request refused while one runs and one waits (got %d)", rc);
    gen_request_cancel(a);
    gen_request_cancel(b);
    CHECK(wait_done(a, 10) && a->finish == GEN_CANCELLED, "cancelled request ends as cancelled (%d)", a->finish);
    CHECK(wait_done(b, 10) && b->finish == GEN_CANCELLED, "cancelled queued request ends (%d)", b->finish);
    for (int i = 0; i < 100 && !sched_idle(s); i++) usleep(10000);
    CHECK(sched_idle(s), "slot freed after cancellation");
    CHECK(sched_submit(s, c) == 0, "accepted again once free");
    CHECK(wait_done(c, 10), "served after a cancellation");
    int32_t too_long[N_CTX];
    for (int i = 0; i < N_CTX; i++) too_long[i] = 5;
    gen_request *d = new_request(too_long, N_CTX, 5, DECODE_AR);
    CHECK(sched_submit(s, d) == -2, "a prompt that fills the context is refused");
    gen_request_unref(a);
    gen_request_unref(b);
    gen_request_unref(c);
    gen_request_unref(d);
    sched_free(s);
}

static void stop_case(const char *const *pieces, int n, const char *stop, const char *want_text, bool want_hit) {
    char *stops[1] = {(char *)stop};
    stop_filter f;
    stop_filter_init(&f, stops, 1);
    char shown[256] = "", out[1024];
    size_t len = 0, k;
    bool hit = false;
    for (int i = 0; i < n && !hit; i++) {
        hit = stop_filter_push(&f, pieces[i], strlen(pieces[i]), out, &k);
        memcpy(shown + len, out, k);
        len += k;
    }
    if (!hit) len += stop_filter_flush(&f, shown + len);
    shown[len] = 0;
    CHECK(hit == want_hit && strcmp(shown, want_text) == 0, "stop '%s': shown '%s' (hit %d), want '%s' (hit %d)", stop,
          shown, hit, want_text, want_hit);
}

static void test_stop_filter(void) {
    const char *a[] = {"Hello", " wor", "ld", "!"};
    stop_case(a, 4, "world", "Hello ", true);
    stop_case(a, 4, "o w", "Hell", true);
    stop_case(a, 4, "xyz", "Hello world!", false);
    stop_case(a, 4, "ld!", "Hello wor", true);
    const char *b[] = {"a", "b", "a", "b", "c"};
    stop_case(b, 5, "abc", "ab", true);
    const char *c[] = {"\n", "\n", "User", ":"};
    stop_case(c, 4, "\n\nUser:", "", true);
    stop_case(c, 4, "\nUser:", "\n", true);
}

/* ---------------------------------------------------------------- HTTP */

typedef struct http_reply {
    int status;
    char body[65536];
} http_reply;

static int connect_to(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    struct timeval tv = {20, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static bool send_all(int fd, const char *s, size_t n) {
    while (n > 0) {
        ssize_t k = send(fd, s, n, MSG_NOSIGNAL);
        if (k <= 0) return false;
        s += k;
        n -= (size_t)k;
    }
    return true;
}

/* One request with Connection: close; reads the whole reply. */
static bool http_call(int port, const char *method, const char *path, const char *headers, const char *body,
                      size_t body_len, http_reply *rep) {
    memset(rep, 0, sizeof *rep);
    int fd = connect_to(port);
    if (fd < 0) return false;
    char head[1024];
    int n = snprintf(head, sizeof head,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%sContent-Length: %zu\r\n\r\n", method,
                     path, headers ? headers : "", body_len);
    bool ok = send_all(fd, head, (size_t)n);
    if (ok && body_len) send_all(fd, body, body_len); /* the server may refuse before reading it all */
    static char raw[1 << 17];
    size_t got = 0;
    ssize_t k;
    while (got < sizeof raw - 1 && (k = recv(fd, raw + got, sizeof raw - 1 - got, 0)) > 0) got += (size_t)k;
    raw[got] = 0;
    close(fd);
    if (sscanf(raw, "HTTP/1.%*d %d", &rep->status) != 1) return false;
    const char *b = strstr(raw, "\r\n\r\n");
    if (b) snprintf(rep->body, sizeof rep->body, "%s", b + 4);
    return true;
}

typedef struct bad_case {
    const char *path, *body, *headers;
    int status;
    const char *expect; /* substring of the reply body */
} bad_case;

static void test_bad_inputs(int port, const char *model_name) {
    char unknown[256], neg[256], big_max[256], bad_temp[256], bad_stop[256], spec[256];
    snprintf(unknown, sizeof unknown, "{\"model\":\"no-such-model\",\"prompt\":\"hi\"}");
    snprintf(neg, sizeof neg, "{\"model\":\"%s\",\"prompt\":\"hi\",\"max_tokens\":-5}", model_name);
    snprintf(big_max, sizeof big_max, "{\"model\":\"%s\",\"prompt\":\"hi\",\"max_tokens\":100000000}", model_name);
    snprintf(bad_temp, sizeof bad_temp, "{\"model\":\"%s\",\"prompt\":\"hi\",\"temperature\":\"hot\"}", model_name);
    snprintf(bad_stop, sizeof bad_stop, "{\"model\":\"%s\",\"prompt\":\"hi\",\"stop\":[1,2]}", model_name);
    snprintf(spec, sizeof spec, "{\"model\":\"%s\",\"prompt\":\"hi\",\"aio_strategy\":\"warp\"}", model_name);
    const bad_case cases[] = {
        {"/v1/completions", "{\"model\": \"auto\", \"prompt\": ", NULL, 400, "invalid_request_error"},
        {"/v1/completions", "[1, 2, 3]", NULL, 400, "invalid_request_error"},
        {"/v1/completions", "{\"model\":\"auto\",\"prompt\":42}", NULL, 400, "\"param\":\"prompt\""},
        {"/v1/completions", "{\"model\":7,\"prompt\":\"hi\"}", NULL, 400, "\"param\":\"model\""},
        {"/v1/completions", neg, NULL, 400, "\"param\":\"max_tokens\""},
        {"/v1/completions", big_max, NULL, 400, "\"param\":\"max_tokens\""},
        {"/v1/completions", bad_temp, NULL, 400, "\"param\":\"temperature\""},
        {"/v1/completions", bad_stop, NULL, 400, "\"param\":\"stop\""},
        {"/v1/completions", spec, NULL, 400, "\"param\":\"aio_strategy\""},
        {"/v1/completions", unknown, NULL, 404, "model_not_found"},
        {"/v1/chat/completions", "{\"model\":\"auto\",\"messages\":\"hi\"}", NULL, 400, "\"param\":\"messages\""},
        {"/v1/chat/completions", "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\"}]}", NULL, 400, "messages"},
        {"/v1/chat/completions", "{\"model\":\"auto\",\"messages\":[]}", NULL, 400, "messages"},
        {"/v1/nothing", "{}", NULL, 404, "error"},
        {"/v1/completions", "{\"model\":\"auto\",\"prompt\":\"hi\",\"n\":3}", NULL, 400, "\"param\":\"n\""},
    };
    http_reply rep;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const bad_case *c = &cases[i];
        bool ok = http_call(port, "POST", c->path, c->headers, c->body, strlen(c->body), &rep);
        CHECK(ok && rep.status == c->status && strstr(rep.body, c->expect),
              "case %zu (%s %s): status %d (want %d), body %s", i, c->path, c->body, rep.status, c->status, rep.body);
    }
    /* A prompt longer than the context. */
    sbuf long_prompt = {0};
    sbuf_printf(&long_prompt, "{\"model\":\"%s\",\"prompt\":\"", model_name);
    for (int i = 0; i < 400; i++) sbuf_puts(&long_prompt, "word ");
    sbuf_puts(&long_prompt, "\"}");
    bool ok = http_call(port, "POST", "/v1/completions", NULL, long_prompt.s, long_prompt.len, &rep);
    CHECK(ok && rep.status == 400 && strstr(rep.body, "context_length_exceeded"), "long prompt: %d %s", rep.status,
          rep.body);
    sbuf_free(&long_prompt);
    /* A body over the limit. */
    size_t big = 3u << 20;
    char *huge = malloc(big);
    memset(huge, ' ', big);
    ok = http_call(port, "POST", "/v1/completions", NULL, huge, big, &rep);
    CHECK(ok && rep.status == 413, "huge body: status %d", rep.status);
    free(huge);
    ok = http_call(port, "GET", "/v1/completions", NULL, "", 0, &rep);
    CHECK(ok && rep.status == 405, "GET on a POST endpoint: %d", rep.status);
    ok = http_call(port, "GET", "/v1/models", NULL, "", 0, &rep);
    CHECK(ok && rep.status == 200 && strstr(rep.body, model_name) && strstr(rep.body, "\"auto\""), "models: %d %s",
          rep.status, rep.body);
}

static int metric_value(int port, const char *series) {
    http_reply rep;
    if (!http_call(port, "GET", "/metrics", NULL, "", 0, &rep) || rep.status != 200) return -1;
    const char *at = strstr(rep.body, series);
    return at ? atoi(at + strlen(series)) : -1;
}

/* Opens a stream, reads its first events, then drops the connection. */
static void test_disconnect(int port, const char *model_name) {
    char body[256], head[512], buf[4096];
    snprintf(body, sizeof body,
             "{\"model\":\"%s\",\"prompt\":\"once upon\",\"max_tokens\":60,\"stream\":true,\"temperature\":0}",
             model_name);
    int fd = connect_to(port);
    CHECK(fd >= 0, "connect");
    if (fd < 0) return;
    int n = snprintf(head, sizeof head,
                     "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     strlen(body), body);
    send_all(fd, head, (size_t)n);
    ssize_t k = recv(fd, buf, sizeof buf - 1, 0);
    buf[k > 0 ? k : 0] = 0;
    CHECK(k > 0 && strstr(buf, "200") && strstr(buf, "text/event-stream"), "stream started: %s", buf);
    close(fd); /* the client goes away mid-stream */
    char series[128];
    snprintf(series, sizeof series, "aio_active_slots{model=\"%s\"} ", model_name);
    int active = -1;
    for (int i = 0; i < 250 && active != 0; i++) {
        usleep(20000);
        active = metric_value(port, series);
    }
    CHECK(active == 0, "slot freed after the client left (active %d)", active);
    http_reply rep;
    snprintf(body, sizeof body, "{\"model\":\"%s\",\"prompt\":\"hello\",\"max_tokens\":4}", model_name);
    bool ok = http_call(port, "POST", "/v1/completions", NULL, body, strlen(body), &rep);
    CHECK(ok && rep.status == 200 && strstr(rep.body, "\"text_completion\""), "serves after a disconnect: %d %s",
          rep.status, rep.body);
}

static void test_api_key(int port) {
    http_reply rep;
    bool ok = http_call(port, "GET", "/v1/models", NULL, "", 0, &rep);
    CHECK(ok && rep.status == 401 && strstr(rep.body, "invalid_api_key"), "no key: %d", rep.status);
    ok = http_call(port, "GET", "/v1/models", "Authorization: Bearer wrong\r\n", "", 0, &rep);
    CHECK(ok && rep.status == 401, "wrong key: %d", rep.status);
    ok = http_call(port, "GET", "/v1/models", "Authorization: Bearer s3cret\r\n", "", 0, &rep);
    CHECK(ok && rep.status == 200, "right key: %d", rep.status);
    ok = http_call(port, "GET", "/health", NULL, "", 0, &rep);
    CHECK(ok && rep.status == 200, "health needs no key: %d", rep.status);
}

static void test_http(void) {
    char err[512];
    server_config c = server_default_config();
    const char *paths[] = {MODEL_PATH};
    c.model_paths = paths;
    c.n_models = 1;
    c.port = 0;
    c.n_threads = 2;
    c.sched.n_parallel = 4;
    c.sched.n_ctx = N_CTX;
    c.max_body = 1 << 20;
    c.quiet = true;
    aion_server *srv = server_new(&c, err, sizeof err);
    CHECK(srv != NULL, "server_new: %s", err);
    if (!srv) return;
    int port = server_port(srv);
    CHECK(port > 0, "bound port %d", port);
    const char *name = server_model_name(srv, 0);
    CHECK(server_n_models(srv) == 1 && name, "one model served");
    test_bad_inputs(port, name);
    test_disconnect(port, name);
    server_drain(srv, 10.0);
    server_free(srv);

    c.api_key = "s3cret";
    srv = server_new(&c, err, sizeof err);
    CHECK(srv != NULL, "server_new with a key: %s", err);
    if (!srv) return;
    test_api_key(server_port(srv));
    server_free(srv);
}

/* The in-process benchmark `aio bench serve` calls: runs, and counts what it generated. */
static void test_bench_function(void) {
    char err[256];
    serve_bench_config c = serve_bench_default_config();
    c.model_path = MODEL_PATH;
    c.n_threads = 2;
    c.levels[0] = 1;
    c.levels[1] = 4;
    c.n_levels = 2;
    c.max_tokens = 8;
    c.n_ctx = N_CTX;
    serve_bench_row rows[2 * SERVE_BENCH_MAX_LEVELS];
    int n = serve_bench_run(&c, rows, err, sizeof err);
    CHECK(n == 4, "serve_bench_run: %d rows (%s)", n, n < 0 ? err : "");
    for (int i = 0; i < n; i++)
        CHECK(rows[i].output_tokens > 0 && rows[i].requests == rows[i].streams * 2 && rows[i].latency_p99 > 0,
              "bench row %d: %ld tokens, %d requests", i, rows[i].output_tokens, rows[i].requests);
    if (n > 0) serve_bench_print(&c, rows, n, false, stdout);
}

int main(void) {
    char err[512];
    fixture fx = {0};
    test_stop_filter();
    fx.model = aion_model_load(MODEL_PATH, err, sizeof err);
    if (!fx.model) SKIP("%s", err);
    fx.threads = aion_threads_new(2);
    pthread_mutex_init(&fx.forward_lock, NULL);
    test_batching_invariance(&fx, 128);
    test_batching_invariance(&fx, 3); /* prompts in small chunks, mixed with decoding */
    test_cancel_and_queue(&fx);
    test_http();
    test_bench_function();
    aion_threads_free(fx.threads);
    aion_model_free(fx.model);
    pthread_mutex_destroy(&fx.forward_lock);
    return check_done();
}
#endif
