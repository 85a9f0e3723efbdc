/*
 * sched.c - the scheduler thread of one model: slots, queue, batched steps.
 *
 * The thread owns the context, the slots and everything in them; other
 * threads touch only the queue (under mu) and a request's output (under the
 * request's own mutex). A step is: admit queued requests into free slots,
 * drop the ones whose client left, plan (each decoding slot's round, then
 * prompt chunks in arrival order up to prefill_chunk tokens), one forward,
 * then give every slot its rows back and deliver the new tokens: end of
 * generation, max_tokens and stop strings are decided here, so a finished
 * sequence leaves the batch at the very step it finishes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "orch/costmodel.h"
#include "decode/decode.h"
#include "server/sched.h"
#include "server/util.h"

enum slot_phase { SLOT_FREE = 0, SLOT_PREFILL, SLOT_DECODE };

typedef struct slot {
    int phase;
    gen_request *req;
    decoder *dec;
    aion_sampler *sampler;
    aion_detok *detok;
    stop_filter stop;
    bool stopped;         /* a stop string completed: held text is dropped, not flushed */
    int n_fed;            /* prompt tokens already in the KV slot */
    int n_generated;
    double t_first;
    unsigned long admitted; /* arrival order, for fair prefill */
    /* this step's share of the batch */
    bool in_step;
    int chunk;            /* prompt tokens fed this step (prefill) */
    int row;              /* its first logits row, -1 when none */
    decode_round round;
} slot;

struct sched {
    const aion_model *model;
    int model_index;
    sched_config cfg;
    decode_config dcfg;
    aion_ctx *ctx;
    aion_threads *threads;
    pthread_mutex_t *forward_lock;
    metrics *mx;
    int n_vocab, n_batch, max_rows;
    slot *slots;
    unsigned long n_admitted;
    /* the batch of one step */
    int32_t *b_tokens, *b_pos, *b_seq;
    int8_t *b_want;
    float *logits;
    sbuf text; /* what one delivery shows, reused */
    /* the cost model's view, for gating speculation by load */
    cost_curve curve;
    bool have_curve;
    accept_profile lookup_acc; /* online, from the slots that used lookup */

    pthread_t thread;
    bool started;
    pthread_mutex_t mu; /* guards the fields below */
    pthread_cond_t wake;
    gen_request *q_head, *q_tail;
    int q_len, n_active;
    bool stopping;
};

sched_config sched_default_config(void) {
    return (sched_config){.n_parallel = 8, .n_ctx = 0, .max_queue = 64, .prefill_chunk = 128, .spec_max_active = 2};
}

int sched_n_ctx(const sched *s) { return aion_ctx_n_ctx(s->ctx); }

/* ------------------------------------------------------------------ slots */

static void slot_release(sched *s, slot *sl) {
    decoder_free(sl->dec);
    aion_sampler_free(sl->sampler);
    aion_detok_free(sl->detok);
    gen_request_unref(sl->req);
    aion_kv_truncate(s->ctx, (int)(sl - s->slots), 0);
    memset(sl, 0, sizeof *sl);
    pthread_mutex_lock(&s->mu);
    s->n_active--;
    pthread_mutex_unlock(&s->mu);
}

/* Shows text through the stop filter; true when a stop string completed. */
static bool show_text(sched *s, slot *sl, const char *piece, size_t n) {
    while (n > 0) { /* bounded pieces keep the filter's output buffer small */
        size_t take = n < 4096 ? n : 4096;
        char out[4096 + GEN_MAX_STOP_LEN];
        size_t out_len;
        bool hit = stop_filter_push(&sl->stop, piece, take, out, &out_len);
        sbuf_put(&s->text, out, out_len);
        if (hit) return sl->stopped = true;
        piece += take;
        n -= take;
    }
    return false;
}

/* The text still held back by the detokenizer and the stop filter, at a normal end. */
static void flush_text(sched *s, slot *sl) {
    size_t n;
    const char *rest = aion_detok_flush(sl->detok, &n);
    if (rest && n && show_text(s, sl, rest, n)) return;
    char out[sizeof sl->stop.held];
    size_t k = stop_filter_flush(&sl->stop, out);
    sbuf_put(&s->text, out, k);
}

static void finish_slot(sched *s, slot *sl, int finish, const char *error) {
    gen_request *r = sl->req;
    if ((finish == GEN_STOP || finish == GEN_LENGTH) && !sl->stopped) {
        s->text.len = 0;
        flush_text(s, sl);
        if (s->text.len) gen_request_append(r, s->text.s, s->text.len, NULL, 0);
    }
    const decode_stats *st = sl->dec ? decoder_stats(sl->dec) : NULL;
    int drafted = st ? st->drafted : 0, accepted = st ? st->accepted : 0;
    if (st && st->drafted_at[0] > 0) cost_accept_update(&s->lookup_acc, st, 0.05);
    pthread_mutex_lock(&r->mu);
    r->n_generated = sl->n_generated;
    r->drafted = drafted;
    r->accepted = accepted;
    r->rounds = st ? st->rounds : 0;
    pthread_mutex_unlock(&r->mu);
    if (s->mx) {
        metrics_tokens(s->mx, s->model_index, 0, sl->n_generated, drafted, accepted);
        if (sl->n_generated > 1)
            metrics_tpot(s->mx, s->model_index, (mono_seconds() - sl->t_first) / (sl->n_generated - 1));
    }
    gen_request_finish(r, finish, error);
    slot_release(s, sl);
}

static bool slot_start(sched *s, slot *sl, gen_request *r) {
    char err[256] = "out of memory"; /* decoder_new explains only what is not an allocation */
    sl->req = r;
    sl->phase = SLOT_PREFILL;
    sl->admitted = s->n_admitted++;
    sl->row = -1;
    sl->sampler = aion_sampler_new(&r->params.sampling, s->n_vocab);
    decode_config dc = s->dcfg;
    dc.strategy = r->params.strategy == DECODE_LOOKUP ? DECODE_LOOKUP : DECODE_AR;
    sl->dec = sl->sampler ? decoder_new(&dc, s->ctx, (int)(sl - s->slots), NULL, 0, sl->sampler, s->threads, err,
                                        sizeof err)
                          : NULL;
    sl->detok = aion_detok_new(s->model);
    stop_filter_init(&sl->stop, r->params.stops, r->params.n_stops);
    if (!sl->sampler || !sl->dec || !sl->detok) {
        finish_slot(s, sl, GEN_ERROR, sl->dec ? "out of memory" : err);
        return false;
    }
    return true;
}

static slot *free_slot(sched *s) {
    for (int i = 0; i < s->cfg.n_parallel; i++)
        if (s->slots[i].phase == SLOT_FREE) return &s->slots[i];
    return NULL;
}

/* --------------------------------------------------------------- delivery */

static float token_logprob(const float *row, int n_vocab, int32_t tok) {
    float mx = row[0];
    for (int i = 1; i < n_vocab; i++)
        if (row[i] > mx) mx = row[i];
    double sum = 0;
    for (int i = 0; i < n_vocab; i++) sum += exp((double)row[i] - mx);
    return (float)((double)row[tok] - mx - log(sum));
}

/* New tokens of a slot, row i of `rows` having produced toks[i]: decides whether the request
 * ends here, passes on what the client may see. */
static void deliver(sched *s, slot *sl, const int32_t *toks, int n, const float *rows) {
    const gen_params *p = &sl->req->params;
    gen_token recs[DECODE_MAX_DRAFT + 1] = {{0}};
    int n_recs = 0, finish = GEN_RUNNING;
    s->text.len = 0;
    for (int i = 0; i < n && finish == GEN_RUNNING; i++) {
        if (aion_token_is_eog(s->model, toks[i])) {
            finish = GEN_STOP;
            break;
        }
        float lp = p->logprobs ? token_logprob(rows + (size_t)i * s->n_vocab, s->n_vocab, toks[i]) : 0.0f;
        recs[n_recs++] = (gen_token){toks[i], lp};
        sl->n_generated++;
        size_t len;
        const char *piece = aion_detok_push(sl->detok, toks[i], &len);
        if (piece && len && show_text(s, sl, piece, len)) finish = GEN_STOP;
        else if (sl->n_generated >= p->max_tokens) finish = GEN_LENGTH;
    }
    if (s->text.failed) {
        s->text = (sbuf){0};
        finish_slot(s, sl, GEN_ERROR, "out of memory");
        return;
    }
    gen_request_append(sl->req, s->text.s, s->text.len, recs, n_recs);
    if (finish != GEN_RUNNING) finish_slot(s, sl, finish, NULL);
}

/* ------------------------------------------------------------------- steps */

static void add_to_batch(sched *s, int *n, int32_t tok, int32_t pos, int seq, bool want) {
    s->b_tokens[*n] = tok;
    s->b_pos[*n] = pos;
    s->b_seq[*n] = seq;
    s->b_want[*n] = want;
    ++*n;
}

static void plan_decode(sched *s, slot *sl, bool speculate, int *n, int *rows) {
    char err[256];
    int want = speculate ? sl->req->params.strategy : DECODE_AR;
    decoder_set_strategy(sl->dec, want == DECODE_LOOKUP ? DECODE_LOOKUP : DECODE_AR, 0);
    int k = decoder_step_prepare(sl->dec, false, &sl->round, err, sizeof err);
    if (k <= 0) { /* 0: the slot's context is full */
        finish_slot(s, sl, k == 0 ? GEN_LENGTH : GEN_ERROR, k == 0 ? NULL : err);
        return;
    }
    int seq = (int)(sl - s->slots);
    for (int i = 0; i < k; i++) add_to_batch(s, n, sl->round.tokens[i], sl->round.pos[i], seq, i < sl->round.n_logits);
    sl->in_step = true;
    sl->row = *rows;
    *rows += sl->round.n_logits;
}

/* The prefilling slot that arrived first and has not been planned yet. */
static slot *next_prefill(sched *s) {
    slot *best = NULL;
    for (int i = 0; i < s->cfg.n_parallel; i++) {
        slot *sl = &s->slots[i];
        if (sl->phase == SLOT_PREFILL && !sl->in_step && (!best || sl->admitted < best->admitted)) best = sl;
    }
    return best;
}

static void plan_prefill(sched *s, slot *sl, int *budget, int *n, int *rows) {
    const gen_params *p = &sl->req->params;
    int left = p->n_prompt - sl->n_fed;
    int chunk = left < *budget ? left : *budget;
    int seq = (int)(sl - s->slots);
    for (int i = 0; i < chunk; i++) {
        int at = sl->n_fed + i;
        add_to_batch(s, n, p->prompt[at], at, seq, at == p->n_prompt - 1);
    }
    sl->in_step = true;
    sl->chunk = chunk;
    sl->row = sl->n_fed + chunk == p->n_prompt ? (*rows)++ : -1;
    *budget -= chunk;
}

static void drop_cancelled(sched *s) {
    for (int i = 0; i < s->cfg.n_parallel; i++) {
        slot *sl = &s->slots[i];
        if (sl->phase != SLOT_FREE && gen_request_is_cancelled(sl->req)) finish_slot(s, sl, GEN_CANCELLED, NULL);
    }
}

/* The cost model at this load: B sequences decoding with ar make B tokens per step of t(B); with
 * lookup each adds its draft to the step and gains the tokens it is expected to get accepted.
 * Without a calibration curve or any evidence yet, speculation is allowed (it is how evidence
 * is gathered); the slot-count bound above still holds. */
static bool lookup_pays(const sched *s, int n_decoding) {
    if (!s->have_curve || s->lookup_acc.n_positions == 0 || n_decoding == 0) return true;
    int k = s->dcfg.draft_max, ctx = 256;
    double rate = s->lookup_acc.draft_rate, extra = rate * (cost_expected_tokens(&s->lookup_acc, k) - 1);
    double ar_tps = n_decoding / cost_forward_seconds(&s->curve, n_decoding, ctx);
    int step_tokens = (int)(n_decoding * (1 + rate * k) + 0.5);
    double lookup_tps = n_decoding * (1 + extra) / cost_forward_seconds(&s->curve, step_tokens, ctx);
    return lookup_tps > ar_tps;
}

void sched_set_cost_curve(sched *s, const cost_curve *c) {
    s->curve = *c;
    s->have_curve = true;
}

/* Returns the number of batch tokens planned. */
static int plan_step(sched *s, int *n_seqs) {
    int n_decoding = 0, n = 0, rows = 0;
    for (int i = 0; i < s->cfg.n_parallel; i++) {
        s->slots[i].in_step = false;
        n_decoding += s->slots[i].phase == SLOT_DECODE;
    }
    bool speculate = n_decoding <= s->cfg.spec_max_active && lookup_pays(s, n_decoding);
    for (int i = 0; i < s->cfg.n_parallel; i++)
        if (s->slots[i].phase == SLOT_DECODE) plan_decode(s, &s->slots[i], speculate, &n, &rows);
    int budget = s->cfg.prefill_chunk;
    slot *sl;
    while (budget > 0 && (sl = next_prefill(s))) plan_prefill(s, sl, &budget, &n, &rows);
    *n_seqs = 0;
    for (int i = 0; i < s->cfg.n_parallel; i++) *n_seqs += s->slots[i].in_step;
    return n;
}

static void finish_prefill(sched *s, slot *sl) {
    char err[256];
    const gen_params *p = &sl->req->params;
    sl->n_fed += sl->chunk;
    if (sl->n_fed < p->n_prompt) return;
    const float *row = s->logits + (size_t)sl->row * s->n_vocab;
    int32_t first;
    if (decoder_prefill_fed(sl->dec, p->prompt, p->n_prompt, row, &first, err, sizeof err) < 0) {
        finish_slot(s, sl, GEN_ERROR, err);
        return;
    }
    sl->phase = SLOT_DECODE;
    sl->t_first = mono_seconds();
    if (s->mx) {
        metrics_ttft(s->mx, s->model_index, sl->t_first - sl->req->t_submit);
        metrics_tokens(s->mx, s->model_index, p->n_prompt, 0, 0, 0);
    }
    deliver(s, sl, &first, 1, row);
}

static void finish_decode(sched *s, slot *sl) {
    char err[256];
    int32_t out[DECODE_MAX_DRAFT + 1];
    const float *rows = s->logits + (size_t)sl->row * s->n_vocab;
    int got = decoder_step_finish(sl->dec, rows, out, err, sizeof err);
    if (got < 0) finish_slot(s, sl, GEN_ERROR, err);
    else deliver(s, sl, out, got, rows);
}

static void run_step(sched *s) {
    drop_cancelled(s);
    int n_seqs;
    int n = plan_step(s, &n_seqs);
    if (n == 0) return;
    char err[256];
    aion_batch b = {n, s->b_tokens, s->b_pos, s->b_seq, s->b_want};
    pthread_mutex_lock(s->forward_lock);
    int got = aion_forward(s->ctx, s->threads, &b, s->logits, err, sizeof err);
    pthread_mutex_unlock(s->forward_lock);
    if (s->mx) metrics_step(s->mx, s->model_index, n, n_seqs);
    for (int i = 0; i < s->cfg.n_parallel; i++) {
        slot *sl = &s->slots[i];
        if (!sl->in_step) continue;
        sl->in_step = false;
        if (got < 0) finish_slot(s, sl, GEN_ERROR, err);
        else if (sl->phase == SLOT_DECODE) finish_decode(s, sl);
        else finish_prefill(s, sl);
    }
}

/* ------------------------------------------------------------------ thread */

/* Waits until there is work; moves queued requests into free slots. False when stopping. */
static bool take_work(sched *s) {
    gen_request *admit[64];
    int n_admit = 0;
    pthread_mutex_lock(&s->mu);
    while (!s->stopping && s->n_active == 0 && !s->q_head) pthread_cond_wait(&s->wake, &s->mu);
    bool stopping = s->stopping;
    while (!stopping && s->q_head && s->n_active < s->cfg.n_parallel && n_admit < 64) {
        gen_request *r = s->q_head;
        s->q_head = r->next;
        if (!s->q_head) s->q_tail = NULL;
        r->next = NULL;
        s->q_len--;
        s->n_active++;
        admit[n_admit++] = r;
    }
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; i < n_admit; i++) {
        slot *sl = free_slot(s);
        if (slot_start(s, sl, admit[i]) && gen_request_is_cancelled(admit[i])) finish_slot(s, sl, GEN_CANCELLED, NULL);
    }
    return !stopping;
}

static void cancel_everything(sched *s) {
    for (int i = 0; i < s->cfg.n_parallel; i++)
        if (s->slots[i].phase != SLOT_FREE) finish_slot(s, &s->slots[i], GEN_CANCELLED, "the server is shutting down");
    pthread_mutex_lock(&s->mu);
    gen_request *r = s->q_head;
    s->q_head = s->q_tail = NULL;
    s->q_len = 0;
    pthread_mutex_unlock(&s->mu);
    while (r) {
        gen_request *next = r->next;
        gen_request_finish(r, GEN_CANCELLED, "the server is shutting down");
        gen_request_unref(r);
        r = next;
    }
}

static void *sched_main(void *arg) {
    sched *s = arg;
    while (take_work(s)) run_step(s);
    cancel_everything(s);
    return NULL;
}

/* ---------------------------------------------------------------- public */

int sched_submit(sched *s, gen_request *r) {
    if (r->params.n_prompt < 1 || r->params.n_prompt >= aion_ctx_n_ctx(s->ctx)) return -2;
    if (r->t_submit == 0) r->t_submit = mono_seconds();
    pthread_mutex_lock(&s->mu);
    /* Free slots count as room too: a request waits in the queue only until the next step. */
    int room = s->cfg.max_queue + (s->cfg.n_parallel - s->n_active) - s->q_len;
    if (s->stopping || room <= 0) {
        pthread_mutex_unlock(&s->mu);
        return -1;
    }
    gen_request_ref(r);
    r->next = NULL;
    if (s->q_tail) s->q_tail->next = r;
    else s->q_head = r;
    s->q_tail = r;
    s->q_len++;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

void sched_gauges(sched *s, metrics_gauges *g) {
    pthread_mutex_lock(&s->mu);
    /* Admitted requests count as active at once; until the thread moves them they are queued. */
    g->queued = s->q_len;
    g->active = s->n_active;
    g->slots = s->cfg.n_parallel;
    pthread_mutex_unlock(&s->mu);
}

bool sched_idle(sched *s) {
    pthread_mutex_lock(&s->mu);
    bool idle = s->q_len == 0 && s->n_active == 0;
    pthread_mutex_unlock(&s->mu);
    return idle;
}

static bool sched_alloc(sched *s, char *err, size_t err_len) {
    int spec = s->cfg.spec_max_active < s->cfg.n_parallel ? s->cfg.spec_max_active : s->cfg.n_parallel;
    s->max_rows = s->cfg.n_parallel + spec * DECODE_MAX_DRAFT;
    s->n_batch = s->max_rows + s->cfg.prefill_chunk;
    if (s->n_batch < 16) s->n_batch = 16; /* the decoder's verification buckets go up to 16 */
    int n_ctx = s->cfg.n_ctx;
    if (n_ctx == 0) {
        aion_model_info info;
        aion_model_get_info(s->model, &info);
        n_ctx = info.n_ctx_train < SCHED_DEFAULT_CTX_MAX ? info.n_ctx_train : SCHED_DEFAULT_CTX_MAX;
    }
    aion_ctx_params cp = {.n_seq = s->cfg.n_parallel, .n_ctx = n_ctx, .n_batch = s->n_batch, .kv_f16 = s->cfg.kv_f16};
    s->ctx = aion_ctx_new(s->model, &cp, err, err_len);
    if (!s->ctx) return false;
    s->slots = calloc((size_t)s->cfg.n_parallel, sizeof *s->slots);
    s->b_tokens = malloc((size_t)s->n_batch * sizeof *s->b_tokens);
    s->b_pos = malloc((size_t)s->n_batch * sizeof *s->b_pos);
    s->b_seq = malloc((size_t)s->n_batch * sizeof *s->b_seq);
    s->b_want = malloc((size_t)s->n_batch);
    s->logits = malloc((size_t)s->max_rows * s->n_vocab * sizeof *s->logits);
    if (!s->slots || !s->b_tokens || !s->b_pos || !s->b_seq || !s->b_want || !s->logits) {
        snprintf(err, err_len, "out of memory for %d slots", s->cfg.n_parallel);
        return false;
    }
    return true;
}

sched *sched_new(const aion_model *model, int model_index, const sched_config *cfg, aion_threads *threads,
                 pthread_mutex_t *forward_lock, metrics *mx, char *err, size_t err_len) {
    sched_config c = cfg ? *cfg : sched_default_config();
    if (c.n_parallel < 1 || c.n_parallel > 256 || c.max_queue < 0 || c.spec_max_active < 0 || c.n_ctx < 0) {
        snprintf(err, err_len, "scheduler settings out of range (parallel 1..256, queue >= 0)");
        return NULL;
    }
    if (c.prefill_chunk <= 0) c.prefill_chunk = 128;
    sched *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->model = model;
    s->model_index = model_index;
    s->cfg = c;
    s->dcfg = decode_default_config();
    s->threads = threads;
    s->forward_lock = forward_lock;
    s->mx = mx;
    s->n_vocab = aion_n_vocab(model);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->wake, NULL);
    if (!sched_alloc(s, err, err_len)) {
        sched_free(s);
        return NULL;
    }
    if (pthread_create(&s->thread, NULL, sched_main, s) != 0) {
        snprintf(err, err_len, "cannot start the scheduler thread");
        sched_free(s);
        return NULL;
    }
    s->started = true;
    return s;
}

void sched_free(sched *s) {
    if (!s) return;
    if (s->started) {
        pthread_mutex_lock(&s->mu);
        s->stopping = true;
        pthread_cond_broadcast(&s->wake);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thread, NULL);
    }
    aion_ctx_free(s->ctx);
    free(s->slots);
    free(s->b_tokens);
    free(s->b_pos);
    free(s->b_seq);
    free(s->b_want);
    free(s->logits);
    sbuf_free(&s->text);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->wake);
    free(s);
}
