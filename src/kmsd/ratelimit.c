#include "ratelimit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"

void ratelimit_key(const uint8_t addr[16], uint8_t key[16])
{
    memcpy(key, addr, 16);
    if (!acl_is_v4(addr))
        memset(key + 8, 0, 8);
}

int ratelimit_init(struct ratelimit *rl, const struct ratelimit_cfg *cfg)
{
    memset(rl, 0, sizeof *rl);
    if (cfg->capacity == 0)
        return -EINVAL;
    size_t sets = 1;
    while (sets * RATELIMIT_WAYS < cfg->capacity && sets < ((size_t)1 << 24))
        sets <<= 1;
    rl->slots = calloc(sets * RATELIMIT_WAYS, sizeof *rl->slots);
    if (!rl->slots)
        return -ENOMEM;
    rl->n_sets = sets;
    rl->cfg = *cfg;
    return 0;
}

static uint64_t bucket_max(const struct ratelimit *rl)
{
    return (uint64_t)(rl->cfg.burst ? rl->cfg.burst : 1) * 1000;
}

void ratelimit_set_limits(struct ratelimit *rl, uint32_t max_per_address, uint32_t rate_per_minute, uint32_t burst)
{
    rl->cfg.max_per_address = max_per_address;
    rl->cfg.rate_per_minute = rate_per_minute;
    rl->cfg.burst = burst;
    /* A bucket fuller than a lower burst is cut to it at its next use (ratelimit_activation), not here: a pass over
     * the table would read every page of it, 3.5 MB at the default --max-addresses, and keep them resident from the
     * first reload on (docs/performance.md, "What the web page left behind"). */
}

void ratelimit_free(struct ratelimit *rl)
{
    free(rl->slots);
    rl->slots = NULL;
}

static uint64_t rotl(uint64_t x, int b)
{
    return (x << b) | (x >> (64 - b));
}

/* n SipRounds on the state v0..v3. */
static void sip_rounds(uint64_t v[4], int n)
{
    for (int r = 0; r < n; r++) {
        v[0] += v[1];
        v[1] = rotl(v[1], 13) ^ v[0];
        v[0] = rotl(v[0], 32);
        v[2] += v[3];
        v[3] = rotl(v[3], 16) ^ v[2];
        v[0] += v[3];
        v[3] = rotl(v[3], 21) ^ v[0];
        v[2] += v[1];
        v[1] = rotl(v[1], 17) ^ v[2];
        v[2] = rotl(v[2], 32);
    }
}

/* A keyed mix of the 16 key bytes (SipHash-like rounds; this only has to keep a remote peer from choosing
 * which set its addresses land in, it is not a MAC). */
static uint64_t hash_key(const struct ratelimit *rl, const uint8_t k[16])
{
    uint64_t a, b;
    memcpy(&a, k, 8);
    memcpy(&b, k + 8, 8);
    uint64_t v[4] = {rl->cfg.hash_key[0] ^ 0x736f6d6570736575ull, rl->cfg.hash_key[1] ^ 0x646f72616e646f6dull,
                     rl->cfg.hash_key[0] ^ 0x6c7967656e657261ull, rl->cfg.hash_key[1] ^ 0x7465646279746573ull};
    uint64_t m[2] = {a, b};
    for (int i = 0; i < 2; i++) {
        v[3] ^= m[i];
        sip_rounds(v, 2);
        v[0] ^= m[i];
    }
    v[2] ^= 0xff;
    sip_rounds(v, 4);
    return v[0] ^ v[1] ^ v[2] ^ v[3];
}

static struct ratelimit_entry *set_of(const struct ratelimit *rl, const uint8_t key[16])
{
    return rl->slots + (size_t)(hash_key(rl, key) & (rl->n_sets - 1)) * RATELIMIT_WAYS;
}

static struct ratelimit_entry *find(const struct ratelimit *rl, const uint8_t addr[16])
{
    uint8_t key[16];
    ratelimit_key(addr, key);
    struct ratelimit_entry *s = set_of(rl, key);
    for (int i = 0; i < RATELIMIT_WAYS; i++)
        if (s[i].used && memcmp(s[i].key, key, 16) == 0)
            return &s[i];
    return NULL;
}

/* The entry of addr, created (with a full bucket) if it can be; NULL when its set is full of connected
 * addresses. */
static struct ratelimit_entry *get(struct ratelimit *rl, const uint8_t addr[16], uint64_t now_ms)
{
    uint8_t key[16];
    ratelimit_key(addr, key);
    struct ratelimit_entry *s = set_of(rl, key), *victim = NULL;
    for (int i = 0; i < RATELIMIT_WAYS; i++) {
        if (s[i].used && memcmp(s[i].key, key, 16) == 0)
            return &s[i];
    }
    for (int i = 0; i < RATELIMIT_WAYS; i++) {
        if (!s[i].used) {
            victim = &s[i];
            break;
        }
        if (s[i].conns == 0 && (!victim || s[i].t_used < victim->t_used))
            victim = &s[i];
    }
    if (!victim)
        return NULL;
    if (victim->used)
        rl->evictions++;
    else
        rl->used++;
    memset(victim, 0, sizeof *victim);
    victim->used = true;
    memcpy(victim->key, key, 16);
    victim->tokens_milli = bucket_max(rl);
    victim->t_refill = now_ms;
    victim->t_used = now_ms;
    return victim;
}

enum ratelimit_result ratelimit_connect(struct ratelimit *rl, const uint8_t addr[16], uint64_t now_ms)
{
    struct ratelimit_entry *e = get(rl, addr, now_ms);
    if (!e)
        return RATELIMIT_UNTRACKED;
    e->t_used = now_ms;
    if (rl->cfg.max_per_address && e->conns >= rl->cfg.max_per_address)
        return RATELIMIT_OVER;
    e->conns++;
    return RATELIMIT_OK;
}

void ratelimit_disconnect(struct ratelimit *rl, const uint8_t addr[16])
{
    struct ratelimit_entry *e = find(rl, addr);
    if (e && e->conns > 0)
        e->conns--;
}

bool ratelimit_activation(struct ratelimit *rl, const uint8_t addr[16], uint64_t now_ms)
{
    if (rl->cfg.rate_per_minute == 0)
        return true;
    struct ratelimit_entry *e = get(rl, addr, now_ms);
    if (!e)
        return true;
    e->t_used = now_ms;
    uint64_t max = bucket_max(rl);
    if (e->tokens_milli > max) /* a reload lowered the burst since this bucket's last use */
        e->tokens_milli = max;
    if (now_ms > e->t_refill) {
        /* rate per minute = rate x 1000 milli-tokens per 60000 ms */
        uint64_t dt = now_ms - e->t_refill;
        uint64_t add = dt >= 60000u * 1000u ? max : dt * rl->cfg.rate_per_minute / 60;
        if (e->tokens_milli + add >= max) {
            e->tokens_milli = max;
            e->t_refill = now_ms;
        } else { /* keep the fraction of a milli-token the division dropped for the next refill */
            e->tokens_milli += add;
            e->t_refill += add * 60 / rl->cfg.rate_per_minute;
        }
    }
    if (e->tokens_milli < 1000)
        return false;
    e->tokens_milli -= 1000;
    return true;
}

bool ratelimit_should_log(struct ratelimit *rl, const uint8_t addr[16], uint64_t now_ms)
{
    struct ratelimit_entry *e = find(rl, addr);
    if (!e)
        return true;
    if (e->t_logged != 0 && now_ms - e->t_logged < rl->cfg.log_interval_ms)
        return false;
    e->t_logged = now_ms ? now_ms : 1;
    return true;
}

uint32_t ratelimit_conns(const struct ratelimit *rl, const uint8_t addr[16])
{
    const struct ratelimit_entry *e = find(rl, addr);
    return e ? e->conns : 0;
}
