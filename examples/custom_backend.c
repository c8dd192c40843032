/* custom_backend.c -- write your own gcache remote backend.

   gcache talks to its second layer only through the gcache_remote vtable (mget, release,
   set, del, flush_prefix, and optionally publish/subscribe and destroy), so anything that
   can store bytes under a key can be that layer: Redis (gcache_redis.h), a file, shared
   memory, an EEPROM page, ... This example is the firmware case: a fixed array of slots
   in static memory, no malloc, TTLs on the device's millisecond tick. It plugs the
   backend into gcache and shows a miss (the fetch runs and the value lands in a slot)
   and then a hit served from the slot.

   Build and run:
       cc -O2 -pthread -I. examples/custom_backend.c -o custom_backend && ./custom_backend
   (also builds as C++: c++ -x c++ ...)

   The backend (between the BEGIN/END markers) is what you copy. Its rules, from the
   vtable's contract:
   - mget fills vals[i] for each key: ptr NULL = missing, else the bytes (an empty value is
     a non-NULL ptr with len 0). The slices here point straight into the slots, so there
     is nothing to release (release = NULL). That is safe because this store is used by
     one thread, as on a single-core device; with threads, copy the values into a reply
     buffer and free it in release(), or lock around each call.
   - set stores a copy with a TTL in seconds (>= 1); when every slot is taken it evicts
     (expired slots first, then round robin): a cache may forget, never lie.
   - del of an absent key and flush_prefix of an unknown prefix return 0.
   - errors are negative gcache statuses (GCACHE_ETOOBIG here for a key or value that
     does not fit a slot); the core fails open and counts them.
   - publish/subscribe let several gcache instances in one program (sharing this store,
     desc.keep_remote = 1) hear each other's invalidations.
   tests/test_custom_backend.c runs the backend conformance suite (tests/conformance.h)
   against exactly this code. */
#define GCACHE_IMPLEMENTATION
#include "gcache.h"

#include <stdio.h>
#include <string.h>

/* ==== BEGIN slot_store: a fixed-slot gcache_remote =================================== */
#ifndef SLOT_STORE_SLOTS
#define SLOT_STORE_SLOTS 16        /* how many values it holds */
#endif
#ifndef SLOT_STORE_KEY_MAX
#define SLOT_STORE_KEY_MAX 96      /* longest key, bytes */
#endif
#ifndef SLOT_STORE_VALUE_MAX
#define SLOT_STORE_VALUE_MAX 128   /* longest value, bytes (gcache adds a 20-byte envelope) */
#endif
#define SLOT_STORE_LISTENERS 4

typedef struct slot_store_slot {
    int used;
    unsigned long long expire_ns; /* on the store's monotonic clock */
    size_t klen, vlen;
    char key[SLOT_STORE_KEY_MAX];
    char val[SLOT_STORE_VALUE_MAX];
} slot_store_slot;

typedef struct slot_store {
    slot_store_slot slots[SLOT_STORE_SLOTS];
    unsigned next_victim;
    gcache_clock clock;
    struct {
        void (*fn)(void *u, gcache_slice key_type_id, long long watermark_ms);
        void *u;
    } listeners[SLOT_STORE_LISTENERS];
} slot_store;

static unsigned long long slot_store_now(const slot_store *st) { return st->clock.mono_ns_fn(st->clock.user_data); }

static slot_store_slot *slot_store_find(slot_store *st, gcache_slice key, unsigned long long now) {
    size_t i;
    for (i = 0; i < SLOT_STORE_SLOTS; i++) {
        slot_store_slot *s = &st->slots[i];
        if (!s->used) continue;
        if (s->expire_ns <= now) { /* expired: free the slot on the way */
            s->used = 0;
            continue;
        }
        if (s->klen == key.len && (key.len == 0 || memcmp(s->key, key.ptr, key.len) == 0)) return s;
    }
    return NULL;
}

static int slot_store_mget(void *ctx, const gcache_slice *keys, size_t n, gcache_slice *vals, void **reply) {
    slot_store *st = (slot_store *)ctx;
    unsigned long long now = slot_store_now(st);
    size_t i;
    *reply = NULL; /* nothing to release: the slices point into the slots */
    for (i = 0; i < n; i++) {
        slot_store_slot *s = slot_store_find(st, keys[i], now);
        vals[i].ptr = s ? s->val : NULL;
        vals[i].len = s ? s->vlen : 0;
    }
    return 0;
}

static int slot_store_set(void *ctx, gcache_slice key, gcache_slice val, int ttl_sec) {
    slot_store *st = (slot_store *)ctx;
    unsigned long long now = slot_store_now(st);
    slot_store_slot *s;
    size_t i;
    if (key.len > SLOT_STORE_KEY_MAX || val.len > SLOT_STORE_VALUE_MAX) return GCACHE_ETOOBIG;
    if (ttl_sec < 1) ttl_sec = 1;
    s = slot_store_find(st, key, now);
    for (i = 0; !s && i < SLOT_STORE_SLOTS; i++) /* a free (or just expired) slot */
        if (!st->slots[i].used) s = &st->slots[i];
    if (!s) { /* full: evict round robin */
        s = &st->slots[st->next_victim];
        st->next_victim = (st->next_victim + 1) % SLOT_STORE_SLOTS;
    }
    s->used = 1;
    s->expire_ns = now + (unsigned long long)ttl_sec * 1000000000ULL;
    s->klen = key.len;
    s->vlen = val.len;
    if (key.len) memcpy(s->key, key.ptr, key.len);
    if (val.len) memcpy(s->val, val.ptr, val.len);
    return 0;
}

static int slot_store_del(void *ctx, gcache_slice key) {
    slot_store *st = (slot_store *)ctx;
    slot_store_slot *s = slot_store_find(st, key, slot_store_now(st));
    if (s) s->used = 0;
    return 0;
}

static int slot_store_flush_prefix(void *ctx, gcache_slice prefix) {
    slot_store *st = (slot_store *)ctx;
    size_t i;
    for (i = 0; i < SLOT_STORE_SLOTS; i++) { /* a plain byte prefix: no glob characters here */
        slot_store_slot *s = &st->slots[i];
        if (s->used && s->klen >= prefix.len && (prefix.len == 0 || memcmp(s->key, prefix.ptr, prefix.len) == 0))
            s->used = 0;
    }
    return 0;
}

static int slot_store_publish(void *ctx, gcache_slice key_type_id, long long watermark_ms) {
    slot_store *st = (slot_store *)ctx;
    size_t i;
    for (i = 0; i < SLOT_STORE_LISTENERS; i++)
        if (st->listeners[i].fn) st->listeners[i].fn(st->listeners[i].u, key_type_id, watermark_ms);
    return 0;
}

static int slot_store_subscribe(void *ctx, void (*fn)(void *u, gcache_slice key_type_id, long long watermark_ms),
                                void *u) {
    slot_store *st = (slot_store *)ctx;
    size_t i;
    for (i = 0; i < SLOT_STORE_LISTENERS; i++) /* detach, or replace an existing u */
        if (st->listeners[i].fn && st->listeners[i].u == u) {
            st->listeners[i].fn = fn;
            return 0;
        }
    if (!fn) return 0;
    for (i = 0; i < SLOT_STORE_LISTENERS; i++)
        if (!st->listeners[i].fn) {
            st->listeners[i].fn = fn;
            st->listeners[i].u = u;
            return 0;
        }
    return GCACHE_ENOMEM; /* no listener slot left */
}

static void slot_store_destroy(void *ctx) {
    slot_store *st = (slot_store *)ctx;
    memset(st->listeners, 0, sizeof st->listeners); /* no callback after destroy */
}

/* Make *out a gcache_remote over st (caller's storage, e.g. a static). The clock's
   monotonic time drives the TTLs. */
static int slot_store_remote(slot_store *st, gcache_clock clock, gcache_remote *out) {
    if (!st || !out || !clock.mono_ns_fn) return GCACHE_EINVAL;
    memset(st, 0, sizeof *st);
    st->clock = clock;
    memset(out, 0, sizeof *out);
    out->ctx = st;
    out->name = "slot_store";
    out->mget = slot_store_mget;
    out->release = NULL;
    out->set = slot_store_set;
    out->del = slot_store_del;
    out->flush_prefix = slot_store_flush_prefix;
    out->publish = slot_store_publish;
    out->subscribe = slot_store_subscribe;
    out->destroy = slot_store_destroy;
    return GCACHE_OK;
}

static size_t slot_store_used(const slot_store *st) {
    size_t i, n = 0;
    unsigned long long now = slot_store_now(st);
    for (i = 0; i < SLOT_STORE_SLOTS; i++)
        if (st->slots[i].used && st->slots[i].expire_ns > now) n++;
    return n;
}
/* ==== END slot_store ================================================================== */

#ifndef CUSTOM_BACKEND_NO_MAIN
/* The device's clock: a millisecond tick the main loop advances (here: by hand). */
static unsigned long long tick_ms = 5000;
static long long device_wall_ms(void *u) {
    (void)u;
    return 1700000000000LL + (long long)tick_ms; /* set from an RTC or NTP at boot */
}
static unsigned long long device_mono_ns(void *u) {
    (void)u;
    return tick_ms * 1000000ULL;
}

static int bus_reads;

/* The real source: reading a sensor over a slow bus. */
static int read_sensor(void *user, const gcache_key *key, gcache_buf *out) {
    char text[32];
    int n;
    (void)user;
    (void)key;
    bus_reads++;
    n = snprintf(text, sizeof text, "temp=21.%d C", bus_reads);
    return gcache_buf_set(out, text, (size_t)n);
}

static slot_store store; /* static memory: the whole remote layer */

int main(void) {
    gcache_clock clock;
    gcache_remote remote;
    gcache_desc d;
    gcache *gc = NULL;
    gcache_use_case_desc u;
    gcache_use_case *sensor = NULL;
    gcache_key k;
    unsigned char storage[64];
    gcache_buf out = gcache_buf_fixed(storage, sizeof storage);
    gcache_stats st;
    int rc;

    memset(&clock, 0, sizeof clock);
    clock.wall_ms_fn = device_wall_ms;
    clock.mono_ns_fn = device_mono_ns;
    if (slot_store_remote(&store, clock, &remote) != GCACHE_OK) return 1;

    memset(&d, 0, sizeof d);
    d.remote = remote;        /* gcache_destroy will call remote.destroy */
    d.clock = clock;
    d.enabled_by_default = 1; /* this program caches everywhere; servers usually enable per request */
    d.local.max_entries = 32;
    if ((rc = gcache_create(&d, &gc)) != GCACHE_OK) {
        printf("gcache_create failed: %s\n", gcache_strerror(rc));
        return 1;
    }
    memset(&u, 0, sizeof u);
    u.name = "ReadSensor";
    u.key_type = "sensor_id";
    u.track_for_invalidation = 1;
    /* no local TTL: every read goes to the slot store, so you can see it work */
    u.default_config.ramp[GCACHE_LOCAL] = 100;
    u.default_config.ttl_sec[GCACHE_REMOTE] = 60;
    u.default_config.ramp[GCACHE_REMOTE] = 100;
    if (gcache_register(gc, &u, &sensor) != GCACHE_OK) return 1;

    gcache_key_init_int(&k, sensor, 7);
    printf("key: %s\n", gcache_key_str(&k, NULL));

    rc = gcache_get(gc, &k, read_sensor, NULL, &out);
    printf("1st read: %s \"%.*s\" - a miss: the bus was read (%d time), the value went into a slot (%lu of %d used)\n",
           gcache_strerror(rc), (int)out.len, (const char *)out.data, bus_reads, (unsigned long)slot_store_used(&store),
           SLOT_STORE_SLOTS);

    tick_ms += 2000;
    rc = gcache_get(gc, &k, read_sensor, NULL, &out);
    gcache_stats_get(gc, NULL, GCACHE_REMOTE, &st);
    printf("2nd read: %s \"%.*s\" - a hit from the slot store, the bus was not touched (still %d read); "
           "remote hits %llu\n",
           gcache_strerror(rc), (int)out.len, (const char *)out.data, bus_reads, st.hits);

    tick_ms += 61000; /* past the 60 s TTL */
    rc = gcache_get(gc, &k, read_sensor, NULL, &out);
    printf("after 61 s: %s \"%.*s\" - the slot expired, so the bus was read again (%d reads)\n", gcache_strerror(rc),
           (int)out.len, (const char *)out.data, bus_reads);

    gcache_destroy(gc);
    return bus_reads == 2 && st.hits == 1 ? 0 : 1;
}
#endif /* CUSTOM_BACKEND_NO_MAIN */
