/* test_enable.c -- the enable scope (off by default, thread-local, enabled_by_default,
   GCACHE_WITH_ENABLED) and the kill switch. */
#define GCACHE_IMPLEMENTATION
#include "gcache.h"
#include "tap.h"
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------------------------ */

static fake_clock clk = { 1700000000000LL, 5000000000ULL }; /* never advances: nothing expires */

typedef struct { int calls; } fetch_state;
static int fetch_fn(void *user, const gcache_key *key, gcache_buf *out) {
    fetch_state *f = (fetch_state *)user;
    size_t len = 0;
    const char *s = gcache_key_str(key, &len);
    f->calls++;
    return gcache_buf_set(out, s, len);
}

static gcache *new_gc(int enabled_by_default, int with_remote) {
    gcache_desc d;
    gcache *gc = NULL;
    memset(&d, 0, sizeof d);
    d.enabled_by_default = enabled_by_default;
    d.clock.wall_ms_fn = fc_wall;
    d.clock.mono_ns_fn = fc_mono;
    d.clock.user_data = &clk;
    if (with_remote) {
        gcache_memory_desc md;
        memset(&md, 0, sizeof md);
        md.clock = d.clock;
        if (gcache_remote_memory(&md, &d.remote) != GCACHE_OK) return NULL;
    }
    if (gcache_create(&d, &gc) != GCACHE_OK) {
        if (with_remote && d.remote.destroy) d.remote.destroy(d.remote.ctx);
        return NULL;
    }
    return gc;
}

static gcache_use_case *reg(gcache *gc) {
    gcache_use_case_desc u;
    gcache_use_case *uc = NULL;
    memset(&u, 0, sizeof u);
    u.name = "E";
    u.key_type = "t";
    u.default_config.ttl_sec[GCACHE_LOCAL] = 60;
    u.default_config.ttl_sec[GCACHE_REMOTE] = 60;
    u.default_config.ramp[GCACHE_LOCAL] = 100;
    u.default_config.ramp[GCACHE_REMOTE] = 100;
    if (gcache_register(gc, &u, &uc) != GCACHE_OK) return NULL;
    return uc;
}

/* gets of one key; returns the number of fetches, or -1 on a wrong value */
static int fetches(gcache *gc, const char *id, int times) {
    gcache_use_case *uc = gcache_use_case_find(gc, "E");
    fetch_state f;
    gcache_key k;
    int i;
    size_t len = 0;
    const char *s;
    f.calls = 0;
    if (!uc) return -1;
    gcache_key_init(&k, uc, id);
    s = gcache_key_str(&k, &len);
    for (i = 0; i < times; i++) {
        gcache_buf b;
        int rc;
        memset(&b, 0, sizeof b);
        rc = gcache_get(gc, &k, fetch_fn, &f, &b);
        if (rc != GCACHE_OK || !s || b.len != len || memcmp(b.data, s, len) != 0) { gcache_buf_free(&b); return -1; }
        gcache_buf_free(&b);
    }
    return f.calls;
}

static gcache_stats stats(gcache *gc, gcache_layer layer) {
    gcache_stats st;
    memset(&st, 0, sizeof st);
    if (gcache_stats_get(gc, "E", layer, &st) != GCACHE_OK) memset(&st, 0xff, sizeof st);
    return st;
}

/* the current setting without changing it */
static int peek(void) {
    int v = gcache_enable(0);
    gcache_enable(v);
    return v;
}

static gcache *g_local, *g_remote, *g_default_on;

/* ---- off by default -------------------------------------------------------------------------- */

static void test_off_by_default(void) {
    gcache_stats l0, r0, l1, r1, ll0, ll1;
    l0 = stats(g_remote, GCACHE_LOCAL); r0 = stats(g_remote, GCACHE_REMOTE);
    ll0 = stats(g_local, GCACHE_LOCAL);
    TAP_IS_INT(fetches(g_remote, "a", 3), 3, "never enabled: every get fetches (local + remote instance)");
    TAP_IS_INT(fetches(g_local, "a", 3), 3, "never enabled: every get fetches (local-only instance)");
    l1 = stats(g_remote, GCACHE_LOCAL); r1 = stats(g_remote, GCACHE_REMOTE);
    ll1 = stats(g_local, GCACHE_LOCAL);
    TAP_IS_INT(l1.disabled[GCACHE_REASON_CONTEXT] - l0.disabled[GCACHE_REASON_CONTEXT], 3, "reason context counted at LOCAL");
    TAP_IS_INT(r1.disabled[GCACHE_REASON_CONTEXT] - r0.disabled[GCACHE_REASON_CONTEXT], 3, "reason context counted at REMOTE");
    TAP_IS_INT(ll1.disabled[GCACHE_REASON_CONTEXT] - ll0.disabled[GCACHE_REASON_CONTEXT], 3,
               "reason context counted (local-only instance)");
    TAP_IS_INT(l1.requests - l0.requests, 0, "no LOCAL requests while disabled");
    TAP_IS_INT(r1.requests - r0.requests, 0, "no REMOTE requests while disabled");
    TAP_IS_INT(l1.entries, 0, "nothing stored while disabled");

    TAP_IS_INT(gcache_enable(1), -1, "first gcache_enable returns -1 (unset)");
    TAP_IS_INT(fetches(g_remote, "a", 3), 1, "enabled: a miss then hits");
    TAP_IS_INT(gcache_enable(0), 1, "gcache_enable(0) returns the previous 1");
    l0 = stats(g_remote, GCACHE_LOCAL);
    TAP_IS_INT(fetches(g_remote, "a", 2), 2, "explicitly off: the cached entry is not used");
    l1 = stats(g_remote, GCACHE_LOCAL);
    TAP_IS_INT(l1.disabled[GCACHE_REASON_CONTEXT] - l0.disabled[GCACHE_REASON_CONTEXT], 2, "explicitly off: reason context");
    TAP_IS_INT(gcache_enable(-1), 0, "gcache_enable(-1) returns the previous 0");
    TAP_IS_INT(fetches(g_remote, "a", 2), 2, "unset again: follows enabled_by_default = 0");
    TAP_IS_INT(gcache_enable(-1), -1, "gcache_enable(-1) returns the previous -1");
    TAP_IS_INT(gcache_enable(1), -1, "gcache_enable(1) returns -1");
    TAP_IS_INT(gcache_enable(1), 1, "gcache_enable(1) returns the previous 1");
    TAP_IS_INT(fetches(g_remote, "a", 2), 0, "enabled again: the entry is still there");
    TAP_IS_INT(gcache_enable(-1), 1, "back to unset");
}

/* ---- thread-local ----------------------------------------------------------------------------- */

typedef struct { int initial, f_unset, f_on, f_default_on_unset, f_default_on_off, f_local_unset, after_on, main_setting; } thread_result;

static void *thread_main(void *arg) {
    thread_result *r = (thread_result *)arg;
    r->f_unset = fetches(g_remote, "t", 2);
    r->f_default_on_unset = fetches(g_default_on, "t", 2);
    r->f_local_unset = fetches(g_local, "t", 2);
    r->initial = gcache_enable(1);
    r->f_on = fetches(g_remote, "t2", 2);
    r->after_on = gcache_enable(0);
    r->f_default_on_off = fetches(g_default_on, "t2", 2);
    gcache_enable(-1);
    return NULL;
}

static void test_thread_local(void) {
    pthread_t th;
    thread_result r;
    memset(&r, 0x55, sizeof r);
    gcache_enable(1);
    if (!TAP_OK(pthread_create(&th, NULL, thread_main, &r) == 0, "start a thread")) return;
    pthread_join(th, NULL);
    TAP_IS_INT(r.f_unset, 2, "another thread is not enabled by this thread's gcache_enable(1)");
    TAP_IS_INT(r.initial, -1, "a new thread starts unset (-1)");
    TAP_IS_INT(r.f_on, 1, "the thread's own gcache_enable(1) turns caching on there");
    TAP_IS_INT(r.after_on, 1, "the thread sees its own previous value");
    TAP_IS_INT(peek(), 1, "the thread's gcache_enable(0) and (-1) did not change this thread");
    TAP_IS_INT(fetches(g_remote, "t2", 1), 0, "the entry the thread filled is shared (instance-wide cache)");
    TAP_IS_INT(r.f_default_on_unset, 1, "unset thread: an enabled_by_default instance caches");
    TAP_IS_INT(r.f_local_unset, 2, "unset thread: a default instance does not");
    TAP_IS_INT(r.f_default_on_off, 2, "gcache_enable(0) turns an enabled_by_default instance off");

    gcache_enable(0);
    memset(&r, 0x55, sizeof r);
    if (TAP_OK(pthread_create(&th, NULL, thread_main, &r) == 0, "start a second thread")) {
        pthread_join(th, NULL);
        TAP_IS_INT(r.initial, -1, "a thread started while this one is off also starts unset");
        TAP_IS_INT(peek(), 0, "this thread is still off");
    }
    gcache_enable(-1);
}

static void test_default_on(void) {
    int prev = gcache_enable(-1);
    TAP_IS_INT(fetches(g_default_on, "d", 3), 1, "enabled_by_default = 1 with the thread unset: caches");
    TAP_IS_INT(fetches(g_local, "d", 3), 3, "the same thread, a default instance: does not");
    gcache_enable(0);
    TAP_IS_INT(fetches(g_default_on, "d", 2), 2, "enable(0) overrides enabled_by_default = 1");
    gcache_enable(1);
    TAP_IS_INT(fetches(g_default_on, "d", 2), 0, "enable(1): cached again");
    TAP_IS_INT(fetches(g_local, "d", 2), 1, "enable(1): the default instance caches too");
    gcache_enable(prev);
}

/* ---- GCACHE_WITH_ENABLED ------------------------------------------------------------------------ */

static void test_with_enabled(void) {
    int inner = -9, mid = -9, outer_f = -9, inner_f = -9, ran = 0;
    gcache_enable(0);
    GCACHE_WITH_ENABLED {
        mid = peek();
        outer_f = fetches(g_local, "w", 3);
        GCACHE_WITH_ENABLED {
            inner = peek();
            inner_f = fetches(g_local, "w", 1);
            ran++;
        }
        TAP_IS_INT(peek(), 1, "after the inner GCACHE_WITH_ENABLED: still on (restored to the outer value)");
        ran++;
    }
    TAP_IS_INT(ran, 2, "each GCACHE_WITH_ENABLED block runs exactly once");
    TAP_IS_INT(mid, 1, "inside GCACHE_WITH_ENABLED: on");
    TAP_IS_INT(outer_f, 1, "inside GCACHE_WITH_ENABLED: caching works");
    TAP_IS_INT(inner, 1, "nested block: on");
    TAP_IS_INT(inner_f, 0, "nested block: a hit");
    TAP_IS_INT(peek(), 0, "after the block: restored to 0");
    TAP_IS_INT(fetches(g_local, "w", 2), 2, "after the block: caching off again");

    gcache_enable(-1);
    ran = 0;
    GCACHE_WITH_ENABLED {
        gcache_enable(0); /* changed inside: the exit still restores the value from entry */
        ran++;
    }
    TAP_IS_INT(ran, 1, "block ran once");
    TAP_IS_INT(peek(), -1, "GCACHE_WITH_ENABLED restores -1 (unset), whatever happened inside");
    gcache_enable(1);
    GCACHE_WITH_ENABLED { ran++; }
    TAP_IS_INT(peek(), 1, "entered while on: stays on");
    gcache_enable(-1);
}

/* ---- kill switch ----------------------------------------------------------------------------------- */

static void test_kill(void) {
    gcache *gk = new_gc(0, 1);
    gcache_stats l0, r0, l1, r1;
    if (!TAP_OK(gk && reg(gk), "kill: setup")) { gcache_destroy(gk); return; }
    gcache_enable(1);
    TAP_IS_INT(fetches(gk, "k", 2), 1, "before the kill: miss then hit");
    TAP_IS_INT(fetches(g_remote, "k", 2), 1, "another instance: miss then hit");
    TAP_IS_INT(gcache_kill(gk, 1), 0, "gcache_kill(1) returns the previous 0");
    l0 = stats(gk, GCACHE_LOCAL); r0 = stats(gk, GCACHE_REMOTE);
    TAP_IS_INT(fetches(gk, "k", 3), 3, "killed: every get fetches although the entry is cached");
    TAP_IS_INT(fetches(gk, "n", 2), 2, "killed: a new key is fetched every time");
    l1 = stats(gk, GCACHE_LOCAL); r1 = stats(gk, GCACHE_REMOTE);
    TAP_IS_INT(l1.disabled[GCACHE_REASON_KILLED] - l0.disabled[GCACHE_REASON_KILLED], 5, "killed counted at LOCAL");
    TAP_IS_INT(r1.disabled[GCACHE_REASON_KILLED] - r0.disabled[GCACHE_REASON_KILLED], 5, "killed counted at REMOTE");
    TAP_IS_INT(l1.requests - l0.requests, 0, "killed: no LOCAL requests");
    TAP_IS_INT(r1.requests - r0.requests, 0, "killed: no REMOTE requests");
    TAP_IS_INT(l1.entries, l0.entries, "killed: entries unchanged (the kill flushes nothing)");
    TAP_IS_INT(fetches(g_remote, "k", 1), 0, "the kill is per instance: the other one still hits");
    TAP_IS_INT(gcache_kill(gk, 1), 1, "gcache_kill(1) again returns 1");
    TAP_IS_INT(gcache_kill(gk, 0), 1, "gcache_kill(0) returns the previous 1");
    TAP_IS_INT(fetches(gk, "k", 2), 0, "un-killed: the old entry is a hit again (nothing flushed)");
    TAP_IS_INT(fetches(gk, "n", 2), 1, "un-killed: what was fetched while killed was not stored in either layer");
    TAP_IS_INT(gcache_kill(gk, 0), 0, "gcache_kill(0) again returns 0");
    TAP_IS_INT(gcache_kill(NULL, 1), GCACHE_EINVAL, "gcache_kill(NULL) returns GCACHE_EINVAL");

    /* killed and context-disabled: fetch either way */
    gcache_enable(0);
    gcache_kill(gk, 1);
    TAP_IS_INT(fetches(gk, "k", 2), 2, "killed and disabled: fetches");
    gcache_kill(gk, 0);
    gcache_enable(1);
    TAP_IS_INT(fetches(gk, "k", 1), 0, "un-killed and enabled: hit");
    gcache_enable(-1);
    gcache_destroy(gk);
}

int main(void) {
    /* nothing may call gcache_enable before test_off_by_default */
    g_local = new_gc(0, 0);
    g_remote = new_gc(0, 1);
    g_default_on = new_gc(1, 0);
    if (!TAP_OK(g_local && g_remote && g_default_on, "create instances")) return TAP_DONE();
    if (!TAP_OK(reg(g_local) && reg(g_remote) && reg(g_default_on), "register use cases")) return TAP_DONE();
    test_off_by_default();
    test_thread_local();
    test_default_on();
    test_with_enabled();
    test_kill();
    gcache_destroy(g_local);
    gcache_destroy(g_remote);
    gcache_destroy(g_default_on);
    return TAP_DONE();
}
