/*
 * common.c - helpers shared by the subcommands of `aio`.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "util.h"

bool opt_is(const char *arg, const char *short_name, const char *long_name) {
    return (short_name && strcmp(arg, short_name) == 0) || (long_name && strcmp(arg, long_name) == 0);
}

static const char *next_value(int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        fprintf(stderr, "error: option %s needs a value\n", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

bool opt_str(int argc, char **argv, int *i, const char **out) {
    const char *v = next_value(argc, argv, i);
    if (!v) return false;
    *out = v;
    return true;
}

bool opt_kv(int argc, char **argv, int *i, int *kv_f16) {
    const char *v = next_value(argc, argv, i);
    if (!v) return false;
    if (strcmp(v, "f32") != 0 && strcmp(v, "f16") != 0) {
        fprintf(stderr, "error: --kv expects f32 or f16, got '%s'\n", v);
        return false;
    }
    *kv_f16 = strcmp(v, "f16") == 0;
    return true;
}

bool opt_int(int argc, char **argv, int *i, int *out) {
    const char *v = next_value(argc, argv, i);
    if (!v) return false;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || end == v || x < INT_MIN || x > INT_MAX) {
        fprintf(stderr, "error: option %s expects an integer, got '%s'\n", argv[*i - 1], v);
        return false;
    }
    *out = (int)x;
    return true;
}

bool opt_u64(int argc, char **argv, int *i, uint64_t *out) {
    const char *v = next_value(argc, argv, i);
    if (!v) return false;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || *end || end == v || v[0] == '-') {
        fprintf(stderr, "error: option %s expects a non-negative integer, got '%s'\n", argv[*i - 1], v);
        return false;
    }
    *out = x;
    return true;
}

bool opt_float(int argc, char **argv, int *i, float *out) {
    const char *v = next_value(argc, argv, i);
    if (!v) return false;
    char *end;
    errno = 0;
    float x = strtof(v, &end);
    if (errno || *end || end == v) {
        fprintf(stderr, "error: option %s expects a number, got '%s'\n", argv[*i - 1], v);
        return false;
    }
    *out = x;
    return true;
}

static bool file_exists(const char *path) { return access(path, F_OK) == 0; }

/* Relative to the working directory, then to the executable's folder (build/aio ->
 * ../REL, an installed bin/ -> ../REL), then in the source tree it was built from. */
const char *find_source_file(const char *rel, char *buf, size_t buf_len) {
    snprintf(buf, buf_len, "%s", rel);
    if (file_exists(buf)) return buf;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;
        const char *up[] = {"..", ".", "../.."};
        for (size_t i = 0; i < sizeof up / sizeof *up; i++) {
            int written = snprintf(buf, buf_len, "%s/%s/%s", exe, up[i], rel);
            if (written < (int)buf_len && file_exists(buf)) return buf;
        }
    }
#ifdef AION_SOURCE_DIR
    snprintf(buf, buf_len, "%s/%s", AION_SOURCE_DIR, rel);
    if (file_exists(buf)) return buf;
#endif
    return NULL;
}

const char *default_model_path(const char *name, char *buf, size_t buf_len) {
    const char *env = getenv("AION_MODELS");
    if (env && *env) {
        snprintf(buf, buf_len, "%s/%s.gguf", env, name);
        if (file_exists(buf)) return buf;
    }
    char rel[256];
    snprintf(rel, sizeof rel, "models/%s.gguf", name);
    return find_source_file(rel, buf, buf_len);
}

char *read_text_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "error: cannot open %s: %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, used = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + used, 1, cap - used - 1, f);
        used += got;
        if (got == 0) break;
        if (used + 1 == cap) {
            char *bigger = realloc(buf, cap * 2);
            if (!bigger) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    bool failed = ferror(f);
    fclose(f);
    if (!buf || failed) {
        free(buf);
        fprintf(stderr, "error: cannot read %s\n", path);
        return NULL;
    }
    buf[used] = 0;
    if (len) *len = used;
    return buf;
}

void progress(const char *label, uint64_t done, uint64_t total) {
    if (!isatty(STDERR_FILENO) || total == 0) return;
    fprintf(stderr, "\r%s %3d%%", label, (int)(100.0 * (double)done / (double)total));
    if (done >= total) fputc('\n', stderr);
    fflush(stderr);
}

void load_progress(void *user, uint64_t done, uint64_t total) {
    if (total < ((uint64_t)256 << 20)) return; /* small files load faster than a progress line draws */
    progress((const char *)user, done, total);
}
