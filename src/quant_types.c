/*
 * quant_types.c - the table of tensor element types: names and block geometry.
 *
 * Kept apart from the kernels (quant.c) because the file-format layer needs it
 * to validate sizes of every type GGUF defines, including the ones the kernels
 * do not run yet.
 */
#include <string.h>
#include <strings.h>

#include "quant.h"

typedef struct type_desc {
    const char *name;
    int64_t block_elems;
    size_t block_bytes;
    bool supported;
} type_desc;

static const type_desc TYPES[AION_DT_COUNT] = {
    [AION_DT_F32] = {"f32", 1, 4, true},
    [AION_DT_F16] = {"f16", 1, 2, true},
    [AION_DT_Q4_0] = {"q4_0", 32, 18, true},
    [AION_DT_Q4_1] = {"q4_1", 32, 20, false},
    [AION_DT_Q5_0] = {"q5_0", 32, 22, false},
    [AION_DT_Q5_1] = {"q5_1", 32, 24, false},
    [AION_DT_Q8_0] = {"q8_0", 32, 34, true},
    [AION_DT_Q8_1] = {"q8_1", 32, 36, false},
    [AION_DT_Q2_K] = {"q2_k", 256, 84, false},
    [AION_DT_Q3_K] = {"q3_k", 256, 110, false},
    [AION_DT_Q4_K] = {"q4_k", 256, 144, true},
    [AION_DT_Q5_K] = {"q5_k", 256, 176, true},
    [AION_DT_Q6_K] = {"q6_k", 256, 210, true},
    [AION_DT_Q8_K] = {"q8_k", 256, 292, false},
    [AION_DT_BF16] = {"bf16", 1, 2, true},
};

bool quant_type_known(int type) {
    return type >= 0 && type < AION_DT_COUNT && TYPES[type].name != NULL;
}

bool quant_type_supported(int type) { return quant_type_known(type) && TYPES[type].supported; }

const char *quant_type_name(int type) { return quant_type_known(type) ? TYPES[type].name : "unknown"; }

int quant_type_from_name(const char *name) {
    for (int i = 0; i < AION_DT_COUNT; i++)
        if (TYPES[i].name && strcasecmp(TYPES[i].name, name) == 0) return i;
    return -1;
}

int64_t quant_block_elems(int type) { return quant_type_known(type) ? TYPES[type].block_elems : 0; }

size_t quant_block_bytes(int type) { return quant_type_known(type) ? TYPES[type].block_bytes : 0; }

size_t quant_row_bytes(int type, int64_t n) {
    if (!quant_type_known(type)) return 0;
    return (size_t)(n / TYPES[type].block_elems) * TYPES[type].block_bytes;
}

/* llama.cpp's general.file_type of a file whose matrices are all of this type (the "_S"
 * variant for K-quants: no tensor is promoted to a wider type). */
uint32_t quant_file_type(int type) {
    switch (type) {
    case AION_DT_F16: return 1;
    case AION_DT_Q4_0: return 2;
    case AION_DT_Q8_0: return 7;
    case AION_DT_Q4_K: return 14;
    case AION_DT_Q5_K: return 16;
    case AION_DT_Q6_K: return 18;
    case AION_DT_BF16: return 32;
    default: return 0;
    }
}
