/*
 * safetensors.c - reads safetensors files and sharded checkpoints for `aio convert`.
 *
 * The header is untrusted JSON: it is copied out of the mapping into a
 * NUL-terminated buffer before cJSON sees it (so no parser quirk can read past
 * the header), every number is checked to be a whole, non-negative value that
 * fits, and the tensors are then sorted by offset and required to tile the
 * data section exactly - the same rule the reference implementation enforces,
 * which also rules out overlaps - before anyone can get at their bytes. The
 * element count of a shape is computed with overflow checks and must match
 * the byte range given for the tensor.
 *
 * The shard map of a checkpoint (model.safetensors.index.json) is trusted no
 * more: shard names must be plain file names in the model's folder, and every
 * tensor must be in the shard the map says, exactly once over all shards.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safetensors.h"
#include "util.h"

/* The reference implementation refuses headers over 100 MB; so do we (before allocating). */
#define ST_MAX_HEADER (100u * 1000u * 1000u)
#define ST_MAX_EXACT_INT 9007199254740992.0 /* 2^53: beyond it a JSON number is not exact */

struct st_file {
    char *name; /* for messages */
    void *map;  /* NULL when over a caller's buffer */
    size_t map_size;
    const uint8_t *data; /* data section */
    size_t data_size;
    st_tensor *tensors; /* sorted by offset */
    int n_tensors;
    int *by_name; /* tensor indices sorted by name */
    char *names;  /* all names, NUL-separated */
};

/* Quotes at most 64 bytes of a name from the file, printable ASCII only, so errors stay one line. */
static const char *printable(char *buf, size_t buf_len, const char *s) {
    size_t o = 0, i = 0;
    for (; s[i] && i < 64 && o + 1 < buf_len; i++)
        buf[o++] = ((unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f) ? s[i] : '?';
    if (s[i] && o + 4 < buf_len) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = 0;
    return buf;
}

static int dtype_from_name(const char *s, size_t *elem_size) {
    if (strcmp(s, "F32") == 0) return *elem_size = 4, AION_DT_F32;
    if (strcmp(s, "F16") == 0) return *elem_size = 2, AION_DT_F16;
    if (strcmp(s, "BF16") == 0) return *elem_size = 2, AION_DT_BF16;
    return -1;
}

/* The other dtypes of the format: named in the error so the user knows the file is valid
 * but holds what the converter does not take. */
static bool dtype_is_known_other(const char *s) {
    static const char *const others[] = {"BOOL",    "U8",  "I8",      "I16",     "U16",     "I32",
                                         "U32",     "I64", "U64",     "F64",     "F8_E4M3", "F8_E5M2",
                                         "F8_E8M0", "F4",  "F6_E2M3", "F6_E3M2", "C64"};
    for (size_t i = 0; i < sizeof others / sizeof *others; i++)
        if (strcmp(s, others[i]) == 0) return true;
    return false;
}

/* A JSON number that is a whole value in [0, 2^53]. */
static bool json_uint(const cJSON *j, uint64_t *out) {
    if (!cJSON_IsNumber(j)) return false;
    double v = j->valuedouble;
    if (!(v >= 0 && v <= ST_MAX_EXACT_INT) || v != (double)(uint64_t)v) return false;
    *out = (uint64_t)v;
    return true;
}

typedef struct parse_state {
    st_file *f;
    char *err;
    size_t err_len;
    size_t names_used, names_cap;
} parse_state;

static bool fail(parse_state *ps, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    set_err(ps->err, ps->err_len, "%s: %s", ps->f->name, msg);
    return false;
}

static bool parse_shape(parse_state *ps, const char *name, const cJSON *shape, st_tensor *t) {
    char q[80];
    if (!cJSON_IsArray(shape)) return fail(ps, "tensor '%s': 'shape' is not an array", printable(q, sizeof q, name));
    int n = cJSON_GetArraySize(shape);
    if (n > ST_MAX_DIMS)
        return fail(ps, "tensor '%s' has %d dimensions (at most %d supported)", printable(q, sizeof q, name), n,
                    ST_MAX_DIMS);
    t->n_dims = n;
    int64_t count = 1;
    int d = 0;
    for (const cJSON *e = shape->child; e; e = e->next, d++) {
        uint64_t v;
        if (!json_uint(e, &v) || v > (uint64_t)INT64_MAX)
            return fail(ps, "tensor '%s': dimension %d is not a non-negative integer", printable(q, sizeof q, name), d);
        t->shape[d] = (int64_t)v;
        if (v != 0 && count > INT64_MAX / (int64_t)v)
            return fail(ps, "tensor '%s': the element count overflows", printable(q, sizeof q, name));
        count *= (int64_t)v;
    }
    for (; d < ST_MAX_DIMS; d++)
        t->shape[d] = 1;
    t->n_elems = count;
    return true;
}

/* Stores begin in t->data as an offset for now (the data pointer is set once all are checked). */
static bool parse_offsets(parse_state *ps, const char *name, const cJSON *offs, size_t elem_size, st_tensor *t,
                          uint64_t *begin) {
    char q[80];
    uint64_t b, e;
    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2 || !json_uint(offs->child, &b) ||
        !json_uint(offs->child->next, &e))
        return fail(ps, "tensor '%s': 'data_offsets' is not a pair of non-negative integers",
                    printable(q, sizeof q, name));
    if (e < b)
        return fail(ps, "tensor '%s': data_offsets [%llu, %llu] end before they begin", printable(q, sizeof q, name),
                    (unsigned long long)b, (unsigned long long)e);
    if (e > ps->f->data_size)
        return fail(ps, "tensor '%s': data_offsets [%llu, %llu] lie outside the %zu-byte data section",
                    printable(q, sizeof q, name), (unsigned long long)b, (unsigned long long)e, ps->f->data_size);
    if ((uint64_t)t->n_elems > (uint64_t)SIZE_MAX / elem_size || (uint64_t)t->n_elems * elem_size != e - b)
        return fail(ps, "tensor '%s': %llu bytes for %lld elements of its dtype", printable(q, sizeof q, name),
                    (unsigned long long)(e - b), (long long)t->n_elems);
    t->n_bytes = (size_t)(e - b);
    *begin = b;
    return true;
}

static bool store_name(parse_state *ps, const char *name, size_t *at) {
    size_t n = strlen(name) + 1;
    if (ps->names_used + n > ps->names_cap) {
        size_t cap = (ps->names_used + n) * 2;
        char *p = realloc(ps->f->names, cap);
        if (!p) return fail(ps, "out of memory");
        ps->f->names = p;
        ps->names_cap = cap;
    }
    memcpy(ps->f->names + ps->names_used, name, n);
    *at = ps->names_used;
    ps->names_used += n;
    return true;
}

static bool parse_entry(parse_state *ps, const cJSON *e, st_tensor *t, uint64_t *begin, size_t *name_at) {
    char q[80];
    const char *name = e->string;
    if (!cJSON_IsObject(e)) return fail(ps, "entry '%s' of the header is not an object", printable(q, sizeof q, name));
    if (name[0] == 0) return fail(ps, "a tensor has an empty name");
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    if (!cJSON_IsString(dt)) return fail(ps, "tensor '%s' has no 'dtype' string", printable(q, sizeof q, name));
    size_t elem_size = 0;
    int type = dtype_from_name(dt->valuestring, &elem_size);
    if (type < 0) {
        char qd[80];
        if (dtype_is_known_other(dt->valuestring))
            return fail(ps, "tensor '%s' has dtype %s (only F32, F16 and BF16 are supported)",
                        printable(q, sizeof q, name), printable(qd, sizeof qd, dt->valuestring));
        return fail(ps, "tensor '%s' has unknown dtype '%s'", printable(q, sizeof q, name),
                    printable(qd, sizeof qd, dt->valuestring));
    }
    t->type = (enum aion_dtype)type;
    if (!parse_shape(ps, name, cJSON_GetObjectItemCaseSensitive(e, "shape"), t)) return false;
    if (!parse_offsets(ps, name, cJSON_GetObjectItemCaseSensitive(e, "data_offsets"), elem_size, t, begin))
        return false;
    return store_name(ps, name, name_at);
}

typedef struct placed {
    uint64_t begin;
    st_tensor t;
    size_t name_at;
} placed;

static int cmp_placed(const void *a, const void *b) {
    const placed *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->t.n_bytes < y->t.n_bytes ? -1 : x->t.n_bytes > y->t.n_bytes;
}

/* Sorted by offset, each tensor must start where the previous one ended and the last must end
 * at the end of the data section: no byte is claimed twice and none is left unaccounted for. */
static bool check_tiling(parse_state *ps, const placed *p, int n) {
    char q[80];
    uint64_t at = 0;
    for (int i = 0; i < n; i++) {
        const char *name = ps->f->names + p[i].name_at;
        if (p[i].begin < at)
            return fail(ps, "tensor '%s' at bytes [%llu, %llu) overlaps the tensor before it",
                        printable(q, sizeof q, name), (unsigned long long)p[i].begin,
                        (unsigned long long)(p[i].begin + p[i].t.n_bytes));
        if (p[i].begin > at)
            return fail(ps, "gap of %llu unused bytes before tensor '%s' in the data section",
                        (unsigned long long)(p[i].begin - at), printable(q, sizeof q, name));
        at = p[i].begin + p[i].t.n_bytes;
    }
    if (at != ps->f->data_size)
        return fail(ps, "the tensors cover %llu bytes but the data section has %zu", (unsigned long long)at,
                    ps->f->data_size);
    return true;
}

typedef struct name_ref {
    const char *name;
    int index;
} name_ref;

static int cmp_name_ref(const void *a, const void *b) {
    return strcmp(((const name_ref *)a)->name, ((const name_ref *)b)->name);
}

static bool build_name_index(parse_state *ps) {
    st_file *f = ps->f;
    int n = f->n_tensors;
    name_ref *refs = malloc((size_t)(n ? n : 1) * sizeof *refs);
    f->by_name = malloc((size_t)(n ? n : 1) * sizeof *f->by_name);
    if (!refs || !f->by_name) {
        free(refs);
        return fail(ps, "out of memory");
    }
    for (int i = 0; i < n; i++)
        refs[i] = (name_ref){f->tensors[i].name, i};
    qsort(refs, (size_t)n, sizeof *refs, cmp_name_ref);
    for (int i = 0; i < n; i++) {
        if (i > 0 && strcmp(refs[i].name, refs[i - 1].name) == 0) {
            char q[80];
            fail(ps, "tensor '%s' appears twice in the header", printable(q, sizeof q, refs[i].name));
            free(refs);
            return false;
        }
        f->by_name[i] = refs[i].index;
    }
    free(refs);
    return true;
}

static bool parse_tensors(parse_state *ps, const cJSON *root) {
    st_file *f = ps->f;
    int n_entries = cJSON_GetArraySize(root);
    placed *p = malloc((size_t)(n_entries ? n_entries : 1) * sizeof *p);
    if (!p) return fail(ps, "out of memory");
    int n = 0;
    for (const cJSON *e = root->child; e; e = e->next) {
        if (!e->string) continue;
        if (strcmp(e->string, "__metadata__") == 0) continue; /* free-form strings; nothing we need */
        p[n] = (placed){0};
        if (!parse_entry(ps, e, &p[n].t, &p[n].begin, &p[n].name_at)) {
            free(p);
            return false;
        }
        n++;
    }
    qsort(p, (size_t)n, sizeof *p, cmp_placed);
    if (!check_tiling(ps, p, n)) {
        free(p);
        return false;
    }
    f->tensors = malloc((size_t)(n ? n : 1) * sizeof *f->tensors);
    if (!f->tensors) {
        free(p);
        return fail(ps, "out of memory");
    }
    for (int i = 0; i < n; i++) {
        f->tensors[i] = p[i].t;
        f->tensors[i].name = f->names + p[i].name_at;
        f->tensors[i].data = f->data + p[i].begin;
    }
    f->n_tensors = n;
    free(p);
    return build_name_index(ps);
}

static uint64_t load_le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Everything after the JSON value must be padding (the format pads the header with spaces). */
static bool only_whitespace(const char *s, const char *end) {
    for (; s < end; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r') return false;
    return true;
}

static bool parse_file(parse_state *ps, const uint8_t *bytes, size_t size) {
    if (size < 8) return fail(ps, "file too short (%zu bytes) for the 8-byte header length", size);
    uint64_t hlen = load_le64(bytes);
    if (hlen > size - 8)
        return fail(ps, "header length %llu exceeds the %zu bytes after it", (unsigned long long)hlen, size - 8);
    if (hlen > ST_MAX_HEADER) return fail(ps, "header length %llu exceeds the 100 MB limit", (unsigned long long)hlen);
    if (hlen < 2 || bytes[8] != '{') return fail(ps, "header is not a JSON object");
    ps->f->data = bytes + 8 + hlen;
    ps->f->data_size = size - 8 - (size_t)hlen;
    char *json = malloc((size_t)hlen + 1);
    if (!json) return fail(ps, "out of memory for a %llu-byte header", (unsigned long long)hlen);
    memcpy(json, bytes + 8, (size_t)hlen);
    json[hlen] = 0;
    if (memchr(json, 0, (size_t)hlen)) {
        free(json);
        return fail(ps, "header holds a NUL byte");
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(json, &end, false);
    bool ok;
    if (!root || !end || !only_whitespace(end, json + hlen))
        ok = fail(ps, "header is not valid JSON (near byte %ld of it)",
                  (long)((end                   ? end
                          : cJSON_GetErrorPtr() ? cJSON_GetErrorPtr()
                                                : json) -
                         json));
    else if (!cJSON_IsObject(root))
        ok = fail(ps, "header is not a JSON object");
    else
        ok = parse_tensors(ps, root);
    cJSON_Delete(root);
    free(json);
    return ok;
}

void st_close(st_file *f) {
    if (!f) return;
    if (f->map) munmap(f->map, f->map_size);
    free(f->tensors);
    free(f->by_name);
    free(f->names);
    free(f->name);
    free(f);
}

st_file *st_open_buffer(const void *data, size_t size, const char *name, char *err, size_t err_len) {
    st_file *f = calloc(1, sizeof *f);
    if (!f || !(f->name = strdup(name ? name : "(buffer)"))) {
        free(f);
        set_err(err, err_len, "%s: out of memory", name ? name : "(buffer)");
        return NULL;
    }
    parse_state ps = {f, err, err_len, 0, 0};
    if (!parse_file(&ps, data, size)) {
        st_close(f);
        return NULL;
    }
    return f;
}

st_file *st_open(const char *path, char *err, size_t err_len) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        set_err(err, err_len, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        set_err(err, err_len, "%s: not a regular file", path);
        close(fd);
        return NULL;
    }
    size_t size = (size_t)sb.st_size;
    void *map = NULL;
    if (size > 0) {
        map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            set_err(err, err_len, "%s: cannot map: %s", path, strerror(errno));
            close(fd);
            return NULL;
        }
    }
    close(fd);
    static const uint8_t empty[1] = {0};
    st_file *f = st_open_buffer(map ? map : empty, size, path, err, err_len);
    if (!f) {
        if (map) munmap(map, size);
        return NULL;
    }
    f->map = map;
    f->map_size = size;
    return f;
}

int st_n_tensors(const st_file *f) { return f->n_tensors; }

const st_tensor *st_get_tensor(const st_file *f, int i) { return i >= 0 && i < f->n_tensors ? &f->tensors[i] : NULL; }

const st_tensor *st_find_tensor(const st_file *f, const char *name) {
    int lo = 0, hi = f->n_tensors - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        const st_tensor *t = &f->tensors[f->by_name[mid]];
        int c = strcmp(name, t->name);
        if (c == 0) return t;
        if (c < 0)
            hi = mid - 1;
        else
            lo = mid + 1;
    }
    return NULL;
}

void st_read_f32(const st_tensor *t, int64_t first, int64_t n, float *out) {
    const uint8_t *p = t->data;
    if (t->type == AION_DT_F32) {
        memcpy(out, p + (size_t)first * 4, (size_t)n * 4); /* the data section has no alignment guarantee */
        return;
    }
    p += (size_t)first * 2;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h = (uint16_t)(p[2 * i] | p[2 * i + 1] << 8);
        out[i] = t->type == AION_DT_F16 ? quant_f16_to_f32(h) : quant_bf16_to_f32(h);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Checkpoints: one file or the shards of an index. */

struct st_model {
    st_file **files;
    int n_files;
    const st_tensor **tensors; /* all tensors of all shards, sorted by name */
    int n_tensors;
};

void st_model_close(st_model *m) {
    if (!m) return;
    for (int i = 0; i < m->n_files; i++)
        st_close(m->files[i]);
    free(m->files);
    free(m->tensors);
    free(m);
}

static int cmp_tensor_ptr_name(const void *a, const void *b) {
    return strcmp((*(const st_tensor *const *)a)->name, (*(const st_tensor *const *)b)->name);
}

static char *join_path(const char *dir, const char *file) {
    size_t n = strlen(dir) + strlen(file) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, file);
    return p;
}

static bool model_add_file(st_model *m, const char *path, char *err, size_t err_len) {
    st_file **files = realloc(m->files, (size_t)(m->n_files + 1) * sizeof *files);
    if (!files) {
        set_err(err, err_len, "%s: out of memory", path);
        return false;
    }
    m->files = files;
    st_file *f = st_open(path, err, err_len);
    if (!f) return false;
    m->files[m->n_files++] = f;
    return true;
}

/* Shard file names come from JSON: only plain names inside the model folder are accepted. */
static bool shard_name_ok(const char *s) {
    return s[0] && s[0] != '.' && !strchr(s, '/') && !strchr(s, '\\') && strlen(s) < 256;
}

static char *read_whole(const char *path, size_t *len, char *err, size_t err_len) {
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        set_err(err, err_len, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t used = 0, cap = 0;
    for (;;) {
        if (used + 65536 + 1 > cap) {
            cap = (used + 65536 + 1) * 2;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(fp);
                set_err(err, err_len, "%s: out of memory", path);
                return NULL;
            }
            buf = nb;
        }
        size_t got = fread(buf + used, 1, 65536, fp);
        used += got;
        if (got < 65536) break;
    }
    bool bad = ferror(fp);
    fclose(fp);
    if (bad) {
        free(buf);
        set_err(err, err_len, "%s: read error", path);
        return NULL;
    }
    buf[used] = 0;
    *len = used;
    return buf;
}

/* The distinct shard names of the weight map, in first-seen order, checked. */
static bool open_shards(st_model *m, const char *dir, const char *index_path, const cJSON *map, char *err,
                        size_t err_len) {
    char q[80];
    for (const cJSON *e = map->child; e; e = e->next) {
        if (!cJSON_IsString(e) || !shard_name_ok(e->valuestring)) {
            set_err(err, err_len, "%s: weight_map entry '%s' does not name a shard file in the folder", index_path,
                    printable(q, sizeof q, e->string ? e->string : ""));
            return false;
        }
        bool seen = false;
        for (const cJSON *b = map->child; b != e && !seen; b = b->next)
            seen = strcmp(b->valuestring, e->valuestring) == 0;
        if (seen) continue;
        char *path = join_path(dir, e->valuestring);
        bool ok = path && model_add_file(m, path, err, err_len);
        free(path);
        if (!ok) return false;
    }
    return true;
}

/* Each tensor of the map is in the shard it names; the shards hold nothing else. */
static bool check_shards(const st_model *m, const char *dir, const char *index_path, const cJSON *map, char *err,
                         size_t err_len) {
    char q[80];
    int n_map = 0;
    for (const cJSON *e = map->child; e; e = e->next, n_map++) {
        const st_tensor *found = NULL;
        size_t want_len = strlen(dir) + 1 + strlen(e->valuestring);
        for (int i = 0; i < m->n_files && !found; i++) {
            const char *fname = m->files[i]->name;
            if (strlen(fname) == want_len && strcmp(fname + strlen(dir) + 1, e->valuestring) == 0)
                found = st_find_tensor(m->files[i], e->string);
        }
        if (!found) {
            char qs[80];
            set_err(err, err_len, "%s: tensor '%s' is not in its shard %s", index_path,
                    printable(q, sizeof q, e->string), printable(qs, sizeof qs, e->valuestring));
            return false;
        }
    }
    if (n_map != m->n_tensors) {
        set_err(err, err_len, "%s: the shards hold %d tensors but the weight_map lists %d", index_path, m->n_tensors,
                n_map);
        return false;
    }
    return true;
}

static bool open_index(st_model *m, const char *dir, const char *index_path, char *err, size_t err_len) {
    size_t len;
    char *text = read_whole(index_path, &len, err, err_len);
    if (!text) return false;
    cJSON *root = cJSON_ParseWithLength(text, len);
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    bool ok = false;
    if (!root)
        set_err(err, err_len, "%s: not valid JSON", index_path);
    else if (!cJSON_IsObject(map))
        set_err(err, err_len, "%s: no 'weight_map' object", index_path);
    else if (!map->child)
        set_err(err, err_len, "%s: the weight_map is empty", index_path);
    else
        ok = open_shards(m, dir, index_path, map, err, err_len);
    if (ok) {
        m->n_tensors = 0;
        for (int i = 0; i < m->n_files; i++)
            m->n_tensors += m->files[i]->n_tensors;
        ok = check_shards(m, dir, index_path, map, err, err_len);
    }
    cJSON_Delete(root);
    free(text);
    return ok;
}

static bool index_model_tensors(st_model *m, const char *dir, char *err, size_t err_len) {
    int n = 0;
    for (int i = 0; i < m->n_files; i++)
        n += m->files[i]->n_tensors;
    m->tensors = malloc((size_t)(n ? n : 1) * sizeof *m->tensors);
    if (!m->tensors) {
        set_err(err, err_len, "%s: out of memory", dir);
        return false;
    }
    m->n_tensors = 0;
    for (int i = 0; i < m->n_files; i++)
        for (int j = 0; j < m->files[i]->n_tensors; j++)
            m->tensors[m->n_tensors++] = &m->files[i]->tensors[j];
    qsort(m->tensors, (size_t)n, sizeof *m->tensors, cmp_tensor_ptr_name);
    for (int i = 1; i < n; i++)
        if (strcmp(m->tensors[i]->name, m->tensors[i - 1]->name) == 0) {
            char q[80];
            set_err(err, err_len, "%s: tensor '%s' is in two shards", dir, printable(q, sizeof q, m->tensors[i]->name));
            return false;
        }
    return true;
}

st_model *st_model_open(const char *dir, char *err, size_t err_len) {
    st_model *m = calloc(1, sizeof *m);
    char *index_path = join_path(dir, "model.safetensors.index.json");
    char *single_path = join_path(dir, "model.safetensors");
    bool ok = m && index_path && single_path;
    if (!ok)
        set_err(err, err_len, "%s: out of memory", dir);
    else if (access(index_path, F_OK) == 0)
        ok = open_index(m, dir, index_path, err, err_len);
    else if (access(single_path, F_OK) == 0)
        ok = model_add_file(m, single_path, err, err_len);
    else {
        set_err(err, err_len, "%s: no model.safetensors or model.safetensors.index.json in the folder", dir);
        ok = false;
    }
    if (ok) ok = index_model_tensors(m, dir, err, err_len);
    free(index_path);
    free(single_path);
    if (!ok) {
        st_model_close(m);
        return NULL;
    }
    return m;
}

int st_model_n_tensors(const st_model *m) { return m->n_tensors; }

const st_tensor *st_model_tensor(const st_model *m, int i) { return i >= 0 && i < m->n_tensors ? m->tensors[i] : NULL; }

const st_tensor *st_model_find(const st_model *m, const char *name) {
    int lo = 0, hi = m->n_tensors - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(name, m->tensors[mid]->name);
        if (c == 0) return m->tensors[mid];
        if (c < 0)
            hi = mid - 1;
        else
            lo = mid + 1;
    }
    return NULL;
}
