/*
 * server.c - starting and stopping an aion_server.
 *
 * Start: models (pool.c), the shared worker pool, metrics, one scheduler per
 * model, then the HTTP daemon last, so nothing is reachable before it works.
 * Drain: stop accepting (the listening socket is quiesced), refuse new
 * generations on open connections (503), and wait for the ones in flight to
 * be answered. Free: connection threads give up their waits, the daemon
 * stops, the schedulers cancel whatever is left, then everything is freed in
 * the reverse order of creation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "orch/calibrate.h"
#include "server/server_impl.h"

server_config server_default_config(void) {
    return (server_config){.host = "127.0.0.1", .port = 8080, .max_body = 1u << 20, .sched = sched_default_config()};
}

int server_port(const aion_server *s) { return s->port; }
int server_n_models(const aion_server *s) { return s->n_models; }
const char *server_model_name(const aion_server *s, int i) {
    return i >= 0 && i < s->n_models ? s->models[i].name : NULL;
}

static bool start_schedulers(aion_server *s, char *err, size_t err_len) {
    for (int i = 0; i < s->n_models; i++) {
        char why[256];
        s->models[i].sched = sched_new(s->models[i].model, i, &s->cfg.sched, s->threads, &s->forward_lock, s->mx,
                                       why, sizeof why);
        if (!s->models[i].sched) {
            snprintf(err, err_len, "%s: %s", s->models[i].name, why);
            return false;
        }
        /* the calibration profile (measured now if absent or stale) gates speculation by load */
        char profile[1024];
        cost_curve curve;
        bool measured;
        decode_config dc = decode_default_config();
        if (calib_get(calib_default_path(profile, sizeof profile), s->models[i].model, s->models[i].path,
                      s->cfg.sched.kv_f16, s->threads, &dc, &curve, &measured, why, sizeof why) == 0)
            sched_set_cost_curve(s->models[i].sched, &curve);
        else
            fprintf(stderr, "aio serve: %s: no calibration (%s): speculation gated by slot count only\n",
                    s->models[i].name, why);
    }
    return true;
}

static bool start_metrics(aion_server *s) {
    const char *names[256];
    int n = s->n_models < 256 ? s->n_models : 256;
    for (int i = 0; i < n; i++) names[i] = s->models[i].name;
    s->mx = metrics_new(n, names);
    return s->mx != NULL;
}

aion_server *server_new(const server_config *cfg, char *err, size_t err_len) {
    aion_server *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    s->cfg = *cfg;
    s->quiesced_fd = -1;
    s->host = strdup(cfg->host ? cfg->host : "127.0.0.1");
    s->api_key = cfg->api_key ? strdup(cfg->api_key) : NULL;
    s->cfg.host = s->host;
    s->cfg.api_key = s->api_key;
    if (s->cfg.max_body == 0) s->cfg.max_body = 1u << 20;
    s->id_salt = (uint64_t)time(NULL) * 0x100000001B3ull ^ (uint64_t)(uintptr_t)s;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->calls_done, NULL);
    pthread_mutex_init(&s->forward_lock, NULL);
    bool ok = s->host && (!cfg->api_key || s->api_key);
    if (!ok) snprintf(err, err_len, "out of memory");
    ok = ok && pool_load(s, err, err_len) == 0;
    if (ok && !(s->threads = aion_threads_new(cfg->n_threads))) ok = false, snprintf(err, err_len, "cannot start threads");
    if (ok && !start_metrics(s)) ok = false, snprintf(err, err_len, "out of memory");
    ok = ok && start_schedulers(s, err, err_len) && http_start(s, err, err_len) == 0;
    if (!ok) {
        server_free(s);
        return NULL;
    }
    if (!cfg->quiet)
        for (int i = 0; i < s->n_models; i++)
            fprintf(stderr, "aio serve: model %s (%s), %d slots x %d tokens, chat format %s\n", s->models[i].name,
                    s->models[i].path, s->cfg.sched.n_parallel, sched_n_ctx(s->models[i].sched),
                    s->models[i].chat_template >= 0 ? chat_template_name(s->models[i].chat_template) : "plain");
    return s;
}

bool server_drain(aion_server *s, double timeout_s) {
    pthread_mutex_lock(&s->mu);
    s->draining = true;
    pthread_mutex_unlock(&s->mu);
    http_quiesce(s);
    double end = mono_seconds() + timeout_s;
    pthread_mutex_lock(&s->mu);
    while (s->in_flight > 0 && mono_seconds() < end) {
        struct timespec dl; /* short slices: the overall deadline is on the monotonic clock */
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_nsec += 50 * 1000 * 1000;
        if (dl.tv_nsec >= 1000000000L) dl.tv_sec++, dl.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&s->calls_done, &s->mu, &dl);
    }
    bool drained = s->in_flight == 0;
    pthread_mutex_unlock(&s->mu);
    return drained;
}

void server_free(aion_server *s) {
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    s->draining = true;
    pthread_mutex_unlock(&s->mu);
    atomic_store(&s->stopping, true);
    http_stop(s);
    pool_free(s); /* each scheduler cancels what it still holds */
    metrics_free(s->mx);
    aion_threads_free(s->threads);
    pthread_mutex_destroy(&s->forward_lock);
    pthread_cond_destroy(&s->calls_done);
    pthread_mutex_destroy(&s->mu);
    free(s->host);
    free(s->api_key);
    free(s);
}
