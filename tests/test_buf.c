/* test_buf.c -- gcache_buf: growable {0} buffers, fixed caller storage, allocator
   failures, and what gcache_get does with a fixed buffer that is too small or a
   growable one that cannot grow. */
#define GCACHE_IMPLEMENTATION
#include "gcache.h"
#include "tap.h"
#include "testutil.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers -------------------------------------------------------------------------- */

static fake_clock clk = { 1700000000000LL, 5000000000ULL };

static int buf_is(const gcache_buf *b, const char *want, size_t len) {
    return b->len == len && (len == 0 || (b->data && memcmp(b->data, want, len) == 0)) && b->cap >= b->len;
}

/* ---- growable ---------------------------------------------------------------------------- */

static void test_growable(void) {
    gcache_buf b;
    unsigned char *before;
    size_t i;
    int ok;
    memset(&b, 0, sizeof b);
    TAP_IS_INT(gcache_buf_set(&b, "hello", 5), GCACHE_OK, "{0} buffer: set");
    TAP_OK(buf_is(&b, "hello", 5) && !b.fixed, "set: contents, len, cap >= len, not fixed");
    TAP_IS_INT(gcache_buf_append(&b, " world", 6), GCACHE_OK, "append");
    TAP_OK(buf_is(&b, "hello world", 11), "append: contents");
    TAP_IS_INT(gcache_buf_set(&b, "x", 1), GCACHE_OK, "set shorter");
    TAP_OK(buf_is(&b, "x", 1), "set replaces the contents");
    TAP_IS_INT(gcache_buf_append(&b, "", 0), GCACHE_OK, "append 0 bytes");
    TAP_IS_INT(gcache_buf_append(&b, NULL, 0), GCACHE_OK, "append NULL, 0");
    TAP_OK(buf_is(&b, "x", 1), "empty appends change nothing");
    TAP_IS_INT(gcache_buf_set(&b, "a\0b\0", 4), GCACHE_OK, "set bytes with NULs");
    TAP_OK(buf_is(&b, "a\0b\0", 4), "NUL bytes kept");
    before = b.data;
    TAP_IS_INT(gcache_buf_set(&b, NULL, 3), GCACHE_EINVAL, "set NULL data with len > 0: GCACHE_EINVAL");
    TAP_IS_INT(gcache_buf_append(&b, NULL, 3), GCACHE_EINVAL, "append NULL data with len > 0: GCACHE_EINVAL");
    TAP_OK(b.data == before && buf_is(&b, "a\0b\0", 4), "EINVAL leaves the buffer unchanged");
    TAP_IS_INT(gcache_buf_append(&b, "x", SIZE_MAX), GCACHE_ENOMEM, "append SIZE_MAX bytes: GCACHE_ENOMEM (no overflow)");
    TAP_IS_INT(gcache_buf_append(&b, "x", SIZE_MAX - 2), GCACHE_ENOMEM, "append len + n overflowing: GCACHE_ENOMEM");
    TAP_OK(b.data == before && buf_is(&b, "a\0b\0", 4), "failed appends leave the buffer unchanged");
    TAP_IS_INT(gcache_buf_set(&b, NULL, 0), GCACHE_OK, "set NULL, 0 empties");
    TAP_IS_INT(b.len, 0, "len 0 after set NULL, 0");
    TAP_IS_INT(gcache_buf_set(NULL, "x", 1), GCACHE_EINVAL, "set on NULL: GCACHE_EINVAL");
    TAP_IS_INT(gcache_buf_append(NULL, "x", 1), GCACHE_EINVAL, "append on NULL: GCACHE_EINVAL");
    gcache_buf_free(&b);
    TAP_OK(b.data == NULL && b.len == 0 && b.cap == 0, "free: data NULL, len 0, cap 0");
    TAP_IS_INT(gcache_buf_set(&b, "again", 5), GCACHE_OK, "usable after free");
    TAP_OK(buf_is(&b, "again", 5), "contents after reuse");
    gcache_buf_free(&b);
    gcache_buf_free(&b);
    TAP_OK(b.data == NULL && b.len == 0, "free twice is harmless");

    /* the source may point into the buffer itself */
    TAP_IS_INT(gcache_buf_set(&b, "abcdef", 6), GCACHE_OK, "set before aliasing");
    for (i = 0; i < 6; i++)
        if (gcache_buf_append(&b, b.data, b.len) != GCACHE_OK) break;
    ok = i == 6 && b.len == 6 * 64;
    for (i = 0; ok && i < b.len; i++) if (b.data[i] != (unsigned char)"abcdef"[i % 6]) ok = 0;
    TAP_OK(ok, "appending the buffer to itself (growing each time) copies the old contents");
    TAP_IS_INT(gcache_buf_set(&b, b.data + 2, 4), GCACHE_OK, "set from inside the buffer");
    TAP_OK(buf_is(&b, "cdef", 4), "overlapping set: memmove semantics");
    gcache_buf_free(&b);

    /* many small appends */
    ok = 1;
    for (i = 0; i < 100000; i++) {
        unsigned char c = (unsigned char)(i * 31 + 7);
        if (gcache_buf_append(&b, &c, 1) != GCACHE_OK) { ok = 0; break; }
    }
    for (i = 0; ok && i < 100000; i++)
        if (b.data[i] != (unsigned char)(i * 31 + 7)) ok = 0;
    TAP_OK(ok && b.len == 100000 && b.cap >= b.len, "100,000 one-byte appends");
    gcache_buf_free(&b);
}

static void test_allocator(void) {
    counting_alloc c;
    gcache_buf b;
    unsigned char *before;
    static char big[10000];
    ca_init(&c);
    memset(&b, 0, sizeof b);
    memset(big, 'B', sizeof big);
    b.allocator = counting_allocator(&c);
    TAP_IS_INT(gcache_buf_set(&b, "abc", 3), GCACHE_OK, "caller allocator: set");
    TAP_OK(c.allocs >= 1, "the caller's allocator is used (%ld allocations)", c.allocs);
    TAP_OK(b.allocator.alloc_fn == ca_alloc && b.allocator.user_data == &c, "the caller's allocator is kept");
    c.fail = 1;
    before = b.data;
    TAP_IS_INT(gcache_buf_append(&b, big, sizeof big), GCACHE_ENOMEM, "allocator fails on append: GCACHE_ENOMEM");
    TAP_OK(b.data == before && buf_is(&b, "abc", 3), "after the failed append: contents unchanged");
    TAP_IS_INT(gcache_buf_set(&b, big, sizeof big), GCACHE_ENOMEM, "allocator fails on set: GCACHE_ENOMEM");
    TAP_OK(b.data == before && buf_is(&b, "abc", 3), "after the failed set: contents unchanged");
    c.fail = 0;
    TAP_IS_INT(gcache_buf_append(&b, big, sizeof big), GCACHE_OK, "allocator back: append works");
    TAP_OK(b.len == 3 + sizeof big && memcmp(b.data, "abc", 3) == 0 && memcmp(b.data + 3, big, sizeof big) == 0,
           "contents after the append");
    gcache_buf_free(&b);
    TAP_IS_INT(c.live, 0, "free returns every block to the caller's allocator");
    TAP_OK(b.allocator.alloc_fn == ca_alloc, "free keeps the allocator for reuse");

    c.fail = 1;
    memset(&b, 0, sizeof b);
    b.allocator = counting_allocator(&c);
    TAP_IS_INT(gcache_buf_set(&b, "x", 1), GCACHE_ENOMEM, "empty buffer, failing allocator: GCACHE_ENOMEM");
    TAP_OK(b.len == 0, "still empty");
    TAP_IS_INT(gcache_buf_append(&b, "x", 1), GCACHE_ENOMEM, "append too: GCACHE_ENOMEM");
    gcache_buf_free(&b);
    TAP_IS_INT(c.live, 0, "nothing leaked");
    ca_destroy(&c);
}

static void test_fixed(void) {
    unsigned char storage[16];
    gcache_buf f;
    size_t i;
    int untouched;
    memset(storage, '#', sizeof storage);
    f = gcache_buf_fixed(storage, 8);
    TAP_OK(f.data == storage && f.len == 0 && f.cap == 8 && f.fixed, "gcache_buf_fixed: storage, len 0, cap, fixed");
    TAP_IS_INT(gcache_buf_set(&f, "12345678", 8), GCACHE_OK, "fixed: set exactly cap bytes");
    TAP_OK(buf_is(&f, "12345678", 8), "fixed: contents");
    f.needed = 0;
    TAP_IS_INT(gcache_buf_set(&f, "123456789", 9), GCACHE_ETOOBIG, "fixed: set cap + 1 bytes: GCACHE_ETOOBIG");
    TAP_IS_INT(f.needed, 9, "needed = 9");
    TAP_OK(f.data == storage && buf_is(&f, "12345678", 8), "ETOOBIG: data and len unchanged");
    f.needed = 0;
    TAP_IS_INT(gcache_buf_append(&f, "9", 1), GCACHE_ETOOBIG, "fixed: append past cap: GCACHE_ETOOBIG");
    TAP_IS_INT(f.needed, 9, "append: needed = len + n");
    TAP_OK(f.data == storage && buf_is(&f, "12345678", 8), "append ETOOBIG: unchanged");
    TAP_IS_INT(gcache_buf_set(&f, "abc", 3), GCACHE_OK, "fixed: set 3");
    TAP_IS_INT(gcache_buf_append(&f, "defgh", 5), GCACHE_OK, "fixed: append up to cap");
    TAP_OK(buf_is(&f, "abcdefgh", 8), "fixed: contents after append");
    f.needed = 0;
    TAP_IS_INT(gcache_buf_append(&f, "ijklmnop", 8), GCACHE_ETOOBIG, "fixed: append 8 more: GCACHE_ETOOBIG");
    TAP_IS_INT(f.needed, 16, "needed = 16");
    TAP_IS_INT(gcache_buf_append(&f, "x", SIZE_MAX), GCACHE_ETOOBIG, "fixed: append SIZE_MAX: GCACHE_ETOOBIG");
    TAP_OK(f.len <= f.cap && buf_is(&f, "abcdefgh", 8), "len never exceeds cap");
    untouched = 1;
    for (i = 8; i < sizeof storage; i++) if (storage[i] != '#') untouched = 0;
    TAP_OK(untouched, "nothing written past cap");
    TAP_IS_INT(gcache_buf_set(&f, NULL, 2), GCACHE_EINVAL, "fixed: NULL data: GCACHE_EINVAL");
    gcache_buf_free(&f);
    TAP_OK(f.len == 0 && f.data == storage && f.cap == 8 && f.fixed, "free of a fixed buffer only empties it");
    TAP_IS_INT(gcache_buf_set(&f, "zz", 2), GCACHE_OK, "fixed buffer usable after free");
    TAP_OK(f.data == storage && memcmp(storage, "zz", 2) == 0, "... into the same storage");

    f = gcache_buf_fixed(storage, 0);
    TAP_IS_INT(gcache_buf_set(&f, "", 0), GCACHE_OK, "cap 0: set 0 bytes");
    TAP_IS_INT(gcache_buf_set(&f, "a", 1), GCACHE_ETOOBIG, "cap 0: set 1 byte: GCACHE_ETOOBIG");
    TAP_IS_INT(f.needed, 1, "cap 0: needed 1");
}

/* ---- gcache_get with small fixed / failing growable buffers ---------------------------------- */

static char value100[100];
typedef struct { int calls; size_t size; } fetch_state;
static int fetch_fn(void *user, const gcache_key *key, gcache_buf *out) {
    fetch_state *f = (fetch_state *)user;
    (void)key;
    f->calls++;
    return gcache_buf_set(out, value100, f->size);
}

static void test_get(void) {
    counting_alloc gca, gcb, outc;
    gcache_desc d;
    gcache *gc = NULL, *gc2 = NULL;
    gcache_use_case_desc u;
    gcache_use_case *uc = NULL, *uc2 = NULL;
    gcache_key k, miss, k2;
    gcache_buf g;
    unsigned char storage[128];
    fetch_state f;
    int prev, rc, i;
    ca_init(&gca);
    ca_init(&gcb);
    ca_init(&outc);
    for (i = 0; i < 100; i++) value100[i] = (char)('A' + i % 26);
    f.calls = 0;
    f.size = 100;

    memset(&d, 0, sizeof d);
    d.allocator = counting_allocator(&gca);
    d.clock.wall_ms_fn = fc_wall; d.clock.mono_ns_fn = fc_mono; d.clock.user_data = &clk;
    if (!TAP_OK(gcache_create(&d, &gc) == GCACHE_OK, "get: create")) return;
    d.allocator = counting_allocator(&gcb);
    if (!TAP_OK(gcache_create(&d, &gc2) == GCACHE_OK, "get: create a second instance")) { gcache_destroy(gc); return; }
    memset(&u, 0, sizeof u);
    u.name = "B"; u.key_type = "t";
    u.default_config.ttl_sec[GCACHE_LOCAL] = 60;
    u.default_config.ramp[GCACHE_LOCAL] = 100;
    if (!TAP_OK(gcache_register(gc, &u, &uc) == GCACHE_OK && gcache_register(gc2, &u, &uc2) == GCACHE_OK, "get: register")) {
        gcache_destroy(gc); gcache_destroy(gc2); return;
    }
    prev = gcache_enable(1);

    gcache_key_init(&k, uc, "big");
    memset(&g, 0, sizeof g);
    rc = gcache_get(gc, &k, fetch_fn, &f, &g);
    TAP_OK(rc == GCACHE_OK && buf_is(&g, value100, 100) && f.calls == 1, "fill: 100-byte value fetched");
    TAP_OK(g.allocator.alloc_fn == ca_alloc && g.allocator.user_data == &gca,
           "a {0} out takes the allocator of the gcache it is handed to");
    gcache_key_init(&k2, uc2, "other");
    f.size = 60;
    rc = gcache_get(gc2, &k2, fetch_fn, &f, &g);
    TAP_OK(rc == GCACHE_OK && buf_is(&g, value100, 60), "the same buffer through a second instance");
    TAP_OK(g.allocator.user_data == &gca, "it keeps the first instance's allocator");
    f.size = 100;

    /* cached value, fixed out too small */
    memset(storage, '#', sizeof storage);
    {
        gcache_buf fx = gcache_buf_fixed(storage, 10);
        int calls = f.calls;
        gcache_buf_set(&fx, "prev", 4);
        fx.needed = 0;
        rc = gcache_get(gc, &k, fetch_fn, &f, &fx);
        TAP_IS_INT(rc, GCACHE_ETOOBIG, "cached 100 bytes into a fixed 10-byte out: GCACHE_ETOOBIG");
        TAP_IS_INT(fx.needed, 100, "needed = 100");
        TAP_OK(fx.data == storage && buf_is(&fx, "prev", 4) && storage[10] == '#', "data and len unchanged");
        TAP_IS_INT(f.calls - calls, 0, "the cached value was found: no fetch");
        fx = gcache_buf_fixed(storage, 100);
        rc = gcache_get(gc, &k, fetch_fn, &f, &fx);
        TAP_OK(rc == GCACHE_OK && fx.data == storage && buf_is(&fx, value100, 100) && storage[100] == '#',
               "a fixed out of exactly the value's size: hit");
        TAP_IS_INT(f.calls - calls, 0, "still no fetch");
    }

    /* miss, fixed out too small: the fetch's own ETOOBIG is returned and nothing cached */
    gcache_key_init(&miss, uc, "miss");
    {
        gcache_buf fx = gcache_buf_fixed(storage, 10);
        int calls = f.calls;
        fx.needed = 0;
        rc = gcache_get(gc, &miss, fetch_fn, &f, &fx);
        TAP_IS_INT(rc, GCACHE_ETOOBIG, "miss into a too small fixed out: the fetch's GCACHE_ETOOBIG");
        TAP_IS_INT(fx.needed, 100, "needed = 100");
        TAP_OK(fx.len == 0, "nothing written");
        TAP_IS_INT(f.calls - calls, 1, "fetched once");
        rc = gcache_get(gc, &miss, fetch_fn, &f, &g);
        TAP_OK(rc == GCACHE_OK && buf_is(&g, value100, 100), "then a growable out: the value");
        TAP_IS_INT(f.calls - calls, 2, "the failed fetch was not cached");
    }

    /* growable out that cannot grow */
    {
        gcache_buf gf;
        int calls = f.calls;
        memset(&gf, 0, sizeof gf);
        gf.allocator = counting_allocator(&outc);
        outc.fail = 1;
        rc = gcache_get(gc, &k, fetch_fn, &f, &gf);
        TAP_IS_INT(rc, GCACHE_ENOMEM, "cached value, growable out whose allocator fails: GCACHE_ENOMEM");
        TAP_OK(gf.len == 0 && gf.data == NULL, "out unchanged");
        TAP_IS_INT(f.calls - calls, 0, "no fetch");
        gcache_key_init(&miss, uc, "miss2");
        rc = gcache_get(gc, &miss, fetch_fn, &f, &gf);
        TAP_IS_INT(rc, GCACHE_ENOMEM, "miss, out cannot grow: the fetch's GCACHE_ENOMEM");
        TAP_IS_INT(f.calls - calls, 1, "fetched once");
        outc.fail = 0;
        rc = gcache_get(gc, &miss, fetch_fn, &f, &gf);
        TAP_OK(rc == GCACHE_OK && buf_is(&gf, value100, 100), "allocator back: the value");
        TAP_IS_INT(f.calls - calls, 2, "the failed fetch was not cached");
        TAP_OK(gf.allocator.user_data == &outc && outc.allocs > 0, "a caller-set allocator is kept and used");
        rc = gcache_get(gc, &k, fetch_fn, &f, &gf);
        TAP_OK(rc == GCACHE_OK && buf_is(&gf, value100, 100), "hit into the caller-allocated out");
        gcache_buf_free(&gf);
        TAP_IS_INT(outc.live, 0, "caller allocator: nothing leaked");
    }

    TAP_IS_INT(gcache_get(NULL, &k, fetch_fn, &f, &g), GCACHE_EINVAL, "gcache_get NULL gcache: GCACHE_EINVAL");
    TAP_IS_INT(gcache_get(gc, NULL, fetch_fn, &f, &g), GCACHE_EINVAL, "gcache_get NULL key: GCACHE_EINVAL");
    TAP_IS_INT(gcache_get(gc, &k, NULL, &f, &g), GCACHE_EINVAL, "gcache_get NULL fetch: GCACHE_EINVAL");
    TAP_IS_INT(gcache_get(gc, &k, fetch_fn, &f, NULL), GCACHE_EINVAL, "gcache_get NULL out: GCACHE_EINVAL");

    gcache_enable(prev);
    gcache_destroy(gc);
    gcache_destroy(gc2);
    TAP_OK(buf_is(&g, value100, 100), "the buffer outlives the gcaches");
    TAP_IS_INT(gcache_buf_append(&g, value100, 100), GCACHE_OK, "and still grows with the copied allocator");
    gcache_buf_free(&g);
    TAP_IS_INT(gca.live, 0, "first instance's allocator: every block freed (the buffer's included)");
    TAP_IS_INT(gcb.live, 0, "second instance's allocator: every block freed");
    ca_destroy(&gca);
    ca_destroy(&gcb);
    ca_destroy(&outc);
}

int main(void) {
    test_growable();
    test_allocator();
    test_fixed();
    test_get();
    gcache_buf_free(NULL);
    TAP_OK(1, "gcache_buf_free(NULL) is harmless");
    return TAP_DONE();
}
