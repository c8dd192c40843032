/* The remote layer through the vtable: the read path local -> remote -> fetch, what is
   written (envelope, key, TTL), one mget of two keys for tracked use cases and one key
   otherwise, two instances sharing one backend, negative entries, delete and flush,
   ramp/missing config, release of every reply, ownership (destroy, keep_remote,
   subscribe), errors counted at REMOTE. The memory backend is wrapped by the fault
   backend with all rates 0, used as a spy. */
#define GCACHE_IMPLEMENTATION
#include "gcache.h"
#include "tap.h"
#include "testutil.h"
#include "fault_remote.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEC 1000000000ULL


typedef struct source { int calls; int status; } source;

/* value = "v:<key>" */
static int fetch(void *user, const gcache_key *key, gcache_buf *out) {
    source *s = (source *)user;
    size_t len;
    const char *k = gcache_key_str(key, &len);
    s->calls++;
    if (s->status != GCACHE_OK) return s->status;
    gcache_buf_set(out, "v:", 2);
    return gcache_buf_append(out, k, len);
}

static int value_is(const gcache_buf *out, const gcache_key *key) {
    size_t len;
    const char *k = gcache_key_str(key, &len);
    return out->len == len + 2 && memcmp(out->data, "v:", 2) == 0 && memcmp(out->data + 2, k, len) == 0;
}

/* Read a raw value from a backend; returns 1 present (copied into buf), 0 missing, <0 error.
   Unlike testutil.h's raw_get: explicit key length, no terminator, *len > cap signals overflow. */
static int raw_get_len(gcache_remote *r, const char *key, size_t klen, char *buf, size_t cap, size_t *len) {
    gcache_slice k, v;
    void *reply = NULL;
    int rc;
    k.ptr = key;
    k.len = klen;
    v.ptr = NULL;
    v.len = 0;
    rc = r->mget(r->ctx, &k, 1, &v, &reply);
    if (rc != 0) return rc;
    rc = v.ptr != NULL;
    if (rc) {
        *len = v.len < cap ? v.len : cap;
        memcpy(buf, v.ptr, *len);
        if (v.len > cap) *len = v.len; /* signal overflow */
    }
    if (reply && r->release) r->release(r->ctx, reply);
    return rc;
}

static gcache_stats stats(gcache *gc, const char *uc, gcache_layer layer) {
    gcache_stats s;
    memset(&s, 0, sizeof s);
    gcache_stats_get(gc, uc, layer, &s);
    return s;
}

static gcache_use_case *reg(gcache *gc, const char *name, const char *key_type, int track, int ttl_local,
                            int ttl_remote, int negative_ttl) {
    gcache_use_case_desc u;
    gcache_use_case *uc = NULL;
    memset(&u, 0, sizeof u);
    u.name = name;
    u.key_type = key_type;
    u.track_for_invalidation = track;
    u.default_config.ttl_sec[GCACHE_LOCAL] = ttl_local;
    u.default_config.ramp[GCACHE_LOCAL] = 100; /* ttl 0: missing_config */
    u.default_config.ttl_sec[GCACHE_REMOTE] = ttl_remote;
    u.default_config.ramp[GCACHE_REMOTE] = 100;
    u.default_config.negative_ttl_sec = negative_ttl;
    if (gcache_register(gc, &u, &uc) != GCACHE_OK) TAP_OK(0, "register %s", name);
    return uc;
}

static gcache *make(fake_clock *fc, gcache_remote remote, int keep_remote) {
    gcache_desc d;
    gcache *gc = NULL;
    int rc;
    memset(&d, 0, sizeof d);
    d.enabled_by_default = 1;
    d.remote = remote;
    d.keep_remote = keep_remote;
    d.breaker.failure_threshold = 1000; /* this file injects errors on purpose */
    d.clock.wall_ms_fn = fc_wall;
    d.clock.mono_ns_fn = fc_mono;
    d.clock.user_data = fc;
    rc = gcache_create(&d, &gc);
    if (rc != GCACHE_OK) {
        TAP_OK(0, "gcache_create: %d", rc);
        return NULL;
    }
    return gc;
}

static int slice_is(const char *p, size_t len, const char *want) {
    return len == strlen(want) && memcmp(p, want, len) == 0;
}

static void test_read_path(void) {
    fake_clock fc = {1700000000000LL, 10 * SEC};
    gcache_memory_desc md;
    gcache_remote mem, spy;
    gcache_fault_desc fd;
    gcache_fault_counts c0, c1;
    gcache *a, *b;
    gcache_use_case *user_a, *flag_a, *maybe_a, *user_b, *maybe_b;
    gcache_key k;
    gcache_buf out = {0};
    source s;
    char raw[4096];
    size_t rawlen = 0;
    gcache_envelope env;
    size_t klen;
    const char *kstr;
    int rc, ok;

    memset(&md, 0, sizeof md);
    md.clock.wall_ms_fn = fc_wall;
    md.clock.mono_ns_fn = fc_mono;
    md.clock.user_data = &fc;
    if (!TAP_IS_INT(gcache_remote_memory(&md, &mem), GCACHE_OK, "memory backend")) return;
    memset(&fd, 0, sizeof fd);
    if (!TAP_IS_INT(gcache_fault_wrap(mem, &fd, &spy), GCACHE_OK, "spy wrapper")) return;
    a = make(&fc, spy, 1);
    b = make(&fc, spy, 1);
    if (!a || !b) return;
    user_a = reg(a, "GetUser", "user_id", 1, 60, 300, 0);
    flag_a = reg(a, "GetFlag", "flag", 0, 60, 300, 0);
    maybe_a = reg(a, "GetMaybe", "maybe_id", 1, 60, 300, 30);
    user_b = reg(b, "GetUser", "user_id", 1, 60, 300, 0);
    maybe_b = reg(b, "GetMaybe", "maybe_id", 1, 60, 300, 30);
    memset(&s, 0, sizeof s);

    /* tracked miss: one mget of value + watermark, then set of an envelope with the remote ttl */
    gcache_key_init_int(&k, user_a, 1);
    kstr = gcache_key_str(&k, &klen);
    TAP_IS_STR(kstr, "{urn:user_id:1}#GetUser", "tracked key format");
    gcache_fault_get_counts(&spy, &c0);
    rc = gcache_get(a, &k, fetch, &s, &out);
    gcache_fault_get_counts(&spy, &c1);
    TAP_OK(rc == GCACHE_OK && value_is(&out, &k) && s.calls == 1, "tracked miss: fetch called, value returned");
    TAP_IS_INT(c1.mget_calls - c0.mget_calls, 1, "tracked miss: one mget");
    TAP_IS_INT(c1.last_mget_n, 2, "tracked: the mget reads two keys");
    TAP_OK(slice_is(c1.last_mget_keys[0], c1.last_mget_key_len[0], "{urn:user_id:1}#GetUser"),
           "tracked: first key is the value key");
    TAP_OK(slice_is(c1.last_mget_keys[1], c1.last_mget_key_len[1], "{urn:user_id:1}#watermark"),
           "tracked: second key is {urn:user_id:1}#watermark");
    TAP_IS_INT(c1.set_calls - c0.set_calls, 1, "miss: one set to the remote");
    TAP_OK(slice_is(c1.last_set_key, c1.last_set_key_len, "{urn:user_id:1}#GetUser"), "set: under the key");
    TAP_IS_INT(c1.last_set_ttl, 300, "set: with the remote ttl");
    TAP_IS_INT(c1.last_set_val_len, GCACHE_ENVELOPE_HEADER + out.len, "set: envelope = 20 + value bytes");
    rc = raw_get_len(&mem, kstr, klen, raw, sizeof raw, &rawlen);
    TAP_IS_INT(rc, 1, "the backend holds the key");
    if (rc == 1) {
        rc = gcache_envelope_read(raw, rawlen, &env);
        TAP_IS_INT(rc, GCACHE_OK, "the stored value is a valid envelope");
        if (rc == GCACHE_OK) {
            TAP_IS_INT(env.created_at_ms, fc.wall_ms, "envelope created_at = the wall time before the fetch");
            TAP_IS_INT(env.negative, 0, "envelope: not negative");
            TAP_IS_MEM(env.payload, env.payload_len, out.data, out.len, "envelope payload = the value");
        }
    }
    /* local hit: no remote call */
    gcache_fault_get_counts(&spy, &c0);
    rc = gcache_get(a, &k, fetch, &s, &out);
    gcache_fault_get_counts(&spy, &c1);
    TAP_OK(rc == GCACHE_OK && value_is(&out, &k) && s.calls == 1, "second get: hit");
    TAP_IS_INT(c1.mget_calls - c0.mget_calls, 0, "a local hit makes no remote call");

    /* instance B shares the backend: a remote hit, no fetch, fills B's local */
    {
        gcache_key kb;
        gcache_stats before = stats(b, "GetUser", GCACHE_REMOTE), after;
        gcache_key_init_int(&kb, user_b, 1);
        gcache_fault_get_counts(&spy, &c0);
        rc = gcache_get(b, &kb, fetch, &s, &out);
        after = stats(b, "GetUser", GCACHE_REMOTE);
        TAP_OK(rc == GCACHE_OK && value_is(&out, &kb), "instance B: the value");
        TAP_IS_INT(s.calls, 1, "instance B: a remote hit, no fetch");
        TAP_IS_INT(after.hits - before.hits, 1, "instance B: REMOTE hits + 1");
        TAP_IS_INT(stats(b, "GetUser", GCACHE_LOCAL).misses, 1, "instance B: LOCAL miss counted");
        rc = gcache_get(b, &kb, fetch, &s, &out);
        gcache_fault_get_counts(&spy, &c1);
        TAP_IS_INT(c1.mget_calls - c0.mget_calls, 1, "instance B: the remote hit filled the local layer");
    }

    /* local TTL passes, remote TTL not yet: a remote hit */
    fc.mono_ns += 61 * SEC;
    gcache_fault_get_counts(&spy, &c0);
    rc = gcache_get(a, &k, fetch, &s, &out);
    gcache_fault_get_counts(&spy, &c1);
    TAP_OK(rc == GCACHE_OK && value_is(&out, &k) && s.calls == 1, "after the local ttl: a remote hit, no fetch");
    TAP_IS_INT(c1.mget_calls - c0.mget_calls, 1, "after the local ttl: one mget");
    TAP_IS_INT(c1.set_calls - c0.set_calls, 0, "a remote hit writes nothing back to the remote");
    /* the remote TTL passes too */
    fc.mono_ns += 300 * SEC;
    rc = gcache_get(a, &k, fetch, &s, &out);
    TAP_OK(rc == GCACHE_OK && value_is(&out, &k) && s.calls == 2, "after the remote ttl: fetch");

    /* untracked: one key */
    {
        gcache_key kf;
        gcache_key_init(&kf, flag_a, "dark_mode");
        gcache_fault_get_counts(&spy, &c0);
        rc = gcache_get(a, &kf, fetch, &s, &out);
        gcache_fault_get_counts(&spy, &c1);
        TAP_OK(rc == GCACHE_OK && value_is(&out, &kf), "untracked: the value");
        TAP_IS_INT(c1.mget_calls - c0.mget_calls, 1, "untracked miss: one mget");
        TAP_IS_INT(c1.last_mget_n, 1, "untracked: the mget reads one key");
        TAP_OK(slice_is(c1.last_mget_keys[0], c1.last_mget_key_len[0], "urn:flag:dark_mode#GetFlag"),
               "untracked: the key urn:flag:dark_mode#GetFlag");
    }

    /* an old entry is served: the core never judges age */
    {
        gcache_key ko;
        unsigned char envbuf[128];
        size_t n;
        const char *ks;
        int calls0 = s.calls;
        gcache_key_init_int(&ko, user_a, 5);
        ks = gcache_key_str(&ko, NULL);
        n = gcache_envelope_write(envbuf, sizeof envbuf, 1000, 0, "ancient", 7);
        raw_set(&mem, ks, envbuf, n, 300);
        rc = gcache_get(a, &ko, fetch, &s, &out);
        TAP_IS_INT(rc, GCACHE_OK, "an entry created in 1970 is served");
        TAP_IS_MEM(out.data, out.len, "ancient", 7, "its payload is returned");
        TAP_IS_INT(s.calls, calls0, "no fetch for an old but valid entry");
        /* fixed buffer too small on a remote hit */
        {
            unsigned char st[4];
            gcache_buf fb = gcache_buf_fixed(st, sizeof st);
            gcache_key k6;
            gcache_key_init_int(&k6, user_a, 6);
            raw_set(&mem, gcache_key_str(&k6, NULL), envbuf, n, 300);
            gcache_buf_set(&fb, "xy", 2);
            rc = gcache_get(a, &k6, fetch, &s, &fb);
            TAP_IS_INT(rc, GCACHE_ETOOBIG, "remote hit into a too small fixed buffer: ETOOBIG");
            TAP_IS_INT(fb.needed, 7, "remote hit ETOOBIG: needed = 7");
            TAP_IS_MEM(fb.data, fb.len, "xy", 2, "remote hit ETOOBIG: contents unchanged");
            TAP_IS_INT(s.calls, calls0, "remote hit ETOOBIG: no fetch");
        }
    }

    /* negative entries in the remote, with min(negative_ttl, remote ttl) */
    {
        gcache_key km, kmb;
        int calls0 = s.calls;
        gcache_key_init_int(&km, maybe_a, 9);
        s.status = GCACHE_NOT_FOUND;
        gcache_fault_get_counts(&spy, &c0);
        rc = gcache_get(a, &km, fetch, &s, &out);
        gcache_fault_get_counts(&spy, &c1);
        TAP_IS_INT(rc, GCACHE_NOT_FOUND, "negative: NOT_FOUND");
        TAP_IS_INT(c1.set_calls - c0.set_calls, 1, "negative: stored in the remote");
        TAP_IS_INT(c1.last_set_ttl, 30, "negative: with ttl min(negative_ttl 30, remote ttl 300)");
        TAP_IS_INT(c1.last_set_val_len, GCACHE_ENVELOPE_HEADER, "negative: an envelope with no payload");
        if (raw_get_len(&mem, gcache_key_str(&km, NULL), strlen(gcache_key_str(&km, NULL)), raw, sizeof raw, &rawlen) == 1) {
            TAP_IS_INT(gcache_envelope_read(raw, rawlen, &env), GCACHE_OK, "negative: a valid envelope");
            TAP_IS_INT(env.negative, 1, "negative: flag bit 0 set");
            TAP_IS_INT((unsigned char)raw[3], 1, "negative: flags byte is exactly 1");
        } else {
            TAP_OK(0, "negative: the backend holds the negative entry");
        }
        gcache_key_init_int(&kmb, maybe_b, 9);
        gcache_buf_set(&out, "junk", 4);
        rc = gcache_get(b, &kmb, fetch, &s, &out);
        TAP_IS_INT(rc, GCACHE_NOT_FOUND, "negative: instance B gets NOT_FOUND from the remote");
        TAP_IS_INT(out.len, 0, "negative: out->len == 0");
        TAP_IS_INT(s.calls, calls0 + 1, "negative: B did not fetch");
        s.status = GCACHE_OK;
    }

    /* delete: both layers of this process */
    {
        gcache_key kd;
        int calls0;
        gcache_key_init_int(&kd, user_a, 20);
        gcache_get(a, &kd, fetch, &s, &out);
        calls0 = s.calls;
        gcache_fault_get_counts(&spy, &c0);
        TAP_IS_INT(gcache_delete(a, &kd), GCACHE_OK, "delete");
        gcache_fault_get_counts(&spy, &c1);
        TAP_IS_INT(c1.del_calls - c0.del_calls, 1, "delete: one del to the remote");
        TAP_OK(slice_is(c1.last_del_key, c1.last_del_key_len, gcache_key_str(&kd, NULL)), "delete: of the key");
        TAP_IS_INT(raw_get_len(&mem, gcache_key_str(&kd, NULL), strlen(gcache_key_str(&kd, NULL)), raw, sizeof raw, &rawlen),
                   0, "delete: gone from the backend");
        rc = gcache_get(a, &kd, fetch, &s, &out);
        TAP_OK(rc == GCACHE_OK && value_is(&out, &kd) && s.calls == calls0 + 1, "delete: the next get fetches");
        /* a remote failure is returned, the local part still happens */
        memset(&fd, 0, sizeof fd);
        fd.error_rate = 1.0;
        gcache_fault_set_rates(&spy, &fd);
        rc = gcache_delete(a, &kd);
        TAP_IS_INT(rc, GCACHE_EBACKEND, "delete with a failing remote returns the failure");
        rc = gcache_get(a, &kd, fetch, &s, &out);
        TAP_OK(rc == GCACHE_OK && value_is(&out, &kd) && s.calls == calls0 + 2, "delete with a failing remote: local entry gone");
        memset(&fd, 0, sizeof fd);
        gcache_fault_set_rates(&spy, &fd);
    }

    /* errors at REMOTE: backend, timeout */
    {
        gcache_key ke;
        gcache_stats before = stats(a, NULL, GCACHE_REMOTE), after;
        double m0 = metric(a, "error=\"backend\"", "layer=\"REMOTE\"", NULL), m1;
        double t0 = metric(a, "error=\"timeout\"", "layer=\"REMOTE\"", NULL), t1;
        gcache_key_init_int(&ke, user_a, 30);
        memset(&fd, 0, sizeof fd);
        fd.error_rate = 1.0;
        gcache_fault_set_rates(&spy, &fd);
        rc = gcache_get(a, &ke, fetch, &s, &out);
        TAP_OK(rc == GCACHE_OK && value_is(&out, &ke), "failing remote: fails open to the fetch");
        after = stats(a, NULL, GCACHE_REMOTE);
        TAP_OK(after.errors > before.errors, "failing remote: errors at REMOTE (%llu -> %llu)", before.errors,
               after.errors);
        m1 = metric(a, "error=\"backend\"", "layer=\"REMOTE\"", NULL);
        TAP_OK(m1 > (m0 < 0 ? 0 : m0), "metrics: error=\"backend\" at layer=\"REMOTE\" (%g -> %g)", m0, m1);
        fd.error_rate = 0;
        fd.timeout_rate = 1.0;
        gcache_fault_set_rates(&spy, &fd);
        gcache_key_init_int(&ke, user_a, 31);
        rc = gcache_get(a, &ke, fetch, &s, &out);
        TAP_OK(rc == GCACHE_OK && value_is(&out, &ke), "timing-out remote: fails open to the fetch");
        t1 = metric(a, "error=\"timeout\"", "layer=\"REMOTE\"", NULL);
        TAP_OK(t1 > (t0 < 0 ? 0 : t0), "metrics: error=\"timeout\" at layer=\"REMOTE\" (%g -> %g)", t0, t1);
        memset(&fd, 0, sizeof fd);
        gcache_fault_set_rates(&spy, &fd);
        /* not cached locally? the fill of local still happens (the value came from the source) */
        rc = gcache_get(a, &ke, fetch, &s, &out);
        TAP_OK(rc == GCACHE_OK && value_is(&out, &ke), "after the remote recovers: the value");
    }

    /* ramp and missing config at REMOTE */
    {
        gcache_key kr;
        gcache_key_config cfg;
        gcache_stats before = stats(a, "GetUser", GCACHE_REMOTE), after;
        memset(&cfg, 0, sizeof cfg);
        cfg.ttl_sec[GCACHE_LOCAL] = 60;
        cfg.ramp[GCACHE_LOCAL] = 100;
        cfg.ttl_sec[GCACHE_REMOTE] = 300;
        cfg.ramp[GCACHE_REMOTE] = 0;
        gcache_config_set(a, "GetUser", &cfg);
        gcache_key_init_int(&kr, user_a, 40);
        gcache_fault_get_counts(&spy, &c0);
        rc = gcache_get(a, &kr, fetch, &s, &out);
        gcache_fault_get_counts(&spy, &c1);
        after = stats(a, "GetUser", GCACHE_REMOTE);
        TAP_OK(rc == GCACHE_OK && value_is(&out, &kr), "remote ramp 0: the value");
        TAP_IS_INT(c1.mget_calls + c1.set_calls - c0.mget_calls - c0.set_calls, 0, "remote ramp 0: no remote call");
        TAP_IS_INT(after.disabled[GCACHE_REASON_RAMPED_DOWN] - before.disabled[GCACHE_REASON_RAMPED_DOWN], 1,
                   "remote ramp 0: disabled ramped_down at REMOTE");
        TAP_IS_INT(after.requests, before.requests, "remote ramp 0: no REMOTE request");
        cfg.ramp[GCACHE_REMOTE] = 100;
        cfg.ttl_sec[GCACHE_REMOTE] = 0;
        gcache_config_set(a, "GetUser", &cfg);
        gcache_key_init_int(&kr, user_a, 41);
        before = after;
        gcache_fault_get_counts(&spy, &c0);
        gcache_get(a, &kr, fetch, &s, &out);
        gcache_fault_get_counts(&spy, &c1);
        after = stats(a, "GetUser", GCACHE_REMOTE);
        TAP_IS_INT(c1.mget_calls + c1.set_calls - c0.mget_calls - c0.set_calls, 0, "remote ttl 0: no remote call");
        TAP_IS_INT(after.disabled[GCACHE_REASON_MISSING_CONFIG] - before.disabled[GCACHE_REASON_MISSING_CONFIG], 1,
                   "remote ttl 0: disabled missing_config at REMOTE");
        gcache_config_set(a, "GetUser", NULL);
    }

    /* flush: both prefixes, nothing else */
    {
        gcache_key kx;
        char p0[64], p1[64];
        int has_plain, has_brace;
        gcache_key_init_int(&kx, user_a, 50);
        gcache_get(a, &kx, fetch, &s, &out);
        raw_set(&mem, "other:keep", "k", 1, 300);
        raw_set(&mem, "urnx:keep", "k", 1, 300);
        gcache_fault_get_counts(&spy, &c0);
        TAP_IS_INT(gcache_flush(a), GCACHE_OK, "flush");
        gcache_fault_get_counts(&spy, &c1);
        TAP_IS_INT(c1.flush_calls - c0.flush_calls, 2, "flush: two flush_prefix calls");
        snprintf(p0, sizeof p0, "%.*s", (int)c1.last_flush_prefix_len[0], c1.last_flush_prefix[0]);
        snprintf(p1, sizeof p1, "%.*s", (int)c1.last_flush_prefix_len[1], c1.last_flush_prefix[1]);
        has_plain = !strcmp(p0, "urn:") || !strcmp(p1, "urn:");
        has_brace = !strcmp(p0, "{urn:") || !strcmp(p1, "{urn:");
        TAP_OK(has_plain && has_brace, "flush: prefixes \"urn:\" and \"{urn:\" (got \"%s\", \"%s\")", p0, p1);
        TAP_IS_INT(raw_get_len(&mem, gcache_key_str(&kx, NULL), strlen(gcache_key_str(&kx, NULL)), raw, sizeof raw, &rawlen),
                   0, "flush: the instance's keys are gone from the backend");
        TAP_IS_INT(raw_get_len(&mem, "other:keep", 10, raw, sizeof raw, &rawlen), 1, "flush: other prefixes stay");
        TAP_IS_INT(raw_get_len(&mem, "urnx:keep", 9, raw, sizeof raw, &rawlen), 1, "flush: \"urnx:\" stays");
        rc = gcache_get(a, &kx, fetch, &s, &out);
        TAP_OK(rc == GCACHE_OK && value_is(&out, &kx), "flush: the next get fetches the value");
    }

    /* remote-only use case: every get reads the remote */
    {
        gcache_use_case *ro = reg(a, "RemoteOnly", "ro_id", 1, 0, 300, 0);
        gcache_key kro;
        int i, calls_before = s.calls;
        gcache_key_init_int(&kro, ro, 1);
        gcache_fault_get_counts(&spy, &c0);
        for (i = 0; i < 5; i++) {
            rc = gcache_get(a, &kro, fetch, &s, &out);
            if (rc != GCACHE_OK || !value_is(&out, &kro)) break;
        }
        gcache_fault_get_counts(&spy, &c1);
        TAP_IS_INT(i, 5, "remote only: 5 good gets");
        TAP_IS_INT(s.calls - calls_before, 1, "remote only: one fetch, then remote hits");
        TAP_IS_INT(c1.mget_calls - c0.mget_calls, 5, "remote only: every get reads the remote");
        TAP_IS_INT(stats(a, "RemoteOnly", GCACHE_REMOTE).hits, 4, "remote only: 4 REMOTE hits");
        TAP_IS_INT(stats(a, "RemoteOnly", GCACHE_LOCAL).disabled[GCACHE_REASON_MISSING_CONFIG], 5,
                   "remote only (local ttl 0): LOCAL disabled missing_config 5 times");
    }

    gcache_fault_get_counts(&spy, &c1);
    TAP_IS_INT(c1.releases, c1.replies, "every mget reply was released once");
    (void)ok;
    gcache_buf_free(&out);
    gcache_destroy(a);
    gcache_destroy(b);
    spy.destroy(spy.ctx);
}

/* ---- ownership: destroy, keep_remote, subscribe ------------------------------------------------ */
typedef struct owner_spy {
    gcache_remote inner;
    int destroyed, subscribes, unsubscribes, fail_subscribe;
    void *sub_u, *unsub_u;
} owner_spy;

static int os_mget(void *ctx, const gcache_slice *keys, size_t n, gcache_slice *vals, void **reply) {
    owner_spy *o = (owner_spy *)ctx;
    return o->inner.mget(o->inner.ctx, keys, n, vals, reply);
}
static void os_release(void *ctx, void *reply) {
    owner_spy *o = (owner_spy *)ctx;
    if (o->inner.release) o->inner.release(o->inner.ctx, reply);
}
static int os_set(void *ctx, gcache_slice key, gcache_slice val, int ttl) {
    owner_spy *o = (owner_spy *)ctx;
    return o->inner.set(o->inner.ctx, key, val, ttl);
}
static int os_del(void *ctx, gcache_slice key) {
    owner_spy *o = (owner_spy *)ctx;
    return o->inner.del(o->inner.ctx, key);
}
static int os_flush(void *ctx, gcache_slice prefix) {
    owner_spy *o = (owner_spy *)ctx;
    return o->inner.flush_prefix(o->inner.ctx, prefix);
}
static int os_publish(void *ctx, gcache_slice id, long long wm) {
    owner_spy *o = (owner_spy *)ctx;
    return o->inner.publish(o->inner.ctx, id, wm);
}
static int os_subscribe(void *ctx, void (*cb)(void *, gcache_slice, long long), void *u) {
    owner_spy *o = (owner_spy *)ctx;
    if (cb) {
        o->subscribes++;
        o->sub_u = u;
        if (o->fail_subscribe) return GCACHE_EBACKEND;
    } else {
        o->unsubscribes++;
        o->unsub_u = u;
    }
    return o->inner.subscribe(o->inner.ctx, cb, u);
}
static void os_destroy(void *ctx) {
    owner_spy *o = (owner_spy *)ctx;
    o->destroyed++;
}

static gcache_remote owner_remote(owner_spy *o) {
    gcache_remote r;
    memset(&r, 0, sizeof r);
    r.ctx = o;
    r.name = "owner-spy";
    r.mget = os_mget;
    r.release = os_release;
    r.set = os_set;
    r.del = os_del;
    r.flush_prefix = os_flush;
    r.publish = os_publish;
    r.subscribe = os_subscribe;
    r.destroy = os_destroy;
    return r;
}

static void test_ownership(void) {
    owner_spy o;
    gcache_desc d;
    gcache *gc = NULL;
    int rc;
    memset(&o, 0, sizeof o);
    if (gcache_remote_memory(NULL, &o.inner) != GCACHE_OK) return;

    memset(&d, 0, sizeof d);
    d.remote = owner_remote(&o);
    rc = gcache_create(&d, &gc);
    TAP_IS_INT(rc, GCACHE_OK, "create with an owned remote");
    TAP_IS_INT(o.subscribes, 1, "create subscribes once");
    gcache_destroy(gc);
    TAP_IS_INT(o.destroyed, 1, "destroy calls remote.destroy when the gcache owns it");

    memset(&o.destroyed, 0, sizeof o - offsetof(owner_spy, destroyed));
    d.keep_remote = 1;
    gc = NULL;
    rc = gcache_create(&d, &gc);
    TAP_IS_INT(rc, GCACHE_OK, "create with keep_remote");
    gcache_destroy(gc);
    TAP_IS_INT(o.destroyed, 0, "keep_remote: destroy does not call remote.destroy");
    TAP_IS_INT(o.unsubscribes, 1, "keep_remote: destroy detaches its listener");
    TAP_OK(o.unsub_u == o.sub_u, "keep_remote: the same listener pointer it subscribed");

    memset(&o.destroyed, 0, sizeof o - offsetof(owner_spy, destroyed));
    o.fail_subscribe = 1;
    d.keep_remote = 0;
    gc = (gcache *)&o; /* garbage, must be set to NULL */
    rc = gcache_create(&d, &gc);
    TAP_IS_INT(rc, GCACHE_EBACKEND, "a failing subscribe fails create with its status");
    TAP_OK(gc == NULL, "a failed create sets *out to NULL");
    TAP_IS_INT(o.destroyed, 0, "a failed create leaves the remote to the caller");
    o.inner.destroy(o.inner.ctx);
}

int main(void) {
    test_read_path();
    test_ownership();
    return TAP_DONE();
}
