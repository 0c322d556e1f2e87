/* product_names — see product_names.h. */
#include "product_names.h"

#include <stdio.h>
#include <string.h>

#include "guid.h"
#include "suggest.h"

static char fold(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool eq_n(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (fold(a[i]) != fold(b[i]))
            return false;
    return true;
}

static bool is_alnum(char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z');
}

/* Whether text[0, len) occurs in name, ASCII case ignored. */
static bool contains(const char *name, const char *text, size_t len)
{
    size_t nlen = strlen(name);
    for (size_t i = 0; i + len <= nlen; i++)
        if (eq_n(name + i, text, len))
            return true;
    return false;
}

/* Whether text names one edition of a combined SKU name: "Windows 10/11 Pro" stands for "Windows 10 Pro" and
 * "Windows 11 Pro", "... LTSC 2019/2021" for "... LTSC 2019" and "... LTSC 2021". The combined part is the word
 * around the name's first '/'. */
static bool names_variant(const char *name, const char *text)
{
    const char *slash = strchr(name, '/');
    if (!slash)
        return false;
    size_t a = (size_t)(slash - name), b = a + 1;
    while (a > 0 && is_alnum(name[a - 1]))
        a--;
    while (is_alnum(name[b]))
        b++;
    /* the two choices are name[a, slash) and name(slash, b) */
    const char *choice[2] = {name + a, slash + 1};
    size_t clen[2] = {(size_t)(slash - (name + a)), (size_t)(name + b - (slash + 1))};
    size_t tlen = strlen(text), tail = strlen(name + b);
    for (int k = 0; k < 2; k++)
        if (tlen == a + clen[k] + tail && eq_n(text, name, a) && eq_n(text + a, choice[k], clen[k]) &&
            eq_n(text + a + clen[k], name + b, tail))
            return true;
    return false;
}

const struct products_sku *product_names_resolve(const char *text)
{
    if (!text || !*text)
        return NULL;
    const struct products_tables *t = products_current(); /* one table throughout: it may be swapped meanwhile */
    const struct products_sku *s = products_in_find_sku(t, text);
    if (s)
        return s;
    struct guid id;
    if (guid_parse(&id, text) == 0)
        return products_in_sku_by_id(t, &id);
    for (size_t i = 0; i < t->sku_count; i++)
        if (names_variant(t->skus[i].name, text))
            return &t->skus[i];
    return NULL;
}

bool product_names_part_of(const char *text, const struct products_sku *s)
{
    return text && s && contains(s->name, text, strlen(text));
}

size_t product_names_part_count(const char *text)
{
    const struct products_tables *t = products_current();
    size_t n = 0;
    for (size_t i = 0; i < t->sku_count; i++)
        n += product_names_part_of(text, &t->skus[i]);
    return n;
}

const char *product_names_filter(const char *text, bool *exact)
{
    *exact = false;
    if (!text || !*text)
        return NULL;
    const struct products_sku *s = product_names_resolve(text);
    if (s) {
        *exact = true;
        return s->name;
    }
    struct guid id;
    return product_names_part_count(text) > 0 || guid_parse(&id, text) == 0 ? text : NULL;
}

/* Whether text[0, len) occurs in the name of s or in one of its aliases. */
static bool sku_contains(const struct products_sku *s, const char *text, size_t len)
{
    bool found = contains(s->name, text, len);
    for (size_t a = 0; !found && a < s->alias_count; a++)
        found = contains(s->aliases[a], text, len);
    return found;
}

static bool is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

/* Whether the word text[0, len) matches s whole or, when it is letters then digits or digits then letters
 * ("office2021", "server2022"), both runs of at least two characters, as those two words. Only one change
 * between letters and digits: a word with more ("win11pr") is more likely a mistyped alias (suggest.h finds it)
 * than words run together, and its short runs ("pr") would match inside unrelated names ("Enterprise"). */
static bool word_matches(const struct products_sku *s, const char *text, size_t len)
{
    if (sku_contains(s, text, len))
        return true;
    size_t cut = 0;
    for (size_t i = 1; i < len; i++) {
        if (is_digit(text[i]) == is_digit(text[i - 1]))
            continue;
        if (cut)
            return false; /* a second change */
        cut = i;
    }
    return cut >= 2 && len - cut >= 2 && sku_contains(s, text, cut) && sku_contains(s, text + cut, len - cut);
}

bool product_names_matches(const char *text, const struct products_sku *s)
{
    if (!text || !s)
        return false;
    bool any = false;
    while (*text) {
        while (*text == ' ')
            text++;
        size_t len = strcspn(text, " ");
        if (len == 0)
            break;
        if (!word_matches(s, text, len))
            return false;
        any = true;
        text += len;
    }
    return any;
}

/* The candidates of suggest_closest: every SKU name and alias of the table ctx, in table order. */
static const char *candidate_at(const void *ctx, size_t i)
{
    const struct products_tables *t = ctx;
    for (size_t k = 0; k < t->sku_count; k++) {
        const struct products_sku *s = &t->skus[k];
        if (i == 0)
            return s->name;
        if (i <= s->alias_count)
            return s->aliases[i - 1];
        i -= 1 + s->alias_count;
    }
    return NULL;
}

static const struct products_sku *owner_of(const struct products_tables *t, const char *candidate)
{
    for (size_t k = 0; k < t->sku_count; k++) {
        const struct products_sku *s = &t->skus[k];
        if (s->name == candidate)
            return s;
        for (size_t a = 0; a < s->alias_count; a++)
            if (s->aliases[a] == candidate)
                return s;
    }
    return NULL;
}

size_t product_names_suggest(const char *text, const struct products_sku **out, size_t max)
{
    if (!text || max == 0)
        return 0;
    const struct products_tables *t = products_current();
    size_t n = 0;
    for (size_t i = 0; i < t->sku_count && n < max; i++)
        if (product_names_matches(text, &t->skus[i]))
            out[n++] = &t->skus[i];
    if (n > 0)
        return n;
    size_t count = 0;
    for (size_t k = 0; k < t->sku_count; k++)
        count += 1 + t->skus[k].alias_count;
    const char *c = suggest_closest_at(text, candidate_at, t, count);
    const struct products_sku *s = c ? owner_of(t, c) : NULL;
    if (s)
        out[n++] = s;
    return n;
}

/* Appends text to buf[*len, n), truncating; keeps buf NUL-terminated. */
static void put(char *buf, size_t n, size_t *len, const char *text, bool clean)
{
    for (; *text && *len + 1 < n; text++)
        buf[(*len)++] = clean && ((unsigned char)*text < 0x20 || *text == 0x7f) ? '?' : *text;
    buf[*len] = '\0';
}

char *product_names_unknown(char *buf, size_t n, const char *text, bool *more)
{
    if (more)
        *more = false;
    if (n == 0)
        return buf;
    size_t len = 0;
    buf[0] = '\0';
    put(buf, n, &len, "unknown product '", false);
    put(buf, n, &len, text ? text : "", true);
    put(buf, n, &len, "'", false);
    const struct products_sku *s[PRODUCT_NAMES_SUGGEST_MAX + 1];
    size_t k = product_names_suggest(text, s, PRODUCT_NAMES_SUGGEST_MAX + 1);
    static const char ellipsis[] = ", ...?";
    size_t i = 0;
    for (; i < k && i < PRODUCT_NAMES_SUGGEST_MAX; i++) { /* whole suggestions only, room kept for more[] */
        size_t need = strlen("; did you mean '") + strlen(s[i]->name) + strlen("' (") + strlen(s[i]->alias) + 1;
        if (len + need + sizeof ellipsis > n)
            break;
        put(buf, n, &len, i ? ", '" : "; did you mean '", false);
        put(buf, n, &len, s[i]->name, false);
        put(buf, n, &len, "' (", false);
        put(buf, n, &len, s[i]->alias, false);
        put(buf, n, &len, ")", false);
    }
    if (i > 0)
        put(buf, n, &len, i < k ? ellipsis : "?", false);
    if (more)
        *more = i > 0 && i < k;
    return buf;
}
