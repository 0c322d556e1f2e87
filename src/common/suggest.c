/* suggest — see suggest.h. */
#include "suggest.h"

#include <string.h>

static char fold(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

size_t suggest_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > SUGGEST_WORD_MAX)
        la = SUGGEST_WORD_MAX;
    if (lb > SUGGEST_WORD_MAX)
        lb = SUGGEST_WORD_MAX;
    /* optimal string alignment: rows i-2, i-1 and i of the table, a swap of two neighbours costs one */
    size_t r[3][SUGGEST_WORD_MAX + 1];
    for (size_t j = 0; j <= lb; j++)
        r[1][j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t *cur = r[(i + 1) % 3], *prev = r[i % 3], *prev2 = r[(i + 2) % 3];
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t best = prev[j - 1] + (fold(a[i - 1]) != fold(b[j - 1]));
            if (prev[j] + 1 < best)
                best = prev[j] + 1;
            if (cur[j - 1] + 1 < best)
                best = cur[j - 1] + 1;
            if (i > 1 && j > 1 && fold(a[i - 1]) == fold(b[j - 2]) && fold(a[i - 2]) == fold(b[j - 1]) &&
                prev2[j - 2] + 1 < best)
                best = prev2[j - 2] + 1;
            cur[j] = best;
        }
    }
    return r[(la + 1) % 3][lb];
}

static int is_prefix(const char *word, const char *c)
{
    for (; *word; word++, c++)
        if (!*c || fold(*word) != fold(*c))
            return 0;
    return 1;
}

static const char *array_at(const void *ctx, size_t i)
{
    return ((const char *const *)ctx)[i];
}

const char *suggest_closest(const char *word, const char *const *candidates, size_t n)
{
    return suggest_closest_at(word, array_at, candidates, n);
}

const char *suggest_closest_at(const char *word, const char *(*at)(const void *ctx, size_t i), const void *ctx,
                               size_t n)
{
    if (!word || !*word)
        return NULL;
    const char *prefix_of = NULL;
    size_t prefixes = 0;
    for (size_t i = 0; i < n; i++)
        if (is_prefix(word, at(ctx, i))) {
            prefix_of = at(ctx, i);
            prefixes++;
        }
    if (prefixes == 1)
        return prefix_of;
    size_t limit = strlen(word) / 3;
    if (limit < 1)
        limit = 1;
    const char *best = NULL;
    size_t best_d = (size_t)-1, ties = 0;
    for (size_t i = 0; i < n; i++) {
        const char *c = at(ctx, i);
        size_t d = suggest_distance(word, c);
        if (d < best_d) {
            best_d = d;
            best = c;
            ties = 1;
        } else if (d == best_d) {
            ties++;
        }
    }
    if (best && best_d <= limit && ties == 1)
        return best;
    /* else the longest candidate the word extends past a '-' or '_' (retention-days: retention) */
    const char *longest = NULL;
    size_t longest_len = 0, lw = strlen(word);
    for (size_t i = 0; i < n; i++) {
        const char *c = at(ctx, i);
        size_t lc = strlen(c);
        if (lc > longest_len && lc + 1 < lw && (word[lc] == '-' || word[lc] == '_') && is_prefix(c, word)) {
            longest = c;
            longest_len = lc;
        }
    }
    return longest;
}
