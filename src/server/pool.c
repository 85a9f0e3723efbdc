/*
 * pool.c - the models a server holds, their names and chat formats, and routing.
 *
 * Names are the models' general.name (the file name when absent), reduced to
 * [A-Za-z0-9._-] so they are safe in URLs and Prometheus labels, and made
 * unique. A model's chat format is its tokenizer.chat_template when
 * chat.c recognises it; otherwise ChatML when the vocabulary has ChatML's
 * tokens, otherwise the plain fallback documented in pool_chat_prompt.
 *
 * route_auto is where the orchestrator plugs in: it is the only place that
 * decides which model serves "model": "auto".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "orch/router.h"
#include "server/server_impl.h"

static char *safe_name(const char *name, const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *src = name && name[0] ? name : base;
    size_t n = strlen(src);
    if (!name || !name[0]) {
        const char *dot = strrchr(src, '.');
        if (dot && strcmp(dot, ".gguf") == 0) n = (size_t)(dot - src);
    }
    if (n > 96) n = 96;
    char *out = malloc(n + 24); /* room for "model" and a "-N" suffix */
    if (!out) return NULL;
    for (size_t i = 0; i < n; i++) {
        char c = src[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
                  c == '_';
        out[i] = ok ? c : '_';
    }
    out[n] = 0;
    if (n == 0) strcpy(out, "model");
    return out;
}

/* The chat format a model file declares: -1 when it declares none (the plain fallback serves),
 * -2 when it declares one A-IO does not recognise (an error, unless --chat-template names one). */
static int file_chat_template(const char *path, const aion_model *m) {
    char err[256];
    gguf_file *f = gguf_open(path, err, sizeof err);
    int t = -1;
    if (f) {
        size_t len = 0;
        const char *text = gguf_get_str(f, "tokenizer.chat_template", &len);
        if (text && len) t = chat_template_detect(text, len);
        if (text && len && t < 0) t = -2;
        gguf_close(f);
    }
    if (t == -2) return t;
    if (t < 0 && aion_token_find(m, "<|im_start|>") >= 0 && aion_token_find(m, "<|im_end|>") >= 0)
        t = CHAT_TMPL_CHATML;
    return t;
}

static bool load_one(aion_server *s, pool_model *pm, const char *path, char *err, size_t err_len) {
    pm->model = aion_model_load(path, err, err_len);
    if (!pm->model) return false;
    aion_model_info info;
    aion_model_get_info(pm->model, &info);
    pm->path = strdup(path);
    pm->name = safe_name(info.name, path);
    pm->weight_bytes = info.weight_bytes;
    pm->chat_template = s->cfg.chat_template ? chat_template_from_name(s->cfg.chat_template)
                                              : file_chat_template(path, pm->model);
    if (!pm->path || !pm->name) {
        snprintf(err, err_len, "out of memory");
        return false;
    }
    if (pm->chat_template == -2 || (s->cfg.chat_template && pm->chat_template < 0)) {
        snprintf(err, err_len, "%s: %s chat template%s%s; name one with --chat-template (chatml, llama3, llama2, "
                 "mistral, zephyr)", path, s->cfg.chat_template ? "unknown" : "the model's", 
                 s->cfg.chat_template ? " " : " is not one A-IO knows", s->cfg.chat_template ? s->cfg.chat_template : "");
        return false;
    }
    for (pool_model *other = s->models; other < pm; other++) /* two files of one name: number them */
        if (strcmp(other->name, pm->name) == 0) snprintf(pm->name + strlen(pm->name), 12, "-%d", (int)(pm - s->models) % 1000 + 1);
    return true;
}

/* The orchestrator's router, when the pool can probe: a policy file beside the first model
 * (policy.json) naming pool members, and a probe model trained with category labels.
 * Without one, "auto" falls back to the largest model. */
static void start_router(aion_server *s) {
    if (s->n_models < 2) return;
    char policy[4200], why[512];
    snprintf(policy, sizeof policy, "%.4000s", s->models[0].path);
    char *slash = strrchr(policy, '/');
    snprintf(slash ? slash + 1 : policy, 32, "policy.json");
    const aion_model *models[16];
    const char *names[16];
    int n = s->n_models < 16 ? s->n_models : 16;
    for (int i = 0; i < n; i++) {
        models[i] = s->models[i].model;
        names[i] = s->models[i].name;
    }
    s->router = orch_router_new(models, names, n, policy, why, sizeof why);
    if (!s->router) fprintf(stderr, "aio serve: no routing (%s): \"auto\" is the largest model\n", why);
}

int pool_load(aion_server *s, char *err, size_t err_len) {
    int n = s->cfg.n_models;
    s->models = calloc((size_t)(n > 0 ? n : 1), sizeof *s->models);
    if (!s->models) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    s->n_models = 0;
    for (int i = 0; i < n; i++) {
        if (!load_one(s, &s->models[i], s->cfg.model_paths[i], err, err_len)) {
            s->n_models = i + 1; /* so pool_free releases the partial entry too */
            return -1;
        }
        s->n_models = i + 1;
    }
    if (s->n_models == 0) {
        snprintf(err, err_len, "no models to serve");
        return -1;
    }
    start_router(s);
    return 0;
}

void pool_free(aion_server *s) {
    orch_router_free(s->router);
    s->router = NULL;
    for (int i = 0; s->models && i < s->n_models; i++) {
        sched_free(s->models[i].sched);
        aion_model_free(s->models[i].model);
        free(s->models[i].name);
        free(s->models[i].path);
    }
    free(s->models);
    s->models = NULL;
    s->n_models = 0;
}

int pool_find(const aion_server *s, const char *name) {
    for (int i = 0; i < s->n_models; i++)
        if (strcmp(s->models[i].name, name) == 0) return i;
    return -1;
}

/*
 * route_auto - THE ROUTING HOOK: which model serves a request for "model": "auto".
 *
 * With a router (probe + policy, see start_router): the policy's model for the
 * probed category. Otherwise, or when the text is missing or the probe fails:
 * the largest model (most weight bytes), the safe choice for quality. Every call
 * is counted in /metrics as a route decision for the model it returns.
 */
int route_auto(const aion_server *s, const route_query *q, char *category, size_t category_len) {
    route_decision d;
    char err[256];
    snprintf(category, category_len, "none");
    if (s->router && q->text && orch_router_route(s->router, q->text, q->len, &d, err, sizeof err) == 0) {
        snprintf(category, category_len, "%s", d.category);
        int m = pool_find(s, d.model);
        if (m >= 0) return m;
    }
    int best = 0;
    for (int i = 1; i < s->n_models; i++)
        if (s->models[i].weight_bytes > s->models[best].weight_bytes) best = i;
    return best;
}

/*
 * The plain fallback, for models without a chat format of their own:
 *
 *     SYSTEM TEXT\n\n                  (a system message, as is)
 *     User: TEXT\n\n                   (role names capitalised)
 *     Assistant: TEXT\n\n
 *     Assistant:                       (the generation prompt)
 *
 * and "\nUser:" as an implicit stop, so the model's answer ends where it
 * would start writing the user's next turn.
 */
static char *plain_chat(const chat_msg *msgs, int n) {
    sbuf b = {0};
    for (int i = 0; i < n; i++) {
        const char *role = msgs[i].role;
        if (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0) {
            sbuf_printf(&b, "%s\n\n", msgs[i].content);
            continue;
        }
        char cap = role[0] >= 'a' && role[0] <= 'z' ? (char)(role[0] - 'a' + 'A') : role[0];
        sbuf_printf(&b, "%c%s: %s\n\n", cap, role + 1, msgs[i].content);
    }
    sbuf_puts(&b, "Assistant:");
    return sbuf_take(&b);
}

char *pool_chat_prompt(const pool_model *pm, const chat_msg *msgs, int n, bool *parse_special,
                       const char **implicit_stop, char *err, size_t err_len) {
    if (implicit_stop) *implicit_stop = NULL;
    if (pm->chat_template < 0) {
        *parse_special = false;
        if (implicit_stop) *implicit_stop = "\nUser:";
        char *p = plain_chat(msgs, n);
        if (!p) snprintf(err, err_len, "out of memory");
        return p;
    }
    *parse_special = true; /* the template's own markers are special tokens */
    return chat_apply(pm->chat_template, msgs, n, true, err, err_len);
}
