/*
 * aion.h - the public API of A-IO, adaptive inference orchestration.
 *
 * Opaque handles, explicit ownership: every aion_X_new/load has its aion_X_free,
 * strings returned as char* are malloc'd and freed by the caller, pointers
 * returned as const char* belong to the handle they came from. Functions that
 * can fail take (char *err, size_t err_len) and write one line there.
 *
 *   aion_threads  a persistent worker pool shared by every forward pass
 *   aion_model    weights (mmapped GGUF), hyper-parameters, tokenizer
 *   aion_ctx      per-model inference state: KV cache slots for n_seq sequences,
 *                 scratch sized for the largest batch, counters of work done
 *   aion_sampler  turns logits into a token (greedy, temperature, top-k/p, min-p)
 */
#ifndef AION_H
#define AION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- threads ---- */
typedef struct aion_threads aion_threads;
/* n_threads <= 0: one per available core. */
aion_threads *aion_threads_new(int n_threads);
void aion_threads_free(aion_threads *t);
int aion_threads_count(const aion_threads *t);

/* ---- model ---- */
typedef struct aion_model aion_model;

aion_model *aion_model_load(const char *path, char *err, size_t err_len);
/* The same, reporting progress while the weights are read in (large files take seconds). */
typedef void (*aion_progress_fn)(void *user, uint64_t done, uint64_t total);
aion_model *aion_model_load_ex(const char *path, aion_progress_fn progress, void *user, char *err, size_t err_len);
void aion_model_free(aion_model *m);

typedef struct aion_model_info {
    const char *path;
    const char *arch;        /* "llama", "qwen2" */
    const char *name;        /* general.name or "" */
    int n_vocab, n_ctx_train, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff;
    float rope_freq_base, norm_eps;
    int n_tensors;
    uint64_t n_params;
    uint64_t weight_bytes;   /* bytes of all weight tensors */
    int main_type;           /* the type of most weight bytes (see aion_dtype_name) */
    bool tied_embeddings;
} aion_model_info;

void aion_model_get_info(const aion_model *m, aion_model_info *info);
const char *aion_dtype_name(int type);
/* Bytes of weights one forward streams: every layer matrix, plus the output matrix when
 * logits are wanted (embedding rows are gathered, not streamed). */
uint64_t aion_model_forward_bytes(const aion_model *m, bool with_logits);

/* ---- tokenizer (the model's) ---- */
int32_t aion_n_vocab(const aion_model *m);
int32_t aion_token_bos(const aion_model *m);
int32_t aion_token_eos(const aion_model *m);
bool aion_token_is_eog(const aion_model *m, int32_t id);
bool aion_add_bos_default(const aion_model *m);
/* Returns the number of ids of the full encoding (may exceed max_out), -1 on error. */
int aion_tokenize(const aion_model *m, const char *text, size_t len, bool add_bos, bool parse_special,
                  int32_t *out, int max_out);
/* malloc'd, NUL-terminated. */
char *aion_detokenize(const aion_model *m, const int32_t *ids, int n_ids);
/* Raw bytes of one token; returns length (may exceed buf_len) or -1. */
int aion_token_piece(const aion_model *m, int32_t id, char *buf, int buf_len);
int32_t aion_token_find(const aion_model *m, const char *text);
/* Tokens that frame a format rather than carry text (the default family's probe tokens, named
 * in its aio.probe.* metadata); generation never produces them. Returns their count (may
 * exceed cap); 0 for other models. */
#define AION_MAX_MARKUP 16
int aion_markup_tokens(const aion_model *m, int32_t *out, int cap);

/* Streaming detokenizer: returns the bytes of complete UTF-8 characters so far (an incomplete
 * multi-byte character is held back until its last byte arrives). Pointers are valid until the
 * next call. */
typedef struct aion_detok aion_detok;
aion_detok *aion_detok_new(const aion_model *m);
void aion_detok_free(aion_detok *d);
const char *aion_detok_push(aion_detok *d, int32_t id, size_t *len);
const char *aion_detok_flush(aion_detok *d, size_t *len);

/* ---- inference context: KV cache + scratch ---- */
typedef struct aion_ctx aion_ctx;

typedef struct aion_ctx_params {
    int n_seq;    /* independent sequences (KV slots) */
    int n_ctx;    /* tokens per sequence; 0 = the model's training context */
    int n_batch;  /* most tokens one forward may carry */
    int kv_f16;   /* 1: keys and values cached as f16 (half the memory, and half the bytes a
                     token's attention reads at long context); 0: f32, the default */
} aion_ctx_params;

aion_ctx_params aion_ctx_default_params(void);
aion_ctx *aion_ctx_new(const aion_model *m, const aion_ctx_params *p, char *err, size_t err_len);
void aion_ctx_free(aion_ctx *c);
const aion_model *aion_ctx_model(const aion_ctx *c);
int aion_ctx_n_ctx(const aion_ctx *c);
int aion_ctx_n_seq(const aion_ctx *c);
int aion_ctx_n_batch(const aion_ctx *c);
size_t aion_ctx_kv_bytes(const aion_ctx *c);

/* Tokens stored for sequence seq. */
int aion_kv_len(const aion_ctx *c, int seq);
/* Roll back: forget everything at positions >= len (len <= current length). */
void aion_kv_truncate(aion_ctx *c, int seq, int len);
/* Make dst's cache a copy of src's first len positions (e.g. to share a prompt). */
void aion_kv_copy(aion_ctx *c, int dst_seq, int src_seq, int len);

/* One forward over a batch. Token i belongs to sequence seq[i] (NULL: all 0) at position pos[i];
 * the positions of one sequence must continue it: the first is aion_kv_len(seq) and they rise by
 * one in batch order. Attention is causal within a sequence and never crosses sequences.
 * Logits (n_vocab floats per row) are written for the tokens with want_logits[i] != 0 (NULL: only
 * the last token), in batch order. Returns the number of logit rows, or -1 on error (bad token id,
 * position, sequence or size; nothing is written to the cache then). */
typedef struct aion_batch {
    int n_tokens;
    const int32_t *tokens;
    const int32_t *pos;
    const int32_t *seq;
    const int8_t *want_logits;
} aion_batch;

int aion_forward(aion_ctx *c, aion_threads *t, const aion_batch *b, float *logits, char *err,
                 size_t err_len);

typedef struct aion_ctx_stats {
    uint64_t n_forwards;
    uint64_t n_tokens;           /* tokens processed by forwards */
    uint64_t weight_bytes_read;  /* aion_model_forward_bytes summed over forwards */
    double forward_seconds;
} aion_ctx_stats;
void aion_ctx_get_stats(const aion_ctx *c, aion_ctx_stats *s);
void aion_ctx_reset_stats(aion_ctx *c);

/* ---- sampling ---- */
typedef struct aion_sampler aion_sampler;

typedef struct aion_sampler_params {
    float temperature;    /* <= 0: greedy */
    int top_k;            /* <= 0: off */
    float top_p;          /* >= 1: off */
    float min_p;          /* <= 0: off */
    float repeat_penalty; /* 1: off */
    int repeat_last_n;    /* window of the penalty */
    uint64_t seed;
} aion_sampler_params;

aion_sampler_params aion_sampler_default_params(void);
aion_sampler *aion_sampler_new(const aion_sampler_params *p, int32_t n_vocab);
void aion_sampler_free(aion_sampler *s);
bool aion_sampler_is_greedy(const aion_sampler *s);
aion_sampler_params aion_sampler_get_params(const aion_sampler *s);
/* Record a token of the context (prompt or generated) for the repetition penalty. */
void aion_sampler_accept(aion_sampler *s, int32_t token);
/* Roll the history back to its first n tokens (after a rejected draft). */
void aion_sampler_truncate(aion_sampler *s, int n);
/* Pick the next token from one row of logits (penalties, then greedy or the chain). */
int32_t aion_sampler_sample(aion_sampler *s, const float *logits);
/* The distribution the sampler would draw from (penalties, temperature, top-k/p, min-p applied;
 * zero outside the kept set), n_vocab floats summing to 1. Greedy: a point mass. */
void aion_sampler_dist(aion_sampler *s, const float *logits, float *probs);
/* Draw from a distribution with the sampler's random stream. */
int32_t aion_sampler_draw(aion_sampler *s, const float *probs);
/* Uniform in [0, 1) from the sampler's random stream. */
double aion_sampler_uniform(aion_sampler *s);
/* Never pick this token (its logit counts as -inf), e.g. a model's markup tokens. */
void aion_sampler_ban(aion_sampler *s, int32_t token);

#ifdef __cplusplus
}
#endif
#endif
