/* store_writer_journal — the journal files: reading whole records, opening and scanning at start
 * (store_writer_int.h). */
#include "store_writer_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "journal.h"
#include "num.h"
#include "log.h"

/* Reads up to READ_CHUNK bytes of fd's [off, end) into buf (again after EINTR): the count, 0 where the file ends
 * sooner, or -errno. */
static ssize_t read_chunk(int fd, uint8_t *buf, uint64_t off, uint64_t end)
{
    size_t want = end - off < READ_CHUNK ? (size_t)(end - off) : READ_CHUNK;
    for (;;) {
        ssize_t got = pread(fd, buf, want, (off_t)off);
        if (got >= 0 || errno != EINTR)
            return got < 0 ? -errno : got;
    }
}

int store_writer_read_records(int fd, uint64_t *off, uint64_t end, uint8_t *buf,
                              int (*fn)(void *ctx, const struct store_record *r, uint64_t seq), void *ctx)
{
    while (*off < end) {
        ssize_t got = read_chunk(fd, buf, *off, end);
        if (got < 0)
            return (int)got;
        if (got == 0)
            return 1; /* shorter than we were told: treat the rest as torn */
        size_t at = 0;
        for (;;) {
            struct store_record r;
            uint64_t seq;
            size_t used;
            int rc = journal_decode(buf + at, (size_t)got - at, &r, &seq, &used);
            if (rc == KMS_ETRUNC && at > 0)
                break; /* the rest of this record is in the next chunk */
            if (rc < 0)
                return 1;
            int stop = fn(ctx, &r, seq);
            if (stop < 0)
                return 0;
            at += used;
            *off += used;
            if (stop)
                return 0;
            if (at == (size_t)got)
                break;
        }
    }
    return 0;
}

struct scan {
    uint64_t first, last, records;
    bool behind; /* stopped at a record numbered at or below the one before it */
};

/* Counts a record; stops before one whose number does not follow (the copy an interrupted repair left, below). */
static int scan_one(void *ctx, const struct store_record *r, uint64_t seq)
{
    (void)r;
    struct scan *s = ctx;
    if (s->records && seq <= s->last) {
        s->behind = true;
        return -1;
    }
    if (!s->records++)
        s->first = seq;
    s->last = seq;
    return 0;
}

/* Whether fd's bytes [off, end) are all zero: 1 yes, 0 no, or -errno. buf holds READ_CHUNK bytes. */
static int all_zeros(int fd, uint64_t off, uint64_t end, uint8_t *buf)
{
    while (off < end) {
        ssize_t got = read_chunk(fd, buf, off, end);
        if (got < 0)
            return (int)got;
        if (got == 0)
            return 1; /* shorter than fstat said: nothing more to look at */
        for (ssize_t k = 0; k < got; k++)
            if (buf[k])
                return 0;
        off += (uint64_t)got;
    }
    return 1;
}

/* Looks in fd's bytes [*off, end) for the first whole record whose sequence number is above after: 1 with *off at
 * it, 0 when there is none, or -errno. Every byte offset is tried; a record's length and CRC-32 reject the others
 * (zeros at the first test). buf holds READ_CHUNK bytes. */
static int find_record(int fd, uint64_t *off, uint64_t end, uint64_t after, uint8_t *buf)
{
    uint64_t at = *off;
    while (at < end) {
        ssize_t got = read_chunk(fd, buf, at, end);
        if (got < 0)
            return (int)got;
        if (got == 0)
            return 0;
        size_t k = 0;
        for (; k < (size_t)got; k++) {
            struct store_record r;
            uint64_t seq;
            size_t used;
            int rc = journal_decode(buf + k, (size_t)got - k, &r, &seq, &used);
            if (rc == 0 && seq > after) {
                *off = at + k;
                return 1;
            }
            if (rc == KMS_ETRUNC && k > 0 && at + (uint64_t)got < end)
                break; /* it may be whole with the bytes after this chunk: read again from here */
        }
        at += k;
    }
    return 0;
}

/* Moves fd's bytes [from, end) down to offset to (to < from), the first ones first: a crash in the middle leaves
 * whole records up to some point, then bytes the next start's scan takes as damage again (below). */
static int move_down(int fd, uint64_t from, uint64_t end, uint64_t to, uint8_t *buf)
{
    while (from < end) {
        ssize_t got = read_chunk(fd, buf, from, end);
        if (got <= 0)
            return got < 0 ? (int)got : -EIO;
        for (size_t put = 0; put < (size_t)got;) {
            ssize_t n = pwrite(fd, buf + put, (size_t)got - put, (off_t)(to + put));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                return n < 0 ? -errno : -EIO;
            put += (size_t)n;
        }
        from += (uint64_t)got;
        to += (uint64_t)got;
    }
    return 0;
}

/*
 * Opens journal file i, finds its whole records and cuts anything after them. Bytes that are not a record with
 * whole records after them (a disk error, or a power loss that kept a later page of the file and not an earlier
 * one: the journal is not synced, docs/internals/store.md) are cut out and the records after them kept, moved down
 * over them; records at or below the last sequence number read before the damage are not taken as what follows it
 * (the copies an interrupted move leaves). Returns 0 or -errno.
 */
static int open_journal(struct store_writer *w, int i, uint8_t *buf, struct scan *sc)
{
    char path[4096];
    int n = snprintf(path, sizeof path, "%s%s%d", w->cfg.journal, STORE_JOURNAL_SUFFIX, i);
    if (n < 0 || (size_t)n >= sizeof path)
        return -ENAMETOOLONG;
    w->fd[i] = open(path, O_RDWR | O_CREAT | O_CLOEXEC, STORE_FILE_MODE); /* the loop writes at its own offsets */
    if (w->fd[i] < 0) {
        int e = errno;
        log_error("registry: cannot open the journal %s: %s", path, strerror(e));
        return -e;
    }
    struct stat st;
    if (fstat(w->fd[i], &st) < 0)
        return -errno;
    memset(sc, 0, sizeof *sc);
    uint64_t off = 0, size = (uint64_t)st.st_size;
    for (;;) { /* each round cuts out at least a byte: the file's size bounds the rounds */
        sc->behind = false;
        int rc = store_writer_read_records(w->fd[i], &off, size, buf, scan_one, sc);
        if (rc < 0)
            return rc;
        if (off >= size)
            break;
        int z = sc->behind ? 0 : all_zeros(w->fd[i], off, size, buf);
        if (z < 0)
            return z;
        if (z) { /* the zeros the loop allocated ahead, left by a stop that could not cut them (kill -9, a crash) */
            log_debug("registry: journal %s: cutting %llu bytes allocated ahead", path,
                      (unsigned long long)(size - off));
            break;
        }
        uint64_t next = off;
        rc = find_record(w->fd[i], &next, size, sc->records ? sc->last : 0, buf);
        if (rc < 0)
            return rc;
        if (!rc) {
            log_warn("registry: journal %s: cutting %llu bytes that are not a whole record (a write torn by a crash)",
                     path, (unsigned long long)(size - off));
            break;
        }
        log_warn("registry: journal %s: %llu bytes at offset %llu are not records in order (a disk error, a power loss "
                 "that kept later writes and lost these, or what an interrupted repair copied); cutting them out and "
                 "keeping the records after them",
                 path, (unsigned long long)(next - off), (unsigned long long)off);
        rc = move_down(w->fd[i], next, size, off, buf);
        if (rc < 0)
            return rc;
        size -= next - off;
        if (ftruncate(w->fd[i], (off_t)size) < 0)
            return -errno;
    }
    if (off < size && ftruncate(w->fd[i], (off_t)off) < 0) /* a torn tail, or zeros allocated ahead */
        return -errno;
    w->end[i] = w->alloc[i] = off;
    return 0;
}

static int seq_path(const struct store_writer *w, char *path, size_t cap)
{
    int n = snprintf(path, cap, "%s%s", w->cfg.journal, STORE_JOURNAL_SEQ_SUFFIX);
    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* The sequence number saved at the last clean stop (0: none). */
static uint64_t saved_seq(const struct store_writer *w)
{
    char path[4096], text[32] = "";
    if (seq_path(w, path, sizeof path) < 0)
        return 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    uint64_t v = 0;
    const char *end;
    if (n <= 0 || num_digits(text, &v, &end) != 0)
        return 0; /* none usable: the journal's own last record, if any, is what the numbers go on from */
    return v;
}

void store_writer_save_seq(struct store_writer *w)
{
    char path[4096], tmp[4096 + 8], text[32];
    if (seq_path(w, path, sizeof path) < 0 || snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return;
    int len = snprintf(text, sizeof text, "%llu\n", (unsigned long long)w->folded);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, STORE_FILE_MODE);
    bool ok = fd >= 0 && write(fd, text, (size_t)len) == len;
    if (fd >= 0 && close(fd) != 0)
        ok = false;
    if (!ok || rename(tmp, path) != 0) {
        log_warn("registry: cannot save the journal's position in %s: %s", path, strerror(errno));
        (void)unlink(tmp);
    }
}

int store_writer_journal_start(struct store_writer *w)
{
    uint8_t *buf = malloc(READ_CHUNK);
    if (!buf)
        return -ENOMEM;
    struct scan sc[2];
    int rc = open_journal(w, 0, buf, &sc[0]);
    if (!rc)
        rc = open_journal(w, 1, buf, &sc[1]);
    free(buf);
    if (rc)
        return rc;
    if (store_asleep(w->db)) { /* not reached at start: where the registry stands is read at the first wake */
        w->folded = saved_seq(w);
        w->folded_known = false;
    } else {
        rc = store_journal_seq(w->db, &w->folded);
        if (rc) {
            log_error("registry: %s", store_errmsg(w->db));
            return rc;
        }
        w->folded_known = true;
    }
    /* the older file is folded first; the loop appends to the newer one (or to the only non-empty one) */
    int older = 0;
    if (sc[0].records && sc[1].records)
        older = sc[1].first < sc[0].first;
    else if (sc[1].records)
        older = 1;
    w->rd = older;
    w->active = sc[0].records && sc[1].records ? !older : older;
    uint64_t last = w->folded;
    for (int i = 0; i < 2; i++)
        if (sc[i].records && sc[i].last > last)
            last = sc[i].last;
    w->next_seq = w->first_seq = last + 1;
    w->pending = w->end[0] + w->end[1];
    if (w->pending)
        log_info("registry: folding %llu journal records left by the last run",
                 (unsigned long long)(sc[0].records + sc[1].records));
    return 0;
}
