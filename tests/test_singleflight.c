/* Singleflight: concurrent misses of one key in one instance run the fetch once; waiters
   get the leader's result (errors too); a leader whose own fixed buffer is too small
   lets each waiter fetch for itself; a slow fetch does not hold up other keys. */
#define GCACHE_IMPLEMENTATION
#include "gcache.h"
#include "tap.h"
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NTHREADS 8

static void sleep_ms(long ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* ---- a reusable barrier (pthread_barrier_t is optional in POSIX) ------------------------- */
typedef struct barrier {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int n, waiting, generation;
} barrier;

static void barrier_init(barrier *b, int n) {
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
    b->n = n;
    b->waiting = 0;
    b->generation = 0;
}

static void barrier_wait(barrier *b) {
    int gen;
    pthread_mutex_lock(&b->mu);
    gen = b->generation;
    if (++b->waiting == b->n) {
        b->waiting = 0;
        b->generation++;
        pthread_cond_broadcast(&b->cv);
    } else {
        while (gen == b->generation) pthread_cond_wait(&b->cv, &b->mu);
    }
    pthread_mutex_unlock(&b->mu);
}

/* ---- shared state of one scenario --------------------------------------------------------- */
typedef struct scenario {
    gcache *gc;
    gcache_use_case *uc;
    barrier start;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int arrived;         /* threads about to call gcache_get */
    int expect_arrived;  /* the leader's fetch waits for this many */
    int fetch_calls;
    int leader_entered;
    int status;          /* what the slow fetch returns */
    size_t value_len;
} scenario;

typedef struct worker {
    scenario *sc;
    int id;
    int fixed_small;     /* use a 4-byte fixed out */
    int rc;
    size_t needed;
    int value_ok;
    int is_leader_fetch; /* this thread's fetch was the first one */
    barrier *start;      /* NULL: the scenario's */
} worker;

static void make_value(unsigned char *dst, size_t len) {
    size_t i;
    for (i = 0; i < len; i++) dst[i] = (unsigned char)('a' + i % 26);
}

/* The fetch: the first call waits until every thread has arrived, then 100 ms more (so
   they are all inside gcache_get, queued behind it), then answers. */
static int slow_fetch(void *user, const gcache_key *key, gcache_buf *out) {
    worker *w = (worker *)user;
    scenario *sc = w->sc;
    int first;
    unsigned char value[256];
    (void)key;
    pthread_mutex_lock(&sc->mu);
    first = sc->fetch_calls++ == 0;
    if (first) {
        struct timespec until;
        w->is_leader_fetch = 1;
        sc->leader_entered = 1;
        pthread_cond_broadcast(&sc->cv);
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 10;
        while (sc->arrived < sc->expect_arrived)
            if (pthread_cond_timedwait(&sc->cv, &sc->mu, &until) != 0) break;
    }
    pthread_mutex_unlock(&sc->mu);
    if (first) sleep_ms(100);
    if (sc->status != GCACHE_OK) return sc->status;
    make_value(value, sc->value_len);
    return gcache_buf_set(out, value, sc->value_len);
}

static void arrive(scenario *sc) {
    pthread_mutex_lock(&sc->mu);
    sc->arrived++;
    pthread_cond_broadcast(&sc->cv);
    pthread_mutex_unlock(&sc->mu);
}

static void *run_worker(void *p) {
    worker *w = (worker *)p;
    scenario *sc = w->sc;
    gcache_key k;
    gcache_buf out = {0};
    unsigned char small[4];
    unsigned char want[256];
    if (w->fixed_small) out = gcache_buf_fixed(small, sizeof small);
    gcache_key_init_int(&k, sc->uc, 42);
    barrier_wait(w->start ? w->start : &sc->start);
    arrive(sc);
    w->rc = gcache_get(sc->gc, &k, slow_fetch, w, &out);
    w->needed = out.needed;
    make_value(want, sc->value_len);
    w->value_ok = w->rc == GCACHE_OK ? (out.len == sc->value_len && memcmp(out.data, want, out.len) == 0)
                                     : (out.len == 0 || w->rc != GCACHE_NOT_FOUND);
    gcache_buf_free(&out);
    return NULL;
}

typedef enum { LAYERS_LOCAL, LAYERS_BOTH, LAYERS_REMOTE } layers;
static const char *layer_names[] = {"local only", "local+remote", "remote only"};


static gcache *make_clocked(layers l, gcache_use_case **uc, fake_clock *fc) {
    gcache_desc d;
    gcache *gc = NULL;
    gcache_use_case_desc u;
    memset(&d, 0, sizeof d);
    d.enabled_by_default = 1;
    if (fc) {
        d.clock.wall_ms_fn = fc_wall;
        d.clock.mono_ns_fn = fc_mono;
        d.clock.user_data = fc;
    }
    if (l != LAYERS_LOCAL && gcache_remote_memory(NULL, &d.remote) != GCACHE_OK) return NULL;
    if (gcache_create(&d, &gc) != GCACHE_OK) return NULL;
    memset(&u, 0, sizeof u);
    u.name = "GetThing";
    u.key_type = "thing_id";
    u.track_for_invalidation = 1;
    u.default_config.ttl_sec[GCACHE_LOCAL] = 60;
    u.default_config.ramp[GCACHE_LOCAL] = l == LAYERS_REMOTE ? 0 : 100;
    u.default_config.ttl_sec[GCACHE_REMOTE] = l == LAYERS_LOCAL ? 0 : 300;
    u.default_config.ramp[GCACHE_REMOTE] = l == LAYERS_LOCAL ? 0 : 100;
    if (gcache_register(gc, &u, uc) != GCACHE_OK) {
        gcache_destroy(gc);
        return NULL;
    }
    return gc;
}

static gcache *make(layers l, gcache_use_case **uc) { return make_clocked(l, uc, NULL); }

static void scenario_init(scenario *sc, gcache *gc, gcache_use_case *uc, int nthreads, int status, size_t value_len) {
    memset(sc, 0, sizeof *sc);
    sc->gc = gc;
    sc->uc = uc;
    barrier_init(&sc->start, nthreads);
    pthread_mutex_init(&sc->mu, NULL);
    pthread_cond_init(&sc->cv, NULL);
    sc->expect_arrived = nthreads;
    sc->status = status;
    sc->value_len = value_len;
}

static void scenario_destroy(scenario *sc) {
    pthread_mutex_destroy(&sc->start.mu);
    pthread_cond_destroy(&sc->start.cv);
    pthread_mutex_destroy(&sc->mu);
    pthread_cond_destroy(&sc->cv);
}

/* 8 threads, one key, one slow fetch */
static void test_once(layers l, int status) {
    gcache_use_case *uc = NULL;
    gcache *gc = make(l, &uc);
    scenario sc;
    worker w[NTHREADS];
    pthread_t th[NTHREADS];
    int i, same_rc = 1, values_ok = 1;
    const char *what = status == GCACHE_OK ? "value" : status == GCACHE_NOT_FOUND ? "NOT_FOUND" : "error -77";
    if (!TAP_OK(gc != NULL, "create (%s)", layer_names[l])) return;
    scenario_init(&sc, gc, uc, NTHREADS, status, 100);
    for (i = 0; i < NTHREADS; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].sc = &sc;
        w[i].id = i;
        pthread_create(&th[i], NULL, run_worker, &w[i]);
    }
    for (i = 0; i < NTHREADS; i++) pthread_join(th[i], NULL);
    for (i = 0; i < NTHREADS; i++) {
        if (w[i].rc != status) same_rc = 0;
        if (!w[i].value_ok) values_ok = 0;
    }
    TAP_IS_INT(sc.fetch_calls, 1, "8 concurrent misses of one key run the fetch once");
    TAP_OK(same_rc, "(%s, %s) every thread gets the leader's status %d", layer_names[l], what, status);
    TAP_OK(values_ok, "(%s, %s) every thread gets the right bytes", layer_names[l], what);
    if (!same_rc)
        for (i = 0; i < NTHREADS; i++) TAP_DIAG("thread %d: rc %d", i, w[i].rc);
    if (status != GCACHE_OK) { /* errors and NOT_FOUND (no negative ttl) are not cached */
        worker one;
        gcache_key k;
        gcache_buf out = {0};
        int before = sc.fetch_calls;
        memset(&one, 0, sizeof one);
        one.sc = &sc;
        sc.expect_arrived = 0;
        gcache_key_init_int(&k, uc, 42);
        TAP_IS_INT(gcache_get(gc, &k, slow_fetch, &one, &out), status, "the next get gets the status again");
        TAP_IS_INT(sc.fetch_calls, before + 1, "and calls fetch again (the leader's result was not cached)");
        gcache_buf_free(&out);
    }
    scenario_destroy(&sc);
    gcache_destroy(gc);
}

/* the leader's fixed buffer is too small: waiters fetch for themselves */
static void test_small_leader(layers l) {
    gcache_use_case *uc = NULL;
    gcache *gc = make(l, &uc);
    scenario sc;
    barrier others;
    worker w[NTHREADS];
    pthread_t th[NTHREADS];
    int i, ok_waiters = 1;
    if (!TAP_OK(gc != NULL, "create (%s)", layer_names[l])) return;
    scenario_init(&sc, gc, uc, 1, GCACHE_OK, 100);
    sc.expect_arrived = NTHREADS;
    /* the leader alone first */
    memset(&w[0], 0, sizeof w[0]);
    w[0].sc = &sc;
    w[0].fixed_small = 1;
    pthread_create(&th[0], NULL, run_worker, &w[0]);
    pthread_mutex_lock(&sc.mu);
    while (!sc.leader_entered) pthread_cond_wait(&sc.cv, &sc.mu);
    pthread_mutex_unlock(&sc.mu);
    /* now the others, while the leader's fetch waits for them */
    barrier_init(&others, NTHREADS - 1);
    for (i = 1; i < NTHREADS; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].sc = &sc;
        w[i].id = i;
        w[i].start = &others;
        pthread_create(&th[i], NULL, run_worker, &w[i]);
    }
    for (i = 0; i < NTHREADS; i++) pthread_join(th[i], NULL);
    TAP_OK(w[0].is_leader_fetch, "small leader: thread 0 ran the first fetch");
    TAP_IS_INT(w[0].rc, GCACHE_ETOOBIG, "small leader: the leader gets ETOOBIG");
    TAP_IS_INT(w[0].needed, 100, "small leader: with needed = 100");
    for (i = 1; i < NTHREADS; i++)
        if (w[i].rc != GCACHE_OK || !w[i].value_ok) ok_waiters = 0;
    TAP_OK(ok_waiters, "(%s) small leader: every waiter gets OK and the full value", layer_names[l]);
    if (!ok_waiters)
        for (i = 1; i < NTHREADS; i++) TAP_DIAG("thread %d: rc %d value %s", i, w[i].rc, w[i].value_ok ? "ok" : "bad");
    TAP_OK(sc.fetch_calls >= 2, "small leader: the waiters fetched for themselves (%d fetches)", sc.fetch_calls);
    pthread_mutex_destroy(&others.mu);
    pthread_cond_destroy(&others.cv);
    scenario_destroy(&sc);
    gcache_destroy(gc);
}

/* ---- a slow fetch does not block another key (same id: same shard when tracked) ---------- */
typedef struct other_key {
    gcache *gc;
    gcache_use_case *uc;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int b_done, a_timed_out, a_in_fetch;
} other_key;

static int fetch_a(void *user, const gcache_key *key, gcache_buf *out) {
    other_key *o = (other_key *)user;
    struct timespec until;
    (void)key;
    pthread_mutex_lock(&o->mu);
    o->a_in_fetch = 1;
    pthread_cond_broadcast(&o->cv);
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    while (!o->b_done)
        if (pthread_cond_timedwait(&o->cv, &o->mu, &until) != 0) {
            o->a_timed_out = 1;
            break;
        }
    pthread_mutex_unlock(&o->mu);
    return gcache_buf_set(out, "A", 1);
}

static int fetch_b(void *user, const gcache_key *key, gcache_buf *out) {
    (void)user;
    (void)key;
    return gcache_buf_set(out, "B", 1);
}

static void *thread_a(void *p) {
    other_key *o = (other_key *)p;
    gcache_key k;
    gcache_buf out = {0};
    gcache_key_init_int(&k, o->uc, 7);
    gcache_key_add_int(&k, "page", 1);
    gcache_get(o->gc, &k, fetch_a, o, &out);
    gcache_buf_free(&out);
    return NULL;
}

static void test_other_keys(void) {
    other_key o;
    pthread_t th;
    gcache_key k;
    gcache_buf out = {0};
    int rc;
    memset(&o, 0, sizeof o);
    o.gc = make(LAYERS_BOTH, &o.uc);
    if (!TAP_OK(o.gc != NULL, "create for other keys")) return;
    pthread_mutex_init(&o.mu, NULL);
    pthread_cond_init(&o.cv, NULL);
    pthread_create(&th, NULL, thread_a, &o);
    pthread_mutex_lock(&o.mu);
    while (!o.a_in_fetch) pthread_cond_wait(&o.cv, &o.mu);
    pthread_mutex_unlock(&o.mu);
    gcache_key_init_int(&k, o.uc, 7);
    gcache_key_add_int(&k, "page", 2);
    rc = gcache_get(o.gc, &k, fetch_b, NULL, &out);
    pthread_mutex_lock(&o.mu);
    o.b_done = 1;
    pthread_cond_broadcast(&o.cv);
    pthread_mutex_unlock(&o.mu);
    pthread_join(th, NULL);
    TAP_IS_INT(rc, GCACHE_OK, "other key: OK");
    TAP_IS_MEM(out.data, out.len, "B", 1, "other key: its own value");
    TAP_OK(!o.a_timed_out, "a slow fetch of one key does not block a get of another key of the same id");
    gcache_buf_free(&out);
    pthread_mutex_destroy(&o.mu);
    pthread_cond_destroy(&o.cv);
    gcache_destroy(o.gc);
}


/* ---- a get that starts after an invalidation returned must not join an older flight ----------
   The leader's fetch read version 1 and is still running; the writer bumps the version to 2
   and gcache_invalidate returns; a new get of the same key starts. Handing it the leader's
   version-1 result would be a stale read after the invalidation returned (issue 5: "a read
   that starts after gcache_invalidate returns never sees the old value"). */
typedef struct late_join {
    gcache *gc;
    gcache_use_case *uc;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int version;
    int leader_in_fetch, release_leader, fetches;
    int late_done, late_rc, late_version, leader_rc, leader_version;
} late_join;

typedef struct late_user { late_join *lj; int is_leader; } late_user;

static int late_fetch(void *user, const gcache_key *key, gcache_buf *out) {
    late_user *u = (late_user *)user;
    late_join *lj = u->lj;
    char val[32];
    int v;
    (void)key;
    pthread_mutex_lock(&lj->mu);
    lj->fetches++;
    v = lj->version;
    if (u->is_leader) {
        struct timespec until;
        lj->leader_in_fetch = 1;
        pthread_cond_broadcast(&lj->cv);
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 10;
        while (!lj->release_leader)
            if (pthread_cond_timedwait(&lj->cv, &lj->mu, &until) != 0) break;
    }
    pthread_mutex_unlock(&lj->mu);
    snprintf(val, sizeof val, "version %d", v);
    return gcache_buf_set(out, val, strlen(val));
}

static int version_of(const gcache_buf *out) {
    int v = -1;
    char tmp[32];
    size_t n = out->len < sizeof tmp - 1 ? out->len : sizeof tmp - 1;
    if (out->data) memcpy(tmp, out->data, n);
    tmp[n] = '\0';
    if (sscanf(tmp, "version %d", &v) != 1) return -1;
    return v;
}

/* One get of id 77 in the late-join scenario, as the leader or as the late caller. */
static int late_get(late_join *lj, int is_leader, int *version) {
    late_user u;
    gcache_key k;
    gcache_buf out = {0};
    int rc;
    u.lj = lj;
    u.is_leader = is_leader;
    gcache_key_init_int(&k, lj->uc, 77);
    rc = gcache_get(lj->gc, &k, late_fetch, &u, &out);
    *version = version_of(&out);
    gcache_buf_free(&out);
    return rc;
}

static void *late_leader(void *p) {
    late_join *lj = (late_join *)p;
    int version, rc = late_get(lj, 1, &version);
    pthread_mutex_lock(&lj->mu);
    lj->leader_rc = rc;
    lj->leader_version = version;
    pthread_mutex_unlock(&lj->mu);
    return NULL;
}

static void *late_joiner(void *p) {
    late_join *lj = (late_join *)p;
    int version, rc = late_get(lj, 0, &version);
    pthread_mutex_lock(&lj->mu);
    lj->late_rc = rc;
    lj->late_version = version;
    lj->late_done = 1;
    pthread_cond_broadcast(&lj->cv);
    pthread_mutex_unlock(&lj->mu);
    return NULL;
}

/* same_ms: a frozen wall clock, and the id already carries a watermark of that same
   millisecond before the leader starts (two invalidations in one millisecond, the fetch
   in between: its value is older than the second one). */
static void test_late_join(layers l, int same_ms) {
    late_join lj;
    pthread_t leader, joiner;
    struct timespec until;
    int rc;
    fake_clock fc = {1700000000000LL, 1000000000ULL};
    memset(&lj, 0, sizeof lj);
    lj.gc = make_clocked(l, &lj.uc, same_ms ? &fc : NULL);
    if (!TAP_OK(lj.gc != NULL, "create (%s)", layer_names[l])) return;
    pthread_mutex_init(&lj.mu, NULL);
    pthread_cond_init(&lj.cv, NULL);
    if (same_ms) gcache_invalidate(lj.gc, "thing_id", "77", 0);
    lj.version = 1;
    pthread_create(&leader, NULL, late_leader, &lj);
    pthread_mutex_lock(&lj.mu);
    while (!lj.leader_in_fetch) pthread_cond_wait(&lj.cv, &lj.mu);
    lj.version = 2; /* the write, then the invalidation */
    pthread_mutex_unlock(&lj.mu);
    rc = gcache_invalidate(lj.gc, "thing_id", "77", 0);
    TAP_IS_INT(rc, GCACHE_OK, "invalidate while the leader's fetch runs");
    pthread_create(&joiner, NULL, late_joiner, &lj);
    /* give the late get up to 300 ms to finish on its own (it should fetch by itself) */
    pthread_mutex_lock(&lj.mu);
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += 300000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    while (!lj.late_done)
        if (pthread_cond_timedwait(&lj.cv, &lj.mu, &until) != 0) break;
    lj.release_leader = 1;
    pthread_cond_broadcast(&lj.cv);
    pthread_mutex_unlock(&lj.mu);
    pthread_join(leader, NULL);
    pthread_join(joiner, NULL);
    TAP_IS_INT(lj.leader_rc, GCACHE_OK, "late join: the leader gets OK");
    TAP_IS_INT(lj.late_rc, GCACHE_OK, "late join: the late get gets OK");
    TAP_OK(lj.late_version == 2,
           "(%s%s) a get that starts after gcache_invalidate returned does not get the older in-flight value",
           layer_names[l], same_ms ? ", two invalidations in one millisecond" : "");
    if (lj.late_version != 2) TAP_DIAG("(%s) the late get received version %d from the leader's flight", layer_names[l],
                                       lj.late_version);
    pthread_mutex_destroy(&lj.mu);
    pthread_cond_destroy(&lj.cv);
    gcache_destroy(lj.gc);
}

int main(void) {
    int l;
    for (l = LAYERS_LOCAL; l <= LAYERS_REMOTE; l++) {
        test_once((layers)l, GCACHE_OK);
        test_once((layers)l, -77);
        test_once((layers)l, GCACHE_NOT_FOUND);
        test_small_leader((layers)l);
    }
    test_other_keys();
    for (l = LAYERS_LOCAL; l <= LAYERS_REMOTE; l++) {
        test_late_join((layers)l, 0);
        test_late_join((layers)l, 1);
    }
    return TAP_DONE();
}
