/*
 * suggest — "did you mean": the candidate closest to a word the user typed, for an unknown command, option or
 * product name. Closeness is the edit distance (insertions, deletions, substitutions, and a swap of two
 * neighbouring letters, each costing one; ASCII case ignored); a word that is a prefix of exactly one candidate
 * counts as close, and so, last, does a candidate the word extends with a '-' or '_' and more. Pure; no
 * allocation (words longer than SUGGEST_WORD_MAX are compared on their first SUGGEST_WORD_MAX bytes).
 */
#ifndef KMS_SUGGEST_H
#define KMS_SUGGEST_H

#include <stddef.h>

#define SUGGEST_WORD_MAX 64

/* The edit distance between a and b (optimal string alignment), ASCII case ignored. */
size_t suggest_distance(const char *a, const char *b);

/* The candidate closest to word: the only one word is a prefix of, else the one at the smallest distance if that
 * is at most max(1, strlen(word) / 3) and no other candidate is as close, else the longest candidate word extends
 * past a '-' or '_' (retention-days: retention); NULL when none qualifies. */
const char *suggest_closest(const char *word, const char *const *candidates, size_t n);

/* suggest_closest over candidates read through at(ctx, 0 .. n-1), for lists that are not an array of strings
 * (the product table's names and aliases). at must return the same pointer for the same i. */
const char *suggest_closest_at(const char *word, const char *(*at)(const void *ctx, size_t i), const void *ctx,
                               size_t n);

#endif
