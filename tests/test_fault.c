/* Fault test: 4 threads x 100,000 mixed gets, invalidations and deletes over a few hundred
   tracked ids, with 30% of remote calls failing (10% errors, 10% timeouts, 10% corrupt
   values) over the memory backend. The source is a versioned table; a writer bumps an
   id's version BEFORE calling gcache_invalidate. We check:
   - every get returns a value the source had for that id (or the source's own error);
   - no stale read after an invalidation returned: a get that starts after
     gcache_invalidate(id) returned GCACHE_OK sees a version >= the version written
     before that invalidation.
   GCACHE_FAULT_ITERS sets the iterations per thread (default 100000; lower it for slow
   sanitizer builds). */
#define GCACHE_IMPLEMENTATION
#include "gcache.h"
#include "tap.h"
#include "fault_remote.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NTHREADS 4
#define NIDS 300
#define FETCH_ERROR (-42)

static unsigned version[NIDS];  /* the source: bumped by writers */
static unsigned floor_v[NIDS];  /* highest version whose invalidation has returned OK */

static unsigned load_u(unsigned *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }

static void raise_floor(unsigned *p, unsigned v) {
    unsigned cur = __atomic_load_n(p, __ATOMIC_SEQ_CST);
    while (cur < v && !__atomic_compare_exchange_n(p, &cur, v, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
    }
}

typedef struct worker {
    gcache *gc;
    gcache_use_case *item, *page;
    int id;
    unsigned long long rng;
    int cur_id;
    long iters;
    /* results */
    long gets, ok_values, fetch_errors, invalidations, invalidation_failures, deletes, fetches;
    long wrong, stale;
} worker;

static unsigned long long next_rand(unsigned long long *s) {
    unsigned long long z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* value: "id=<id>;v=<version>;" + a pad whose length and bytes depend on both */
static size_t make_value(char *dst, int id, unsigned v) {
    int n = sprintf(dst, "id=%d;v=%u;", id, v);
    size_t pad = (size_t)((unsigned)id * 7u + v) % 61u, j;
    for (j = 0; j < pad; j++) dst[n + (int)j] = (char)('a' + (id + (int)v + (int)j) % 26);
    return (size_t)n + pad;
}

static int fetch(void *user, const gcache_key *key, gcache_buf *out) {
    worker *w = (worker *)user;
    char val[128];
    unsigned v;
    (void)key;
    w->fetches++;
    if (next_rand(&w->rng) % 1000 < 5) return FETCH_ERROR; /* 0.5% source errors */
    v = load_u(&version[w->cur_id]);
    return gcache_buf_set(out, val, make_value(val, w->cur_id, v));
}

/* 1 if out holds a value the source had for id, with its version in *v */
static int parse_value(const gcache_buf *out, int id, unsigned *v) {
    char tmp[128], want[128];
    int got_id;
    size_t n;
    if (out->len == 0 || out->len >= sizeof tmp) return 0;
    memcpy(tmp, out->data, out->len);
    tmp[out->len] = '\0';
    if (sscanf(tmp, "id=%d;v=%u;", &got_id, v) != 2 || got_id != id) return 0;
    n = make_value(want, id, *v);
    return n == out->len && memcmp(want, out->data, n) == 0;
}

static void *run(void *p) {
    worker *w = (worker *)p;
    gcache_buf out = {0};
    long i;
    for (i = 0; i < w->iters; i++) {
        unsigned long long r = next_rand(&w->rng);
        int id = (int)(r % NIDS), op = (int)((r >> 16) % 100);
        gcache_key k;
        if (((r >> 24) & 1) == 0) {
            gcache_key_init_int(&k, w->item, id);
        } else {
            gcache_key_init_int(&k, w->page, id);
            gcache_key_add_int(&k, "page", (long long)((r >> 25) % 3));
        }
        if (op < 80) {
            unsigned f = load_u(&floor_v[id]), v = 0, cur;
            long fetches_before = w->fetches;
            int rc;
            w->cur_id = id;
            w->gets++;
            rc = gcache_get(w->gc, &k, fetch, w, &out);
            cur = load_u(&version[id]);
            if (rc == FETCH_ERROR) {
                w->fetch_errors++;
            } else if (rc != GCACHE_OK || !parse_value(&out, id, &v) || v > cur) {
                if (w->wrong++ < 5)
                    TAP_DIAG("thread %d: get of id %d returned %d with %lu bytes not from the source", w->id, id, rc,
                             (unsigned long)out.len);
            } else if (v < f) {
                if (w->stale++ < 5)
                    TAP_DIAG("thread %d: stale read of %s: version %u after an invalidation of version %u returned "
                             "(%s)",
                             w->id, gcache_key_str(&k, NULL), v, f,
                             w->fetches != fetches_before ? "this get ran the fetch" : "served from a cache or a flight");
            } else {
                w->ok_values++;
            }
        } else if (op < 90) {
            char ids[16];
            unsigned v = __atomic_add_fetch(&version[id], 1, __ATOMIC_SEQ_CST);
            int rc;
            snprintf(ids, sizeof ids, "%d", id);
            rc = gcache_invalidate(w->gc, "item", ids, 0);
            w->invalidations++;
            if (rc == GCACHE_OK) raise_floor(&floor_v[id], v);
            else w->invalidation_failures++;
        } else {
            gcache_delete(w->gc, &k);
            w->deletes++;
        }
    }
    gcache_buf_free(&out);
    return NULL;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(void) {
    gcache_remote mem, faulty;
    gcache_fault_desc fd;
    gcache_desc d;
    gcache *gc = NULL;
    gcache_use_case_desc u;
    gcache_use_case *item = NULL, *page = NULL;
    worker w[NTHREADS];
    pthread_t th[NTHREADS];
    long iters = 100000, wrong = 0, stale = 0, gets = 0, okv = 0, inv = 0, inv_fail = 0, ferr = 0, fetches = 0;
    const char *env = getenv("GCACHE_FAULT_ITERS");
    gcache_fault_counts fc;
    gcache_stats local, remote;
    double t0, secs;
    int i;
    if (env && atol(env) > 0) iters = atol(env);

    if (!TAP_IS_INT(gcache_remote_memory(NULL, &mem), GCACHE_OK, "memory backend")) return TAP_DONE();
    memset(&fd, 0, sizeof fd);
    fd.error_rate = 0.10;
    fd.timeout_rate = 0.10;
    fd.corrupt_rate = 0.10;
    fd.seed = 20240601;
    gcache_fault_wrap(mem, &fd, &faulty);
    memset(&d, 0, sizeof d);
    d.enabled_by_default = 1;
    d.remote = faulty;
    d.local.max_entries = 128; /* fewer than the keys: evictions too */
    d.breaker.failure_threshold = 5;
    d.breaker.cooldown_ms = 10;
    if (!TAP_IS_INT(gcache_create(&d, &gc), GCACHE_OK, "create over the fault backend")) return TAP_DONE();
    memset(&u, 0, sizeof u);
    u.key_type = "item";
    u.track_for_invalidation = 1;
    u.default_config.ttl_sec[GCACHE_LOCAL] = 60;
    u.default_config.ramp[GCACHE_LOCAL] = 100;
    u.default_config.ttl_sec[GCACHE_REMOTE] = 300;
    u.default_config.ramp[GCACHE_REMOTE] = 100;
    u.name = "GetItem";
    gcache_register(gc, &u, &item);
    u.name = "GetItemPage";
    gcache_register(gc, &u, &page);

    t0 = now_s();
    for (i = 0; i < NTHREADS; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].gc = gc;
        w[i].item = item;
        w[i].page = page;
        w[i].id = i;
        w[i].rng = 0xabcdef12345ull * (unsigned long long)(i + 1);
        w[i].iters = iters;
        pthread_create(&th[i], NULL, run, &w[i]);
    }
    for (i = 0; i < NTHREADS; i++) {
        pthread_join(th[i], NULL);
        wrong += w[i].wrong;
        stale += w[i].stale;
        gets += w[i].gets;
        okv += w[i].ok_values;
        inv += w[i].invalidations;
        inv_fail += w[i].invalidation_failures;
        ferr += w[i].fetch_errors;
        fetches += w[i].fetches;
    }
    secs = now_s() - t0;
    gcache_fault_get_counts(&faulty, &fc);
    gcache_stats_get(gc, NULL, GCACHE_LOCAL, &local);
    gcache_stats_get(gc, NULL, GCACHE_REMOTE, &remote);
    TAP_DIAG("%d threads x %ld ops in %.2f s: %ld gets (%ld values, %ld source errors), %ld fetches, %ld invalidations "
             "(%ld failed), backend calls: %llu mget %llu set %llu del %llu publish; injected %llu errors, %llu timeouts, "
             "%llu corruptions",
             NTHREADS, iters, secs, gets, okv, ferr, fetches, inv, inv_fail, fc.mget_calls, fc.set_calls, fc.del_calls,
             fc.publish_calls, fc.errors, fc.timeouts, fc.corruptions);
    TAP_DIAG("LOCAL: %llu hits %llu misses %llu evictions; REMOTE: %llu hits %llu misses %llu errors %llu server_down",
             local.hits, local.misses, local.evictions, remote.hits, remote.misses, remote.errors,
             remote.disabled[GCACHE_REASON_SERVER_DOWN]);
    TAP_IS_INT(wrong, 0, "no get returned anything but a value the source had (or its own error)");
    TAP_IS_INT(stale, 0, "no stale read after an invalidation had returned");
    TAP_IS_INT(okv + ferr + wrong + stale, gets, "every get accounted for");
    TAP_OK(fc.errors + fc.timeouts + fc.corruptions > 0, "faults were injected");
    TAP_OK(remote.hits > 0 && local.hits > 0, "both layers served hits under faults");
    TAP_OK(remote.errors > 0, "faults were counted as REMOTE errors (%llu)", remote.errors);
    TAP_IS_INT(fc.replies, fc.releases, "every mget reply was released");
    gcache_destroy(gc);
    return TAP_DONE();
}
