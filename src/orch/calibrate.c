/*
 * calibrate.c - the calibration profile (see calibrate.h).
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "calibrate.h"
#include "util.h"

void calib_machine_id(char *buf, size_t buf_len) {
    char model[256] = "unknown-cpu";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f))
            if (strncmp(line, "model name", 10) == 0) {
                char *colon = strchr(line, ':');
                if (colon) {
                    snprintf(model, sizeof model, "%s", colon + 2);
                    model[strcspn(model, "\n")] = 0;
                }
                break;
            }
        fclose(f);
    }
    snprintf(buf, buf_len, "%s x%ld", model, sysconf(_SC_NPROCESSORS_ONLN));
}

const char *calib_default_path(char *buf, size_t buf_len) {
    const char *env = getenv("AION_PROFILE");
    if (env && *env) return snprintf(buf, buf_len, "%s", env), buf;
    const char *cache = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (cache && *cache) snprintf(buf, buf_len, "%s/aion/profile.json", cache);
    else snprintf(buf, buf_len, "%s/.cache/aion/profile.json", home && *home ? home : "/tmp");
    return buf;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median seconds of a forward of n tokens on top of ctx_len cached ones, with logits for every
 * token as a verification wants them (the output matrix is part of the cost). A few untimed
 * forwards come first: the first point of a fresh context read up to 45% slow on a fresh machine
 * (its buffers' first pages, the weights' first pass through the cache), and a median of 15 did
 * not always hide it. */
static int time_forward(aion_ctx *c, aion_threads *t, const int32_t *ids, int ctx_len, int n, int repeats,
                        float *logits, double *out, char *err, size_t err_len) {
    int32_t pos[64];
    int8_t want[64];
    double runs[16];
    if (repeats > 16) repeats = 16;
    int warmup = repeats / 4 + 1;
    for (int i = 0; i < n; i++) pos[i] = ctx_len + i, want[i] = 1;
    for (int r = -warmup; r < repeats; r++) {
        aion_batch b = {n, ids + ctx_len, pos, NULL, want};
        double t0 = now_seconds();
        if (aion_forward(c, t, &b, logits, err, err_len) < 0) return -1;
        if (r >= 0) runs[r] = now_seconds() - t0;
        aion_kv_truncate(c, 0, ctx_len);
    }
    qsort(runs, (size_t)repeats, sizeof *runs, cmp_double);
    *out = runs[repeats / 2];
    return 0;
}

int calib_measure(const aion_model *m, aion_threads *t, const decode_config *dc, bool kv_f16, int repeats,
                  cost_curve *out, char *err, size_t err_len) {
    aion_model_info info;
    aion_model_get_info(m, &info);
    memset(out, 0, sizeof *out);
    for (int i = 0; i < dc->n_buckets && i < COST_MAX_SIZES && dc->buckets[i] <= 64; i++)
        out->sizes[out->n_sizes++] = dc->buckets[i];
    int max_size = out->sizes[out->n_sizes - 1];
    int contexts[COST_MAX_CTX] = {1, info.n_ctx_train / 4, info.n_ctx_train * 7 / 8 - max_size};
    for (int j = 0; j < 3; j++)
        if (contexts[j] >= 1 && (j == 0 || contexts[j] > out->ctx[out->n_ctx - 1])) out->ctx[out->n_ctx++] = contexts[j];
    aion_ctx_params cp = {.n_seq = 1, .n_ctx = info.n_ctx_train, .n_batch = 512, .kv_f16 = kv_f16};
    aion_ctx *c = aion_ctx_new(m, &cp, err, err_len);
    int32_t *ids = malloc((size_t)info.n_ctx_train * sizeof *ids);
    float *logits = malloc((size_t)max_size * info.n_vocab * sizeof *logits);
    if (!c || !ids || !logits) {
        aion_ctx_free(c);
        free(ids);
        free(logits);
        return -1;
    }
    uint64_t seed = 42;
    for (int i = 0; i < info.n_ctx_train; i++) {
        seed = seed * 6364136223846793005ull + 1;
        ids[i] = (int32_t)((seed >> 33) % (uint64_t)info.n_vocab);
    }
    int rc = 0;
    for (int j = 0; j < out->n_ctx && rc == 0; j++) {
        aion_kv_truncate(c, 0, 0);
        int32_t pos[512];
        for (int done = 0; done < out->ctx[j] && rc == 0; done += 512) { /* fill the context */
            int n = out->ctx[j] - done < 512 ? out->ctx[j] - done : 512;
            for (int i = 0; i < n; i++) pos[i] = done + i;
            aion_batch b = {n, ids + done, pos, NULL, NULL};
            rc = aion_forward(c, t, &b, NULL, err, err_len) < 0 ? -1 : 0;
        }
        for (int i = 0; i < out->n_sizes && rc == 0; i++)
            rc = time_forward(c, t, ids, out->ctx[j], out->sizes[i], repeats, logits, &out->seconds[j][i], err,
                              err_len);
    }
    aion_ctx_free(c);
    free(ids);
    free(logits);
    return rc;
}

static cJSON *read_profile(const char *path, char *err, size_t err_len, bool *corrupt) {
    *corrupt = false;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *text = NULL;
    size_t cap = 0, len = 0, got;
    char chunk[65536];
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0 && len < (16u << 20)) {
        char *grown = realloc(text, cap = len + got + 1);
        if (!grown) break;
        text = grown;
        memcpy(text + len, chunk, got);
        len += got;
    }
    fclose(f);
    if (!text) return NULL;
    text[len] = 0;
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!root || !cJSON_IsObject(root)) {
        snprintf(err, err_len, "%s: corrupt calibration profile (not a JSON object)", path);
        *corrupt = true;
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

/* An f32 cache's key is the one profiles had before the KV type was part of it. */
static void entry_key(const char *model_path, bool kv_f16, char *buf, size_t buf_len) {
    char machine[300];
    calib_machine_id(machine, sizeof machine);
    struct stat st;
    long long size = 0, mtime = 0;
    if (stat(model_path, &st) == 0) size = st.st_size, mtime = st.st_mtime;
    char resolved[PATH_MAX]; /* one entry per file, however the path was spelled */
    const char *path = realpath(model_path, resolved) ? resolved : model_path;
    const char *kv = kv_f16 ? " | kv f16" : "";
    int len = snprintf(buf, buf_len, "%s | %s | %lld | %lld%s", machine, path, size, mtime, kv);
    if (len >= 0 && (size_t)len < buf_len) return;
    /* a path too long for the key: its FNV-1a hash keeps two long paths from sharing a truncated key */
    uint64_t hash = 1469598103934665603ull;
    for (const char *ch = path; *ch; ch++) hash = (hash ^ (uint8_t)*ch) * 1099511628211ull;
    snprintf(buf, buf_len, "%.200s | path#%016llx | %lld | %lld%s", machine, (unsigned long long)hash, size, mtime, kv);
}

static bool int_array(const cJSON *arr, int *out, int max, int *n) {
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) < 1 || cJSON_GetArraySize(arr) > max) return false;
    *n = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, arr) {
        if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > 1e6) return false;
        out[(*n)++] = v->valueint;
        if (*n > 1 && out[*n - 1] <= out[*n - 2]) return false; /* ascending */
    }
    return true;
}

static bool parse_curve(const cJSON *e, cost_curve *c) {
    memset(c, 0, sizeof *c);
    if (!int_array(cJSON_GetObjectItem(e, "sizes"), c->sizes, COST_MAX_SIZES, &c->n_sizes) ||
        !int_array(cJSON_GetObjectItem(e, "contexts"), c->ctx, COST_MAX_CTX, &c->n_ctx))
        return false;
    const cJSON *rows = cJSON_GetObjectItem(e, "seconds");
    if (!cJSON_IsArray(rows) || cJSON_GetArraySize(rows) != c->n_ctx) return false;
    for (int j = 0; j < c->n_ctx; j++) {
        const cJSON *row = cJSON_GetArrayItem(rows, j);
        if (!cJSON_IsArray(row) || cJSON_GetArraySize(row) != c->n_sizes) return false;
        for (int i = 0; i < c->n_sizes; i++) {
            const cJSON *v = cJSON_GetArrayItem(row, i);
            if (!cJSON_IsNumber(v) || !(v->valuedouble > 0 && v->valuedouble < 1e3)) return false;
            c->seconds[j][i] = v->valuedouble;
        }
    }
    return true;
}

int calib_load(const char *profile_path, const char *model_path, bool kv_f16, cost_curve *out, char *err,
               size_t err_len) {
    bool corrupt;
    cJSON *root = read_profile(profile_path, err, err_len, &corrupt);
    if (!root) return corrupt ? -1 : 1;
    char key[1200];
    entry_key(model_path, kv_f16, key, sizeof key);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItem(root, "models"), key);
    int rc = 1;
    if (e) {
        rc = parse_curve(e, out) ? 0 : -1;
        if (rc < 0) snprintf(err, err_len, "%s: corrupt calibration entry for %s", profile_path, model_path);
    }
    cJSON_Delete(root);
    return rc;
}

static cJSON *curve_json(const cost_curve *c) {
    cJSON *e = cJSON_CreateObject();
    cJSON_AddItemToObject(e, "sizes", cJSON_CreateIntArray(c->sizes, c->n_sizes));
    cJSON_AddItemToObject(e, "contexts", cJSON_CreateIntArray(c->ctx, c->n_ctx));
    cJSON *rows = cJSON_AddArrayToObject(e, "seconds");
    for (int j = 0; j < c->n_ctx; j++) cJSON_AddItemToArray(rows, cJSON_CreateDoubleArray(c->seconds[j], c->n_sizes));
    return e;
}

static void make_parent_dirs(const char *path) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", path);
    for (char *p = dir + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(dir, 0755);
            *p = '/';
        }
}

int calib_save(const char *profile_path, const char *model_path, bool kv_f16, const cost_curve *c, char *err,
               size_t err_len) {
    bool corrupt;
    char ignored[256];
    cJSON *root = read_profile(profile_path, ignored, sizeof ignored, &corrupt);
    if (!root) root = cJSON_CreateObject(); /* a corrupt profile is replaced */
    cJSON *models = cJSON_GetObjectItem(root, "models");
    if (!cJSON_IsObject(models)) {
        cJSON_DeleteItemFromObject(root, "models");
        models = cJSON_AddObjectToObject(root, "models");
    }
    char key[1200];
    entry_key(model_path, kv_f16, key, sizeof key);
    cJSON_DeleteItemFromObjectCaseSensitive(models, key);
    cJSON_AddItemToObject(models, key, curve_json(c));
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    make_parent_dirs(profile_path);
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", profile_path, (int)getpid());
    FILE *f = fopen(tmp, "w");
    bool ok = f && text && fputs(text, f) >= 0;
    if (f) ok = fclose(f) == 0 && ok;
    ok = ok && rename(tmp, profile_path) == 0;
    if (!ok) {
        snprintf(err, err_len, "%s: cannot write the calibration profile: %s", profile_path, strerror(errno));
        unlink(tmp);
    }
    free(text);
    return ok ? 0 : -1;
}

int calib_get(const char *profile_path, const aion_model *m, const char *model_path, bool kv_f16, aion_threads *t,
              const decode_config *dc, cost_curve *out, bool *measured, char *err, size_t err_len) {
    *measured = false;
    char why[512] = "";
    int rc = calib_load(profile_path, model_path, kv_f16, out, why, sizeof why);
    if (rc == 0) return 0;
    if (rc < 0) fprintf(stderr, "warning: %s; measuring again\n", why);
    if (calib_measure(m, t, dc, kv_f16, 5, out, err, err_len) < 0) return -1;
    *measured = true;
    if (calib_save(profile_path, model_path, kv_f16, out, why, sizeof why) < 0) fprintf(stderr, "warning: %s\n", why);
    return 0;
}
