/*
 * main.c - the `aio` program: one binary, one subcommand per job.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef struct command {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} command;

static const command COMMANDS[] = {
    {"run", cmd_run, "generate text from a prompt (default: the embedded model family)"},
    {"info", cmd_info, "print a GGUF model's architecture, sizes and types"},
    {"perplexity", cmd_perplexity, "perplexity of a model over a text file, in chunks of -c tokens"},
    {"tokenize", cmd_tokenize, "print the token ids of a text"},
    {"detokenize", cmd_detokenize, "print the text of token ids"},
    {"eval", cmd_eval, "accuracy and speed of a model on the task sets (bench/tasks)"},
    {"synth", cmd_synth, "write a random-weight model of a real shape (for benchmarks)"},
    {"bench", cmd_bench, "benchmarks: memory, decode, prefill, batch, strategies, mixed, serve"},
    {"convert", cmd_convert, "convert a Hugging Face model folder (safetensors + tokenizer.json) to GGUF"},
    {"probe", cmd_probe, "label prompts with the small model's probe (code / math / qa / chat)"},
    {"pool", cmd_pool, "load the resident model pool and print its members' bytes"},
    {"calibrate", cmd_calibrate, "measure each pool model's forward time per bucket and context"},
    {"serve", cmd_serve, "OpenAI-compatible HTTP server with continuous batching"},
    {"sim", cmd_sim, "simulate A-IO's policies on an accelerator profile (sim/hw/*.json)"},
    /* new subcommands: one line each, above this comment */
};

static void usage(FILE *out) {
    fprintf(out, "usage: aio COMMAND [options]   (aio COMMAND --help for its options)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof COMMANDS / sizeof *COMMANDS; i++)
        fprintf(out, "  %-12s %s\n", COMMANDS[i].name, COMMANDS[i].help);
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof COMMANDS / sizeof *COMMANDS; i++)
        if (strcmp(argv[1], COMMANDS[i].name) == 0) return COMMANDS[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "aio: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
