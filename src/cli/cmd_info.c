/*
 * cmd_info.c - `aio info MODEL.gguf`: what a model file holds.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "common.h"

int cmd_info(int argc, char **argv) {
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: aio info MODEL.gguf\n");
        return 2;
    }
    char err[512];
    aion_model *m = aion_model_load(argv[1], err, sizeof err);
    if (!m) {
        fprintf(stderr, "error: %s\n", err);
        return 1;
    }
    aion_model_info in;
    aion_model_get_info(m, &in);
    printf("file          %s\n", in.path);
    printf("name          %s\n", in.name[0] ? in.name : "(none)");
    printf("architecture  %s\n", in.arch);
    printf("parameters    %llu (%.2f M)\n", (unsigned long long)in.n_params, in.n_params / 1e6);
    printf("weights       %llu bytes (%.2f MiB), mostly %s\n", (unsigned long long)in.weight_bytes,
           in.weight_bytes / 1048576.0, aion_dtype_name(in.main_type));
    printf("tensors       %d\n", in.n_tensors);
    printf("vocabulary    %d\n", in.n_vocab);
    printf("context       %d (training)\n", in.n_ctx_train);
    printf("layers        %d\n", in.n_layer);
    printf("embedding     %d\n", in.n_embd);
    printf("heads         %d (kv %d, head dim %d)\n", in.n_head, in.n_head_kv, in.head_dim);
    printf("feed-forward  %d\n", in.n_ff);
    printf("rope base     %g\n", in.rope_freq_base);
    printf("norm eps      %g\n", in.norm_eps);
    printf("embeddings    %s\n", in.tied_embeddings ? "tied (output = token_embd)" : "separate output matrix");
    printf("bytes/token   %llu (weights streamed per decoded token)\n",
           (unsigned long long)aion_model_forward_bytes(m, true));
    aion_model_free(m);
    return 0;
}
