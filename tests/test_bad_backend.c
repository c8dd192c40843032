/* A backend that returns garbage must not crash the core, leak, or change what gcache_get
   returns: values with ptr NULL and a nonzero length, huge lengths (SIZE_MAX and friends)
   over small buffers, positive statuses, undocumented negative statuses (-1234 counts as
   "backend"), failing set/del/flush/publish, a watermark slot full of binary junk, and a
   backend without release(). Buffers are malloc'ed at their exact size so that ASan
   catches any read past what the backend really handed out. */
#define GCACHE_IMPLEMENTATION
#include "gcache.h"
#include "tap.h"
#include "testutil.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    M_GOOD,          /* a correct one-slot store */
    M_NULL_LEN,      /* vals[i] = {NULL, 5} */
    M_HUGE_LEN,      /* vals[i] = {small exact buffer, SIZE_MAX} */
    M_HUGE_LEN2,     /* SIZE_MAX - 10 (20 + len overflows) */
    M_HUGE_LEN3,     /* just over 20 + UINT32_MAX on 64-bit, else SIZE_MAX / 2 */
    M_POSITIVE,      /* mget returns 3 */
    M_NEG_UNDOC,     /* mget returns -1234 */
    M_WM_JUNK,       /* the watermark slot holds binary junk */
    M_WRITES_FAIL,   /* set -1234, del -77, flush_prefix GCACHE_EBACKEND, publish -9 */
    M_WRITES_POS,    /* set/del/flush/publish return 1 */
    M_COUNT
};
static const char *mode_names[M_COUNT] = {"good", "NULL ptr with len 5", "SIZE_MAX len", "SIZE_MAX-10 len",
                                          "len past 4 GiB", "positive status 3", "undocumented -1234",
                                          "watermark slot junk", "writes fail", "writes return 1"};

typedef struct bad {
    int mode;
    /* one-slot store */
    char key[600];
    size_t klen;
    unsigned char *val;
    size_t vlen;
    long replies, releases, mget_calls;
    int no_release; /* hand out pointers into the store, *reply = NULL */
} bad;

typedef struct reply { void *bufs[2]; } reply;

static void *exact_copy(const void *p, size_t n) {
    void *q = malloc(n ? n : 1);
    if (n) memcpy(q, p, n);
    return q;
}

static int bad_mget(void *ctx, const gcache_slice *keys, size_t n, gcache_slice *vals, void **out) {
    bad *b = (bad *)ctx;
    reply *r;
    size_t i;
    b->mget_calls++;
    *out = NULL;
    if (b->mode == M_POSITIVE) {
        for (i = 0; i < n; i++) {
            vals[i].ptr = NULL;
            vals[i].len = 0;
        }
        return 3;
    }
    if (b->mode == M_NEG_UNDOC) return -1234;
    if (b->no_release) {
        for (i = 0; i < n; i++) {
            vals[i].ptr = NULL;
            vals[i].len = 0;
        }
        if (b->val && keys[0].len == b->klen && memcmp(keys[0].ptr, b->key, b->klen) == 0) {
            vals[0].ptr = (const char *)b->val;
            vals[0].len = b->vlen;
        }
        return 0;
    }
    r = (reply *)calloc(1, sizeof *r);
    for (i = 0; i < n; i++) {
        vals[i].ptr = NULL;
        vals[i].len = 0;
        if (i == 0 && b->val && keys[0].len == b->klen && memcmp(keys[0].ptr, b->key, b->klen) == 0) {
            r->bufs[0] = exact_copy(b->val, b->vlen);
            vals[0].ptr = (const char *)r->bufs[0];
            vals[0].len = b->vlen;
        }
        switch (b->mode) {
        case M_NULL_LEN:
            vals[i].ptr = NULL;
            vals[i].len = 5;
            break;
        case M_HUGE_LEN:
        case M_HUGE_LEN2:
        case M_HUGE_LEN3: {
            size_t huge = b->mode == M_HUGE_LEN ? SIZE_MAX : b->mode == M_HUGE_LEN2 ? SIZE_MAX - 10 : SIZE_MAX / 2;
#if SIZE_MAX > 0xffffffffu
            if (b->mode == M_HUGE_LEN3) huge = (size_t)0xffffffffu + 21u;
#endif
            if (i == 0 && !vals[0].ptr) { /* no stored value yet: a small valid envelope */
                unsigned char env[32];
                size_t m = gcache_envelope_write(env, sizeof env, 1, 0, "tiny", 4);
                r->bufs[0] = exact_copy(env, m);
                vals[0].ptr = (const char *)r->bufs[0];
            }
            if (i == 1) {
                r->bufs[1] = exact_copy("12", 2);
                vals[1].ptr = (const char *)r->bufs[1];
            }
            vals[i].len = huge;
            break;
        }
        case M_WM_JUNK:
            if (i == 1) {
                static const unsigned char junk[] = {'G', 'C', 1, 0, 0xff, 0xfe, 0, 0, 0x80, '9', '9'};
                r->bufs[1] = exact_copy(junk, sizeof junk);
                vals[1].ptr = (const char *)r->bufs[1];
                vals[1].len = sizeof junk;
            }
            break;
        default:
            break;
        }
    }
    b->replies++;
    *out = r;
    return 0;
}

static void bad_release(void *ctx, void *p) {
    bad *b = (bad *)ctx;
    reply *r = (reply *)p;
    if (!r) return;
    free(r->bufs[0]);
    free(r->bufs[1]);
    free(r);
    b->releases++;
}

static int bad_set(void *ctx, gcache_slice key, gcache_slice val, int ttl) {
    bad *b = (bad *)ctx;
    (void)ttl;
    if (b->mode == M_WRITES_FAIL) return -1234;
    if (b->mode == M_WRITES_POS) return 1;
    if (key.len > sizeof b->key) return GCACHE_EBACKEND;
    if (key.len > 10 && memcmp(key.ptr + key.len - 10, "#watermark", 10) == 0) return 0; /* not stored */
    free(b->val);
    memcpy(b->key, key.ptr, key.len);
    b->klen = key.len;
    b->val = (unsigned char *)exact_copy(val.ptr, val.len);
    b->vlen = val.len;
    return 0;
}

static int bad_del(void *ctx, gcache_slice key) {
    bad *b = (bad *)ctx;
    if (b->mode == M_WRITES_FAIL) return -77;
    if (b->mode == M_WRITES_POS) return 1;
    if (b->val && key.len == b->klen && memcmp(key.ptr, b->key, key.len) == 0) {
        free(b->val);
        b->val = NULL;
    }
    return 0;
}

static int bad_flush(void *ctx, gcache_slice prefix) {
    bad *b = (bad *)ctx;
    (void)prefix;
    if (b->mode == M_WRITES_FAIL) return GCACHE_EBACKEND;
    if (b->mode == M_WRITES_POS) return 1;
    free(b->val);
    b->val = NULL;
    return 0;
}

static int bad_publish(void *ctx, gcache_slice id, long long wm) {
    bad *b = (bad *)ctx;
    (void)id;
    (void)wm;
    if (b->mode == M_WRITES_FAIL) return -9;
    if (b->mode == M_WRITES_POS) return 1;
    return 0;
}

static int fetch(void *user, const gcache_key *key, gcache_buf *out) {
    int *calls = (int *)user;
    size_t len;
    const char *k = gcache_key_str(key, &len);
    (*calls)++;
    gcache_buf_set(out, "v:", 2);
    return gcache_buf_append(out, k, len);
}

static int value_is(const gcache_buf *out, const gcache_key *key) {
    size_t len;
    const char *k = gcache_key_str(key, &len);
    return out->len == len + 2 && memcmp(out->data, "v:", 2) == 0 && memcmp(out->data + 2, k, len) == 0;
}

static gcache_remote bad_remote(bad *b, int with_release, int with_pubsub) {
    gcache_remote r;
    memset(&r, 0, sizeof r);
    r.ctx = b;
    r.name = "bad";
    r.mget = bad_mget;
    r.release = with_release ? bad_release : NULL;
    r.set = bad_set;
    r.del = bad_del;
    r.flush_prefix = bad_flush;
    if (with_pubsub) r.publish = bad_publish; /* publish without subscribe is allowed */
    return r;
}

static void run_mode(int mode) {
    bad b;
    gcache_desc d;
    gcache *gc = NULL;
    gcache_use_case_desc u;
    gcache_use_case *tracked = NULL, *plain = NULL, *both = NULL;
    gcache_buf out = {0};
    int calls = 0, i, wrong = 0, rc;
    double backend0, backend1;
    gcache_stats st0, st1;
    memset(&b, 0, sizeof b);
    memset(&d, 0, sizeof d);
    d.enabled_by_default = 1;
    d.keep_remote = 1;
    d.breaker.failure_threshold = 100000; /* keep calling the bad backend */
    d.remote = bad_remote(&b, 1, 1);
    rc = gcache_create(&d, &gc);
    if (!TAP_IS_INT(rc, GCACHE_OK, "create over a bad backend")) return;
    memset(&u, 0, sizeof u);
    u.key_type = "user_id";
    u.default_config.ramp[GCACHE_LOCAL] = 100;
    u.default_config.ttl_sec[GCACHE_REMOTE] = 300;
    u.default_config.ramp[GCACHE_REMOTE] = 100;
    u.name = "Tracked";
    u.track_for_invalidation = 1;
    gcache_register(gc, &u, &tracked); /* remote only: local ttl 0 */
    u.name = "Plain";
    u.track_for_invalidation = 0;
    gcache_register(gc, &u, &plain);
    u.name = "Both";
    u.track_for_invalidation = 1;
    u.default_config.ttl_sec[GCACHE_LOCAL] = 60;
    gcache_register(gc, &u, &both);
    b.mode = mode;
    gcache_stats_get(gc, NULL, GCACHE_REMOTE, &st0);
    backend0 = metric(gc, "error=\"backend\"", "layer=\"REMOTE\"", NULL);
    for (i = 0; i < 30; i++) {
        gcache_key k;
        gcache_use_case *uc = i % 3 == 0 ? tracked : i % 3 == 1 ? plain : both;
        gcache_key_init_int(&k, uc, i % 4);
        rc = gcache_get(gc, &k, fetch, &calls, &out);
        if (rc != GCACHE_OK || !value_is(&out, &k)) wrong++;
    }
    TAP_IS_INT(wrong, 0, "a bad backend never changes what gcache_get returns");
    TAP_IS_INT(b.replies, b.releases, "every reply handed out was released exactly once");
    gcache_stats_get(gc, NULL, GCACHE_REMOTE, &st1);
    if (mode == M_NEG_UNDOC) {
        backend1 = metric(gc, "error=\"backend\"", "layer=\"REMOTE\"", NULL);
        TAP_OK(backend1 - backend0 >= 20, "an undocumented status -1234 counts as error=\"backend\" (%g)",
               backend1 - backend0);
        TAP_OK(st1.errors - st0.errors >= 20, "and as REMOTE errors (%llu)", st1.errors - st0.errors);
    }
    if (mode == M_WM_JUNK)
        TAP_OK(metric(gc, "error=\"watermark\"", "layer=\"REMOTE\"", NULL) >= 1, "junk in the watermark slot: error=\"watermark\"");
    if (mode == M_NULL_LEN || mode == M_HUGE_LEN || mode == M_HUGE_LEN2 || mode == M_HUGE_LEN3)
        TAP_OK(calls >= 20, "(%s) nothing bogus was served: the fetch ran (%d)", mode_names[mode], calls);
    {
        gcache_key k;
        int drc, irc, frc;
        gcache_key_init_int(&k, both, 1);
        drc = gcache_delete(gc, &k);
        irc = gcache_invalidate(gc, "user_id", "1", 0);
        frc = gcache_flush(gc);
        if (mode == M_WRITES_FAIL) {
            TAP_OK(drc < 0, "failing del: gcache_delete returns an error (%d)", drc);
            TAP_OK(irc < 0, "failing set: gcache_invalidate returns an error (%d)", irc);
            TAP_OK(frc < 0, "failing flush_prefix: gcache_flush returns an error (%d)", frc);
        } else if (mode == M_WRITES_POS) {
            TAP_OK(drc <= 0 && irc <= 0 && frc <= 0, "positive statuses from writes are never returned as positive (%d %d %d)",
                   drc, irc, frc);
        }
        calls = 0;
        rc = gcache_get(gc, &k, fetch, &calls, &out);
        TAP_OK(rc == GCACHE_OK && value_is(&out, &k), "(%s) after delete/invalidate/flush: the value", mode_names[mode]);
    }
    TAP_OK(b.replies == b.releases, "(%s) replies released (%ld of %ld)", mode_names[mode], b.releases, b.replies);
    gcache_buf_free(&out);
    gcache_destroy(gc);
    free(b.val);
}

/* no release(): the core must not try to free the reply */
static void test_no_release(void) {
    bad b;
    gcache_desc d;
    gcache *gc = NULL;
    gcache_use_case_desc u;
    gcache_use_case *uc = NULL;
    gcache_buf out = {0};
    gcache_key k;
    int calls = 0, rc, i, wrong = 0;
    memset(&b, 0, sizeof b);
    b.no_release = 1;
    memset(&d, 0, sizeof d);
    d.enabled_by_default = 1;
    d.keep_remote = 1;
    d.remote = bad_remote(&b, 0, 0);
    if (!TAP_IS_INT(gcache_create(&d, &gc), GCACHE_OK, "create over a backend without release")) return;
    memset(&u, 0, sizeof u);
    u.name = "GetUser";
    u.key_type = "user_id";
    u.track_for_invalidation = 1;
    u.default_config.ramp[GCACHE_LOCAL] = 100;
    u.default_config.ttl_sec[GCACHE_REMOTE] = 300;
    u.default_config.ramp[GCACHE_REMOTE] = 100;
    gcache_register(gc, &u, &uc);
    gcache_key_init_int(&k, uc, 1);
    for (i = 0; i < 5; i++) {
        rc = gcache_get(gc, &k, fetch, &calls, &out);
        if (rc != GCACHE_OK || !value_is(&out, &k)) wrong++;
    }
    TAP_IS_INT(wrong, 0, "no release(): values right");
    TAP_IS_INT(calls, 1, "no release(): one fetch, then remote hits");
    TAP_IS_INT(b.releases, 0, "no release(): nothing released through the vtable");
    gcache_buf_free(&out);
    gcache_destroy(gc);
    free(b.val);
}

int main(void) {
    int m;
    for (m = 0; m < M_COUNT; m++) run_mode(m);
    test_no_release();
    return TAP_DONE();
}
