/* The user-written fixed-slot backend of examples/custom_backend.c passes the backend
   conformance suite and works under gcache (a miss, then a hit through it; the slot bound
   holds). The example is included with its main() left out and its slots made big enough
   for the suite's 1 MiB value (static memory: 32 slots x ~1 MiB). */
#define CUSTOM_BACKEND_NO_MAIN
#define SLOT_STORE_SLOTS 32
#define SLOT_STORE_KEY_MAX 256
#define SLOT_STORE_VALUE_MAX ((1 << 20) + 64)
#include "../examples/custom_backend.c" /* defines GCACHE_IMPLEMENTATION, includes gcache.h */
#include "tap.h"
#include "testutil.h"
#include "conformance.h"

#include <time.h>

static long long real_wall_ms(void *u) {
    struct timespec ts;
    (void)u;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
static unsigned long long real_mono_ns(void *u) {
    struct timespec ts;
    (void)u;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec;
}


static slot_store store;

static int fetch(void *user, const gcache_key *key, gcache_buf *out) {
    int *calls = (int *)user;
    size_t len;
    const char *k = gcache_key_str(key, &len);
    (*calls)++;
    gcache_buf_set(out, "v:", 2);
    return gcache_buf_append(out, k, len);
}

int main(void) {
    gcache_clock clock;
    gcache_remote r;
    memset(&clock, 0, sizeof clock);
    clock.wall_ms_fn = real_wall_ms;
    clock.mono_ns_fn = real_mono_ns;
    if (!TAP_IS_INT(slot_store_remote(&store, clock, &r), GCACHE_OK, "slot_store_remote")) return TAP_DONE();
    TAP_IS_INT(gcache_conformance_run(&r, "slot_store"), 0, "the example's fixed-slot backend passes the conformance suite");
    r.destroy(r.ctx);

    /* under gcache, with a fake clock */
    {
        fake_clock fc = {1700000000000LL, 1000000000ULL};
        gcache_desc d;
        gcache *gc = NULL;
        gcache_use_case_desc u;
        gcache_use_case *uc = NULL;
        gcache_key k;
        gcache_buf out = {0};
        gcache_stats st;
        int calls = 0, rc, i, bound_ok = 1;
        clock.wall_ms_fn = fc_wall;
        clock.mono_ns_fn = fc_mono;
        clock.user_data = &fc;
        slot_store_remote(&store, clock, &r);
        memset(&d, 0, sizeof d);
        d.remote = r;
        d.clock = clock;
        d.enabled_by_default = 1;
        TAP_IS_INT(gcache_create(&d, &gc), GCACHE_OK, "gcache over the slot store");
        memset(&u, 0, sizeof u);
        u.name = "ReadSensor";
        u.key_type = "sensor_id";
        u.track_for_invalidation = 1;
        u.default_config.ramp[GCACHE_LOCAL] = 100; /* local ttl 0: every read reaches the store */
        u.default_config.ttl_sec[GCACHE_REMOTE] = 60;
        u.default_config.ramp[GCACHE_REMOTE] = 100;
        gcache_register(gc, &u, &uc);
        gcache_key_init_int(&k, uc, 7);
        rc = gcache_get(gc, &k, fetch, &calls, &out);
        TAP_OK(rc == GCACHE_OK && calls == 1, "slot store: a miss fetches");
        TAP_IS_INT(slot_store_used(&store), 1, "slot store: the value went into one slot");
        rc = gcache_get(gc, &k, fetch, &calls, &out);
        gcache_stats_get(gc, NULL, GCACHE_REMOTE, &st);
        TAP_OK(rc == GCACHE_OK && calls == 1 && st.hits == 1, "slot store: then a hit through it");
        TAP_IS_MEM(out.data, out.len, "v:{urn:sensor_id:7}#ReadSensor", 30, "slot store: the value");
        /* invalidation goes through the store's pub/sub and watermark slot */
        fc.wall_ms += 1;
        TAP_IS_INT(gcache_invalidate(gc, "sensor_id", "7", 0), GCACHE_OK, "invalidate through the slot store");
        fc.wall_ms += 1;
        rc = gcache_get(gc, &k, fetch, &calls, &out);
        TAP_OK(rc == GCACHE_OK && calls == 2, "slot store: after an invalidation the value is fetched again");
        /* more keys than slots: the store evicts, values stay right */
        for (i = 0; i < 200; i++) {
            gcache_key ki;
            gcache_key_init_int(&ki, uc, 1000 + i);
            rc = gcache_get(gc, &ki, fetch, &calls, &out);
            if (rc != GCACHE_OK || out.len < 2 || memcmp(out.data, "v:", 2) != 0) bound_ok = 0;
            if (slot_store_used(&store) > SLOT_STORE_SLOTS) bound_ok = 0;
        }
        TAP_OK(bound_ok, "slot store: 200 keys through 32 slots, values right, bound held");
        fc.mono_ns += 61ULL * 1000000000ULL;
        TAP_IS_INT(slot_store_used(&store), 0, "slot store: everything expires after the 60 s TTL");
        gcache_buf_free(&out);
        gcache_destroy(gc); /* calls the store's destroy */
    }
    return TAP_DONE();
}
