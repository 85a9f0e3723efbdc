// tpshim.c - LD_PRELOAD shim that gives node-llama-cpp's llama_context a persistent ggml
// threadpool, the way llama-bench and llama-cli run llama.cpp.
//
// Why: node-llama-cpp never calls llama_attach_threadpool, and its prebuilt CPU backends are
// built without OpenMP, so ggml_graph_compute creates and joins a fresh "disposable" threadpool
// (n_threads - 1 new pthreads) for every llama_decode. On a small VM whose scheduler keeps a new
// thread on its parent's vCPU for a while, the two compute threads then time-slice one vCPU
// (4 ms slices, spinning in ggml_barrier) and decode speed becomes erratic and far below what
// llama.cpp does with a persistent pool.
//
// How: interpose llama_decode; on the first call for a context, create a threadpool with
// ggml_threadpool_params_default(llama_n_threads(ctx)) semantics (poll = 50, no affinity) via the
// CPU backend registry and attach it with llama_attach_threadpool(ctx, tp, NULL), exactly as
// llama-bench does; llama_free detaches and frees it. The real functions are looked up in the
// already loaded libllama (which node loads with RTLD_LOCAL, so RTLD_NEXT cannot see it).
//
// Environment: AIO_TP_POLL (polling level, default 50), AIO_TP_REPORT (file that gets one line
// per attached pool: "attached <n_threads> <poll>").
//
// Build: cc -O2 -shared -fPIC -o tpshim.so tpshim.c -ldl -lpthread   (bench.mjs does this)
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// From llama.h / ggml.h of the pinned release (public API, stable layouts).
typedef struct {
    int32_t n_tokens;
    void *token, *embd, *pos, *n_seq_id, *seq_id, *logits;
} llama_batch;

struct ggml_threadpool_params {
    bool cpumask[512];  // GGML_MAX_N_THREADS
    int n_threads;
    int prio;           // enum ggml_sched_priority, 0 = normal
    uint32_t poll;
    bool strict_cpu;
    bool paused;
};

#define MAX_CTX 64
static void *g_ctx[MAX_CTX], *g_tp[MAX_CTX];
static int g_n;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static void *g_lib;
static char g_path[4096];

static int find_llama(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    (void)data;
    const char *n = info->dlpi_name, *b = n ? strrchr(n, '/') : NULL;
    if (b && strncmp(b + 1, "libllama.", 9) == 0) {
        snprintf(g_path, sizeof g_path, "%s", n);
        return 1;
    }
    return 0;
}

static void *sym(const char *name) {
    if (!g_lib) {
        dl_iterate_phdr(find_llama, NULL);
        if (g_path[0]) g_lib = dlopen(g_path, RTLD_LAZY | RTLD_NOLOAD);
        if (!g_lib) {
            fprintf(stderr, "tpshim: libllama is not loaded\n");
            abort();
        }
    }
    void *p = dlsym(g_lib, name);  // searches libllama, then its dependencies (libggml*)
    if (!p) {
        fprintf(stderr, "tpshim: symbol %s not found\n", name);
        abort();
    }
    return p;
}

static void *cpu_proc(const char *name) {
    void *(*by_type)(int) = sym("ggml_backend_dev_by_type");
    void *(*dev_reg)(void *) = sym("ggml_backend_dev_backend_reg");
    void *(*proc)(void *, const char *) = sym("ggml_backend_reg_get_proc_address");
    void *dev = by_type(0);  // GGML_BACKEND_DEVICE_TYPE_CPU
    void *p = dev ? proc(dev_reg(dev), name) : NULL;
    if (!p) {
        fprintf(stderr, "tpshim: CPU backend has no %s\n", name);
        abort();
    }
    return p;
}

static void attach_once(void *ctx) {
    pthread_mutex_lock(&g_mu);
    int i;
    for (i = 0; i < g_n && g_ctx[i] != ctx; i++) {
    }
    if (i == g_n && g_n < MAX_CTX) {
        int32_t (*n_threads)(void *) = sym("llama_n_threads");
        void (*attach)(void *, void *, void *) = sym("llama_attach_threadpool");
        void *(*tp_new)(struct ggml_threadpool_params *) = cpu_proc("ggml_threadpool_new");
        struct ggml_threadpool_params p;
        memset(&p, 0, sizeof p);
        p.n_threads = n_threads(ctx);
        p.poll = getenv("AIO_TP_POLL") ? (uint32_t)atoi(getenv("AIO_TP_POLL")) : 50;
        void *tp = tp_new(&p);
        if (tp) {
            attach(ctx, tp, NULL);
            g_ctx[g_n] = ctx;
            g_tp[g_n] = tp;
            g_n++;
            const char *rep = getenv("AIO_TP_REPORT");
            FILE *f = rep && rep[0] ? fopen(rep, "a") : NULL;
            if (f) {
                fprintf(f, "attached %d %u\n", p.n_threads, p.poll);
                fclose(f);
            }
        } else {
            fprintf(stderr, "tpshim: ggml_threadpool_new failed (%d threads)\n", p.n_threads);
        }
    }
    pthread_mutex_unlock(&g_mu);
}

int32_t llama_decode(void *ctx, llama_batch batch) {
    static int32_t (*real)(void *, llama_batch);
    if (!real) real = sym("llama_decode");
    if (ctx) attach_once(ctx);
    return real(ctx, batch);
}

void llama_free(void *ctx) {
    static void (*real)(void *);
    if (!real) real = sym("llama_free");
    void *tp = NULL;
    pthread_mutex_lock(&g_mu);
    for (int i = 0; i < g_n; i++) {
        if (g_ctx[i] == ctx) {
            tp = g_tp[i];
            g_n--;
            g_ctx[i] = g_ctx[g_n];
            g_tp[i] = g_tp[g_n];
            break;
        }
    }
    pthread_mutex_unlock(&g_mu);
    if (tp) {
        void (*detach)(void *) = sym("llama_detach_threadpool");
        detach(ctx);
    }
    real(ctx);
    if (tp) {
        void (*tp_free)(void *) = cpu_proc("ggml_threadpool_free");
        tp_free(tp);
    }
}
