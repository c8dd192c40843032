/* Allocation-failure sweep. A counting allocator fails the Nth allocation (sweep 1), or
   every allocation from the Nth on (sweep 2), for N = 1, 2, ... until a full scenario runs
   without any injected failure. The scenario: memory backend, create, register 2 use
   cases, load JSON, gets through local + remote, NOT_FOUND, invalidate, delete, flush,
   stats, metrics text, config dump, destroy. For every N: no crash, gcache_get returns
   exactly the fetch's value (its out buffer has its own, never failing, allocator), the
   other calls return OK or GCACHE_ENOMEM, and nothing is leaked (live count 0). */
#define GCACHE_IMPLEMENTATION
#include "gcache.h"
#include "tap.h"
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct source { int version; int calls; } source;

static int fetch(void *user, const gcache_key *key, gcache_buf *out) {
    source *s = (source *)user;
    char head[32];
    size_t len;
    const char *k = gcache_key_str(key, &len);
    int n = snprintf(head, sizeof head, "v%d:", s->version);
    s->calls++;
    if (len > 3 && memcmp(k + len - 3, "404", 3) == 0) return GCACHE_NOT_FOUND; /* never in these keys */
    gcache_buf_set(out, head, (size_t)n);
    return gcache_buf_append(out, k, len);
}

static int fetch_missing(void *user, const gcache_key *key, gcache_buf *out) {
    (void)user;
    (void)key;
    (void)out;
    return GCACHE_NOT_FOUND;
}

static int value_is(const gcache_buf *out, const gcache_key *key, int version) {
    char want[700];
    size_t len;
    const char *k = gcache_key_str(key, &len);
    int n = snprintf(want, sizeof want, "v%d:%s", version, k);
    return out->len == (size_t)n && memcmp(out->data, want, (size_t)n) == 0;
}

typedef struct outcome {
    int bad;            /* contract violations in this run */
    char first[200];    /* the first one */
} outcome;

static void violation(outcome *o, const char *what, int rc) {
    if (o->bad++ == 0) snprintf(o->first, sizeof o->first, "%s (rc %d)", what, rc);
}

#define EXPECT_OK_OR_NOMEM(o, rc, what)                                          \
    do {                                                                         \
        int r_ = (rc);                                                           \
        if (r_ != GCACHE_OK && r_ != GCACHE_ENOMEM) violation((o), (what), r_);  \
    } while (0)

static void run_scenario(counting_alloc *fa, outcome *o) {
    fake_clock fc = {1700000000000LL, 1000000000ULL};
    gcache_allocator al;
    gcache_memory_desc md;
    gcache_remote mem;
    gcache_desc d;
    gcache *gc = NULL;
    gcache_use_case_desc u;
    gcache_use_case *uc[2] = {NULL, NULL};
    gcache_buf out = {0};
    source s;
    int rc, i, j;
    static char text[1 << 16];
    static const char json[] = "{\"GetUser\": {\"ttl_sec\": {\"local\": 60, \"remote\": 300}, "
                               "\"ramp\": {\"local\": 100, \"remote\": 100}, \"negative_ttl_sec\": 5},"
                               " \"GetFlag\": {\"ttl_sec\": {\"local\": 30, \"remote\": 120}}}";
    memset(&s, 0, sizeof s);
    out.allocator.alloc_fn = plain_alloc;
    out.allocator.free_fn = plain_free;
    al = counting_allocator(fa);

    memset(&md, 0, sizeof md);
    md.allocator = al;
    md.clock.wall_ms_fn = fc_wall;
    md.clock.mono_ns_fn = fc_mono;
    md.clock.user_data = &fc;
    rc = gcache_remote_memory(&md, &mem);
    if (rc != GCACHE_OK) {
        if (rc != GCACHE_ENOMEM) violation(o, "gcache_remote_memory", rc);
        return;
    }
    memset(&d, 0, sizeof d);
    d.allocator = al;
    d.clock = md.clock;
    d.remote = mem;
    d.enabled_by_default = 1;
    rc = gcache_create(&d, &gc);
    if (rc != GCACHE_OK) {
        if (rc != GCACHE_ENOMEM) violation(o, "gcache_create", rc);
        if (gc != NULL) violation(o, "a failed gcache_create left *out set", rc);
        mem.destroy(mem.ctx); /* a failed create leaves the remote to the caller */
        return;
    }
    memset(&u, 0, sizeof u);
    u.name = "GetUser";
    u.key_type = "user_id";
    u.track_for_invalidation = 1;
    u.default_config.ttl_sec[GCACHE_LOCAL] = 60;
    u.default_config.ramp[GCACHE_LOCAL] = 100;
    u.default_config.ttl_sec[GCACHE_REMOTE] = 300;
    u.default_config.ramp[GCACHE_REMOTE] = 100;
    rc = gcache_register(gc, &u, &uc[0]);
    EXPECT_OK_OR_NOMEM(o, rc, "register GetUser");
    if (rc != GCACHE_OK) uc[0] = NULL;
    u.name = "GetFlag";
    u.key_type = "flag";
    u.track_for_invalidation = 0;
    rc = gcache_register(gc, &u, &uc[1]);
    EXPECT_OK_OR_NOMEM(o, rc, "register GetFlag");
    if (rc != GCACHE_OK) uc[1] = NULL;
    rc = gcache_config_load_json(gc, json, sizeof json - 1);
    EXPECT_OK_OR_NOMEM(o, rc, "gcache_config_load_json");

    /* gets: miss (fetch, fill remote + local), local hit, remote hit after a local expiry */
    for (j = 0; j < 3; j++) {
        if (j == 2) fc.mono_ns += 61ULL * 1000000000ULL; /* local ttls over, remote ones not */
        for (i = 0; i < 2; i++) {
            gcache_key k;
            if (!uc[i]) continue;
            gcache_key_init_int(&k, uc[i], 1);
            rc = gcache_get(gc, &k, fetch, &s, &out);
            if (rc != GCACHE_OK || !value_is(&out, &k, 0)) violation(o, "gcache_get returned something else", rc);
            gcache_key_init_int(&k, uc[i], 2);
            gcache_key_add(&k, "page", "x");
            rc = gcache_get(gc, &k, fetch, &s, &out);
            if (rc != GCACHE_OK || !value_is(&out, &k, 0)) violation(o, "gcache_get (with an arg)", rc);
        }
    }
    if (uc[0]) { /* NOT_FOUND, negatively cached */
        gcache_key k;
        gcache_key_init_int(&k, uc[0], 3);
        for (j = 0; j < 2; j++) {
            rc = gcache_get(gc, &k, fetch_missing, NULL, &out);
            if (rc != GCACHE_NOT_FOUND || out.len != 0) violation(o, "gcache_get NOT_FOUND", rc);
        }
    }
    /* invalidate, then the new version */
    s.version = 1;
    fc.wall_ms += 5;
    rc = gcache_invalidate(gc, "user_id", "1", 0);
    EXPECT_OK_OR_NOMEM(o, rc, "gcache_invalidate");
    fc.wall_ms += 5;
    if (uc[0]) {
        gcache_key k;
        int inv_ok = rc == GCACHE_OK;
        gcache_key_init_int(&k, uc[0], 1);
        rc = gcache_get(gc, &k, fetch, &s, &out);
        if (rc != GCACHE_OK || !(value_is(&out, &k, 1) || (!inv_ok && value_is(&out, &k, 0))))
            violation(o, "gcache_get after an invalidation returned an old or wrong value", rc);
    }
    /* delete, flush */
    if (uc[1]) {
        gcache_key k;
        gcache_key_init_int(&k, uc[1], 2);
        gcache_key_add(&k, "page", "x");
        EXPECT_OK_OR_NOMEM(o, gcache_delete(gc, &k), "gcache_delete");
        rc = gcache_get(gc, &k, fetch, &s, &out);
        if (rc != GCACHE_OK || !value_is(&out, &k, 1)) violation(o, "gcache_get after delete", rc);
    }
    EXPECT_OK_OR_NOMEM(o, gcache_flush(gc), "gcache_flush");
    for (i = 0; i < 2; i++) {
        gcache_key k;
        if (!uc[i]) continue;
        gcache_key_init_int(&k, uc[i], 1);
        rc = gcache_get(gc, &k, fetch, &s, &out);
        if (rc != GCACHE_OK || !value_is(&out, &k, 1)) violation(o, "gcache_get after flush", rc);
    }
    /* stats, metrics, config dump */
    {
        gcache_stats st;
        EXPECT_OK_OR_NOMEM(o, gcache_stats_get(gc, NULL, GCACHE_LOCAL, &st), "gcache_stats_get(NULL)");
        if (uc[0]) EXPECT_OK_OR_NOMEM(o, gcache_stats_get(gc, "GetUser", GCACHE_REMOTE, &st), "gcache_stats_get");
    }
    rc = gcache_metrics_prometheus(gc, text, sizeof text);
    if (rc < 0 && rc != GCACHE_ENOMEM) violation(o, "gcache_metrics_prometheus", rc);
    if (rc >= 0 && (size_t)rc >= sizeof text) violation(o, "metrics text larger than 64 KiB?", rc);
    rc = gcache_config_dump_json(gc, text, sizeof text);
    if (rc < 0 && rc != GCACHE_ENOMEM) violation(o, "gcache_config_dump_json", rc);
    gcache_destroy(gc);
    gcache_buf_free(&out);
}

static void sweep(int persistent) {
    long n, runs = 0, violations = 0, leaks = 0, total = 0;
    const char *mode = persistent ? "every allocation from the Nth on fails" : "the Nth allocation fails";
    for (n = 1; n < 100000; n++) {
        counting_alloc fa;
        outcome o;
        ca_init(&fa);
        memset(&o, 0, sizeof o);
        fa.fail_at = n;
        fa.persistent = persistent;
        run_scenario(&fa, &o);
        runs++;
        if (o.bad) {
            if (violations++ < 5) TAP_DIAG("%s, N = %ld: %d violation(s), first: %s", mode, n, o.bad, o.first);
        }
        if (fa.live != 0) {
            if (leaks++ < 5) TAP_DIAG("%s, N = %ld: %ld allocation(s) leaked", mode, n, fa.live);
        }
        ca_destroy(&fa);
        if (fa.failures == 0) {
            total = fa.calls;
            break;
        }
    }
    TAP_OK(total > 0, "%s: the sweep reached a run with no injected failure (%ld allocations, %ld runs)", mode, total,
           runs);
    TAP_IS_INT(violations, 0, "allocation failures never change what gcache_get returns; calls give OK or ENOMEM");
    TAP_IS_INT(leaks, 0, "nothing leaked after any allocation failure");
}

int main(void) {
    /* the scenario without failures first: it must be clean */
    {
        counting_alloc fa;
        outcome o;
        ca_init(&fa);
        memset(&o, 0, sizeof o);
        run_scenario(&fa, &o);
        TAP_IS_INT(o.bad, 0, "the scenario passes with no allocation failure");
        if (o.bad) TAP_DIAG("first violation: %s", o.first);
        TAP_IS_INT(fa.live, 0, "and frees everything");
        TAP_OK(fa.calls > 10, "it allocates (%ld times)", fa.calls);
        ca_destroy(&fa);
    }
    sweep(0);
    sweep(1);
    return TAP_DONE();
}
