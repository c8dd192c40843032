/* gcache_redis under faults: a server that is not there yet, killed mid-run (with
   concurrent callers), paused with SIGSTOP (every call bounded by command_timeout_ms +
   20 ms, measured), and a fake server on loopback that answers garbage, closes
   mid-reply, announces a huge bulk, trickles, stays silent, or sends malformed pub/sub
   messages. No crash, no hang; the sanitizer builds check for leaks. */
#define GCACHE_IMPLEMENTATION
#define GCACHE_REDIS_IMPLEMENTATION
#include "gcache_redis.h"
#include "tap.h"
#include "redis_harness.h"

#include <poll.h>
#include <pthread.h>

#define CONNECT_MS 200
#define COMMAND_MS 100
#define SLACK_MS 20

static long long mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}
static double ms_since(long long t0) { return (double)(mono_ns() - t0) / 1e6; }

/* ---- source and instance ------------------------------------------------------------ */
typedef struct source {
    pthread_mutex_t mu;
    int calls;
} source;

static int fetch(void *user, const gcache_key *key, gcache_buf *out) {
    source *s = (source *)user;
    char v[600];
    int n;
    pthread_mutex_lock(&s->mu);
    s->calls++;
    pthread_mutex_unlock(&s->mu);
    n = snprintf(v, sizeof v, "S|%s", gcache_key_str(key, NULL));
    return gcache_buf_set(out, v, (size_t)n);
}

static int source_calls(source *s) {
    int c;
    pthread_mutex_lock(&s->mu);
    c = s->calls;
    pthread_mutex_unlock(&s->mu);
    return c;
}

static gcache_redis_desc desc_for(int port) {
    gcache_redis_desc d;
    memset(&d, 0, sizeof d);
    d.host = "127.0.0.1";
    d.port = port;
    d.connect_timeout_ms = CONNECT_MS;
    d.command_timeout_ms = COMMAND_MS;
    return d;
}

/* A remote-only instance (local layer off) so every get reaches the backend. */
static gcache *make_gc(const gcache_redis_desc *rd, gcache_use_case **uc) {
    gcache_desc d;
    gcache_use_case_desc u;
    gcache *gc = NULL;
    memset(&d, 0, sizeof d);
    d.enabled_by_default = 1;
    if (gcache_redis_create(rd, &d.remote) != GCACHE_OK) return NULL;
    if (gcache_create(&d, &gc) != GCACHE_OK) { d.remote.destroy(d.remote.ctx); return NULL; }
    memset(&u, 0, sizeof u);
    u.name = "GetUser";
    u.key_type = "user_id";
    u.track_for_invalidation = 1;
    u.default_config.ttl_sec[GCACHE_REMOTE] = 300;
    u.default_config.ramp[GCACHE_LOCAL] = 100;
    u.default_config.ramp[GCACHE_REMOTE] = 100;
    if (gcache_register(gc, &u, uc) != GCACHE_OK) { gcache_destroy(gc); return NULL; }
    return gc;
}

/* get id; 1 when it returned the source's value; *fetched: whether the source ran */
static int get_ok(gcache *gc, gcache_use_case *uc, source *src, long long id, int *fetched) {
    gcache_key k;
    gcache_buf out = {0};
    char want[600];
    int before = source_calls(src), rc, ok, n;
    gcache_key_init_int(&k, uc, id);
    rc = gcache_get(gc, &k, fetch, src, &out);
    n = snprintf(want, sizeof want, "S|%s", gcache_key_str(&k, NULL));
    ok = rc == GCACHE_OK && out.len == (size_t)n && memcmp(out.data, want, (size_t)n) == 0;
    if (fetched) *fetched = source_calls(src) != before;
    gcache_buf_free(&out);
    return ok;
}

/* Poll until a fill followed by a read is a remote hit (the layer works again). */
static int wait_recovered(gcache *gc, gcache_use_case *uc, source *src, long long id_base, long long timeout_ms) {
    long long deadline = mono_ns() + timeout_ms * 1000000LL, id = id_base;
    while (mono_ns() < deadline) {
        int fetched = 1;
        get_ok(gc, uc, src, id, NULL);
        if (get_ok(gc, uc, src, id, &fetched) && !fetched) return 1;
        id++;
        redis_sleep_ms(50);
    }
    return 0;
}

/* ---- 1. nothing listens at create time ----------------------------------------------- */
static void test_refused_at_create(void) {
    redis_server srv;
    gcache_redis_desc rd;
    gcache_use_case *uc = NULL;
    gcache *gc;
    source src;
    long long t0;
    int i, all = 1;
    memset(&srv, 0, sizeof srv);
    memset(&src, 0, sizeof src);
    pthread_mutex_init(&src.mu, NULL);
    srv.port = redis_free_port();
    rd = desc_for(srv.port);
    t0 = mono_ns();
    gc = make_gc(&rd, &uc);
    if (!TAP_OK(gc != NULL, "create succeeds with no server listening")) return;
    TAP_OK(ms_since(t0) <= CONNECT_MS + COMMAND_MS + SLACK_MS, "... and does not block (%.1f ms)", ms_since(t0));
    for (i = 0; i < 20; i++) all &= get_ok(gc, uc, &src, i, NULL);
    TAP_OK(all, "every get returns the source's value while the server is missing");
    TAP_IS_INT(source_calls(&src), 20, "... every one fetched (fail open)");
    if (redis_start(&srv, NULL) != 0) { TAP_OK(0, "start redis on the port"); gcache_destroy(gc); return; }
    t0 = mono_ns();
    TAP_OK(wait_recovered(gc, uc, &src, 1000, 15000), "the layer works once the server appears (%.0f ms)", ms_since(t0));
    gcache_destroy(gc);
    redis_stop(&srv);
    pthread_mutex_destroy(&src.mu);
}

/* A logger that remembers whether it heard the down and up transitions. */
typedef struct log_capture {
    pthread_mutex_t mu;
    int down, up, lines;
} log_capture;

static void capture_log(void *user, int level, const char *msg) {
    log_capture *lc = (log_capture *)user;
    pthread_mutex_lock(&lc->mu);
    lc->lines++;
    if (level == GCACHE_LOG_WARN && strstr(msg, "gcache_redis:") && strstr(msg, "is down")) lc->down++;
    if (level == GCACHE_LOG_INFO && strstr(msg, "gcache_redis:") && strstr(msg, "up again")) lc->up++;
    pthread_mutex_unlock(&lc->mu);
}

/* ---- 2. killed mid-run, with concurrent callers ---------------------------------------- */
typedef struct worker {
    gcache *gc;
    gcache_use_case *uc;
    source *src;
    pthread_mutex_t *mu;
    int *stop;
    int bad, done;
    long long base;
} worker;

static void *worker_main(void *arg) {
    worker *w = (worker *)arg;
    long long i = 0;
    for (;;) {
        int stop;
        pthread_mutex_lock(w->mu);
        stop = *w->stop;
        pthread_mutex_unlock(w->mu);
        if (stop) break;
        if (!get_ok(w->gc, w->uc, w->src, w->base + (i++ % 50), NULL)) w->bad++;
        w->done++;
    }
    return NULL;
}

static void test_killed(void) {
    redis_server srv;
    gcache_redis_desc rd;
    gcache_use_case *uc = NULL;
    gcache *gc;
    source src;
    gcache_stats st;
    pthread_t th[4];
    worker w[4];
    pthread_mutex_t mu;
    log_capture lc;
    int stop = 0, i, all = 1, fetched = 0, bad = 0, done = 0;
    long long t0;
    memset(&lc, 0, sizeof lc);
    pthread_mutex_init(&lc.mu, NULL);
    memset(&srv, 0, sizeof srv);
    memset(&src, 0, sizeof src);
    pthread_mutex_init(&src.mu, NULL);
    pthread_mutex_init(&mu, NULL);
    if (redis_start(&srv, NULL) != 0) { TAP_OK(0, "start redis"); return; }
    rd = desc_for(srv.port);
    rd.pool_size = 2; /* fewer connections than callers: callers queue for them */
    rd.logger.fn = capture_log;
    rd.logger.user_data = &lc;
    gc = make_gc(&rd, &uc);
    if (!TAP_OK(gc != NULL, "instance")) return;
    get_ok(gc, uc, &src, 1, NULL);
    TAP_OK(get_ok(gc, uc, &src, 1, &fetched) && !fetched, "a remote hit before the kill");

    for (i = 0; i < 4; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].gc = gc; w[i].uc = uc; w[i].src = &src; w[i].mu = &mu; w[i].stop = &stop;
        w[i].base = 10000 * (i + 1);
        pthread_create(&th[i], NULL, worker_main, &w[i]);
    }
    redis_sleep_ms(200);
    redis_kill(&srv);
    for (i = 0; i < 40; i++) {
        all &= get_ok(gc, uc, &src, i % 5, NULL);
        redis_sleep_ms(5);
    }
    TAP_OK(all, "every get returns the source's value after the kill");
    gcache_stats_get(gc, NULL, GCACHE_REMOTE, &st);
    TAP_OK(st.disabled[GCACHE_REASON_SERVER_DOWN] > 0, "the breaker opened (disabled server_down = %llu)",
           st.disabled[GCACHE_REASON_SERVER_DOWN]);
    TAP_OK(st.errors > 0, "remote errors were counted (%llu)", st.errors);
    TAP_IS_INT(redis_restart(&srv), 0, "a new server on the same port");
    t0 = mono_ns();
    TAP_OK(wait_recovered(gc, uc, &src, 2000, 15000), "calls recover (%.0f ms after the restart)", ms_since(t0));
    pthread_mutex_lock(&mu);
    stop = 1;
    pthread_mutex_unlock(&mu);
    for (i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        bad += w[i].bad;
        done += w[i].done;
    }
    TAP_OK(bad == 0 && done > 0, "4 concurrent callers got the source's value every time (%d calls, %d wrong)", done, bad);
    gcache_destroy(gc);
    TAP_OK(lc.down >= 1 && lc.up >= 1, "the logger heard the server go down and come back (%d, %d)", lc.down, lc.up);
    TAP_OK(lc.lines < 40, "and only the transitions (%d lines)", lc.lines);
    pthread_mutex_destroy(&lc.mu);
    redis_stop(&srv);
    pthread_mutex_destroy(&mu);
    pthread_mutex_destroy(&src.mu);
}

/* ---- 3. paused with SIGSTOP -------------------------------------------------------------- */
static double worst;
static int timed(double ms) {
    if (ms > worst) worst = ms;
    return ms <= COMMAND_MS + SLACK_MS;
}

static void test_paused(void) {
    redis_server srv;
    gcache_redis_desc rd;
    gcache_use_case *uc = NULL;
    gcache *gc;
    gcache_remote r;
    source src;
    gcache_slice k, v, vals[2];
    void *reply;
    long long t0;
    int i, all_ok = 1, all_fast = 1, round;
    memset(&srv, 0, sizeof srv);
    memset(&src, 0, sizeof src);
    pthread_mutex_init(&src.mu, NULL);
    if (redis_start(&srv, NULL) != 0) { TAP_OK(0, "start redis"); return; }
    rd = desc_for(srv.port);
    gc = make_gc(&rd, &uc);
    if (!TAP_OK(gc != NULL, "instance")) return;
    TAP_IS_INT(gcache_redis_create(&rd, &r), GCACHE_OK, "a second backend for direct calls");
    get_ok(gc, uc, &src, 1, NULL);
    k.ptr = "pause:k";
    k.len = 7;
    v.ptr = "v";
    v.len = 1;
    TAP_IS_INT(r.set(r.ctx, k, v, 60), GCACHE_OK, "direct set before the pause");

    redis_pause(&srv);
    worst = 0;
    for (i = 0; i < 20; i++) {
        t0 = mono_ns();
        all_ok &= get_ok(gc, uc, &src, i % 3, NULL);
        all_fast &= timed(ms_since(t0));
    }
    TAP_OK(all_ok, "gcache_get returns the source's value while redis is stopped");
    TAP_OK(all_fast, "every gcache_get returned within command_timeout_ms + 20 ms (worst %.1f ms)", worst);
    worst = 0;
    all_fast = 1;
    t0 = mono_ns(); gcache_invalidate(gc, "user_id", "1", 0); all_fast &= timed(ms_since(t0));
    {
        gcache_key key;
        gcache_key_init_int(&key, uc, 1);
        t0 = mono_ns(); gcache_delete(gc, &key); all_fast &= timed(ms_since(t0));
    }
    t0 = mono_ns(); gcache_flush(gc); all_fast &= timed(ms_since(t0));
    TAP_OK(all_fast, "gcache_invalidate, gcache_delete and gcache_flush too (worst %.1f ms)", worst);

    /* direct backend calls, including probes after the backoff has run out */
    for (round = 0; round < 3; round++) {
        int rc, fast = 1, neg = 1;
        worst = 0;
        if (round) redis_sleep_ms(GCACHE_REDIS_BACKOFF_MAX_MS + 100);
        reply = NULL;
        t0 = mono_ns(); rc = r.mget(r.ctx, &k, 1, vals, &reply); fast &= timed(ms_since(t0)); neg &= rc < 0 && !reply;
        t0 = mono_ns(); rc = r.set(r.ctx, k, v, 60); fast &= timed(ms_since(t0)); neg &= rc < 0;
        t0 = mono_ns(); rc = r.del(r.ctx, k); fast &= timed(ms_since(t0)); neg &= rc < 0;
        t0 = mono_ns(); rc = r.publish(r.ctx, k, 1); fast &= timed(ms_since(t0)); neg &= rc < 0;
        t0 = mono_ns(); rc = r.flush_prefix(r.ctx, k); fast &= timed(ms_since(t0)); neg &= rc < 0;
        TAP_OK(neg, "round %d: every backend call fails while stopped", round + 1);
        TAP_OK(fast, "round %d: every backend call returned within command_timeout_ms + 20 ms (worst %.1f ms)", round + 1,
               worst);
    }
    {   /* the first call of a round is a probe that really waits: it times out */
        int rc;
        redis_sleep_ms(GCACHE_REDIS_BACKOFF_MAX_MS + 100);
        reply = NULL;
        t0 = mono_ns();
        rc = r.mget(r.ctx, &k, 1, vals, &reply);
        TAP_IS_INT(rc, GCACHE_ETIMEOUT, "a probe against the stopped server reports GCACHE_ETIMEOUT");
        TAP_OK(ms_since(t0) >= COMMAND_MS - 5, "... after waiting for the command timeout (%.1f ms)", ms_since(t0));
    }

    redis_resume(&srv);
    t0 = mono_ns();
    TAP_OK(wait_recovered(gc, uc, &src, 3000, 15000), "gets recover after SIGCONT (%.0f ms)", ms_since(t0));
    {
        long long deadline = mono_ns() + 10000000000LL;
        int rc = -1;
        while (rc != 0 && mono_ns() < deadline) {
            reply = NULL;
            rc = r.mget(r.ctx, &k, 1, vals, &reply);
            if (rc == 0) {
                TAP_OK(vals[0].ptr && vals[0].len == 1 && vals[0].ptr[0] == 'v', "the direct backend reads its key again");
                r.release(r.ctx, reply);
            } else {
                redis_sleep_ms(50);
            }
        }
        TAP_IS_INT(rc, 0, "the direct backend recovers");
    }
    r.destroy(r.ctx);
    gcache_destroy(gc);
    redis_stop(&srv);
    pthread_mutex_destroy(&src.mu);
}

/* ---- 4. a fake server on loopback -------------------------------------------------------- */
enum { FAKE_GARBAGE, FAKE_CLOSE_MID, FAKE_HUGE_BULK, FAKE_HUGE_BULK_CLOSE, FAKE_WRONG_TYPE, FAKE_ERROR,
       FAKE_TRICKLE, FAKE_SILENT, FAKE_PUBSUB, FAKE_MODES };
static const char *fake_names[FAKE_MODES] = {"garbage", "close mid-reply", "huge bulk length", "huge bulk then close",
                                             "wrong reply type", "error reply", "trickle", "silent", "pubsub"};

#define FAKE_MAX_CONNS 64
typedef struct fake_server {
    int lfd, port, mode;
    pthread_mutex_t mu;
    int stop, nconns;
    pthread_t acceptor, conns[FAKE_MAX_CONNS];
    int fds[FAKE_MAX_CONNS];
} fake_server;

typedef struct fake_conn { fake_server *f; int fd; } fake_conn;

static int fake_stopping(fake_server *f) {
    int s;
    pthread_mutex_lock(&f->mu);
    s = f->stop;
    pthread_mutex_unlock(&f->mu);
    return s;
}

static void fake_send(int fd, const char *s, size_t n) {
    while (n) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w <= 0) return;
        s += w;
        n -= (size_t)w;
    }
}

static void fake_str(int fd, const char *s) { fake_send(fd, s, strlen(s)); }

static void fake_pubsub_msg(int fd, const char *payload) {
    char buf[256];
    int n = snprintf(buf, sizeof buf, "*3\r\n$7\r\nmessage\r\n$17\r\ngcache:invalidate\r\n$%d\r\n%s\r\n", (int)strlen(payload),
                     payload);
    fake_send(fd, buf, (size_t)n);
}

static void *fake_conn_main(void *arg) {
    fake_conn *c = (fake_conn *)arg;
    fake_server *f = c->f;
    int fd = c->fd, answered = 0;
    free(c);
    while (!fake_stopping(f)) {
        struct pollfd p;
        char buf[4096];
        ssize_t n;
        p.fd = fd;
        p.events = POLLIN;
        p.revents = 0;
        if (poll(&p, 1, 20) <= 0) continue;
        n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        if (f->mode == FAKE_SILENT || (answered && (f->mode == FAKE_HUGE_BULK || f->mode == FAKE_PUBSUB))) continue;
        answered = 1;
        switch (f->mode) {
        case FAKE_GARBAGE: fake_send(fd, "this is not RESP at all\r\n", 25); break;
        case FAKE_CLOSE_MID: fake_send(fd, "*2\r\n$5\r\nab", 10); goto done;
        case FAKE_HUGE_BULK:
        case FAKE_HUGE_BULK_CLOSE: {
            char junk[4096];
            memset(junk, 'x', sizeof junk);
            fake_send(fd, "*2\r\n$999999999999\r\n", 20);
            fake_send(fd, junk, sizeof junk);
            if (f->mode == FAKE_HUGE_BULK_CLOSE) goto done;
            break;
        }
        case FAKE_WRONG_TYPE: fake_send(fd, "*1\r\n:5\r\n", 8); break; /* no command expects this */
        case FAKE_ERROR: fake_send(fd, "-ERR boom\r\n", 11); break;
        case FAKE_TRICKLE: {
            const char *s = "*2\r\n$3\r\nabc\r\n$3\r\nxyz\r\n";
            size_t i;
            for (i = 0; s[i] && !fake_stopping(f); i++) {
                fake_send(fd, s + i, 1);
                redis_sleep_ms(40);
            }
            break;
        }
        case FAKE_PUBSUB:
            fake_str(fd, "*3\r\n$9\r\nsubscribe\r\n$17\r\ngcache:invalidate\r\n:1\r\n");
            fake_pubsub_msg(fd, "abc user_id:1");  /* non-numeric watermark */
            fake_pubsub_msg(fd, "123");            /* no space */
            fake_pubsub_msg(fd, "123 ");           /* empty id */
            fake_pubsub_msg(fd, "123 nocolon");    /* not key_type:id */
            fake_pubsub_msg(fd, " user_id:1");     /* empty watermark */
            fake_pubsub_msg(fd, "12x user_id:1");  /* trailing garbage in the watermark */
            fake_str(fd, "*3\r\n$8\r\npmessage\r\n$1\r\nx\r\n$1\r\ny\r\n"); /* other kinds */
            fake_str(fd, ":7\r\n");
            fake_pubsub_msg(fd, "456 user_id:7");  /* the one good message */
            break;
        }
    }
done:
    close(fd);
    return NULL;
}

static void *fake_accept_main(void *arg) {
    fake_server *f = (fake_server *)arg;
    while (!fake_stopping(f)) {
        struct pollfd p;
        int fd;
        fake_conn *c;
        p.fd = f->lfd;
        p.events = POLLIN;
        p.revents = 0;
        if (poll(&p, 1, 20) <= 0) continue;
        fd = accept(f->lfd, NULL, NULL);
        if (fd < 0) continue;
        pthread_mutex_lock(&f->mu);
        if (f->nconns == FAKE_MAX_CONNS) { pthread_mutex_unlock(&f->mu); close(fd); continue; }
        c = (fake_conn *)malloc(sizeof *c);
        c->f = f;
        c->fd = fd;
        pthread_create(&f->conns[f->nconns++], NULL, fake_conn_main, c);
        pthread_mutex_unlock(&f->mu);
    }
    return NULL;
}

static int fake_start(fake_server *f, int mode) {
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int one = 1;
    memset(f, 0, sizeof *f);
    f->mode = mode;
    f->lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (f->lfd < 0) return -1;
    setsockopt(f->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(f->lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(f->lfd, 64) != 0 ||
        getsockname(f->lfd, (struct sockaddr *)&a, &len) != 0) {
        close(f->lfd);
        return -1;
    }
    f->port = ntohs(a.sin_port);
    pthread_mutex_init(&f->mu, NULL);
    pthread_create(&f->acceptor, NULL, fake_accept_main, f);
    return 0;
}

static void fake_stop(fake_server *f) {
    int i;
    pthread_mutex_lock(&f->mu);
    f->stop = 1;
    pthread_mutex_unlock(&f->mu);
    pthread_join(f->acceptor, NULL);
    for (i = 0; i < f->nconns; i++) pthread_join(f->conns[i], NULL);
    close(f->lfd);
    pthread_mutex_destroy(&f->mu);
}

/* Each vtable call against a fresh backend (so none is just a fail-fast of an earlier
   failure): negative status, the expected kind, within the connect + command bound.
   Modes where the server answers at once get a generous command timeout, so a slow
   machine (valgrind) cannot turn their error into a timeout. */
static void fake_calls(fake_server *f, int want) {
    static const char *ops[5] = {"mget", "set", "del", "flush_prefix", "publish"};
    int op;
    for (op = 0; op < 5; op++) {
        gcache_redis_desc rd = desc_for(f->port);
        gcache_remote r;
        gcache_slice k, vals[2];
        void *reply = (void *)&r;
        long long t0;
        double ms;
        int rc = 0;
        k.ptr = "fake:key";
        k.len = 8;
        if (want != GCACHE_ETIMEOUT) rd.command_timeout_ms = 2000;
        if (gcache_redis_create(&rd, &r) != GCACHE_OK) { TAP_OK(0, "create"); continue; }
        t0 = mono_ns();
        switch (op) {
        case 0: {
            gcache_slice ks[2];
            ks[0] = k;
            ks[1] = k;
            rc = r.mget(r.ctx, ks, 2, vals, &reply);
            break;
        }
        case 1: rc = r.set(r.ctx, k, k, 10); break;
        case 2: rc = r.del(r.ctx, k); break;
        case 3: rc = r.flush_prefix(r.ctx, k); break;
        case 4: rc = r.publish(r.ctx, k, 5); break;
        }
        ms = ms_since(t0);
        TAP_OK(rc == want, "%s: %s returns %s (got %s)", fake_names[f->mode], ops[op], gcache_strerror(want),
               gcache_strerror(rc));
        TAP_OK(ms <= CONNECT_MS + rd.command_timeout_ms + SLACK_MS, "%s: %s returned in %.1f ms", fake_names[f->mode],
               ops[op], ms);
        if (op == 0) TAP_OK(reply == NULL, "%s: a failed mget leaves *reply NULL", fake_names[f->mode]);
        t0 = mono_ns();
        r.destroy(r.ctx);
        TAP_OK(ms_since(t0) < 200, "%s: destroy is prompt", fake_names[f->mode]);
    }
}

/* Through gcache: every get still returns the source's value. */
static void fake_through_core(fake_server *f) {
    gcache_redis_desc rd = desc_for(f->port);
    gcache_use_case *uc = NULL;
    source src;
    gcache *gc;
    int i, all = 1;
    long long t0;
    memset(&src, 0, sizeof src);
    pthread_mutex_init(&src.mu, NULL);
    gc = make_gc(&rd, &uc);
    if (!TAP_OK(gc != NULL, "%s: instance (subscribing to a broken server is no error)", fake_names[f->mode])) return;
    for (i = 0; i < 8; i++) all &= get_ok(gc, uc, &src, i, NULL);
    TAP_OK(all, "%s: every gcache_get returns the source's value", fake_names[f->mode]);
    t0 = mono_ns();
    gcache_destroy(gc);
    TAP_OK(ms_since(t0) < CONNECT_MS + COMMAND_MS + 200, "%s: gcache_destroy stops the subscriber promptly (%.1f ms)",
           fake_names[f->mode], ms_since(t0));
    pthread_mutex_destroy(&src.mu);
}

typedef struct listener {
    pthread_mutex_t mu;
    int good, other, empty;
    long long wm;
} listener;

static void on_inv(void *u, gcache_slice id, long long wm) {
    listener *l = (listener *)u;
    pthread_mutex_lock(&l->mu);
    if (id.len == 0) l->empty++;
    else if (id.len == 9 && memcmp(id.ptr, "user_id:7", 9) == 0) { l->good++; l->wm = wm; }
    else l->other++;
    pthread_mutex_unlock(&l->mu);
}

static void test_fake(void) {
    static const int want[FAKE_MODES] = {GCACHE_EBACKEND, GCACHE_EBACKEND, GCACHE_ETIMEOUT, GCACHE_EBACKEND,
                                         GCACHE_EBACKEND, GCACHE_EBACKEND, GCACHE_ETIMEOUT, GCACHE_ETIMEOUT, 0};
    int mode;
    for (mode = 0; mode < FAKE_PUBSUB; mode++) {
        fake_server f;
        if (!TAP_OK(fake_start(&f, mode) == 0, "fake server (%s)", fake_names[mode])) continue;
        fake_calls(&f, want[mode]);
        fake_through_core(&f);
        fake_stop(&f);
    }
    {   /* malformed pub/sub messages are ignored; the good one is delivered */
        fake_server f;
        gcache_redis_desc rd;
        gcache_remote r;
        listener l;
        long long deadline;
        if (!TAP_OK(fake_start(&f, FAKE_PUBSUB) == 0, "fake pub/sub server")) return;
        rd = desc_for(f.port);
        memset(&l, 0, sizeof l);
        pthread_mutex_init(&l.mu, NULL);
        TAP_IS_INT(gcache_redis_create(&rd, &r), GCACHE_OK, "backend on the fake pub/sub server");
        TAP_IS_INT(r.subscribe(r.ctx, on_inv, &l), GCACHE_OK, "subscribe");
        deadline = mono_ns() + 3000000000LL;
        for (;;) {
            int good;
            pthread_mutex_lock(&l.mu);
            good = l.good;
            pthread_mutex_unlock(&l.mu);
            if (good || mono_ns() > deadline) break;
            redis_sleep_ms(10);
        }
        redis_sleep_ms(100);
        pthread_mutex_lock(&l.mu);
        TAP_OK(l.good == 1 && l.wm == 456, "the well-formed message is delivered once (%d, wm %lld)", l.good, l.wm);
        TAP_IS_INT(l.other, 0, "malformed messages are ignored");
        TAP_IS_INT(l.empty, 0, "no \"lost\" signal on a first subscribe that succeeded");
        pthread_mutex_unlock(&l.mu);
        TAP_IS_INT(r.subscribe(r.ctx, NULL, &l), GCACHE_OK, "detach");
        r.destroy(r.ctx);
        pthread_mutex_destroy(&l.mu);
        fake_stop(&f);
    }
}

int main(void) {
    redis_server probe;
    memset(&probe, 0, sizeof probe);
    if (redis_find_binary(probe.binary, sizeof probe.binary) != 0) TAP_SKIP_ALL("redis-server not found");
    TAP_DIAG("hiredis %d.%d.%d; connect_timeout_ms %d, command_timeout_ms %d", HIREDIS_MAJOR, HIREDIS_MINOR,
             HIREDIS_PATCH, CONNECT_MS, COMMAND_MS);
    test_refused_at_create();
    test_killed();
    test_paused();
    test_fake();
    return TAP_DONE();
}
