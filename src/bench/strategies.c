/*
 * strategies.c - the strategy benchmark's measurement (see strategies.h).
 *
 * It owns the decoding of each (task, variant) and what is counted of it. Counted are the
 * decoding rounds only: the prompt is the same work for every strategy, so it is computed
 * once per task into sequence slot 1 of each model and copied into slot 0 before each
 * variant; the target then computes only the last prompt token and samples the first token
 * (uncounted), and the clock starts at the first round. A round's tokens beyond the stop
 * (end of the first line, the token limit) are work thrown away: they cost time but are not
 * counted as tokens, as ar never makes them. Weight bytes are read from the contexts'
 * counters around the rounds, so verification padding and the draft model's forwards are
 * all in the figure.
 */
#include "strategies.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/tasks.h"
#include "util.h"

static const char *const CATEGORY_NAMES[STRAT_N_CATEGORIES] = {"code", "math", "qa", "chat"};

#define LINE_TEXT_MAX 1024
#define PROMPT_SLOT 1
#define DECODE_SLOT 0

strat_config strat_default_config(void) {
    return (strat_config){.tasks_dir = "bench/tasks", .limit = 0, .max_new = 48, .chat_max_new = 64, .repeat = 1,
                          .base = decode_default_config()};
}

const char *strat_category_name(int category) {
    return category >= 0 && category < STRAT_N_CATEGORIES ? CATEGORY_NAMES[category] : "unknown";
}

const char *strat_variant_label(const strat_variant *v, char *buf, size_t len) {
    if (v->strategy == DECODE_AR) snprintf(buf, len, "ar");
    else snprintf(buf, len, "%s k=%d", decode_strategy_name(v->strategy), v->k);
    return buf;
}

int strat_variants_for(const decode_config *cfg, bool with_spec, strat_variant *out) {
    int n = 0;
    out[n++] = (strat_variant){DECODE_AR, 0};
    const int strategies[] = {DECODE_LOOKUP, DECODE_SPEC};
    for (int s = 0; s < (with_spec ? 2 : 1); s++)
        for (int b = 0; b < cfg->n_buckets; b++) {
            int k = cfg->buckets[b] - 1;
            if (k >= 1 && k <= DECODE_MAX_DRAFT) out[n++] = (strat_variant){strategies[s], k};
        }
    return n;
}

static uint64_t bytes_read(const aion_ctx *c) {
    if (!c) return 0;
    aion_ctx_stats s;
    aion_ctx_get_stats(c, &s);
    return s.weight_bytes_read;
}

/* ------------------------------------------------------------------ one generation */

/* The tokens a variant delivers and the stop rule of its category (eval's: the end of the
 * first line past any leading newlines, so a variant stops exactly where ar does). */
typedef struct generation {
    const aion_model *model;
    int32_t *tokens;
    int n_tokens, max_new;
    bool line_stop;
    aion_detok *detok;
    char text[LINE_TEXT_MAX];
    size_t text_len;
} generation;

static void generation_reset(generation *g, int max_new, bool line_stop) {
    g->n_tokens = 0;
    g->max_new = max_new;
    g->line_stop = line_stop;
    g->text_len = 0;
    g->text[0] = 0;
    aion_detok_free(g->detok);
    g->detok = aion_detok_new(g->model);
}

static bool line_complete(const generation *g) {
    const char *nl = strchr(g->text, '\n');
    return (nl && nl > g->text + strspn(g->text, "\n")) || g->text_len >= sizeof g->text - 1;
}

/* Takes one token; false when generation stops (the token is kept unless it ends generation). */
static bool generation_push(generation *g, int32_t tok) {
    if (aion_token_is_eog(g->model, tok)) return false;
    g->tokens[g->n_tokens++] = tok;
    if (g->line_stop) {
        size_t n;
        const char *piece = aion_detok_push(g->detok, tok, &n);
        if (n > sizeof g->text - 1 - g->text_len) n = sizeof g->text - 1 - g->text_len;
        memcpy(g->text + g->text_len, piece, n);
        g->text_len += n;
        g->text[g->text_len] = 0;
        if (line_complete(g)) return false;
    }
    return g->n_tokens < g->max_new;
}

/* ------------------------------------------------------------------ session */

typedef struct session {
    const strat_config *cfg;
    aion_ctx *target, *draft;
    aion_threads *threads;
    int n_ctx;              /* usable by both models */
    int32_t *prompt, *all;  /* the task's prompt; scratch for its full tokenization */
    int n_prompt;
    int32_t *reference;     /* ar's tokens for the current task */
    int n_reference;
    generation gen;
    strat_result *result;
} session;

static void session_free(session *s) {
    free(s->prompt);
    free(s->all);
    free(s->reference);
    free(s->gen.tokens);
    aion_detok_free(s->gen.detok);
}

static int session_init(session *s, const strat_config *cfg, aion_ctx *target, aion_ctx *draft,
                        aion_threads *threads, strat_result *out) {
    *s = (session){.cfg = cfg, .target = target, .draft = draft, .threads = threads, .result = out};
    s->n_ctx = aion_ctx_n_ctx(target);
    if (draft && aion_ctx_n_ctx(draft) < s->n_ctx) s->n_ctx = aion_ctx_n_ctx(draft);
    /* a prompt keeps at least half of the context: the tail of a long prompt is what the
     * answer continues, and a tiny context must still hold one */
    out->max_new = cfg->max_new < s->n_ctx / 2 ? cfg->max_new : s->n_ctx / 2;
    out->chat_max_new = cfg->chat_max_new < s->n_ctx / 2 ? cfg->chat_max_new : s->n_ctx / 2;
    out->whole = cfg->whole;
    int most_new = out->max_new > out->chat_max_new ? out->max_new : out->chat_max_new;
    s->gen.model = aion_ctx_model(target);
    s->prompt = malloc((size_t)s->n_ctx * sizeof *s->prompt);
    s->reference = malloc((size_t)most_new * sizeof *s->reference);
    s->gen.tokens = malloc((size_t)most_new * sizeof *s->gen.tokens);
    return s->prompt && s->reference && s->gen.tokens ? 0 : -1;
}

/* Tokenizes text keeping at most max_tokens: the BOS and the end (the part nearest the answer). */
static int tokenize_tail(session *s, const char *text, int max_tokens) {
    const aion_model *m = aion_ctx_model(s->target);
    bool bos = aion_add_bos_default(m);
    size_t len = strlen(text);
    int n = aion_tokenize(m, text, len, bos, false, NULL, 0);
    if (n <= 0) return -1;
    int32_t *all = realloc(s->all, (size_t)n * sizeof *all);
    if (!all) return -1;
    s->all = all;
    aion_tokenize(m, text, len, bos, false, all, n);
    int keep = n < max_tokens ? n : max_tokens;
    if (keep < n && bos) {
        s->prompt[0] = all[0];
        memcpy(s->prompt + 1, all + n - (keep - 1), (size_t)(keep - 1) * sizeof *all);
    } else {
        memcpy(s->prompt, all + n - keep, (size_t)keep * sizeof *all);
    }
    return keep;
}

/* Computes the prompt but its last token into the prompt slot of one model. */
static int prime_prompt_slot(session *s, aion_ctx *c, char *err, size_t err_len) {
    int n = s->n_prompt - 1, n_batch = aion_ctx_n_batch(c);
    aion_kv_truncate(c, PROMPT_SLOT, 0);
    int32_t *pos = malloc((size_t)n_batch * sizeof *pos), *seq = malloc((size_t)n_batch * sizeof *seq);
    int8_t *want = calloc((size_t)n_batch, 1);
    int rc = pos && seq && want ? 0 : -1;
    for (int start = 0; rc == 0 && start < n; start += n_batch) {
        int m = n - start < n_batch ? n - start : n_batch;
        for (int i = 0; i < m; i++) pos[i] = start + i, seq[i] = PROMPT_SLOT;
        aion_batch b = {m, s->prompt + start, pos, seq, want};
        rc = aion_forward(c, s->threads, &b, NULL, err, err_len) < 0 ? -1 : 0;
    }
    free(pos);
    free(seq);
    free(want);
    return rc;
}

/* ------------------------------------------------------------------ one variant */

/* What the rounds of one (task, variant) cost, before it joins its tally. */
typedef struct rounds_cost {
    int n_tokens;
    double seconds;
    uint64_t target_bytes, draft_bytes;
} rounds_cost;

static decoder *variant_decoder(session *s, const strat_variant *v, aion_sampler *sampler, char *err,
                                size_t err_len) {
    decode_config dc = s->cfg->base;
    dc.strategy = v->strategy;
    dc.draft_max = v->k;
    aion_ctx *draft = v->strategy == DECODE_SPEC ? s->draft : NULL;
    return decoder_new(&dc, s->target, DECODE_SLOT, draft, DECODE_SLOT, sampler, s->threads, err, err_len);
}

/* The decoding slots get the primed prompt; the target computes its last token and the first
 * new one, which starts the generation. Returns whether generation goes on, or -1. */
static int start_variant(session *s, decoder *d, aion_ctx *draft, char *err, size_t err_len) {
    int n_cached = s->n_prompt - 1;
    aion_kv_copy(s->target, DECODE_SLOT, PROMPT_SLOT, n_cached);
    if (draft) aion_kv_copy(draft, DECODE_SLOT, PROMPT_SLOT, n_cached);
    int32_t first;
    if (decoder_prefill_cached(d, s->prompt, s->n_prompt, n_cached, &first, err, err_len) < 0) return -1;
    return generation_push(&s->gen, first);
}

/* The timed part: rounds until the generation stops. */
static int run_rounds(session *s, decoder *d, aion_ctx *draft, rounds_cost *cost, char *err, size_t err_len) {
    int32_t round[DECODE_MAX_DRAFT + 1];
    int n_before = s->gen.n_tokens, rc = 0;
    uint64_t target0 = bytes_read(s->target), draft0 = bytes_read(draft);
    double t0 = now_seconds();
    for (bool going = true; going;) {
        int n = decoder_step(d, round, err, err_len);
        if (n < 0) rc = -1;
        if (n <= 0) break; /* an error, or the context is full */
        for (int i = 0; i < n && going; i++) going = generation_push(&s->gen, round[i]);
    }
    *cost = (rounds_cost){.n_tokens = s->gen.n_tokens - n_before, .seconds = now_seconds() - t0,
                          .target_bytes = bytes_read(s->target) - target0, .draft_bytes = bytes_read(draft) - draft0};
    return rc;
}

static void tally_add(strat_tally *t, const rounds_cost *cost, const decode_stats *st) {
    t->n_tasks++;
    t->n_tokens += cost->n_tokens;
    t->decode_seconds += cost->seconds;
    t->target_bytes += cost->target_bytes;
    t->draft_bytes += cost->draft_bytes;
    t->rounds += st->rounds;
    t->draft_forwards += st->draft_forwards;
    t->drafted += st->drafted;
    t->accepted += st->accepted;
    for (int i = 0; i < DECODE_MAX_DRAFT; i++) {
        t->drafted_at[i] += st->drafted_at[i];
        t->accepted_at[i] += st->accepted_at[i];
    }
}

/* One (task, variant): greedy decoding from the primed prompt until the category's stop. */
static int decode_variant(session *s, const strat_variant *v, int max_new, bool line_stop, strat_tally *tally,
                          char *err, size_t err_len) {
    aion_ctx *draft = v->strategy == DECODE_SPEC ? s->draft : NULL;
    aion_sampler_params sp = aion_sampler_default_params();
    sp.temperature = 0;
    aion_sampler *sampler = aion_sampler_new(&sp, aion_n_vocab(aion_ctx_model(s->target)));
    if (!sampler) return snprintf(err, err_len, "out of memory"), -1;
    /* Greedy decoding repeats itself token for token: repetitions differ only in time, and the
     * fastest is the one least disturbed by the rest of the machine. */
    rounds_cost best = {0};
    decode_stats stats = {0};
    int rc = 0;
    for (int r = 0; r < (s->cfg->repeat > 1 ? s->cfg->repeat : 1) && rc == 0; r++) {
        decoder *d = variant_decoder(s, v, sampler, err, err_len);
        generation_reset(&s->gen, max_new, line_stop);
        int going = d ? start_variant(s, d, draft, err, err_len) : -1;
        rounds_cost cost = {0};
        rc = going < 0 ? -1 : going ? run_rounds(s, d, draft, &cost, err, err_len) : 0;
        if (rc == 0 && (r == 0 || cost.seconds < best.seconds)) {
            best = cost;
            stats = *decoder_stats(d);
        }
        decoder_free(d);
    }
    if (rc == 0) tally_add(tally, &best, &stats);
    aion_sampler_free(sampler);
    return rc;
}

/* ------------------------------------------------------------------ losslessness */

static void keep_reference(session *s) {
    memcpy(s->reference, s->gen.tokens, (size_t)s->gen.n_tokens * sizeof *s->reference);
    s->n_reference = s->gen.n_tokens;
}

/* Compares the last generation with ar's; records the first difference of the run. */
static void check_against_reference(session *s, const task *t, const strat_variant *v, strat_tally *tally) {
    int n = s->gen.n_tokens < s->n_reference ? s->gen.n_tokens : s->n_reference, at = 0;
    while (at < n && s->gen.tokens[at] == s->reference[at]) at++;
    if (at == n && s->gen.n_tokens == s->n_reference) return;
    tally->n_mismatched++;
    if (s->result->n_mismatches++ > 0) return;
    char label[64];
    snprintf(s->result->first_mismatch, sizeof s->result->first_mismatch,
             "task %s, %s: token %d is %d where ar made %d (%d tokens vs ar's %d)", t->id,
             strat_variant_label(v, label, sizeof label), at, at < s->gen.n_tokens ? s->gen.tokens[at] : -1,
             at < s->n_reference ? s->reference[at] : -1, s->gen.n_tokens, s->n_reference);
}

/* ------------------------------------------------------------------ the run */

static int run_task(session *s, int category, const task *t, char *err, size_t err_len) {
    bool chat = !task_is_exact(t);
    int max_new = chat ? s->result->chat_max_new : s->result->max_new;
    s->n_prompt = tokenize_tail(s, t->prompt, s->n_ctx - max_new - 1);
    if (s->n_prompt < 1) {
        snprintf(err, err_len, "task %s: cannot tokenize the prompt", t->id);
        return -1;
    }
    if (prime_prompt_slot(s, s->target, err, err_len) < 0) return -1;
    if (s->draft && prime_prompt_slot(s, s->draft, err, err_len) < 0) return -1;
    for (int v = 0; v < s->result->n_variants; v++) {
        const strat_variant *var = &s->result->variants[v];
        strat_tally *tally = &s->result->tally[category][v];
        if (decode_variant(s, var, max_new, !chat && !s->cfg->whole, tally, err, err_len) < 0) return -1;
        if (v == 0) keep_reference(s);
        else check_against_reference(s, t, var, tally);
    }
    return 0;
}

static int run_category(session *s, int category, char *err, size_t err_len) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.jsonl", s->cfg->tasks_dir, CATEGORY_NAMES[category]);
    task_set ts;
    if (task_set_load(&ts, path, s->cfg->limit, err, err_len) < 0) return -1;
    int rc = 0;
    for (int i = 0; i < ts.n_tasks && rc == 0; i++) {
        rc = run_task(s, category, &ts.tasks[i], err, err_len);
        if (s->cfg->progress) s->cfg->progress(s->cfg->progress_user, CATEGORY_NAMES[category], i + 1, ts.n_tasks);
    }
    task_set_free(&ts);
    return rc;
}

int strat_run(const strat_config *cfg, aion_ctx *target, aion_ctx *draft, aion_threads *threads, strat_result *out,
              char *err, size_t err_len) {
    memset(out, 0, sizeof *out);
    if (aion_ctx_n_seq(target) <= PROMPT_SLOT || (draft && aion_ctx_n_seq(draft) <= PROMPT_SLOT)) {
        snprintf(err, err_len, "the strategy bench needs contexts of at least %d sequences", PROMPT_SLOT + 1);
        return -1;
    }
    out->n_variants = strat_variants_for(&cfg->base, draft != NULL, out->variants);
    session s;
    int rc = session_init(&s, cfg, target, draft, threads, out);
    if (rc < 0) snprintf(err, err_len, "out of memory");
    for (int c = 0; c < STRAT_N_CATEGORIES && rc == 0; c++) rc = run_category(&s, c, err, err_len);
    session_free(&s);
    return rc;
}

/* ------------------------------------------------------------------ figures */

static double ratio(double num, double den) { return den > 0 ? num / den : 0; }

strat_figures strat_figures_of(const strat_result *r, int category, int variant) {
    const strat_tally *t = &r->tally[category][variant], *ar = &r->tally[category][0];
    strat_figures f;
    f.tokens_per_second = ratio(t->n_tokens, t->decode_seconds);
    f.speedup = ratio(f.tokens_per_second, ratio(ar->n_tokens, ar->decode_seconds));
    f.acceptance = ratio(t->accepted, t->drafted);
    f.tokens_per_round = ratio(t->n_tokens, t->rounds);
    f.target_mb_per_token = ratio((double)t->target_bytes / 1e6, t->n_tokens);
    f.draft_mb_per_token = ratio((double)t->draft_bytes / 1e6, t->n_tokens);
    return f;
}
