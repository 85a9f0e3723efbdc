/*
 * cpu.c - detects what the CPU and the OS let the kernels use.
 *
 * A feature counts only if cpuid reports it AND the OS saves the registers it
 * needs on a context switch (xgetbv's XCR0): AVX2 needs the YMM state, AVX-512
 * the opmask and ZMM states too. Detection runs once (pthread_once); the
 * result is the one piece of global mutable state in the engine, so tests and
 * benchmarks can mask it down to a level (CPU_LEVEL_SCALAR forces the scalar
 * reference kernels) and compare paths on one machine.
 *
 * The AVX-512 kernels are compiled for the Skylake-SP baseline (F, BW, VL and
 * DQ together); a CPU that has F without the rest gets no AVX-512 at all
 * rather than a path that could fault. On non-x86 builds everything is off.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cpu.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define CPU_X86 1
#include <cpuid.h>
#else
#define CPU_X86 0
#endif

typedef struct cpu_table {
    pthread_once_t once;
    cpu_features detected;
    cpu_features active; /* detected, masked by level */
    int level;
    char description[96];
} cpu_table;

static cpu_table g_cpu = {.once = PTHREAD_ONCE_INIT, .level = CPU_LEVEL_MAX};

#if CPU_X86
#define XCR0_SSE_AVX 0x06u     /* XMM and YMM upper halves */
#define XCR0_AVX512 0xE0u      /* opmask, ZMM_Hi256, Hi16_ZMM */

static uint64_t read_xcr0(void) {
    uint32_t eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((uint64_t)edx << 32) | eax;
}

static bool bit(uint32_t reg, int n) { return (reg >> n) & 1u; }

static cpu_features detect_x86(void) {
    cpu_features f = {0};
    uint32_t eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return f;
    bool osxsave = bit(ecx, 27), avx = bit(ecx, 28);
    if (!osxsave || !avx) return f;
    uint64_t xcr0 = read_xcr0();
    bool os_ymm = (xcr0 & XCR0_SSE_AVX) == XCR0_SSE_AVX;
    bool os_zmm = os_ymm && (xcr0 & XCR0_AVX512) == XCR0_AVX512;
    if (!os_ymm) return f;
    f.fma = bit(ecx, 12);
    f.f16c = bit(ecx, 29);

    uint32_t max_leaf = __get_cpuid_max(0, NULL);
    if (max_leaf < 7) return f;
    __cpuid_count(7, 0, eax, ebx, ecx, edx);
    uint32_t max_sub7 = eax;
    f.avx2 = bit(ebx, 5);
    bool f512 = bit(ebx, 16), dq = bit(ebx, 17), bw = bit(ebx, 30), vl = bit(ebx, 31);
    bool vnni512 = bit(ecx, 11);
    bool bf16_512 = false;
    if (max_sub7 >= 1) {
        __cpuid_count(7, 1, eax, ebx, ecx, edx);
        f.avx_vnni = bit(eax, 4);
        bf16_512 = bit(eax, 5);
    }
    if (os_zmm && f512 && dq && bw && vl) {
        f.avx512f = f.avx512bw = f.avx512vl = true;
        f.avx512vnni = vnni512;
        f.avx512bf16 = bf16_512;
    }
    return f;
}
#endif

static cpu_features mask_to_level(cpu_features f, int level) {
    if (level < CPU_LEVEL_AVX512) f.avx512f = f.avx512bw = f.avx512vl = f.avx512vnni = f.avx512bf16 = false;
    if (level < CPU_LEVEL_AVX2) f = (cpu_features){0};
    return f;
}

static void describe(const cpu_features *f, char *out, size_t len) {
    const struct {
        bool on;
        const char *name;
    } names[] = {{f->avx512f, "avx512"}, {f->avx512vnni, "vnni"}, {f->avx512bf16, "bf16"},
                 {f->avx_vnni, "avx-vnni"}, {f->avx2, "avx2"}, {f->fma, "fma"}, {f->f16c, "f16c"}};
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!names[i].on) continue;
        int n = snprintf(out + used, len - used, "%s%s", used ? " " : "", names[i].name);
        if (n < 0 || (size_t)n >= len - used) break;
        used += (size_t)n;
    }
    if (used == 0) snprintf(out, len, "scalar");
}

static void apply_level(int level) {
    g_cpu.level = level;
    g_cpu.active = mask_to_level(g_cpu.detected, level);
    describe(&g_cpu.active, g_cpu.description, sizeof g_cpu.description);
}

static void detect_once(void) {
#if CPU_X86
    g_cpu.detected = detect_x86();
#endif
    apply_level(g_cpu.level);
}

const cpu_features *cpu_get(void) {
    pthread_once(&g_cpu.once, detect_once);
    return &g_cpu.active;
}

int cpu_features_limit(int level) {
    pthread_once(&g_cpu.once, detect_once);
    int previous = g_cpu.level;
    if (level < CPU_LEVEL_SCALAR) level = CPU_LEVEL_SCALAR;
    if (level > CPU_LEVEL_MAX) level = CPU_LEVEL_MAX;
    apply_level(level);
    return previous;
}

const char *cpu_describe(void) {
    pthread_once(&g_cpu.once, detect_once);
    return g_cpu.description;
}
