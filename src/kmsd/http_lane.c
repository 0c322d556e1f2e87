/*
 * The HTTP server's lanes: a worker thread each, with its queue, for what may wait. libmicrohttpd serves every
 * connection of an address from one thread; a request that waited there (a registry query takes seconds on a
 * million clients, the /readyz self-activation up to its timeouts) held up every other one, /healthz included.
 * The access handler suspends such a request's connection and queues it here; the lane runs it, keeps the answer
 * in the job and resumes the connection, and libmicrohttpd's thread queues the answer (docs/internals/http.md).
 */
#include "http_int.h"

#include <string.h>

#include "log.h"
#include "thread_stack.h"

int http_lane_init(struct http_lane *l, struct http_server *h, const char *name,
                   void (*run)(struct http_server *h, struct http_job *job))
{
    memset(l, 0, sizeof *l);
    l->name = name;
    l->h = h;
    l->run = run;
    int rc = pthread_mutex_init(&l->mu, NULL);
    if (rc != 0)
        return rc;
    rc = pthread_cond_init(&l->cv, NULL);
    if (rc != 0)
        pthread_mutex_destroy(&l->mu);
    return rc;
}

static void *lane_main(void *arg)
{
    struct http_lane *l = arg;
    log_thread_name(l->name);
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->head && !l->stopping)
            pthread_cond_wait(&l->cv, &l->mu);
        struct http_job *job = l->head;
        if (!job)
            break; /* stopping, and nothing waits */
        l->head = job->next;
        if (!l->head)
            l->tail = NULL;
        bool stopping = l->stopping;
        pthread_mutex_unlock(&l->mu);
        struct MHD_Connection *con = job->con;
        if (stopping)
            http_reply_error(&job->out, 503, "stopping", NULL, "kmsd is stopping");
        else
            l->run(l->h, job);
        job->done = true;
        /* The last use of job: once resumed, libmicrohttpd's thread queues the answer and may free the request.
         * Resuming takes the daemon's mutex that its thread takes before it reads job, which orders the writes. */
        mhd_fn.MHD_resume_connection(con);
        pthread_mutex_lock(&l->mu);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

/* Starts the thread, with l->mu held. Returns 0 or a positive errno. */
static int lane_start(struct http_lane *l)
{
    /* Its own stack: a lane's thread ends whenever the HTTP server dozes, and glibc would keep the stack of each in
     * its cache, with its dynamic TLS and the pages it touched, for as long as kmsd runs. */
    int rc = thread_stack_start(&l->thread, HTTP_THREAD_STACK, &l->stack, lane_main, l);
    if (rc == 0)
        l->started = true;
    return rc;
}

bool http_lane_submit(struct http_lane *l, struct http_job *job)
{
    job->next = NULL;
    job->done = false;
    pthread_mutex_lock(&l->mu);
    if (l->stopping) {
        pthread_mutex_unlock(&l->mu);
        return false;
    }
    if (!l->started) {
        int rc = lane_start(l);
        if (rc != 0) {
            pthread_mutex_unlock(&l->mu);
            log_warn("http: cannot start the %s thread: %s", l->name, strerror(rc));
            return false;
        }
    }
    /* Suspended before it is queued: the lane may resume it as soon as the mutex is released. */
    mhd_fn.MHD_suspend_connection(job->con);
    if (l->tail)
        l->tail->next = job;
    else
        l->head = job;
    l->tail = job;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
    return true;
}

void http_lane_stop(struct http_lane *l)
{
    pthread_mutex_lock(&l->mu);
    l->stopping = true;
    bool started = l->started;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
    if (started) {
        pthread_join(l->thread, NULL);
        thread_stack_unmap(l->stack, HTTP_THREAD_STACK);
        l->stack = NULL;
    }
}

void http_lane_reopen(struct http_lane *l)
{
    pthread_mutex_lock(&l->mu);
    l->stopping = false;
    l->started = false;
    pthread_mutex_unlock(&l->mu);
}

void http_lane_destroy(struct http_lane *l)
{
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
}
