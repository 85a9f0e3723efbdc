/*
 * model.h - internal views of a context that tests and the simulator need.
 *
 * Not part of the public API: read-only access to cached keys/values so that
 * tests can assert that a rolled-back cache equals one that never saw the
 * rejected tokens.
 */
#ifndef AION_MODEL_H
#define AION_MODEL_H

#include "aion.h"

int model_head_dim(const aion_ctx *c);
int model_n_head_kv(const aion_ctx *c);
int model_n_layer(const aion_ctx *c);
/* Key / value of KV head kv_head in layer il at position pos of sequence seq (pos < aion_kv_len):
 * head_dim elements as cached (f32, or f16 with kv_f16), model_kv_row_bytes in all. */
const void *model_kv_key(const aion_ctx *c, int seq, int il, int kv_head, int pos);
const void *model_kv_value(const aion_ctx *c, int seq, int il, int kv_head, int pos);
size_t model_kv_row_bytes(const aion_ctx *c);

#endif
