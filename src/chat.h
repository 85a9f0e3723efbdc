/*
 * chat.h - a conversation as the prompt text a chat model was trained on.
 *
 * Models ship their chat format as a Jinja template (tokenizer.chat_template).
 * Rather than run Jinja, A-IO recognises the template of the common families
 * by distinctive substrings and renders that family's format in C:
 *
 *   chatml   Qwen and many others   <|im_start|>role\ncontent<|im_end|>\n
 *   llama3   Llama 3.x              <|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>
 *   llama2   Llama 2 chat           [INST] <<SYS>>\nsystem\n<</SYS>>\n\nuser [/INST] answer </s><s>[INST] ...
 *   mistral  Mistral Instruct       [INST] user [/INST]answer</s>[INST] ...
 *   zephyr   Zephyr                 <|user|>\ncontent</s>\n
 *
 * A name given by the user overrides recognition; an unrecognised template
 * is an error, never a guess. The text never starts with the BOS token: the
 * tokenizer adds it (add_bos), so the prompt must be tokenized with add_bos as
 * the model wants and with special tokens parsed (parse_special) - llama2's
 * later turns carry "<s>" as text.
 */
#ifndef AION_CHAT_H
#define AION_CHAT_H

#include <stdbool.h>
#include <stddef.h>

enum chat_template {
    CHAT_TMPL_CHATML,
    CHAT_TMPL_LLAMA3,
    CHAT_TMPL_LLAMA2,
    CHAT_TMPL_MISTRAL,
    CHAT_TMPL_ZEPHYR,
    CHAT_TMPL_COUNT
};

typedef struct chat_msg {
    const char *role; /* "system", "user", "assistant" (chatml, llama3, zephyr: any role) */
    const char *content;
} chat_msg;

/* The family of a Jinja template text (not necessarily NUL-terminated), -1 when unrecognised. */
int chat_template_detect(const char *template_text, size_t len);
const char *chat_template_name(int tmpl);      /* "chatml", ...; NULL out of range */
int chat_template_from_name(const char *name); /* -1 when unknown */

/* The template to use: override_name when given (non-NULL, non-empty), else the family of the
 * model's template text. -1 with a one-line message in err when neither gives one. */
int chat_template_resolve(const char *override_name, const char *template_text, size_t len, char *err, size_t err_len);

/* Renders msgs[0..n) (and the opening of the assistant's turn when add_generation_prompt) into a
 * malloc'd string. NULL with a message in err for a bad template or a role it cannot express. */
char *chat_apply(int tmpl, const chat_msg *msgs, int n, bool add_generation_prompt, char *err, size_t err_len);

#endif
