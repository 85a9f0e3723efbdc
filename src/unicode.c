/*
 * unicode.c - UTF-8 coding, property lookup and the GPT-2 byte alphabet.
 *
 * Owns the code behind unicode.h; the data lives in the generated
 * unicode_data.c. Kept apart from the tokenizers so the property table has one
 * reader and the lenient decoding rules (see unicode.h) are written once.
 */
#include "unicode.h"

uint8_t uni_props(uint32_t cp) {
    if (cp < 128) return uni_ascii[cp];
    if (cp >= UNI_MAX_CP) return UNI_Cn;
    /* Last range whose first code point is <= cp; entry 0 starts at 0 so one always exists. */
    size_t lo = 0, hi = uni_n_ranges;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if ((uni_ranges[mid] >> 8) <= cp) lo = mid;
        else hi = mid;
    }
    return (uint8_t)(uni_ranges[lo] & 0xff);
}

static bool is_continuation(unsigned char c) { return (c & 0xc0) == 0x80; }

/* True when s[1..need) exist and are all continuation bytes. */
static bool has_tail(const unsigned char *s, size_t n, size_t need) {
    if (n < need) return false;
    for (size_t i = 1; i < need; i++)
        if (!is_continuation(s[i])) return false;
    return true;
}

uint32_t uni_decode(const char *str, size_t n, size_t *adv) {
    const unsigned char *s = (const unsigned char *)str;
    unsigned char b = s[0];
    uint32_t cp;
    size_t need;
    if (b < 0x80) {
        *adv = 1;
        return b;
    }
    if (!(b & 0x40)) goto invalid; /* a stray continuation byte */
    if (!(b & 0x20)) {
        need = 2;
        cp = b & 0x1f;
    } else if (!(b & 0x10)) {
        need = 3;
        cp = b & 0x0f;
    } else if (!(b & 0x08)) {
        need = 4;
        cp = b & 0x07;
    } else {
        goto invalid;
    }
    if (!has_tail(s, n, need)) goto invalid;
    for (size_t i = 1; i < need; i++) cp = (cp << 6) | (s[i] & 0x3f);
    /* llama.cpp would throw re-encoding these; we call them malformed instead of failing. */
    if (cp >= UNI_MAX_CP) goto invalid;
    *adv = need;
    return cp;
invalid:
    *adv = 1;
    return UNI_REPLACEMENT;
}

int uni_encode(uint32_t cp, char out[4]) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | ((cp >> 18) & 0x07));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* GPT-2 keeps the printable Latin-1 bytes as themselves and numbers the other 68 bytes, in
 * byte order, from U+0100: 0x00-0x20 -> 256.., 0x7F-0xA0 -> 289.., 0xAD -> 323. */
static bool byte_is_printable(uint8_t b) {
    return (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || b >= 0xae;
}

uint32_t uni_byte_to_cp(uint8_t b) {
    if (byte_is_printable(b)) return b;
    if (b <= 0x20) return 256u + b;
    if (b <= 0xa0) return 289u + (b - 0x7fu);
    return 323u; /* 0xAD, the soft hyphen */
}

int uni_cp_to_byte(uint32_t cp) {
    if (cp < 256) return byte_is_printable((uint8_t)cp) ? (int)cp : -1;
    if (cp <= 288) return (int)(cp - 256);
    if (cp <= 322) return (int)(0x7f + (cp - 289));
    if (cp == 323) return 0xad;
    return -1;
}
