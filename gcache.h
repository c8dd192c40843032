/* gcache.h -- a two-layer read-through cache for C and C++, v0.1.0
   https://example.invalid/gcache (MIT or public domain, see the end of the file)

   A process-local TTL cache in front of an optional shared remote store (Redis
   through gcache_redis.h, an in-process store, or your own backend), in front
   of the real source of a value. Caching is OFF by default and switched on
   per request scope; every use case is configured and ramped (0..100 %) at
   runtime, can be killed without a redeploy, builds structured URN keys,
   supports watermark invalidation that is safe under races, fails open on
   every cache fault and counts everything for Prometheus. It re-creates
   gcache by Galileo (Python) and shares its key and watermark format, so a C
   and a Python service can share one Redis.

   DO THIS
   =======
   In exactly ONE .c or .cpp file, before the include:

       #define GCACHE_IMPLEMENTATION
       #include "gcache.h"

   Everywhere else just #include "gcache.h". Link with -pthread unless you
   build with GCACHE_NO_THREADS. Include gcache.h first in the implementation
   file when you compile with a strict -std=c99/c11 (it sets the POSIX
   feature-test macro it needs), or pass -D_POSIX_C_SOURCE=200809L.

   CONTENTS
   ========
   1. TL;DR                       6. Enable scope, ramp, config, kill switch
   2. Options                     7. Invalidation, delete, flush
   3. Memory                      8. Remote backends (vtable, memory backend)
   4. Errors and logging          9. Metrics and stats
   5. Create, use cases, keys,   10. Thread safety, limits, what it does NOT do
      read-through

   TL;DR
   =====
       #define GCACHE_IMPLEMENTATION
       #include "gcache.h"
       #include <string.h>

       static int load_user(void *user, const gcache_key *key, gcache_buf *out) {
           (void)user; (void)key;
           return gcache_buf_set(out, "{\"name\":\"ada\"}", 14);  // from your DB
       }

       int main(void) {
           gcache *gc; gcache_desc d; memset(&d, 0, sizeof d);
           if (gcache_create(&d, &gc) != GCACHE_OK) return 1;
           gcache_use_case_desc u; memset(&u, 0, sizeof u);
           u.name = "GetUser"; u.key_type = "user_id";
           u.default_config.ttl_sec[GCACHE_LOCAL] = 60;
           u.default_config.ramp[GCACHE_LOCAL] = 100;
           gcache_use_case *get_user; gcache_register(gc, &u, &get_user);

           gcache_buf val = {0};
           gcache_key k; gcache_key_init_int(&k, get_user, 327);
           int prev = gcache_enable(1);                  // caching is off by default
           int rc = gcache_get(gc, &k, load_user, NULL, &val);   // miss: calls load_user
           rc = gcache_get(gc, &k, load_user, NULL, &val);       // hit
           gcache_enable(prev);
           gcache_buf_free(&val); gcache_destroy(gc);
           return rc == GCACHE_OK ? 0 : 1;
       }

   OPTIONS (define before the include; the same in EVERY translation unit)
   =======
   GCACHE_DEF             linkage of the public functions (default extern)
   GCACHE_STATIC          make every function static (one TU only)
   GCACHE_ASSERT(c)       your assert (default assert() from <assert.h>)
   GCACHE_NO_THREADS      single-threaded build: no pthreads, no atomics, no
                          thread-locals, no locks (firmware)
   GCACHE_NO_STDIO        the implementation never touches <stdio.h>
   GCACHE_NO_JSON         leave out gcache_config_load_json/dump_json (they
                          then return GCACHE_EINVAL)
   GCACHE_NO_METRICS_TEXT leave out the Prometheus text writer (returns 0)
   GCACHE_KEY_MAX         longest key string without the NUL (default 512)
   GCACHE_KEY_MAX_ARGS    most args per key (default 16)
   GCACHE_KEY_MAX and GCACHE_KEY_MAX_ARGS change sizeof(gcache_key): when they
   differ from the defaults, gcache_key_init is renamed after them, so a
   program whose translation units disagree fails to link instead of
   corrupting the stack.

   MEMORY
   ======
   Every allocation goes through desc.allocator (default malloc/free). The
   local layer holds at most local.max_entries entries (a hard limit) and, if
   local.max_bytes is set, at most that many key+value bytes; each entry costs
   56 bytes of bookkeeping on top of its key and value. gcache_key lives on
   the stack (about 1.2 KiB with the defaults) and allocates nothing.
   gcache_buf {0} grows with the allocator of the first gcache it meets;
   gcache_buf_fixed() wraps your own storage and never allocates.

   ERRORS AND LOGGING
   ==================
   Every function returns a status: GCACHE_OK (0), GCACHE_NOT_FOUND (1) from a
   fetch, or a negative GCACHE_E* code; gcache_strerror() names it. Key builder
   calls keep a sticky error instead (gcache_key_error()). gcache_get never
   returns a cache fault: a bad key, a dead backend, a corrupt entry, a config
   error or a failed allocation all fall through to your fetch function and
   are counted (gcache_stats_get, gcache_metrics_prometheus). desc.logger gets
   rare, rate-limited events (breaker opened/closed, config refused, corrupt
   entries); levels are GCACHE_LOG_ERROR/WARN/INFO.

   THREAD SAFETY
   =============
   All functions are thread-safe unless GCACHE_NO_THREADS. The local layer is
   sharded with one mutex per shard and no global lock on the hit path;
   counters live in the shards; the runtime config is read through a seqlock,
   so updates are atomic and visible to all threads at once. gcache_enable is
   per thread. Remote backends are called from many threads at once and the
   core never holds a lock across a backend call.

   LIMITS
   ======
   Keys up to GCACHE_KEY_MAX bytes, GCACHE_KEY_MAX_ARGS args; values up to
   4 GiB - 1 in the local layer and the envelope; at most 4096 use cases per
   instance; TTLs in whole seconds (up to ~68 years).

   WHAT IT DOES NOT DO
   ===================
   It does not serialize your values (bytes in, bytes out), does not refresh
   entries in the background, does not talk to Redis itself (gcache_redis.h
   does), and does not share values with the Python reference (keys and
   watermarks are shared; the reference pickles values).
*/
#ifndef GCACHE_H
#define GCACHE_H

#define GCACHE_VERSION_MAJOR 0
#define GCACHE_VERSION_MINOR 1
#define GCACHE_VERSION_PATCH 0

#if defined(GCACHE_IMPLEMENTATION) && !defined(_WIN32) && !defined(_POSIX_C_SOURCE) && !defined(_GNU_SOURCE) && !defined(_DEFAULT_SOURCE)
#define _POSIX_C_SOURCE 200809L /* clock_gettime, pthreads in strict -std=c99 */
#endif

#include <stddef.h>

#ifndef GCACHE_DEF
#ifdef GCACHE_STATIC
#define GCACHE_DEF static
#else
#define GCACHE_DEF extern
#endif
#endif

#ifndef GCACHE_KEY_MAX
#define GCACHE_KEY_MAX 512
#endif
#ifndef GCACHE_KEY_MAX_ARGS
#define GCACHE_KEY_MAX_ARGS 16
#endif
#if GCACHE_KEY_MAX > 65000 || GCACHE_KEY_MAX < 16
#error "GCACHE_KEY_MAX must be between 16 and 65000"
#endif
#if GCACHE_KEY_MAX_ARGS > 1000 || GCACHE_KEY_MAX_ARGS < 1
#error "GCACHE_KEY_MAX_ARGS must be between 1 and 1000"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Core types ------------------------------------------------------------------ */
typedef struct gcache gcache;
typedef struct gcache_use_case gcache_use_case;
typedef enum { GCACHE_LOCAL = 0, GCACHE_REMOTE = 1, GCACHE_LAYER_COUNT = 2 } gcache_layer;

/* status codes: 0 ok, 1 "not found" from a fetch, negatives are errors: test rc < 0 */
enum { GCACHE_OK = 0, GCACHE_NOT_FOUND = 1,
       GCACHE_EINVAL = -1, GCACHE_ENOMEM = -2, GCACHE_EKEY = -3, GCACHE_EEXIST = -4,
       GCACHE_EBACKEND = -5, GCACHE_ETIMEOUT = -6, GCACHE_ECORRUPT = -7,
       GCACHE_ETOOBIG = -8, GCACHE_ECONFIG = -9 };
/* A short lower-case description of a status; never NULL. */
GCACHE_DEF const char *gcache_strerror(int status);

enum { GCACHE_LOG_ERROR = 0, GCACHE_LOG_WARN = 1, GCACHE_LOG_INFO = 2 };

typedef struct gcache_allocator { void *(*alloc_fn)(size_t size, void *user_data);
                                  void (*free_fn)(void *ptr, void *user_data); void *user_data; } gcache_allocator;
typedef struct gcache_clock { long long (*wall_ms_fn)(void *user_data);          /* ms since the epoch */
                              unsigned long long (*mono_ns_fn)(void *user_data); /* monotonic ns */
                              void *user_data; } gcache_clock;
typedef struct gcache_logger { void (*fn)(void *user_data, int level, const char *msg); void *user_data; } gcache_logger;

/* ---- Buffers ---------------------------------------------------------------------- */
typedef struct gcache_buf { unsigned char *data; size_t len, cap;
                            size_t needed;            /* set with GCACHE_ETOOBIG: the size that was needed */
                            gcache_allocator allocator; int fixed; } gcache_buf;
/* {0} = empty growable buffer, reused across calls. Unless the caller set one, its
   allocator is copied in by value (the first gcache it is handed to, else
   malloc/free), so it stays valid after that gcache is destroyed.
   gcache_buf_fixed(storage, cap) = caller storage, never grown: GCACHE_ETOOBIG if
   too small (with needed set), len never exceeds cap. */
GCACHE_DEF gcache_buf gcache_buf_fixed(void *storage, size_t cap);
/* Replace the contents with len bytes. GCACHE_OK, GCACHE_ETOOBIG (fixed, too small:
   contents unchanged, needed set), GCACHE_ENOMEM (growable, allocation failed:
   contents unchanged), GCACHE_EINVAL (NULL b, or NULL data with len > 0). */
GCACHE_DEF int  gcache_buf_set(gcache_buf *b, const void *data, size_t len);
/* Append len bytes; the same results as gcache_buf_set. */
GCACHE_DEF int  gcache_buf_append(gcache_buf *b, const void *data, size_t len);
/* Free a growable buffer's storage (a fixed one is only emptied); b stays usable. */
GCACHE_DEF void gcache_buf_free(gcache_buf *b);

typedef enum { GCACHE_REASON_RAMPED_DOWN, GCACHE_REASON_CONTEXT, GCACHE_REASON_SERVER_DOWN,
               GCACHE_REASON_MISSING_CONFIG, GCACHE_REASON_CONFIG_ERROR, GCACHE_REASON_KILLED,
               GCACHE_REASON_COUNT } gcache_reason;
/* label values: ramped_down, context, server_down, missing_config, config_error, killed */

typedef struct gcache_key_config {
    int ttl_sec[GCACHE_LAYER_COUNT]; /* 0 = layer not configured (reason missing_config) */
    int ramp[GCACHE_LAYER_COUNT];    /* 0..100 percent; 0 = ramped_down */
    int negative_ttl_sec;            /* >0: cache "not found" results this long (capped by ttl) */
} gcache_key_config;

/* ---- Keys (the struct; functions below) ------------------------------------------- */
/* Stack allocated, no heap. Fields are private: use the gcache_key_* functions. */
typedef struct gcache_key {
    gcache_use_case *use_case;
    int error;                           /* sticky: first error */
    unsigned short len;                  /* strlen(str) */
    unsigned short head_len;             /* "{urn:type:id}" or "urn:type:id" */
    unsigned short type_id_off, type_id_len; /* "type:escaped_id" inside str */
    unsigned short nargs, pool_len;
    int hash_valid;
    unsigned long long hash;             /* XXH64(str, ramp_seed), cached by gcache_get */
    struct { unsigned short off, name_len, len; } args[GCACHE_KEY_MAX_ARGS]; /* into pool */
    char pool[GCACHE_KEY_MAX + 1];       /* escaped "name=value" of each arg */
    char str[GCACHE_KEY_MAX + 1];        /* the key, NUL-terminated */
} gcache_key;

/* ---- Remote backend vtable ---------------------------------------------------------- */
typedef struct gcache_slice { const char *ptr; size_t len; } gcache_slice;
typedef struct gcache_remote {
    void *ctx; const char *name;
    /* read n keys in one round trip; vals[i].ptr == NULL: missing. The slices may point
       into *reply, which the core hands to release() when done. On error the backend
       leaves *reply NULL and the core ignores vals. */
    int  (*mget)(void *ctx, const gcache_slice *keys, size_t n, gcache_slice *vals, void **reply);
    void (*release)(void *ctx, void *reply);                       /* may be NULL */
    int  (*set)(void *ctx, gcache_slice key, gcache_slice val, int ttl_sec);
    int  (*del)(void *ctx, gcache_slice key);
    int  (*flush_prefix)(void *ctx, gcache_slice prefix);
    /* optional (NULL): tell other instances about an invalidation, and hear theirs.
       key_type_id is "key_type:escaped_id" (no prefix, no braces); an empty key_type_id
       means "messages may have been lost" (after a resubscribe): the core drops its whole
       local layer. destroy() stops callbacks before it returns. */
    int  (*publish)(void *ctx, gcache_slice key_type_id, long long watermark_ms);
    /* subscribe adds listener u (a backend takes several); on_invalidate == NULL
       detaches listener u and returns only when no callback for u runs or will run. */
    int  (*subscribe)(void *ctx, void (*on_invalidate)(void *u, gcache_slice key_type_id, long long watermark_ms), void *u);
    void (*destroy)(void *ctx);
} gcache_remote;

typedef struct gcache_memory_desc { size_t max_entries;   /* 100000 */
                                    size_t max_bytes;     /* 0 = no byte bound */
                                    gcache_clock clock; gcache_allocator allocator; } gcache_memory_desc;
/* An in-process remote store: thread-safe, bounded, TTL on d->clock's monotonic clock,
   publish/subscribe delivering every invalidation to every listener. NULL d = defaults.
   The embedded default remote, the test double, and the store of a one-process game. */
GCACHE_DEF int gcache_remote_memory(const gcache_memory_desc *d, gcache_remote *out);

/* ---- Create / destroy ------------------------------------------------------------- */
enum { GCACHE_METRICS_REFERENCE = 0, GCACHE_METRICS_PROMETHEUS = 1 };

typedef struct gcache_desc {
    const char *urn_prefix;          /* "urn" [ref]; [A-Za-z0-9_.:-]+ else GCACHE_EINVAL */
    const char *metrics_prefix;      /* "" [ref names]; empty, or [a-zA-Z_:][a-zA-Z0-9_:]* */
    int metrics_names;               /* GCACHE_METRICS_REFERENCE (0) or GCACHE_METRICS_PROMETHEUS */
    struct { size_t max_entries;     /* 10000 [ref]; a hard limit */
             size_t max_bytes;       /* 0 = no byte bound */
             int shards; } local;    /* 0 = chosen for the machine */
    gcache_remote remote;            /* zero = no remote layer */
    int keep_remote;                 /* 1 = the caller owns remote (shared by instances) */
    int (*config_provider)(void *config_user, const gcache_key *key, gcache_key_config *out);
    void *config_user;
    unsigned long long ramp_seed;
    int ramp_random;                 /* 1 = roll per request, as the reference does */
    int watermark_ttl_sec;           /* 14400 [ref] */
    struct { int failure_threshold;  /* 5 */
             int cooldown_ms; } breaker; /* 1000 */
    gcache_allocator allocator; gcache_clock clock; gcache_logger logger;
    int enabled_by_default;          /* 0 [ref]: a thread caches only inside gcache_enable(1) */
} gcache_desc;

/* Create an instance. Every zero field of *desc gets its default. Returns GCACHE_OK,
   GCACHE_EINVAL (NULL desc/out, bad prefix, no clock on a target without one),
   GCACHE_ENOMEM, or the status of remote.subscribe. On failure *out is NULL and the
   remote still belongs to the caller. */
GCACHE_DEF int  gcache_create(const gcache_desc *desc, gcache **out);
/* Destroy an instance and, unless keep_remote, its remote (remote.destroy). With
   keep_remote, detaches this instance's listener (subscribe(ctx, NULL, gc)).
   No call on gc may run concurrently. NULL is ignored. */
GCACHE_DEF void gcache_destroy(gcache *gc);

/* ---- Use cases -------------------------------------------------------------------- */
typedef struct gcache_use_case_desc {
    const char *name;                /* [A-Za-z0-9_.-]+, unique, not "watermark" */
    const char *key_type;            /* [A-Za-z0-9_.-]+, e.g. "user_id" */
    int track_for_invalidation;      /* 1: key wrapped in {}, watermarks checked */
    gcache_key_config default_config;
} gcache_use_case_desc;
/* Register a use case (strings are copied; *out lives as long as gc; out may be NULL).
   GCACHE_EEXIST for a duplicate name, GCACHE_EINVAL for a bad name, key type or
   config, GCACHE_ENOMEM. */
GCACHE_DEF int gcache_register(gcache *gc, const gcache_use_case_desc *d, gcache_use_case **out);
/* Look a use case up by name (NULL if none). */
GCACHE_DEF gcache_use_case *gcache_use_case_find(gcache *gc, const char *name);

/* ---- Keys ------------------------------------------------------------------------- */
#if GCACHE_KEY_MAX != 512 || GCACHE_KEY_MAX_ARGS != 16
#define GCACHE__KEY_CAT2(a, b, c) gcache_key_init_k##a##_a##b##c
#define GCACHE__KEY_CAT(a, b) GCACHE__KEY_CAT2(a, b, )
#define gcache_key_init GCACHE__KEY_CAT(GCACHE_KEY_MAX, GCACHE_KEY_MAX_ARGS)
#endif
/* Start a key {urn_prefix}:{key_type}:{id} for use case uc. A NULL uc or id sets
   GCACHE_EKEY. Any bytes are accepted in ids, arg names and values: the bytes
   % ? & = # { }, controls and 0x7f are written as %XX, so keys are injective. */
GCACHE_DEF void gcache_key_init(gcache_key *k, gcache_use_case *uc, const char *id);
GCACHE_DEF void gcache_key_init_int(gcache_key *k, gcache_use_case *uc, long long id);
/* Add an arg (kept sorted by escaped name). Duplicate names, too many args, an
   overlong key or NULL strings set the sticky GCACHE_EKEY. */
GCACHE_DEF void gcache_key_add(gcache_key *k, const char *name, const char *value);
GCACHE_DEF void gcache_key_add_int(gcache_key *k, const char *name, long long value);
GCACHE_DEF void gcache_key_add_bool(gcache_key *k, const char *name, int value); /* "True"/"False" [ref] */
/* The key string, e.g. "{urn:user_id:327}?page=2#GetUser"; NULL on error; len may be NULL. */
GCACHE_DEF const char *gcache_key_str(const gcache_key *k, size_t *len);
GCACHE_DEF int gcache_key_error(const gcache_key *k);                    /* sticky: first error */

/* ---- Read through ----------------------------------------------------------------- */
/* Your source of truth. Write the value into out (gcache_buf_set/append) and return
   GCACHE_OK, GCACHE_NOT_FOUND, or a negative error (returned to the caller, never
   cached). Called with no lock held; it may call gcache_get, even for its own key. */
typedef int (*gcache_fetch_fn)(void *user, const gcache_key *key, gcache_buf *out);
/* Read through the layers: local -> remote (a hit fills local) -> fetch (fills remote,
   then local). Returns what the value's source said: GCACHE_OK with the bytes in out,
   GCACHE_NOT_FOUND (out->len == 0), or the fetch's own status. GCACHE_ETOOBIG (with
   out->needed) when a cached value does not fit a fixed out; GCACHE_ENOMEM only when a
   growable out cannot grow; GCACHE_EINVAL for NULL gc/key/fetch/out. Cache faults are
   counted and fall through to fetch. Concurrent misses of one key run fetch once.
   Blocks for as long as fetch (or the leader's fetch) and the remote take. */
GCACHE_DEF int gcache_get(gcache *gc, gcache_key *key, gcache_fetch_fn fetch, void *user, gcache_buf *out);

/* ---- Enable scope, config, kill switch -------------------------------------------- */
/* Per thread: 1 on, 0 off, -1 unset (follow desc.enabled_by_default). Returns the
   previous value. Off by default [ref]. */
GCACHE_DEF int gcache_enable(int on);
/* Run the block with caching on, then restore the previous setting. Nestable. A break,
   return or goto out of the block skips the restore: leave it only at its end. */
#define GCACHE__CAT2(a, b) a##b
#define GCACHE__CAT(a, b) GCACHE__CAT2(a, b)
#define GCACHE_WITH_ENABLED \
    for (int GCACHE__CAT(gcache__prev_, __LINE__) = gcache_enable(1), GCACHE__CAT(gcache__once_, __LINE__) = 1; \
         GCACHE__CAT(gcache__once_, __LINE__); \
         GCACHE__CAT(gcache__once_, __LINE__) = 0, (void)gcache_enable(GCACHE__CAT(gcache__prev_, __LINE__)))

/* Set (cfg != NULL) or remove (NULL) the runtime override of one use case, by name
   (it need not be registered yet). GCACHE_ECONFIG for out-of-range values (nothing
   changes), GCACHE_ENOMEM, GCACHE_EINVAL for NULL gc/name. Visible to all threads at once. */
GCACHE_DEF int gcache_config_set(gcache *gc, const char *use_case_name, const gcache_key_config *cfg);
/* Replace the whole runtime store from JSON [ref format]:
   {"GetUser": {"ttl_sec": {"local": 60, "remote": 300}, "ramp": {"local": 100, "remote": 50},
    "negative_ttl_sec": 5}}
   Missing fields take the use case's default. On any error returns GCACHE_ECONFIG
   (GCACHE_ENOMEM when memory ran out) and keeps the old store. */
GCACHE_DEF int gcache_config_load_json(gcache *gc, const char *json, size_t len);
/* Write the effective config of every registered use case in the load format
   (snprintf semantics: returns the length needed, writes at most cap bytes incl. NUL;
   negative on error). Loading a dump and dumping again gives the same bytes. */
GCACHE_DEF int gcache_config_dump_json(gcache *gc, char *buf, size_t cap);
/* Read the effective config of a use case as gcache_get would without a provider. */
GCACHE_DEF int gcache_config_get(gcache *gc, const gcache_use_case *uc, gcache_key_config *out);
/* Kill switch: on = 1 turns every layer of the instance off now (reason killed),
   0 back on. Returns the previous value. Flushes nothing. */
GCACHE_DEF int gcache_kill(gcache *gc, int on);

/* ---- Invalidation, delete, flush ------------------------------------------------- */
/* Write the watermark {urn:key_type:id}#watermark = now_ms + future_buffer_ms (TTL
   watermark_ttl_sec), publish it, and make this process's local entries of key_type:id
   created at or before it stale at once. The local part always happens; a remote
   failure is returned. Any key_type may be invalidated. */
GCACHE_DEF int gcache_invalidate(gcache *gc, const char *key_type, const char *id, long long future_buffer_ms);
GCACHE_DEF int gcache_invalidate_key(gcache *gc, const gcache_key *key, long long future_buffer_ms);
/* Delete one key from both layers of this process (the local part always happens; a
   remote failure is returned). */
GCACHE_DEF int gcache_delete(gcache *gc, gcache_key *key);
/* Drop the local layer, and remote keys and watermarks under "{urn_prefix}:" and
   "{{urn_prefix}:" (instances whose prefix extends this one are flushed too). */
GCACHE_DEF int gcache_flush(gcache *gc);

/* ---- Metrics and stats ------------------------------------------------------------ */
typedef struct gcache_stats {
    unsigned long long requests, hits, misses, errors, invalidations, evictions;
    unsigned long long disabled[GCACHE_REASON_COUNT];
    unsigned long long entries, bytes;
} gcache_stats;
/* Counters of one use case (NULL = all) at one layer. GCACHE_EINVAL for an unknown
   name or a bad layer. */
GCACHE_DEF int gcache_stats_get(gcache *gc, const char *use_case, gcache_layer layer, gcache_stats *out);
/* Prometheus text exposition of every counter and histogram (snprintf semantics). */
GCACHE_DEF int gcache_metrics_prometheus(gcache *gc, char *buf, size_t cap);

/* ---- Envelope and watermark helpers (for tools and backends) ---------------------- */
#define GCACHE_ENVELOPE_HEADER 20
typedef struct gcache_envelope { long long created_at_ms; int negative;
                                 const unsigned char *payload; size_t payload_len; } gcache_envelope;
/* Decode a remote value; GCACHE_OK or GCACHE_ECORRUPT. payload points into data. */
GCACHE_DEF int gcache_envelope_read(const void *data, size_t len, gcache_envelope *out);
/* Encode; snprintf-like: returns 20 + payload_len, writes only if cap is enough. */
GCACHE_DEF size_t gcache_envelope_write(void *dst, size_t cap, long long created_at_ms, int negative,
                                        const void *payload, size_t payload_len);
/* Parse a watermark value ([0-9]+(\.[0-9]+)?; integer part; saturates at LLONG_MAX).
   GCACHE_OK or GCACHE_ECORRUPT. */
GCACHE_DEF int gcache_watermark_parse(const char *s, size_t len, long long *out_ms);
/* XXH64 as in xxhash.h (the ramp hash); CRC-32C (Castagnoli) as in the envelope. */
GCACHE_DEF unsigned long long gcache_xxh64(const void *data, size_t len, unsigned long long seed);
GCACHE_DEF unsigned int gcache_crc32c(unsigned int crc, const void *data, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* GCACHE_H */
