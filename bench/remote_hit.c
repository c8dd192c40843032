/* remote_hit.c -- what the core adds on top of a remote backend on a remote hit.

   In one run, over the same in-process memory backend and the same 1,000 keys:
   (a) baseline: a bare call of the backend's mget for the 2 keys a tracked read needs
       (the value and its watermark), prebuilt, plus release();
   (b) gcache_get remote hits of a tracked use case with the local layer off (local TTL 0),
       so every call goes local-skip -> remote mget -> envelope check -> copy out.
   Prints ns/op for both and the ratio b/a (target <= 1.2). Each is measured 5 times,
   alternating, and the fastest run counts.
   Then, with the breaker open (a backend whose every call fails), the cost of a get that
   skips the remote layer (c) against a plain local miss of an instance without a remote
   (d), both ending in the same trivial fetch: ratio c/d (target: about 2 at most).

       cc -O2 -pthread -I. bench/remote_hit.c -o remote_hit && ./remote_hit [iterations]
*/
#define GCACHE_IMPLEMENTATION
#include "gcache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NKEYS 1000
#define VALUE_LEN 100

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int fetch(void *user, const gcache_key *key, gcache_buf *out) {
    unsigned char v[VALUE_LEN];
    size_t i, len;
    const char *k = gcache_key_str(key, &len);
    (void)user;
    for (i = 0; i < VALUE_LEN; i++) v[i] = (unsigned char)(k[i % len] + i);
    return gcache_buf_set(out, v, sizeof v);
}

/* A backend that fails every call, so the breaker opens and stays open. */
static int dead_mget(void *ctx, const gcache_slice *k, size_t n, gcache_slice *v, void **reply) {
    (void)ctx; (void)k; (void)n; (void)v; *reply = NULL;
    return GCACHE_EBACKEND;
}
static int dead_set(void *ctx, gcache_slice k, gcache_slice v, int ttl) { (void)ctx; (void)k; (void)v; (void)ttl; return GCACHE_EBACKEND; }
static int dead_del(void *ctx, gcache_slice k) { (void)ctx; (void)k; return GCACHE_EBACKEND; }
static int dead_flush(void *ctx, gcache_slice p) { (void)ctx; (void)p; return GCACHE_EBACKEND; }
static int tiny_fetch(void *user, const gcache_key *key, gcache_buf *out) {
    (void)user; (void)key;
    return gcache_buf_set(out, "v", 1);
}

/* ns per get of distinct keys (every one a local miss, then the fetch and a local fill):
   local_only = 0: a dead remote behind an open breaker; 1: no remote at all. */
static double breaker_open_ns(long iters, int local_only) {
    gcache_desc d;
    gcache *gc = NULL;
    gcache_use_case_desc u;
    gcache_use_case *uc = NULL;
    gcache_key k;
    unsigned char storage[16];
    gcache_buf out = gcache_buf_fixed(storage, sizeof storage);
    double best = 1e30;
    long i;
    int round;
    memset(&d, 0, sizeof d);
    d.enabled_by_default = 1;
    d.breaker.cooldown_ms = 1000000; /* stays open for the whole run */
    if (!local_only) {
        d.remote.mget = dead_mget;
        d.remote.set = dead_set;
        d.remote.del = dead_del;
        d.remote.flush_prefix = dead_flush;
    }
    if (gcache_create(&d, &gc) != GCACHE_OK) return 0;
    memset(&u, 0, sizeof u);
    u.name = "Breaker";
    u.key_type = "user_id";
    u.default_config.ttl_sec[GCACHE_LOCAL] = 60;
    u.default_config.ramp[GCACHE_LOCAL] = 100;
    u.default_config.ttl_sec[GCACHE_REMOTE] = 300;
    u.default_config.ramp[GCACHE_REMOTE] = 100;
    gcache_register(gc, &u, &uc);
    for (i = 0; i < 10; i++) { /* open the breaker */
        gcache_key_init_int(&k, uc, -1 - i);
        gcache_get(gc, &k, tiny_fetch, NULL, &out);
    }
    for (round = 0; round < 5; round++) {
        double t0, t1;
        gcache_flush(gc);
        t0 = now_ns();
        for (i = 0; i < iters; i++) {
            gcache_key_init_int(&k, uc, (long long)round * iters + i); /* always a local miss */
            gcache_get(gc, &k, tiny_fetch, NULL, &out);
        }
        t1 = now_ns();
        if ((t1 - t0) / (double)iters < best) best = (t1 - t0) / (double)iters;
    }
    gcache_destroy(gc);
    return best;
}

int main(int argc, char **argv) {
    long iters = argc > 1 ? atol(argv[1]) : 2000000;
    gcache_remote mem;
    gcache_desc d;
    gcache *gc = NULL;
    gcache_use_case_desc u;
    gcache_use_case *uc = NULL;
    gcache_key *keys;
    gcache_slice (*pairs)[2];
    char (*wm_keys)[GCACHE_KEY_MAX + 16];
    gcache_buf out;
    double best_a = 1e30, best_b = 1e30;
    unsigned long long sink = 0;
    long i;
    int round, rc;

    if (iters < NKEYS) iters = NKEYS;
    if (gcache_remote_memory(NULL, &mem) != GCACHE_OK) return 1;
    memset(&d, 0, sizeof d);
    d.remote = mem;
    d.keep_remote = 1;
    d.enabled_by_default = 1;
    if (gcache_create(&d, &gc) != GCACHE_OK) return 1;
    memset(&u, 0, sizeof u);
    u.name = "GetUser";
    u.key_type = "user_id";
    u.track_for_invalidation = 1;
    u.default_config.ramp[GCACHE_LOCAL] = 100; /* local ttl 0: the local layer is off */
    u.default_config.ttl_sec[GCACHE_REMOTE] = 3600;
    u.default_config.ramp[GCACHE_REMOTE] = 100;
    if (gcache_register(gc, &u, &uc) != GCACHE_OK) return 1;

    keys = (gcache_key *)malloc(NKEYS * sizeof *keys);
    pairs = (gcache_slice(*)[2])malloc(NKEYS * sizeof *pairs);
    wm_keys = (char(*)[GCACHE_KEY_MAX + 16])malloc(NKEYS * sizeof *wm_keys);
    if (!keys || !pairs || !wm_keys) return 1;
    memset(&out, 0, sizeof out);
    for (i = 0; i < NKEYS; i++) {
        size_t len;
        const char *ks;
        gcache_key_init_int(&keys[i], uc, 100000 + i);
        ks = gcache_key_str(&keys[i], &len);
        pairs[i][0].ptr = ks;
        pairs[i][0].len = len;
        /* "{urn:user_id:N}#GetUser" -> "{urn:user_id:N}#watermark" */
        {
            const char *hash = strchr(ks, '#');
            size_t head = (size_t)(hash - ks);
            memcpy(wm_keys[i], ks, head);
            memcpy(wm_keys[i] + head, "#watermark", 10);
            pairs[i][1].ptr = wm_keys[i];
            pairs[i][1].len = head + 10;
        }
        rc = gcache_get(gc, &keys[i], fetch, NULL, &out); /* fills the backend */
        if (rc != GCACHE_OK) return 1;
    }
    /* every key is now a remote hit */
    {
        gcache_stats st;
        long before_misses;
        gcache_stats_get(gc, NULL, GCACHE_REMOTE, &st);
        before_misses = (long)st.misses;
        for (i = 0; i < NKEYS; i++) gcache_get(gc, &keys[i], fetch, NULL, &out);
        gcache_stats_get(gc, NULL, GCACHE_REMOTE, &st);
        if ((long)st.misses != before_misses) {
            printf("setup error: not every key is a remote hit\n");
            return 1;
        }
    }

    for (round = 0; round < 5; round++) {
        double t0, t1, a, b;
        t0 = now_ns();
        for (i = 0; i < iters; i++) {
            gcache_slice vals[2];
            void *reply = NULL;
            const gcache_slice *k = pairs[i % NKEYS];
            if (mem.mget(mem.ctx, k, 2, vals, &reply) == 0) {
                sink += vals[0].len;
                if (reply && mem.release) mem.release(mem.ctx, reply);
            }
        }
        t1 = now_ns();
        a = (t1 - t0) / (double)iters;
        t0 = now_ns();
        for (i = 0; i < iters; i++) {
            if (gcache_get(gc, &keys[i % NKEYS], fetch, NULL, &out) == GCACHE_OK) sink += out.len;
        }
        t1 = now_ns();
        b = (t1 - t0) / (double)iters;
        if (a < best_a) best_a = a;
        if (b < best_b) best_b = b;
    }
    printf("remote hit through the memory backend, %d keys, %d-byte values, %ld iterations, best of 5:\n", NKEYS,
           VALUE_LEN, iters);
    printf("  (a) bare backend mget of value + watermark : %8.1f ns/op\n", best_a);
    printf("  (b) gcache_get remote hit (tracked)        : %8.1f ns/op\n", best_b);
    printf("  ratio b/a: %.2f (target <= 1.2)\n", best_b / best_a);
    {   /* (c) breaker open vs (d) a local miss without a remote */
        double c = breaker_open_ns(iters / 4, 0), dd = breaker_open_ns(iters / 4, 1);
        printf("breaker open, %ld iterations, best of 5:\n", iters / 4);
        printf("  (c) gcache_get with the remote layer skipped (server_down) : %8.1f ns/op\n", c);
        printf("  (d) gcache_get local miss, no remote layer                 : %8.1f ns/op\n", dd);
        printf("  ratio c/d: %.2f (target: about 2 at most)\n", c / dd);
    }
    if (sink == 42) printf("\n"); /* keep the loops */
    gcache_buf_free(&out);
    gcache_destroy(gc);
    mem.destroy(mem.ctx);
    free(keys);
    free(pairs);
    free(wm_keys);
    return 0;
}
