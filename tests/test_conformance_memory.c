/* The in-memory backend (gcache_remote_memory) passes the backend conformance suite,
   and its max_entries / max_bytes bounds hold. */
#define GCACHE_IMPLEMENTATION
#include "gcache.h"
#include "tap.h"
#include "conformance.h"

#include <stdio.h>
#include <string.h>

/* How many of keys "b:0".."b:<n-1>" are present, and their key+value bytes. */
static size_t count_present(gcache_remote *r, size_t n, size_t *bytes, int *last_present) {
    size_t i, present = 0;
    *bytes = 0;
    *last_present = 0;
    for (i = 0; i < n; i++) {
        char key[32];
        gcache_slice k, v;
        void *reply = NULL;
        k.ptr = key;
        k.len = (size_t)snprintf(key, sizeof key, "b:%lu", (unsigned long)i);
        v.ptr = NULL;
        v.len = 0;
        if (r->mget(r->ctx, &k, 1, &v, &reply) != 0) continue;
        if (v.ptr) {
            present++;
            *bytes += k.len + v.len;
            if (i == n - 1) *last_present = 1;
        }
        if (reply && r->release) r->release(r->ctx, reply);
    }
    return present;
}

static void fill(gcache_remote *r, size_t n, size_t vlen) {
    static char val[4096];
    size_t i;
    memset(val, 'v', sizeof val);
    for (i = 0; i < n; i++) {
        char key[32];
        gcache_slice k, v;
        k.ptr = key;
        k.len = (size_t)snprintf(key, sizeof key, "b:%lu", (unsigned long)i);
        v.ptr = val;
        v.len = vlen;
        r->set(r->ctx, k, v, 300); /* a bounded store may refuse or evict: both are fine */
    }
}

int main(void) {
    gcache_remote r;
    gcache_memory_desc md;
    int rc;

    /* defaults (NULL desc) */
    rc = gcache_remote_memory(NULL, &r);
    if (!TAP_IS_INT(rc, GCACHE_OK, "gcache_remote_memory(NULL) works")) return TAP_DONE();
    TAP_OK(r.mget && r.set && r.del && r.flush_prefix && r.destroy, "the memory backend fills the vtable");
    TAP_OK(r.publish && r.subscribe, "the memory backend has publish/subscribe");
    TAP_IS_INT(gcache_conformance_run(&r, "memory"), 0, "the memory backend passes the conformance suite");
    r.destroy(r.ctx);

    /* an explicit desc with zero fields is the same */
    memset(&md, 0, sizeof md);
    rc = gcache_remote_memory(&md, &r);
    TAP_IS_INT(rc, GCACHE_OK, "gcache_remote_memory(zero desc) works");
    if (rc == GCACHE_OK) {
        TAP_IS_INT(gcache_conformance_run(&r, "memory-zero-desc"), 0, "passes with a zero desc too");
        r.destroy(r.ctx);
    }

    TAP_IS_INT(gcache_remote_memory(&md, NULL), GCACHE_EINVAL, "NULL out is EINVAL");

    /* max_entries: a hard bound */
    memset(&md, 0, sizeof md);
    md.max_entries = 8;
    rc = gcache_remote_memory(&md, &r);
    TAP_IS_INT(rc, GCACHE_OK, "memory backend with max_entries 8");
    if (rc == GCACHE_OK) {
        size_t bytes, present;
        int last;
        fill(&r, 100, 10);
        present = count_present(&r, 100, &bytes, &last);
        TAP_OK(present <= 8, "max_entries 8 holds after 100 sets (%lu present)", (unsigned long)present);
        TAP_OK(present >= 1 && last, "the newest key is kept (%lu present, newest %s)", (unsigned long)present,
               last ? "present" : "missing");
        r.destroy(r.ctx);
    }

    /* max_bytes: key + value bytes stay under the bound */
    memset(&md, 0, sizeof md);
    md.max_bytes = 4096;
    rc = gcache_remote_memory(&md, &r);
    TAP_IS_INT(rc, GCACHE_OK, "memory backend with max_bytes 4096");
    if (rc == GCACHE_OK) {
        size_t bytes, present;
        int last;
        fill(&r, 100, 100);
        present = count_present(&r, 100, &bytes, &last);
        TAP_OK(bytes <= 4096, "max_bytes 4096 holds after 100 sets of 100 bytes (%lu bytes in %lu keys)",
               (unsigned long)bytes, (unsigned long)present);
        TAP_OK(present >= 1 && last, "the newest key is kept");
        /* a value larger than the whole bound: refused or dropped, never stored over the bound */
        fill(&r, 1, 4096);
        present = count_present(&r, 100, &bytes, &last);
        TAP_OK(bytes <= 4096, "a value bigger than max_bytes does not break the bound (%lu bytes)",
               (unsigned long)bytes);
        r.destroy(r.ctx);
    }

    /* both bounds at once, with small values: the suite still passes when it fits */
    memset(&md, 0, sizeof md);
    md.max_entries = 64;
    md.max_bytes = 4u << 20;
    rc = gcache_remote_memory(&md, &r);
    if (TAP_IS_INT(rc, GCACHE_OK, "memory backend with max_entries 64, max_bytes 4 MiB")) {
        TAP_IS_INT(gcache_conformance_run(&r, "memory-64"), 0, "passes the conformance suite with 64 entries");
        r.destroy(r.ctx);
    }
    return TAP_DONE();
}
