/*
 * policy.c - loading and applying the routing policy (see policy.h).
 */
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "orch/probe.h"
#include "policy.h"

typedef struct parse_ctx {
    const char *source;
    const char *const *models;
    int n_models;
    char *err;
    size_t err_len;
} parse_ctx;

static int fail(parse_ctx *pc, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(pc->err, pc->err_len, "%s: %s", pc->source, msg);
    return -1;
}

static int get_number(parse_ctx *pc, const cJSON *obj, const char *key, double lo, double hi, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) return 0; /* keep the default */
    if (!cJSON_IsNumber(v) || v->valuedouble < lo || v->valuedouble > hi)
        return fail(pc, "\"%s\" must be a number in [%g, %g]", key, lo, hi);
    *out = v->valuedouble;
    return 0;
}

/* A model field: a string naming a pool member, copied into out (64 bytes). */
static int get_model(parse_ctx *pc, const cJSON *obj, const char *where, char *out) {
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(obj, "model");
    if (!cJSON_IsString(model)) return fail(pc, "%s.model must be a string", where);
    bool known = false;
    for (int i = 0; i < pc->n_models; i++) known = known || strcmp(pc->models[i], model->valuestring) == 0;
    if (!known) return fail(pc, "%s.model: unknown model '%s' (not in the pool)", where, model->valuestring);
    snprintf(out, 64, "%s", model->valuestring);
    return 0;
}

static int parse_route(parse_ctx *pc, const cJSON *obj, const char *where, policy_route *r) {
    if (!cJSON_IsObject(obj)) return fail(pc, "%s must be an object {\"model\", \"strategies\"}", where);
    if (get_model(pc, obj, where, r->model) < 0) return -1;
    r->strategies = 1u << DECODE_AR;
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(obj, "strategies"), *s;
    if (list && !cJSON_IsArray(list)) return fail(pc, "%s.strategies must be an array of names", where);
    cJSON_ArrayForEach(s, list) {
        int id = cJSON_IsString(s) ? decode_strategy_from_name(s->valuestring) : -1;
        if (id < 0)
            return fail(pc, "%s.strategies: unknown strategy '%s' (ar, lookup, spec)", where,
                        cJSON_IsString(s) ? s->valuestring : "?");
        r->strategies |= 1u << id;
    }
    return 0;
}

static int parse_prior(parse_ctx *pc, const cJSON *arr, const char *where, accept_profile *a) {
    if (!arr) return 0;
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) < 1 || cJSON_GetArraySize(arr) > DECODE_MAX_DRAFT)
        return fail(pc, "%s must be an array of 1..%d probabilities", where, DECODE_MAX_DRAFT);
    memset(a, 0, sizeof *a);
    const cJSON *v;
    cJSON_ArrayForEach(v, arr) {
        if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1 ||
            (a->n_positions && v->valuedouble > a->prefix[a->n_positions - 1]))
            return fail(pc, "%s: prefix acceptance probabilities in [0, 1], non-increasing", where);
        a->prefix[a->n_positions++] = v->valuedouble;
    }
    a->draft_rate = 1;
    return 0;
}

static int parse_categories(parse_ctx *pc, const cJSON *routes, policy *p) {
    if (!cJSON_IsObject(routes)) return fail(pc, "\"routes\" must be an object category -> route");
    const cJSON *r;
    cJSON_ArrayForEach(r, routes) {
        if (p->n_categories == POLICY_MAX_CATEGORIES) return fail(pc, "too many categories");
        int c = p->n_categories++;
        snprintf(p->categories[c], sizeof p->categories[c], "%s", r->string);
        char where[80];
        snprintf(where, sizeof where, "routes.%s", r->string);
        if (parse_route(pc, r, where, &p->routes[c]) < 0) return -1;
    }
    return p->n_categories >= 2 ? 0 : fail(pc, "\"routes\" needs at least two categories");
}

static int parse_priors(parse_ctx *pc, const cJSON *priors, policy *p) {
    if (!priors) return 0;
    if (!cJSON_IsObject(priors)) return fail(pc, "\"priors\" must be an object category -> {lookup, spec}");
    const cJSON *e;
    cJSON_ArrayForEach(e, priors) {
        int c = policy_category_index(p, e->string);
        if (c < 0) return fail(pc, "priors: unknown category '%s'", e->string);
        char where[80];
        snprintf(where, sizeof where, "priors.%s.lookup", e->string);
        if (parse_prior(pc, cJSON_GetObjectItemCaseSensitive(e, "lookup"), where, &p->lookup_prior[c]) < 0) return -1;
        snprintf(where, sizeof where, "priors.%s.spec", e->string);
        if (parse_prior(pc, cJSON_GetObjectItemCaseSensitive(e, "spec"), where, &p->spec_prior[c]) < 0) return -1;
    }
    return 0;
}

static int parse_root(parse_ctx *pc, const cJSON *root, policy *p) {
    const cJSON *probe_obj = cJSON_GetObjectItemCaseSensitive(root, "probe");
    if (!cJSON_IsObject(probe_obj)) return fail(pc, "\"probe\" must be an object {\"model\", \"format\", \"window\"}");
    if (get_model(pc, probe_obj, "probe", p->probe_model) < 0) return -1;
    const cJSON *pf = cJSON_GetObjectItemCaseSensitive(probe_obj, "format");
    if (pf && (!cJSON_IsString(pf) || (strcmp(pf->valuestring, "suffix") && strcmp(pf->valuestring, "prefix"))))
        return fail(pc, "probe.format must be \"suffix\" or \"prefix\"");
    p->probe_format = pf && strcmp(pf->valuestring, "prefix") == 0 ? PROBE_PREFIX : PROBE_SUFFIX;
    double v = p->probe_window;
    if (get_number(pc, probe_obj, "window", 0, 1 << 16, &v) < 0) return -1;
    p->probe_window = (int)v;
    v = p->min_confidence;
    if (get_number(pc, root, "min_confidence", 0, 1, &v) < 0) return -1;
    p->min_confidence = (float)v;
    v = p->long_prompt_tokens;
    if (get_number(pc, root, "long_prompt_tokens", 1, 1 << 20, &v) < 0) return -1;
    p->long_prompt_tokens = (int)v;
    v = p->revisit_rounds;
    if (get_number(pc, root, "revisit_rounds", 1, 1 << 20, &v) < 0) return -1;
    p->revisit_rounds = (int)v;
    v = p->hysteresis;
    if (get_number(pc, root, "hysteresis", 0, 10, &v) < 0) return -1;
    p->hysteresis = (float)v;
    if (parse_categories(pc, cJSON_GetObjectItemCaseSensitive(root, "routes"), p) < 0) return -1;
    if (parse_route(pc, cJSON_GetObjectItemCaseSensitive(root, "fallback"), "fallback", &p->fallback) < 0) return -1;
    return parse_priors(pc, cJSON_GetObjectItemCaseSensitive(root, "priors"), p);
}

int policy_parse(policy *p, const char *json_text, const char *source_name, const char *const *model_names,
                 int n_models, char *err, size_t err_len) {
    memset(p, 0, sizeof *p);
    p->min_confidence = 0.6f;
    p->long_prompt_tokens = 384;
    p->revisit_rounds = 8;
    p->hysteresis = 0.1f;
    parse_ctx pc = {source_name, model_names, n_models, err, err_len};
    cJSON *root = cJSON_Parse(json_text);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return fail(&pc, "not a JSON object");
    }
    int rc = parse_root(&pc, root, p);
    cJSON_Delete(root);
    return rc;
}

int policy_load(policy *p, const char *path, const char *const *model_names, int n_models, char *err, size_t err_len) {
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    long len = -1;
    if (f && fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && len < (1 << 20) && fseek(f, 0, SEEK_SET) == 0 &&
        (text = malloc((size_t)len + 1)) && fread(text, 1, (size_t)len, f) == (size_t)len)
        text[len] = 0;
    else {
        free(text);
        text = NULL;
    }
    if (f) fclose(f);
    if (!text) {
        snprintf(err, err_len, "%s: cannot read the policy file (missing, unreadable or over 1 MiB)", path);
        return -1;
    }
    int rc = policy_parse(p, text, path, model_names, n_models, err, err_len);
    free(text);
    return rc;
}

int policy_category_index(const policy *p, const char *name) {
    for (int i = 0; i < p->n_categories; i++)
        if (strcmp(p->categories[i], name) == 0) return i;
    return -1;
}

const policy_route *policy_decide(const policy *p, int category, float confidence, int prompt_tokens,
                                  const char **reason) {
    if (prompt_tokens > p->long_prompt_tokens) return *reason = "long prompt", &p->fallback;
    if (category < 0 || category >= p->n_categories) return *reason = "no category", &p->fallback;
    if (confidence < p->min_confidence) return *reason = "low confidence", &p->fallback;
    *reason = "category";
    return &p->routes[category];
}

int policy_probe_window(const policy *p, int prompt_tokens) {
    return prompt_tokens > p->long_prompt_tokens ? p->probe_window : 0;
}
