/*
 * cmd_convert.c - `aio convert HF_DIR OUT.gguf`: a Hugging Face model folder to GGUF.
 *
 * A thin front end over convert.c: options, then one line saying what was
 * written (architecture, tensors, vocabulary, parameters) and anything the
 * conversion had to leave behind, so a user sees it without reading the file.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "common.h"
#include "convert.h"
#include "quant.h"

static void convert_usage(void) {
    fprintf(stderr, "usage: aio convert HF_DIR OUT.gguf [--type f32|f16|q8_0|q4_0|q4_k|q5_k|q6_k] [--vocab-only]\n"
                    "  HF_DIR        a Hugging Face folder: config.json, model.safetensors (or shards with\n"
                    "                model.safetensors.index.json), tokenizer.json, tokenizer_config.json\n"
                    "                (LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM)\n"
                    "  --type T      type of the weight matrices (default f16); norms and biases stay f32\n"
                    "  --vocab-only  write only the tokenizer (HF_DIR needs just tokenizer.json)\n");
}

int cmd_convert(int argc, char **argv) {
    convert_params p = {.type = AION_DT_F16};
    const char *type_name = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (opt_is(a, "-h", "--help")) return convert_usage(), 2;
        if (opt_is(a, NULL, "--vocab-only"))
            p.vocab_only = true;
        else if (opt_is(a, NULL, "--type")) {
            if (!opt_str(argc, argv, &i, &type_name)) return 2;
            if ((p.type = convert_type_from_name(type_name)) < 0) {
                fprintf(stderr, "error: unknown --type '%s' (f32, f16, q8_0, q4_0)\n", type_name);
                return 2;
            }
        } else if (a[0] != '-' && !p.hf_dir)
            p.hf_dir = a;
        else if (a[0] != '-' && !p.out_path)
            p.out_path = a;
        else {
            fprintf(stderr, "error: unexpected argument '%s'\n", a);
            convert_usage();
            return 2;
        }
    }
    if (!p.hf_dir || !p.out_path) {
        convert_usage();
        return 2;
    }
    char err[600];
    convert_report r;
    if (convert_hf(&p, &r, err, sizeof err) != 0) {
        fprintf(stderr, "error: %s\n", err);
        return 1;
    }
    if (p.vocab_only)
        printf("%s: %s vocabulary, %d tokens\n", p.out_path, r.arch, r.n_vocab);
    else
        printf("%s: %s, %d tensors (%s), %d tokens, %.2f M parameters\n", p.out_path, r.arch, r.n_tensors,
               quant_type_name(p.type), r.n_vocab, r.n_params / 1e6);
    if (r.n_fallback)
        printf("note: %d matrices written as f16 (rows not a multiple of the block size)\n", r.n_fallback);
    if (r.note[0]) printf("note: %s\n", r.note);
    return 0;
}
