/*
 * test_chat.c - chat templates: recognition, names, and the exact text of each family.
 *
 * The expected strings are written from the families' documented formats (the model cards
 * and the Jinja templates as Hugging Face renders them), not from chat.c, for one
 * conversation that exercises a system prompt, a finished exchange and an open turn. The
 * template texts used for recognition are the families' real ones (abridged where long).
 */
#include <string.h>

#include "chat.h"
#include "check.h"

static const chat_msg CONVERSATION[] = {
    {"system", "You are helpful."},
    {"user", "Hello!"},
    {"assistant", "Hi there."},
    {"user", "How are you?"},
};
#define N_CONVERSATION (int)(sizeof CONVERSATION / sizeof *CONVERSATION)

static const struct {
    int tmpl;
    const char *expect; /* with add_generation_prompt */
} EXPECTED[] = {
    {CHAT_TMPL_CHATML, "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHello!<|im_end|>\n"
                       "<|im_start|>assistant\nHi there.<|im_end|>\n<|im_start|>user\nHow are you?<|im_end|>\n"
                       "<|im_start|>assistant\n"},
    {CHAT_TMPL_LLAMA3, "<|start_header_id|>system<|end_header_id|>\n\nYou are helpful.<|eot_id|>"
                       "<|start_header_id|>user<|end_header_id|>\n\nHello!<|eot_id|>"
                       "<|start_header_id|>assistant<|end_header_id|>\n\nHi there.<|eot_id|>"
                       "<|start_header_id|>user<|end_header_id|>\n\nHow are you?<|eot_id|>"
                       "<|start_header_id|>assistant<|end_header_id|>\n\n"},
    {CHAT_TMPL_LLAMA2, "[INST] <<SYS>>\nYou are helpful.\n<</SYS>>\n\nHello! [/INST] Hi there. </s>"
                       "<s>[INST] How are you? [/INST]"},
    {CHAT_TMPL_MISTRAL, "[INST] You are helpful.\n\nHello! [/INST]Hi there.</s>[INST] How are you? [/INST]"},
    {CHAT_TMPL_ZEPHYR, "<|system|>\nYou are helpful.</s>\n<|user|>\nHello!</s>\n<|assistant|>\nHi there.</s>\n"
                       "<|user|>\nHow are you?</s>\n<|assistant|>\n"},
};

static void expect_render(const char *what, int tmpl, const chat_msg *msgs, int n, bool gen, const char *expect) {
    char err[256] = "";
    char *got = chat_apply(tmpl, msgs, n, gen, err, sizeof err);
    CHECK(got && strcmp(got, expect) == 0, "%s (%s):\n got  '%s'\n want '%s' %s", what, chat_template_name(tmpl),
          got ? got : "(null)", expect, err);
    free(got);
}

static void test_families(void) {
    for (size_t i = 0; i < sizeof EXPECTED / sizeof *EXPECTED; i++)
        expect_render("conversation", EXPECTED[i].tmpl, CONVERSATION, N_CONVERSATION, true, EXPECTED[i].expect);
    /* Without the generation prompt the tagged families stop after the last message; the [INST]
     * ones open the answer implicitly, so their text does not change. */
    const chat_msg one[] = {{"user", "Hi"}};
    expect_render("no generation prompt", CHAT_TMPL_CHATML, one, 1, false, "<|im_start|>user\nHi<|im_end|>\n");
    expect_render("no generation prompt", CHAT_TMPL_LLAMA3, one, 1, false,
                  "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>");
    expect_render("no generation prompt", CHAT_TMPL_ZEPHYR, one, 1, false, "<|user|>\nHi</s>\n");
    expect_render("no generation prompt", CHAT_TMPL_LLAMA2, one, 1, false, "[INST] Hi [/INST]");
    expect_render("no generation prompt", CHAT_TMPL_MISTRAL, one, 1, false, "[INST] Hi [/INST]");
}

static void test_quirks(void) {
    /* llama3's template trims the content, llama2's strips it (around the <<SYS>> block too). */
    const chat_msg padded[] = {{"user", "  spaced out \n"}};
    expect_render("trim", CHAT_TMPL_LLAMA3, padded, 1, true,
                  "<|start_header_id|>user<|end_header_id|>\n\nspaced out<|eot_id|>"
                  "<|start_header_id|>assistant<|end_header_id|>\n\n");
    expect_render("strip", CHAT_TMPL_LLAMA2, padded, 1, true, "[INST] spaced out [/INST]");
    expect_render("no trim", CHAT_TMPL_CHATML, padded, 1, false, "<|im_start|>user\n  spaced out \n<|im_end|>\n");
    const chat_msg sys_padded[] = {{"system", "S"}, {"user", "  u  "}};
    expect_render("strip with system", CHAT_TMPL_LLAMA2, sys_padded, 2, true,
                  "[INST] <<SYS>>\nS\n<</SYS>>\n\n  u [/INST]");
    /* Other roles pass through where the format has a slot for any role. */
    const chat_msg tool[] = {{"tool", "42"}};
    expect_render("tool role", CHAT_TMPL_CHATML, tool, 1, false, "<|im_start|>tool\n42<|im_end|>\n");
    expect_render("tool role", CHAT_TMPL_LLAMA3, tool, 1, false,
                  "<|start_header_id|>tool<|end_header_id|>\n\n42<|eot_id|>");
    char err[256] = "";
    CHECK(chat_apply(CHAT_TMPL_LLAMA2, tool, 1, true, err, sizeof err) == NULL && strstr(err, "no role 'tool'"),
          "llama2 with a tool message: '%s'", err);
    CHECK(chat_apply(CHAT_TMPL_MISTRAL, tool, 1, true, err, sizeof err) == NULL && strstr(err, "mistral"),
          "mistral with a tool message: '%s'", err);
    CHECK(chat_apply(CHAT_TMPL_COUNT, tool, 1, true, err, sizeof err) == NULL, "template out of range accepted");
    const chat_msg broken[] = {{"user", NULL}};
    CHECK(chat_apply(CHAT_TMPL_CHATML, broken, 1, true, err, sizeof err) == NULL, "message without content accepted");
    /* An empty conversation is just the opening of the answer. */
    expect_render("empty", CHAT_TMPL_CHATML, NULL, 0, true, "<|im_start|>assistant\n");
    expect_render("empty", CHAT_TMPL_LLAMA2, NULL, 0, true, "");
    /* Several llama2 turns: each later turn opens with <s> as text. */
    const chat_msg turns[] = {{"user", "a"}, {"assistant", "b"}, {"user", "c"}, {"assistant", "d"}, {"user", "e"}};
    expect_render("turns", CHAT_TMPL_LLAMA2, turns, 5, true,
                  "[INST] a [/INST] b </s><s>[INST] c [/INST] d </s><s>[INST] e [/INST]");
}

/* Real templates (abridged): each family's own markers. */
static const struct {
    const char *what, *text;
    int tmpl;
} TEMPLATES[] = {
    {"Qwen2.5",
     "{%- if tools %}\n    {{- '<|im_start|>system\\n' }}\n{%- endif %}{%- for message in messages %}"
     "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}{%- endfor %}"
     "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}",
     CHAT_TMPL_CHATML},
    {"Llama 3",
     "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
     "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + "
     "'<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
     "{{ content }}{% endfor %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}",
     CHAT_TMPL_LLAMA3},
    {"Llama 2",
     "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = "
     "messages[0]['content'] %}{% endif %}{% for message in loop_messages %}{% if loop.index0 == 0 and "
     "system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + "
     "message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + "
     "content.strip() + ' [/INST]' }}{% endif %}{% endfor %}",
     CHAT_TMPL_LLAMA2},
    {"Mistral",
     "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' + "
     "message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + "
     "eos_token}}{% endif %}{% endfor %}",
     CHAT_TMPL_MISTRAL},
    {"Zephyr",
     "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] "
     "+ eos_token }}\n{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + "
     "eos_token }}\n{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}"
     "\n{% endfor %}",
     CHAT_TMPL_ZEPHYR},
    {"unknown", "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}", -1},
    {"empty", "", -1},
};

static void test_detection(void) {
    for (size_t i = 0; i < sizeof TEMPLATES / sizeof *TEMPLATES; i++) {
        int got = chat_template_detect(TEMPLATES[i].text, strlen(TEMPLATES[i].text));
        CHECK(got == TEMPLATES[i].tmpl, "%s recognised as %d, want %d", TEMPLATES[i].what, got, TEMPLATES[i].tmpl);
    }
    /* The length bounds the search: a marker past it is not seen. */
    const char *t = "xx<|im_start|>";
    CHECK(chat_template_detect(t, 5) == -1 && chat_template_detect(t, strlen(t)) == CHAT_TMPL_CHATML, "length bound");
    CHECK(chat_template_detect(NULL, 0) == -1, "NULL template");
    for (int i = 0; i < CHAT_TMPL_COUNT; i++)
        CHECK(chat_template_from_name(chat_template_name(i)) == i, "name round trip of %d", i);
    CHECK(chat_template_name(-1) == NULL && chat_template_name(CHAT_TMPL_COUNT) == NULL, "names out of range");
    CHECK(chat_template_from_name("vicuna") == -1 && chat_template_from_name(NULL) == -1, "unknown name");
}

static void test_resolve(void) {
    char err[256] = "";
    const char *llama3 = TEMPLATES[1].text;
    CHECK(chat_template_resolve(NULL, llama3, strlen(llama3), err, sizeof err) == CHAT_TMPL_LLAMA3, "from the text");
    CHECK(chat_template_resolve("zephyr", llama3, strlen(llama3), err, sizeof err) == CHAT_TMPL_ZEPHYR, "override");
    CHECK(chat_template_resolve("", llama3, strlen(llama3), err, sizeof err) == CHAT_TMPL_LLAMA3, "empty override");
    CHECK(chat_template_resolve("vicuna", llama3, strlen(llama3), err, sizeof err) == -1 &&
              strstr(err, "unknown chat template 'vicuna' (chatml, llama3"),
          "bad override: '%s'", err);
    CHECK(chat_template_resolve(NULL, NULL, 0, err, sizeof err) == -1 && strstr(err, "has no chat template"),
          "no template: '%s'", err);
    const char *odd = "{% for m in messages %}\n{{ m.content }}{% endfor %}";
    CHECK(chat_template_resolve(NULL, odd, strlen(odd), err, sizeof err) == -1 &&
              strstr(err, "unrecognised chat template (starting '{% for m in messages %} {{ m.content }}{')") &&
              !strchr(err, '\n'),
          "unrecognised template: '%s'", err);
}

int main(void) {
    test_families();
    test_quirks();
    test_detection();
    test_resolve();
    return check_done();
}
