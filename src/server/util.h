/*
 * util.h - small helpers the server files share: a growable string, a
 * monotonic clock, UTF-8 repair for JSON output and a constant-time compare.
 *
 * Kept apart so that each server file stays about one thing; none of these
 * hold state beyond what the caller passes in.
 */
#ifndef AION_SERVER_UTIL_H
#define AION_SERVER_UTIL_H

#include <stdbool.h>
#include <stddef.h>

/* A growable NUL-terminated string. On allocation failure it sets `failed` and ignores further
 * appends, so callers check once at the end. */
typedef struct sbuf {
    char *s;
    size_t len, cap;
    bool failed;
} sbuf;

void sbuf_put(sbuf *b, const char *s, size_t n);
void sbuf_puts(sbuf *b, const char *s);
void sbuf_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hands the string over (caller frees); NULL when an append failed. The sbuf is reset. */
char *sbuf_take(sbuf *b);
void sbuf_free(sbuf *b);

double mono_seconds(void);

/* A malloc'd copy of s[0..n) with every invalid UTF-8 sequence replaced by U+FFFD: JSON strings
 * must be valid UTF-8, and model output (byte tokens) need not be. */
char *utf8_repair(const char *s, size_t n);

/* Equality of two strings in time that depends only on the length of `secret`. */
bool secret_equal(const char *given, const char *secret);

#endif
