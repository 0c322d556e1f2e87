/*
 * product_names — what a user types for a product, resolved one way for every command and API filter: kmsc
 * --product, kmsc --list-products FILTER, kmsd clients --product and /api/v1/clients?product=.
 *
 * A text names a SKU when it equals, ignoring ASCII case, the SKU's name, one of its aliases, its SKU id (GUID
 * text), or one edition of a combined name ("Windows 11 Pro" or "Windows 10 Pro" for "Windows 10/11 Pro").
 * A text that names none may still be part of names ("office", "LTSC 2024"): filters take it as a part,
 * matching every product whose name contains it. A text that is neither gets suggestions: the SKUs whose name
 * contains every word of it (all of "Office 2024"'s products; "office2024" reads as "office 2024"), else the one
 * name or alias closest to it by edit distance (suggest.h: "win11pr" -> "win11pro").
 *
 * Pure reads over the product table: no allocation, no locale (ASCII case folding only).
 */
#ifndef KMS_PRODUCT_NAMES_H
#define KMS_PRODUCT_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#include "products.h"

/* The SKU text names (see above), or NULL (also for NULL or empty text). */
const struct products_sku *product_names_resolve(const char *text);

/* Whether text, ignoring ASCII case, is part of the name of SKU s (empty text is part of every name). */
bool product_names_part_of(const char *text, const struct products_sku *s);

/* The number of SKUs whose name contains text (product_names_part_of). */
size_t product_names_part_count(const char *text);

/* Whether every word of text (split at spaces, ASCII case ignored) occurs in the name of SKU s or in one of
 * its aliases: "office 2024" matches "Office LTSC Professional Plus 2024", "win11" matches "Windows 10/11 Pro"
 * (alias win11pro). A word that occurs nowhere whole but is letters then digits (or the reverse) counts as two
 * words: "office2024" as "office 2024". False for a text without a word. What kmsc --list-products FILTER lists. */
bool product_names_matches(const char *text, const struct products_sku *s);

/* Up to max SKUs to suggest for a text that names none: the SKUs text matches (product_names_matches), in
 * table order; when none does, the one SKU whose name or an
 * alias is closest (suggest_closest). Stores them in out and returns how many (0: nothing to suggest). */
size_t product_names_suggest(const char *text, const struct products_sku **out, size_t max);

/* How a registry filter (kmsd clients --product, /api/v1/clients?product=) takes text: the name of the SKU text
 * names, compared whole (*exact = true); else text itself as a part of product names (*exact = false) when it is
 * part of at least one SKU's name or is a GUID (the registry keeps an unknown product under its id's text).
 * NULL when it is neither: product_names_unknown() says so with suggestions. */
const char *product_names_filter(const char *text, bool *exact);

#define PRODUCT_NAMES_SUGGEST_MAX 5 /* SKUs named in product_names_unknown's message at most */

/* Writes "unknown product 'TEXT'; did you mean 'NAME' (alias), 'NAME' (alias)?" or, with nothing to suggest,
 * "unknown product 'TEXT'" into buf: whole suggestions only, as many as fit in n bytes (at most
 * PRODUCT_NAMES_SUGGEST_MAX), ", ...?" when some were left out (*more true, when more is not NULL). TEXT is shown
 * with control characters replaced by '?'; buf is always NUL-terminated when n > 0 (a TEXT longer than buf is cut).
 * Returns buf. */
char *product_names_unknown(char *buf, size_t n, const char *text, bool *more);

#endif
