/*
 * pq_fns — the libpq functions a PostgreSQL registry calls (store_pg.c), opened with dlopen (lazylib.h) when the first
 * such registry is opened. A kmsd on SQLite (the default) never maps libpq and the TLS, Kerberos and LDAP libraries it
 * links (about 4 MB of code). Once opened, libpq stays until the process ends: OpenSSL, which it loads, keeps exit
 * handlers.
 *
 * store_pg.c calls pq_fn.NAME(...) where it would call NAME(...); the pointer types come from libpq-fe.h.
 */
#ifndef KMSD_PQ_FNS_H
#define KMSD_PQ_FNS_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "lazylib.h"

#define PQ_FNS(X)                                                                                                    \
    X(PQconnectdbParams) X(PQstatus) X(PQerrorMessage) X(PQfinish) X(PQexec) X(PQexecParams) X(PQprepare)          \
    X(PQexecPrepared) X(PQresultStatus) X(PQresultErrorField) X(PQclear) X(PQntuples) X(PQgetvalue) X(PQgetlength) \
    X(PQgetisnull) X(PQcmdTuples) X(PQenterPipelineMode) X(PQexitPipelineMode) X(PQsendQueryPrepared)              \
    X(PQsendQuery) X(PQpipelineSync) X(PQgetResult) X(PQsetNoticeProcessor) X(PQconninfoParse) X(PQconninfoFree)   \
    X(PQtransactionStatus) X(PQserverVersion) X(PQconnectionNeedsPassword) X(PQconnectionUsedPassword)

struct pq_fns {
    LAZYLIB_MEMBERS(PQ_FNS)
};

extern struct pq_fns pq_fn;

/* Opens libpq (KMSD_PQ_SONAME, meson option pq_soname) the first time; 0, or -1 with err filled (cap bytes). Any
 * thread. */
int pq_fns_load(char *err, size_t cap);
bool pq_fns_loaded(void);

#endif
