/*
 * cpu.h - the CPU feature table, the only global state of the engine.
 *
 * Detected once (cpuid + xgetbv, so a feature the OS does not save is off) and
 * read by the kernels to pick a code path. Tests and benchmarks may mask it
 * down, e.g. to force the scalar path, through cpu_features_limit().
 */
#ifndef AION_CPU_H
#define AION_CPU_H

#include <stdbool.h>

typedef struct cpu_features {
    bool avx2, fma, f16c;
    bool avx512f, avx512bw, avx512vl, avx512vnni, avx512bf16;
    bool avx_vnni;
} cpu_features;

/* Detected features (after any limit). Cheap: a pointer to the table. */
const cpu_features *cpu_get(void);

enum cpu_level { CPU_LEVEL_SCALAR = 0, CPU_LEVEL_AVX2 = 1, CPU_LEVEL_AVX512 = 2, CPU_LEVEL_MAX = 3 };
/* Restrict the table to at most `level` (CPU_LEVEL_MAX restores detection). Not thread-safe:
 * call before starting work. Returns the previous level. */
int cpu_features_limit(int level);
const char *cpu_describe(void); /* "avx512 vnni bf16 avx2 fma f16c" */

#endif
