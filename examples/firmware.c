/* examples/firmware.c -- gcache on a microcontroller: no threads, no heap, no OS.

   A sensor node reads slow sensors (a few ms per I2C transaction) far more
   often than their values change. It caches the readings with gcache:
     - GCACHE_NO_THREADS: no pthreads, no atomics, no locks;
     - every byte comes from a static pool through desc.allocator (a small
       bump + free-list allocator); after start-up nothing calls malloc: this
       file turns malloc/calloc/realloc/free into traps and checks at the end
       that the pool hook was the only allocator used and got all memory back;
     - desc.clock is a tick counter advanced by the main loop (as a SysTick
       interrupt would), so TTLs run on ticks, not on an OS clock;
     - the remote layer is a tiny custom backend: an array of fixed slots
       standing in for external flash (or a peer MCU), implementing
       mget/set/del/flush_prefix;
     - "not found" (a sensor that is not fitted) is cached too
       (negative_ttl_sec), so the bus is not probed on every loop.

   On the host (the tests run it):
       cc -std=c99 -O2 examples/firmware.c -o firmware && ./firmware
   For a Cortex-M4 (newlib-nano), with firmware_main() instead of main():
       arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb -Os --specs=nano.specs \
           -DGCACHE_NO_JSON -DGCACHE_NO_METRICS_TEXT -DGCACHE_NO_STDIO \
           -DFIRMWARE_NO_HOST_MAIN -c examples/firmware.c
*/
#ifndef GCACHE_NO_THREADS
#define GCACHE_NO_THREADS
#endif
/* Small keys keep gcache_key (a stack object) small: about 160 bytes here, 664 with the defaults. */
#define GCACHE_KEY_MAX 96
#define GCACHE_KEY_MAX_ARGS 2
#if !defined(_POSIX_C_SOURCE) && !defined(FIRMWARE_NO_HOST_MAIN)
#define _POSIX_C_SOURCE 200809L /* the system headers below come before gcache.h */
#endif

#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <assert.h>
#include <limits.h>
#include <stdint.h>
#include <time.h>
#if !defined(GCACHE_NO_STDIO)
#include <stdio.h>
#endif

/* ---- No heap: malloc and friends become traps ---------------------------------- */
/* Any malloc/calloc/realloc/free written after this point in this translation
   unit (gcache's implementation included) lands in a trap that records the
   violation. gcache must only allocate through desc.allocator. */
static unsigned g_heap_violations = 0;
static void *firmware_trap_alloc(size_t n) { (void)n; g_heap_violations++; return NULL; }
static void *firmware_trap_realloc(void *p, size_t n) { (void)p; (void)n; g_heap_violations++; return NULL; }
static void firmware_trap_free(void *p) { if (p) g_heap_violations++; }
#define malloc(n) firmware_trap_alloc(n)
#define calloc(n, m) firmware_trap_alloc((n) * (m))
#define realloc(p, n) firmware_trap_realloc((p), (n))
#define free(p) firmware_trap_free(p)

#define GCACHE_IMPLEMENTATION
#include "../gcache.h"

/* ---- Logging (compiled out without stdio) ---------------------------------------- */
static void fw_log(const char *fmt, ...) {
#if !defined(GCACHE_NO_STDIO)
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
#else
    (void)fmt;
#endif
}

/* ---- The static memory pool --------------------------------------------------------- */
/* A bump allocator with a free list of returned blocks (first fit, reused only
   when the block is not much bigger than asked for). Each block has an 8-byte
   header holding its size. */
#define POOL_BYTES (12u * 1024u)
typedef struct pool_block { size_t size; struct pool_block *next; } pool_block;
static union { unsigned char bytes[POOL_BYTES]; double align_d; void *align_p; long long align_ll; } g_pool;
static size_t g_pool_top = 0;
static pool_block *g_pool_free = NULL;
static struct { unsigned allocs, frees, failed; size_t live_bytes, peak_bytes; } g_pool_stats;

#define POOL_ALIGN 8u
#define POOL_HEADER ((sizeof(size_t) + POOL_ALIGN - 1) & ~(size_t)(POOL_ALIGN - 1))

static void *pool_alloc(size_t size, void *user) {
    pool_block **link, *b;
    size_t need = (size + POOL_ALIGN - 1) & ~(size_t)(POOL_ALIGN - 1);
    (void)user;
    if (need < sizeof(pool_block)) need = sizeof(pool_block); /* room for the free-list link */
    for (link = &g_pool_free; (b = *link) != NULL; link = &b->next) {
        if (b->size >= need && b->size <= 2 * need) {
            *link = b->next;
            goto got;
        }
    }
    if (g_pool_top + POOL_HEADER + need > POOL_BYTES) {
        /* Out of fresh memory: take any free block that fits. */
        for (link = &g_pool_free; (b = *link) != NULL; link = &b->next)
            if (b->size >= need) {
                *link = b->next;
                goto got;
            }
        g_pool_stats.failed++;
        return NULL; /* gcache fails open: the value is read from the sensor, not cached */
    }
    b = (pool_block *)(void *)(g_pool.bytes + g_pool_top);
    b->size = need;
    g_pool_top += POOL_HEADER + need;
got:
    g_pool_stats.allocs++;
    g_pool_stats.live_bytes += b->size;
    if (g_pool_stats.live_bytes > g_pool_stats.peak_bytes) g_pool_stats.peak_bytes = g_pool_stats.live_bytes;
    return (unsigned char *)b + POOL_HEADER;
}

static void pool_free(void *ptr, void *user) {
    pool_block *b;
    (void)user;
    if (!ptr) return;
    /* Only blocks of this pool may come back here. */
    if ((unsigned char *)ptr < g_pool.bytes + POOL_HEADER || (unsigned char *)ptr >= g_pool.bytes + POOL_BYTES) {
        g_heap_violations++;
        return;
    }
    b = (pool_block *)(void *)((unsigned char *)ptr - POOL_HEADER);
    g_pool_stats.frees++;
    g_pool_stats.live_bytes -= b->size;
    b->next = g_pool_free;
    g_pool_free = b;
}

/* ---- The tick clock ------------------------------------------------------------------ */
/* On the device a 1 kHz SysTick interrupt increments this; here the main loop does. */
static volatile unsigned long g_ticks_ms = 0;
static const long long RTC_EPOCH_MS = 1795651200000LL; /* wall time at boot (from the RTC) */

static long long tick_wall_ms(void *user) { (void)user; return RTC_EPOCH_MS + (long long)g_ticks_ms; }
static unsigned long long tick_mono_ns(void *user) { (void)user; return (unsigned long long)g_ticks_ms * 1000000ULL; }

/* ---- The "external flash" backend ---------------------------------------------------- */
/* Fixed slots: the remote layer of this node. Single-threaded, so mget can hand out
   slices that point straight into the slots (no reply object, no release). */
#define FLASH_SLOTS 8
#define FLASH_KEY_MAX 48
#define FLASH_VAL_MAX 48
typedef struct flash_slot {
    unsigned char used, key_len, val_len;
    unsigned long expires_ms;
    char key[FLASH_KEY_MAX];
    char val[FLASH_VAL_MAX];
} flash_slot;
typedef struct flash_store { flash_slot slot[FLASH_SLOTS]; unsigned writes, erases; } flash_store;
static flash_store g_flash;

static int flash_live(const flash_slot *s) { return s->used && (long)(s->expires_ms - g_ticks_ms) > 0; }

static flash_slot *flash_find(flash_store *f, gcache_slice key) {
    int i;
    for (i = 0; i < FLASH_SLOTS; i++) {
        flash_slot *s = &f->slot[i];
        if (flash_live(s) && s->key_len == key.len && memcmp(s->key, key.ptr, key.len) == 0) return s;
    }
    return NULL;
}

static int flash_mget(void *ctx, const gcache_slice *keys, size_t n, gcache_slice *vals, void **reply) {
    flash_store *f = (flash_store *)ctx;
    size_t i;
    *reply = NULL;
    for (i = 0; i < n; i++) {
        flash_slot *s = flash_find(f, keys[i]);
        vals[i].ptr = s ? s->val : NULL;
        vals[i].len = s ? s->val_len : 0;
    }
    return GCACHE_OK;
}

static int flash_set(void *ctx, gcache_slice key, gcache_slice val, int ttl_sec) {
    flash_store *f = (flash_store *)ctx;
    flash_slot *s = flash_find(f, key);
    int i;
    if (key.len > FLASH_KEY_MAX || val.len > FLASH_VAL_MAX) return GCACHE_ETOOBIG;
    if (!s) { /* a free or expired slot, else the one expiring first */
        for (i = 0; i < FLASH_SLOTS; i++)
            if (!flash_live(&f->slot[i])) { s = &f->slot[i]; break; }
        if (!s) {
            s = &f->slot[0];
            for (i = 1; i < FLASH_SLOTS; i++)
                if ((long)(f->slot[i].expires_ms - s->expires_ms) < 0) s = &f->slot[i];
        }
    }
    s->used = 1;
    s->key_len = (unsigned char)key.len;
    s->val_len = (unsigned char)val.len;
    s->expires_ms = g_ticks_ms + (unsigned long)ttl_sec * 1000ul;
    memcpy(s->key, key.ptr, key.len);
    memcpy(s->val, val.ptr, val.len);
    f->writes++;
    return GCACHE_OK;
}

static int flash_del(void *ctx, gcache_slice key) {
    flash_store *f = (flash_store *)ctx;
    flash_slot *s = flash_find(f, key);
    if (s) { s->used = 0; f->erases++; }
    return GCACHE_OK;
}

static int flash_flush_prefix(void *ctx, gcache_slice prefix) {
    flash_store *f = (flash_store *)ctx;
    int i;
    for (i = 0; i < FLASH_SLOTS; i++) {
        flash_slot *s = &f->slot[i];
        if (s->used && s->key_len >= prefix.len && memcmp(s->key, prefix.ptr, prefix.len) == 0) {
            s->used = 0;
            f->erases++;
        }
    }
    return GCACHE_OK;
}

static void flash_destroy(void *ctx) { (void)ctx; }

static gcache_remote flash_remote(void) {
    gcache_remote r;
    memset(&r, 0, sizeof r);
    r.ctx = &g_flash;
    r.name = "flash";
    r.mget = flash_mget;
    r.set = flash_set;
    r.del = flash_del;
    r.flush_prefix = flash_flush_prefix;
    r.destroy = flash_destroy; /* publish/subscribe stay NULL: one node, nobody to tell */
    return r;
}

/* ---- The sensors ------------------------------------------------------------------------ */
#define SENSOR_COUNT 4      /* fitted sensors 0..3; sensor 7 is probed but absent */
static unsigned g_i2c_reads = 0;

/* A reading as 6 bytes on the wire: sensor id, status, centi-degrees (i16 LE), age tick (u16 LE). */
static int read_sensor_i2c(void *user, const gcache_key *key, gcache_buf *out) {
    const int *sensor = (const int *)user;
    unsigned char v[6];
    long centi;
    (void)key;
    g_ticks_ms += 3; /* an I2C transaction takes ~3 ms */
    g_i2c_reads++;
    if (*sensor >= SENSOR_COUNT) return GCACHE_NOT_FOUND; /* no device acknowledged */
    centi = 2150 + *sensor * 125 + (long)((g_ticks_ms / 1000) % 7) * 10;
    v[0] = (unsigned char)*sensor;
    v[1] = 0;
    v[2] = (unsigned char)(centi & 0xff);
    v[3] = (unsigned char)((centi >> 8) & 0xff);
    v[4] = (unsigned char)(g_ticks_ms & 0xff);
    v[5] = (unsigned char)((g_ticks_ms >> 8) & 0xff);
    return gcache_buf_set(out, v, sizeof v);
}

/* ---- The application ---------------------------------------------------------------------- */
#define FW_CHECK(cond, what) \
    do { if (!(cond)) { fw_log("CHECK FAILED: %s\n", what); failures++; } } while (0)

int firmware_main(void);
int firmware_main(void) {
    gcache *gc = NULL;
    gcache_desc desc;
    gcache_use_case_desc ud;
    gcache_use_case *read_sensor = NULL;
    unsigned char value_storage[16];
    gcache_buf value;
    gcache_stats local, flash;
    unsigned loops, reads = 0, failures = 0;
    int rc, sensor;

    (void)firmware_trap_alloc; /* the traps are used only if something calls malloc */
    (void)firmware_trap_realloc;
    (void)firmware_trap_free;
    memset(&desc, 0, sizeof desc);
    desc.allocator.alloc_fn = pool_alloc;
    desc.allocator.free_fn = pool_free;
    desc.clock.wall_ms_fn = tick_wall_ms;
    desc.clock.mono_ns_fn = tick_mono_ns;
    desc.remote = flash_remote();
    desc.local.max_entries = 8;
    desc.local.max_bytes = 1024;
    desc.local.shards = 1;
    desc.enabled_by_default = 1; /* one thread, no request scopes: cache everywhere */
    rc = gcache_create(&desc, &gc);
    if (rc != GCACHE_OK) {
        fw_log("gcache_create: %s\n", gcache_strerror(rc));
        return 1;
    }

    memset(&ud, 0, sizeof ud);
    ud.name = "ReadSensor";
    ud.key_type = "sensor";
    ud.default_config.ttl_sec[GCACHE_LOCAL] = 1;  /* RAM: 1 s */
    ud.default_config.ttl_sec[GCACHE_REMOTE] = 5; /* flash: 5 s */
    ud.default_config.ramp[GCACHE_LOCAL] = 100;
    ud.default_config.ramp[GCACHE_REMOTE] = 100;
    ud.default_config.negative_ttl_sec = 1;       /* remember "no such sensor" for 1 s */
    rc = gcache_register(gc, &ud, &read_sensor);
    if (rc != GCACHE_OK) {
        fw_log("gcache_register: %s\n", gcache_strerror(rc));
        gcache_destroy(gc);
        return 1;
    }
    fw_log("boot: pool %u bytes (%u in use after start-up), %d flash slots, tick clock\n",
           (unsigned)POOL_BYTES, (unsigned)g_pool_stats.live_bytes, FLASH_SLOTS);

    value = gcache_buf_fixed(value_storage, sizeof value_storage);
    /* The main loop: every 100 ms read every sensor, and probe slot 7 once a second. */
    for (loops = 0; loops < 80; loops++) {
        for (sensor = 0; sensor <= SENSOR_COUNT; sensor++) {
            int id = sensor < SENSOR_COUNT ? sensor : 7;
            gcache_key key;
            gcache_stats l0, r0, l1, r1;
            unsigned i2c_before = g_i2c_reads;
            if (id == 7 && loops % 10 != 0) continue;
            gcache_key_init_int(&key, read_sensor, id);
            gcache_stats_get(gc, NULL, GCACHE_LOCAL, &l0);
            gcache_stats_get(gc, NULL, GCACHE_REMOTE, &r0);
            rc = gcache_get(gc, &key, read_sensor_i2c, &id, &value);
            gcache_stats_get(gc, NULL, GCACHE_LOCAL, &l1);
            gcache_stats_get(gc, NULL, GCACHE_REMOTE, &r1);
            reads++;
            FW_CHECK(rc == GCACHE_OK || (id == 7 && rc == GCACHE_NOT_FOUND), "sensor read status");
            if (loops < 2 || loops == 10 || loops == 41) {
                const char *from = l1.hits > l0.hits ? "RAM cache"
                                   : r1.hits > r0.hits ? "flash cache"
                                   : g_i2c_reads > i2c_before ? "I2C bus" : "?";
                if (rc == GCACHE_OK && value.len == 6) {
                    int centi = (int)(short)(value.data[2] | (value.data[3] << 8));
                    fw_log("t=%5lu ms  sensor %d: %3d.%02d C  from %s\n", (unsigned long)g_ticks_ms, id,
                           centi / 100, centi % 100, from);
                } else {
                    fw_log("t=%5lu ms  sensor %d: not fitted (%s) from %s\n", (unsigned long)g_ticks_ms, id,
                           gcache_strerror(rc), from);
                }
            }
        }
        if (loops == 40) {
            /* A firmware update changed sensor calibration: drop every cached reading. */
            rc = gcache_flush(gc);
            fw_log("t=%5lu ms  calibration changed: gcache_flush -> %s\n", (unsigned long)g_ticks_ms,
                   gcache_strerror(rc));
        }
        if (loops % 20 == 19) {
            gcache_stats_get(gc, NULL, GCACHE_LOCAL, &local);
            gcache_stats_get(gc, NULL, GCACHE_REMOTE, &flash);
            fw_log("t=%5lu ms  reads=%u RAM hits=%lu flash hits=%lu I2C reads=%u flash writes=%u "
                   "pool live=%u peak=%u\n",
                   (unsigned long)g_ticks_ms, reads, (unsigned long)local.hits, (unsigned long)flash.hits,
                   g_i2c_reads, g_flash.writes, (unsigned)g_pool_stats.live_bytes,
                   (unsigned)g_pool_stats.peak_bytes);
        }
        g_ticks_ms += 100; /* the rest of the 100 ms period: sleep until the next tick */
    }

    gcache_stats_get(gc, NULL, GCACHE_LOCAL, &local);
    gcache_stats_get(gc, NULL, GCACHE_REMOTE, &flash);
    FW_CHECK(local.hits > 0, "some reads were served from RAM");
    FW_CHECK(flash.hits > 0, "some reads were served from flash");
    FW_CHECK(g_i2c_reads < reads / 2, "the cache saved most bus transactions");
    FW_CHECK(g_pool_stats.allocs > 0, "gcache allocated from the pool");
    gcache_destroy(gc);

    FW_CHECK(g_heap_violations == 0, "no allocation outside the static pool");
    FW_CHECK(g_pool_stats.live_bytes == 0 && g_pool_stats.allocs == g_pool_stats.frees,
             "every pool block came back after gcache_destroy");
    fw_log("done: %u reads, %u I2C transactions (%u saved), pool: %u allocations, %u frees, %u failed, "
           "peak %u of %u bytes; malloc calls: %u\n",
           reads, g_i2c_reads, reads - g_i2c_reads, g_pool_stats.allocs, g_pool_stats.frees,
           g_pool_stats.failed, (unsigned)g_pool_stats.peak_bytes, (unsigned)POOL_BYTES, g_heap_violations);
    fw_log("%s\n", failures == 0 ? "firmware example OK" : "firmware example FAILED");
    return failures == 0 ? 0 : 1;
}

#ifndef FIRMWARE_NO_HOST_MAIN
int main(void) { return firmware_main(); }
#endif
