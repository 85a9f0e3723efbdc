/*
 * unicode.c - UTF-8 coding, property lookup and the GPT-2 byte alphabet.
 *
 * Owns the code behind unicode.h; the data lives in the generated
 * unicode_data.c and unicode_nfc.c. Kept apart from the tokenizers so the
 * property tables have one reader and the lenient decoding rules (see
 * unicode.h) are written once.
 *
 * NFC follows UAX #15 literally: decompose every character fully, sort each
 * run of combining marks by combining class (stably), then compose each
 * character with the last starter unless something between them blocks it.
 * Most text is already in NFC, which a quick check over the NFC_QC property
 * tells without touching it, so the three passes run only on text that needs
 * them.
 */
#include <stdlib.h>
#include <string.h>

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

/* ---------------------------------------------------------------- normalization (NFC) */

/* Hangul syllables are LV or LVT jamo sequences numbered arithmetically (UAX #15, 3.12). */
#define HANGUL_S 0xAC00u
#define HANGUL_L 0x1100u
#define HANGUL_V 0x1161u
#define HANGUL_T 0x11A7u /* one before the first trailing jamo: T index 0 means "none" */
#define HANGUL_L_COUNT 19u
#define HANGUL_V_COUNT 21u
#define HANGUL_T_COUNT 28u
#define HANGUL_S_COUNT (HANGUL_L_COUNT * HANGUL_V_COUNT * HANGUL_T_COUNT)

/* Below U+0300 every character is a starter with NFC_QC=Yes; below U+00C0 none decomposes. */
#define NFC_FIRST_MARK 0x300u
#define NFC_FIRST_DECOMP 0xC0u

/* A unit of text being normalized: a code point, or NFC_OPAQUE | byte for a byte that is not
 * well-formed UTF-8. Opaque units are starters that no table knows, so they compose with nothing
 * and come out as the byte they were. */
#define NFC_OPAQUE 0x80000000u

/* Runs of combining marks up to this long are sorted by insertion; longer ones (only hostile
 * text has them) by counting, so the sort stays linear. */
#define NFC_INSERTION_MAX 16

static uint32_t nfc_props(uint32_t cp) {
    if (cp < NFC_FIRST_MARK || cp >= UNI_MAX_CP) return 0;
    size_t lo = 0, hi = uni_n_nfc_ranges;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if ((uni_nfc_ranges[mid] >> 11) <= cp) lo = mid;
        else hi = mid;
    }
    return uni_nfc_ranges[lo] & 0x7ff;
}

uint8_t uni_ccc(uint32_t cp) { return (uint8_t)(nfc_props(cp) & 0xff); }

bool uni_is_nfc(const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    uint8_t last_ccc = 0;
    for (size_t i = 0, adv; i < n; i += adv) {
        /* Bytes below 0xCC are ASCII, continuation bytes, or lead bytes of code points below
         * U+0300: all starters that NFC keeps. Taking them one byte at a time is safe. */
        if (s[i] < 0xcc) {
            last_ccc = 0;
            adv = 1;
            continue;
        }
        uint32_t props = nfc_props(uni_decode(str + i, n - i, &adv));
        uint8_t ccc = (uint8_t)(props & 0xff);
        if ((props >> 8) != UNI_NFC_QC_YES) return false;
        if (ccc != 0 && last_ccc > ccc) return false; /* marks out of canonical order */
        last_ccc = ccc;
    }
    return true;
}

/* The next unit of s[0..n): overlong sequences count as malformed here, so that every unit
 * re-encodes to exactly the bytes it came from. */
static uint32_t next_unit(const char *s, size_t n, size_t *adv) {
    char tmp[4];
    uint32_t cp = uni_decode(s, n, adv);
    if ((size_t)uni_encode(cp, tmp) == *adv) return cp;
    *adv = 1;
    return NFC_OPAQUE | (unsigned char)s[0];
}

/* The full canonical decomposition of cp from the table, or NULL (*len = 0) if it has none. */
static const uint32_t *table_decomp(uint32_t cp, size_t *len) {
    *len = 0;
    if (cp < NFC_FIRST_DECOMP || cp >= UNI_MAX_CP) return NULL;
    size_t lo = 0, hi = uni_n_decomps;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (uni_decomps[mid].cp < cp) lo = mid + 1;
        else hi = mid;
    }
    if (lo == uni_n_decomps || uni_decomps[lo].cp != cp) return NULL;
    *len = uni_decomps[lo].len;
    return uni_decomp_pool + uni_decomps[lo].off;
}

/* Writes the canonical decomposition of unit u to out (when not NULL); returns its length. */
static size_t decompose_unit(uint32_t u, uint32_t *out) {
    uint32_t s = u - HANGUL_S;
    if (s < HANGUL_S_COUNT) {
        uint32_t t = s % HANGUL_T_COUNT;
        if (out) {
            out[0] = HANGUL_L + s / (HANGUL_V_COUNT * HANGUL_T_COUNT);
            out[1] = HANGUL_V + (s % (HANGUL_V_COUNT * HANGUL_T_COUNT)) / HANGUL_T_COUNT;
            if (t) out[2] = HANGUL_T + t;
        }
        return t ? 3 : 2;
    }
    size_t len;
    const uint32_t *d = table_decomp(u, &len);
    if (!d) {
        if (out) out[0] = u;
        return 1;
    }
    if (out) memcpy(out, d, len * sizeof *d);
    return len;
}

/* The primary composite of a + b, or 0 when they do not compose (U+0000 is nobody's composite). */
static uint32_t compose_pair(uint32_t a, uint32_t b) {
    if (a - HANGUL_L < HANGUL_L_COUNT && b - HANGUL_V < HANGUL_V_COUNT)
        return HANGUL_S + ((a - HANGUL_L) * HANGUL_V_COUNT + (b - HANGUL_V)) * HANGUL_T_COUNT;
    if (a - HANGUL_S < HANGUL_S_COUNT && (a - HANGUL_S) % HANGUL_T_COUNT == 0 && b - HANGUL_T - 1 < HANGUL_T_COUNT - 1)
        return a + (b - HANGUL_T);
    size_t lo = 0, hi = uni_n_comps;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const uni_comp *c = &uni_comps[mid];
        if (c->first < a || (c->first == a && c->second < b)) lo = mid + 1;
        else hi = mid;
    }
    if (lo < uni_n_comps && uni_comps[lo].first == a && uni_comps[lo].second == b) return uni_comps[lo].composite;
    return 0;
}

/* Stable sort of a run of combining marks by class, by counting (classes are 1..254). */
static void counting_sort(uint32_t *cps, uint8_t *ccc, size_t n, uint32_t *tmp) {
    size_t count[256] = {0}, next[256];
    for (size_t i = 0; i < n; i++) count[ccc[i]]++;
    for (size_t c = 0, sum = 0; c < 256; sum += count[c++]) next[c] = sum;
    for (size_t i = 0; i < n; i++) tmp[next[ccc[i]]++] = cps[i];
    memcpy(cps, tmp, n * sizeof *cps);
    for (size_t c = 0, i = 0; c < 256; c++)
        for (size_t k = 0; k < count[c]; k++) ccc[i++] = (uint8_t)c;
}

/* Canonical ordering: every maximal run of non-starters sorted by combining class, stably. */
static void canonical_order(uint32_t *cps, uint8_t *ccc, size_t n, uint32_t *tmp) {
    for (size_t i = 0; i < n;) {
        if (ccc[i] == 0) {
            i++;
            continue;
        }
        size_t end = i;
        while (end < n && ccc[end] != 0) end++;
        if (end - i > NFC_INSERTION_MAX) {
            counting_sort(cps + i, ccc + i, end - i, tmp);
        } else {
            for (size_t j = i + 1; j < end; j++) {
                uint32_t cp = cps[j];
                uint8_t cc = ccc[j];
                size_t k = j;
                for (; k > i && ccc[k - 1] > cc; k--) {
                    cps[k] = cps[k - 1];
                    ccc[k] = ccc[k - 1];
                }
                cps[k] = cp;
                ccc[k] = cc;
            }
        }
        i = end;
    }
}

/* Canonical composition in place; returns the new length. A character joins the last starter
 * when it is next to it, or when every character between them has a lower (nonzero) class:
 * after canonical ordering it is enough to compare with the last character kept. */
static size_t compose(uint32_t *cps, uint8_t *ccc, size_t n) {
    size_t w = 0, starter = SIZE_MAX;
    uint8_t last_ccc = 0;
    for (size_t r = 0; r < n; r++) {
        uint32_t cp = cps[r];
        uint8_t cc = ccc[r];
        if (starter != SIZE_MAX && (w == starter + 1 || last_ccc < cc)) {
            uint32_t joined = compose_pair(cps[starter], cp);
            if (joined) {
                cps[starter] = joined;
                continue;
            }
        }
        if (cc == 0) starter = w;
        last_ccc = cc;
        cps[w] = cp;
        ccc[w] = cc;
        w++;
    }
    return w;
}

char *uni_nfc(const char *s, size_t n, size_t *out_len) {
    /* Decomposition at most quadruples the units (a table entry has up to 4 code points,
     * a Hangul syllable 3); that bounds every size below. */
    if (n > SIZE_MAX / 16 - 1) return NULL;
    size_t units = 0;
    for (size_t i = 0, adv; i < n; i += adv) units += decompose_unit(next_unit(s + i, n - i, &adv), NULL);
    uint32_t *cps = malloc((units ? units : 1) * sizeof *cps);
    uint32_t *tmp = malloc((units ? units : 1) * sizeof *tmp);
    uint8_t *ccc = malloc(units ? units : 1);
    char *out = malloc(units * 4 + 1);
    if (!cps || !tmp || !ccc || !out) {
        free(cps), free(tmp), free(ccc), free(out);
        return NULL;
    }
    size_t k = 0;
    for (size_t i = 0, adv; i < n; i += adv) k += decompose_unit(next_unit(s + i, n - i, &adv), cps + k);
    for (size_t i = 0; i < k; i++) ccc[i] = (cps[i] & NFC_OPAQUE) ? 0 : uni_ccc(cps[i]);
    canonical_order(cps, ccc, k, tmp);
    k = compose(cps, ccc, k);
    size_t o = 0;
    for (size_t i = 0; i < k; i++) {
        if (cps[i] & NFC_OPAQUE) out[o++] = (char)(cps[i] & 0xff);
        else o += (size_t)uni_encode(cps[i], out + o);
    }
    out[o] = '\0';
    free(cps), free(tmp), free(ccc);
    *out_len = o;
    return out;
}
