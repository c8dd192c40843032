/* Watermark invalidation: what gcache_invalidate writes, the staleness rule, the
   future-buffer window, a fetch racing an invalidation, malformed watermarks, the parser,
   the local layer honouring watermarks (tracked only), two instances hearing each other
   through pub/sub, and bounded local watermark state. */
#define GCACHE_IMPLEMENTATION
#include "gcache.h"
#include "tap.h"
#include "testutil.h"
#include "fault_remote.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SEC 1000000000ULL
#define W0 1700000000000LL


/* ---- source: value "v<version>:<key>", version bumped by the test ------------------------ */
typedef struct source {
    int calls;
    int version;
    /* racing: inside the fetch, move the wall clock and invalidate */
    gcache *race_gc;
    fake_clock *race_clock;
    const char *race_id;
} source;

static int fetch(void *user, const gcache_key *key, gcache_buf *out) {
    source *s = (source *)user;
    char head[32];
    size_t len;
    const char *k = gcache_key_str(key, &len);
    int n = snprintf(head, sizeof head, "v%d:", s->version);
    s->calls++;
    if (s->race_gc) {
        int rc;
        s->race_clock->wall_ms += 1;
        rc = gcache_invalidate(s->race_gc, "user_id", s->race_id, 0);
        if (rc != GCACHE_OK) TAP_DIAG("invalidate inside the fetch returned %d", rc);
    }
    gcache_buf_set(out, head, (size_t)n);
    return gcache_buf_append(out, k, len);
}

static int value_is(const gcache_buf *out, const gcache_key *key, int version) {
    char want[700];
    size_t len;
    const char *k = gcache_key_str(key, &len);
    int n = snprintf(want, sizeof want, "v%d:%s", version, k);
    return out->len == (size_t)n && memcmp(out->data, want, (size_t)n) == 0;
}

/* ---- backend access ------------------------------------------------------------------------- */
static void raw_del(gcache_remote *r, const char *key) {
    gcache_slice k;
    k.ptr = key;
    k.len = strlen(key);
    r->del(r->ctx, k);
}

static void put_envelope(gcache_remote *r, const char *key, long long created, const char *payload) {
    unsigned char e[256];
    size_t n = gcache_envelope_write(e, sizeof e, created, 0, payload, strlen(payload));
    raw_set(r, key, e, n, 300);
}

/* 1: the backend holds a valid envelope whose payload is want */
static int holds(gcache_remote *r, const char *key, const char *want) {
    char buf[1024];
    size_t len;
    gcache_envelope e;
    if (raw_get(r, key, buf, sizeof buf, &len) != 1) return 0;
    if (gcache_envelope_read(buf, len, &e) != GCACHE_OK) return 0;
    return e.payload_len == strlen(want) && memcmp(e.payload, want, e.payload_len) == 0;
}

static unsigned long long remote_errors(gcache *gc) {
    gcache_stats s;
    memset(&s, 0, sizeof s);
    gcache_stats_get(gc, NULL, GCACHE_REMOTE, &s);
    return s.errors;
}

/* ---- setup ----------------------------------------------------------------------------------- */
static gcache_remote make_memory(fake_clock *fc) {
    gcache_memory_desc md;
    gcache_remote r;
    memset(&md, 0, sizeof md);
    md.clock.wall_ms_fn = fc_wall;
    md.clock.mono_ns_fn = fc_mono;
    md.clock.user_data = fc;
    memset(&r, 0, sizeof r);
    if (gcache_remote_memory(&md, &r) != GCACHE_OK) TAP_OK(0, "gcache_remote_memory");
    return r;
}

static gcache *make(fake_clock *fc, gcache_remote *remote, int watermark_ttl, gcache_allocator *alloc) {
    gcache_desc d;
    gcache *gc = NULL;
    int rc;
    memset(&d, 0, sizeof d);
    d.enabled_by_default = 1;
    if (remote) d.remote = *remote;
    d.keep_remote = 1;
    d.watermark_ttl_sec = watermark_ttl;
    d.breaker.failure_threshold = 1000;
    d.clock.wall_ms_fn = fc_wall;
    d.clock.mono_ns_fn = fc_mono;
    d.clock.user_data = fc;
    if (alloc) d.allocator = *alloc;
    rc = gcache_create(&d, &gc);
    if (rc != GCACHE_OK) TAP_OK(0, "gcache_create: %d", rc);
    return gc;
}

static gcache_use_case *reg(gcache *gc, const char *name, int track, int ttl_local, int ttl_remote) {
    gcache_use_case_desc u;
    gcache_use_case *uc = NULL;
    memset(&u, 0, sizeof u);
    u.name = name;
    u.key_type = "user_id";
    u.track_for_invalidation = track;
    u.default_config.ttl_sec[GCACHE_LOCAL] = ttl_local;
    u.default_config.ramp[GCACHE_LOCAL] = 100;
    u.default_config.ttl_sec[GCACHE_REMOTE] = ttl_remote;
    u.default_config.ramp[GCACHE_REMOTE] = 100;
    if (gcache_register(gc, &u, &uc) != GCACHE_OK) TAP_OK(0, "register %s", name);
    return uc;
}

/* ---- 1. what invalidate writes ------------------------------------------------------------- */
static void test_write(void) {
    fake_clock fc = {W0, 10 * SEC};
    gcache_remote mem = make_memory(&fc), spy;
    gcache *gc = make(&fc, &mem, 100, NULL), *g2;
    gcache_fault_desc fd;
    gcache_fault_counts c;
    char buf[128];
    size_t len;
    gcache_use_case *uc = reg(gc, "GetUser", 1, 60, 300);
    gcache_key k;

    TAP_IS_INT(gcache_invalidate(gc, "user_id", "1", 500), GCACHE_OK, "gcache_invalidate");
    TAP_IS_INT(raw_get(&mem, "{urn:user_id:1}#watermark", buf, sizeof buf, &len), 1,
               "the watermark key {urn:user_id:1}#watermark exists");
    TAP_IS_STR(buf, "1700000000500", "watermark = wall ms + future buffer, decimal ASCII");
    fc.wall_ms = W0 + 7;
    gcache_invalidate(gc, "user_id", "1", 0);
    raw_get(&mem, "{urn:user_id:1}#watermark", buf, sizeof buf, &len);
    TAP_IS_STR(buf, "1700000000007", "a later invalidation overwrites it (future buffer 0)");
    TAP_IS_INT(gcache_invalidate(gc, "user_id", "a b%c{}", 0), GCACHE_OK, "invalidate an id with special bytes");
    TAP_IS_INT(raw_get(&mem, "{urn:user_id:a b%25c%7B%7D}#watermark", buf, sizeof buf, &len), 1,
               "the id is escaped as in keys");
    TAP_IS_INT(gcache_invalidate(gc, "not_registered", "9", 0), GCACHE_OK, "any key_type may be invalidated");
    TAP_IS_INT(raw_get(&mem, "{urn:not_registered:9}#watermark", buf, sizeof buf, &len), 1,
               "{urn:not_registered:9}#watermark written");
    gcache_key_init_int(&k, uc, 7);
    gcache_key_add(&k, "page", "2");
    fc.wall_ms = W0 + 9;
    TAP_IS_INT(gcache_invalidate_key(gc, &k, 1), GCACHE_OK, "gcache_invalidate_key");
    raw_get(&mem, "{urn:user_id:7}#watermark", buf, sizeof buf, &len);
    TAP_IS_STR(buf, "1700000000010", "invalidate_key writes the key's id watermark");
    TAP_IS_INT(gcache_invalidate(NULL, "user_id", "1", 0), GCACHE_EINVAL, "invalidate(NULL gc): EINVAL");
    TAP_IS_INT(gcache_invalidate(gc, NULL, "1", 0), GCACHE_EINVAL, "invalidate(NULL key_type): EINVAL");
    TAP_IS_INT(gcache_invalidate(gc, "user_id", NULL, 0), GCACHE_EINVAL, "invalidate(NULL id): EINVAL");
    /* TTL watermark_ttl_sec (100 here) on the backend's clock */
    fc.mono_ns += 99 * SEC;
    TAP_IS_INT(raw_get(&mem, "{urn:user_id:1}#watermark", buf, sizeof buf, &len), 1, "watermark there at 99 s");
    fc.mono_ns += 2 * SEC;
    TAP_IS_INT(raw_get(&mem, "{urn:user_id:1}#watermark", buf, sizeof buf, &len), 0,
               "watermark gone after watermark_ttl_sec 100");
    gcache_destroy(gc);

    /* the default TTL is 14400 */
    memset(&fd, 0, sizeof fd);
    gcache_fault_wrap(mem, &fd, &spy);
    g2 = make(&fc, &spy, 0, NULL);
    gcache_invalidate(g2, "user_id", "1", 0);
    gcache_fault_get_counts(&spy, &c);
    TAP_IS_INT(c.last_set_ttl, 14400, "default watermark ttl 14400 s");
    TAP_OK(c.publish_calls == 1, "invalidate publishes once (%llu)", c.publish_calls);
    gcache_destroy(g2);
    spy.destroy(spy.ctx); /* destroys mem too */
}

/* ---- 2. staleness, future window, race, malformed -------------------------------------------- */
static void test_stale_rule(void) {
    fake_clock fc = {W0, 10 * SEC};
    gcache_remote mem = make_memory(&fc);
    gcache *gc = make(&fc, &mem, 0, NULL);
    gcache_use_case *ro = reg(gc, "GetUserR", 1, 0, 300); /* remote only */
    gcache_use_case *both = reg(gc, "GetUser", 1, 60, 300);
    gcache_key k;
    gcache_buf out = {0};
    source s;
    const char *key;
    char wm[64];
    const long long C = W0 - 5000;
    int d, rc;
    memset(&s, 0, sizeof s);

    gcache_key_init_int(&k, ro, 2);
    key = gcache_key_str(&k, NULL);
    for (d = -1; d <= 1; d++) {
        int before = s.calls;
        put_envelope(&mem, key, C, "cached");
        snprintf(wm, sizeof wm, "%lld", C + d);
        raw_set(&mem, "{urn:user_id:2}#watermark", wm, strlen(wm), 300);
        rc = gcache_get(gc, &k, fetch, &s, &out);
        if (d < 0) {
            TAP_OK(rc == GCACHE_OK && s.calls == before && out.len == 6 && !memcmp(out.data, "cached", 6),
                   "watermark = created_at - 1: the entry is fresh");
        } else {
            TAP_OK(rc == GCACHE_OK && s.calls == before + 1 && value_is(&out, &k, 0),
                   "watermark = created_at + %d: stale, fetched", d);
            before = s.calls;
            gcache_get(gc, &k, fetch, &s, &out);
            TAP_OK(s.calls == before && value_is(&out, &k, 0),
                   "the value fetched after the watermark is stored and served");
        }
    }
    TAP_IS_INT(remote_errors(gc), 0, "no errors for well-formed watermarks");

    /* the future-buffer window: values fetched in it are not stored (either layer) */
    gcache_key_init_int(&k, both, 3);
    key = gcache_key_str(&k, NULL);
    fc.wall_ms = W0;
    gcache_invalidate(gc, "user_id", "3", 5000);
    fc.wall_ms = W0 + 1000;
    s.calls = 0;
    gcache_get(gc, &k, fetch, &s, &out);
    TAP_OK(s.calls == 1 && value_is(&out, &k, 0), "future window: the fetch's value is returned");
    TAP_OK(!holds(&mem, key, (const char *)out.data), "future window: the value is not stored in the remote");
    gcache_get(gc, &k, fetch, &s, &out);
    TAP_IS_INT(s.calls, 2, "future window: not stored locally either (the next get fetches)");
    fc.wall_ms = W0 + 5000;
    gcache_get(gc, &k, fetch, &s, &out);
    gcache_get(gc, &k, fetch, &s, &out);
    TAP_IS_INT(s.calls, 4, "at watermark == now: still not stored");
    fc.wall_ms = W0 + 5001;
    gcache_get(gc, &k, fetch, &s, &out);
    TAP_IS_INT(s.calls, 5, "after the window: fetch");
    gcache_get(gc, &k, fetch, &s, &out);
    TAP_IS_INT(s.calls, 5, "after the window: stored (a hit)");
    {
        char tmp[700];
        size_t n = out.len < sizeof tmp - 1 ? out.len : sizeof tmp - 1;
        memcpy(tmp, out.data, n);
        tmp[n] = '\0';
        TAP_OK(holds(&mem, key, tmp), "after the window: stored in the remote");
    }

    /* a slow fetch racing an invalidation: fetch starts at t, the invalidation at t+1 returns,
       the fetch ends -> not cached */
    {
        int l;
        for (l = 0; l < 2; l++) {
            gcache_use_case *uc = l ? ro : both;
            fc.wall_ms = W0 + 100000 + l * 1000;
            gcache_key_init_int(&k, uc, 4);
            gcache_key_add_int(&k, "l", l);
            s.calls = 0;
            s.race_gc = gc;
            s.race_clock = &fc;
            s.race_id = "4";
            rc = gcache_get(gc, &k, fetch, &s, &out);
            s.race_gc = NULL;
            TAP_OK(rc == GCACHE_OK && s.calls == 1 && value_is(&out, &k, s.version),
                   "(%s) racing fetch: its value is returned", l ? "remote only" : "local+remote");
            s.version++;
            fc.wall_ms += 1; /* past the watermark's millisecond */
            gcache_get(gc, &k, fetch, &s, &out);
            TAP_OK(s.calls == 2 && value_is(&out, &k, s.version),
                   "(%s) a fetch that raced an invalidation was not cached: the next get fetches the new version",
                   l ? "remote only" : "local+remote");
            gcache_get(gc, &k, fetch, &s, &out);
            TAP_OK(s.calls == 2 && value_is(&out, &k, s.version), "(%s) and that one is cached",
                   l ? "remote only" : "local+remote");
        }
    }

    /* malformed watermarks: fail open, nothing stored, error "watermark" */
    {
        static const char *const bad[] = {"abc", "1e5", "-5", "", " 5", "5.", ".5", "5 ", "+5", "0x10", "1.2.3", "1,5"};
        size_t i;
        fc.wall_ms = W0 + 200000;
        for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            int with_value;
            for (with_value = 0; with_value < 2; with_value++) {
                gcache_use_case *uc = with_value ? ro : both;
                unsigned long long e0 = remote_errors(gc);
                double m0 = metric(gc, "error=\"watermark\"", "layer=\"REMOTE\"", NULL), m1;
                int before = s.calls, ok;
                gcache_key_init_int(&k, uc, 5);
                key = gcache_key_str(&k, NULL);
                raw_del(&mem, key);
                if (with_value) put_envelope(&mem, key, W0 - 1, "old");
                raw_set(&mem, "{urn:user_id:5}#watermark", bad[i], strlen(bad[i]), 300);
                rc = gcache_get(gc, &k, fetch, &s, &out);
                ok = rc == GCACHE_OK && s.calls == before + 1 && value_is(&out, &k, s.version);
                TAP_OK(ok, "malformed watermark \"%s\" (%s): fails open to the fetch", bad[i],
                       with_value ? "value present" : "no value");
                TAP_OK(remote_errors(gc) > e0, "malformed watermark \"%s\": an error at REMOTE", bad[i]);
                m1 = metric(gc, "error=\"watermark\"", "layer=\"REMOTE\"", NULL);
                TAP_OK(m1 > m0, "malformed watermark \"%s\": error=\"watermark\" in the metrics (%g -> %g)", bad[i], m0,
                       m1);
                if (with_value) {
                    TAP_OK(holds(&mem, key, "old"), "malformed watermark \"%s\": the stored value is left alone", bad[i]);
                } else {
                    char tmp[16];
                    size_t len;
                    TAP_IS_INT(raw_get(&mem, key, tmp, sizeof tmp, &len), 0, "malformed watermark: nothing stored");
                }
                gcache_get(gc, &k, fetch, &s, &out);
                TAP_IS_INT(s.calls, before + 2, "malformed watermark: nothing cached locally, the next get fetches");
            }
        }
    }

    /* well-formed oddities */
    {
        int before;
        unsigned long long e0 = remote_errors(gc);
        gcache_key_init_int(&k, ro, 6);
        key = gcache_key_str(&k, NULL);
        put_envelope(&mem, key, W0 - 1, "old6");
        raw_set(&mem, "{urn:user_id:6}#watermark", "123.456", 7, 300);
        before = s.calls;
        rc = gcache_get(gc, &k, fetch, &s, &out);
        TAP_OK(rc == GCACHE_OK && s.calls == before && out.len == 4 && !memcmp(out.data, "old6", 4),
               "watermark \"123.456\" is accepted (integer part 123): the entry is fresh");
        raw_set(&mem, "{urn:user_id:6}#watermark", "99999999999999999999999", 23, 300);
        rc = gcache_get(gc, &k, fetch, &s, &out);
        TAP_OK(rc == GCACHE_OK && s.calls == before + 1 && value_is(&out, &k, s.version),
               "watermark 99999999999999999999999 = the largest: the entry is stale");
        TAP_OK(holds(&mem, key, "old6"), "the largest watermark: nothing stored over the old entry");
        gcache_get(gc, &k, fetch, &s, &out);
        TAP_IS_INT(s.calls, before + 2, "the largest watermark: not cached");
        TAP_IS_INT(remote_errors(gc), e0, "neither is an error");
    }
    gcache_buf_free(&out);
    gcache_destroy(gc);
    mem.destroy(mem.ctx);
}

/* ---- 3. the parser ----------------------------------------------------------------------------- */
static void test_parse(void) {
    static const struct { const char *s; long long want; } good[] = {
        {"0", 0},
        {"7", 7},
        {"123", 123},
        {"00012", 12},
        {"123.456", 123},
        {"1.0", 1},
        {"1700000000123", 1700000000123LL},
        {"1700000000123.999", 1700000000123LL},
        {"9223372036854775806", LLONG_MAX - 1},
        {"9223372036854775807", LLONG_MAX},
        {"9223372036854775808", LLONG_MAX},
        {"99999999999999999999999", LLONG_MAX},
        {"99999999999999999999999.5", LLONG_MAX},
        {"18446744073709551616", LLONG_MAX},
        {"0.000000000000000000001", 0},
    };
    static const char *const bad[] = {"",   "abc", "1e5", "-5",   " 5",   "5 ",  "5.",  ".5",    "+5",  "0x10",
                                      "1.2.3", "1,5", "inf", "nan", "1_000", "\xef\xbc\x95",  "\t5", "5\n", "."};
    size_t i;
    int fails = 0;
    for (i = 0; i < sizeof good / sizeof good[0]; i++) {
        long long v = -1;
        int rc = gcache_watermark_parse(good[i].s, strlen(good[i].s), &v);
        if (rc != GCACHE_OK || v != good[i].want) {
            fails++;
            TAP_DIAG("parse(\"%s\"): rc %d value %lld, want OK %lld", good[i].s, rc, v, good[i].want);
        }
    }
    TAP_IS_INT(fails, 0, "gcache_watermark_parse: well-formed values");
    fails = 0;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        long long v = -1;
        int rc = gcache_watermark_parse(bad[i], strlen(bad[i]), &v);
        if (rc != GCACHE_ECORRUPT) {
            fails++;
            TAP_DIAG("parse(\"%s\"): rc %d, want ECORRUPT", bad[i], rc);
        }
    }
    TAP_IS_INT(fails, 0, "gcache_watermark_parse: malformed values are ECORRUPT");
    {
        long long v = -1;
        TAP_IS_INT(gcache_watermark_parse("12345", 3, &v), GCACHE_OK, "parse reads only len bytes");
        TAP_IS_INT(v, 123, "parse(\"12345\", 3) = 123");
        TAP_IS_INT(gcache_watermark_parse("5\0", 2, &v), GCACHE_ECORRUPT, "an embedded NUL is malformed");
    }
}

/* ---- 4. the local layer honours watermarks --------------------------------------------------- */
static void test_local_watermarks(void) {
    fake_clock fc = {W0, 10 * SEC};
    gcache *gc = make(&fc, NULL, 0, NULL); /* local only */
    gcache_use_case *t = reg(gc, "Tracked", 1, 60, 0), *u = reg(gc, "Untracked", 0, 60, 0);
    gcache_key kt1, kt1p, kt2, ku1;
    gcache_buf out = {0};
    source s;
    memset(&s, 0, sizeof s);
    gcache_key_init_int(&kt1, t, 1);
    gcache_key_init_int(&kt1p, t, 1);
    gcache_key_add_int(&kt1p, "page", 2);
    gcache_key_init_int(&kt2, t, 2);
    gcache_key_init_int(&ku1, u, 1);
    gcache_get(gc, &kt1, fetch, &s, &out);
    gcache_get(gc, &kt1p, fetch, &s, &out);
    gcache_get(gc, &kt2, fetch, &s, &out);
    gcache_get(gc, &ku1, fetch, &s, &out);
    TAP_IS_INT(s.calls, 4, "local: 4 fills");
    fc.wall_ms = W0 + 1;
    s.version = 1;
    TAP_IS_INT(gcache_invalidate(gc, "user_id", "1", 0), GCACHE_OK, "invalidate user 1 (no remote: local part only)");
    fc.wall_ms = W0 + 2; /* a fetch in the watermark's own millisecond would not be stored */
    gcache_get(gc, &kt1, fetch, &s, &out);
    TAP_OK(s.calls == 5 && value_is(&out, &kt1, 1), "local: a tracked entry of the id is stale at once");
    gcache_get(gc, &kt1p, fetch, &s, &out);
    TAP_OK(s.calls == 6 && value_is(&out, &kt1p, 1), "local: every key of the id (with args) is stale");
    gcache_get(gc, &kt2, fetch, &s, &out);
    TAP_OK(s.calls == 6 && value_is(&out, &kt2, 0), "local: another id is untouched");
    gcache_get(gc, &ku1, fetch, &s, &out);
    TAP_OK(s.calls == 6 && value_is(&out, &ku1, 0), "local: an untracked use case ignores watermarks (as the reference)");
    gcache_get(gc, &kt1, fetch, &s, &out);
    TAP_OK(s.calls == 6 && value_is(&out, &kt1, 1), "local: the refilled entry is cached again");
    /* same millisecond: an entry created at W0+2, a watermark of W0+2: stale */
    s.version = 2;
    gcache_invalidate(gc, "user_id", "1", 0);
    gcache_get(gc, &kt1, fetch, &s, &out);
    TAP_OK(s.calls == 7 && value_is(&out, &kt1, 2), "local: an entry created in the watermark's millisecond is stale");
    gcache_get(gc, &kt1, fetch, &s, &out);
    TAP_OK(s.calls == 8 && value_is(&out, &kt1, 2),
           "local: a value fetched in the watermark's millisecond is not stored");
    /* future buffer: no local fill inside the window */
    fc.wall_ms = W0 + 3;
    gcache_invalidate(gc, "user_id", "2", 3000); /* watermark W0 + 3003 */
    fc.wall_ms = W0 + 1003;
    gcache_get(gc, &kt2, fetch, &s, &out);
    gcache_get(gc, &kt2, fetch, &s, &out);
    TAP_IS_INT(s.calls, 10, "local: inside the future window nothing is cached locally");
    fc.wall_ms = W0 + 3004;
    gcache_get(gc, &kt2, fetch, &s, &out);
    gcache_get(gc, &kt2, fetch, &s, &out);
    TAP_IS_INT(s.calls, 11, "local: after the window it is cached again");
    gcache_buf_free(&out);
    gcache_destroy(gc);
}

/* ---- 5. two instances sharing one backend ------------------------------------------------------ */
static void test_two_instances(void) {
    fake_clock fc = {W0, 10 * SEC};
    gcache_remote mem = make_memory(&fc), nopub;
    gcache_fault_desc fd;
    gcache *a = make(&fc, &mem, 0, NULL), *b = make(&fc, &mem, 0, NULL), *c;
    gcache_use_case *ua = reg(a, "GetUser", 1, 60, 300), *ub = reg(b, "GetUser", 1, 60, 300);
    gcache_use_case *ub2 = reg(b, "GetUserPage", 1, 60, 300);
    gcache_key ka, kb, kb2;
    gcache_buf out = {0};
    gcache_stats st;
    source s;
    int i;
    memset(&s, 0, sizeof s);
    gcache_key_init_int(&ka, ua, 9);
    gcache_key_init_int(&kb, ub, 9);
    gcache_key_init_int(&kb2, ub2, 9);
    gcache_get(b, &kb, fetch, &s, &out);
    gcache_get(b, &kb2, fetch, &s, &out);
    gcache_get(b, &kb, fetch, &s, &out);
    TAP_IS_INT(s.calls, 2, "B: two fills, then a local hit");
    fc.wall_ms += 1;
    s.version = 1;
    TAP_IS_INT(gcache_invalidate(a, "user_id", "9", 0), GCACHE_OK, "A invalidates user 9");
    gcache_get(b, &kb, fetch, &s, &out);
    TAP_OK(s.calls == 3 && value_is(&out, &kb, 1), "B: its local entry is stale after A's invalidation (pub/sub)");
    gcache_get(b, &kb2, fetch, &s, &out);
    TAP_OK(s.calls == 4 && value_is(&out, &kb2, 1), "B: every use case of the id");
    gcache_get(a, &ka, fetch, &s, &out);
    TAP_OK(value_is(&out, &ka, 1), "A: the new version");

    /* an empty key_type_id delivery drops B's (and A's) whole local layer */
    for (i = 10; i < 20; i++) {
        gcache_key k;
        gcache_key_init_int(&k, ub, i);
        gcache_get(b, &k, fetch, &s, &out);
    }
    gcache_stats_get(b, NULL, GCACHE_LOCAL, &st);
    TAP_OK(st.entries >= 10, "B: local entries before (%llu)", st.entries);
    {
        gcache_slice empty;
        int before;
        empty.ptr = "";
        empty.len = 0;
        TAP_IS_INT(mem.publish(mem.ctx, empty, 0), 0, "the backend delivers an empty key_type_id");
        for (i = 0; i < 200; i++) { /* a backend may deliver from another thread */
            gcache_stats_get(b, NULL, GCACHE_LOCAL, &st);
            if (st.entries == 0) break;
            {
                struct timespec ts = {0, 10000000L};
                nanosleep(&ts, NULL);
            }
        }
        TAP_IS_INT(st.entries, 0, "B: an empty key_type_id drops the whole local layer");
        before = s.calls;
        for (i = 10; i < 20; i++) {
            gcache_key k;
            gcache_key_init_int(&k, ub, i);
            gcache_get(b, &k, fetch, &s, &out);
        }
        TAP_IS_INT(s.calls, before, "B: the values come back from the remote (no fetch)");
    }

    /* a watermark seen on a remote read is applied locally (no pub/sub) */
    memset(&fd, 0, sizeof fd);
    fd.no_pubsub = 1;
    gcache_fault_wrap(mem, &fd, &nopub);
    c = make(&fc, &nopub, 0, NULL);
    {
        gcache_use_case *uc = reg(c, "GetUser", 1, 60, 300);
        gcache_key k1, k3;
        int before;
        gcache_key_init_int(&k1, uc, 30);
        gcache_key_add_int(&k1, "page", 1);
        gcache_key_init_int(&k3, uc, 30);
        gcache_key_add_int(&k3, "page", 3);
        gcache_get(c, &k1, fetch, &s, &out);
        fc.wall_ms += 1;
        s.version = 2;
        gcache_invalidate(a, "user_id", "30", 0);
        fc.wall_ms += 1;
        before = s.calls;
        gcache_get(c, &k3, fetch, &s, &out); /* reads the watermark with the value */
        TAP_OK(s.calls == before + 1 && value_is(&out, &k3, 2), "C (no pub/sub): another key of the id is fetched");
        gcache_get(c, &k1, fetch, &s, &out);
        TAP_OK(s.calls == before + 2 && value_is(&out, &k1, 2),
               "C: the watermark read with it made C's local entry of the same id stale");
    }
    gcache_destroy(c);
    gcache_buf_free(&out);
    gcache_destroy(a);
    gcache_destroy(b);
    nopub.destroy(nopub.ctx); /* and mem */
}

/* ---- 6. bounded local watermark state ------------------------------------------------------------ */
typedef struct counting {
    pthread_mutex_t mu;
    long long live, peak, live_blocks;
} counting;

static void *count_alloc(size_t size, void *u) {
    counting *c = (counting *)u;
    size_t *p = (size_t *)malloc(size + 16);
    if (!p) return NULL;
    p[0] = size;
    pthread_mutex_lock(&c->mu);
    c->live += (long long)size;
    c->live_blocks++;
    if (c->live > c->peak) c->peak = c->live;
    pthread_mutex_unlock(&c->mu);
    return (char *)p + 16;
}

static void count_free(void *ptr, void *u) {
    counting *c = (counting *)u;
    size_t *p;
    if (!ptr) return;
    p = (size_t *)((char *)ptr - 16);
    pthread_mutex_lock(&c->mu);
    c->live -= (long long)p[0];
    c->live_blocks--;
    pthread_mutex_unlock(&c->mu);
    free(p);
}

/* 1,000 local entries, then 1,000,000 distinct ids invalidated with the clock standing
   still (nothing ages out): the instance's memory must stay bounded, and every entry
   that was there must be stale. GCACHE_WATERMARK_IDS overrides the count. */
static void test_bounded_state(void) {
    fake_clock fc = {W0, 10 * SEC};
    counting cnt;
    gcache_allocator al;
    gcache *gc;
    gcache_use_case *uc;
    gcache_buf out = {0};
    source s;
    long i, n = 1000000, stale = 0;
    long long live_start, live_quarter = 0, live_end;
    const char *env = getenv("GCACHE_WATERMARK_IDS");
    if (env && atol(env) > 0) n = atol(env);
    memset(&cnt, 0, sizeof cnt);
    pthread_mutex_init(&cnt.mu, NULL);
    al.alloc_fn = count_alloc;
    al.free_fn = count_free;
    al.user_data = &cnt;
    gc = make(&fc, NULL, 0, &al);
    uc = reg(gc, "GetUser", 1, 600, 0);
    memset(&s, 0, sizeof s);
    out.allocator.alloc_fn = plain_alloc; /* the caller's buffer is not the instance's memory */
    out.allocator.free_fn = plain_free;
    for (i = 0; i < 1000; i++) {
        gcache_key k;
        gcache_key_init_int(&k, uc, i);
        gcache_get(gc, &k, fetch, &s, &out);
    }
    live_start = cnt.live;
    fc.wall_ms += 1;
    for (i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof id, "%ld", i);
        gcache_invalidate(gc, "user_id", id, 0);
        if (i == n / 4) live_quarter = cnt.live;
    }
    live_end = cnt.live;
    TAP_DIAG("local watermark state: live %lld B with 1000 entries, %lld B after %ld invalidations, %lld B after %ld; "
             "peak %lld B",
             live_start, live_quarter, n / 4, live_end, n, cnt.peak);
    TAP_OK(cnt.peak - live_start < 16LL * 1024 * 1024,
           "invalidating %ld distinct ids keeps the instance's memory bounded (peak growth %lld B < 16 MiB)", n,
           cnt.peak - live_start);
    TAP_OK(live_end - live_start <= (live_quarter - live_start) * 3 / 2 + 1024 * 1024,
           "memory stops growing with the number of ids (%lld B after 1/4, %lld B at the end)", live_quarter - live_start,
           live_end - live_start);
    s.version = 1;
    for (i = 0; i < 1000; i++) {
        gcache_key k;
        int before = s.calls;
        gcache_key_init_int(&k, uc, i);
        gcache_get(gc, &k, fetch, &s, &out);
        if (s.calls == before + 1 && value_is(&out, &k, 1)) stale++;
    }
    TAP_IS_INT(stale, 1000, "every invalidated id that had a local entry is stale");
    {
        gcache_key k;
        int before;
        fc.wall_ms += 1;
        gcache_key_init_int(&k, uc, 5000000);
        gcache_get(gc, &k, fetch, &s, &out);
        before = s.calls;
        gcache_get(gc, &k, fetch, &s, &out);
        TAP_IS_INT(s.calls, before, "a value filled after the invalidations is cached");
    }
    gcache_buf_free(&out);
    gcache_destroy(gc);
    TAP_IS_INT(cnt.live, 0, "destroy frees everything the instance allocated");
    pthread_mutex_destroy(&cnt.mu);
}

/* ---- 7. the watermark value stays a valid watermark whatever the buffer --------------------- */
static void test_buffer_extremes(void) {
    fake_clock fc = {W0, 10 * SEC};
    gcache_remote mem = make_memory(&fc);
    gcache *gc = make(&fc, &mem, 100, NULL);
    char buf[128];
    size_t len;
    long long wm = 0;
    TAP_IS_INT(gcache_invalidate(gc, "user_id", "1", -2000000000000000LL), GCACHE_OK, "a buffer far in the past");
    raw_get(&mem, "{urn:user_id:1}#watermark", buf, sizeof buf, &len);
    TAP_IS_STR(buf, "0", "a watermark before the epoch is written as 0, never negative");
    TAP_IS_INT(gcache_invalidate(gc, "user_id", "2", 9223372036854775807LL), GCACHE_OK, "the largest buffer");
    raw_get(&mem, "{urn:user_id:2}#watermark", buf, sizeof buf, &len);
    TAP_IS_INT(gcache_watermark_parse(buf, len, &wm), GCACHE_OK, "the saturated watermark parses");
    TAP_IS_INT(wm == 9223372036854775807LL, 1, "now + buffer saturates at the largest 64-bit value");
    gcache_destroy(gc);
    mem.destroy(mem.ctx);
}

int main(void) {
    test_buffer_extremes();
    test_write();
    test_stale_rule();
    test_parse();
    test_local_watermarks();
    test_two_instances();
    test_bounded_state();
    return TAP_DONE();
}
