/*
 * orch.c - the orchestrator (see orch.h).
 *
 * Owns the pool (models, one context slot each, their calibration curves),
 * the policy, the probe and the online acceptance statistics per category.
 * A request borrows the slots, so one request runs at a time per orchestrator
 * (the server runs its own batching scheduler and asks only for decisions).
 */
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "orch/calibrate.h"
#include "orch/orch.h"
#include "orch/probe.h"
#include "util.h"

#define UNKNOWN_CATEGORY POLICY_MAX_CATEGORIES /* statistics slot of requests without a label */
#define ONLINE_ALPHA 0.05                      /* per round of evidence */

typedef struct member {
    char name[64];
    char *path;
    aion_model *model;
    aion_ctx *ctx;
    cost_curve curve;
    bool measured;
} member;

struct orch {
    member members[ORCH_MAX_MODELS];
    int n_members;
    int probe_member;
    policy pol;
    probe *probe;
    aion_threads *threads;
    decode_config dc;
    accept_profile lookup_acc[POLICY_MAX_CATEGORIES + 1], spec_acc[POLICY_MAX_CATEGORIES + 1];
};

static void member_name(member *mb) {
    aion_model_info info;
    aion_model_get_info(mb->model, &info);
    if (info.name[0]) {
        snprintf(mb->name, sizeof mb->name, "%s", info.name);
        return;
    }
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", mb->path);
    char *base = basename(tmp), *dot = strrchr(base, '.');
    if (dot) *dot = 0;
    snprintf(mb->name, sizeof mb->name, "%s", base);
}

/* Members that draft for each other or share a probe must tokenize identically. */
static int check_vocab(const orch *o, char *err, size_t err_len) {
    const aion_model *a = o->members[0].model;
    for (int i = 1; i < o->n_members; i++) {
        const aion_model *b = o->members[i].model;
        if (aion_n_vocab(a) != aion_n_vocab(b)) {
            set_err(err, err_len, "%s and %s have different vocabularies (%d vs %d tokens)", o->members[0].name,
                    o->members[i].name, aion_n_vocab(a), aion_n_vocab(b));
            return -1;
        }
        for (int32_t id = 0; id < aion_n_vocab(a); id++) {
            char pa[256], pb[256];
            int la = aion_token_piece(a, id, pa, sizeof pa), lb = aion_token_piece(b, id, pb, sizeof pb);
            if (la != lb || (la > 0 && memcmp(pa, pb, (size_t)(la < 256 ? la : 256)) != 0)) {
                set_err(err, err_len, "%s and %s differ at token %d: they cannot share a probe or draft",
                        o->members[0].name, o->members[i].name, id);
                return -1;
            }
        }
    }
    return 0;
}

static int load_members(orch *o, const orch_params *p, char *err, size_t err_len) {
    int n_ctx = p->n_ctx;
    for (int i = 0; i < p->n_models; i++) {
        member *mb = &o->members[o->n_members];
        mb->path = strdup(p->model_paths[i]);
        mb->model = aion_model_load(p->model_paths[i], err, err_len);
        if (!mb->model) return free(mb->path), mb->path = NULL, -1;
        o->n_members++;
        member_name(mb);
        aion_model_info info;
        aion_model_get_info(mb->model, &info);
        if (p->n_ctx <= 0 && (n_ctx <= 0 || info.n_ctx_train < n_ctx)) n_ctx = info.n_ctx_train;
    }
    uint64_t total = 0;
    for (int i = 0; i < o->n_members; i++) {
        aion_ctx_params cp = {.n_seq = 1, .n_ctx = n_ctx, .n_batch = 512, .kv_f16 = p->kv_f16};
        o->members[i].ctx = aion_ctx_new(o->members[i].model, &cp, err, err_len);
        if (!o->members[i].ctx) return -1;
        aion_model_info info;
        aion_model_get_info(o->members[i].model, &info);
        total += info.weight_bytes + aion_ctx_kv_bytes(o->members[i].ctx);
    }
    if (p->mem_budget && total > p->mem_budget) {
        set_err(err, err_len, "the pool needs %.1f MiB (weights + KV caches), over the memory budget of %.1f MiB",
                total / 1048576.0, p->mem_budget / 1048576.0);
        return -1;
    }
    return check_vocab(o, err, err_len);
}

static int load_policy(orch *o, const orch_params *p, char *err, size_t err_len) {
    const char *names[ORCH_MAX_MODELS];
    for (int i = 0; i < o->n_members; i++) names[i] = o->members[i].name;
    char path[1100];
    if (p->policy_path) {
        snprintf(path, sizeof path, "%s", p->policy_path);
    } else {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s", o->members[0].path);
        snprintf(path, sizeof path, "%s/policy.json", dirname(dir));
    }
    if (policy_load(&o->pol, path, names, o->n_members, err, err_len) < 0) return -1;
    o->probe_member = orch_find_model(o, o->pol.probe_model);
    for (int c = 0; c < o->pol.n_categories; c++) {
        o->lookup_acc[c] = o->pol.lookup_prior[c];
        o->spec_acc[c] = o->pol.spec_prior[c];
    }
    const char *labels[POLICY_MAX_CATEGORIES];
    for (int c = 0; c < o->pol.n_categories; c++) labels[c] = o->pol.categories[c];
    char why[300];
    o->probe = probe_new(o->members[o->probe_member].model, labels, o->pol.n_categories, o->pol.probe_format, why,
                         sizeof why);
    if (!o->probe) /* still usable: pinned requests, and auto ones take the fallback route */
        fprintf(stderr, "warning: %s: no probe, auto requests take the fallback route\n", why);
    return 0;
}

static int calibrate_members(orch *o, const orch_params *p, char *err, size_t err_len) {
    char def[1024];
    const char *profile = p->profile_path ? p->profile_path : calib_default_path(def, sizeof def);
    for (int i = 0; i < o->n_members; i++) {
        member *mb = &o->members[i];
        if (calib_get(profile, mb->model, mb->path, p->kv_f16, o->threads, &o->dc, &mb->curve, &mb->measured, err,
                      err_len) < 0)
            return -1;
    }
    return 0;
}

orch *orch_new(const orch_params *p, char *err, size_t err_len) {
    if (p->n_models < 1 || p->n_models > ORCH_MAX_MODELS || !p->threads) {
        set_err(err, err_len, "a pool holds 1..%d models", ORCH_MAX_MODELS);
        return NULL;
    }
    orch *o = calloc(1, sizeof *o);
    if (!o) return NULL;
    o->threads = p->threads;
    o->dc = decode_default_config();
    if (load_members(o, p, err, err_len) < 0 || load_policy(o, p, err, err_len) < 0 ||
        calibrate_members(o, p, err, err_len) < 0) {
        orch_free(o);
        return NULL;
    }
    return o;
}

void orch_free(orch *o) {
    if (!o) return;
    for (int i = 0; i < o->n_members; i++) {
        aion_ctx_free(o->members[i].ctx);
        aion_model_free(o->members[i].model);
        free(o->members[i].path);
    }
    probe_free(o->probe);
    free(o);
}

int orch_n_models(const orch *o) { return o->n_members; }
const char *orch_model_name(const orch *o, int i) { return o->members[i].name; }
const aion_model *orch_model(const orch *o, int i) { return o->members[i].model; }
size_t orch_kv_bytes(const orch *o, int i) { return aion_ctx_kv_bytes(o->members[i].ctx); }
const cost_curve *orch_curve(const orch *o, int i) { return &o->members[i].curve; }
bool orch_curve_measured(const orch *o, int i) { return o->members[i].measured; }

int orch_find_model(const orch *o, const char *name) {
    for (int i = 0; i < o->n_members; i++)
        if (strcmp(o->members[i].name, name) == 0) return i;
    return -1;
}

const accept_profile *orch_acceptance(const orch *o, int category, int strategy) {
    int c = category >= 0 && category < o->pol.n_categories ? category : UNKNOWN_CATEGORY;
    return strategy == DECODE_SPEC ? &o->spec_acc[c] : &o->lookup_acc[c];
}

/* ------------------------------------------------------------ one request */

typedef struct request_state {
    orch *o;
    const orch_request *req;
    orch_report *rep;
    int category, serving, draft; /* draft: member index or -1 */
    unsigned allowed;
    int n_prompt;
    int rounds_since_revisit;
    decode_stats phase_start;     /* decoder stats when the current phase began */
    accept_profile lookup_now, spec_now;
} request_state;

static void stats_sub(decode_stats *d, const decode_stats *a, const decode_stats *b) {
    memset(d, 0, sizeof *d);
    d->rounds = a->rounds - b->rounds;
    d->drafted = a->drafted - b->drafted;
    d->accepted = a->accepted - b->accepted;
    for (int i = 0; i < DECODE_MAX_DRAFT; i++) {
        d->drafted_at[i] = a->drafted_at[i] - b->drafted_at[i];
        d->accepted_at[i] = a->accepted_at[i] - b->accepted_at[i];
    }
}

static void append_phase(orch_report *rep, int strategy, int k, int at_token) {
    size_t len = strlen(rep->phases);
    if (strategy == DECODE_AR)
        snprintf(rep->phases + len, sizeof rep->phases - len, "%sar@%d", len ? " " : "", at_token);
    else
        snprintf(rep->phases + len, sizeof rep->phases - len, "%s%s:%d@%d", len ? " " : "",
                 decode_strategy_name(strategy), k, at_token);
}

static cost_option choose(const request_state *rs, int ctx_len) {
    const orch *o = rs->o;
    const cost_curve *draft = rs->draft >= 0 ? &o->members[rs->draft].curve : NULL;
    return cost_choose(rs->allowed, &o->members[rs->serving].curve, draft, &rs->lookup_now, &rs->spec_now, ctx_len,
                       &o->dc);
}

/* Folds what the current phase has shown into the request's running view of acceptance. */
static void observe_phase(request_state *rs, const decoder *d) {
    decode_stats delta;
    stats_sub(&delta, decoder_stats(d), &rs->phase_start);
    int s = decoder_strategy(d);
    if (s == DECODE_LOOKUP) cost_accept_update(&rs->lookup_now, &delta, 0.2);
    if (s == DECODE_SPEC) cost_accept_update(&rs->spec_now, &delta, 0.2);
    rs->phase_start = *decoder_stats(d);
}

/* Every revisit_rounds rounds: re-rank the options with the request's own evidence, and switch only
 * if the best beats the current estimate by the hysteresis margin. */
static void revisit(void *user, decoder *d) {
    request_state *rs = user;
    if (++rs->rounds_since_revisit < rs->o->pol.revisit_rounds) return;
    rs->rounds_since_revisit = 0;
    double t0 = now_seconds();
    observe_phase(rs, d);
    int ctx_len = decoder_n_tokens(d);
    int cur_s = decoder_strategy(d);
    const accept_profile *cur_acc = cur_s == DECODE_SPEC ? &rs->spec_now : &rs->lookup_now;
    cost_option cur = cost_estimate(cur_s, cur_s == DECODE_AR ? 0 : rs->rep->first_draft_max,
                                    &rs->o->members[rs->serving].curve,
                                    rs->draft >= 0 ? &rs->o->members[rs->draft].curve : NULL, cur_acc, ctx_len,
                                    &rs->o->dc);
    cost_option best = choose(rs, ctx_len);
    bool differs = best.strategy != cur_s || (best.strategy != DECODE_AR && best.draft_max != cur.draft_max);
    if (differs && best.tokens_per_second > cur.tokens_per_second * (1 + rs->o->pol.hysteresis) &&
        decoder_set_strategy(d, best.strategy, best.draft_max) == 0) {
        rs->rep->n_switches++;
        rs->rep->first_draft_max = best.draft_max;
        append_phase(rs->rep, best.strategy, best.draft_max, decoder_n_tokens(d) - rs->n_prompt);
    }
    rs->rep->switch_seconds += now_seconds() - t0;
}

/* Probe (when asked), then the policy's route. Returns the cached prompt tokens of the probe slot. */
static int route(request_state *rs, const int32_t *prompt, int n_prompt, char *err, size_t err_len) {
    orch *o = rs->o;
    const orch_request *req = rs->req;
    bool is_auto = !req->pin_model || strcmp(req->pin_model, "auto") == 0;
    int cached = 0;
    probe_result pr = {.category = -1};
    if ((is_auto || req->use_probe) && o->probe) {
        probe_set_window(o->probe, policy_probe_window(&o->pol, n_prompt));
        if (n_prompt + 2 < aion_ctx_n_ctx(o->members[o->probe_member].ctx) &&
            probe_classify(o->probe, o->members[o->probe_member].ctx, 0, o->threads, prompt, n_prompt, &pr, err,
                           err_len) < 0)
            return -1;
        cached = pr.cached_tokens;
        rs->rep->probe_seconds = pr.seconds;
        rs->rep->probe_prompt_seconds = pr.cached_tokens > 0 ? pr.prompt_seconds : 0;
    }
    double t0 = now_seconds();
    rs->category = pr.category;
    rs->rep->confidence = pr.confidence;
    snprintf(rs->rep->category, sizeof rs->rep->category, "%s",
             pr.category >= 0 ? probe_label(o->probe, pr.category) : "none");
    if (is_auto) {
        const char *reason;
        const policy_route *r = policy_decide(&o->pol, pr.category, pr.confidence, n_prompt, &reason);
        rs->serving = orch_find_model(o, r->model);
        rs->allowed = r->strategies;
        snprintf(rs->rep->reason, sizeof rs->rep->reason, "%s", reason);
    } else {
        rs->serving = orch_find_model(o, req->pin_model);
        if (rs->serving < 0) {
            set_err(err, err_len, "model '%s' is not in the pool", req->pin_model);
            return -1;
        }
        rs->allowed = (1u << DECODE_AR) | (1u << DECODE_LOOKUP) | (1u << DECODE_SPEC);
        snprintf(rs->rep->reason, sizeof rs->rep->reason, "pinned");
    }
    if (req->allowed_override) rs->allowed = req->allowed_override | (1u << DECODE_AR);
    rs->draft = rs->serving != o->probe_member ? o->probe_member : -1;
    if (rs->draft < 0) rs->allowed &= ~(1u << DECODE_SPEC);
    snprintf(rs->rep->model, sizeof rs->rep->model, "%s", o->members[rs->serving].name);
    rs->rep->route_seconds = now_seconds() - t0;
    return rs->serving == o->probe_member ? cached : 0;
}

static void reset_slots(orch *o) {
    for (int i = 0; i < o->n_members; i++) aion_kv_truncate(o->members[i].ctx, 0, 0);
}

int orch_generate(orch *o, const orch_request *req, const int32_t *prompt, int n_prompt,
                  const aion_sampler_params *sp, int max_new, decode_token_fn on_token, void *user, orch_report *rep,
                  char *err, size_t err_len) {
    memset(rep, 0, sizeof *rep);
    double t0 = now_seconds();
    reset_slots(o);
    request_state rs = {.o = o, .req = req, .rep = rep, .n_prompt = n_prompt};
    int cached = route(&rs, prompt, n_prompt, err, err_len);
    if (cached < 0) return -1;
    int cat = rs.category >= 0 ? rs.category : UNKNOWN_CATEGORY;
    rs.lookup_now = o->lookup_acc[cat];
    rs.spec_now = o->spec_acc[cat];
    decode_config dc = o->dc;
    if (req->pin_strategy >= 0) {
        dc.strategy = req->pin_strategy;
        if (req->pin_draft_max > 0) dc.draft_max = req->pin_draft_max;
        if (dc.strategy == DECODE_SPEC && rs.draft < 0) {
            set_err(err, err_len, "strategy spec needs a draft model other than the serving one (%s)", rep->model);
            return -1;
        }
    } else if (req->static_strategy) {
        dc.strategy = rs.allowed & (1u << DECODE_LOOKUP) ? DECODE_LOOKUP
                      : rs.allowed & (1u << DECODE_SPEC) ? DECODE_SPEC
                                                          : DECODE_AR;
    } else {
        cost_option best = choose(&rs, n_prompt);
        dc.strategy = best.strategy;
        dc.draft_max = best.draft_max > 0 ? best.draft_max : dc.draft_max;
    }
    rep->first_strategy = dc.strategy;
    rep->first_draft_max = dc.strategy == DECODE_AR ? 0 : dc.draft_max;
    append_phase(rep, dc.strategy, rep->first_draft_max, 0);
    aion_sampler *s = aion_sampler_new(sp, aion_n_vocab(o->members[rs.serving].model));
    aion_ctx *draft_ctx = rs.draft >= 0 ? o->members[rs.draft].ctx : NULL;
    /* A draft slot may keep the probe's prompt cache: the draft catches up from where it stands. */
    decoder *d = s ? decoder_new(&dc, o->members[rs.serving].ctx, 0, draft_ctx, 0, s, o->threads, err, err_len) : NULL;
    int n = -1;
    if (d) {
        bool adaptive = req->pin_strategy < 0 && !req->never_revisit && !req->static_strategy;
        n = decoder_generate_hooked(d, prompt, n_prompt, cached, max_new, on_token, user, adaptive ? revisit : NULL,
                                    &rs, err, err_len);
        observe_phase(&rs, d);
        if (n >= 0) {
            rep->stats = *decoder_stats(d);
            rep->last_strategy = decoder_strategy(d);
            /* what the request showed becomes the category's belief for the next one */
            o->lookup_acc[cat] = rs.lookup_now;
            o->spec_acc[cat] = rs.spec_now;
        }
    }
    decoder_free(d);
    aion_sampler_free(s);
    rep->n_prompt = n_prompt;
    rep->n_generated = n > 0 ? n : 0;
    rep->prompt_tokens_reused = cached;
    /* The probe's prompt prefill is overhead only when nobody used the cache it left: serving from
     * the probe model, or drafting with it, starts from there. */
    bool cache_used = rs.serving == o->probe_member || (rs.draft == o->probe_member && rep->stats.draft_forwards > 0);
    rep->probe_overhead_seconds = rep->probe_seconds - (cache_used ? rep->probe_prompt_seconds : 0);
    rep->total_seconds = now_seconds() - t0;
    return n;
}
