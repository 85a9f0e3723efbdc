/*
 * sim_replay.c - serving a workload under each policy on a simulated machine
 * (see sim_replay.h).
 *
 * A request is played round by round on one sim_machine that lives for the
 * whole workload, so a graph compiled for one request is there for the next.
 * Acceptance is drawn per round from the category's profile with a seeded
 * stream per request, the same for every policy, so policies differ only in
 * what they do with the same luck. The routed policies reuse the project's
 * own policy files and cost model unchanged: the simulator feeds them the
 * curves calibration would measure on the simulated machine.
 */
#include <stdio.h>
#include <string.h>

#include "sim/sim_replay.h"
#include "util.h"

static const char *const POLICY_NAMES[SIM_N_POLICIES] = {
    "static-small", "static-large",  "large+lookup", "spec-fine-oracle",
    "spec-fine-k",  "spec-bucketed", "paper-policy", "aio-policy",
};

const char *sim_policy_name(int policy_id) { return policy_id >= 0 && policy_id < SIM_N_POLICIES ? POLICY_NAMES[policy_id] : "?"; }

void sim_setup_init(sim_setup *s, const sim_hw *hw, const sim_model *small, const sim_model *large) {
    memset(s, 0, sizeof *s);
    s->hw = *hw;
    s->exec = hw->execution;
    s->models[SIM_SMALL] = *small;
    s->models[SIM_LARGE] = *large;
    s->dc = decode_default_config();
    s->spec_k = 3;
    s->lookup_k = 7;
    s->prefill_chunk = 128;
    s->seed = 1;
    s->compile_aware = true;
}

int sim_setup_policies(sim_setup *s, const char *aio_path, const char *paper_path, char *err, size_t err_len) {
    static const char *const names[] = {"aio-small", "aio-large"};
    s->have_aio_policy = s->have_paper_policy = false;
    if (aio_path && policy_load(&s->aio_policy, aio_path, names, 2, err, err_len) < 0) return -1;
    s->have_aio_policy = aio_path != NULL;
    if (paper_path && policy_load(&s->paper_policy, paper_path, names, 2, err, err_len) < 0) return -1;
    s->have_paper_policy = paper_path != NULL;
    return 0;
}

double sim_result_tokens_per_second(const sim_result *r) { return r->seconds > 0 ? r->output_tokens / r->seconds : 0; }

double sim_result_steady_tokens_per_second(const sim_result *r) {
    double t = r->seconds - r->split[SIM_COST_COMPILE];
    return t > 0 ? r->output_tokens / t : 0;
}

int sim_result_shapes(const sim_result *r, int model) {
    int n = 0;
    for (int i = 0; model >= 0 && model < SIM_MAX_MODELS && i <= SIM_MAX_SHAPE; i++) n += r->compiled[model][i];
    return n;
}

static int bucket_for(const decode_config *dc, int n) {
    for (int i = 0; i < dc->n_buckets; i++)
        if (dc->buckets[i] >= n) return dc->buckets[i];
    return n;
}

/* ------------------------------------------------------------ cost curves */

static const int CURVE_CONTEXTS[COST_MAX_CTX] = {1, 256, 1024, 4096};

/* A target forward ends its round: launched after the previous sync, then synced itself. */
static double target_seconds(const sim_setup *s, const sim_model *m, int n, int ctx) {
    sim_machine mc;
    sim_machine_init(&mc, &s->hw, s->exec);
    mc.shapes_free = true;
    sim_machine_forward(&mc, 0, m, n, ctx, n);
    sim_machine_sync(&mc);
    return sim_machine_finish(&mc);
}

/* A draft forward inside a round follows another on the device: its launch can overlap. */
static double pipelined_seconds(const sim_setup *s, const sim_model *m, int n, int ctx) {
    sim_machine mc;
    sim_machine_init(&mc, &s->hw, s->exec);
    mc.shapes_free = true;
    sim_machine_forward(&mc, 0, m, n, ctx, n);
    double first = mc.device;
    sim_machine_forward(&mc, 0, m, n, ctx, n);
    sim_machine_forward(&mc, 0, m, n, ctx, n);
    return (mc.device - first) / 2;
}

void sim_cost_curve(const sim_setup *s, int model, bool target, cost_curve *out) {
    memset(out, 0, sizeof *out);
    const sim_model *m = &s->models[model];
    for (int i = 0; i < s->dc.n_buckets && i < COST_MAX_SIZES; i++) out->sizes[out->n_sizes++] = s->dc.buckets[i];
    for (int j = 0; j < COST_MAX_CTX; j++) {
        out->ctx[out->n_ctx++] = CURVE_CONTEXTS[j];
        for (int i = 0; i < out->n_sizes; i++)
            out->seconds[j][i] = target ? target_seconds(s, m, out->sizes[i], CURVE_CONTEXTS[j])
                                        : pipelined_seconds(s, m, out->sizes[i], CURVE_CONTEXTS[j]);
    }
}

/* --------------------------------------------------------------- requests */

typedef struct request_run {
    const sim_setup *s;
    sim_machine *mc;
    sim_result *r;
    accept_profile spec_acc, lookup_acc;
    uint64_t rng;
    int ctx[SIM_MAX_MODELS];   /* positions cached per model */
    int produced, wanted;
    int remaining;             /* requests left in the workload, this one included */
} request_run;


static void forward(request_run *rr, int model, int n_tokens, int ctx, int n_logits) {
    sim_machine_forward(rr->mc, model, &rr->s->models[model], n_tokens, ctx, n_logits);
}

/* Feeds n prompt tokens in chunks; in graph mode every chunk has the chunk's shape. */
static void prefill(request_run *rr, int model, int n, bool logits) {
    int chunk = rr->s->prefill_chunk;
    for (int done = 0; done < n; done += chunk) {
        int real = n - done < chunk ? n - done : chunk;
        int shape = rr->s->exec == SIM_EXEC_GRAPH ? chunk : real;
        forward(rr, model, shape, rr->ctx[model], logits && done + real >= n ? 1 : 0);
        rr->ctx[model] += real;
    }
}

static void emit(request_run *rr, int tokens) {
    if (tokens > rr->wanted - rr->produced) tokens = rr->wanted - rr->produced;
    rr->produced += tokens;
}

/* Drafts accepted this round: P(first i accepted) is the profile's prefix, one uniform decides all. */
static int draw_accepted(request_run *rr, const accept_profile *a, int k) {
    double u = lcg_uniform(&rr->rng);
    int n = 0;
    while (n < k && u < cost_accept_prefix(a, n)) n++;
    return n;
}

static void count_round(request_run *rr, int drafted, int accepted) {
    rr->r->rounds++;
    rr->r->drafted += drafted;
    rr->r->accepted += accepted;
    emit(rr, 1 + accepted);
}

static void round_ar(request_run *rr, int model) {
    forward(rr, model, 1, rr->ctx[model], 1);
    sim_machine_sync(rr->mc);
    rr->ctx[model] += 1;
    count_round(rr, 0, 0);
}

static void round_lookup(request_run *rr, int model, int k) {
    int accepted = 0, drafted = 0;
    if (lcg_uniform(&rr->rng) < rr->lookup_acc.draft_rate) {
        drafted = k;
        accepted = draw_accepted(rr, &rr->lookup_acc, k);
        forward(rr, model, bucket_for(&rr->s->dc, k + 1), rr->ctx[model], k + 1);
    } else {
        forward(rr, model, 1, rr->ctx[model], 1);
    }
    sim_machine_sync(rr->mc);
    rr->ctx[model] += 1 + accepted;
    count_round(rr, drafted, accepted);
}

/* The drafter catches up on the pending token(s) with a forward of 2 (which drafts the first
 * token), then drafts one token per forward; the host only reads the verified result. */
static void round_spec_bucketed(request_run *rr, int k) {
    int accepted = draw_accepted(rr, &rr->spec_acc, k), at = rr->ctx[SIM_SMALL];
    forward(rr, SIM_SMALL, 2, at, 1);
    for (int i = 1; i < k; i++) forward(rr, SIM_SMALL, 1, at + 1 + i, 1);
    forward(rr, SIM_LARGE, bucket_for(&rr->s->dc, k + 1), rr->ctx[SIM_LARGE], k + 1);
    sim_machine_sync(rr->mc);
    rr->ctx[SIM_LARGE] += 1 + accepted;
    rr->ctx[SIM_SMALL] = rr->ctx[SIM_LARGE] - 1;
    count_round(rr, k, accepted);
}

/* Fine-grained: the drafter runs one token per forward and the host reads every draft token (a sync
 * each, and after it the next forward's graph launch is exposed). With an oracle stop the host stops at
 * exactly the first draft the target will reject (the best any per-token rule can do) and the target
 * verifies 1 + drafted tokens, a new shape per draft length; without one it drafts the fixed k and the
 * target verifies exactly 1 + k tokens, one shape. Either way the round ends with the usual sync. */
static void round_spec_fine(request_run *rr, int k, bool oracle) {
    int accepted = draw_accepted(rr, &rr->spec_acc, k), at = rr->ctx[SIM_SMALL];
    int drafted = oracle && accepted < k ? accepted + 1 : k;
    forward(rr, SIM_SMALL, 2, at, 1);
    sim_machine_sync(rr->mc);
    for (int i = 1; i < drafted; i++) {
        forward(rr, SIM_SMALL, 1, at + 1 + i, 1);
        sim_machine_sync(rr->mc);
    }
    forward(rr, SIM_LARGE, 1 + drafted, rr->ctx[SIM_LARGE], 1 + drafted);
    sim_machine_sync(rr->mc);
    rr->ctx[SIM_LARGE] += 1 + accepted;
    rr->ctx[SIM_SMALL] = rr->ctx[SIM_LARGE] - 1;
    count_round(rr, drafted, accepted);
}

typedef struct decode_plan {
    int model, strategy, k;
    bool fine, oracle; /* spec token by token (round_spec_fine), stopping by oracle */
} decode_plan;

static void decode_rest(request_run *rr, const decode_plan *p) {
    while (rr->produced < rr->wanted) {
        if (p->strategy == DECODE_SPEC && p->fine) round_spec_fine(rr, p->k, p->oracle);
        else if (p->strategy == DECODE_SPEC) round_spec_bucketed(rr, p->k);
        else if (p->strategy == DECODE_LOOKUP) round_lookup(rr, p->model, p->k);
        else round_ar(rr, p->model);
    }
}

static void serve_pinned(request_run *rr, const sim_request *rq, const decode_plan *p) {
    rr->wanted = p->model == SIM_SMALL ? rq->output_small : rq->output_large;
    prefill(rr, p->model, rq->prompt_tokens, true);
    if (p->strategy == DECODE_SPEC) prefill(rr, SIM_SMALL, rq->prompt_tokens, false); /* the drafter's cache */
    sim_machine_sync(rr->mc);
    emit(rr, 1);
    decode_rest(rr, p);
}

typedef struct routing {
    const policy *pol;
    bool paper;
    cost_curve target[SIM_MAX_MODELS]; /* the cost model's view of each model serving */
    cost_curve drafter;                /* and of the small model drafting inside a round */
} routing;

/* ------------------------------------------------- compile-aware choice */

/* The graph shapes the decode rounds of a plan run (prefill chunks are common to every plan). */
typedef struct shape_set {
    int n, model[4], tokens[4];
} shape_set;

static void shape_add(shape_set *ss, int model, int tokens) { ss->model[ss->n] = model, ss->tokens[ss->n++] = tokens; }

static shape_set plan_shapes(const sim_setup *s, const decode_plan *p) {
    shape_set ss = {0};
    if (p->strategy == DECODE_SPEC) { /* round_spec_bucketed: drafter 2 then 1s, target one bucket */
        shape_add(&ss, SIM_SMALL, 2);
        if (p->k > 1) shape_add(&ss, SIM_SMALL, 1);
        shape_add(&ss, SIM_LARGE, bucket_for(&s->dc, p->k + 1));
    } else if (p->strategy == DECODE_LOOKUP) { /* round_lookup: a bucket when drafting, 1 otherwise */
        shape_add(&ss, p->model, 1);
        shape_add(&ss, p->model, bucket_for(&s->dc, p->k + 1));
    } else {
        shape_add(&ss, p->model, 1);
    }
    return ss;
}

static int uncompiled_shapes(const sim_machine *mc, const shape_set *ss) {
    int n = 0;
    for (int i = 0; i < ss->n; i++) {
        int shape = ss->tokens[i] <= SIM_MAX_SHAPE ? ss->tokens[i] : SIM_MAX_SHAPE;
        n += !mc->compiled[ss->model[i]][shape];
    }
    return n;
}

/* Output tokens a choice made now is expected to serve: this request's, times the requests left,
 * times the share of requests served so far that went to this model (Laplace-smoothed, so the
 * first request counts half the workload). The future is assumed to look like this request; a
 * server would use its own traffic statistics the same way. */
static double horizon_tokens(const request_run *rr, int model, int wanted) {
    int served = model == SIM_SMALL ? rr->r->routed_small : rr->r->requests - rr->r->routed_small;
    double share = (served + 1.0) / (rr->r->requests + 2.0);
    return (double)wanted * rr->remaining * share;
}

/* On a graph-compiled machine a new shape costs graph_compile_s once. Among the cost model's
 * candidates (ar, and every bucket k of each allowed strategy, as cost_choose tries them) pick
 * the one with the least expected time over the horizon, compiles of its missing shapes
 * included: a faster plan that needs new graphs wins only when what it saves over the horizon
 * exceeds their compile cost; otherwise the plan sticks to shapes already compiled. */
static decode_plan choose_compiled(const request_run *rr, const routing *ro, int model, unsigned allowed,
                                   const sim_request *rq) {
    const sim_setup *s = rr->s;
    const cost_curve *target = &ro->target[model], *drafter = model == SIM_LARGE ? &ro->drafter : NULL;
    double horizon = horizon_tokens(rr, model, model == SIM_SMALL ? rq->output_small : rq->output_large);
    int prompt = rq->prompt_tokens;
    decode_plan best = {.model = model, .strategy = DECODE_AR};
    double best_seconds = -1;
    for (int st = DECODE_AR; st <= DECODE_SPEC; st++) {
        const accept_profile *acc = st == DECODE_LOOKUP ? &rr->lookup_acc : st == DECODE_SPEC ? &rr->spec_acc : NULL;
        if (st != DECODE_AR && (!(allowed & (1u << st)) || acc->n_positions == 0 || (st == DECODE_SPEC && !drafter)))
            continue;
        for (int b = st == DECODE_AR ? 0 : 1; b < s->dc.n_buckets; b++) {
            int k = st == DECODE_AR ? 0 : s->dc.buckets[b] - 1;
            if (k > DECODE_MAX_DRAFT) break;
            cost_option o = cost_estimate(st, k, target, drafter, acc, prompt, &s->dc);
            if (o.tokens_per_second <= 0) continue;
            decode_plan p = {.model = model, .strategy = o.strategy, .k = o.draft_max};
            shape_set ss = plan_shapes(s, &p);
            double seconds = horizon / o.tokens_per_second + uncompiled_shapes(rr->mc, &ss) * s->hw.compile_seconds;
            if (best_seconds < 0 || seconds < best_seconds) best = p, best_seconds = seconds;
            if (st == DECODE_AR) break;
        }
    }
    return best;
}

static decode_plan choose_plan(const request_run *rr, const routing *ro, const policy_route *route,
                               const sim_request *rq) {
    int prompt = rq->prompt_tokens;
    const sim_setup *s = rr->s;
    decode_plan p = {.model = strcmp(route->model, "aio-small") == 0 ? SIM_SMALL : SIM_LARGE};
    unsigned allowed = route->strategies | (1u << DECODE_AR);
    if (p.model == SIM_SMALL) allowed &= ~(1u << DECODE_SPEC); /* the small model has no drafter */
    if (ro->paper) {
        p.strategy = allowed & (1u << DECODE_LOOKUP) ? DECODE_LOOKUP
                     : allowed & (1u << DECODE_SPEC) ? DECODE_SPEC
                                                     : DECODE_AR;
        p.k = s->dc.draft_max;
        return p;
    }
    const cost_curve *drafter = p.model == SIM_LARGE ? &ro->drafter : NULL;
    if (s->compile_aware && s->exec == SIM_EXEC_GRAPH && s->hw.compile_seconds > 0)
        return choose_compiled(rr, ro, p.model, allowed, rq);
    cost_option best = cost_choose(allowed, &ro->target[p.model], drafter, &rr->lookup_acc, &rr->spec_acc, prompt, &s->dc);
    p.strategy = best.strategy;
    p.k = best.draft_max;
    return p;
}

/* The probe reads the prompt and a label token on the small model; its cache keeps all but the last
 * prompt token, which serving on the small model feeds again. */
static void serve_routed(request_run *rr, const sim_workload *w, const sim_request *rq, const routing *ro) {
    prefill(rr, SIM_SMALL, rq->prompt_tokens + 1, true);
    sim_machine_sync(rr->mc);
    rr->ctx[SIM_SMALL] = rq->prompt_tokens - 1;
    int category = rq->probed >= 0 ? policy_category_index(ro->pol, w->cats[rq->probed].name) : -1;
    const char *reason;
    const policy_route *route = policy_decide(ro->pol, category, rq->confidence, rq->prompt_tokens, &reason);
    decode_plan p = choose_plan(rr, ro, route, rq);
    rr->wanted = p.model == SIM_SMALL ? rq->output_small : rq->output_large;
    rr->r->routed_small += p.model == SIM_SMALL;
    if (p.model == SIM_SMALL) {
        forward(rr, SIM_SMALL, 1, rr->ctx[SIM_SMALL], 1);
        rr->ctx[SIM_SMALL] += 1;
    } else {
        prefill(rr, SIM_LARGE, rq->prompt_tokens, true);
    }
    sim_machine_sync(rr->mc);
    emit(rr, 1);
    decode_rest(rr, &p);
}

static void serve(const sim_setup *s, const sim_workload *w, int policy_id, const routing *ro, int index,
                  sim_machine *mc, sim_result *r) {
    const sim_request *rq = &w->requests[index];
    const sim_category *cat = &w->cats[rq->category];
    request_run rr = {.s = s, .mc = mc, .r = r,
                      .spec_acc = sim_accept_profile(cat->spec_accept, 1),
                      .lookup_acc = sim_accept_profile(cat->lookup_accept, cat->lookup_draft_rate),
                      .rng = (s->seed + 1) * 0x9E3779B97F4A7C15ull ^ (uint64_t)(index + 1) * 0xD1B54A32D192ED03ull,
                      .remaining = w->n_requests - index};
    decode_plan p = {.model = SIM_LARGE, .strategy = DECODE_AR};
    switch (policy_id) {
    case SIM_STATIC_SMALL: p.model = SIM_SMALL; break;
    case SIM_LOOKUP: p.strategy = DECODE_LOOKUP, p.k = s->lookup_k; break;
    case SIM_SPEC_FINE_ORACLE: p.strategy = DECODE_SPEC, p.k = s->spec_k, p.fine = p.oracle = true; break;
    case SIM_SPEC_FINE_K: p.strategy = DECODE_SPEC, p.k = s->spec_k, p.fine = true; break;
    case SIM_SPEC_BUCKETED: p.strategy = DECODE_SPEC, p.k = s->spec_k; break;
    default: break;
    }
    if (policy_id == SIM_PAPER || policy_id == SIM_AIO) serve_routed(&rr, w, rq, ro);
    else serve_pinned(&rr, rq, &p);
    r->output_tokens += rr.produced;
    r->requests++;
}

int sim_run_policy(const sim_setup *s, const sim_workload *w, int policy_id, sim_result *r) {
    memset(r, 0, sizeof *r);
    r->policy_id = policy_id;
    if ((policy_id == SIM_PAPER && !s->have_paper_policy) || (policy_id == SIM_AIO && !s->have_aio_policy)) return -1;
    sim_machine mc;
    routing ro = {0};
    sim_machine_init(&mc, &s->hw, s->exec);
    ro.pol = policy_id == SIM_PAPER ? &s->paper_policy : &s->aio_policy;
    ro.paper = policy_id == SIM_PAPER;
    if (policy_id == SIM_AIO) {
        sim_cost_curve(s, SIM_SMALL, true, &ro.target[SIM_SMALL]);
        sim_cost_curve(s, SIM_LARGE, true, &ro.target[SIM_LARGE]);
        sim_cost_curve(s, SIM_SMALL, false, &ro.drafter);
    }
    for (int i = 0; i < w->n_requests; i++) serve(s, w, policy_id, &ro, i, &mc, r);
    r->ran = true;
    r->seconds = sim_machine_finish(&mc);
    memcpy(r->split, mc.split, sizeof r->split);
    memcpy(r->compiled, mc.compiled, sizeof r->compiled);
    r->bytes_read = mc.bytes_read;
    r->forwards = mc.forwards;
    r->syncs = mc.syncs;
    r->compiles = mc.compiles;
    return 0;
}
