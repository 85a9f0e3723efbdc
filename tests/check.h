/*
 * check.h - the tiny assertion layer the C tests share.
 *
 * CHECK records a failure with file:line and keeps going, so one run reports
 * every broken case; check_done() prints "N passed, N failed" (a closing line
 * CI reads) and gives the exit code. SKIP exits 77, which ctest reports as
 * skipped (used when ../shared or another optional input is absent).
 */
#ifndef AION_TEST_CHECK_H
#define AION_TEST_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int check_passed_, check_failed_;

#define CHECK(cond, ...)                                                        \
    do {                                                                        \
        if (cond) {                                                             \
            check_passed_++;                                                    \
        } else {                                                                \
            check_failed_++;                                                    \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                       \
            fputc('\n', stderr);                                                \
        }                                                                       \
    } while (0)

#define CHECK_NEAR(a, b, tol, what)                                             \
    CHECK(fabs((double)(a) - (double)(b)) <= (tol), "%s: %g vs %g (tol %g)", what, (double)(a), \
          (double)(b), (double)(tol))

#define SKIP(...)                                                               \
    do {                                                                        \
        fprintf(stderr, "SKIP: ");                                              \
        fprintf(stderr, __VA_ARGS__);                                           \
        fputc('\n', stderr);                                                    \
        exit(77);                                                               \
    } while (0)

static inline int check_done(void) {
    printf("%d passed, %d failed\n", check_passed_, check_failed_);
    return check_failed_ ? 1 : 0;
}

#endif
