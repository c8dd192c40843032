/* The circuit breaker: after failure_threshold consecutive remote failures the remote
   layer is skipped (disabled reason server_down) until cooldown_ms has passed on the
   monotonic clock, then one probe decides; success closes it. Corrupt entries and
   malformed watermarks are data, not failures. Values are always right. */
#define GCACHE_IMPLEMENTATION
#include "gcache.h"
#include "tap.h"
#include "testutil.h"
#include "fault_remote.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MS 1000000ULL


static pthread_mutex_t bad_mu = PTHREAD_MUTEX_INITIALIZER;
static int bad_values;

static int fetch(void *user, const gcache_key *key, gcache_buf *out) {
    size_t len;
    const char *k = gcache_key_str(key, &len);
    (void)user;
    gcache_buf_set(out, "v:", 2);
    return gcache_buf_append(out, k, len);
}

static void get_checked(gcache *gc, gcache_use_case *uc, long long id) {
    gcache_key k;
    gcache_buf out = {0};
    size_t len;
    const char *ks;
    int rc;
    gcache_key_init_int(&k, uc, id);
    ks = gcache_key_str(&k, &len);
    rc = gcache_get(gc, &k, fetch, NULL, &out);
    if (rc != GCACHE_OK || out.len != len + 2 || memcmp(out.data + 2, ks, len) != 0) {
        pthread_mutex_lock(&bad_mu);
        bad_values++;
        pthread_mutex_unlock(&bad_mu);
    }
    gcache_buf_free(&out);
}

typedef struct env {
    fake_clock fc;
    gcache_remote faulty;
    gcache *gc;
    gcache_use_case *uc;
} env;

static void env_init(env *e, int threshold, int cooldown_ms) {
    gcache_memory_desc md;
    gcache_remote mem;
    gcache_fault_desc fd;
    gcache_desc d;
    gcache_use_case_desc u;
    memset(e, 0, sizeof *e);
    e->fc.wall_ms = 1700000000000LL;
    e->fc.mono_ns = 1000 * MS;
    memset(&md, 0, sizeof md);
    md.clock.wall_ms_fn = fc_wall;
    md.clock.mono_ns_fn = fc_mono;
    md.clock.user_data = &e->fc;
    gcache_remote_memory(&md, &mem);
    memset(&fd, 0, sizeof fd);
    fd.seed = 7;
    gcache_fault_wrap(mem, &fd, &e->faulty);
    memset(&d, 0, sizeof d);
    d.enabled_by_default = 1;
    d.remote = e->faulty;
    d.breaker.failure_threshold = threshold;
    d.breaker.cooldown_ms = cooldown_ms;
    d.clock = md.clock;
    if (gcache_create(&d, &e->gc) != GCACHE_OK) {
        TAP_OK(0, "create");
        exit(TAP_DONE());
    }
    memset(&u, 0, sizeof u);
    u.name = "GetUser";
    u.key_type = "user_id";
    u.track_for_invalidation = 1;
    u.default_config.ramp[GCACHE_LOCAL] = 100; /* local ttl 0: every get reaches the remote */
    u.default_config.ttl_sec[GCACHE_REMOTE] = 300;
    u.default_config.ramp[GCACHE_REMOTE] = 100;
    gcache_register(e->gc, &u, &e->uc);
}

static void set_rates(env *e, double error_rate, double corrupt_rate, unsigned latency_us) {
    gcache_fault_desc fd;
    memset(&fd, 0, sizeof fd);
    fd.error_rate = error_rate;
    fd.corrupt_rate = corrupt_rate;
    fd.latency_rate = latency_us ? 1.0 : 0.0;
    fd.latency_us = latency_us;
    gcache_fault_set_rates(&e->faulty, &fd);
}

static unsigned long long calls(env *e) { return gcache_fault_total_calls(&e->faulty); }

static unsigned long long server_down(env *e) {
    gcache_stats s;
    gcache_stats_get(e->gc, NULL, GCACHE_REMOTE, &s);
    return s.disabled[GCACHE_REASON_SERVER_DOWN];
}

static void test_open_probe_close(void) {
    env e;
    unsigned long long c, c10, sd;
    long long id = 0;
    int i;
    env_init(&e, 3, 1000);
    set_rates(&e, 1.0, 0, 0);
    for (i = 0; i < 10; i++) get_checked(e.gc, e.uc, id++);
    c10 = calls(&e);
    for (i = 0; i < 10; i++) get_checked(e.gc, e.uc, id++);
    c = calls(&e);
    TAP_OK(c10 >= 3 && c10 <= 4, "threshold 3: the breaker opened after 3 consecutive failures (%llu backend calls)",
           c10);
    TAP_IS_INT(c, c10, "open: the backend call count stops growing");
    sd = server_down(&e);
    TAP_OK(sd >= 10, "open: gets counted as disabled server_down at REMOTE (%llu)", sd);
    TAP_IS_INT(bad_values, 0, "open: every get returned the fetch's value");

    /* not before the cooldown */
    e.fc.mono_ns += 900 * MS;
    get_checked(e.gc, e.uc, id++);
    TAP_IS_INT(calls(&e), c, "cooldown not over (900 ms of 1000): still skipped");
    /* after the cooldown: one probe, which fails and reopens */
    e.fc.mono_ns += 200 * MS;
    get_checked(e.gc, e.uc, id++);
    TAP_OK(calls(&e) >= c + 1 && calls(&e) <= c + 2, "after the cooldown: one probe (%llu calls)", calls(&e) - c);
    c = calls(&e);
    for (i = 0; i < 5; i++) get_checked(e.gc, e.uc, id++);
    TAP_IS_INT(calls(&e), c, "a failed probe reopens the breaker");

    /* heal: the next probe succeeds and closes it */
    set_rates(&e, 0, 0, 0);
    e.fc.mono_ns += 999 * MS;
    get_checked(e.gc, e.uc, id++);
    TAP_IS_INT(calls(&e), c, "the cooldown restarts from the failed probe");
    e.fc.mono_ns += 2 * MS;
    get_checked(e.gc, e.uc, id++);
    TAP_OK(calls(&e) > c, "after the cooldown: a probe");
    sd = server_down(&e);
    for (i = 0; i < 5; i++) {
        c = calls(&e);
        get_checked(e.gc, e.uc, id);
        if (calls(&e) == c) break;
    }
    TAP_IS_INT(i, 5, "a successful probe closes the breaker: every get reaches the backend");
    TAP_IS_INT(server_down(&e), sd, "closed: no more server_down");
    {
        gcache_fault_counts fc;
        gcache_stats st;
        gcache_fault_get_counts(&e.faulty, &fc);
        gcache_stats_get(e.gc, NULL, GCACHE_REMOTE, &st);
        TAP_OK(st.hits >= 4, "closed: remote hits again (%llu)", st.hits);
    }
    TAP_IS_INT(bad_values, 0, "every get returned the fetch's value");
    gcache_destroy(e.gc);
}

/* a success in between resets the count of consecutive failures */
static void test_consecutive(void) {
    env e;
    unsigned long long c;
    env_init(&e, 3, 1000);
    set_rates(&e, 1.0, 0, 0);
    get_checked(e.gc, e.uc, 1); /* mget + set fail: 2 failures */
    set_rates(&e, 0, 0, 0);
    get_checked(e.gc, e.uc, 2); /* success */
    set_rates(&e, 1.0, 0, 0);
    get_checked(e.gc, e.uc, 3); /* 2 failures again */
    c = calls(&e);
    get_checked(e.gc, e.uc, 4);
    TAP_OK(calls(&e) > c, "a success resets the consecutive failure count (2 + ok + 2 < 3 in a row: still closed)");
    TAP_IS_INT(bad_values, 0, "values right");
    gcache_destroy(e.gc);
}

/* the defaults: 5 failures, 1000 ms */
static void test_defaults(void) {
    env e;
    unsigned long long c;
    int i;
    env_init(&e, 0, 0);
    set_rates(&e, 1.0, 0, 0);
    for (i = 0; i < 20; i++) get_checked(e.gc, e.uc, i);
    c = calls(&e);
    TAP_OK(c >= 5 && c <= 6, "default threshold: opens after 5 consecutive failures (%llu calls)", c);
    e.fc.mono_ns += 999 * MS;
    get_checked(e.gc, e.uc, 100);
    TAP_IS_INT(calls(&e), c, "default cooldown: still open at 999 ms");
    e.fc.mono_ns += 2 * MS;
    get_checked(e.gc, e.uc, 101);
    TAP_OK(calls(&e) > c, "default cooldown: a probe after 1000 ms");
    gcache_destroy(e.gc);
}

/* corrupt entries and malformed watermarks are data, not failures */
static void test_data_is_not_failure(void) {
    env e;
    gcache_fault_counts c0, c1;
    gcache_remote *inner;
    int i;
    env_init(&e, 3, 1000);
    for (i = 0; i < 5; i++) get_checked(e.gc, e.uc, i); /* fill the remote */
    set_rates(&e, 0, 1.0, 0);
    gcache_fault_get_counts(&e.faulty, &c0);
    for (i = 0; i < 20; i++) get_checked(e.gc, e.uc, i % 5);
    gcache_fault_get_counts(&e.faulty, &c1);
    TAP_IS_INT(c1.mget_calls - c0.mget_calls, 20, "corrupt values (every read) never open the breaker");
    TAP_OK(c1.corruptions - c0.corruptions >= 10, "corruptions were injected (%llu)", c1.corruptions - c0.corruptions);
    TAP_IS_INT(server_down(&e), 0, "no server_down for corrupt data");
    set_rates(&e, 0, 0, 0);
    inner = gcache_fault_inner(&e.faulty);
    {
        gcache_slice k, v;
        k.ptr = "{urn:user_id:1}#watermark";
        k.len = strlen(k.ptr);
        v.ptr = "abc";
        v.len = 3;
        inner->set(inner->ctx, k, v, 300);
    }
    gcache_fault_get_counts(&e.faulty, &c0);
    for (i = 0; i < 10; i++) get_checked(e.gc, e.uc, 1);
    gcache_fault_get_counts(&e.faulty, &c1);
    TAP_IS_INT(c1.mget_calls - c0.mget_calls, 10, "a malformed watermark (every read) never opens the breaker");
    TAP_IS_INT(server_down(&e), 0, "no server_down for malformed watermarks");
    TAP_IS_INT(bad_values, 0, "values right");
    gcache_destroy(e.gc);
}

/* half-open: one probe among concurrent gets */
typedef struct probe_arg {
    env *e;
    long long id;
    pthread_mutex_t *mu;
    pthread_cond_t *cv;
    int *go;
} probe_arg;

static void *probe_worker(void *p) {
    probe_arg *a = (probe_arg *)p;
    pthread_mutex_lock(a->mu);
    while (!*a->go) pthread_cond_wait(a->cv, a->mu);
    pthread_mutex_unlock(a->mu);
    get_checked(a->e->gc, a->e->uc, a->id);
    return NULL;
}

static void test_one_probe(void) {
    env e;
    pthread_t th[4];
    probe_arg args[4];
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
    int go = 0, i;
    gcache_fault_counts c0, c1;
    env_init(&e, 3, 1000);
    set_rates(&e, 1.0, 0, 0);
    for (i = 0; i < 5; i++) get_checked(e.gc, e.uc, i);
    set_rates(&e, 0, 0, 300000); /* healthy but slow: the probe takes 300 ms */
    e.fc.mono_ns += 1001 * MS;
    gcache_fault_get_counts(&e.faulty, &c0);
    for (i = 0; i < 4; i++) {
        args[i].e = &e;
        args[i].id = 100 + i;
        args[i].mu = &mu;
        args[i].cv = &cv;
        args[i].go = &go;
        pthread_create(&th[i], NULL, probe_worker, &args[i]);
    }
    pthread_mutex_lock(&mu);
    go = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    for (i = 0; i < 4; i++) pthread_join(th[i], NULL);
    gcache_fault_get_counts(&e.faulty, &c1);
    TAP_IS_INT(c1.mget_calls - c0.mget_calls, 1, "half-open: 4 concurrent gets, one probe mget");
    TAP_IS_INT(bad_values, 0, "half-open: every thread got its value");
    gcache_destroy(e.gc);
}

int main(void) {
    test_open_probe_close();
    test_consecutive();
    test_defaults();
    test_data_is_not_failure();
    test_one_probe();
    return TAP_DONE();
}
