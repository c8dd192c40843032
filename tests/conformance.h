/* conformance.h -- the backend conformance suite: one set of checks every gcache_remote
   must pass (the in-memory backend, the example's fixed-slot backend, Redis).

   Header-only. The including test program defines GCACHE_IMPLEMENTATION once, includes
   gcache.h and tests/tap.h, then this file, and calls

       int failures = gcache_conformance_run(&remote, "memory");

   which runs every check through the vtable only (it never looks at ctx), prints TAP
   lines named "<label>: ..." and returns the number of failed checks (0 = conformant).
   The remote is left alive and empty of the suite's keys (the caller destroys it).

   What a backend must do to pass:
   - mget of 1, 2 and 10 keys, present, missing and mixed (duplicates too): vals[i].ptr is
     NULL for a missing key and non-NULL (len 0) for an empty value; on success *reply is
     handed to release() (when the backend has one) and the slices stay valid until then;
     on error *reply is left NULL.
   - binary-safe values (NUL bytes, all 256 byte values), empty values, a large value
     (GCACHE_CONFORMANCE_LARGE_VALUE bytes, default 1 MiB), overwrite.
   - keys are byte strings (NUL, 0xff, space, newline in them).
   - TTL: a key set with ttl 1 is present at once and gone within a few seconds of real
     time, while a key with a long TTL stays (the suite polls with a deadline, it never
     asserts exact timing).
   - del of a present key removes it, del of an absent key returns 0.
   - flush_prefix deletes exactly the keys that start with the prefix, whatever glob
     characters (* ? [ ] ^ - \) the prefix holds, and leaves every other key.
   - publish/subscribe (only when both are non-NULL): two listeners both receive
     (key_type_id, watermark_ms) unchanged; subscribe(ctx, NULL, u) detaches u only.
     Deliveries with an empty key_type_id ("messages may have been lost") and messages
     from other publishers on a shared channel are ignored.
   Not covered (backend-specific): how a dead server is reported (a negative status).

   The suite holds at most GCACHE_CONFORMANCE_MAX_LIVE (24) of its keys at any moment,
   so a small bounded backend passes; all its keys live under "gcconf:<label>:<nonce>:". */
#ifndef GCACHE_CONFORMANCE_H
#define GCACHE_CONFORMANCE_H

#include "gcache.h"
#include "tap.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef GCACHE_CONFORMANCE_LARGE_VALUE
#define GCACHE_CONFORMANCE_LARGE_VALUE ((size_t)1 << 20)
#endif
#define GCACHE_CONFORMANCE_MAX_LIVE 24

/* ---- small helpers ----------------------------------------------------------------- */
typedef struct gcache_conf__ctx {
    gcache_remote *r;
    const char *label;
    char ns[128]; /* key namespace, ends with ':' */
    size_t ns_len;
    int failures;
} gcache_conf__ctx;

static inline double gcache_conf__now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline void gcache_conf__sleep_ms(long ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* Compare two integers as a check named "<label>: name", printing both on failure. */
#define GCACHE_CONF__IS(c, got, want, name)                                      \
    do {                                                                         \
        long long gcache_conf__g = (long long)(got), gcache_conf__w = (long long)(want); \
        if (!TAP_OK(gcache_conf__g == gcache_conf__w, "%s: %s", (c)->label, name)) { \
            (c)->failures++;                                                     \
            TAP_DIAG("     got %lld, want %lld", gcache_conf__g, gcache_conf__w); \
        }                                                                        \
    } while (0)

/* Count a check's result into the context (every TAP_* macro returns 1 on pass). */
#define GCACHE_CONF__CHECK(c, expr) \
    do {                            \
        if (!(expr)) (c)->failures++; \
    } while (0)

/* Build ns + suffix (binary-safe) into buf, return its length. */
static inline size_t gcache_conf__key(gcache_conf__ctx *c, char *buf, size_t cap, const void *suffix, size_t len) {
    if (c->ns_len + len > cap) len = cap - c->ns_len;
    memcpy(buf, c->ns, c->ns_len);
    if (len) memcpy(buf + c->ns_len, suffix, len);
    return c->ns_len + len;
}

static inline gcache_slice gcache_conf__slice(const void *p, size_t len) {
    gcache_slice s;
    s.ptr = (const char *)p;
    s.len = len;
    return s;
}

static inline int gcache_conf__set(gcache_conf__ctx *c, const char *key, size_t klen, const void *val, size_t vlen,
                                   int ttl) {
    /* an empty value is passed with a non-NULL pointer, as the core does */
    return c->r->set(c->r->ctx, gcache_conf__slice(key, klen), gcache_conf__slice(vlen ? val : "", vlen), ttl);
}

static inline void gcache_conf__release(gcache_conf__ctx *c, void *reply) {
    if (reply && c->r->release) c->r->release(c->r->ctx, reply);
}

/* mget n keys; *present gets how many came back; checks each against want[i]
   (want[i].ptr == NULL: must be missing). Returns 1 when everything matched. */
static inline int gcache_conf__mget_expect(gcache_conf__ctx *c, const gcache_slice *keys, size_t n,
                                           const gcache_slice *want, const char *what) {
    gcache_slice vals[16];
    void *reply = NULL;
    size_t i;
    int rc, ok = 1;
    char bad[160];
    bad[0] = '\0';
    for (i = 0; i < n; i++) { /* garbage in, so a backend that forgets a slot is caught */
        vals[i].ptr = (const char *)(size_t)1;
        vals[i].len = (size_t)0xdeadbeefu;
    }
    rc = c->r->mget(c->r->ctx, keys, n, vals, &reply);
    if (rc != 0) {
        ok = 0;
        snprintf(bad, sizeof bad, "mget returned %d", rc);
        if (reply != NULL) strcat(bad, " and left *reply set");
    } else {
        for (i = 0; i < n && ok; i++) {
            if (want[i].ptr == NULL) {
                if (vals[i].ptr != NULL) {
                    ok = 0;
                    snprintf(bad, sizeof bad, "slot %lu should be missing, has %lu bytes", (unsigned long)i,
                             (unsigned long)vals[i].len);
                }
            } else if (vals[i].ptr == NULL) {
                ok = 0;
                snprintf(bad, sizeof bad, "slot %lu is missing", (unsigned long)i);
            } else if (vals[i].len != want[i].len || (want[i].len && memcmp(vals[i].ptr, want[i].ptr, want[i].len))) {
                ok = 0;
                snprintf(bad, sizeof bad, "slot %lu has the wrong value (%lu bytes, want %lu)", (unsigned long)i,
                         (unsigned long)vals[i].len, (unsigned long)want[i].len);
            }
        }
        gcache_conf__release(c, reply);
    }
    GCACHE_CONF__CHECK(c, TAP_OK(ok, "%s: %s%s%s", c->label, what, bad[0] ? ": " : "", bad));
    return ok;
}

/* 1 if key is present (value into *len), 0 if missing, -1 on error. */
static inline int gcache_conf__present(gcache_conf__ctx *c, const char *key, size_t klen) {
    gcache_slice k = gcache_conf__slice(key, klen), v;
    void *reply = NULL;
    int rc, present;
    v.ptr = NULL;
    v.len = 0;
    rc = c->r->mget(c->r->ctx, &k, 1, &v, &reply);
    if (rc != 0) return -1;
    present = v.ptr != NULL;
    gcache_conf__release(c, reply);
    return present;
}

/* ---- the checks ------------------------------------------------------------------------ */
static inline void gcache_conf__mget_shapes(gcache_conf__ctx *c) {
    char keys[10][160], vals[10][32];
    gcache_slice ks[12], want[12], none[12];
    size_t i;
    for (i = 0; i < 10; i++) {
        char sfx[32];
        int n = snprintf(sfx, sizeof sfx, "mget:%lu", (unsigned long)i);
        size_t kl = gcache_conf__key(c, keys[i], sizeof keys[i], sfx, (size_t)n);
        ks[i] = gcache_conf__slice(keys[i], kl);
        n = snprintf(vals[i], sizeof vals[i], "value-%lu", (unsigned long)(i * 7919u));
        want[i] = gcache_conf__slice(vals[i], (size_t)n);
        none[i] = gcache_conf__slice(NULL, 0);
    }
    /* all missing */
    gcache_conf__mget_expect(c, ks, 1, none, "mget 1 missing key");
    gcache_conf__mget_expect(c, ks, 2, none, "mget 2 missing keys");
    gcache_conf__mget_expect(c, ks, 10, none, "mget 10 missing keys");
    /* fill the even ones */
    for (i = 0; i < 10; i += 2)
        GCACHE_CONF__IS(c, gcache_conf__set(c, ks[i].ptr, ks[i].len, want[i].ptr, want[i].len, 300), 0,
                                         "set returns 0");
    {
        gcache_slice mixed[10];
        for (i = 0; i < 10; i++) mixed[i] = (i % 2 == 0) ? want[i] : none[i];
        gcache_conf__mget_expect(c, ks, 1, mixed, "mget 1 present key");
        gcache_conf__mget_expect(c, ks, 2, mixed, "mget 2 keys: present, missing");
        gcache_conf__mget_expect(c, ks + 1, 2, mixed + 1, "mget 2 keys: missing, present");
        gcache_conf__mget_expect(c, ks, 10, mixed, "mget 10 keys, mixed");
    }
    /* fill the rest: all present */
    for (i = 1; i < 10; i += 2)
        GCACHE_CONF__IS(c, gcache_conf__set(c, ks[i].ptr, ks[i].len, want[i].ptr, want[i].len, 300), 0,
                                         "set returns 0");
    gcache_conf__mget_expect(c, ks, 2, want, "mget 2 present keys");
    gcache_conf__mget_expect(c, ks, 10, want, "mget 10 present keys");
    /* duplicates and reversed order in one call */
    {
        gcache_slice dk[4], dw[4];
        dk[0] = ks[3]; dw[0] = want[3];
        dk[1] = ks[3]; dw[1] = want[3];
        dk[2] = ks[0]; dw[2] = want[0];
        dk[3] = ks[3]; dw[3] = want[3];
        gcache_conf__mget_expect(c, dk, 4, dw, "mget with a key repeated");
    }
    /* a key that extends a present key, and a prefix of it, are different keys */
    {
        char longer[200];
        size_t ll = ks[1].len;
        gcache_slice k2[3], w2[3];
        memcpy(longer, ks[1].ptr, ll);
        longer[ll] = 'x';
        k2[0] = gcache_conf__slice(longer, ll + 1); w2[0] = none[0];
        k2[1] = gcache_conf__slice(ks[1].ptr, ll - 1); w2[1] = none[0];
        k2[2] = ks[1]; w2[2] = want[1];
        gcache_conf__mget_expect(c, k2, 3, w2, "mget: a key's prefix and extension are other keys");
    }
    for (i = 0; i < 10; i++) GCACHE_CONF__IS(c, c->r->del(c->r->ctx, ks[i]), 0, "del returns 0");
    gcache_conf__mget_expect(c, ks, 10, none, "mget 10 keys after del of all");
}

static inline void gcache_conf__values(gcache_conf__ctx *c) {
    char key[200];
    size_t kl;
    unsigned char all[512];
    size_t i;
    gcache_slice k, w;
    static const char nul_value[] = "a\0b\0\0c\0";
    /* NUL bytes */
    kl = gcache_conf__key(c, key, sizeof key, "val:nul", 7);
    k = gcache_conf__slice(key, kl);
    GCACHE_CONF__IS(c, gcache_conf__set(c, key, kl, nul_value, sizeof nul_value - 1, 300), 0,
                                     "set a value with NUL bytes");
    w = gcache_conf__slice(nul_value, sizeof nul_value - 1);
    gcache_conf__mget_expect(c, &k, 1, &w, "value with NUL bytes round-trips");
    /* all 256 byte values, twice, in both directions */
    for (i = 0; i < 256; i++) {
        all[i] = (unsigned char)i;
        all[511 - i] = (unsigned char)i;
    }
    GCACHE_CONF__IS(c, gcache_conf__set(c, key, kl, all, sizeof all, 300), 0, "set all 256 byte values");
    w = gcache_conf__slice(all, sizeof all);
    gcache_conf__mget_expect(c, &k, 1, &w, "all 256 byte values round-trip (overwrite of a shorter value)");
    /* overwrite with a shorter value */
    GCACHE_CONF__IS(c, gcache_conf__set(c, key, kl, "xy", 2, 300), 0, "overwrite");
    w = gcache_conf__slice("xy", 2);
    gcache_conf__mget_expect(c, &k, 1, &w, "overwrite with a shorter value");
    /* empty value: present, length 0 */
    GCACHE_CONF__IS(c, gcache_conf__set(c, key, kl, "", 0, 300), 0, "set an empty value");
    w = gcache_conf__slice("", 0);
    gcache_conf__mget_expect(c, &k, 1, &w, "empty value is present with length 0");
    {
        gcache_slice two[2], w2[2];
        char other[200];
        size_t ol = gcache_conf__key(c, other, sizeof other, "val:other", 9);
        two[0] = k; w2[0] = w;
        two[1] = gcache_conf__slice(other, ol); w2[1] = gcache_conf__slice(NULL, 0);
        gcache_conf__mget_expect(c, two, 2, w2, "empty value next to a missing key");
    }
    /* large value */
    {
        size_t n = GCACHE_CONFORMANCE_LARGE_VALUE;
        unsigned char *big = (unsigned char *)malloc(n);
        unsigned long long x = 0x9e3779b97f4a7c15ull;
        if (!big) {
            GCACHE_CONF__CHECK(c, TAP_OK(0, "%s: malloc for the large value", c->label));
        } else {
            for (i = 0; i < n; i++) {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                big[i] = (unsigned char)(x >> 24);
            }
            big[0] = 0; big[n / 2] = 0; big[n - 1] = 0;
            GCACHE_CONF__IS(c, gcache_conf__set(c, key, kl, big, n, 300), 0, "set a large value");
            w = gcache_conf__slice(big, n);
            gcache_conf__mget_expect(c, &k, 1, &w, "large value round-trips");
            free(big);
        }
    }
    GCACHE_CONF__IS(c, c->r->del(c->r->ctx, k), 0, "del the value key");
    /* binary keys: NUL, 0xff, space, newline, glob characters, high bytes */
    {
        static const char sfx1[] = "bin:\0key\xff \n*?[";
        static const char sfx2[] = "bin:\0key\xff \n*?]";
        static const char sfx3[] = "bin:\0";
        char k1[200], k2[200], k3[200];
        gcache_slice ks[3], ws[3];
        size_t l1 = gcache_conf__key(c, k1, sizeof k1, sfx1, sizeof sfx1 - 1);
        size_t l2 = gcache_conf__key(c, k2, sizeof k2, sfx2, sizeof sfx2 - 1);
        size_t l3 = gcache_conf__key(c, k3, sizeof k3, sfx3, sizeof sfx3 - 1);
        ks[0] = gcache_conf__slice(k1, l1); ks[1] = gcache_conf__slice(k2, l2); ks[2] = gcache_conf__slice(k3, l3);
        GCACHE_CONF__IS(c, gcache_conf__set(c, k1, l1, "one", 3, 300), 0, "set a binary key");
        GCACHE_CONF__IS(c, gcache_conf__set(c, k3, l3, "three", 5, 300), 0, "set a key ending in NUL");
        ws[0] = gcache_conf__slice("one", 3); ws[1] = gcache_conf__slice(NULL, 0); ws[2] = gcache_conf__slice("three", 5);
        gcache_conf__mget_expect(c, ks, 3, ws, "binary keys are distinct byte strings");
        GCACHE_CONF__IS(c, c->r->del(c->r->ctx, ks[0]), 0, "del a binary key");
        ws[0] = ws[1];
        gcache_conf__mget_expect(c, ks, 3, ws, "del of a binary key removes only it");
        GCACHE_CONF__IS(c, c->r->del(c->r->ctx, ks[2]), 0, "del a key ending in NUL");
    }
}

static inline void gcache_conf__del(gcache_conf__ctx *c) {
    char k1[200], k2[200];
    size_t l1 = gcache_conf__key(c, k1, sizeof k1, "del:1", 5), l2 = gcache_conf__key(c, k2, sizeof k2, "del:2", 5);
    gcache_slice ks[2], ws[2];
    ks[0] = gcache_conf__slice(k1, l1); ks[1] = gcache_conf__slice(k2, l2);
    GCACHE_CONF__IS(c, gcache_conf__set(c, k1, l1, "a", 1, 300), 0, "set del:1");
    GCACHE_CONF__IS(c, gcache_conf__set(c, k2, l2, "b", 1, 300), 0, "set del:2");
    GCACHE_CONF__IS(c, c->r->del(c->r->ctx, ks[0]), 0, "del of a present key returns 0");
    ws[0] = gcache_conf__slice(NULL, 0); ws[1] = gcache_conf__slice("b", 1);
    gcache_conf__mget_expect(c, ks, 2, ws, "del removes the key and only it");
    GCACHE_CONF__IS(c, c->r->del(c->r->ctx, ks[0]), 0, "del of an absent key returns 0");
    {
        char never[200];
        size_t nl = gcache_conf__key(c, never, sizeof never, "del:never-set", 13);
        GCACHE_CONF__IS(c, c->r->del(c->r->ctx, gcache_conf__slice(never, nl)), 0,
                                         "del of a never-set key returns 0");
    }
    GCACHE_CONF__IS(c, gcache_conf__set(c, k1, l1, "again", 5, 300), 0, "set after del");
    ws[0] = gcache_conf__slice("again", 5);
    gcache_conf__mget_expect(c, ks, 2, ws, "a deleted key can be set again");
    c->r->del(c->r->ctx, ks[0]);
    c->r->del(c->r->ctx, ks[1]);
}

static inline void gcache_conf__ttl(gcache_conf__ctx *c) {
    char ks[200], kl[200];
    size_t sl = gcache_conf__key(c, ks, sizeof ks, "ttl:short", 9), ll = gcache_conf__key(c, kl, sizeof kl, "ttl:long", 8);
    double t0, gone_at = -1, deadline;
    int p;
    GCACHE_CONF__IS(c, gcache_conf__set(c, ks, sl, "s", 1, 1), 0, "set with ttl 1");
    GCACHE_CONF__IS(c, gcache_conf__set(c, kl, ll, "l", 1, 3600), 0, "set with ttl 3600");
    t0 = gcache_conf__now_s();
    GCACHE_CONF__IS(c, gcache_conf__present(c, ks, sl), 1, "a ttl-1 key is there right after set");
    deadline = t0 + 4.5; /* expiry due about 1 s after set; generous for slow machines and coarse clocks */
    while (gcache_conf__now_s() < deadline) {
        p = gcache_conf__present(c, ks, sl);
        if (p == 0) {
            gone_at = gcache_conf__now_s() - t0;
            break;
        }
        gcache_conf__sleep_ms(50);
    }
    GCACHE_CONF__CHECK(c, TAP_OK(gone_at >= 0, "%s: a key set with ttl 1 expires (polled up to 4.5 s)", c->label));
    if (gone_at >= 0) TAP_DIAG("%s: ttl-1 key gone after %.2f s", c->label, gone_at);
    GCACHE_CONF__IS(c, gcache_conf__present(c, kl, ll), 1, "a ttl-3600 key stays");
    /* set again after expiry: present again */
    GCACHE_CONF__IS(c, gcache_conf__set(c, ks, sl, "s2", 2, 60), 0, "set an expired key again");
    GCACHE_CONF__IS(c, gcache_conf__present(c, ks, sl), 1, "an expired key can be set again");
    c->r->del(c->r->ctx, gcache_conf__slice(ks, sl));
    c->r->del(c->r->ctx, gcache_conf__slice(kl, ll));
}

static inline void gcache_conf__flush_prefix(gcache_conf__ctx *c) {
    /* Group A: a prefix full of glob characters; group B: a prefix with a character class
       that would match the decoys if it were used as a pattern unescaped. */
    static const char *const pa = "fp:a*b?c[x]d\\e^f-:";
    static const char *const in_a[] = {"fp:a*b?c[x]d\\e^f-:1", "fp:a*b?c[x]d\\e^f-:2", "fp:a*b?c[x]d\\e^f-:",
                                       "fp:a*b?c[x]d\\e^f-:*", "fp:a*b?c[x]d\\e^f-:deep:er"};
    static const char *const out_a[] = {"fp:aZZbQcxde^f-:1",      /* matches the unescaped glob */
                                        "fp:a*b?c[x]d\\e^f-",      /* the prefix minus its last byte */
                                        "fp:a*b?c[x]d\\e^f:1",     /* one byte different */
                                        "fp:ab?c[x]d\\e^f-:1",     /* '*' missing */
                                        "fp:a*bXcxd\\e^f-:1",      /* ? and [x] used as patterns */
                                        "fpx:a*b?c[x]d\\e^f-:1",   /* another prefix */
                                        "zz:fp:a*b?c[x]d\\e^f-:1"}; /* the prefix in the middle */
    static const char *const pb = "fp:[^a-c]]:";
    static const char *const in_b[] = {"fp:[^a-c]]:1", "fp:[^a-c]]:2"};
    static const char *const out_b[] = {"fp:d]:1", "fp:z]:1", "fp:[^a-c]:1", "fp:[^a-c]]"};
    enum { NA = sizeof in_a / sizeof in_a[0], NOA = sizeof out_a / sizeof out_a[0], NB = sizeof in_b / sizeof in_b[0],
           NOB = sizeof out_b / sizeof out_b[0] };
    char keys[NA + NOA + NB + NOB][200];
    gcache_slice ks[NA + NOA + NB + NOB], ws[NA + NOA + NB + NOB];
    size_t i, n = 0;
    char prefix[200];
    size_t pl;
    const char *const *groups[4];
    size_t counts[4];
    groups[0] = in_a; counts[0] = NA;
    groups[1] = out_a; counts[1] = NOA;
    groups[2] = in_b; counts[2] = NB;
    groups[3] = out_b; counts[3] = NOB;
    {
        size_t g;
        for (g = 0; g < 4; g++)
            for (i = 0; i < counts[g]; i++, n++) {
                size_t kl = gcache_conf__key(c, keys[n], sizeof keys[n], groups[g][i], strlen(groups[g][i]));
                ks[n] = gcache_conf__slice(keys[n], kl);
                ws[n] = gcache_conf__slice(groups[g][i], strlen(groups[g][i])); /* value = suffix */
                GCACHE_CONF__IS(c, gcache_conf__set(c, keys[n], kl, ws[n].ptr, ws[n].len, 300), 0,
                                                 "set a flush_prefix test key");
            }
    }
    gcache_conf__mget_expect(c, ks, NA + NOA, ws, "flush_prefix keys are all there before");
    gcache_conf__mget_expect(c, ks + NA + NOA, NB + NOB, ws + NA + NOA, "flush_prefix keys (group B) are there");
    pl = gcache_conf__key(c, prefix, sizeof prefix, pa, strlen(pa));
    GCACHE_CONF__IS(c, c->r->flush_prefix(c->r->ctx, gcache_conf__slice(prefix, pl)), 0,
                                     "flush_prefix with glob characters returns 0");
    {
        gcache_slice want[NA + NOA];
        for (i = 0; i < NA + NOA; i++) want[i] = i < NA ? gcache_conf__slice(NULL, 0) : ws[i];
        gcache_conf__mget_expect(c, ks, NA + NOA, want,
                                 "flush_prefix '*?[x]\\^-' deleted exactly the keys under the prefix");
    }
    gcache_conf__mget_expect(c, ks + NA + NOA, NB + NOB, ws + NA + NOA, "flush_prefix left the other group alone");
    pl = gcache_conf__key(c, prefix, sizeof prefix, pb, strlen(pb));
    GCACHE_CONF__IS(c, c->r->flush_prefix(c->r->ctx, gcache_conf__slice(prefix, pl)), 0,
                                     "flush_prefix with a character class returns 0");
    {
        gcache_slice want[NB + NOB];
        for (i = 0; i < NB + NOB; i++) want[i] = i < NB ? gcache_conf__slice(NULL, 0) : ws[NA + NOA + i];
        gcache_conf__mget_expect(c, ks + NA + NOA, NB + NOB, want,
                                 "flush_prefix '[^a-c]]' deleted exactly the keys under the prefix");
    }
    /* a prefix that matches nothing */
    pl = gcache_conf__key(c, prefix, sizeof prefix, "fp:nothing-here:", 16);
    GCACHE_CONF__IS(c, c->r->flush_prefix(c->r->ctx, gcache_conf__slice(prefix, pl)), 0,
                                     "flush_prefix of a prefix with no keys returns 0");
    gcache_conf__mget_expect(c, ks + NA, NOA, ws + NA, "the decoys are still there");
    /* the namespace prefix: everything of ours goes */
    GCACHE_CONF__IS(c, c->r->flush_prefix(c->r->ctx, gcache_conf__slice(c->ns, c->ns_len)), 0,
                                     "flush_prefix of the namespace returns 0");
    {
        gcache_slice want[NA + NOA + NB + NOB];
        for (i = 0; i < n; i++) want[i] = gcache_conf__slice(NULL, 0);
        gcache_conf__mget_expect(c, ks, 12, want, "flush_prefix of the namespace removed every key (1/2)");
        gcache_conf__mget_expect(c, ks + 12, n - 12, want, "flush_prefix of the namespace removed every key (2/2)");
    }
}

/* flush_prefix over many keys (a backend that scans in pages must see them all), binary ones too */
static inline void gcache_conf__flush_many(gcache_conf__ctx *c) {
    char keys[GCACHE_CONFORMANCE_MAX_LIVE][200];
    gcache_slice ks[GCACHE_CONFORMANCE_MAX_LIVE], none[GCACHE_CONFORMANCE_MAX_LIVE];
    size_t i, n = GCACHE_CONFORMANCE_MAX_LIVE - 2;
    char keep[200];
    size_t keep_len = 0, pl;
    char prefix[200];
    int all_set = 1;
    for (i = 0; i < n; i++) {
        char sfx[40];
        int sl = snprintf(sfx, sizeof sfx, "many:%lu:", (unsigned long)i);
        sfx[sl++] = (char)(i * 37); /* a binary byte, NUL for i == 0 */
        ks[i] = gcache_conf__slice(keys[i], gcache_conf__key(c, keys[i], sizeof keys[i], sfx, (size_t)sl));
        none[i] = gcache_conf__slice(NULL, 0);
        if (gcache_conf__set(c, keys[i], ks[i].len, "v", 1, 300) != 0) all_set = 0;
    }
    keep_len = gcache_conf__key(c, keep, sizeof keep, "many", 4); /* "many" itself is not under "many:" */
    if (gcache_conf__set(c, keep, keep_len, "k", 1, 300) != 0) all_set = 0;
    GCACHE_CONF__CHECK(c, TAP_OK(all_set, "%s: set %lu keys for flush_prefix", c->label, (unsigned long)n + 1));
    pl = gcache_conf__key(c, prefix, sizeof prefix, "many:", 5);
    GCACHE_CONF__IS(c, c->r->flush_prefix(c->r->ctx, gcache_conf__slice(prefix, pl)), 0,
                                     "flush_prefix of 22 keys returns 0");
    gcache_conf__mget_expect(c, ks, 11, none, "flush_prefix removed every one of them (1/2)");
    gcache_conf__mget_expect(c, ks + 11, n - 11, none, "flush_prefix removed every one of them (2/2)");
    GCACHE_CONF__IS(c, gcache_conf__present(c, keep, keep_len), 1,
                                     "a key equal to the prefix minus ':' stays");
    c->r->del(c->r->ctx, gcache_conf__slice(keep, keep_len));
}

/* ---- publish / subscribe ---------------------------------------------------------------- */
typedef struct gcache_conf__listener {
    pthread_mutex_t mu;
    const char *want_a, *want_b;   /* the key_type_ids this run publishes */
    long long got_a_wm, got_b_wm;  /* last watermark seen for each (-1: none) */
    int got_a, got_b, got_a_bad;    /* counts; bad: right id, wrong watermark */
    int empty, foreign;            /* other deliveries (ignored) */
} gcache_conf__listener;

static inline void gcache_conf__on_invalidate(void *u, gcache_slice key_type_id, long long watermark_ms) {
    gcache_conf__listener *l = (gcache_conf__listener *)u;
    pthread_mutex_lock(&l->mu);
    if (key_type_id.len == 0) {
        l->empty++;
    } else if (key_type_id.ptr && key_type_id.len == strlen(l->want_a) &&
               memcmp(key_type_id.ptr, l->want_a, key_type_id.len) == 0) {
        l->got_a++;
        l->got_a_wm = watermark_ms;
    } else if (key_type_id.ptr && key_type_id.len == strlen(l->want_b) &&
               memcmp(key_type_id.ptr, l->want_b, key_type_id.len) == 0) {
        l->got_b++;
        l->got_b_wm = watermark_ms;
    } else {
        l->foreign++;
    }
    pthread_mutex_unlock(&l->mu);
}

static inline void gcache_conf__listener_init(gcache_conf__listener *l, const char *a, const char *b) {
    memset(l, 0, sizeof *l);
    pthread_mutex_init(&l->mu, NULL);
    l->want_a = a;
    l->want_b = b;
    l->got_a_wm = l->got_b_wm = -1;
}

static inline void gcache_conf__listener_read(gcache_conf__listener *l, gcache_conf__listener *copy) {
    pthread_mutex_lock(&l->mu);
    copy->got_a = l->got_a; copy->got_b = l->got_b;
    copy->got_a_wm = l->got_a_wm; copy->got_b_wm = l->got_b_wm;
    copy->empty = l->empty; copy->foreign = l->foreign;
    pthread_mutex_unlock(&l->mu);
}

static inline void gcache_conf__pubsub(gcache_conf__ctx *c, unsigned long nonce) {
    char ida[96], idb[96];
    gcache_conf__listener l1, l2, s1, s2;
    const long long wm_a = 1700000000123LL, wm_b = 4102444800999LL; /* beyond 32 bits */
    double deadline;
    int rc, published = 0;
    snprintf(ida, sizeof ida, "conf_type:a%%20%lu", nonce);
    snprintf(idb, sizeof idb, "conf_type:b%lu", nonce);
    gcache_conf__listener_init(&l1, ida, idb);
    gcache_conf__listener_init(&l2, ida, idb);
    rc = c->r->subscribe(c->r->ctx, gcache_conf__on_invalidate, &l1);
    GCACHE_CONF__IS(c, rc, 0, "subscribe listener 1");
    rc = c->r->subscribe(c->r->ctx, gcache_conf__on_invalidate, &l2);
    GCACHE_CONF__IS(c, rc, 0, "subscribe listener 2");
    /* a subscription may take a moment to become active (a server round trip): publish
       until both have heard it, with a deadline */
    deadline = gcache_conf__now_s() + 5.0;
    for (;;) {
        rc = c->r->publish(c->r->ctx, gcache_conf__slice(ida, strlen(ida)), wm_a);
        if (rc == 0) published++;
        gcache_conf__sleep_ms(published < 3 ? 10 : 100);
        gcache_conf__listener_read(&l1, &s1);
        gcache_conf__listener_read(&l2, &s2);
        if ((s1.got_a && s2.got_a) || gcache_conf__now_s() > deadline) break;
    }
    GCACHE_CONF__CHECK(c, TAP_OK(published > 0, "%s: publish returns 0", c->label));
    GCACHE_CONF__CHECK(c, TAP_OK(s1.got_a > 0 && s2.got_a > 0, "%s: both listeners receive a publish (%d, %d)",
                                 c->label, s1.got_a, s2.got_a));
    GCACHE_CONF__CHECK(c, TAP_OK(s1.got_a_wm == wm_a && s2.got_a_wm == wm_a,
                                 "%s: the watermark arrives unchanged (%lld, %lld)", c->label, s1.got_a_wm, s2.got_a_wm));
    /* detach listener 2: it hears nothing more, listener 1 still does */
    rc = c->r->subscribe(c->r->ctx, NULL, &l2);
    GCACHE_CONF__IS(c, rc, 0, "subscribe(NULL) detaches listener 2");
    deadline = gcache_conf__now_s() + 5.0;
    for (;;) {
        c->r->publish(c->r->ctx, gcache_conf__slice(idb, strlen(idb)), wm_b);
        gcache_conf__sleep_ms(20);
        gcache_conf__listener_read(&l1, &s1);
        if (s1.got_b || gcache_conf__now_s() > deadline) break;
    }
    gcache_conf__sleep_ms(200); /* anything still in flight to listener 2 would land now */
    gcache_conf__listener_read(&l1, &s1);
    gcache_conf__listener_read(&l2, &s2);
    GCACHE_CONF__CHECK(c, TAP_OK(s1.got_b > 0 && s1.got_b_wm == wm_b,
                                 "%s: the remaining listener still receives (%d, wm %lld)", c->label, s1.got_b, s1.got_b_wm));
    GCACHE_CONF__IS(c, s2.got_b, 0, "a detached listener receives nothing");
    rc = c->r->subscribe(c->r->ctx, NULL, &l1);
    GCACHE_CONF__IS(c, rc, 0, "subscribe(NULL) detaches listener 1");
    if (s1.empty || s1.foreign) TAP_DIAG("%s: ignored %d empty and %d foreign deliveries", c->label, s1.empty, s1.foreign);
    /* after detach returned, no callback for l1/l2 runs: safe to destroy them */
    pthread_mutex_destroy(&l1.mu);
    pthread_mutex_destroy(&l2.mu);
}

/* ---- entry point ------------------------------------------------------------------------- */
static inline int gcache_conformance_run(gcache_remote *r, const char *label) {
    gcache_conf__ctx c;
    unsigned long nonce;
    int n;
    memset(&c, 0, sizeof c);
    c.r = r;
    c.label = label ? label : "backend";
    if (!r || !r->mget || !r->set || !r->del || !r->flush_prefix) {
        TAP_OK(0, "%s: the vtable has mget, set, del and flush_prefix", c.label);
        return 1;
    }
    {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        nonce = (unsigned long)getpid() * 1000003ul ^ (unsigned long)ts.tv_nsec ^ ((unsigned long)ts.tv_sec << 7);
        nonce &= 0xffffffful;
    }
    n = snprintf(c.ns, sizeof c.ns, "gcconf:%.40s:%lx:", c.label, nonce);
    c.ns_len = (size_t)n;
    /* start clean (a previous crashed run may have left keys) */
    GCACHE_CONF__IS(&c, r->flush_prefix(r->ctx, gcache_conf__slice(c.ns, c.ns_len)), 0,
                                      "flush_prefix of the (empty) namespace returns 0");
    gcache_conf__mget_shapes(&c);
    gcache_conf__values(&c);
    gcache_conf__del(&c);
    gcache_conf__flush_prefix(&c);
    gcache_conf__flush_many(&c);
    gcache_conf__ttl(&c);
    if (r->publish && r->subscribe) {
        gcache_conf__pubsub(&c, nonce);
    } else {
        TAP_DIAG("%s: no publish/subscribe: pub/sub checks skipped", c.label);
    }
    TAP_DIAG("%s: how a dead server is reported is backend-specific: not checked here", c.label);
    r->flush_prefix(r->ctx, gcache_conf__slice(c.ns, c.ns_len));
    return c.failures;
}

#endif /* GCACHE_CONFORMANCE_H */
