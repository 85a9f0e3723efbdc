/*
 * chat.c - renders conversations in the chat formats of the common model families.
 *
 * Each family's renderer writes what the family's own Jinja template writes
 * (as Hugging Face renders it) for plain text messages, including its quirks:
 * llama3 and llama2 strip the content's surrounding whitespace, llama2 folds
 * the system prompt into the first user turn inside <<SYS>>, mistral puts it
 * before the first user message, and the [INST] families open the assistant's
 * turn implicitly (nothing is added for add_generation_prompt). Recognition
 * looks for the markers that only one family's template contains, checked
 * from the most specific to the least.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat.h"
#include "util.h"

static const char *const TEMPLATE_NAMES[CHAT_TMPL_COUNT] = {"chatml", "llama3", "llama2", "mistral", "zephyr"};

static bool contains(const char *text, size_t len, const char *needle) {
    size_t n = strlen(needle);
    for (size_t i = 0; n <= len && i <= len - n; i++)
        if (text[i] == needle[0] && memcmp(text + i, needle, n) == 0) return true;
    return false;
}

int chat_template_detect(const char *text, size_t len) {
    if (!text) return -1;
    /* llama2 before mistral: both have [INST], only llama2 has <<SYS>>. */
    static const struct {
        const char *marker;
        int tmpl;
    } markers[] = {{"<|im_start|>", CHAT_TMPL_CHATML},
                   {"<|start_header_id|>", CHAT_TMPL_LLAMA3},
                   {"<<SYS>>", CHAT_TMPL_LLAMA2},
                   {"[INST]", CHAT_TMPL_MISTRAL},
                   {"<|user|>", CHAT_TMPL_ZEPHYR}};
    for (size_t i = 0; i < sizeof markers / sizeof *markers; i++)
        if (contains(text, len, markers[i].marker)) return markers[i].tmpl;
    return -1;
}

const char *chat_template_name(int tmpl) { return tmpl >= 0 && tmpl < CHAT_TMPL_COUNT ? TEMPLATE_NAMES[tmpl] : NULL; }

int chat_template_from_name(const char *name) {
    for (int i = 0; name && i < CHAT_TMPL_COUNT; i++)
        if (strcmp(name, TEMPLATE_NAMES[i]) == 0) return i;
    return -1;
}

int chat_template_resolve(const char *override_name, const char *text, size_t len, char *err, size_t err_len) {
    if (override_name && override_name[0]) {
        int t = chat_template_from_name(override_name);
        if (t < 0)
            set_err(err, err_len, "unknown chat template '%.64s' (chatml, llama3, llama2, mistral, zephyr)",
                    override_name);
        return t;
    }
    if (!text || !len) {
        set_err(err, err_len, "the model has no chat template; name one (chatml, llama3, llama2, mistral, zephyr)");
        return -1;
    }
    int t = chat_template_detect(text, len);
    if (t < 0) {
        char head[41];
        size_t n = len < 40 ? len : 40;
        for (size_t i = 0; i < n; i++)
            head[i] = text[i] >= 0x20 && text[i] < 0x7f ? text[i] : ' ';
        head[n] = 0;
        set_err(err, err_len,
                "unrecognised chat template (starting '%s'); name one (chatml, llama3, llama2, mistral, zephyr)", head);
    }
    return t;
}

/* ---------------------------------------------------------------- output buffer */

typedef struct strbuf {
    char *s;
    size_t len, cap;
    bool oom;
} strbuf;

static void put_n(strbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *p = realloc(b->s, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

static void put(strbuf *b, const char *s) { put_n(b, s, strlen(s)); }

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

/* Jinja's trim / Python's strip (ASCII whitespace). */
static void put_stripped(strbuf *b, const char *s) {
    size_t n = strlen(s);
    while (n && is_space(*s))
        s++, n--;
    while (n && is_space(s[n - 1]))
        n--;
    put_n(b, s, n);
}

static bool role_is(const chat_msg *m, const char *role) { return strcmp(m->role, role) == 0; }

/* ---------------------------------------------------------------- families */

static void render_chatml(strbuf *b, const chat_msg *msgs, int n, bool gen) {
    for (int i = 0; i < n; i++) {
        put(b, "<|im_start|>");
        put(b, msgs[i].role);
        put(b, "\n");
        put(b, msgs[i].content);
        put(b, "<|im_end|>\n");
    }
    if (gen) put(b, "<|im_start|>assistant\n");
}

static void render_llama3(strbuf *b, const chat_msg *msgs, int n, bool gen) {
    for (int i = 0; i < n; i++) {
        put(b, "<|start_header_id|>");
        put(b, msgs[i].role);
        put(b, "<|end_header_id|>\n\n");
        put_stripped(b, msgs[i].content);
        put(b, "<|eot_id|>");
    }
    if (gen) put(b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

static void render_zephyr(strbuf *b, const chat_msg *msgs, int n, bool gen) {
    for (int i = 0; i < n; i++) {
        put(b, "<|");
        put(b, msgs[i].role);
        put(b, "|>\n");
        put(b, msgs[i].content);
        put(b, "</s>\n");
    }
    if (gen) put(b, "<|assistant|>\n");
}

/* [INST] families: system, user and assistant only. */
static bool check_inst_roles(const chat_msg *msgs, int n, int tmpl, char *err, size_t err_len) {
    for (int i = 0; i < n; i++)
        if (!role_is(&msgs[i], "system") && !role_is(&msgs[i], "user") && !role_is(&msgs[i], "assistant")) {
            set_err(err, err_len, "chat template %s has no role '%.32s' (system, user, assistant)",
                    TEMPLATE_NAMES[tmpl], msgs[i].role);
            return false;
        }
    return true;
}

/* The first turn's BOS is the tokenizer's; later turns open with "<s>" in the text. */
static void render_llama2(strbuf *b, const chat_msg *msgs, int n) {
    const char *system = NULL;
    bool first_turn = true;
    for (int i = 0; i < n; i++) {
        if (role_is(&msgs[i], "system")) {
            system = msgs[i].content;
            continue;
        }
        if (role_is(&msgs[i], "assistant")) {
            put(b, " ");
            put_stripped(b, msgs[i].content);
            put(b, " </s>");
            continue;
        }
        if (!first_turn) put(b, "<s>");
        put(b, "[INST] ");
        /* The template strips the system block and the message as one string. */
        strbuf turn = {0};
        if (system) {
            put(&turn, "<<SYS>>\n");
            put(&turn, system);
            put(&turn, "\n<</SYS>>\n\n");
            system = NULL;
        }
        put(&turn, msgs[i].content);
        if (turn.oom)
            b->oom = true;
        else
            put_stripped(b, turn.s ? turn.s : "");
        free(turn.s);
        put(b, " [/INST]");
        first_turn = false;
    }
}

static void render_mistral(strbuf *b, const chat_msg *msgs, int n) {
    const char *system = NULL;
    for (int i = 0; i < n; i++) {
        if (role_is(&msgs[i], "system")) {
            system = msgs[i].content;
        } else if (role_is(&msgs[i], "assistant")) {
            put(b, msgs[i].content);
            put(b, "</s>");
        } else {
            put(b, "[INST] ");
            if (system) {
                put(b, system);
                put(b, "\n\n");
                system = NULL;
            }
            put(b, msgs[i].content);
            put(b, " [/INST]");
        }
    }
}

char *chat_apply(int tmpl, const chat_msg *msgs, int n, bool gen, char *err, size_t err_len) {
    if (tmpl < 0 || tmpl >= CHAT_TMPL_COUNT) {
        set_err(err, err_len, "unknown chat template %d", tmpl);
        return NULL;
    }
    for (int i = 0; i < n; i++)
        if (!msgs[i].role || !msgs[i].content) {
            set_err(err, err_len, "message %d has no role or no content", i);
            return NULL;
        }
    if ((tmpl == CHAT_TMPL_LLAMA2 || tmpl == CHAT_TMPL_MISTRAL) && !check_inst_roles(msgs, n, tmpl, err, err_len))
        return NULL;
    strbuf b = {0};
    put(&b, ""); /* an empty conversation still gives a string */
    switch (tmpl) {
    case CHAT_TMPL_CHATML: render_chatml(&b, msgs, n, gen); break;
    case CHAT_TMPL_LLAMA3: render_llama3(&b, msgs, n, gen); break;
    case CHAT_TMPL_LLAMA2: render_llama2(&b, msgs, n); break;
    case CHAT_TMPL_MISTRAL: render_mistral(&b, msgs, n); break;
    default: render_zephyr(&b, msgs, n, gen); break;
    }
    if (b.oom) {
        free(b.s);
        set_err(err, err_len, "out of memory rendering the chat");
        return NULL;
    }
    return b.s;
}
