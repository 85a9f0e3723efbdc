/*
 * tokenizer_pretok.c - the byte-level BPE pre-tokenizers, without a regex engine.
 *
 * A pre-tokenizer is a list of regular expressions applied one after another
 * (llama.cpp's unicode_regex_split): each pass searches every current chunk
 * for leftmost matches and cuts it into the matches and the unmatched gaps
 * between them. Here every regex is a hand-written matcher that returns the
 * length the regex would match at a position (0: no match), reproducing the
 * regex's ordered alternation and greedy-with-backtracking quantifiers. \p{..}
 * classes use the real Unicode categories, \s is White_Space.
 *
 * The classes written as literal code point ranges (DeepSeek's) never match a
 * whitespace code point above ASCII, because llama.cpp rewrites those to \v
 * before matching such regexes.
 */
#include <stdlib.h>

#include "tokenizer_impl.h"
#include "unicode.h"

typedef struct cp_range {
    uint32_t lo, hi;
} cp_range;

/* The match length of one regex at pos within the chunk [.., end), or 0. */
typedef size_t (*pretok_match)(const uint32_t *cp, const uint8_t *pr, size_t pos, size_t end);

/* A one-character class. */
typedef bool (*char_class)(uint32_t cp, uint8_t props);

/* ---------------------------------------------------------------- character classes */

static bool c_letter(uint32_t c, uint8_t p) { (void)c; return uni_is_letter(p); }
static bool c_number(uint32_t c, uint8_t p) { (void)c; return uni_is_number(p); }
static bool c_punct(uint32_t c, uint8_t p) { (void)c; return uni_is_punct(p); }
static bool c_space(uint32_t c, uint8_t p) { (void)c; return uni_is_space(p); }
static bool c_blank(uint32_t c, uint8_t p) { (void)p; return c == ' '; }
static bool c_crlf(uint32_t c, uint8_t p) { (void)p; return c == '\r' || c == '\n'; }
static bool c_ascii_digit(uint32_t c, uint8_t p) { (void)p; return c >= '0' && c <= '9'; }
static bool c_ascii_letter(uint32_t c, uint8_t p) { (void)p; return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }

/* [^\s\p{L}\p{N}] */
static bool c_other(uint32_t c, uint8_t p) { (void)c; return !uni_is_space(p) && !uni_is_letter(p) && !uni_is_number(p); }
/* [^\r\n\p{L}\p{N}] */
static bool c_not_crlf_letter_number(uint32_t c, uint8_t p) {
    return !c_crlf(c, p) && !uni_is_letter(p) && !uni_is_number(p);
}
/* [\p{P}\$\+<=>\^~\|] and the same with ` (falcon) */
static bool c_punct_default(uint32_t c, uint8_t p) {
    return uni_is_punct(p) || c == '$' || c == '+' || c == '<' || c == '=' || c == '>' || c == '^' || c == '~' ||
           c == '|';
}
static bool c_punct_falcon(uint32_t c, uint8_t p) { return c_punct_default(c, p) || c == '`'; }

/* r: ascending, disjoint ranges. */
static bool in_ranges(const cp_range *r, size_t n, uint32_t c) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c < r[mid].lo) hi = mid;
        else if (c > r[mid].hi) lo = mid + 1;
        else return true;
    }
    return false;
}

/* DeepSeek LLM's cased letters (from its tokenizer.json; llama.cpp's copy of the regex). */
static const cp_range DEEPSEEK_LETTERS[] = {
    {0x0041, 0x005A}, {0x0061, 0x007A}, {0x00B5, 0x00B5}, {0x00C0, 0x00D6}, {0x00D8, 0x00F6},
    {0x00F8, 0x01BA}, {0x01BC, 0x01BF}, {0x01C4, 0x0293}, {0x0295, 0x02AF}, {0x0370, 0x0373},
    {0x0376, 0x0377}, {0x037B, 0x037D}, {0x037F, 0x037F}, {0x0386, 0x0386}, {0x0388, 0x038A},
    {0x038C, 0x038C}, {0x038E, 0x03A1}, {0x03A3, 0x03F5}, {0x03F7, 0x0481}, {0x048A, 0x052F},
    {0x0531, 0x0556}, {0x10A0, 0x10C5}, {0x13A0, 0x13F5}, {0x13F8, 0x13FD}, {0x1C90, 0x1CBA},
    {0x1CBD, 0x1CBF}, {0x1D00, 0x1D2B}, {0x1D6B, 0x1D77}, {0x1D79, 0x1D9A}, {0x1E00, 0x1F15},
    {0x1F18, 0x1F1D}, {0x1F20, 0x1F45}, {0x1F48, 0x1F4D}, {0x1F50, 0x1F57}, {0x1F59, 0x1F59},
    {0x1F5B, 0x1F5B}, {0x1F5D, 0x1F5D}, {0x1F5F, 0x1F7D}, {0x1F80, 0x1FB4}, {0x1FB6, 0x1FBC},
    {0x1FBE, 0x1FBE}, {0x1FC2, 0x1FC4}, {0x1FC6, 0x1FCC}, {0x1FD0, 0x1FD3}, {0x1FD6, 0x1FDB},
    {0x1FE0, 0x1FEC}, {0x1FF2, 0x1FF4}, {0x1FF6, 0x1FFC}, {0x2102, 0x2102}, {0x2107, 0x2107},
    {0x210A, 0x2113}, {0x2115, 0x2115}, {0x2119, 0x211D}, {0x2124, 0x2124}, {0x2126, 0x2126},
    {0x2128, 0x2128}, {0x212A, 0x212D}, {0x212F, 0x2134}, {0x2139, 0x2139}, {0x213C, 0x213F},
    {0x2145, 0x2149}, {0x214E, 0x214E}, {0x2183, 0x2184}, {0x2C00, 0x2C7B}, {0x2C7E, 0x2CE4},
    {0x2CEB, 0x2CEE}, {0x2CF2, 0x2CF3}, {0xA640, 0xA66D}, {0xA680, 0xA69B}, {0xA722, 0xA76F},
    {0xA771, 0xA787}, {0xA78B, 0xA78E}, {0xAB70, 0xABBF}, {0xFB00, 0xFB06}, {0xFB13, 0xFB17},
    {0xFF21, 0xFF3A}, {0xFF41, 0xFF5A}, {0x10400, 0x1044F}, {0x104B0, 0x104D3}, {0x104D8, 0x104FB},
    {0x10C80, 0x10CB2}, {0x10CC0, 0x10CF2}, {0x118A0, 0x118DF}, {0x1E900, 0x1E943},
};
/* [!-/:-~！-／：-～‘-‟　-。] */
static const cp_range DEEPSEEK_PUNCT[] = {
    {0x0021, 0x002F}, {0x003A, 0x007E}, {0x2018, 0x201F}, {0x3000, 0x3002}, {0xFF01, 0xFF0F}, {0xFF1A, 0xFF5E},
};
/* [一-龥ࠀ-一가-퟿] (the first two ranges touch at U+4E00) */
static const cp_range DEEPSEEK_CJK[] = {{0x0800, 0x9FA5}, {0xAC00, 0xD7FF}};
/* [一-龥぀-ゟ゠-ヿ] */
static const cp_range DEEPSEEK3_CJK[] = {{0x3040, 0x309F}, {0x30A0, 0x30FF}, {0x4E00, 0x9FA5}};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* Literal classes see non-ASCII whitespace as \v (see the top of the file). */
static bool literal_class(const cp_range *r, size_t n, uint32_t c, uint8_t p) {
    return !(c > 0x7f && uni_is_space(p)) && in_ranges(r, n, c);
}
static bool c_ds_letter(uint32_t c, uint8_t p) { return literal_class(DEEPSEEK_LETTERS, N_OF(DEEPSEEK_LETTERS), c, p); }
static bool c_ds_punct(uint32_t c, uint8_t p) { return literal_class(DEEPSEEK_PUNCT, N_OF(DEEPSEEK_PUNCT), c, p); }
static bool c_ds_cjk(uint32_t c, uint8_t p) { return literal_class(DEEPSEEK_CJK, N_OF(DEEPSEEK_CJK), c, p); }
static bool c_ds3_cjk(uint32_t c, uint8_t p) { return literal_class(DEEPSEEK3_CJK, N_OF(DEEPSEEK3_CJK), c, p); }

/* DeepSeek V3: [!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~] is every ASCII punctuation or symbol. */
static bool c_ascii_punct(uint32_t c, uint8_t p) {
    (void)p;
    return c >= 0x21 && c <= 0x7e && !c_ascii_digit(c, 0) && !c_ascii_letter(c, 0);
}
/* [^\r\n\p{L}\p{P}\p{S}] */
static bool c_not_crlf_letter_punct_symbol(uint32_t c, uint8_t p) {
    return !c_crlf(c, p) && !uni_is_letter(p) && !uni_is_punct(p) && !uni_is_symbol(p);
}
/* [\p{L}\p{M}] and [\p{P}\p{S}] */
static bool c_letter_mark(uint32_t c, uint8_t p) { (void)c; return uni_is_letter(p) || uni_is_mark(p); }
static bool c_punct_symbol(uint32_t c, uint8_t p) { (void)c; return uni_is_punct(p) || uni_is_symbol(p); }

/* Poro/BLOOM: [^(\s|.,!?…。，、।۔،)] */
static bool c_not_poro_break(uint32_t c, uint8_t p) {
    static const uint32_t breaks[] = {'(', '|', '.', ',', '!', '?', ')', 0x2026, 0x3002, 0xFF0C, 0x3001, 0x0964, 0x06D4, 0x060C};
    if (uni_is_space(p)) return false;
    for (size_t i = 0; i < N_OF(breaks); i++)
        if (c == breaks[i]) return false;
    return true;
}

/* ---------------------------------------------------------------- regex building blocks */

/* X* from pos: how many code points in a row belong to the class. */
static size_t run(char_class x, const uint32_t *cp, const uint8_t *pr, size_t pos, size_t end) {
    size_t p = pos;
    while (p < end && x(cp[p], pr[p])) p++;
    return p - pos;
}

/* L?X+ : the optional lead is taken when X+ can follow it, otherwise X+ from pos. */
static size_t lead_then_run(char_class lead, char_class x, const uint32_t *cp, const uint8_t *pr, size_t pos,
                            size_t end) {
    if (pos + 1 < end && lead(cp[pos], pr[pos])) {
        size_t n = run(x, cp, pr, pos + 1, end);
        if (n > 0) return 1 + n;
    }
    return run(x, cp, pr, pos, end);
}

/* X{1,max} */
static size_t run_upto(char_class x, size_t max, const uint32_t *cp, const uint8_t *pr, size_t pos, size_t end) {
    size_t n = run(x, cp, pr, pos, end);
    return n < max ? n : max;
}

static uint32_t ascii_lower(uint32_t c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* 's|'t|'re|'ve|'m|'ll|'d, optionally case-insensitive. */
static size_t contraction(const uint32_t *cp, size_t pos, size_t end, bool fold) {
    if (cp[pos] != '\'' || pos + 1 >= end) return 0;
    uint32_t a = fold ? ascii_lower(cp[pos + 1]) : cp[pos + 1];
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if (pos + 2 >= end) return 0;
    uint32_t b = fold ? ascii_lower(cp[pos + 2]) : cp[pos + 2];
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    return 0;
}

/* The whitespace tail shared by the GPT-2 family: [\s*[\r\n]+ |] \s+(?!\S) | \s+ .
 * \s*[\r\n]+ backtracks to the last newline of the run; \s+(?!\S) leaves the last space of a
 * run that a non-space follows, for the next word to take. */
static size_t whitespace_tail(const uint32_t *cp, const uint8_t *pr, size_t pos, size_t end, bool newlines) {
    size_t q = pos, after_newline = 0;
    while (q < end && uni_is_space(pr[q])) {
        if (cp[q] == '\r' || cp[q] == '\n') after_newline = q + 1;
        q++;
    }
    size_t k = q - pos;
    if (newlines && after_newline) return after_newline - pos;
    if (q < end && k > 1) return k - 1;
    return k;
}

/* ---------------------------------------------------------------- the regexes */

/* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static size_t m_gpt2(const uint32_t *cp, const uint8_t *pr, size_t pos, size_t end) {
    size_t n;
    if ((n = contraction(cp, pos, end, false))) return n;
    if ((n = lead_then_run(c_blank, c_letter, cp, pr, pos, end))) return n;
    if ((n = lead_then_run(c_blank, c_number, cp, pr, pos, end))) return n;
    if ((n = lead_then_run(c_blank, c_other, cp, pr, pos, end))) return n;
    return whitespace_tail(cp, pr, pos, end, false);
}

/* (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,D}| ?[^\s\p{L}\p{N}]+[\r\n]*|
 * \s*[\r\n]+|\s+(?!\S)|\s+   (Llama 3: D = 3, Qwen2: D = 1) */
static size_t llama3_like(const uint32_t *cp, const uint8_t *pr, size_t pos, size_t end, size_t max_digits) {
    size_t n;
    if ((n = contraction(cp, pos, end, true))) return n;
    if ((n = lead_then_run(c_not_crlf_letter_number, c_letter, cp, pr, pos, end))) return n;
    if ((n = run_upto(c_number, max_digits, cp, pr, pos, end))) return n;
    if ((n = lead_then_run(c_blank, c_other, cp, pr, pos, end))) return n + run(c_crlf, cp, pr, pos + n, end);
    return whitespace_tail(cp, pr, pos, end, true);
}
static size_t m_llama3(const uint32_t *cp, const uint8_t *pr, size_t pos, size_t end) {
    return llama3_like(cp, pr, pos, end, 3);
}
static size_t m_qwen2(const uint32_t *cp, const uint8_t *pr, size_t pos, size_t end) {
    return llama3_like(cp, pr, pos, end, 1);
}

/* [\p{P}\$\+<=>\^~\|]+ , [\p{P}\$\+<=>\^~\|`]+ */
static size_t m_punct_default(const uint32_t *cp, const uint8_t *pr, size_t pos, size_t end) {
    return run(c_punct_default, cp, pr, pos, end);
}
static size_t m_punct_falcon(const uint32_t *cp, const uint8_t *pr, size_t pos, size_t end) {
    return run(c_punct_falcon, cp, pr, pos, end);
}
/* \p{N}+ , \p{N} , \p{N}{1,3} */
static size_t m_numbers(const uint32_t *cp, const uint8_t *pr, size_t pos, size_t end) {
    return run(c_number, cp, pr, pos, end);
}
static size_t m_number(const uint32_t *cp, const uint8_t *pr, size_t pos, size_t end) {
    return run_upto(c_number, 1, cp, pr, pos, end);
}
static size_t m_numbers3(const uint32_t *cp, const uint8_t *pr, size_t pos, size_t end) {
    return run_upto(c_number, 3, cp, pr, pos, end);
}
/* [0-9][0-9][0-9] */
static size_t m_three_digits(const uint32_t *cp, const uint8_t *pr, size_t pos, size_t end) {
    return run_upto(c_ascii_digit, 3, cp, pr, pos, end) == 3 ? 3 : 0;
}
/* [\r\n] */
static size_t m_crlf(const uint32_t *cp, const uint8_t *pr, size_t pos, size_t end) {
    return run_upto(c_crlf, 1, cp, pr, pos, end);
}
/* \s+$ */
static size_t m_trailing_space(const uint32_t *cp, const uint8_t *pr, size_t pos, size_t end) {
    size_t n = run(c_space, cp, pr, pos, end);
    return pos + n == end ? n : 0;
}
/* \s?[A-Za-zµÀ-ÖØ-ö...]+ , \s?[!-/:-~！-／：-～‘-‟　-。]+ , [一-龥ࠀ-一가-퟿]+ (DeepSeek LLM) */
static size_t m_ds_letters(const uint32_t *cp, const uint8_t *pr, size_t pos, size_t end) {
    return lead_then_run(c_space, c_ds_letter, cp, pr, pos, end);
}
static size_t m_ds_punct(const uint32_t *cp, const uint8_t *pr, size_t pos, size_t end) {
    return lead_then_run(c_space, c_ds_punct, cp, pr, pos, end);
}
static size_t m_ds_cjk(const uint32_t *cp, const uint8_t *pr, size_t pos, size_t end) {
    return run(c_ds_cjk, cp, pr, pos, end);
}
/* \s?\p{L}+ , \s?\p{P}+ (DeepSeek Coder) */
static size_t m_space_letters(const uint32_t *cp, const uint8_t *pr, size_t pos, size_t end) {
    return lead_then_run(c_space, c_letter, cp, pr, pos, end);
}
static size_t m_space_punct(const uint32_t *cp, const uint8_t *pr, size_t pos, size_t end) {
    return lead_then_run(c_space, c_punct, cp, pr, pos, end);
}
/* [一-龥぀-ゟ゠-ヿ]+ (DeepSeek V3) */
static size_t m_ds3_cjk(const uint32_t *cp, const uint8_t *pr, size_t pos, size_t end) {
    return run(c_ds3_cjk, cp, pr, pos, end);
}
/* [!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+|
 * ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+   (DeepSeek V3) */
static size_t m_ds3_main(const uint32_t *cp, const uint8_t *pr, size_t pos, size_t end) {
    size_t n;
    if (c_ascii_punct(cp[pos], pr[pos]) && (n = run(c_ascii_letter, cp, pr, pos + 1, end))) return 1 + n;
    if ((n = lead_then_run(c_not_crlf_letter_punct_symbol, c_letter_mark, cp, pr, pos, end))) return n;
    if ((n = lead_then_run(c_blank, c_punct_symbol, cp, pr, pos, end))) return n + run(c_crlf, cp, pr, pos + n, end);
    return whitespace_tail(cp, pr, pos, end, true);
}
/*  ?[^(\s|.,!?…。，、।۔،)]+ (Poro, BLOOM) */
static size_t m_poro(const uint32_t *cp, const uint8_t *pr, size_t pos, size_t end) {
    return lead_then_run(c_blank, c_not_poro_break, cp, pr, pos, end);
}

/* ---------------------------------------------------------------- the pre-tokenizers */

static const pretok_match P_DEFAULT[] = {m_punct_default, m_gpt2, m_numbers, m_three_digits};
static const pretok_match P_GPT2[] = {m_gpt2};
static const pretok_match P_LLAMA3[] = {m_llama3};
static const pretok_match P_QWEN2[] = {m_qwen2};
static const pretok_match P_DEEPSEEK_LLM[] = {m_crlf, m_ds_letters, m_ds_punct, m_trailing_space, m_ds_cjk, m_numbers};
static const pretok_match P_DEEPSEEK_CODER[] = {m_crlf, m_space_letters, m_space_punct, m_ds_cjk, m_number};
static const pretok_match P_DEEPSEEK3[] = {m_numbers3, m_ds3_cjk, m_ds3_main};
static const pretok_match P_FALCON[] = {m_punct_falcon, m_gpt2, m_three_digits};
static const pretok_match P_STARCODER[] = {m_number, m_gpt2};
static const pretok_match P_PORO[] = {m_poro};
static const pretok_match P_VIKING[] = {m_poro, m_number};

static const pretok_match *passes_of(enum tok_pre pre, size_t *n) {
#define PASSES(a) (*n = N_OF(a), a)
    switch (pre) {
    case TOK_PRE_GPT2: return PASSES(P_GPT2);
    case TOK_PRE_LLAMA3: return PASSES(P_LLAMA3);
    case TOK_PRE_QWEN2: return PASSES(P_QWEN2);
    case TOK_PRE_DEEPSEEK_LLM: return PASSES(P_DEEPSEEK_LLM);
    case TOK_PRE_DEEPSEEK_CODER: return PASSES(P_DEEPSEEK_CODER);
    case TOK_PRE_DEEPSEEK3: return PASSES(P_DEEPSEEK3);
    case TOK_PRE_FALCON: return PASSES(P_FALCON);
    case TOK_PRE_STARCODER: return PASSES(P_STARCODER);
    case TOK_PRE_PORO: return PASSES(P_PORO);
    case TOK_PRE_VIKING: return PASSES(P_VIKING);
    case TOK_PRE_DEFAULT: break;
    }
    return PASSES(P_DEFAULT);
#undef PASSES
}

/* ---------------------------------------------------------------- splitting */

static void sizes_push(tok_sizes *s, size_t v) {
    if (s->failed || v == 0) return;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        size_t *nv = realloc(s->v, cap * sizeof *nv);
        if (!nv) {
            s->failed = true;
            return;
        }
        s->v = nv;
        s->cap = cap;
    }
    s->v[s->n++] = v;
}

/* One regex over one chunk: matches and the gaps between them, in order. */
static void split_chunk(pretok_match match, const uint32_t *cp, const uint8_t *pr, size_t start, size_t end,
                        tok_sizes *out) {
    size_t gap = start;
    for (size_t pos = start; pos < end;) {
        size_t n = match(cp, pr, pos, end);
        if (n == 0) {
            pos++;
            continue;
        }
        sizes_push(out, pos - gap);
        sizes_push(out, n);
        pos += n;
        gap = pos;
    }
    sizes_push(out, end - gap);
}

bool pretok_split(enum tok_pre pre, const uint32_t *cps, const uint8_t *props, size_t n, tok_sizes *words) {
    size_t n_passes;
    const pretok_match *passes = passes_of(pre, &n_passes);
    tok_sizes next = {0};
    words->n = 0;
    sizes_push(words, n);
    for (size_t p = 0; p < n_passes && !words->failed; p++) {
        next.n = 0;
        for (size_t i = 0, start = 0; i < words->n; start += words->v[i++])
            split_chunk(passes[p], cps, props, start, start + words->v[i], &next);
        tok_sizes swap = *words;
        *words = next;
        next = swap;
        words->failed |= next.failed;
    }
    free(next.v);
    return !words->failed;
}
