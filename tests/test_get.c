/* gcache_get, the read-through: miss -> fetch -> fill -> hit, what the fetch returns and
   what is cached, fail-open on key errors, NULL arguments, fixed buffers that are too
   small, and a fetch that calls gcache_get for its own key. */
#define GCACHE_IMPLEMENTATION
#include "gcache.h"
#include "tap.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- a programmable source ------------------------------------------------------------ */
typedef struct source {
    int calls;
    int status;           /* returned by fetch */
    const void *value;    /* written when value_len > 0 or write_empty */
    size_t value_len;
    int write_junk;       /* write "junk" before returning status */
} source;

static int fetch(void *user, const gcache_key *key, gcache_buf *out) {
    source *s = (source *)user;
    (void)key;
    s->calls++;
    if (s->write_junk) gcache_buf_set(out, "junk", 4);
    if (s->status == GCACHE_OK) return gcache_buf_set(out, s->value, s->value_len);
    return s->status;
}

static int count_substr(const char *hay, const char *needle) {
    int n = 0;
    const char *p = hay;
    while ((p = strstr(p, needle)) != NULL) {
        n++;
        p++;
    }
    return n;
}

static gcache *make(int enabled_by_default) {
    gcache_desc d;
    gcache *gc = NULL;
    memset(&d, 0, sizeof d);
    d.enabled_by_default = enabled_by_default;
    if (gcache_create(&d, &gc) != GCACHE_OK) return NULL;
    return gc;
}

static gcache_use_case *reg(gcache *gc, const char *name, int ttl_local) {
    gcache_use_case_desc u;
    gcache_use_case *uc = NULL;
    memset(&u, 0, sizeof u);
    u.name = name;
    u.key_type = "item_id";
    u.default_config.ttl_sec[GCACHE_LOCAL] = ttl_local;
    u.default_config.ramp[GCACHE_LOCAL] = 100;
    if (gcache_register(gc, &u, &uc) != GCACHE_OK) return NULL;
    return uc;
}

static void test_basic(void) {
    gcache *gc = make(0);
    gcache_use_case *uc;
    gcache_key k;
    gcache_buf out = {0};
    source s;
    int rc, prev;
    gcache_stats st;
    if (!TAP_OK(gc != NULL, "create")) return;
    uc = reg(gc, "GetItem", 60);
    memset(&s, 0, sizeof s);
    s.value = "hello";
    s.value_len = 5;
    gcache_key_init_int(&k, uc, 1);

    /* off by default: every call fetches */
    rc = gcache_get(gc, &k, fetch, &s, &out);
    rc = gcache_get(gc, &k, fetch, &s, &out);
    TAP_IS_INT(rc, GCACHE_OK, "disabled: get returns OK");
    TAP_IS_INT(s.calls, 2, "disabled (the default): every get calls fetch");
    TAP_IS_MEM(out.data, out.len, "hello", 5, "disabled: the fetched value");

    prev = gcache_enable(1);
    s.calls = 0;
    rc = gcache_get(gc, &k, fetch, &s, &out);
    TAP_IS_INT(rc, GCACHE_OK, "miss: OK");
    TAP_IS_INT(s.calls, 1, "miss: fetch called once");
    TAP_IS_MEM(out.data, out.len, "hello", 5, "miss: the fetched value");
    gcache_buf_set(&out, "other stuff", 11);
    rc = gcache_get(gc, &k, fetch, &s, &out);
    TAP_IS_INT(rc, GCACHE_OK, "hit: OK");
    TAP_IS_INT(s.calls, 1, "hit: fetch not called again");
    TAP_IS_MEM(out.data, out.len, "hello", 5, "hit: the cached value replaces what out held");
    gcache_stats_get(gc, "GetItem", GCACHE_LOCAL, &st);
    TAP_IS_INT(st.hits, 1, "stats: 1 hit");
    TAP_IS_INT(st.misses, 1, "stats: 1 miss");
    TAP_OK(st.disabled[GCACHE_REASON_CONTEXT] >= 2, "stats: the 2 disabled calls counted with reason context (%llu)",
           st.disabled[GCACHE_REASON_CONTEXT]);

    /* fetch error: propagated, never cached */
    {
        gcache_key k2;
        gcache_key_init_int(&k2, uc, 2);
        s.calls = 0;
        s.status = -42;
        rc = gcache_get(gc, &k2, fetch, &s, &out);
        TAP_IS_INT(rc, -42, "fetch error -42 is returned as is");
        rc = gcache_get(gc, &k2, fetch, &s, &out);
        TAP_IS_INT(rc, -42, "fetch error again");
        TAP_IS_INT(s.calls, 2, "fetch error: not cached, the next get calls fetch again");
        s.status = GCACHE_EBACKEND;
        rc = gcache_get(gc, &k2, fetch, &s, &out);
        TAP_IS_INT(rc, GCACHE_EBACKEND, "a fetch returning a gcache code (EBACKEND) is propagated too");
        s.status = GCACHE_OK;
        rc = gcache_get(gc, &k2, fetch, &s, &out);
        TAP_IS_INT(rc, GCACHE_OK, "after the error, a good fetch");
        rc = gcache_get(gc, &k2, fetch, &s, &out);
        TAP_IS_INT(s.calls, 4, "and it is cached");
        gcache_stats_get(gc, "GetItem", GCACHE_LOCAL, &st);
        TAP_IS_INT(st.errors, 0, "fetch errors are not cache errors");
    }

    /* other positive values: returned as is, not cached */
    {
        gcache_key k3;
        gcache_key_init_int(&k3, uc, 3);
        s.calls = 0;
        s.status = 7;
        rc = gcache_get(gc, &k3, fetch, &s, &out);
        TAP_IS_INT(rc, 7, "a positive status 7 is returned as is");
        rc = gcache_get(gc, &k3, fetch, &s, &out);
        TAP_IS_INT(rc, 7, "again");
        TAP_IS_INT(s.calls, 2, "status 7 is not cached");
        s.status = GCACHE_OK;
    }

    /* NOT_FOUND: out->len == 0, whatever out held or the fetch wrote */
    {
        gcache_key k4;
        gcache_key_init_int(&k4, uc, 4);
        s.status = GCACHE_NOT_FOUND;
        gcache_buf_set(&out, "previous", 8);
        rc = gcache_get(gc, &k4, fetch, &s, &out);
        TAP_IS_INT(rc, GCACHE_NOT_FOUND, "NOT_FOUND is returned");
        TAP_IS_INT(out.len, 0, "NOT_FOUND: out->len == 0 (out held a previous value)");
        s.write_junk = 1;
        gcache_buf_set(&out, "previous", 8);
        rc = gcache_get(gc, &k4, fetch, &s, &out);
        TAP_IS_INT(rc, GCACHE_NOT_FOUND, "NOT_FOUND after the fetch wrote bytes");
        TAP_IS_INT(out.len, 0, "NOT_FOUND: out->len == 0 even if the fetch wrote bytes first");
        s.write_junk = 0;
        s.status = GCACHE_OK;
    }

    /* empty value: a value like any other, cached */
    {
        gcache_key k5;
        gcache_key_init_int(&k5, uc, 5);
        s.calls = 0;
        s.value = "";
        s.value_len = 0;
        rc = gcache_get(gc, &k5, fetch, &s, &out);
        TAP_IS_INT(rc, GCACHE_OK, "an empty value: OK");
        TAP_IS_INT(out.len, 0, "an empty value: len 0");
        gcache_buf_set(&out, "x", 1);
        rc = gcache_get(gc, &k5, fetch, &s, &out);
        TAP_IS_INT(rc, GCACHE_OK, "an empty value is cached: OK");
        TAP_IS_INT(out.len, 0, "a cached empty value: len 0");
        TAP_IS_INT(s.calls, 1, "an empty value is cached");
    }

    /* binary and large values */
    {
        gcache_key k6;
        unsigned char bin[300];
        size_t i, big_len = (size_t)1 << 20;
        unsigned char *big = (unsigned char *)malloc(big_len);
        for (i = 0; i < sizeof bin; i++) bin[i] = (unsigned char)(i * 7);
        gcache_key_init_int(&k6, uc, 6);
        s.calls = 0;
        s.value = bin;
        s.value_len = sizeof bin;
        gcache_get(gc, &k6, fetch, &s, &out);
        rc = gcache_get(gc, &k6, fetch, &s, &out);
        TAP_IS_MEM(out.data, out.len, bin, sizeof bin, "binary value with NULs round-trips through the cache");
        TAP_IS_INT(s.calls, 1, "binary value: hit");
        for (i = 0; i < big_len; i++) big[i] = (unsigned char)(i * 131 + (i >> 9));
        gcache_key_init_int(&k6, uc, 7);
        s.value = big;
        s.value_len = big_len;
        gcache_get(gc, &k6, fetch, &s, &out);
        rc = gcache_get(gc, &k6, fetch, &s, &out);
        TAP_IS_INT(rc, GCACHE_OK, "1 MiB value: OK");
        TAP_OK(out.len == big_len && memcmp(out.data, big, big_len) == 0, "1 MiB value round-trips");
        TAP_IS_INT(s.calls, 2, "1 MiB value: hit");
        free(big);
        s.value = "hello";
        s.value_len = 5;
    }
    gcache_enable(prev);
    gcache_buf_free(&out);
    gcache_destroy(gc);
}

static void test_key_errors_and_args(void) {
    gcache *gc = make(1);
    gcache_use_case *uc;
    gcache_key k;
    gcache_buf out = {0};
    source s;
    int rc;
    gcache_stats st;
    static char metrics[1 << 16];
    if (!TAP_OK(gc != NULL, "create (enabled by default)")) return;
    uc = reg(gc, "GetItem", 60);
    memset(&s, 0, sizeof s);
    s.value = "v";
    s.value_len = 1;

    /* a key with an error: fail open */
    gcache_key_init(&k, uc, "x");
    gcache_key_add(&k, "a", "1");
    gcache_key_add(&k, "a", "2"); /* duplicate arg: sticky EKEY */
    TAP_IS_INT(gcache_key_error(&k), GCACHE_EKEY, "a duplicate arg sets EKEY");
    rc = gcache_get(gc, &k, fetch, &s, &out);
    TAP_IS_INT(rc, GCACHE_OK, "key error: fails open to the fetch");
    TAP_IS_MEM(out.data, out.len, "v", 1, "key error: the fetch's value");
    rc = gcache_get(gc, &k, fetch, &s, &out);
    TAP_IS_INT(s.calls, 2, "key error: nothing cached, fetch called each time");
    gcache_stats_get(gc, NULL, GCACHE_LOCAL, &st);
    TAP_OK(st.errors >= 2, "key error: counted as an error (%llu)", st.errors);
    TAP_IS_INT(st.entries, 0, "key error: no entry");
    rc = gcache_metrics_prometheus(gc, metrics, sizeof metrics);
    TAP_OK(rc > 0 && (size_t)rc < sizeof metrics, "metrics text");
    TAP_OK(count_substr(metrics, "error=\"key\"") > 0, "metrics: an error=\"key\" series");

    /* a key with no use case */
    gcache_key_init(&k, NULL, "x");
    s.calls = 0;
    rc = gcache_get(gc, &k, fetch, &s, &out);
    TAP_IS_INT(rc, GCACHE_OK, "a key without a use case fails open");
    TAP_IS_INT(s.calls, 1, "a key without a use case: fetch called");

    /* NULL arguments */
    gcache_key_init_int(&k, uc, 1);
    TAP_IS_INT(gcache_get(NULL, &k, fetch, &s, &out), GCACHE_EINVAL, "NULL gc: EINVAL");
    TAP_IS_INT(gcache_get(gc, NULL, fetch, &s, &out), GCACHE_EINVAL, "NULL key: EINVAL");
    TAP_IS_INT(gcache_get(gc, &k, NULL, &s, &out), GCACHE_EINVAL, "NULL fetch: EINVAL");
    TAP_IS_INT(gcache_get(gc, &k, fetch, &s, NULL), GCACHE_EINVAL, "NULL out: EINVAL");
    s.calls = 0;
    TAP_IS_INT(gcache_get(gc, &k, fetch, &s, &out), GCACHE_OK, "a normal call after the EINVAL ones");
    TAP_IS_INT(s.calls, 1, "and after the EINVAL calls the key is still a normal miss");

    /* fixed buffer too small on a cached hit: ETOOBIG, needed, contents unchanged */
    {
        unsigned char storage[8];
        gcache_buf fb = gcache_buf_fixed(storage, sizeof storage);
        static const char value[] = "a value longer than eight bytes";
        gcache_key k2;
        gcache_key_init_int(&k2, uc, 2);
        s.value = value;
        s.value_len = sizeof value - 1;
        s.calls = 0;
        rc = gcache_get(gc, &k2, fetch, &s, &out); /* fill */
        TAP_IS_INT(rc, GCACHE_OK, "fill the long value");
        gcache_buf_set(&fb, "ab", 2);
        rc = gcache_get(gc, &k2, fetch, &s, &fb);
        TAP_IS_INT(rc, GCACHE_ETOOBIG, "cached hit into a too small fixed buffer: ETOOBIG");
        TAP_IS_INT(fb.needed, sizeof value - 1, "ETOOBIG: needed = the value's length");
        TAP_IS_MEM(fb.data, fb.len, "ab", 2, "ETOOBIG: data and len unchanged");
        TAP_OK(fb.data == storage && fb.cap == sizeof storage, "ETOOBIG: still the caller's storage");
        TAP_IS_INT(s.calls, 1, "ETOOBIG on a hit does not call fetch");
        {
            unsigned char big[64];
            gcache_buf ok = gcache_buf_fixed(big, sizeof big);
            rc = gcache_get(gc, &k2, fetch, &s, &ok);
            TAP_IS_INT(rc, GCACHE_OK, "a fixed buffer that fits: OK");
            TAP_IS_MEM(ok.data, ok.len, value, sizeof value - 1, "a fixed buffer that fits: the value");
            TAP_OK(ok.data == big, "the value is copied into the caller's storage");
        }
        /* on a miss the fetch itself meets the small buffer */
        gcache_key_init_int(&k2, uc, 3);
        fb = gcache_buf_fixed(storage, sizeof storage);
        rc = gcache_get(gc, &k2, fetch, &s, &fb);
        TAP_IS_INT(rc, GCACHE_ETOOBIG, "miss into a too small fixed buffer: the fetch's ETOOBIG");
        TAP_OK(fb.len <= fb.cap, "len never exceeds cap");
        rc = gcache_get(gc, &k2, fetch, &s, &out);
        TAP_IS_INT(rc, GCACHE_OK, "then a growable out gets the value");
        TAP_IS_MEM(out.data, out.len, value, sizeof value - 1, "the right value");
        s.value = "v";
        s.value_len = 1;
    }
    gcache_buf_free(&out);
    gcache_destroy(gc);
}

/* ---- a fetch that calls gcache_get for its own key ------------------------------------------- */
typedef struct reenter {
    gcache *gc;
    gcache_use_case *uc;
    int calls, depth, other_key;
    int inner_rc;
    char inner_val[32];
    size_t inner_len;
    pthread_mutex_t mu;
    int done;
    int outer_rc;
    char outer_val[32];
    size_t outer_len;
} reenter;

static int fetch_reenter(void *user, const gcache_key *key, gcache_buf *out) {
    reenter *r = (reenter *)user;
    int rc;
    r->calls++;
    r->depth++;
    if (r->depth < 2) { /* depth guard: only the outermost fetch re-enters */
        gcache_key k2;
        gcache_buf inner = {0};
        if (r->other_key) gcache_key_init_int(&k2, r->uc, 999);
        else k2 = *key;
        r->inner_rc = gcache_get(r->gc, &k2, fetch_reenter, r, &inner);
        r->inner_len = inner.len < sizeof r->inner_val ? inner.len : sizeof r->inner_val;
        if (r->inner_len) memcpy(r->inner_val, inner.data, r->inner_len);
        gcache_buf_free(&inner);
        rc = gcache_buf_set(out, "outer", 5);
    } else {
        rc = gcache_buf_set(out, "inner", 5);
    }
    r->depth--;
    return rc;
}

static void *reenter_thread(void *p) {
    reenter *r = (reenter *)p;
    gcache_key k;
    gcache_buf out = {0};
    int rc;
    gcache_key_init_int(&k, r->uc, r->other_key ? 500 : 1);
    rc = gcache_get(r->gc, &k, fetch_reenter, r, &out);
    pthread_mutex_lock(&r->mu);
    r->outer_rc = rc;
    r->outer_len = out.len < sizeof r->outer_val ? out.len : sizeof r->outer_val;
    if (r->outer_len) memcpy(r->outer_val, out.data, r->outer_len);
    r->done = 1;
    pthread_mutex_unlock(&r->mu);
    gcache_buf_free(&out);
    return NULL;
}

static void test_reentrant(int other_key) {
    gcache *gc = make(1);
    reenter r;
    pthread_t th;
    int i, done = 0;
    if (!TAP_OK(gc != NULL, "create for re-entrance")) return;
    memset(&r, 0, sizeof r);
    r.gc = gc;
    r.uc = reg(gc, "GetItem", 60);
    r.other_key = other_key;
    pthread_mutex_init(&r.mu, NULL);
    pthread_create(&th, NULL, reenter_thread, &r);
    for (i = 0; i < 2000 && !done; i++) { /* up to 20 s */
        struct timespec ts = {0, 10000000L};
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&r.mu);
        done = r.done;
        pthread_mutex_unlock(&r.mu);
    }
    if (!TAP_OK(done, "a fetch calling gcache_get for %s does not deadlock", other_key ? "another key" : "its own key")) {
        TAP_DIAG("the thread is stuck inside gcache_get: giving up");
        TAP_DONE();
        exit(1);
    }
    pthread_join(th, NULL);
    TAP_IS_INT(r.outer_rc, GCACHE_OK, "re-entrance: the outer get returns OK");
    TAP_IS_MEM(r.outer_val, r.outer_len, "outer", 5, "re-entrance: the outer get returns the outer fetch's value");
    TAP_IS_INT(r.inner_rc, GCACHE_OK, "re-entrance: the inner get returns OK");
    TAP_IS_MEM(r.inner_val, r.inner_len, "inner", 5, "re-entrance: the inner get returns the inner fetch's value");
    TAP_IS_INT(r.calls, 2, "re-entrance: fetch ran twice (outer and inner)");
    pthread_mutex_destroy(&r.mu);
    gcache_destroy(gc);
}

int main(void) {
    test_basic();
    test_key_errors_and_args();
    test_reentrant(0);
    test_reentrant(1);
    return TAP_DONE();
}
