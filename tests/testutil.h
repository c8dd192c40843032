/* Helpers shared by the test programs. Include after gcache.h (or gcache_redis.h) and tap.h.
   Everything is static inline so a test that uses only part of it builds warning-free. */
#ifndef GCACHE_TESTUTIL_H
#define GCACHE_TESTUTIL_H

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ---- fake clock ------------------------------------------------------------------------------ */

/* A clock that moves only when the test sets it; pass &clock as the clock's user_data. */
typedef struct fake_clock { long long wall_ms; unsigned long long mono_ns; } fake_clock;
/* wall_ms_fn for a fake_clock. */
static inline long long fc_wall(void *u) { return ((fake_clock *)u)->wall_ms; }
/* mono_ns_fn for a fake_clock. */
static inline unsigned long long fc_mono(void *u) { return ((fake_clock *)u)->mono_ns; }

/* ---- allocators ------------------------------------------------------------------------------ */

/* Counting allocator, thread-safe: fails while fail is set, or at call fail_at (every later call too if persistent). */
typedef struct counting_alloc {
    pthread_mutex_t mu;
    long calls, allocs, frees, live, fail_at, failures;
    int fail, persistent;
} counting_alloc;

/* Zero every counter and set up the lock; pair with ca_destroy. */
static inline void ca_init(counting_alloc *c) {
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
}
/* Release the lock of a counting_alloc no instance uses any more. */
static inline void ca_destroy(counting_alloc *c) { pthread_mutex_destroy(&c->mu); }

/* alloc_fn of a counting_alloc: NULL when told to fail, else malloc (size 0 gets 1 byte). */
static inline void *ca_alloc(size_t size, void *u) {
    counting_alloc *c = (counting_alloc *)u;
    void *p;
    pthread_mutex_lock(&c->mu);
    c->calls++;
    if (c->fail || (c->fail_at > 0 && (c->calls == c->fail_at || (c->persistent && c->calls > c->fail_at)))) {
        c->failures++;
        pthread_mutex_unlock(&c->mu);
        return NULL;
    }
    p = malloc(size ? size : 1);
    if (p) {
        c->allocs++;
        c->live++;
    }
    pthread_mutex_unlock(&c->mu);
    return p;
}

/* free_fn of a counting_alloc. */
static inline void ca_free(void *p, void *u) {
    counting_alloc *c = (counting_alloc *)u;
    if (!p) return;
    pthread_mutex_lock(&c->mu);
    c->frees++;
    c->live--;
    pthread_mutex_unlock(&c->mu);
    free(p);
}

/* A gcache_allocator that allocates through c. */
static inline gcache_allocator counting_allocator(counting_alloc *c) {
    gcache_allocator a;
    a.alloc_fn = ca_alloc;
    a.free_fn = ca_free;
    a.user_data = c;
    return a;
}

/* alloc_fn that is plain malloc (for memory that is not the instance's). */
static inline void *plain_alloc(size_t size, void *u) {
    (void)u;
    return malloc(size);
}
/* free_fn that is plain free. */
static inline void plain_free(void *p, void *u) {
    (void)u;
    free(p);
}

/* ---- metrics --------------------------------------------------------------------------------- */

/* Sum of the values of the Prometheus sample lines containing every non-NULL needle; -2 if the text does not fit. */
static inline double metric(gcache *gc, const char *n1, const char *n2, const char *n3) {
    static char buf[1 << 18];
    char *line, *save = NULL;
    double sum = 0;
    int rc = gcache_metrics_prometheus(gc, buf, sizeof buf);
    if (rc < 0 || (size_t)rc >= sizeof buf) return -2;
    for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#') continue;
        if ((!n1 || strstr(line, n1)) && (!n2 || strstr(line, n2)) && (!n3 || strstr(line, n3))) {
            const char *sp = strrchr(line, ' ');
            if (sp) sum += atof(sp + 1);
        }
    }
    return sum;
}

/* ---- raw backend access ---------------------------------------------------------------------- */

/* Read key straight from r into buf (NUL-terminated, cut at cap - 1); 1 present, 0 missing, <0 mget error. */
static inline int raw_get(gcache_remote *r, const char *key, char *buf, size_t cap, size_t *len) {
    gcache_slice k, v;
    void *reply = NULL;
    int rc;
    k.ptr = key;
    k.len = strlen(key);
    v.ptr = NULL;
    v.len = 0;
    *len = 0;
    rc = r->mget(r->ctx, &k, 1, &v, &reply);
    if (rc != 0) return rc;
    rc = v.ptr != NULL;
    if (rc) {
        *len = v.len < cap - 1 ? v.len : cap - 1;
        memcpy(buf, v.ptr, *len);
        buf[*len] = '\0';
    }
    if (reply && r->release) r->release(r->ctx, reply);
    return rc;
}

/* Write key = val (len bytes) straight to r with ttl seconds; returns the backend's status. */
static inline int raw_set(gcache_remote *r, const char *key, const void *val, size_t len, int ttl) {
    gcache_slice k, v;
    k.ptr = key;
    k.len = strlen(key);
    v.ptr = len ? (const char *)val : "";
    v.len = len;
    return r->set(r->ctx, k, v, ttl);
}

#endif
