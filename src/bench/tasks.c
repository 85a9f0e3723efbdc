/*
 * tasks.c - loading task files and scoring answers (see tasks.h).
 */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tasks.h"

static char *dup_field(const cJSON *obj, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsString(v) ? strdup(v->valuestring) : NULL;
}

static int add_line(task_set *ts, int *cap, const char *line, const char *path, int line_no, char *err,
                    size_t err_len) {
    cJSON *obj = cJSON_Parse(line);
    if (!obj) {
        snprintf(err, err_len, "%s:%d: not a JSON object", path, line_no);
        return -1;
    }
    task t = {dup_field(obj, "id"), dup_field(obj, "category"), dup_field(obj, "prompt"), dup_field(obj, "answer")};
    cJSON_Delete(obj);
    if (!t.id || !t.category || !t.prompt || !t.answer) {
        free(t.id), free(t.category), free(t.prompt), free(t.answer);
        snprintf(err, err_len, "%s:%d: a task needs string fields id, category, prompt, answer", path, line_no);
        return -1;
    }
    if (ts->n_tasks == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        task *grown = realloc(ts->tasks, (size_t)*cap * sizeof *grown);
        if (!grown) {
            free(t.id), free(t.category), free(t.prompt), free(t.answer);
            snprintf(err, err_len, "out of memory");
            return -1;
        }
        ts->tasks = grown;
    }
    ts->tasks[ts->n_tasks++] = t;
    return 0;
}

int task_set_load(task_set *ts, const char *path, int limit, char *err, size_t err_len) {
    memset(ts, 0, sizeof *ts);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, err_len, "%s: %s", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t line_cap = 0;
    int cap = 0, line_no = 0, rc = 0;
    while ((limit <= 0 || ts->n_tasks < limit) && getline(&line, &line_cap, f) > 0) {
        line_no++;
        if (line[strspn(line, " \t\r\n")] == 0) continue;
        if ((rc = add_line(ts, &cap, line, path, line_no, err, err_len)) < 0) break;
    }
    free(line);
    fclose(f);
    if (rc < 0) task_set_free(ts);
    return rc;
}

void task_set_free(task_set *ts) {
    for (int i = 0; i < ts->n_tasks; i++) {
        free(ts->tasks[i].id);
        free(ts->tasks[i].category);
        free(ts->tasks[i].prompt);
        free(ts->tasks[i].answer);
    }
    free(ts->tasks);
    memset(ts, 0, sizeof *ts);
}

bool task_is_exact(const task *t) { return strcmp(t->category, "chat") != 0; }

/* [*start, *end) of the first line of s, trimmed at the end and, if trim_start, at the start. */
static void first_line(const char *s, bool trim_start, const char **start, const char **end) {
    const char *b = s, *e = strchr(s, '\n');
    if (!e) e = s + strlen(s);
    if (trim_start)
        while (b < e && isspace((unsigned char)*b)) b++;
    while (e > b && isspace((unsigned char)e[-1])) e--;
    *start = b;
    *end = e;
}

bool task_answer_matches(const task *t, const char *generated) {
    if (!task_is_exact(t)) return false;
    bool is_code = strcmp(t->category, "code") == 0;
    const char *gb, *ge, *ab, *ae;
    first_line(generated, !is_code, &gb, &ge);
    first_line(t->answer, !is_code, &ab, &ae);
    return ge - gb == ae - ab && memcmp(gb, ab, (size_t)(ge - gb)) == 0;
}

void answer_sink_init(answer_sink *s, const aion_model *m, bool stop_at_line) {
    s->detok = aion_detok_new(m);
    s->stop_at_line = stop_at_line;
    s->len = 0;
    s->text[0] = 0;
}

void answer_sink_free(answer_sink *s) {
    aion_detok_free(s->detok);
    s->detok = NULL;
}

bool answer_sink_push(void *user, int32_t token) {
    answer_sink *s = user;
    size_t n = 0;
    const char *piece = s->detok ? aion_detok_push(s->detok, token, &n) : NULL;
    if (n > sizeof s->text - 1 - s->len) n = sizeof s->text - 1 - s->len;
    if (piece) memcpy(s->text + s->len, piece, n);
    s->len += n;
    s->text[s->len] = 0;
    if (s->len >= sizeof s->text - 1) return false;
    if (!s->stop_at_line) return true;
    const char *nl = strchr(s->text + strspn(s->text, "\n"), '\n');
    return nl == NULL;
}
