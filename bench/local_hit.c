/* bench/local_hit.c -- what a local hit costs, against a bare hash table.

   Built by meson with -O2 (not a test). In one process it times
     (a) a bare open-addressing hash table: power-of-two capacity, linear
         probing, a per-lookup hash of a prebuilt 32-byte key (FNV-1a over
         64-bit words plus a final mix), a key compare and a copy of the
         100-byte value out;
     (b) gcache_get local hits on the same keys (the same 32 key bytes, built
         once as gcache_key values; 100-byte values; caching enabled, ramp 100,
         a long TTL, a fixed 128-byte output buffer),
     (c) the same, but with the gcache_key built on the stack for every call
         from the request's 20-byte id, as a server does (key building included),
   first with 1,000 hot keys, then with 100,000 keys. Both walk the same
   precomputed pseudo-random sequence of key indices (16,384 long for the hot
   keys, so it stays in cache; 1,048,576 long for 100,000 keys). Each measurement runs
   several times and the best (minimum) ns/op is reported, with the ratio
   gcache / bare. Targets (printed, not enforced): ratio <= 2.0 with the hot
   keys and <= 1.5 with 100,000 keys.

   Machine-readable lines:
     RESULT hot keys=1000 bare_ns=.. gcache_ns=.. ratio=.. target=2.0
     RESULT 100k keys=100000 bare_ns=.. gcache_ns=.. ratio=.. target=1.5

   Usage: local_hit [runs]   (default 7)
*/
#define GCACHE_IMPLEMENTATION
#include "../gcache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KEY_LEN 32
#define VAL_LEN 100
#define SEQ_MAX (1u << 20) /* longest precomputed access sequence (key indices) */

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* ---- (a) the bare table --------------------------------------------------------- */
typedef struct bare_slot {
    unsigned long long hash; /* 0 = empty */
    unsigned char key[KEY_LEN];
    unsigned char val[VAL_LEN];
} bare_slot;

typedef struct bare_table {
    bare_slot *slots;
    size_t mask;
} bare_table;

static unsigned long long load64(const unsigned char *p) {
    unsigned long long v;
    memcpy(&v, p, 8);
    return v;
}

/* FNV-1a over 64-bit words, then a final avalanche (so the low bits used for the
   slot index depend on every key byte). */
static unsigned long long bare_hash(const unsigned char *key) {
    unsigned long long h = 0xcbf29ce484222325ULL;
    size_t i;
    for (i = 0; i < KEY_LEN; i += 8) {
        h ^= load64(key + i);
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h | 1; /* never 0: 0 marks an empty slot */
}

static int bare_init(bare_table *t, size_t n) {
    size_t cap = 16;
    while (cap < 2 * n) cap <<= 1; /* load factor <= 0.5 */
    t->slots = (bare_slot *)calloc(cap, sizeof(bare_slot));
    t->mask = cap - 1;
    return t->slots != NULL;
}

static void bare_put(bare_table *t, const unsigned char *key, const unsigned char *val) {
    unsigned long long h = bare_hash(key);
    size_t i = (size_t)h & t->mask;
    while (t->slots[i].hash != 0) i = (i + 1) & t->mask;
    t->slots[i].hash = h;
    memcpy(t->slots[i].key, key, KEY_LEN);
    memcpy(t->slots[i].val, val, VAL_LEN);
}

static int bare_get(const bare_table *t, const unsigned char *key, unsigned char *out) {
    unsigned long long h = bare_hash(key);
    size_t i = (size_t)h & t->mask;
    for (;;) {
        const bare_slot *s = &t->slots[i];
        if (s->hash == 0) return 0;
        if (s->hash == h && memcmp(s->key, key, KEY_LEN) == 0) {
            memcpy(out, s->val, VAL_LEN);
            return 1;
        }
        i = (i + 1) & t->mask;
    }
}

/* ---- (b) gcache ------------------------------------------------------------------ */
static unsigned char g_value_template[VAL_LEN];

static int bench_fetch(void *user, const gcache_key *key, gcache_buf *out) {
    (void)user; (void)key;
    return gcache_buf_set(out, g_value_template, VAL_LEN);
}

/* ---- the run ------------------------------------------------------------------- */
static unsigned int g_seq[SEQ_MAX];

static unsigned long long xorshift64(unsigned long long *s) {
    unsigned long long x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

/* volatile sink so the compiler keeps every copy */
static volatile unsigned long long g_sink;

static int run(const char *label, size_t nkeys, size_t ops, int runs, double target) {
    gcache *gc = NULL;
    gcache_desc d;
    gcache_use_case_desc ud;
    gcache_use_case *uc = NULL;
    gcache_key *keys;
    unsigned char (*raw)[KEY_LEN];
    bare_table table;
    unsigned char out_storage[128];
    unsigned char bare_out[VAL_LEN];
    gcache_buf out;
    gcache_stats before, after;
    unsigned long long rng = 0x9e3779b97f4a7c15ULL ^ (unsigned long long)nkeys;
    double best_bare = 1e30, best_gc = 1e30, best_stack = 1e30;
    char (*ids)[24];
    /* The hot set gets a short sequence (64 KiB, stays in cache next to the table);
       100,000 keys get one long enough to touch every key many times. */
    size_t seq_mask = (nkeys <= 10000 ? ((size_t)1 << 14) : (size_t)SEQ_MAX) - 1;
    size_t i;
    int r, rc, status = 0;

    keys = (gcache_key *)malloc(nkeys * sizeof(gcache_key));
    raw = (unsigned char (*)[KEY_LEN])malloc(nkeys * KEY_LEN);
    ids = (char (*)[24])malloc(nkeys * 24);
    if (!keys || !raw || !ids || !bare_init(&table, nkeys)) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }

    memset(&d, 0, sizeof d);
    d.local.max_entries = nkeys * 2 > 100000 ? nkeys * 2 : 100000;
    rc = gcache_create(&d, &gc);
    if (rc != GCACHE_OK) {
        fprintf(stderr, "gcache_create: %s\n", gcache_strerror(rc));
        return 1;
    }
    memset(&ud, 0, sizeof ud);
    ud.name = "Bench";
    ud.key_type = "k";
    ud.default_config.ttl_sec[GCACHE_LOCAL] = 86400;
    ud.default_config.ramp[GCACHE_LOCAL] = 100;
    rc = gcache_register(gc, &ud, &uc);
    if (rc != GCACHE_OK) {
        fprintf(stderr, "gcache_register: %s\n", gcache_strerror(rc));
        return 1;
    }

    /* The same 32 bytes in both: "urn:k:" + a 20-digit id + "#Bench". */
    for (i = 0; i < nkeys; i++) {
        char id[32];
        size_t len = 0;
        const char *s;
        sprintf(id, "%020lu", (unsigned long)(i * 2654435761u % 4000000000u));
        memcpy(ids[i], id, 21);
        gcache_key_init(&keys[i], uc, id);
        s = gcache_key_str(&keys[i], &len);
        if (!s || len != KEY_LEN) {
            fprintf(stderr, "unexpected key length %lu\n", (unsigned long)len);
            return 1;
        }
        memcpy(raw[i], s, KEY_LEN);
        g_value_template[i % VAL_LEN] = (unsigned char)i;
        bare_put(&table, raw[i], g_value_template);
    }
    for (i = 0; i <= seq_mask; i++) g_seq[i] = (unsigned int)(xorshift64(&rng) % nkeys);

    /* Warm gcache: every key is fetched once and stays cached. */
    out = gcache_buf_fixed(out_storage, sizeof out_storage);
    gcache_enable(1);
    for (i = 0; i < nkeys; i++) {
        rc = gcache_get(gc, &keys[i], bench_fetch, NULL, &out);
        if (rc != GCACHE_OK || out.len != VAL_LEN) {
            fprintf(stderr, "warm-up get failed: %s\n", gcache_strerror(rc));
            return 1;
        }
    }
    gcache_stats_get(gc, NULL, GCACHE_LOCAL, &before);

    for (r = 0; r < runs; r++) {
        unsigned long long sum = 0;
        double t0, t1;

        t0 = now_ns();
        for (i = 0; i < ops; i++) {
            size_t k = g_seq[i & seq_mask];
            sum += (unsigned long long)bare_get(&table, raw[k], bare_out);
            sum += bare_out[i & 63];
        }
        t1 = now_ns();
        g_sink += sum;
        if ((t1 - t0) / (double)ops < best_bare) best_bare = (t1 - t0) / (double)ops;

        sum = 0;
        t0 = now_ns();
        for (i = 0; i < ops; i++) {
            size_t k = g_seq[i & seq_mask];
            sum += (unsigned long long)gcache_get(gc, &keys[k], bench_fetch, NULL, &out);
            sum += out.data[i & 63];
        }
        t1 = now_ns();
        g_sink += sum;
        if ((t1 - t0) / (double)ops < best_gc) best_gc = (t1 - t0) / (double)ops;

        /* (c) what a server does: build the key on the stack from the request's id */
        sum = 0;
        t0 = now_ns();
        for (i = 0; i < ops; i++) {
            size_t k = g_seq[i & seq_mask];
            gcache_key key;
            gcache_key_init(&key, uc, ids[k]);
            sum += (unsigned long long)gcache_get(gc, &key, bench_fetch, NULL, &out);
            sum += out.data[i & 63];
        }
        t1 = now_ns();
        g_sink += sum;
        if ((t1 - t0) / (double)ops < best_stack) best_stack = (t1 - t0) / (double)ops;
    }
    gcache_stats_get(gc, NULL, GCACHE_LOCAL, &after);

    printf("%s: %lu keys, %lu lookups per run, best of %d runs\n", label, (unsigned long)nkeys,
           (unsigned long)ops, runs);
    printf("  bare table (linear probing, FNV-1a words, 32-byte key, 100-byte copy): %7.1f ns/op\n",
           best_bare);
    printf("  gcache_get local hit:                                                 %7.1f ns/op\n",
           best_gc);
    printf("  ratio gcache/bare: %.2f (target <= %.1f)%s\n", best_gc / best_bare, target,
           best_gc / best_bare <= target ? "" : "  ABOVE TARGET");
    printf("  gcache_key built per request on the stack + gcache_get:              %7.1f ns/op (ratio %.2f)\n",
           best_stack, best_stack / best_bare);
    if (after.misses != before.misses || after.hits - before.hits != 2ULL * runs * ops) {
        printf("  WARNING: not all timed calls were local hits (hits +%llu, misses +%llu)\n",
               after.hits - before.hits, after.misses - before.misses);
        status = 1;
    }
    printf("RESULT %s keys=%lu bare_ns=%.2f gcache_ns=%.2f ratio=%.3f stack_key_ns=%.2f stack_ratio=%.3f target=%.1f\n",
           label, (unsigned long)nkeys, best_bare, best_gc, best_gc / best_bare, best_stack, best_stack / best_bare, target);
    fflush(stdout);

    gcache_enable(-1);
    gcache_destroy(gc);
    free(table.slots);
    free(raw);
    free(ids);
    free(keys);
    return status;
}

int main(int argc, char **argv) {
    int runs = argc > 1 ? atoi(argv[1]) : 7;
    int status = 0;
    if (runs < 1) runs = 1;
    printf("gcache %d.%d.%d local-hit benchmark (reference: the Python gcache takes 13.5 us per local hit)\n",
           GCACHE_VERSION_MAJOR, GCACHE_VERSION_MINOR, GCACHE_VERSION_PATCH);
    status |= run("hot", 1000, (size_t)1 << 21, runs, 2.0);
    status |= run("100k", 100000, (size_t)1 << 21, runs, 1.5);
    printf("(ns/op is the best run; compare ratios, not absolute numbers, across machines)\n");
    return status;
}
