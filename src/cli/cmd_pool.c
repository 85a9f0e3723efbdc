/*
 * cmd_pool.c - `aio pool` and `aio calibrate`: the resident model pool.
 *
 * `aio pool` loads the pool as the orchestrator would (memory budget, shared
 * vocabulary, policy, calibration) and prints each member's bytes; `aio
 * calibrate` re-measures every member's forward-time curve and saves it to the
 * profile the orchestrator loads at start, for the KV cache type given (`--kv`,
 * as `aio run` and `aio serve` take it: each type has its own curves).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "common.h"
#include "orch/calibrate.h"
#include "orch/orch.h"

typedef struct pool_opts {
    const char *paths[ORCH_MAX_MODELS];
    int n_paths, n_threads, kv_f16;
    const char *policy, *profile;
    uint64_t budget_mb;
    char default_paths[2][4096];
} pool_opts;

static int parse_pool_args(int argc, char **argv, pool_opts *o, const char *usage) {
    *o = (pool_opts){0};
    for (int i = 1; i < argc; i++) {
        bool ok = true;
        if (opt_is(argv[i], "-m", "--model")) {
            ok = o->n_paths < ORCH_MAX_MODELS && opt_str(argc, argv, &i, &o->paths[o->n_paths]);
            if (ok) o->n_paths++;
        } else if (opt_is(argv[i], NULL, "--policy")) ok = opt_str(argc, argv, &i, &o->policy);
        else if (opt_is(argv[i], NULL, "--profile")) ok = opt_str(argc, argv, &i, &o->profile);
        else if (opt_is(argv[i], NULL, "--mem-budget")) ok = opt_u64(argc, argv, &i, &o->budget_mb);
        else if (opt_is(argv[i], "-t", "--threads")) ok = opt_int(argc, argv, &i, &o->n_threads);
        else if (opt_is(argv[i], NULL, "--kv")) ok = opt_kv(argc, argv, &i, &o->kv_f16);
        else ok = false;
        if (!ok) {
            fprintf(stderr, "%s", usage);
            return 2;
        }
    }
    return 0;
}

static orch *open_pool(pool_opts *o, aion_threads *t) {
    if (o->n_paths == 0) {
        if (!default_model_path("aio-small", o->default_paths[0], sizeof o->default_paths[0]) ||
            !default_model_path("aio-large", o->default_paths[1], sizeof o->default_paths[1])) {
            fprintf(stderr, "error: no -m models and the embedded family was not found\n");
            return NULL;
        }
        o->paths[0] = o->default_paths[0];
        o->paths[1] = o->default_paths[1];
        o->n_paths = 2;
    }
    orch_params op = {.n_models = o->n_paths, .policy_path = o->policy, .profile_path = o->profile,
                      .mem_budget = o->budget_mb << 20, .threads = t, .kv_f16 = o->kv_f16};
    memcpy(op.model_paths, o->paths, sizeof o->paths);
    char err[512];
    orch *orc = orch_new(&op, err, sizeof err);
    if (!orc) fprintf(stderr, "error: %s\n", err);
    return orc;
}

static void print_curve(const char *name, const cost_curve *c) {
    printf("%s forward seconds (rows: context, columns: tokens)\n| context |", name);
    for (int i = 0; i < c->n_sizes; i++) printf(" n=%d |", c->sizes[i]);
    printf("\n|---|");
    for (int i = 0; i < c->n_sizes; i++) printf("---|");
    printf("\n");
    for (int j = 0; j < c->n_ctx; j++) {
        printf("| %d |", c->ctx[j]);
        for (int i = 0; i < c->n_sizes; i++) printf(" %.3f ms |", c->seconds[j][i] * 1e3);
        printf("\n");
    }
}

int cmd_pool(int argc, char **argv) {
    pool_opts o;
    int rc = parse_pool_args(argc, argv, &o, "usage: aio pool [-m MODEL ...] [--mem-budget MIB] [--policy F] [--profile F] [--kv f32|f16]\n");
    if (rc) return rc;
    aion_threads *t = aion_threads_new(o.n_threads);
    orch *orc = open_pool(&o, t);
    if (orc) {
        printf("| member | parameters | weights MiB | KV budget MiB | context | calibration |\n|---|---|---|---|---|---|\n");
        double total = 0;
        for (int i = 0; i < orch_n_models(orc); i++) {
            aion_model_info info;
            aion_model_get_info(orch_model(orc, i), &info);
            double kv = orch_kv_bytes(orc, i) / 1048576.0, w = info.weight_bytes / 1048576.0;
            total += kv + w;
            printf("| %s | %.2f M | %.2f | %.2f | %d | %s |\n", orch_model_name(orc, i), info.n_params / 1e6, w, kv,
                   info.n_ctx_train, orch_curve_measured(orc, i) ? "measured now" : "from profile");
        }
        printf("\ntotal resident: %.2f MiB%s\n", total, o.budget_mb ? "" : " (no --mem-budget given)");
    }
    orch_free(orc);
    aion_threads_free(t);
    return orc ? 0 : 1;
}

int cmd_calibrate(int argc, char **argv) {
    pool_opts o;
    int rc = parse_pool_args(argc, argv, &o, "usage: aio calibrate [-m MODEL ...] [--profile F] [-t N] [--kv f32|f16]\n");
    if (rc) return rc;
    aion_threads *t = aion_threads_new(o.n_threads);
    orch *orc = open_pool(&o, t);
    char def[1024], err[512];
    const char *profile = o.profile ? o.profile : calib_default_path(def, sizeof def);
    decode_config dc = decode_default_config();
    for (int i = 0; orc && i < orch_n_models(orc) && rc == 0; i++) {
        cost_curve c;
        if (calib_measure(orch_model(orc, i), t, &dc, o.kv_f16, 7, &c, err, sizeof err) < 0 ||
            calib_save(profile, o.paths[i], o.kv_f16, &c, err, sizeof err) < 0) {
            fprintf(stderr, "error: %s\n", err);
            rc = 1;
            break;
        }
        print_curve(orch_model_name(orc, i), &c);
    }
    if (orc && rc == 0) printf("\nsaved to %s (KV cache %s)\n", profile, o.kv_f16 ? "f16" : "f32");
    orch_free(orc);
    aion_threads_free(t);
    return orc ? rc : 1;
}
