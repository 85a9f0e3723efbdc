/*
 * tasks.h - the evaluation task sets (bench/tasks/CATEGORY.jsonl) and how answers are scored.
 *
 * One JSON object per line: {"id", "category", "prompt", "answer"}. Scoring is
 * exact match after the normalisation its category calls for: math and qa
 * compare the first generated line trimmed; code compares the next line with
 * trailing whitespace dropped (indentation matters); chat has no exact answer
 * (it is scored by the likelihood of the reference continuation instead).
 */
#ifndef AION_TASKS_H
#define AION_TASKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aion.h"

typedef struct task {
    char *id, *category, *prompt, *answer;
} task;

typedef struct task_set {
    task *tasks;
    int n_tasks;
} task_set;

/* Loads up to limit tasks (<= 0: all) from a .jsonl file. Returns 0, or -1 with err. */
int task_set_load(task_set *ts, const char *path, int limit, char *err, size_t err_len);
void task_set_free(task_set *ts);

/* True when the category has an exact answer to compare against. */
bool task_is_exact(const task *t);
/* Scores generated text (the model's continuation of the prompt). */
bool task_answer_matches(const task *t, const char *generated);

/* Collects generated text for scoring (a decode_token_fn): stops after the first complete line
 * (past leading newlines) when stop_at_line, or when the buffer is full. */
typedef struct answer_sink {
    aion_detok *detok;
    bool stop_at_line;
    size_t len;
    char text[1024];
} answer_sink;

void answer_sink_init(answer_sink *s, const aion_model *m, bool stop_at_line);
void answer_sink_free(answer_sink *s);
bool answer_sink_push(void *user, int32_t token);

#endif
