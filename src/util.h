/*
 * util.h - the two helpers every module needs: one-line error messages and a
 * monotonic clock. Kept here once so that no module carries its own copy.
 */
#ifndef AION_UTIL_H
#define AION_UTIL_H

#include <stddef.h>

/* printf into err (if err and err_len are set); the engine's way of saying what went wrong. */
void set_err(char *err, size_t err_len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Seconds on the monotonic clock. */
double now_seconds(void);

#endif
