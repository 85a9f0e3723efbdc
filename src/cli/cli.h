/*
 * cli.h - the subcommands of the `aio` program.
 *
 * Each subcommand is one cmd_*.c file with an entry point of main()'s shape
 * (argv[0] is the subcommand name). They return the process exit code:
 * 0 success, 1 a clear error already printed to stderr, 2 bad usage.
 */
#ifndef AION_CLI_H
#define AION_CLI_H

int cmd_run(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_perplexity(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_detokenize(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_probe(int argc, char **argv);
int cmd_pool(int argc, char **argv);
int cmd_calibrate(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_sim(int argc, char **argv);
/* new subcommands: one line each, above this comment */

#endif
