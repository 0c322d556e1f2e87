/*
 * bench/floor — the RSS floor of kmsd's libraries: a program that links what kmsd links (nettle, SQLite,
 * libuv, libmicrohttpd, jansson) and uses each once the way kmsd does at start-up (random bytes from getrandom(2)
 * and an HMAC-SHA-256, a WAL database with one row, one JSON document, an HTTP daemon on 127.0.0.1 with its
 * polling thread, a loop run), then prints its PID and waits for SIGTERM. bench/run reads its VmRSS: no program
 * built on these libraries idles below it.
 *
 * Usage: floor DB_PATH
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <jansson.h>
#include <microhttpd.h>
#include <nettle/hmac.h>
#include <sqlite3.h>
#include <uv.h>

static enum MHD_Result refuse(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *data, size_t *size, void **state)
{
    (void)cls, (void)c, (void)url, (void)method, (void)version, (void)data, (void)size, (void)state;
    return MHD_NO;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: floor DB_PATH\n");
        return 2;
    }
    unsigned char key[16], mac[32];
    if (getrandom(key, sizeof key, 0) != (ssize_t)sizeof key)
        return 1;
    struct hmac_sha256_ctx hmac;
    hmac_sha256_set_key(&hmac, sizeof key, key);
    hmac_sha256_update(&hmac, sizeof key, key);
    hmac_sha256_digest(&hmac, sizeof mac, mac);
    sqlite3 *db;
    if (sqlite3_open(argv[1], &db) != SQLITE_OK ||
        sqlite3_exec(db, "PRAGMA journal_mode = WAL; CREATE TABLE IF NOT EXISTS t (a); INSERT INTO t VALUES (1);",
                     NULL, NULL, NULL) != SQLITE_OK)
        return 1;
    json_t *j = json_pack("{s:i}", "a", (int)mac[0]);
    char *text = j ? json_dumps(j, 0) : NULL;
    free(text);
    json_decref(j);
    struct sockaddr_in lo = {.sin_family = AF_INET, .sin_port = 0, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, refuse, NULL,
                                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&lo, MHD_OPTION_END);
    uv_loop_t *loop = uv_default_loop();
    uv_run(loop, UV_RUN_NOWAIT);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, NULL);
    printf("%d\n", (int)getpid());
    fflush(stdout);
    int sig;
    sigwait(&set, &sig);
    if (d)
        MHD_stop_daemon(d);
    sqlite3_close(db);
    return 0;
}
