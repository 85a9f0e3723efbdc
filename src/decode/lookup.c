/*
 * lookup.c - prompt lookup decoding's drafter: copy what followed last time.
 *
 * Code edits, quoting and summaries repeat spans of their context. If the
 * last n tokens also occurred earlier, the tokens that followed them then are
 * a good guess for what follows now. The longest matching n-gram wins (it is
 * the most specific evidence), and among its occurrences the most recent.
 * A scan of the context per round costs microseconds next to a forward pass.
 *
 * How far to copy follows the evidence too (lookup_draft_len): a match of
 * n < ngram_max tokens drafts at most n, only a match of ngram_max tokens
 * drafts the full k. Short matches are often coincidence (a lone "(" recurs
 * everywhere), and a long draft after one widens the verification for tokens
 * that mostly fail: on aio bench strategies (code, first line) lookup at k=7
 * went from 0.91x to 1.22x of ar and k=15 from 0.62x to 1.15x, k=3 from 1.16x
 * to 1.21-1.27x. A verification padded to its bucket computes the padding
 * anyway, so a draft is then lengthened to fill it: those tokens cost nothing.
 */
#include <string.h>

#include "decode.h"

/* Most recent start i < n_ctx - n of an earlier occurrence of the last n tokens, or -1. */
static int find_earlier(const int32_t *ctx, int n_ctx, int n) {
    const int32_t *suffix = ctx + n_ctx - n;
    for (int i = n_ctx - n - 1; i >= 0; i--)
        if (ctx[i + n - 1] == suffix[n - 1] && memcmp(ctx + i, suffix, (size_t)n * sizeof *ctx) == 0) return i;
    return -1;
}

int lookup_propose(const int32_t *ctx, int n_ctx, int ngram_min, int ngram_max, int max_draft, int32_t *draft,
                   int *match_len) {
    *match_len = 0;
    if (ngram_min < 1) ngram_min = 1;
    for (int n = ngram_max; n >= ngram_min; n--) {
        if (n >= n_ctx) continue;
        int start = find_earlier(ctx, n_ctx, n);
        if (start < 0) continue;
        int follow = start + n; /* first token after the earlier occurrence; < n_ctx by construction */
        int n_draft = 0;
        while (n_draft < max_draft && follow + n_draft < n_ctx) {
            draft[n_draft] = ctx[follow + n_draft];
            n_draft++;
        }
        *match_len = n;
        return n_draft;
    }
    return 0;
}

int lookup_draft_len(int match_len, int ngram_max, int n_copied, const int *buckets, int n_buckets) {
    if (n_copied <= 0) return 0;
    int n = match_len < ngram_max && match_len < n_copied ? match_len : n_copied;
    for (int i = 0; buckets && i < n_buckets; i++) {
        if (buckets[i] < n + 1) continue;
        int fill = buckets[i] - 1; /* the bucket's padding, put to use */
        return fill < n_copied ? fill : n_copied;
    }
    return n;
}
