/* The remote value envelope: exact bytes, CRC-32C, round trips, flags, and that no
   truncated, bit-flipped, foreign or future-version entry in the backend is ever returned
   by gcache_get (it is a miss, counted as corrupt at REMOTE, overwritten by the fill). */
#define GCACHE_IMPLEMENTATION
#include "gcache.h"
#include "tap.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEC 1000000000ULL

/* an independent bitwise CRC-32C (Castagnoli, reflected 0x82F63B78) */
static unsigned my_crc32c(const unsigned char *p, size_t n) {
    unsigned c = 0xffffffffu;
    int k;
    while (n--) {
        c ^= *p++;
        for (k = 0; k < 8; k++) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
    }
    return ~c;
}

static void put_u32le(unsigned char *p, unsigned v) {
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

/* Fix the CRC of a hand-edited envelope of total length n (header says the length). */
static void fix_crc(unsigned char *e, size_t n) {
    unsigned char *tmp = (unsigned char *)malloc(n);
    unsigned crc;
    memcpy(tmp, e, 16);
    memcpy(tmp + 16, e + 20, n - 20);
    crc = my_crc32c(tmp, n - 4);
    put_u32le(e + 16, crc);
    free(tmp);
}

static unsigned long long rng = 0x243f6a8885a308d3ull;
static unsigned long long next_rand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void test_crc(void) {
    unsigned c;
    TAP_IS_INT(my_crc32c((const unsigned char *)"123456789", 9), 0xE3069283u, "the test's own CRC-32C check value");
    c = gcache_crc32c(0, "123456789", 9);
    TAP_IS_INT(c, 0xE3069283u, "gcache_crc32c(0, \"123456789\") = 0xE3069283");
    c = gcache_crc32c(gcache_crc32c(0, "1234", 4), "56789", 5);
    TAP_IS_INT(c, 0xE3069283u, "gcache_crc32c chains over pieces");
    TAP_IS_INT(gcache_crc32c(0, "", 0), 0, "gcache_crc32c of nothing is 0");
    {
        unsigned char buf[1000];
        size_t i;
        for (i = 0; i < sizeof buf; i++) buf[i] = (unsigned char)(i * 29 + 3);
        TAP_IS_INT(gcache_crc32c(0, buf, sizeof buf), my_crc32c(buf, sizeof buf), "gcache_crc32c of 1000 bytes");
        TAP_IS_INT(gcache_crc32c(0, buf + 1, 999), my_crc32c(buf + 1, 999), "gcache_crc32c of an unaligned range");
    }
}

static void test_exact_bytes(void) {
    unsigned char got[64], want[64], crcin[64];
    size_t n;
    unsigned crc;
    n = gcache_envelope_write(got, sizeof got, 0x0102030405060708LL, 0, "hello", 5);
    TAP_IS_INT(n, 25, "envelope of 5 bytes is 25 bytes");
    want[0] = 'G';
    want[1] = 'C';
    want[2] = 1;
    want[3] = 0;
    want[4] = 0x08; want[5] = 0x07; want[6] = 0x06; want[7] = 0x05;
    want[8] = 0x04; want[9] = 0x03; want[10] = 0x02; want[11] = 0x01;
    want[12] = 5; want[13] = 0; want[14] = 0; want[15] = 0;
    memcpy(crcin, want, 16);
    memcpy(crcin + 16, "hello", 5);
    crc = my_crc32c(crcin, 21);
    put_u32le(want + 16, crc);
    memcpy(want + 20, "hello", 5);
    TAP_IS_MEM(got, n, want, 25, "exact bytes: GC|1|0|created LE|len LE|crc32c LE of bytes 0-15 + payload|payload");

    /* negative entry */
    n = gcache_envelope_write(got, sizeof got, 1700000000000LL, 1, NULL, 0);
    TAP_IS_INT(n, 20, "a negative entry is 20 bytes");
    TAP_IS_INT(got[3], 1, "negative: flags = 1");
    TAP_IS_INT(got[12] | got[13] | got[14] | got[15], 0, "negative: length 0");
    TAP_IS_INT(got[16] | (got[17] << 8) | (got[18] << 16) | ((unsigned)got[19] << 24), my_crc32c(got, 16),
               "negative: crc of the header alone");
    /* created_at 1700000000000 = 0x18BCFE56800 */
    TAP_OK(got[4] == 0x00 && got[5] == 0x68 && got[6] == 0xE5 && got[7] == 0xCF && got[8] == 0x8B && got[9] == 0x01 &&
               got[10] == 0 && got[11] == 0,
           "created_at 1700000000000 little-endian");

    /* snprintf-like */
    memset(got, 0xAA, sizeof got);
    n = gcache_envelope_write(got, 10, 5, 0, "hello", 5);
    TAP_IS_INT(n, 25, "cap too small: returns the size needed");
    {
        size_t i;
        int untouched = 1;
        for (i = 0; i < sizeof got; i++)
            if (got[i] != 0xAA) untouched = 0;
        TAP_OK(untouched, "cap too small: writes nothing");
    }
    TAP_IS_INT(gcache_envelope_write(NULL, 0, 5, 0, "hello", 5), 25, "NULL dst, cap 0: the size needed");
    TAP_IS_INT(gcache_envelope_write(got, 25, 5, 0, "hello", 5), 25, "cap exactly enough");
}

static void test_round_trip(void) {
    static const long long created[] = {0, 1, 1700000000000LL, 4102444800000LL, 1LL << 62};
    static const size_t lens[] = {0, 1, 5, 19, 20, 21, 1000, 65536};
    size_t ci, li;
    int bad = 0;
    unsigned char *payload = (unsigned char *)malloc(65536);
    unsigned char *buf = (unsigned char *)malloc(65536 + 20);
    size_t i;
    for (i = 0; i < 65536; i++) payload[i] = (unsigned char)(i ^ (i >> 8));
    for (ci = 0; ci < sizeof created / sizeof created[0]; ci++)
        for (li = 0; li < sizeof lens / sizeof lens[0]; li++) {
            gcache_envelope e;
            size_t n = gcache_envelope_write(buf, 65536 + 20, created[ci], 0, payload, lens[li]);
            if (n != 20 + lens[li] || gcache_envelope_read(buf, n, &e) != GCACHE_OK || e.created_at_ms != created[ci] ||
                e.negative != 0 || e.payload_len != lens[li] || (lens[li] && memcmp(e.payload, payload, lens[li])) ||
                (lens[li] && e.payload != buf + 20))
                bad++;
        }
    TAP_IS_INT(bad, 0, "round trip: 5 created_at x 8 payload sizes (0..64 KiB)");
    bad = 0;
    for (ci = 0; ci < sizeof created / sizeof created[0]; ci++) {
        gcache_envelope e;
        size_t n = gcache_envelope_write(buf, 64, created[ci], 1, NULL, 0);
        if (n != 20 || gcache_envelope_read(buf, n, &e) != GCACHE_OK || !e.negative || e.payload_len != 0 ||
            e.created_at_ms != created[ci])
            bad++;
    }
    TAP_IS_INT(bad, 0, "round trip: negative entries");
    {
        gcache_envelope e;
        size_t n = gcache_envelope_write(buf, 64, 77, 0, "", 0);
        TAP_OK(n == 20 && gcache_envelope_read(buf, n, &e) == GCACHE_OK && !e.negative && e.payload_len == 0,
               "round trip: an empty positive payload is not negative");
    }
    free(payload);
    free(buf);
}

static void test_flags_and_malformed(void) {
    unsigned char e[64];
    gcache_envelope env;
    size_t n;
    int flags, bad = 0;
    /* flag bits 1-7 are ignored on read */
    for (flags = 0; flags < 256; flags++) {
        int negative = flags & 1;
        n = gcache_envelope_write(e, sizeof e, 1234, 0, negative ? NULL : "abc", negative ? 0 : 3);
        e[3] = (unsigned char)flags;
        fix_crc(e, n);
        if (gcache_envelope_read(e, n, &env) != GCACHE_OK || env.negative != negative ||
            env.payload_len != (negative ? 0u : 3u))
            bad++;
    }
    TAP_IS_INT(bad, 0, "flag bits 1-7 are ignored on read (all 256 flag bytes, valid CRC)");
    /* negative with a payload */
    n = gcache_envelope_write(e, sizeof e, 1234, 0, "abc", 3);
    e[3] = 1;
    fix_crc(e, n);
    TAP_IS_INT(gcache_envelope_read(e, n, &env), GCACHE_ECORRUPT, "a negative entry with a payload is corrupt");
    /* version, magic */
    n = gcache_envelope_write(e, sizeof e, 1234, 0, "abc", 3);
    e[2] = 2;
    fix_crc(e, n);
    TAP_IS_INT(gcache_envelope_read(e, n, &env), GCACHE_ECORRUPT, "version 2 (valid CRC) is refused");
    e[2] = 0;
    fix_crc(e, n);
    TAP_IS_INT(gcache_envelope_read(e, n, &env), GCACHE_ECORRUPT, "version 0 is refused");
    e[2] = 1;
    e[0] = 'X';
    e[1] = 'X';
    fix_crc(e, n);
    TAP_IS_INT(gcache_envelope_read(e, n, &env), GCACHE_ECORRUPT, "magic \"XX\" is refused");
    e[0] = 'g';
    e[1] = 'c';
    fix_crc(e, n);
    TAP_IS_INT(gcache_envelope_read(e, n, &env), GCACHE_ECORRUPT, "magic \"gc\" is refused");
    /* length field disagreeing with the size */
    n = gcache_envelope_write(e, sizeof e, 1234, 0, "abc", 3);
    e[12] = 2;
    fix_crc(e, 22);
    TAP_IS_INT(gcache_envelope_read(e, n, &env), GCACHE_ECORRUPT, "length field smaller than the data");
    n = gcache_envelope_write(e, sizeof e, 1234, 0, "abc", 3);
    e[n] = 'x';
    TAP_IS_INT(gcache_envelope_read(e, n + 1, &env), GCACHE_ECORRUPT, "a trailing byte is refused (exactly 20 + len)");
    n = gcache_envelope_write(e, sizeof e, 1234, 0, "abc", 3);
    e[15] = 0x80;
    TAP_IS_INT(gcache_envelope_read(e, n, &env), GCACHE_ECORRUPT, "a 2 GiB length in a 23-byte entry");
    TAP_IS_INT(gcache_envelope_read("GC", 2, &env), GCACHE_ECORRUPT, "2 bytes");
    TAP_IS_INT(gcache_envelope_read("", 0, &env), GCACHE_ECORRUPT, "0 bytes");
    {
        static const unsigned char pickle[] = {0x80, 0x04, 0x95, 0x0b, 0, 0, 0, 0, 0, 0, 0, 0x8c, 0x07,
                                               'p',  'i',  'c',  'k',  'l', 'e', 'd', 0x94, 0x2e};
        TAP_IS_INT(gcache_envelope_read(pickle, sizeof pickle, &env), GCACHE_ECORRUPT, "a Python pickle is refused");
    }
    /* every truncation, and random bit flips */
    {
        static const char payload[] = "OLD VALUE that a broken entry must never return";
        unsigned char good[128], bad_e[128];
        size_t gn = gcache_envelope_write(good, sizeof good, 1700000000000LL, 0, payload, sizeof payload - 1), t;
        int accepted = 0, i;
        for (t = 0; t < gn; t++)
            if (gcache_envelope_read(good, t, &env) != GCACHE_ECORRUPT) accepted++;
        TAP_IS_INT(accepted, 0, "every truncation of a valid envelope is ECORRUPT");
        accepted = 0;
        for (i = 0; i < 20000; i++) {
            int flips = 1 + (int)(next_rand() % 4), f;
            memcpy(bad_e, good, gn);
            for (f = 0; f < flips; f++) {
                unsigned long long bit = next_rand() % (gn * 8);
                bad_e[bit / 8] ^= (unsigned char)(1u << (bit % 8));
            }
            if (memcmp(bad_e, good, gn) == 0) continue; /* flips cancelled out */
            if (gcache_envelope_read(bad_e, gn, &env) != GCACHE_ECORRUPT) accepted++;
        }
        TAP_IS_INT(accepted, 0, "20,000 random 1-4 bit flips of a valid envelope: all ECORRUPT");
    }
}

/* ---- through gcache_get and the memory backend ------------------------------------------------- */

typedef struct source { int calls; char value[64]; size_t len; } source;
static int fetch(void *user, const gcache_key *key, gcache_buf *out) {
    source *s = (source *)user;
    (void)key;
    s->calls++;
    return gcache_buf_set(out, s->value, s->len);
}

/* 1 if the backend holds a valid envelope with payload == want */
static int backend_holds(gcache_remote *r, const char *key, const void *want, size_t wlen) {
    gcache_slice k, v;
    void *reply = NULL;
    gcache_envelope e;
    int ok = 0;
    k.ptr = key;
    k.len = strlen(key);
    v.ptr = NULL;
    v.len = 0;
    if (r->mget(r->ctx, &k, 1, &v, &reply) != 0) return 0;
    if (v.ptr && gcache_envelope_read(v.ptr, v.len, &e) == GCACHE_OK && !e.negative && e.payload_len == wlen &&
        memcmp(e.payload, want, wlen) == 0)
        ok = 1;
    if (reply && r->release) r->release(r->ctx, reply);
    return ok;
}

static void test_through_get(int tracked) {
    fake_clock fc = {1700000000000LL, 10 * SEC};
    gcache_memory_desc md;
    gcache_remote mem;
    gcache_desc d;
    gcache *gc = NULL;
    gcache_use_case_desc u;
    gcache_use_case *uc = NULL;
    gcache_key k;
    gcache_buf out = {0};
    source s;
    const char *key;
    static const char old_payload[] = "OLD VALUE that a broken entry must never return";
    unsigned char good[128], bad_e[128];
    size_t gn, t;
    int i, wrong = 0, not_refilled = 0, no_error = 0, cases = 0;
    gcache_stats st0, st1;
    const char *what = tracked ? "tracked" : "untracked";

    memset(&md, 0, sizeof md);
    md.clock.wall_ms_fn = fc_wall;
    md.clock.mono_ns_fn = fc_mono;
    md.clock.user_data = &fc;
    if (gcache_remote_memory(&md, &mem) != GCACHE_OK) return;
    memset(&d, 0, sizeof d);
    d.enabled_by_default = 1;
    d.remote = mem;
    d.keep_remote = 1;
    d.clock = md.clock;
    if (!TAP_IS_INT(gcache_create(&d, &gc), GCACHE_OK, "create")) return;
    memset(&u, 0, sizeof u);
    u.name = "GetDoc";
    u.key_type = "doc_id";
    u.track_for_invalidation = tracked;
    u.default_config.ttl_sec[GCACHE_REMOTE] = 300;
    u.default_config.ramp[GCACHE_REMOTE] = 100;
    u.default_config.ramp[GCACHE_LOCAL] = 100; /* local ttl 0: remote only */
    gcache_register(gc, &u, &uc);
    gcache_key_init_int(&k, uc, 1);
    key = gcache_key_str(&k, NULL);
    memset(&s, 0, sizeof s);
    gn = gcache_envelope_write(good, sizeof good, fc.wall_ms - 1000, 0, old_payload, sizeof old_payload - 1);

    /* sanity: the valid envelope is served */
    raw_set(&mem, key, good, gn, 300);
    gcache_get(gc, &k, fetch, &s, &out);
    TAP_OK(s.calls == 0 && out.len == gn - 20 && memcmp(out.data, old_payload, gn - 20) == 0,
           "(%s) a valid envelope written into the backend is served", what);

    gcache_stats_get(gc, NULL, GCACHE_REMOTE, &st0);
    for (i = 0; i < 10000 + (int)gn; i++) {
        size_t blen;
        int before_calls = s.calls;
        gcache_stats e0, e1;
        if (i < (int)gn) { /* every truncation first */
            t = (size_t)i;
            memcpy(bad_e, good, t);
            blen = t;
        } else {
            int flips = 1 + (int)(next_rand() % 3), f;
            memcpy(bad_e, good, gn);
            for (f = 0; f < flips; f++) {
                unsigned long long bit = next_rand() % (gn * 8);
                bad_e[bit / 8] ^= (unsigned char)(1u << (bit % 8));
            }
            if (memcmp(bad_e, good, gn) == 0) continue;
            blen = gn;
        }
        cases++;
        raw_set(&mem, key, bad_e, blen, 300);
        s.len = (size_t)snprintf(s.value, sizeof s.value, "fresh-%d", i);
        gcache_stats_get(gc, NULL, GCACHE_REMOTE, &e0);
        if (gcache_get(gc, &k, fetch, &s, &out) != GCACHE_OK || out.len != s.len || memcmp(out.data, s.value, s.len) ||
            s.calls != before_calls + 1) {
            if (wrong++ < 3) TAP_DIAG("case %d (%lu bytes): a corrupt entry was not a miss", i, (unsigned long)blen);
        }
        gcache_stats_get(gc, NULL, GCACHE_REMOTE, &e1);
        if (e1.errors <= e0.errors) no_error++;
        if (!backend_holds(&mem, key, s.value, s.len)) not_refilled++;
    }
    gcache_stats_get(gc, NULL, GCACHE_REMOTE, &st1);
    TAP_IS_INT(wrong, 0, "corrupt entries in the backend: gcache_get returns only the fetch's value");
    TAP_OK(no_error == 0, "(%s) every corrupt entry counted as an error at REMOTE (%d of %d not counted)", what,
           no_error, cases);
    TAP_IS_INT(not_refilled, 0, "every corrupt entry was overwritten by the fill (the backend holds a valid envelope)");
    TAP_OK(st1.misses - st0.misses >= (unsigned long long)cases, "(%s) each corrupt entry is a REMOTE miss", what);
    TAP_OK(metric(gc, "error=\"corrupt\"", "layer=\"REMOTE\"", NULL) >= cases, "metrics: error=\"corrupt\" at REMOTE");
    TAP_DIAG("%s: %d corrupt entries tried (%lu truncations)", what, cases, (unsigned long)gn);

    /* future version and foreign magic: a miss, then overwritten */
    {
        unsigned char e[128];
        size_t n = gcache_envelope_write(e, sizeof e, fc.wall_ms - 1000, 0, "v2 payload", 10);
        int calls = s.calls;
        e[2] = 2;
        fix_crc(e, n);
        raw_set(&mem, key, e, n, 300);
        s.len = (size_t)snprintf(s.value, sizeof s.value, "after-v2");
        gcache_get(gc, &k, fetch, &s, &out);
        TAP_OK(s.calls == calls + 1 && out.len == s.len && !memcmp(out.data, s.value, s.len),
               "(%s) a future-version entry is a miss", what);
        TAP_OK(backend_holds(&mem, key, s.value, s.len), "the future-version entry was overwritten");
        n = gcache_envelope_write(e, sizeof e, fc.wall_ms - 1000, 0, "xx payload", 10);
        e[0] = 'P';
        e[1] = 'K';
        fix_crc(e, n);
        raw_set(&mem, key, e, n, 300);
        s.len = (size_t)snprintf(s.value, sizeof s.value, "after-pk");
        gcache_get(gc, &k, fetch, &s, &out);
        TAP_OK(s.calls == calls + 2 && out.len == s.len && !memcmp(out.data, s.value, s.len),
               "(%s) a foreign-magic entry is a miss", what);
        raw_set(&mem, key, "plain text from another program", 31, 300);
        s.len = (size_t)snprintf(s.value, sizeof s.value, "after-text");
        gcache_get(gc, &k, fetch, &s, &out);
        TAP_OK(s.calls == calls + 3 && out.len == s.len && !memcmp(out.data, s.value, s.len),
               "(%s) a plain-text value is a miss", what);
        /* a negative entry with a payload */
        n = gcache_envelope_write(e, sizeof e, fc.wall_ms - 1000, 0, "neg?", 4);
        e[3] = 1;
        fix_crc(e, n);
        raw_set(&mem, key, e, n, 300);
        s.len = (size_t)snprintf(s.value, sizeof s.value, "after-neg");
        TAP_IS_INT(gcache_get(gc, &k, fetch, &s, &out), GCACHE_OK, "(negative entry with a payload) not NOT_FOUND");
        TAP_OK(s.calls == calls + 4 && out.len == s.len && !memcmp(out.data, s.value, s.len),
               "(%s) a negative entry with a payload is a miss", what);
    }
    gcache_buf_free(&out);
    gcache_destroy(gc);
    mem.destroy(mem.ctx);
}

int main(void) {
    test_crc();
    test_exact_bytes();
    test_round_trip();
    test_flags_and_malformed();
    test_through_get(1);
    test_through_get(0);
    return TAP_DONE();
}
