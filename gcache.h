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

           gcache_buf val; memset(&val, 0, sizeof val);   // {0} in C; {} in C++
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
   GCACHE_NO_HW_CRC       never use the x86-64 SSE4.2 CRC-32C instruction
   GCACHE_KEY_MAX and GCACHE_KEY_MAX_ARGS change sizeof(gcache_key): when they
   differ from the defaults, every function that takes a gcache_key is renamed
   after them, so a program whose translation units disagree fails to link
   instead of corrupting the stack.

   MEMORY
   ======
   Every allocation goes through desc.allocator (default malloc/free). The
   local layer holds at most local.max_entries entries (a hard limit) and, if
   local.max_bytes is set, at most that many key+value bytes; both bounds are
   split evenly over the shards, so one value larger than max_bytes/shards is
   not kept locally. Each entry costs 56 bytes of bookkeeping (48 on 32-bit) on
   top of its key and value. Local watermarks (tracked use cases) take at most
   65536 records of 24 bytes per instance. gcache_key lives on the stack (about
   650 bytes with the defaults) and allocates nothing.
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
   rare events, at most one a second of each kind (breaker opened/closed,
   config reloaded or refused with the reason, corrupt entries, remote read
   failures); levels are GCACHE_LOG_ERROR/WARN/INFO; silent when unset.
   Timing: local lookups are timed 1 in 64 and envelope decodes 1 in 16 (each
   sample counted with that weight in the histograms); remote reads, fetches
   and envelope encodes are timed every time. A fetch must not throw (C++):
   wrap it, or waiters on its key wait forever.

   THREAD SAFETY
   =============
   All functions are thread-safe unless GCACHE_NO_THREADS. The local layer is
   sharded with one mutex per shard and no global lock on the hit path;
   counters live in the shards; the runtime config is read through a seqlock,
   so updates are atomic and visible to all threads at once. gcache_enable is
   per thread. Remote backends are called from many threads at once and the
   core never holds a lock across a backend call or a fetch. Threads come from
   pthreads (POSIX) or Win32 SRW locks (MinGW, clang; MSVC only with
   GCACHE_NO_THREADS). A target with neither (bare-metal) builds as with
   GCACHE_NO_THREADS: then no two calls may run at once.

   LIMITS
   ======
   Keys up to GCACHE_KEY_MAX bytes, GCACHE_KEY_MAX_ARGS args; values up to
   4 GiB - 1 in the local layer, 512 MiB - 20 in the remote layer (larger ones
   are not written); at most 65535 use cases per instance; TTLs in whole
   seconds. Key types are not escaped (registered ones cannot hold ':');
   gcache_invalidate of a key type containing ':' therefore names another
   key_type:id pair, as in the reference.

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
#if defined(__GNUC__) || defined(__clang__)
#define GCACHE_DEF static __attribute__((unused)) /* a TU need not call every function */
#else
#define GCACHE_DEF static
#endif
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
    unsigned short nargs;
    int hash_valid;
    unsigned long long hash;             /* XXH64(str, ramp_seed), cached by gcache_get */
    unsigned long long id_hash;          /* of "type:id" with the instance secret, cached */
    char str[GCACHE_KEY_MAX + 1];        /* the key, NUL-terminated; next to the header for the hit path */
    struct { unsigned short off, name_len, len; } args[GCACHE_KEY_MAX_ARGS]; /* "name=value" in str */
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
/* Every function that touches a gcache_key is renamed after the layout. */
#define GCACHE__KEY_CAT2(f, a, b) f##_k##a##_a##b
#define GCACHE__KEY_CAT(f, a, b) GCACHE__KEY_CAT2(f, a, b)
#define GCACHE__KEY_NAME(f) GCACHE__KEY_CAT(f, GCACHE_KEY_MAX, GCACHE_KEY_MAX_ARGS)
#define gcache_key_init GCACHE__KEY_NAME(gcache_key_init)
#define gcache_key_init_int GCACHE__KEY_NAME(gcache_key_init_int)
#define gcache_key_add GCACHE__KEY_NAME(gcache_key_add)
#define gcache_key_add_int GCACHE__KEY_NAME(gcache_key_add_int)
#define gcache_key_add_bool GCACHE__KEY_NAME(gcache_key_add_bool)
#define gcache_key_str GCACHE__KEY_NAME(gcache_key_str)
#define gcache_key_error GCACHE__KEY_NAME(gcache_key_error)
#define gcache_get GCACHE__KEY_NAME(gcache_get)
#define gcache_delete GCACHE__KEY_NAME(gcache_delete)
#define gcache_invalidate_key GCACHE__KEY_NAME(gcache_invalidate_key)
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

/* ==================================================================================== */
/*                                  IMPLEMENTATION                                      */
/* ==================================================================================== */
#ifdef GCACHE_IMPLEMENTATION
#ifndef GCACHE__IMPLEMENTATION_GUARD
#define GCACHE__IMPLEMENTATION_GUARD

#include <string.h>
#include <limits.h>
#ifndef GCACHE_ASSERT
#include <assert.h>
#define GCACHE_ASSERT(c) assert(c)
#endif

/* ---- Platform: threads, atomics, clocks ----------------------------------------------- */
#if defined(__unix__) || defined(__unix) || defined(__APPLE__) || defined(__linux__)
#define GCACHE__POSIX 1
#include <time.h>
#include <unistd.h>
#else
#define GCACHE__POSIX 0
#endif

#if defined(_WIN32) && !GCACHE__POSIX
#define GCACHE__WIN32 1
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
#if defined(_MSC_VER) && !defined(__clang__) && !defined(GCACHE_NO_THREADS)
#error "gcache.h: MSVC is not supported with threads yet (no __atomic builtins): use clang-cl or MinGW, or define GCACHE_NO_THREADS"
#endif
#else
#define GCACHE__WIN32 0
#endif

#if !defined(GCACHE_NO_THREADS) && (GCACHE__POSIX || GCACHE__WIN32)
#define GCACHE__THREADS 1
#if GCACHE__POSIX
#include <pthread.h>
#endif
#else
/* GCACHE_NO_THREADS, or a target with neither pthreads nor Win32 (bare-metal firmware):
   no locks at all, so calls must not run concurrently */
#define GCACHE__THREADS 0
#endif

#if GCACHE__THREADS && GCACHE__WIN32
typedef SRWLOCK gcache__mutex;
typedef CONDITION_VARIABLE gcache__cond;
#define gcache__mutex_init(m) (InitializeSRWLock(m), 1)
#define gcache__mutex_fini(m) ((void)(m))
#define gcache__lock(m) AcquireSRWLockExclusive(m)
#define gcache__unlock(m) ReleaseSRWLockExclusive(m)
#define gcache__cond_init(c) (InitializeConditionVariable(c), 1)
#define gcache__cond_fini(c) ((void)(c))
#define gcache__cond_wait(c, m) SleepConditionVariableSRW((c), (m), INFINITE, 0)
#define gcache__cond_broadcast(c) WakeAllConditionVariable(c)
#elif GCACHE__THREADS
typedef pthread_mutex_t gcache__mutex;
typedef pthread_cond_t gcache__cond;
#define gcache__mutex_init(m) (pthread_mutex_init((m), NULL) == 0)
#define gcache__mutex_fini(m) pthread_mutex_destroy(m)
#define gcache__lock(m) pthread_mutex_lock(m)
#define gcache__unlock(m) pthread_mutex_unlock(m)
#define gcache__cond_init(c) (pthread_cond_init((c), NULL) == 0)
#define gcache__cond_fini(c) pthread_cond_destroy(c)
#define gcache__cond_wait(c, m) pthread_cond_wait((c), (m))
#define gcache__cond_broadcast(c) pthread_cond_broadcast(c)
#endif
#if GCACHE__THREADS
#if defined(__GNUC__) || defined(__clang__)
#define GCACHE__TLS __thread
#elif defined(__cplusplus)
#define GCACHE__TLS thread_local
#else
#define GCACHE__TLS _Thread_local
#endif
#define GCACHE__LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define GCACHE__LOAD_RELAXED(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define GCACHE__STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define GCACHE__STORE_RELAXED(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define GCACHE__ADD(p, v) ((void)__atomic_fetch_add((p), (v), __ATOMIC_RELAXED))
#define GCACHE__ADD_FETCH(p, v) __atomic_add_fetch((p), (v), __ATOMIC_ACQ_REL)
#define GCACHE__CAS(p, expected_p, v) \
    __atomic_compare_exchange_n((p), (expected_p), (v), 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)
#else
typedef int gcache__mutex;
typedef int gcache__cond;
#define gcache__mutex_init(m) ((void)(m), 1)
#define gcache__mutex_fini(m) ((void)(m))
#define gcache__lock(m) ((void)(m))
#define gcache__unlock(m) ((void)(m))
#define gcache__cond_init(c) ((void)(c), 1)
#define gcache__cond_fini(c) ((void)(c))
#define gcache__cond_wait(c, m) ((void)(c), (void)(m))
#define gcache__cond_broadcast(c) ((void)(c))
#define GCACHE__TLS
#define GCACHE__LOAD(p) (*(p))
#define GCACHE__LOAD_RELAXED(p) (*(p))
#define GCACHE__STORE(p, v) (*(p) = (v))
#define GCACHE__STORE_RELAXED(p, v) (*(p) = (v))
#define GCACHE__ADD(p, v) ((void)(*(p) += (v)))
#define GCACHE__ADD_FETCH(p, v) (*(p) += (v))
#define GCACHE__CAS(p, expected_p, v) gcache__cas_plain((p), (expected_p), (v))
static int gcache__cas_plain(int *p, int *expected, int v) {
    if (*p == *expected) { *p = v; return 1; }
    *expected = *p;
    return 0;
}
#endif

/* C-style casts on purpose: the same text compiles as C and C++ without warnings. */
#define GCACHE__CAST(T, v) ((T)(v))
#define GCACHE__PCAST(T, v) ((T)(v))

typedef unsigned long long gcache__u64;
typedef unsigned int gcache__u32;
#define GCACHE__LLONG_MAX 9223372036854775807LL
#define GCACHE__SIZE_MAX ((size_t)-1)
#define GCACHE__MAX_REMOTE_VALUE (GCACHE__CAST(size_t, 512) << 20) /* Redis' own bulk limit */

/* ---- Defaults: allocator, clocks, logger -------------------------------------------- */
#if !defined(GCACHE_NO_DEFAULT_ALLOCATOR)
#include <stdlib.h>
static void *gcache__malloc(size_t size, void *user_data) { (void)user_data; return malloc(size); }
static void gcache__mfree(void *ptr, void *user_data) { (void)user_data; free(ptr); }
#define GCACHE__HAS_DEFAULT_ALLOCATOR 1
#else
#define GCACHE__HAS_DEFAULT_ALLOCATOR 0
#endif

#if GCACHE__POSIX
static long long gcache__wall_ms(void *user_data) {
    struct timespec ts;
    (void)user_data;
    clock_gettime(CLOCK_REALTIME, &ts);
    return GCACHE__CAST(long long, ts.tv_sec) * 1000LL + ts.tv_nsec / 1000000L;
}
/* The TTL clock: coarse is enough (TTLs are whole seconds) and costs a few ns. */
static unsigned long long gcache__mono_ns(void *user_data) {
    struct timespec ts;
    (void)user_data;
#ifdef CLOCK_MONOTONIC_COARSE
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
#else
    clock_gettime(CLOCK_MONOTONIC, &ts);
#endif
    return GCACHE__CAST(unsigned long long, ts.tv_sec) * 1000000000ULL + GCACHE__CAST(unsigned long long, ts.tv_nsec);
}
/* The timer clock for histograms when the default clock is in use: precise. */
static unsigned long long gcache__mono_precise_ns(void *user_data) {
    struct timespec ts;
    (void)user_data;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return GCACHE__CAST(unsigned long long, ts.tv_sec) * 1000000000ULL + GCACHE__CAST(unsigned long long, ts.tv_nsec);
}
#define GCACHE__HAS_DEFAULT_CLOCK 1
#elif GCACHE__WIN32
static long long gcache__wall_ms(void *user_data) {
    FILETIME ft;
    unsigned long long t;
    (void)user_data;
    GetSystemTimeAsFileTime(&ft); /* 100 ns ticks since 1601 */
    t = (GCACHE__CAST(unsigned long long, ft.dwHighDateTime) << 32) | ft.dwLowDateTime;
    return GCACHE__CAST(long long, t / 10000ULL) - 11644473600000LL;
}
static unsigned long long gcache__mono_precise_ns(void *user_data) {
    LARGE_INTEGER c, f;
    (void)user_data;
    QueryPerformanceCounter(&c);
    QueryPerformanceFrequency(&f);
    return GCACHE__CAST(unsigned long long, c.QuadPart / f.QuadPart) * 1000000000ULL +
           GCACHE__CAST(unsigned long long, c.QuadPart % f.QuadPart) * 1000000000ULL / GCACHE__CAST(unsigned long long, f.QuadPart);
}
static unsigned long long gcache__mono_ns(void *user_data) {
    (void)user_data;
    return GCACHE__CAST(unsigned long long, GetTickCount64()) * 1000000ULL; /* coarse is enough for TTLs */
}
#define GCACHE__HAS_DEFAULT_CLOCK 1
#else
#define GCACHE__HAS_DEFAULT_CLOCK 0
#endif

static gcache_allocator gcache__allocator_or_default(gcache_allocator a) {
#if GCACHE__HAS_DEFAULT_ALLOCATOR
    if (!a.alloc_fn || !a.free_fn) { a.alloc_fn = gcache__malloc; a.free_fn = gcache__mfree; a.user_data = NULL; }
#endif
    return a;
}
static void *gcache__alloc_with(const gcache_allocator *a, size_t size) {
    return a->alloc_fn ? a->alloc_fn(size ? size : 1, a->user_data) : NULL;
}
static void gcache__free_with(const gcache_allocator *a, void *p) {
    if (p && a->free_fn) a->free_fn(p, a->user_data);
}

/* ---- Status strings ----------------------------------------------------------------- */
GCACHE_DEF const char *gcache_strerror(int status) {
    switch (status) {
    case GCACHE_OK: return "ok";
    case GCACHE_NOT_FOUND: return "not found";
    case GCACHE_EINVAL: return "invalid argument";
    case GCACHE_ENOMEM: return "out of memory";
    case GCACHE_EKEY: return "invalid key";
    case GCACHE_EEXIST: return "already exists";
    case GCACHE_EBACKEND: return "backend error";
    case GCACHE_ETIMEOUT: return "backend timeout";
    case GCACHE_ECORRUPT: return "corrupt data";
    case GCACHE_ETOOBIG: return "buffer too small";
    case GCACHE_ECONFIG: return "invalid config";
    default: return status < 0 ? "unknown error" : "unknown status";
    }
}

/* ---- Buffers ------------------------------------------------------------------------ */
GCACHE_DEF gcache_buf gcache_buf_fixed(void *storage, size_t cap) {
    gcache_buf b;
    memset(&b, 0, sizeof b);
    b.data = GCACHE__CAST(unsigned char *, storage);
    b.cap = storage ? cap : 0;
    b.fixed = 1;
    return b;
}

/* Make room for total bytes, keeping the first keep bytes. Contents unchanged on failure. */
static int gcache__buf_reserve(gcache_buf *b, size_t total, size_t keep) {
    unsigned char *p;
    size_t cap;
    if (total <= b->cap) return GCACHE_OK;
    if (b->fixed) { b->needed = total; return GCACHE_ETOOBIG; }
    if (!b->allocator.alloc_fn) b->allocator = gcache__allocator_or_default(b->allocator);
    cap = b->cap > GCACHE__SIZE_MAX / 2 ? total : b->cap * 2;
    if (cap < total) cap = total;
    if (cap < 64) cap = 64;
    p = GCACHE__CAST(unsigned char *, gcache__alloc_with(&b->allocator, cap));
    if (!p && cap > total) { cap = total; p = GCACHE__CAST(unsigned char *, gcache__alloc_with(&b->allocator, cap)); }
    if (!p) return GCACHE_ENOMEM;
    if (keep) memcpy(p, b->data, keep);
    gcache__free_with(&b->allocator, b->data);
    b->data = p;
    b->cap = cap;
    return GCACHE_OK;
}

GCACHE_DEF int gcache_buf_set(gcache_buf *b, const void *data, size_t len) {
    int rc;
    if (!b || (!data && len)) return GCACHE_EINVAL;
    if (len > b->cap) {
        /* data may point into b->data: reserve copies nothing, so copy from the old block first */
        unsigned char *old = b->data;
        size_t oldcap = b->cap;
        const unsigned char *src = GCACHE__CAST(const unsigned char *, data);
        if (!b->fixed && old && src >= old && src < old + oldcap) {
            rc = gcache__buf_reserve(b, len, b->len); /* keeps old contents, then move */
            if (rc != GCACHE_OK) return rc;
            memmove(b->data, b->data + (src - old), len);
            b->len = len;
            return GCACHE_OK;
        }
        rc = gcache__buf_reserve(b, len, 0);
        if (rc != GCACHE_OK) return rc;
    }
    if (len) memmove(b->data, data, len);
    b->len = len;
    return GCACHE_OK;
}

GCACHE_DEF int gcache_buf_append(gcache_buf *b, const void *data, size_t len) {
    int rc;
    size_t off;
    if (!b || (!data && len)) return GCACHE_EINVAL;
    if (len > GCACHE__SIZE_MAX - b->len) return b->fixed ? GCACHE_ETOOBIG : GCACHE_ENOMEM;
    if (b->len + len > b->cap) {
        const unsigned char *src = GCACHE__CAST(const unsigned char *, data);
        if (!b->fixed && b->data && src >= b->data && src < b->data + b->cap) {
            off = GCACHE__CAST(size_t, src - b->data);
            rc = gcache__buf_reserve(b, b->len + len, b->len);
            if (rc != GCACHE_OK) return rc;
            memmove(b->data + b->len, b->data + off, len);
            b->len += len;
            return GCACHE_OK;
        }
        rc = gcache__buf_reserve(b, b->len + len, b->len);
        if (rc != GCACHE_OK) return rc;
    }
    if (len) memmove(b->data + b->len, data, len);
    b->len += len;
    return GCACHE_OK;
}

GCACHE_DEF void gcache_buf_free(gcache_buf *b) {
    if (!b) return;
    if (b->fixed) { b->len = 0; return; }
    if (b->data) {
        gcache_allocator a = gcache__allocator_or_default(b->allocator);
        gcache__free_with(&a, b->data);
    }
    b->data = NULL;
    b->len = b->cap = 0;
}

/* ---- Hashes: XXH64 (ramp buckets, tables) and CRC-32C (envelope) --------------------- */
#define GCACHE__P1 11400714785074694791ULL
#define GCACHE__P2 14029467366897019727ULL
#define GCACHE__P3 1609587929392839161ULL
#define GCACHE__P4 9650029242287828579ULL
#define GCACHE__P5 2870177450012600261ULL

static gcache__u64 gcache__rotl(gcache__u64 x, int r) { return (x << r) | (x >> (64 - r)); }
/* Byte by byte: the same result on every endianness and alignment. */
#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define GCACHE__LITTLE_ENDIAN 1
#endif
static gcache__u64 gcache__read64(const unsigned char *p) {
#ifdef GCACHE__LITTLE_ENDIAN
    gcache__u64 v;
    memcpy(&v, p, 8); /* one load; the portable path below gives the same value */
    return v;
#else
    return GCACHE__CAST(gcache__u64, p[0]) | GCACHE__CAST(gcache__u64, p[1]) << 8 |
           GCACHE__CAST(gcache__u64, p[2]) << 16 | GCACHE__CAST(gcache__u64, p[3]) << 24 |
           GCACHE__CAST(gcache__u64, p[4]) << 32 | GCACHE__CAST(gcache__u64, p[5]) << 40 |
           GCACHE__CAST(gcache__u64, p[6]) << 48 | GCACHE__CAST(gcache__u64, p[7]) << 56;
#endif
}
static gcache__u32 gcache__read32(const unsigned char *p) {
#ifdef GCACHE__LITTLE_ENDIAN
    gcache__u32 v;
    memcpy(&v, p, 4);
    return v;
#else
    return GCACHE__CAST(gcache__u32, p[0]) | GCACHE__CAST(gcache__u32, p[1]) << 8 |
           GCACHE__CAST(gcache__u32, p[2]) << 16 | GCACHE__CAST(gcache__u32, p[3]) << 24;
#endif
}
static void gcache__write64(unsigned char *p, gcache__u64 v) {
    int i;
    for (i = 0; i < 8; i++) p[i] = GCACHE__CAST(unsigned char, v >> (8 * i));
}
static void gcache__write32(unsigned char *p, gcache__u32 v) {
    int i;
    for (i = 0; i < 4; i++) p[i] = GCACHE__CAST(unsigned char, v >> (8 * i));
}
static gcache__u64 gcache__xxh_round(gcache__u64 acc, gcache__u64 input) {
    acc += input * GCACHE__P2;
    acc = gcache__rotl(acc, 31);
    return acc * GCACHE__P1;
}
static gcache__u64 gcache__xxh_merge(gcache__u64 acc, gcache__u64 val) {
    acc ^= gcache__xxh_round(0, val);
    return acc * GCACHE__P1 + GCACHE__P4;
}

GCACHE_DEF unsigned long long gcache_xxh64(const void *data, size_t len, unsigned long long seed) {
    const unsigned char *p = GCACHE__CAST(const unsigned char *, data);
    const unsigned char *end = p + len;
    gcache__u64 h;
    if (!p) { static const unsigned char none = 0; p = &none; end = p; len = 0; }
    if (len >= 32) {
        const unsigned char *limit = end - 32;
        gcache__u64 v1 = seed + GCACHE__P1 + GCACHE__P2, v2 = seed + GCACHE__P2, v3 = seed, v4 = seed - GCACHE__P1;
        do {
            v1 = gcache__xxh_round(v1, gcache__read64(p)); p += 8;
            v2 = gcache__xxh_round(v2, gcache__read64(p)); p += 8;
            v3 = gcache__xxh_round(v3, gcache__read64(p)); p += 8;
            v4 = gcache__xxh_round(v4, gcache__read64(p)); p += 8;
        } while (p <= limit);
        h = gcache__rotl(v1, 1) + gcache__rotl(v2, 7) + gcache__rotl(v3, 12) + gcache__rotl(v4, 18);
        h = gcache__xxh_merge(h, v1); h = gcache__xxh_merge(h, v2);
        h = gcache__xxh_merge(h, v3); h = gcache__xxh_merge(h, v4);
    } else {
        h = seed + GCACHE__P5;
    }
    h += GCACHE__CAST(gcache__u64, len);
    while (p + 8 <= end) {
        h ^= gcache__xxh_round(0, gcache__read64(p));
        h = gcache__rotl(h, 27) * GCACHE__P1 + GCACHE__P4;
        p += 8;
    }
    if (p + 4 <= end) {
        h ^= GCACHE__CAST(gcache__u64, gcache__read32(p)) * GCACHE__P1;
        h = gcache__rotl(h, 23) * GCACHE__P2 + GCACHE__P3;
        p += 4;
    }
    while (p < end) {
        h ^= GCACHE__CAST(gcache__u64, *p) * GCACHE__P5;
        h = gcache__rotl(h, 11) * GCACHE__P1;
        p++;
    }
    h ^= h >> 33; h *= GCACHE__P2;
    h ^= h >> 29; h *= GCACHE__P3;
    h ^= h >> 32;
    return h;
}

/* A bijective 64-bit mixer (splitmix64 finalizer): mixes the per-instance secret in. */
static gcache__u64 gcache__mix64(gcache__u64 x) {
    x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27; x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

#ifndef __OPTIMIZE_SIZE__
static const gcache__u32 gcache__crc32c_table[256] = {
    0x00000000u, 0xf26b8303u, 0xe13b70f7u, 0x1350f3f4u, 0xc79a971fu, 0x35f1141cu,
    0x26a1e7e8u, 0xd4ca64ebu, 0x8ad958cfu, 0x78b2dbccu, 0x6be22838u, 0x9989ab3bu,
    0x4d43cfd0u, 0xbf284cd3u, 0xac78bf27u, 0x5e133c24u, 0x105ec76fu, 0xe235446cu,
    0xf165b798u, 0x030e349bu, 0xd7c45070u, 0x25afd373u, 0x36ff2087u, 0xc494a384u,
    0x9a879fa0u, 0x68ec1ca3u, 0x7bbcef57u, 0x89d76c54u, 0x5d1d08bfu, 0xaf768bbcu,
    0xbc267848u, 0x4e4dfb4bu, 0x20bd8edeu, 0xd2d60dddu, 0xc186fe29u, 0x33ed7d2au,
    0xe72719c1u, 0x154c9ac2u, 0x061c6936u, 0xf477ea35u, 0xaa64d611u, 0x580f5512u,
    0x4b5fa6e6u, 0xb93425e5u, 0x6dfe410eu, 0x9f95c20du, 0x8cc531f9u, 0x7eaeb2fau,
    0x30e349b1u, 0xc288cab2u, 0xd1d83946u, 0x23b3ba45u, 0xf779deaeu, 0x05125dadu,
    0x1642ae59u, 0xe4292d5au, 0xba3a117eu, 0x4851927du, 0x5b016189u, 0xa96ae28au,
    0x7da08661u, 0x8fcb0562u, 0x9c9bf696u, 0x6ef07595u, 0x417b1dbcu, 0xb3109ebfu,
    0xa0406d4bu, 0x522bee48u, 0x86e18aa3u, 0x748a09a0u, 0x67dafa54u, 0x95b17957u,
    0xcba24573u, 0x39c9c670u, 0x2a993584u, 0xd8f2b687u, 0x0c38d26cu, 0xfe53516fu,
    0xed03a29bu, 0x1f682198u, 0x5125dad3u, 0xa34e59d0u, 0xb01eaa24u, 0x42752927u,
    0x96bf4dccu, 0x64d4cecfu, 0x77843d3bu, 0x85efbe38u, 0xdbfc821cu, 0x2997011fu,
    0x3ac7f2ebu, 0xc8ac71e8u, 0x1c661503u, 0xee0d9600u, 0xfd5d65f4u, 0x0f36e6f7u,
    0x61c69362u, 0x93ad1061u, 0x80fde395u, 0x72966096u, 0xa65c047du, 0x5437877eu,
    0x4767748au, 0xb50cf789u, 0xeb1fcbadu, 0x197448aeu, 0x0a24bb5au, 0xf84f3859u,
    0x2c855cb2u, 0xdeeedfb1u, 0xcdbe2c45u, 0x3fd5af46u, 0x7198540du, 0x83f3d70eu,
    0x90a324fau, 0x62c8a7f9u, 0xb602c312u, 0x44694011u, 0x5739b3e5u, 0xa55230e6u,
    0xfb410cc2u, 0x092a8fc1u, 0x1a7a7c35u, 0xe811ff36u, 0x3cdb9bddu, 0xceb018deu,
    0xdde0eb2au, 0x2f8b6829u, 0x82f63b78u, 0x709db87bu, 0x63cd4b8fu, 0x91a6c88cu,
    0x456cac67u, 0xb7072f64u, 0xa457dc90u, 0x563c5f93u, 0x082f63b7u, 0xfa44e0b4u,
    0xe9141340u, 0x1b7f9043u, 0xcfb5f4a8u, 0x3dde77abu, 0x2e8e845fu, 0xdce5075cu,
    0x92a8fc17u, 0x60c37f14u, 0x73938ce0u, 0x81f80fe3u, 0x55326b08u, 0xa759e80bu,
    0xb4091bffu, 0x466298fcu, 0x1871a4d8u, 0xea1a27dbu, 0xf94ad42fu, 0x0b21572cu,
    0xdfeb33c7u, 0x2d80b0c4u, 0x3ed04330u, 0xccbbc033u, 0xa24bb5a6u, 0x502036a5u,
    0x4370c551u, 0xb11b4652u, 0x65d122b9u, 0x97baa1bau, 0x84ea524eu, 0x7681d14du,
    0x2892ed69u, 0xdaf96e6au, 0xc9a99d9eu, 0x3bc21e9du, 0xef087a76u, 0x1d63f975u,
    0x0e330a81u, 0xfc588982u, 0xb21572c9u, 0x407ef1cau, 0x532e023eu, 0xa145813du,
    0x758fe5d6u, 0x87e466d5u, 0x94b49521u, 0x66df1622u, 0x38cc2a06u, 0xcaa7a905u,
    0xd9f75af1u, 0x2b9cd9f2u, 0xff56bd19u, 0x0d3d3e1au, 0x1e6dcdeeu, 0xec064eedu,
    0xc38d26c4u, 0x31e6a5c7u, 0x22b65633u, 0xd0ddd530u, 0x0417b1dbu, 0xf67c32d8u,
    0xe52cc12cu, 0x1747422fu, 0x49547e0bu, 0xbb3ffd08u, 0xa86f0efcu, 0x5a048dffu,
    0x8ecee914u, 0x7ca56a17u, 0x6ff599e3u, 0x9d9e1ae0u, 0xd3d3e1abu, 0x21b862a8u,
    0x32e8915cu, 0xc083125fu, 0x144976b4u, 0xe622f5b7u, 0xf5720643u, 0x07198540u,
    0x590ab964u, 0xab613a67u, 0xb831c993u, 0x4a5a4a90u, 0x9e902e7bu, 0x6cfbad78u,
    0x7fab5e8cu, 0x8dc0dd8fu, 0xe330a81au, 0x115b2b19u, 0x020bd8edu, 0xf0605beeu,
    0x24aa3f05u, 0xd6c1bc06u, 0xc5914ff2u, 0x37faccf1u, 0x69e9f0d5u, 0x9b8273d6u,
    0x88d28022u, 0x7ab90321u, 0xae7367cau, 0x5c18e4c9u, 0x4f48173du, 0xbd23943eu,
    0xf36e6f75u, 0x0105ec76u, 0x12551f82u, 0xe03e9c81u, 0x34f4f86au, 0xc69f7b69u,
    0xd5cf889du, 0x27a40b9eu, 0x79b737bau, 0x8bdcb4b9u, 0x988c474du, 0x6ae7c44eu,
    0xbe2da0a5u, 0x4c4623a6u, 0x5f16d052u, 0xad7d5351u,
};
#else
/* -Os (firmware): a 16-entry table, two lookups a byte, 64 bytes instead of 1 KiB */
static const gcache__u32 gcache__crc32c_nibbles[16] = {
    0x00000000u, 0x105ec76fu, 0x20bd8edeu, 0x30e349b1u, 0x417b1dbcu, 0x5125dad3u, 0x61c69362u, 0x7198540du,
    0x82f63b78u, 0x92a8fc17u, 0xa24bb5a6u, 0xb21572c9u, 0xc38d26c4u, 0xd3d3e1abu, 0xe330a81au, 0xf36e6f75u};
#endif

/* x86-64 with SSE4.2 has CRC-32C in hardware (8 bytes an instruction); chosen at run time. */
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__) && !defined(GCACHE_NO_HW_CRC)
#define GCACHE__HW_CRC 1
__attribute__((target("sse4.2"))) static gcache__u32 gcache__crc32c_hw(gcache__u32 c, const unsigned char *p, size_t len) {
    gcache__u64 c64 = c;
    while (len >= 8) {
        gcache__u64 w;
        memcpy(&w, p, 8);
        c64 = __builtin_ia32_crc32di(c64, w);
        p += 8;
        len -= 8;
    }
    c = GCACHE__CAST(gcache__u32, c64);
    while (len--) c = __builtin_ia32_crc32qi(c, *p++);
    return c;
}
#endif

GCACHE_DEF unsigned int gcache_crc32c(unsigned int crc, const void *data, size_t len) {
    const unsigned char *p = GCACHE__CAST(const unsigned char *, data);
    gcache__u32 c = ~GCACHE__CAST(gcache__u32, crc);
    size_t i;
    if (!p) return crc;
#ifdef GCACHE__HW_CRC
    if (__builtin_cpu_supports("sse4.2")) return ~gcache__crc32c_hw(c, p, len);
#endif
#ifndef __OPTIMIZE_SIZE__
    for (i = 0; i < len; i++) c = gcache__crc32c_table[(c ^ p[i]) & 0xffu] ^ (c >> 8);
#else
    for (i = 0; i < len; i++) {
        c ^= p[i];
        c = gcache__crc32c_nibbles[c & 15u] ^ (c >> 4);
        c = gcache__crc32c_nibbles[c & 15u] ^ (c >> 4);
    }
#endif
    return ~c;
}

/* ---- Small text helpers (no stdio) ----------------------------------------------------- */
/* Decimal text of v into out (at least 21 bytes); returns the length, no NUL. */
static size_t gcache__fmt_u64(char *out, gcache__u64 v) {
    char tmp[24];
    size_t n = 0, i;
    do { tmp[n++] = GCACHE__CAST(char, '0' + v % 10); v /= 10; } while (v);
    for (i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
    return n;
}
static size_t gcache__fmt_i64(char *out, long long v) {
    if (v < 0) {
        out[0] = '-';
        return 1 + gcache__fmt_u64(out + 1, GCACHE__CAST(gcache__u64, -(v + 1)) + 1u);
    }
    return gcache__fmt_u64(out, GCACHE__CAST(gcache__u64, v));
}

static int gcache__name_ok(const char *s, const char *extra) {
    const char *p;
    if (!s || !*s) return 0;
    for (p = s; *p; p++) {
        unsigned char c = GCACHE__CAST(unsigned char, *p);
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
            c == '.' || c == '-')
            continue;
        if (extra && c && strchr(extra, c)) continue;
        return 0;
    }
    return 1;
}

#if !defined(GCACHE_NO_JSON) || !defined(GCACHE_NO_METRICS_TEXT)
/* Length of a valid UTF-8 sequence at p (0 if invalid). */
static size_t gcache__utf8_len(const unsigned char *p, const unsigned char *end) {
    unsigned c = p[0], need, i, cp;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) { need = 1; cp = c & 0x1f; }
    else if (c >= 0xe0 && c <= 0xef) { need = 2; cp = c & 0x0f; }
    else if (c >= 0xf0 && c <= 0xf4) { need = 3; cp = c & 0x07; }
    else return 0;
    if (GCACHE__CAST(size_t, end - p) <= need) return 0;
    for (i = 1; i <= need; i++) {
        if ((p[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (p[i] & 0x3fu);
    }
    if ((need == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (need == 3 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return need + 1;
}
#endif

/* ---- Envelope and watermark ----------------------------------------------------------- */
GCACHE_DEF size_t gcache_envelope_write(void *dst, size_t cap, long long created_at_ms, int negative,
                                        const void *payload, size_t payload_len) {
    unsigned char *p = GCACHE__CAST(unsigned char *, dst);
    gcache__u32 crc;
    if (negative) payload_len = 0;
    if ((payload_len >> 16) >> 16) return 0;
    if (!p || cap < GCACHE_ENVELOPE_HEADER + payload_len) return GCACHE_ENVELOPE_HEADER + payload_len;
    p[0] = 'G'; p[1] = 'C'; p[2] = 1; p[3] = GCACHE__CAST(unsigned char, negative ? 1 : 0);
    gcache__write64(p + 4, GCACHE__CAST(gcache__u64, created_at_ms));
    gcache__write32(p + 12, GCACHE__CAST(gcache__u32, payload_len));
    if (payload_len) memcpy(p + GCACHE_ENVELOPE_HEADER, payload, payload_len);
    crc = gcache_crc32c(0, p, 16);
    crc = gcache_crc32c(crc, p + GCACHE_ENVELOPE_HEADER, payload_len);
    gcache__write32(p + 16, crc);
    return GCACHE_ENVELOPE_HEADER + payload_len;
}

GCACHE_DEF int gcache_envelope_read(const void *data, size_t len, gcache_envelope *out) {
    const unsigned char *p = GCACHE__CAST(const unsigned char *, data);
    gcache__u32 plen, crc;
    if (!p || !out || len < GCACHE_ENVELOPE_HEADER) return GCACHE_ECORRUPT;
    if (p[0] != 'G' || p[1] != 'C' || p[2] != 1) return GCACHE_ECORRUPT;
    plen = gcache__read32(p + 12);
    if (GCACHE__CAST(size_t, plen) != len - GCACHE_ENVELOPE_HEADER) return GCACHE_ECORRUPT;
    if ((p[3] & 1) && plen) return GCACHE_ECORRUPT;
    crc = gcache_crc32c(0, p, 16);
    crc = gcache_crc32c(crc, p + GCACHE_ENVELOPE_HEADER, plen);
    if (crc != gcache__read32(p + 16)) return GCACHE_ECORRUPT;
    out->created_at_ms = GCACHE__CAST(long long, gcache__read64(p + 4));
    out->negative = p[3] & 1;
    out->payload = p + GCACHE_ENVELOPE_HEADER;
    out->payload_len = plen;
    return GCACHE_OK;
}

GCACHE_DEF int gcache_watermark_parse(const char *s, size_t len, long long *out_ms) {
    size_t i = 0;
    gcache__u64 v = 0;
    int saturated = 0;
    if (!s || !out_ms || len == 0) return GCACHE_ECORRUPT;
    while (i < len && s[i] >= '0' && s[i] <= '9') {
        unsigned d = GCACHE__CAST(unsigned, s[i] - '0');
        if (v > (GCACHE__CAST(gcache__u64, GCACHE__LLONG_MAX) - d) / 10) saturated = 1;
        else v = v * 10 + d;
        i++;
    }
    if (i == 0) return GCACHE_ECORRUPT;
    if (i < len) {
        size_t frac = i + 1;
        if (s[i] != '.') return GCACHE_ECORRUPT;
        i = frac;
        while (i < len && s[i] >= '0' && s[i] <= '9') i++;
        if (i == frac || i != len) return GCACHE_ECORRUPT;
    }
    *out_ms = saturated ? GCACHE__LLONG_MAX : GCACHE__CAST(long long, v);
    return GCACHE_OK;
}

/* ---- Internal types --------------------------------------------------------------------- */
enum { GCACHE__GLOBAL = 2, GCACHE__LAYERS3 = 3 };
enum { GCACHE__ERR_BACKEND, GCACHE__ERR_TIMEOUT, GCACHE__ERR_CORRUPT, GCACHE__ERR_NOMEM, GCACHE__ERR_KEY,
       GCACHE__ERR_CONFIG, GCACHE__ERR_WATERMARK, GCACHE__ERR_COUNT };
static const char *const gcache__err_names[GCACHE__ERR_COUNT] = {
    "backend", "timeout", "corrupt", "nomem", "key", "config", "watermark"};
static const char *const gcache__reason_names[GCACHE_REASON_COUNT] = {
    "ramped_down", "context", "server_down", "missing_config", "config_error", "killed"};
static const char *const gcache__layer_names[GCACHE__LAYERS3] = {"LOCAL", "REMOTE", "GLOBAL"};

/* Counters of one use case in one shard, changed only under that shard's lock. */
typedef struct gcache__ctr {
    gcache__u64 requests[GCACHE__LAYERS3], hits[GCACHE__LAYERS3], misses[GCACHE__LAYERS3];
    gcache__u64 errors[GCACHE__LAYERS3][GCACHE__ERR_COUNT];
    gcache__u64 fetch_errors[GCACHE__LAYERS3]; /* error="fetch", in_fallback="True" */
    gcache__u64 disabled[GCACHE__LAYERS3][GCACHE_REASON_COUNT];
    gcache__u64 evictions, entries, bytes;
} gcache__ctr;

/* Histogram buckets: timers from 1 us to 10 s, sizes from 64 B to 16 MiB. */
#define GCACHE__TIMER_BUCKETS 22
#define GCACHE__SIZE_BUCKETS 10
static const gcache__u64 gcache__timer_bounds_ns[GCACHE__TIMER_BUCKETS] = {
    1000ULL, 2500ULL, 5000ULL, 10000ULL, 25000ULL, 50000ULL, 100000ULL, 250000ULL, 500000ULL,
    1000000ULL, 2500000ULL, 5000000ULL, 10000000ULL, 25000000ULL, 50000000ULL, 100000000ULL,
    250000000ULL, 500000000ULL, 1000000000ULL, 2500000000ULL, 5000000000ULL, 10000000000ULL};
static const char *const gcache__timer_le[GCACHE__TIMER_BUCKETS] = {
    "1e-06", "2.5e-06", "5e-06", "1e-05", "2.5e-05", "5e-05", "0.0001", "0.00025", "0.0005",
    "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "10.0"};
static const gcache__u64 gcache__size_bounds[GCACHE__SIZE_BUCKETS] = {
    64ULL, 256ULL, 1024ULL, 4096ULL, 16384ULL, 65536ULL, 262144ULL, 1048576ULL, 4194304ULL, 16777216ULL};
static const char *const gcache__size_le[GCACHE__SIZE_BUCKETS] = {
    "64.0", "256.0", "1024.0", "4096.0", "16384.0", "65536.0", "262144.0", "1.048576e+06",
    "4.194304e+06", "1.6777216e+07"};
typedef struct gcache__hist {
    gcache__u64 buckets[GCACHE__TIMER_BUCKETS]; /* not cumulative; relaxed atomics */
    gcache__u64 count, sum;                     /* sum in ns (timers) or bytes (sizes) */
} gcache__hist;
enum { GCACHE__SER_DUMP = 0, GCACHE__SER_LOAD = 1 };

struct gcache_use_case {
    gcache *gc;
    char *name, *key_type;
    size_t name_len, key_type_len;
    int tracked;
    unsigned index;
    gcache_key_config def;
    int eff[5]; /* effective runtime config (ttl L/R, ramp L/R, negative ttl), read by seqlock */
    gcache__hist get_timer[GCACHE_LAYER_COUNT], fallback_timer[GCACHE_LAYER_COUNT];
    gcache__hist ser_timer[2], size_hist;
};

/* A local entry: one allocation, this header then key bytes then value bytes. */
typedef struct gcache__entry {
    struct gcache__entry *hnext;       /* hash chain */
    struct gcache__entry *newer, *older; /* SIEVE queue */
    gcache__u64 expire_ns;             /* monotonic */
    long long created_ms;              /* wall; compared with watermarks */
    gcache__u32 hash32, vlen;
    unsigned short klen, uc_index;
    unsigned char visited, negative;
} gcache__entry;
#define GCACHE__ENTRY_KEY(e) (GCACHE__PCAST(char *, (e)) + sizeof(gcache__entry))
#define GCACHE__ENTRY_VAL(e) (GCACHE__PCAST(unsigned char *, (e)) + sizeof(gcache__entry) + (e)->klen)

/* One fetch in flight (singleflight); waiters sleep on the shard's condition variable. */
typedef struct gcache__flight {
    struct gcache__flight *next;
    gcache__u64 hash;
    const void *leader;
    gcache__u64 idhash;   /* tracked: an invalidation of this id closes the flight to new waiters */
    int closed;
    size_t klen;
    int done, rc, shareable, refs;
    unsigned char *val;
    size_t vlen;
    char key[1]; /* klen bytes */
} gcache__flight;

/* A watermark known locally for one key_type:id (tracked use cases). */
typedef struct gcache__wm {
    struct gcache__wm *next;
    gcache__u64 idhash;
    long long wm_ms;
} gcache__wm;

typedef struct gcache__shard {
    gcache__mutex mu;
    gcache__cond cv;
    gcache__entry **buckets;
    size_t nbuckets, count, bytes, cap_entries, cap_bytes;
    gcache__entry *newest, *oldest, *hand;
    gcache__ctr *ctr;
    size_t ctr_cap;
    gcache__flight *flights, *spare_flight; /* one spare saves an allocation per miss */
    gcache__wm **wm_buckets;
    size_t wm_nbuckets, wm_count, wm_cap;
    long long wm_floor; /* tracked entries created at or before it are stale */
    char pad[64];
} gcache__shard;

typedef struct gcache__cfg_rec {
    char *name;
    int mask;   /* bit i: vals[i] given */
    int vals[5];
} gcache__cfg_rec;

typedef struct gcache__inval_ctr {
    char *key_type;
    size_t len;
    gcache__u64 n[GCACHE_LAYER_COUNT];
} gcache__inval_ctr;

enum { GCACHE__LOG_BREAKER, GCACHE__LOG_CONFIG, GCACHE__LOG_CORRUPT, GCACHE__LOG_BACKEND, GCACHE__LOG_KINDS };
enum { GCACHE__BR_CLOSED = 0, GCACHE__BR_OPEN = 1, GCACHE__BR_PROBING = 2 };

struct gcache {
    gcache_allocator allocator;
    gcache_clock clock;
    gcache_logger logger;
    unsigned long long (*timer_ns_fn)(void *user_data);
    char *prefix, *metrics_prefix;
    size_t prefix_len;
    int metrics_names;
    gcache_remote remote;
    int has_remote, keep_remote, subscribed;
    int (*config_provider)(void *config_user, const gcache_key *key, gcache_key_config *out);
    void *config_user;
    gcache__u64 ramp_seed, secret;
    int ramp_random, watermark_ttl_sec, enabled_by_default;
    int breaker_threshold;
    gcache__u64 breaker_cooldown_ns;
    int killed;
    /* breaker state (atomics) */
    int br_state, br_failures;
    gcache__u64 br_open_until_ns;
    int max_local_ttl_sec; /* atomic max of local TTLs used: how long local watermarks matter */
    size_t nshards;
    gcache__shard *shards;
    gcache__mutex reg_mu; /* use-case registry, invalidation counters */
    gcache_use_case **ucs;
    size_t nucs, ucs_cap;
    gcache__inval_ctr *inval;
    size_t ninval, inval_cap;
    gcache__mutex cfg_mu; /* runtime store writers */
    unsigned cfg_seq;
    gcache__cfg_rec *store;
    size_t nstore;
    gcache__u64 log_last_ns[GCACHE__LOG_KINDS];
    gcache__mutex log_mu;
};

static void *gcache__alloc(gcache *gc, size_t size) { return gcache__alloc_with(&gc->allocator, size); }
static void gcache__free(gcache *gc, void *p) { gcache__free_with(&gc->allocator, p); }
static char *gcache__strdup(gcache *gc, const char *s, size_t n) {
    char *p = GCACHE__CAST(char *, gcache__alloc(gc, n + 1));
    if (p) { memcpy(p, s, n); p[n] = 0; }
    return p;
}
static gcache__u64 gcache__now_ns(gcache *gc) { return gc->clock.mono_ns_fn(gc->clock.user_data); }
static long long gcache__now_ms(gcache *gc) { return gc->clock.wall_ms_fn(gc->clock.user_data); }
static gcache__u64 gcache__timer_now(gcache *gc) { return gc->timer_ns_fn(gc->clock.user_data); }

/* Rate-limited events: at most one a second of each kind. */
static void gcache__log(gcache *gc, int kind, int level, const char *msg) {
    gcache__u64 now;
    int emit = 0;
    if (!gc->logger.fn) return;
    now = gcache__now_ns(gc);
    gcache__lock(&gc->log_mu);
    if (gc->log_last_ns[kind] == 0 || now - gc->log_last_ns[kind] >= 1000000000ULL) {
        gc->log_last_ns[kind] = now ? now : 1;
        emit = 1;
    }
    gcache__unlock(&gc->log_mu);
    if (emit) gc->logger.fn(gc->logger.user_data, level, msg);
}

static void gcache__hist_add(gcache__hist *h, const gcache__u64 *bounds, int nb, gcache__u64 v, gcache__u64 weight) {
    int i = 0;
    while (i < nb && v > bounds[i]) i++;
    if (i < nb) GCACHE__ADD(&h->buckets[i], weight);
    GCACHE__ADD(&h->count, weight);
    GCACHE__ADD(&h->sum, v * weight);
}
static void gcache__timer_add(gcache__hist *h, gcache__u64 ns, gcache__u64 weight) {
    gcache__hist_add(h, gcache__timer_bounds_ns, GCACHE__TIMER_BUCKETS, ns, weight);
}

/* ---- Thread-local state ------------------------------------------------------------------- */
static GCACHE__TLS int gcache__tls_enabled = -1;
static GCACHE__TLS char gcache__tls_token; /* its address names the thread (singleflight leader) */
static GCACHE__TLS gcache__u64 gcache__tls_rng;
static GCACHE__TLS unsigned gcache__tls_sample;     /* local lookups timed 1 in 64 */
static GCACHE__TLS unsigned gcache__tls_sample_ser; /* envelope decodes timed 1 in 16 */

GCACHE_DEF int gcache_enable(int on) {
    int prev = gcache__tls_enabled;
    gcache__tls_enabled = on > 0 ? 1 : (on == 0 ? 0 : -1);
    return prev;
}

static unsigned gcache__rand100(void) {
    gcache__u64 x = gcache__tls_rng;
    if (!x) x = gcache__mix64(GCACHE__CAST(gcache__u64, GCACHE__CAST(size_t, &gcache__tls_token)) ^ 0x9e3779b97f4a7c15ULL);
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    gcache__tls_rng = x;
    return GCACHE__CAST(unsigned, (x >> 11) % 100u);
}

/* ---- Keys ------------------------------------------------------------------------------ */
static int gcache__must_escape(unsigned char c) {
    return c < 0x20 || c == 0x7f || c == '%' || c == '?' || c == '&' || c == '=' || c == '#' || c == '{' ||
           c == '}';
}
/* Escape n bytes of s into dst[0..cap); returns the escaped length, or (size_t)-1 if it does not fit. */
static size_t gcache__escape(char *dst, size_t cap, const char *s, size_t n) {
    static const char hex[] = "0123456789ABCDEF";
    size_t i, o = 0;
    for (i = 0; i < n; i++) {
        unsigned char c = GCACHE__CAST(unsigned char, s[i]);
        if (gcache__must_escape(c)) {
            if (o + 3 > cap) return GCACHE__CAST(size_t, -1);
            dst[o++] = '%'; dst[o++] = hex[c >> 4]; dst[o++] = hex[c & 15];
        } else {
            if (o + 1 > cap) return GCACHE__CAST(size_t, -1);
            dst[o++] = GCACHE__CAST(char, c);
        }
    }
    return o;
}

static void gcache__key_fail(gcache_key *k) {
    if (!k->error) k->error = GCACHE_EKEY;
    k->str[0] = 0;
    k->len = 0;
    k->hash_valid = 0;
}

/* Write "#use_case" after the head (a new key has no args yet). */
static void gcache__key_tail(gcache_key *k) {
    size_t pos = k->head_len;
    const gcache_use_case *uc = k->use_case;
    if (pos + 1 + uc->name_len > GCACHE_KEY_MAX) { gcache__key_fail(k); return; }
    k->str[pos++] = '#';
    memcpy(k->str + pos, uc->name, uc->name_len);
    pos += uc->name_len;
    k->str[pos] = 0;
    k->len = GCACHE__CAST(unsigned short, pos);
    k->hash_valid = 0;
}

static void gcache__key_start(gcache_key *k, gcache_use_case *uc, const char *id, size_t id_len) {
    const gcache *gc;
    size_t pos = 0, n;
    k->use_case = uc;
    k->error = 0;
    k->nargs = 0;
    k->hash_valid = 0;
    k->hash = 0;
    k->head_len = k->type_id_off = k->type_id_len = 0;
    k->len = 0;
    k->str[0] = 0;
    if (!uc || !id) { gcache__key_fail(k); return; }
    gc = uc->gc;
    if (uc->tracked) k->str[pos++] = '{';
    if (pos + gc->prefix_len + 1 + uc->key_type_len + 1 > GCACHE_KEY_MAX) { gcache__key_fail(k); return; }
    memcpy(k->str + pos, gc->prefix, gc->prefix_len);
    pos += gc->prefix_len;
    k->str[pos++] = ':';
    k->type_id_off = GCACHE__CAST(unsigned short, pos);
    memcpy(k->str + pos, uc->key_type, uc->key_type_len);
    pos += uc->key_type_len;
    k->str[pos++] = ':';
    n = gcache__escape(k->str + pos, GCACHE_KEY_MAX - pos, id, id_len);
    if (n == GCACHE__CAST(size_t, -1)) { gcache__key_fail(k); return; }
    pos += n;
    k->type_id_len = GCACHE__CAST(unsigned short, pos - k->type_id_off);
    if (uc->tracked) {
        if (pos + 1 > GCACHE_KEY_MAX) { gcache__key_fail(k); return; }
        k->str[pos++] = '}';
    }
    k->head_len = GCACHE__CAST(unsigned short, pos);
    gcache__key_tail(k);
}

GCACHE_DEF void gcache_key_init(gcache_key *k, gcache_use_case *uc, const char *id) {
    if (!k) return;
    gcache__key_start(k, uc, id, id ? strlen(id) : 0);
}

GCACHE_DEF void gcache_key_init_int(gcache_key *k, gcache_use_case *uc, long long id) {
    char tmp[24];
    size_t n;
    if (!k) return;
    n = gcache__fmt_i64(tmp, id);
    gcache__key_start(k, uc, tmp, n);
}

/* Insert "name=value" (escaped) into the key string in place, kept sorted by escaped name. */
static void gcache__key_add_n(gcache_key *k, const char *name, const char *value, size_t value_len) {
    char arg[GCACHE_KEY_MAX + 1];
    size_t nlen, vlen, alen, i, j, at;
    if (!k) return;
    if (k->error) return;
    if (!name || !value || !k->use_case || k->nargs >= GCACHE_KEY_MAX_ARGS) { gcache__key_fail(k); return; }
    nlen = gcache__escape(arg, GCACHE_KEY_MAX, name, strlen(name));
    if (nlen == GCACHE__CAST(size_t, -1) || nlen + 1 > GCACHE_KEY_MAX) { gcache__key_fail(k); return; }
    arg[nlen] = '=';
    vlen = gcache__escape(arg + nlen + 1, GCACHE_KEY_MAX - nlen - 1, value, value_len);
    if (vlen == GCACHE__CAST(size_t, -1)) { gcache__key_fail(k); return; }
    alen = nlen + 1 + vlen;
    if (GCACHE__CAST(size_t, k->len) + 1 + alen > GCACHE_KEY_MAX) { gcache__key_fail(k); return; }
    /* sorted by escaped name (byte order); equal names are an error */
    for (i = 0; i < k->nargs; i++) {
        size_t on = k->args[i].name_len, m = on < nlen ? on : nlen;
        int c = memcmp(k->str + k->args[i].off, arg, m);
        if (c == 0 && on == nlen) { gcache__key_fail(k); return; }
        if (c > 0 || (c == 0 && on > nlen)) break;
    }
    /* insert "<sep>name=value" before arg i's separator, or before "#use_case" */
    at = i < k->nargs ? GCACHE__CAST(size_t, k->args[i].off) - 1 : GCACHE__CAST(size_t, k->len) - 1 - k->use_case->name_len;
    memmove(k->str + at + 1 + alen, k->str + at, GCACHE__CAST(size_t, k->len) - at + 1);
    memcpy(k->str + at + 1, arg, alen);
    for (j = k->nargs; j > i; j--) {
        k->args[j] = k->args[j - 1];
        k->args[j].off = GCACHE__CAST(unsigned short, k->args[j].off + 1 + alen);
    }
    k->args[i].off = GCACHE__CAST(unsigned short, at + 1);
    k->args[i].name_len = GCACHE__CAST(unsigned short, nlen);
    k->args[i].len = GCACHE__CAST(unsigned short, alen);
    k->nargs++;
    for (j = 0; j < k->nargs; j++) k->str[k->args[j].off - 1] = j == 0 ? '?' : '&';
    k->len = GCACHE__CAST(unsigned short, k->len + 1 + alen);
    k->hash_valid = 0;
}

GCACHE_DEF void gcache_key_add(gcache_key *k, const char *name, const char *value) {
    gcache__key_add_n(k, name, value, value ? strlen(value) : 0);
}
GCACHE_DEF void gcache_key_add_int(gcache_key *k, const char *name, long long value) {
    char tmp[24];
    size_t n = gcache__fmt_i64(tmp, value);
    gcache__key_add_n(k, name, tmp, n);
}
GCACHE_DEF void gcache_key_add_bool(gcache_key *k, const char *name, int value) {
    gcache__key_add_n(k, name, value ? "True" : "False", value ? 4 : 5);
}
GCACHE_DEF const char *gcache_key_str(const gcache_key *k, size_t *len) {
    if (!k || k->error || !k->use_case) { if (len) *len = 0; return NULL; }
    if (len) *len = k->len;
    return k->str;
}
GCACHE_DEF int gcache_key_error(const gcache_key *k) {
    if (!k) return GCACHE_EINVAL;
    return k->error;
}

/* ---- Config: the runtime store and its seqlock ------------------------------------------- */
static int gcache__cfg_valid(const gcache_key_config *c) {
    int i;
    for (i = 0; i < GCACHE_LAYER_COUNT; i++)
        if (c->ttl_sec[i] < 0 || c->ramp[i] < 0 || c->ramp[i] > 100) return 0;
    return c->negative_ttl_sec >= 0;
}
static void gcache__cfg_to_vals(const gcache_key_config *c, int *v) {
    v[0] = c->ttl_sec[0]; v[1] = c->ttl_sec[1]; v[2] = c->ramp[0]; v[3] = c->ramp[1]; v[4] = c->negative_ttl_sec;
}
static void gcache__vals_to_cfg(const int *v, gcache_key_config *c) {
    c->ttl_sec[0] = v[0]; c->ttl_sec[1] = v[1]; c->ramp[0] = v[2]; c->ramp[1] = v[3]; c->negative_ttl_sec = v[4];
}
static const gcache__cfg_rec *gcache__store_find(gcache__cfg_rec *store, size_t n, const char *name, size_t len) {
    size_t i;
    for (i = 0; i < n; i++)
        if (strlen(store[i].name) == len && memcmp(store[i].name, name, len) == 0) return &store[i];
    return NULL;
}
/* Writer side; called with cfg_mu held and the seqlock open. */
static void gcache__uc_apply_store(gcache *gc, gcache_use_case *uc) {
    int v[5], i;
    const gcache__cfg_rec *r = gcache__store_find(gc->store, gc->nstore, uc->name, uc->name_len);
    gcache__cfg_to_vals(&uc->def, v);
    if (r)
        for (i = 0; i < 5; i++)
            if (r->mask & (1 << i)) v[i] = r->vals[i];
    /* release stores (no fences, which TSan cannot follow): a reader that sees one of
       them also sees the odd sequence number stored before it */
    for (i = 0; i < 5; i++) GCACHE__STORE(&uc->eff[i], v[i]);
}
static void gcache__seq_write_begin(gcache *gc) {
    GCACHE__STORE_RELAXED(&gc->cfg_seq, gc->cfg_seq + 1);
}
static void gcache__seq_write_end(gcache *gc) { GCACHE__STORE(&gc->cfg_seq, gc->cfg_seq + 1); }
/* All writers hold cfg_mu; this re-applies the store to every registered use case at once. */
static void gcache__store_publish(gcache *gc) {
    size_t i;
    gcache__lock(&gc->reg_mu);
    gcache__seq_write_begin(gc);
    for (i = 0; i < gc->nucs; i++) gcache__uc_apply_store(gc, gc->ucs[i]);
    gcache__seq_write_end(gc);
    gcache__unlock(&gc->reg_mu);
}
static void gcache__cfg_read(const gcache *gc, const gcache_use_case *uc, gcache_key_config *c) {
    int v[5], i;
    for (;;) {
        unsigned s1 = GCACHE__LOAD(&gc->cfg_seq), s2;
        if (s1 & 1u) continue;
        for (i = 0; i < 5; i++) v[i] = GCACHE__LOAD(&uc->eff[i]); /* acquire: s2 is read after */
        s2 = GCACHE__LOAD_RELAXED(&gc->cfg_seq);
        if (s1 == s2) break;
    }
    gcache__vals_to_cfg(v, c);
}
static void gcache__store_free(gcache *gc, gcache__cfg_rec *store, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) gcache__free(gc, store[i].name);
    gcache__free(gc, store);
}

GCACHE_DEF int gcache_config_get(gcache *gc, const gcache_use_case *uc, gcache_key_config *out) {
    if (!gc || !uc || !out || uc->gc != gc) return GCACHE_EINVAL;
    gcache__cfg_read(gc, uc, out);
    return GCACHE_OK;
}

GCACHE_DEF int gcache_config_set(gcache *gc, const char *use_case_name, const gcache_key_config *cfg) {
    size_t len, i;
    if (!gc || !use_case_name) return GCACHE_EINVAL;
    if (cfg && !gcache__cfg_valid(cfg)) return GCACHE_ECONFIG;
    len = strlen(use_case_name);
    gcache__lock(&gc->cfg_mu);
    for (i = 0; i < gc->nstore; i++)
        if (strlen(gc->store[i].name) == len && memcmp(gc->store[i].name, use_case_name, len) == 0) break;
    if (!cfg) {
        if (i < gc->nstore) {
            gcache__free(gc, gc->store[i].name);
            gc->store[i] = gc->store[gc->nstore - 1];
            gc->nstore--;
        }
    } else {
        if (i == gc->nstore) {
            gcache__cfg_rec *ns = GCACHE__CAST(gcache__cfg_rec *, gcache__alloc(gc, (gc->nstore + 1) * sizeof *ns));
            char *name = gcache__strdup(gc, use_case_name, len);
            if (!ns || !name) {
                gcache__free(gc, ns);
                gcache__free(gc, name);
                gcache__unlock(&gc->cfg_mu);
                return GCACHE_ENOMEM;
            }
            if (gc->nstore) memcpy(ns, gc->store, gc->nstore * sizeof *ns);
            gcache__free(gc, gc->store);
            gc->store = ns;
            gc->store[i].name = name;
            gc->nstore++;
        }
        gc->store[i].mask = 31;
        gcache__cfg_to_vals(cfg, gc->store[i].vals);
    }
    gcache__store_publish(gc);
    gcache__unlock(&gc->cfg_mu);
    return GCACHE_OK;
}

/* ---- JSON config (a small strict parser for the reference format) ------------------------ */
#ifndef GCACHE_NO_JSON
typedef struct gcache__json {
    const char *p, *end;
    const char *why; /* the reason of a refusal, for the log */
} gcache__json;

static void gcache__json_ws(gcache__json *j) {
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) j->p++;
}
static int gcache__json_lit(gcache__json *j, char c) {
    gcache__json_ws(j);
    if (j->p < j->end && *j->p == c) { j->p++; return 1; }
    return 0;
}
static int gcache__hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}
static int gcache__json_hex4(gcache__json *j, unsigned *out) {
    int i;
    unsigned v = 0;
    if (j->end - j->p < 4) return 0;
    for (i = 0; i < 4; i++) {
        int h = gcache__hexval(j->p[i]);
        if (h < 0) return 0;
        v = v * 16 + GCACHE__CAST(unsigned, h);
    }
    j->p += 4;
    *out = v;
    return 1;
}
static size_t gcache__utf8_put(char *o, unsigned cp) {
    if (cp < 0x80) { o[0] = GCACHE__CAST(char, cp); return 1; }
    if (cp < 0x800) { o[0] = GCACHE__CAST(char, 0xc0 | (cp >> 6)); o[1] = GCACHE__CAST(char, 0x80 | (cp & 0x3f)); return 2; }
    if (cp < 0x10000) {
        o[0] = GCACHE__CAST(char, 0xe0 | (cp >> 12)); o[1] = GCACHE__CAST(char, 0x80 | ((cp >> 6) & 0x3f));
        o[2] = GCACHE__CAST(char, 0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = GCACHE__CAST(char, 0xf0 | (cp >> 18)); o[1] = GCACHE__CAST(char, 0x80 | ((cp >> 12) & 0x3f));
    o[2] = GCACHE__CAST(char, 0x80 | ((cp >> 6) & 0x3f)); o[3] = GCACHE__CAST(char, 0x80 | (cp & 0x3f));
    return 4;
}
/* A JSON string decoded into out (cap bytes, NUL-terminated). Names longer than cap are refused. */
static int gcache__json_str(gcache__json *j, char *out, size_t cap, size_t *out_len) {
    size_t o = 0;
    if (!gcache__json_lit(j, '"')) { j->why = "expected a string"; return 0; }
    for (;;) {
        unsigned char c;
        if (j->p >= j->end) { j->why = "unterminated string"; return 0; }
        c = GCACHE__CAST(unsigned char, *j->p);
        if (c == '"') { j->p++; break; }
        if (o + 5 > cap) { j->why = "string too long"; return 0; }
        if (c < 0x20) { j->why = "control byte in a string"; return 0; }
        if (c == '\\') {
            unsigned cp;
            j->p++;
            if (j->p >= j->end) { j->why = "bad escape"; return 0; }
            c = GCACHE__CAST(unsigned char, *j->p++);
            switch (c) {
            case '"': case '\\': case '/': out[o++] = GCACHE__CAST(char, c); break;
            case 'b': out[o++] = '\b'; break;
            case 'f': out[o++] = '\f'; break;
            case 'n': out[o++] = '\n'; break;
            case 'r': out[o++] = '\r'; break;
            case 't': out[o++] = '\t'; break;
            case 'u':
                if (!gcache__json_hex4(j, &cp)) { j->why = "bad \\u escape"; return 0; }
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    unsigned lo;
                    if (j->end - j->p < 2 || j->p[0] != '\\' || j->p[1] != 'u') { j->why = "lone surrogate"; return 0; }
                    j->p += 2;
                    if (!gcache__json_hex4(j, &lo) || lo < 0xdc00 || lo > 0xdfff) { j->why = "lone surrogate"; return 0; }
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                    j->why = "lone surrogate";
                    return 0;
                }
                if (cp == 0) { j->why = "NUL in a string"; return 0; }
                o += gcache__utf8_put(out + o, cp);
                break;
            default: j->why = "bad escape"; return 0;
            }
        } else {
            size_t n = gcache__utf8_len(GCACHE__CAST(const unsigned char *, j->p), GCACHE__CAST(const unsigned char *, j->end));
            if (!n) { j->why = "invalid UTF-8"; return 0; }
            memcpy(out + o, j->p, n);
            o += n;
            j->p += n;
        }
    }
    out[o] = 0;
    *out_len = o;
    return 1;
}
/* An integer in [lo, hi]: -?(0|[1-9][0-9]*), no fraction, no exponent. */
static int gcache__json_int(gcache__json *j, long long lo, long long hi, int *out) {
    int neg = 0;
    long long v = 0;
    gcache__json_ws(j);
    if (j->p < j->end && *j->p == '-') { neg = 1; j->p++; }
    if (j->p >= j->end || *j->p < '0' || *j->p > '9') { j->why = "expected an integer"; return 0; }
    if (*j->p == '0' && j->p + 1 < j->end && j->p[1] >= '0' && j->p[1] <= '9') { j->why = "leading zero"; return 0; }
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
        v = v * 10 + (*j->p - '0');
        if (v > 100000000000LL) { j->why = "number out of range"; return 0; }
        j->p++;
    }
    if (j->p < j->end && (*j->p == '.' || *j->p == 'e' || *j->p == 'E')) { j->why = "not an integer"; return 0; }
    if (neg) v = -v;
    if (v < lo || v > hi) { j->why = "number out of range"; return 0; }
    *out = GCACHE__CAST(int, v);
    return 1;
}
/* {"local": n, "remote": n} into vals[base], vals[base+1]; a missing field stays unset. */
static int gcache__json_layers(gcache__json *j, long long hi, int *vals, int *mask, int base) {
    char name[16];
    size_t n;
    int seen = 0;
    if (!gcache__json_lit(j, '{')) { j->why = "expected an object"; return 0; }
    if (gcache__json_lit(j, '}')) return 1;
    do {
        int which;
        if (!gcache__json_str(j, name, sizeof name, &n)) { if (!j->why) j->why = "bad field"; return 0; }
        if (n == 5 && memcmp(name, "local", 5) == 0) which = 0;
        else if (n == 6 && memcmp(name, "remote", 6) == 0) which = 1;
        else { j->why = "unknown layer"; return 0; }
        if (seen & (1 << which)) { j->why = "duplicate key"; return 0; }
        seen |= 1 << which;
        if (!gcache__json_lit(j, ':')) { j->why = "expected ':'"; return 0; }
        if (!gcache__json_int(j, 0, hi, &vals[base + which])) return 0;
        *mask |= 1 << (base + which);
    } while (gcache__json_lit(j, ','));
    if (!gcache__json_lit(j, '}')) { j->why = "expected '}'"; return 0; }
    return 1;
}
static int gcache__json_use_case(gcache__json *j, gcache__cfg_rec *r) {
    char name[32];
    size_t n;
    int seen = 0;
    r->mask = 0;
    if (!gcache__json_lit(j, '{')) { j->why = "expected an object"; return 0; }
    if (gcache__json_lit(j, '}')) return 1;
    do {
        int which;
        if (!gcache__json_str(j, name, sizeof name, &n)) { j->why = "unknown field"; return 0; }
        if (n == 7 && memcmp(name, "ttl_sec", 7) == 0) which = 0;
        else if (n == 4 && memcmp(name, "ramp", 4) == 0) which = 1;
        else if (n == 16 && memcmp(name, "negative_ttl_sec", 16) == 0) which = 2;
        else { j->why = "unknown field"; return 0; }
        if (seen & (1 << which)) { j->why = "duplicate key"; return 0; }
        seen |= 1 << which;
        if (!gcache__json_lit(j, ':')) { j->why = "expected ':'"; return 0; }
        if (which == 0 && !gcache__json_layers(j, INT_MAX, r->vals, &r->mask, 0)) return 0;
        if (which == 1 && !gcache__json_layers(j, 100, r->vals, &r->mask, 2)) return 0;
        if (which == 2) {
            if (!gcache__json_int(j, 0, INT_MAX, &r->vals[4])) return 0;
            r->mask |= 1 << 4;
        }
    } while (gcache__json_lit(j, ','));
    if (!gcache__json_lit(j, '}')) { j->why = "expected '}'"; return 0; }
    return 1;
}

#define GCACHE__JSON_MAX_BYTES (4u << 20)
GCACHE_DEF int gcache_config_load_json(gcache *gc, const char *json, size_t len) {
    gcache__json j;
    gcache__cfg_rec *recs = NULL, *old;
    size_t n = 0, cap = 0, oldn;
    int rc = GCACHE_ECONFIG;
    char *name = NULL;
    if (!gc || (!json && len)) return GCACHE_EINVAL;
    j.p = json;
    j.end = json + len;
    j.why = NULL;
    if (len > GCACHE__JSON_MAX_BYTES) { j.why = "config too large"; goto fail; }
    name = GCACHE__CAST(char *, gcache__alloc(gc, len + 8)); /* no name is longer than the input */
    if (!name) { rc = GCACHE_ENOMEM; j.why = "out of memory"; goto fail; }
    if (!gcache__json_lit(&j, '{')) { j.why = "expected an object"; goto fail; }
    if (!gcache__json_lit(&j, '}')) {
        do {
            size_t nl;
            gcache__cfg_rec r;
            memset(&r, 0, sizeof r);
            if (!gcache__json_str(&j, name, len + 8, &nl)) goto fail;
            if (gcache__store_find(recs, n, name, nl)) { j.why = "duplicate use case"; goto fail; }
            if (!gcache__json_lit(&j, ':')) { j.why = "expected ':'"; goto fail; }
            if (!gcache__json_use_case(&j, &r)) goto fail;
            if (n == cap) {
                size_t nc = cap ? cap * 2 : 8;
                gcache__cfg_rec *nr = GCACHE__CAST(gcache__cfg_rec *, gcache__alloc(gc, nc * sizeof *nr));
                if (!nr) { rc = GCACHE_ENOMEM; j.why = "out of memory"; goto fail; }
                if (n) memcpy(nr, recs, n * sizeof *nr);
                gcache__free(gc, recs);
                recs = nr;
                cap = nc;
            }
            r.name = gcache__strdup(gc, name, nl);
            if (!r.name) { rc = GCACHE_ENOMEM; j.why = "out of memory"; goto fail; }
            recs[n++] = r;
        } while (gcache__json_lit(&j, ','));
        if (!gcache__json_lit(&j, '}')) { if (!j.why) j.why = "expected '}'"; goto fail; }
    }
    gcache__json_ws(&j);
    if (j.p != j.end) { j.why = "trailing bytes"; goto fail; }
    gcache__lock(&gc->cfg_mu);
    old = gc->store;
    oldn = gc->nstore;
    gc->store = recs;
    gc->nstore = n;
    gcache__store_publish(gc);
    gcache__unlock(&gc->cfg_mu);
    gcache__store_free(gc, old, oldn);
    gcache__free(gc, name);
    gcache__log(gc, GCACHE__LOG_CONFIG, GCACHE_LOG_INFO, "gcache: config reloaded");
    return GCACHE_OK;
fail:
    gcache__store_free(gc, recs, n);
    gcache__free(gc, name);
    {
        char msg[128];
        size_t m = 0, wl;
        const char *head = "gcache: config refused (kept the old one): ";
        const char *why = j.why ? j.why : "syntax error";
        wl = strlen(head); memcpy(msg, head, wl); m = wl;
        wl = strlen(why); if (wl > 50) wl = 50;
        memcpy(msg + m, why, wl); m += wl;
        memcpy(msg + m, " at byte ", 9); m += 9;
        m += gcache__fmt_u64(msg + m, GCACHE__CAST(gcache__u64, j.p && json ? j.p - json : 0));
        msg[m] = 0;
        gcache__log(gc, GCACHE__LOG_CONFIG, GCACHE_LOG_WARN, msg);
    }
    return rc;
}
#else
GCACHE_DEF int gcache_config_load_json(gcache *gc, const char *json, size_t len) {
    (void)gc; (void)json; (void)len;
    return GCACHE_EINVAL;
}
#endif

#if !defined(GCACHE_NO_JSON) || !defined(GCACHE_NO_METRICS_TEXT)
/* snprintf-style output used by the JSON dump and the metrics text. */
typedef struct gcache__out {
    char *buf;
    size_t cap, len;
} gcache__out;
static void gcache__put(gcache__out *o, const char *s, size_t n) {
    if (o->len < o->cap) {
        size_t room = o->cap - o->len;
        memcpy(o->buf + o->len, s, n < room ? n : room);
    }
    o->len += n;
}
static void gcache__puts(gcache__out *o, const char *s) { gcache__put(o, s, strlen(s)); }
static void gcache__put_u64(gcache__out *o, gcache__u64 v) {
    char t[24];
    gcache__put(o, t, gcache__fmt_u64(t, v));
}
static int gcache__out_finish(gcache__out *o) {
    if (o->cap) o->buf[o->len < o->cap ? o->len : o->cap - 1] = 0;
    return o->len > INT_MAX ? -1 : GCACHE__CAST(int, o->len);
}

#endif

#ifndef GCACHE_NO_JSON
GCACHE_DEF int gcache_config_dump_json(gcache *gc, char *buf, size_t cap) {
    gcache__out o;
    size_t i;
    if (!gc || (!buf && cap)) return GCACHE_EINVAL;
    o.buf = buf; o.cap = cap; o.len = 0;
    gcache__puts(&o, "{");
    gcache__lock(&gc->reg_mu);
    for (i = 0; i < gc->nucs; i++) {
        gcache_key_config c;
        gcache__cfg_read(gc, gc->ucs[i], &c);
        if (i) gcache__puts(&o, ", ");
        gcache__puts(&o, "\"");
        gcache__puts(&o, gc->ucs[i]->name);
        gcache__puts(&o, "\": {\"ttl_sec\": {\"local\": ");
        gcache__put_u64(&o, GCACHE__CAST(gcache__u64, c.ttl_sec[0]));
        gcache__puts(&o, ", \"remote\": ");
        gcache__put_u64(&o, GCACHE__CAST(gcache__u64, c.ttl_sec[1]));
        gcache__puts(&o, "}, \"ramp\": {\"local\": ");
        gcache__put_u64(&o, GCACHE__CAST(gcache__u64, c.ramp[0]));
        gcache__puts(&o, ", \"remote\": ");
        gcache__put_u64(&o, GCACHE__CAST(gcache__u64, c.ramp[1]));
        gcache__puts(&o, "}, \"negative_ttl_sec\": ");
        gcache__put_u64(&o, GCACHE__CAST(gcache__u64, c.negative_ttl_sec));
        gcache__puts(&o, "}");
    }
    gcache__unlock(&gc->reg_mu);
    gcache__puts(&o, "}");
    return gcache__out_finish(&o);
}
#else
GCACHE_DEF int gcache_config_dump_json(gcache *gc, char *buf, size_t cap) {
    (void)gc; (void)buf; (void)cap;
    return GCACHE_EINVAL;
}
#endif

GCACHE_DEF int gcache_kill(gcache *gc, int on) {
    int prev;
    if (!gc) return GCACHE_EINVAL;
    prev = GCACHE__LOAD(&gc->killed);
    GCACHE__STORE(&gc->killed, on ? 1 : 0);
    return prev;
}

/* ---- Local layer: sharded hash tables with SIEVE eviction --------------------------------- */
/* The low bits of a hash pick the shard, the high 32 bits (kept in the entry) the bucket. */
static gcache__shard *gcache__shard_of(gcache *gc, gcache__u64 h) {
    return &gc->shards[h & (gc->nshards - 1)];
}
static gcache__ctr *gcache__ctr_of(gcache__shard *s, const gcache_use_case *uc) { return &s->ctr[uc->index]; }

static gcache__entry *gcache__lookup(gcache__shard *s, gcache__u32 h32, const char *key, size_t klen,
                                     gcache__entry ***link_out) {
    gcache__entry **link = &s->buckets[h32 & (s->nbuckets - 1)], *e;
    for (e = *link; e; link = &e->hnext, e = *link)
        if (e->hash32 == h32 && e->klen == klen && memcmp(GCACHE__ENTRY_KEY(e), key, klen) == 0) break;
    if (link_out) *link_out = link;
    return e;
}
/* Unlink e from its chain and the SIEVE queue and free it; caller holds the lock. */
static void gcache__entry_remove(gcache *gc, gcache__shard *s, gcache__entry *e) {
    gcache__ctr *c = &s->ctr[e->uc_index];
    gcache__entry **link = &s->buckets[e->hash32 & (s->nbuckets - 1)];
    size_t sz = GCACHE__CAST(size_t, e->klen) + e->vlen;
    while (*link != e) link = &(*link)->hnext;
    *link = e->hnext;
    if (s->hand == e) s->hand = e->newer;
    if (e->newer) e->newer->older = e->older; else s->newest = e->older;
    if (e->older) e->older->newer = e->newer; else s->oldest = e->newer;
    s->count--;
    s->bytes -= sz;
    c->entries--;
    c->bytes -= sz;
    gcache__free(gc, e);
}

/* SIEVE: new entries enter at the newest end; the hand walks from the oldest towards the
   newest, sparing (and clearing) visited entries, so one scan of cold keys cannot flush a
   hot set. Expired entries go first. Caller holds the lock. */
static void gcache__evict_one(gcache *gc, gcache__shard *s, gcache__u64 now_ns) {
    gcache__entry *e = s->hand ? s->hand : s->oldest;
    while (e && e->expire_ns > now_ns && e->visited) {
        e->visited = 0;
        e = e->newer ? e->newer : s->oldest;
    }
    if (!e) return;
    s->hand = e->newer;
    if (e->expire_ns > now_ns) s->ctr[e->uc_index].evictions++;
    gcache__entry_remove(gc, s, e);
}

static void gcache__grow_buckets(gcache *gc, gcache__shard *s) {
    size_t nb = s->nbuckets * 2, i;
    gcache__entry **b = GCACHE__CAST(gcache__entry **, gcache__alloc(gc, nb * sizeof *b));
    if (!b) return; /* longer chains, still correct */
    memset(b, 0, nb * sizeof *b);
    for (i = 0; i < s->nbuckets; i++) {
        gcache__entry *e = s->buckets[i], *next;
        for (; e; e = next) {
            next = e->hnext;
            e->hnext = b[e->hash32 & (nb - 1)];
            b[e->hash32 & (nb - 1)] = e;
        }
    }
    gcache__free(gc, s->buckets);
    s->buckets = b;
    s->nbuckets = nb;
}

/* Insert e (replacing its key), evicting until the bounds hold. Caller holds the lock.
   Returns 0 if the entry can never fit this shard (then it is freed). */
static int gcache__insert(gcache *gc, gcache__shard *s, gcache__entry *e, gcache__u64 now_ns) {
    size_t sz = GCACHE__CAST(size_t, e->klen) + e->vlen;
    gcache__entry *old = gcache__lookup(s, e->hash32, GCACHE__ENTRY_KEY(e), e->klen, NULL);
    gcache__entry **slot;
    gcache__ctr *c = &s->ctr[e->uc_index];
    if (old) gcache__entry_remove(gc, s, old);
    if (s->cap_entries == 0 || (s->cap_bytes && sz > s->cap_bytes)) { gcache__free(gc, e); return 0; }
    while (s->count && (s->count >= s->cap_entries || (s->cap_bytes && s->bytes + sz > s->cap_bytes)))
        gcache__evict_one(gc, s, now_ns);
    if (s->count >= s->nbuckets && s->nbuckets < (GCACHE__CAST(size_t, 1) << 30)) gcache__grow_buckets(gc, s);
    slot = &s->buckets[e->hash32 & (s->nbuckets - 1)];
    e->hnext = *slot;
    *slot = e;
    e->older = s->newest;
    e->newer = NULL;
    if (s->newest) s->newest->newer = e; else s->oldest = e;
    s->newest = e;
    s->count++;
    s->bytes += sz;
    c->entries++;
    c->bytes += sz;
    return 1;
}

static void gcache__shard_clear(gcache *gc, gcache__shard *s) {
    gcache__flight *f;
    while (s->oldest) gcache__entry_remove(gc, s, s->oldest);
    s->hand = NULL;
    for (f = s->flights; f; f = f->next) f->closed = 1;
}
static void gcache__local_flush(gcache *gc) {
    size_t i;
    for (i = 0; i < gc->nshards; i++) {
        gcache__lock(&gc->shards[i].mu);
        gcache__shard_clear(gc, &gc->shards[i]);
        gcache__unlock(&gc->shards[i].mu);
    }
}

/* ---- Local watermarks: per shard, bounded, folding the oldest into a floor ------------------ */
#define GCACHE__WM_NONE (-GCACHE__LLONG_MAX - 1)
static long long gcache__wm_get(const gcache__shard *s, gcache__u64 idhash) {
    long long v = s->wm_floor;
    if (s->wm_count) {
        const gcache__wm *w = s->wm_buckets[(idhash >> 32) & (s->wm_nbuckets - 1)];
        for (; w; w = w->next)
            if (w->idhash == idhash && w->wm_ms > v) v = w->wm_ms;
    }
    return v;
}
static void gcache__wm_unlink(gcache *gc, gcache__shard *s, gcache__wm **link) {
    gcache__wm *w = *link;
    *link = w->next;
    s->wm_count--;
    gcache__free(gc, w);
}
/* A fetch in flight may bring a value older than a new watermark: no one joins it any more
   (its own callers started before the invalidation and may take it). */
static void gcache__flights_close(gcache__shard *s, gcache__u64 idhash, int all) {
    gcache__flight *f;
    for (f = s->flights; f; f = f->next)
        if (all || f->idhash == idhash) f->closed = 1;
}
/* Drop records no local entry can still be stale for; if still full, fold the oldest. */
static void gcache__wm_make_room(gcache *gc, gcache__shard *s, long long now_ms) {
    long long keep_ms = GCACHE__CAST(long long, GCACHE__LOAD_RELAXED(&gc->max_local_ttl_sec)) * 1000 + 1000;
    size_t i;
    gcache__wm **oldest = NULL;
    for (i = 0; i < s->wm_nbuckets; i++) {
        gcache__wm **link = &s->wm_buckets[i];
        while (*link) {
            if ((*link)->wm_ms < now_ms - keep_ms) { gcache__wm_unlink(gc, s, link); continue; }
            if (!oldest || (*link)->wm_ms < (*oldest)->wm_ms) oldest = link;
            link = &(*link)->next;
        }
    }
    if (s->wm_count >= s->wm_cap && oldest) {
        if ((*oldest)->wm_ms > s->wm_floor) s->wm_floor = (*oldest)->wm_ms;
        gcache__flights_close(s, 0, 1);
        gcache__wm_unlink(gc, s, oldest);
    }
}
/* fresh = 1 for a new invalidation (ours or a subscriber's): it closes the id's flights even
   when the watermark did not move (two invalidations in one millisecond); a watermark only
   read back from the remote closes them when it is news. */
static void gcache__wm_put(gcache *gc, gcache__shard *s, gcache__u64 idhash, long long wm_ms, long long now_ms, int fresh) {
    gcache__wm *w;
    size_t b;
    if (fresh) gcache__flights_close(s, idhash, 0);
    if (wm_ms <= s->wm_floor) return;
    for (w = s->wm_buckets[(idhash >> 32) & (s->wm_nbuckets - 1)]; w; w = w->next)
        if (w->idhash == idhash) {
            if (wm_ms > w->wm_ms) {
                w->wm_ms = wm_ms;
                gcache__flights_close(s, idhash, 0);
            }
            return;
        }
    gcache__flights_close(s, idhash, 0);
    if (s->wm_count >= s->wm_cap) gcache__wm_make_room(gc, s, now_ms);
    if (s->wm_count >= s->wm_nbuckets * 2) {
        size_t nb = s->wm_nbuckets * 2, i;
        gcache__wm **nbk = GCACHE__CAST(gcache__wm **, gcache__alloc(gc, nb * sizeof *nbk));
        if (nbk) {
            memset(nbk, 0, nb * sizeof *nbk);
            for (i = 0; i < s->wm_nbuckets; i++) {
                gcache__wm *x = s->wm_buckets[i], *next;
                for (; x; x = next) {
                    next = x->next;
                    x->next = nbk[(x->idhash >> 32) & (nb - 1)];
                    nbk[(x->idhash >> 32) & (nb - 1)] = x;
                }
            }
            gcache__free(gc, s->wm_buckets);
            s->wm_buckets = nbk;
            s->wm_nbuckets = nb;
        }
    }
    w = GCACHE__CAST(gcache__wm *, gcache__alloc(gc, sizeof *w));
    if (!w) { /* no memory: the floor keeps it safe (more misses, never a stale hit) */
        if (wm_ms > s->wm_floor) s->wm_floor = wm_ms;
        gcache__flights_close(s, 0, 1);
        return;
    }
    w->idhash = idhash;
    w->wm_ms = wm_ms;
    b = GCACHE__CAST(size_t, (idhash >> 32) & (s->wm_nbuckets - 1));
    w->next = s->wm_buckets[b];
    s->wm_buckets[b] = w;
    s->wm_count++;
}

static gcache__u64 gcache__idhash(const gcache *gc, const char *type_id, size_t len) {
    return gcache_xxh64(type_id, len, gc->secret);
}
static void gcache__wm_apply(gcache *gc, const char *type_id, size_t len, long long wm_ms, int fresh) {
    gcache__u64 ih = gcache__idhash(gc, type_id, len);
    gcache__shard *s = gcache__shard_of(gc, ih);
    long long now = gcache__now_ms(gc);
    gcache__lock(&s->mu);
    gcache__wm_put(gc, s, ih, wm_ms, now, fresh);
    gcache__unlock(&s->mu);
}
/* The remote's subscribe callback: may run on any thread, also inside our own publish. */
static void gcache__on_invalidate(void *u, gcache_slice key_type_id, long long watermark_ms) {
    gcache *gc = GCACHE__CAST(gcache *, u);
    if (!key_type_id.len || !key_type_id.ptr) { gcache__local_flush(gc); return; }
    gcache__wm_apply(gc, key_type_id.ptr, key_type_id.len, watermark_ms, 1);
}

/* ---- Circuit breaker --------------------------------------------------------------------- */
static int gcache__breaker_allow(gcache *gc) {
    int st = GCACHE__LOAD(&gc->br_state);
    if (st == GCACHE__BR_CLOSED) return 1;
    if (st == GCACHE__BR_OPEN && gcache__now_ns(gc) >= GCACHE__LOAD(&gc->br_open_until_ns)) {
        int expected = GCACHE__BR_OPEN;
        if (GCACHE__CAS(&gc->br_state, &expected, GCACHE__BR_PROBING)) return 1; /* the one probe */
    }
    return 0;
}
static void gcache__breaker_report(gcache *gc, int ok) {
    int st, n;
    if (ok) {
        if (GCACHE__LOAD_RELAXED(&gc->br_failures)) GCACHE__STORE(&gc->br_failures, 0);
        if (GCACHE__LOAD(&gc->br_state) != GCACHE__BR_CLOSED) {
            GCACHE__STORE(&gc->br_state, GCACHE__BR_CLOSED);
            gcache__log(gc, GCACHE__LOG_BREAKER, GCACHE_LOG_INFO, "gcache: remote breaker closed, remote layer back");
        }
        return;
    }
    n = GCACHE__ADD_FETCH(&gc->br_failures, 1);
    st = GCACHE__LOAD(&gc->br_state);
    if (st == GCACHE__BR_PROBING || (st == GCACHE__BR_CLOSED && n >= gc->breaker_threshold)) {
        GCACHE__STORE(&gc->br_open_until_ns, gcache__now_ns(gc) + gc->breaker_cooldown_ns);
        GCACHE__STORE(&gc->br_state, GCACHE__BR_OPEN);
        gcache__log(gc, GCACHE__LOG_BREAKER, GCACHE_LOG_WARN, "gcache: remote breaker opened, remote layer skipped");
    }
}
static int gcache__err_of(int status) {
    switch (status) {
    case GCACHE_ETIMEOUT: return GCACHE__ERR_TIMEOUT;
    case GCACHE_ECORRUPT: return GCACHE__ERR_CORRUPT;
    case GCACHE_ENOMEM: return GCACHE__ERR_NOMEM;
    default: return GCACHE__ERR_BACKEND;
    }
}

/* ---- Counting (slow paths take the shard lock; the hit path counts under the lock it holds) -- */
static gcache__shard *gcache__thread_shard(gcache *gc) {
    return gcache__shard_of(gc, gcache__mix64(GCACHE__CAST(gcache__u64, GCACHE__CAST(size_t, &gcache__tls_token))));
}
static void gcache__count_disabled(gcache_use_case *uc, gcache__shard *s, int layer, int reason) {
    if (!uc) return;
    gcache__lock(&s->mu);
    gcache__ctr_of(s, uc)->disabled[layer][reason]++;
    gcache__unlock(&s->mu);
}
static void gcache__count_error(gcache *gc, gcache_use_case *uc, gcache__shard *s, int layer, int err) {
    (void)gc;
    if (!uc) return;
    gcache__lock(&s->mu);
    gcache__ctr_of(s, uc)->errors[layer][err]++;
    gcache__unlock(&s->mu);
}
/* A fetch with no caching around it (disabled, killed, a bad key, a config error). */
static int gcache__fetch_plain(gcache *gc, gcache_use_case *uc, gcache__shard *s, gcache_key *key,
                               gcache_fetch_fn fetch, void *user, gcache_buf *out) {
    int rc = fetch(user, key, out);
    if (rc == GCACHE_NOT_FOUND) out->len = 0;
    if (rc < 0 && uc) {
        gcache__lock(&s->mu);
        gcache__ctr_of(s, uc)->fetch_errors[GCACHE__GLOBAL]++;
        gcache__unlock(&s->mu);
    }
    (void)gc;
    return rc;
}

/* ---- Create / destroy ---------------------------------------------------------------------- */
static size_t gcache__default_shards(size_t max_entries) {
    size_t want = 8, n = 1;
#if GCACHE__POSIX && defined(_SC_NPROCESSORS_ONLN)
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus > 0) want = GCACHE__CAST(size_t, cpus) * 4;
#endif
    if (want > 64) want = 64;
    /* every shard keeps at least 64 entries, so small caches behave like one table */
    if (want > max_entries / 64) want = max_entries / 64;
    while (n * 2 <= want) n *= 2;
    return n;
}

/* Fill every zero field with its default, once (sokol style). */
static int gcache__desc_defaults(gcache_desc *d) {
    if (!d->urn_prefix) d->urn_prefix = "urn";
    if (!d->metrics_prefix) d->metrics_prefix = "";
    /* a prefix must leave room for a key: "{prefix:t:}#u" */
    if (!gcache__name_ok(d->urn_prefix, ":") || strlen(d->urn_prefix) > GCACHE_KEY_MAX - 8) return GCACHE_EINVAL;
    if (d->metrics_prefix[0]) {
        const char *p = d->metrics_prefix;
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' || *p == ':')) return GCACHE_EINVAL;
        for (; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == ':'))
                return GCACHE_EINVAL;
    }
    if (d->metrics_names != GCACHE_METRICS_REFERENCE && d->metrics_names != GCACHE_METRICS_PROMETHEUS) return GCACHE_EINVAL;
    if (!d->local.max_entries) d->local.max_entries = 10000;
    if (d->local.shards < 0) return GCACHE_EINVAL;
    if (!d->local.shards) d->local.shards = GCACHE__CAST(int, gcache__default_shards(d->local.max_entries));
    if (d->local.shards > 4096) d->local.shards = 4096;
    if (GCACHE__CAST(size_t, d->local.shards) > d->local.max_entries) d->local.shards = GCACHE__CAST(int, d->local.max_entries);
    if (d->watermark_ttl_sec < 0 || d->breaker.failure_threshold < 0 || d->breaker.cooldown_ms < 0) return GCACHE_EINVAL;
    if (!d->watermark_ttl_sec) d->watermark_ttl_sec = 14400;
    if (!d->breaker.failure_threshold) d->breaker.failure_threshold = 5;
    if (!d->breaker.cooldown_ms) d->breaker.cooldown_ms = 1000;
    d->allocator = gcache__allocator_or_default(d->allocator);
    if (!d->allocator.alloc_fn || !d->allocator.free_fn) return GCACHE_EINVAL;
#if GCACHE__HAS_DEFAULT_CLOCK
    if (!d->clock.wall_ms_fn) d->clock.wall_ms_fn = gcache__wall_ms;
    if (!d->clock.mono_ns_fn) d->clock.mono_ns_fn = gcache__mono_ns;
#endif
    if (!d->clock.wall_ms_fn || !d->clock.mono_ns_fn) return GCACHE_EINVAL;
    if (d->remote.mget && (!d->remote.set || !d->remote.del || !d->remote.flush_prefix)) return GCACHE_EINVAL;
    return GCACHE_OK;
}

static void gcache__free_all(gcache *gc) {
    size_t i;
    if (gc->shards) {
        for (i = 0; i < gc->nshards; i++) {
            gcache__shard *s = &gc->shards[i];
            size_t b;
            if (s->buckets) gcache__shard_clear(gc, s);
            if (s->wm_buckets)
                for (b = 0; b < s->wm_nbuckets; b++)
                    while (s->wm_buckets[b]) gcache__wm_unlink(gc, s, &s->wm_buckets[b]);
            gcache__free(gc, s->wm_buckets);
            gcache__free(gc, s->buckets);
            gcache__free(gc, s->spare_flight);
            gcache__free(gc, s->ctr);
            gcache__cond_fini(&s->cv);
            gcache__mutex_fini(&s->mu);
        }
        gcache__free(gc, gc->shards);
    }
    for (i = 0; i < gc->nucs; i++) {
        gcache__free(gc, gc->ucs[i]->name);
        gcache__free(gc, gc->ucs[i]->key_type);
        gcache__free(gc, gc->ucs[i]);
    }
    gcache__free(gc, gc->ucs);
    for (i = 0; i < gc->ninval; i++) gcache__free(gc, gc->inval[i].key_type);
    gcache__free(gc, gc->inval);
    gcache__store_free(gc, gc->store, gc->nstore);
    gcache__free(gc, gc->prefix);
    gcache__free(gc, gc->metrics_prefix);
    gcache__mutex_fini(&gc->reg_mu);
    gcache__mutex_fini(&gc->cfg_mu);
    gcache__mutex_fini(&gc->log_mu);
    gcache__free(gc, gc);
}

GCACHE_DEF int gcache_create(const gcache_desc *desc, gcache **out) {
    gcache_desc d;
    gcache *gc;
    size_t i;
    int rc;
    if (!desc || !out) return GCACHE_EINVAL;
    *out = NULL;
    d = *desc;
    rc = gcache__desc_defaults(&d);
    if (rc != GCACHE_OK) return rc;
    gc = GCACHE__CAST(gcache *, gcache__alloc_with(&d.allocator, sizeof *gc));
    if (!gc) return GCACHE_ENOMEM;
    memset(gc, 0, sizeof *gc);
    gc->allocator = d.allocator;
    gc->clock = d.clock;
    gc->logger = d.logger;
#if GCACHE__HAS_DEFAULT_CLOCK
    gc->timer_ns_fn = d.clock.mono_ns_fn == gcache__mono_ns ? gcache__mono_precise_ns : d.clock.mono_ns_fn;
#else
    gc->timer_ns_fn = d.clock.mono_ns_fn;
#endif
    (void)gcache__mutex_init(&gc->reg_mu);
    (void)gcache__mutex_init(&gc->cfg_mu);
    (void)gcache__mutex_init(&gc->log_mu);
    gc->prefix_len = strlen(d.urn_prefix);
    gc->prefix = gcache__strdup(gc, d.urn_prefix, gc->prefix_len);
    gc->metrics_prefix = gcache__strdup(gc, d.metrics_prefix, strlen(d.metrics_prefix));
    gc->metrics_names = d.metrics_names;
    gc->config_provider = d.config_provider;
    gc->config_user = d.config_user;
    gc->ramp_seed = d.ramp_seed;
    gc->ramp_random = d.ramp_random;
    gc->watermark_ttl_sec = d.watermark_ttl_sec;
    gc->enabled_by_default = d.enabled_by_default ? 1 : 0;
    gc->breaker_threshold = d.breaker.failure_threshold;
    gc->breaker_cooldown_ns = GCACHE__CAST(gcache__u64, d.breaker.cooldown_ms) * 1000000ULL;
    gc->secret = gcache__mix64(GCACHE__CAST(gcache__u64, GCACHE__CAST(size_t, gc)) ^ gcache__now_ns(gc) ^
                               (GCACHE__CAST(gcache__u64, gcache__now_ms(gc)) << 21));
    gc->nshards = 1;
    while (gc->nshards * 2 <= GCACHE__CAST(size_t, d.local.shards)) gc->nshards *= 2;
    gc->shards = GCACHE__CAST(gcache__shard *, gcache__alloc(gc, gc->nshards * sizeof *gc->shards));
    if (gc->shards) memset(gc->shards, 0, gc->nshards * sizeof *gc->shards); /* free_all walks them */
    else gc->nshards = 0;
    if (!gc->prefix || !gc->metrics_prefix || !gc->shards) { gcache__free_all(gc); return GCACHE_ENOMEM; }
    for (i = 0; i < gc->nshards; i++) {
        gcache__shard *s = &gc->shards[i];
        (void)gcache__mutex_init(&s->mu);
        (void)gcache__cond_init(&s->cv);
        s->cap_entries = d.local.max_entries / gc->nshards + (i < d.local.max_entries % gc->nshards ? 1 : 0);
        s->cap_bytes = d.local.max_bytes ? d.local.max_bytes / gc->nshards + (i < d.local.max_bytes % gc->nshards ? 1 : 0) : 0;
        if (d.local.max_bytes && !s->cap_bytes) s->cap_bytes = 1;
        s->wm_floor = GCACHE__WM_NONE;
        s->wm_cap = 65536 / gc->nshards > 64 ? 65536 / gc->nshards : 64;
        s->nbuckets = 16;
        s->wm_nbuckets = 16;
        s->buckets = GCACHE__CAST(gcache__entry **, gcache__alloc(gc, s->nbuckets * sizeof *s->buckets));
        s->wm_buckets = GCACHE__CAST(gcache__wm **, gcache__alloc(gc, s->wm_nbuckets * sizeof *s->wm_buckets));
        if (s->buckets) memset(s->buckets, 0, s->nbuckets * sizeof *s->buckets);
        if (s->wm_buckets) memset(s->wm_buckets, 0, s->wm_nbuckets * sizeof *s->wm_buckets);
        if (!s->buckets || !s->wm_buckets) { gcache__free_all(gc); return GCACHE_ENOMEM; }
    }
    if (d.remote.mget) {
        gc->remote = d.remote;
        gc->has_remote = 1;
        gc->keep_remote = d.keep_remote;
        if (gc->remote.subscribe) {
            rc = gc->remote.subscribe(gc->remote.ctx, gcache__on_invalidate, gc);
            if (rc < 0) { gcache__free_all(gc); return rc; }
            gc->subscribed = 1;
        }
    }
    *out = gc;
    return GCACHE_OK;
}

GCACHE_DEF void gcache_destroy(gcache *gc) {
    if (!gc) return;
    if (gc->has_remote) {
        if (gc->keep_remote) {
            if (gc->subscribed) gc->remote.subscribe(gc->remote.ctx, NULL, gc);
        } else if (gc->remote.destroy) {
            gc->remote.destroy(gc->remote.ctx);
        }
    }
    gcache__free_all(gc);
}

/* ---- Use cases ------------------------------------------------------------------------------ */
GCACHE_DEF int gcache_register(gcache *gc, const gcache_use_case_desc *d, gcache_use_case **out) {
    gcache_use_case *uc;
    size_t i;
    int rc = GCACHE_OK;
    if (out) *out = NULL;
    if (!gc || !d) return GCACHE_EINVAL;
    if (!gcache__name_ok(d->name, NULL) || !gcache__name_ok(d->key_type, NULL) || strcmp(d->name, "watermark") == 0 ||
        !gcache__cfg_valid(&d->default_config))
        return GCACHE_EINVAL;
    uc = GCACHE__CAST(gcache_use_case *, gcache__alloc(gc, sizeof *uc));
    if (!uc) return GCACHE_ENOMEM;
    memset(uc, 0, sizeof *uc);
    uc->gc = gc;
    uc->name_len = strlen(d->name);
    uc->key_type_len = strlen(d->key_type);
    uc->name = gcache__strdup(gc, d->name, uc->name_len);
    uc->key_type = gcache__strdup(gc, d->key_type, uc->key_type_len);
    uc->tracked = d->track_for_invalidation ? 1 : 0;
    uc->def = d->default_config;
    if (!uc->name || !uc->key_type) { rc = GCACHE_ENOMEM; goto fail; }
    gcache__lock(&gc->cfg_mu);
    gcache__lock(&gc->reg_mu);
    for (i = 0; i < gc->nucs; i++)
        if (strcmp(gc->ucs[i]->name, uc->name) == 0) { rc = GCACHE_EEXIST; goto unlock; }
    if (gc->nucs >= 65535) { rc = GCACHE_EINVAL; goto unlock; }
    if (gc->nucs == gc->ucs_cap) {
        size_t nc = gc->ucs_cap ? gc->ucs_cap * 2 : 8;
        gcache_use_case **n = GCACHE__CAST(gcache_use_case **, gcache__alloc(gc, nc * sizeof *n));
        if (!n) { rc = GCACHE_ENOMEM; goto unlock; }
        if (gc->nucs) memcpy(n, gc->ucs, gc->nucs * sizeof *n);
        gcache__free(gc, gc->ucs);
        gc->ucs = n;
        gc->ucs_cap = nc;
    }
    for (i = 0; i < gc->nshards; i++) { /* room for this use case's counters in every shard */
        gcache__shard *s = &gc->shards[i];
        if (s->ctr_cap <= gc->nucs) {
            size_t nc = s->ctr_cap ? s->ctr_cap * 2 : 8;
            gcache__ctr *c = GCACHE__CAST(gcache__ctr *, gcache__alloc(gc, nc * sizeof *c));
            if (!c) { rc = GCACHE_ENOMEM; goto unlock; }
            memset(c, 0, nc * sizeof *c);
            gcache__lock(&s->mu);
            if (s->ctr_cap) memcpy(c, s->ctr, s->ctr_cap * sizeof *c);
            gcache__free(gc, s->ctr);
            s->ctr = c;
            s->ctr_cap = nc;
            gcache__unlock(&s->mu);
        }
    }
    uc->index = GCACHE__CAST(unsigned, gc->nucs);
    gcache__seq_write_begin(gc);
    gcache__uc_apply_store(gc, uc);
    gcache__seq_write_end(gc);
    gc->ucs[gc->nucs++] = uc;
unlock:
    gcache__unlock(&gc->reg_mu);
    gcache__unlock(&gc->cfg_mu);
    if (rc == GCACHE_OK) {
        if (out) *out = uc;
        return rc;
    }
fail:
    gcache__free(gc, uc->name);
    gcache__free(gc, uc->key_type);
    gcache__free(gc, uc);
    return rc;
}

GCACHE_DEF gcache_use_case *gcache_use_case_find(gcache *gc, const char *name) {
    gcache_use_case *found = NULL;
    size_t i;
    if (!gc || !name) return NULL;
    gcache__lock(&gc->reg_mu);
    for (i = 0; i < gc->nucs && !found; i++)
        if (strcmp(gc->ucs[i]->name, name) == 0) found = gc->ucs[i];
    gcache__unlock(&gc->reg_mu);
    return found;
}

/* ---- Read through ------------------------------------------------------------------------- */
/* What one gcache_get knows about its key, computed once. */
typedef struct gcache__req {
    gcache *gc;
    gcache_use_case *uc;
    gcache_key *key;
    gcache_key_config cfg;
    gcache__shard *s;
    gcache__u64 slot, idhash;
    unsigned bucket;
    int local_on, remote_on;
    int read_ok, nostore;  /* the remote read worked; a malformed watermark forbids storing */
    long long wm_seen;     /* the watermark read with the value */
    gcache__u64 tl;        /* timer start below the local layer */
    gcache__flight *flight; /* ours while we fetch: an invalidation closes it */
} gcache__req;

static void gcache__local_fill(gcache__req *r, long long created_ms, int negative, const void *val, size_t vlen) {
    gcache *gc = r->gc;
    gcache__entry *e;
    int ttl = r->cfg.ttl_sec[GCACHE_LOCAL], cur;
    gcache__u64 now;
    if (negative) {
        if (r->cfg.negative_ttl_sec <= 0) return;
        if (r->cfg.negative_ttl_sec < ttl) ttl = r->cfg.negative_ttl_sec;
        vlen = 0;
    }
    if ((vlen >> 16) >> 16) return; /* over 4 GiB - 1 (no warning where size_t is 32-bit) */
    e = GCACHE__CAST(gcache__entry *, gcache__alloc(gc, sizeof *e + r->key->len + vlen));
    if (!e) { gcache__count_error(gc, r->uc, r->s, GCACHE_LOCAL, GCACHE__ERR_NOMEM); return; }
    now = gcache__now_ns(gc);
    e->hnext = e->newer = e->older = NULL;
    e->expire_ns = now + GCACHE__CAST(gcache__u64, ttl) * 1000000000ULL;
    e->created_ms = created_ms;
    e->hash32 = GCACHE__CAST(gcache__u32, r->slot >> 32);
    e->vlen = GCACHE__CAST(gcache__u32, vlen);
    e->klen = r->key->len;
    e->uc_index = GCACHE__CAST(unsigned short, r->uc->index);
    e->visited = 0;
    e->negative = GCACHE__CAST(unsigned char, negative ? 1 : 0);
    memcpy(GCACHE__ENTRY_KEY(e), r->key->str, r->key->len);
    if (vlen) memcpy(GCACHE__ENTRY_VAL(e), val, vlen);
    cur = GCACHE__LOAD_RELAXED(&gc->max_local_ttl_sec);
    while (ttl > cur && !GCACHE__CAS(&gc->max_local_ttl_sec, &cur, ttl)) {}
    gcache__lock(&r->s->mu);
    /* stored only if no watermark known now is at or after its creation, and no invalidation
       closed our flight while we fetched (its record may since have been dropped) */
    if (r->uc->tracked && (gcache__wm_get(r->s, r->idhash) >= created_ms || (r->flight && r->flight->closed)))
        gcache__free(gc, e);
    else gcache__insert(gc, r->s, e, now);
    gcache__unlock(&r->s->mu);
}

static void gcache__remote_write(gcache__req *r, long long created_ms, int negative, const void *val, size_t vlen) {
    gcache *gc = r->gc;
    int ttl = r->cfg.ttl_sec[GCACHE_REMOTE], rc;
    size_t n;
    unsigned char *env;
    gcache_slice k, v;
    gcache__u64 t0;
    if (negative) {
        if (r->cfg.negative_ttl_sec <= 0) return;
        if (r->cfg.negative_ttl_sec < ttl) ttl = r->cfg.negative_ttl_sec;
        vlen = 0;
    }
    if (vlen > GCACHE__MAX_REMOTE_VALUE - GCACHE_ENVELOPE_HEADER) return; /* reads refuse more */
    n = GCACHE_ENVELOPE_HEADER + vlen;
    env = GCACHE__CAST(unsigned char *, gcache__alloc(gc, n));
    if (!env) { gcache__count_error(gc, r->uc, r->s, GCACHE_REMOTE, GCACHE__ERR_NOMEM); return; }
    t0 = gcache__timer_now(gc); /* writes follow a fetch: timing each one costs nothing noticeable */
    gcache_envelope_write(env, n, created_ms, negative, val, vlen);
    gcache__timer_add(&r->uc->ser_timer[GCACHE__SER_DUMP], gcache__timer_now(gc) - t0, 1);
    k.ptr = r->key->str; k.len = r->key->len;
    v.ptr = GCACHE__PCAST(const char *, env); v.len = n;
    rc = gc->remote.set(gc->remote.ctx, k, v, ttl);
    gcache__free(gc, env);
    gcache__breaker_report(gc, rc == 0);
    if (rc != 0) gcache__count_error(gc, r->uc, r->s, GCACHE_REMOTE, gcache__err_of(rc));
    else gcache__hist_add(&r->uc->size_hist, gcache__size_bounds, GCACHE__SIZE_BUCKETS, n, 1);
}

/* The remote read. Returns 1 on a hit (*rc set), 0 on a miss; *read_ok = 0 when the backend
   failed, *nostore = 1 when a malformed watermark forbids storing, *wm_seen = the watermark. */
static int gcache__remote_read(gcache__req *r, gcache_buf *out, int *rc, int *read_ok, int *nostore, long long *wm_seen) {
    gcache *gc = r->gc;
    gcache_key *key = r->key;
    gcache_slice keys[2], vals[2];
    char wmkey[GCACHE_KEY_MAX + 16];
    void *reply = NULL;
    size_t n = 1;
    int st, hit = 0, err = -1, have_wm = 0, env_ok = 0;
    long long wm = 0, now_ms = 0;
    gcache__u64 t0, t1;
    gcache_envelope env;
    memset(&env, 0, sizeof env);
    keys[0].ptr = key->str;
    keys[0].len = key->len;
    if (r->uc->tracked) {
        memcpy(wmkey, key->str, key->head_len);
        memcpy(wmkey + key->head_len, "#watermark", 10);
        keys[1].ptr = wmkey;
        keys[1].len = key->head_len + 10u;
        n = 2;
    }
    memset(vals, 0, sizeof vals);
    t0 = gcache__timer_now(gc);
    st = gc->remote.mget(gc->remote.ctx, keys, n, vals, &reply);
    t1 = gcache__timer_now(gc);
    gcache__timer_add(&r->uc->get_timer[GCACHE_REMOTE], t1 - t0, 1);
    *read_ok = st == 0;
    gcache__breaker_report(gc, st == 0);
    if (st != 0) {
        if (reply && gc->remote.release) gc->remote.release(gc->remote.ctx, reply);
        reply = NULL;
        err = gcache__err_of(st);
        if (st == GCACHE_ETIMEOUT || st == GCACHE_EBACKEND)
            gcache__log(gc, GCACHE__LOG_BACKEND, GCACHE_LOG_WARN, "gcache: remote read failed, falling back");
    } else {
        if (n == 2 && vals[1].ptr) {
            /* a length no watermark has is refused before a byte is read */
            if (vals[1].len > 128 || gcache_watermark_parse(vals[1].ptr, vals[1].len, &wm) != GCACHE_OK) {
                err = GCACHE__ERR_WATERMARK;
                *nostore = 1;
            } else {
                *wm_seen = wm;
                have_wm = 1;
                now_ms = gcache__now_ms(gc);
            }
        }
        if (!*nostore && vals[0].ptr) {
            env_ok = vals[0].len <= GCACHE__MAX_REMOTE_VALUE && gcache_envelope_read(vals[0].ptr, vals[0].len, &env) == GCACHE_OK;
            /* decoding is timed 1 in 16, weighted, to keep the clock off the remote hit path */
            if ((++gcache__tls_sample_ser & 15u) == 0)
                gcache__timer_add(&r->uc->ser_timer[GCACHE__SER_LOAD], gcache__timer_now(gc) - t1, 16);
            else if (!GCACHE__LOAD_RELAXED(&r->uc->ser_timer[GCACHE__SER_LOAD].count)) /* the first one shows */
                gcache__timer_add(&r->uc->ser_timer[GCACHE__SER_LOAD], gcache__timer_now(gc) - t1, 1);
            if (!env_ok) {
                err = GCACHE__ERR_CORRUPT;
                gcache__log(gc, GCACHE__LOG_CORRUPT, GCACHE_LOG_WARN, "gcache: corrupt remote entry ignored (will be overwritten)");
            }
        }
    }
    /* one lock: apply the watermark read, judge the entry against every watermark known, count */
    gcache__lock(&r->s->mu);
    if (have_wm) gcache__wm_put(gc, r->s, r->idhash, wm, now_ms, 0);
    if (env_ok) hit = !r->uc->tracked || (*wm_seen < env.created_at_ms && gcache__wm_get(r->s, r->idhash) < env.created_at_ms);
    {
        gcache__ctr *c = gcache__ctr_of(r->s, r->uc);
        c->requests[GCACHE_REMOTE]++;
        if (hit) c->hits[GCACHE_REMOTE]++; else c->misses[GCACHE_REMOTE]++;
        if (err >= 0) c->errors[GCACHE_REMOTE][err]++;
    }
    gcache__unlock(&r->s->mu);
    if (hit) {
        if (env.negative) {
            out->len = 0;
            *rc = GCACHE_NOT_FOUND;
        } else {
            *rc = gcache_buf_set(out, env.payload, env.payload_len);
        }
        if (r->local_on) gcache__local_fill(r, env.created_at_ms, env.negative, env.payload, env.payload_len);
    }
    if (reply && gc->remote.release) gc->remote.release(gc->remote.ctx, reply);
    return hit;
}

/* Below the local layer, first the remote: returns 1 when it answered (*rc set). */
static int gcache__remote_part(gcache__req *r, gcache_buf *out, int *rc) {
    gcache *gc = r->gc;
    r->tl = r->local_on ? gcache__timer_now(gc) : 0;
    if (gc->has_remote) {
        int reason = -1;
        if (r->cfg.ttl_sec[GCACHE_REMOTE] <= 0) reason = GCACHE_REASON_MISSING_CONFIG;
        else if (r->bucket >= GCACHE__CAST(unsigned, r->cfg.ramp[GCACHE_REMOTE])) reason = GCACHE_REASON_RAMPED_DOWN;
        else if (!gcache__breaker_allow(gc)) reason = GCACHE_REASON_SERVER_DOWN;
        if (reason >= 0) gcache__count_disabled(r->uc, r->s, GCACHE_REMOTE, reason);
        else r->remote_on = 1;
    }
    if (r->remote_on && gcache__remote_read(r, out, rc, &r->read_ok, &r->nostore, &r->wm_seen)) {
        if (r->local_on) gcache__timer_add(&r->uc->fallback_timer[GCACHE_LOCAL], gcache__timer_now(gc) - r->tl, 1);
        return 1;
    }
    return 0;
}

/* Then the fetch, and what it returned stored in the remote and local layers. */
static int gcache__fetch_part(gcache__req *r, gcache_fetch_fn fetch, void *user, gcache_buf *out) {
    gcache *gc = r->gc;
    int rc, innermost;
    long long t0 = gcache__now_ms(gc); /* before the fetch: a racing invalidation makes this value stale */
    gcache__u64 tf = gcache__timer_now(gc), fetch_ns;
    out->needed = 0;
    rc = fetch(user, r->key, out);
    fetch_ns = gcache__timer_now(gc) - tf;
    if (r->remote_on) gcache__timer_add(&r->uc->fallback_timer[GCACHE_REMOTE], fetch_ns, 1);
    if (r->local_on) gcache__timer_add(&r->uc->fallback_timer[GCACHE_LOCAL], tf + fetch_ns - r->tl, 1);
    if (rc < 0) {
        innermost = r->remote_on ? GCACHE__CAST(int, GCACHE_REMOTE) : (r->local_on ? GCACHE__CAST(int, GCACHE_LOCAL) : GCACHE__CAST(int, GCACHE__GLOBAL));
        gcache__lock(&r->s->mu);
        gcache__ctr_of(r->s, r->uc)->fetch_errors[innermost]++;
        gcache__unlock(&r->s->mu);
        return rc;
    }
    if (rc == GCACHE_NOT_FOUND) out->len = 0;
    if (rc != GCACHE_OK && rc != GCACHE_NOT_FOUND) return rc;
    if (rc == GCACHE_NOT_FOUND && r->cfg.negative_ttl_sec <= 0) return rc;
    if (r->nostore || (out->fixed && out->needed > out->cap)) return rc;
    if (r->uc->tracked) {
        int stale;
        if (r->wm_seen >= t0) return rc;
        gcache__lock(&r->s->mu);
        stale = gcache__wm_get(r->s, r->idhash) >= t0 || (r->flight && r->flight->closed);
        gcache__unlock(&r->s->mu);
        /* without a flight, a fetch slower than the watermark retention could have missed one */
        if (!stale && !r->flight &&
            gcache__now_ms(gc) - t0 > GCACHE__CAST(long long, GCACHE__LOAD_RELAXED(&gc->max_local_ttl_sec)) * 1000 + 1000)
            stale = 1;
        if (stale) return rc;
    }
    if (r->remote_on && r->read_ok) gcache__remote_write(r, t0, rc == GCACHE_NOT_FOUND, out->data, out->len);
    if (r->local_on) gcache__local_fill(r, t0, rc == GCACHE_NOT_FOUND, out->data, out->len);
    return rc;
}

/* Hash a key once: the ramp bucket, the slot and (tracked) the shard all come from it. */
static void gcache__key_hash(const gcache *gc, gcache_key *key) {
    if (key->hash_valid) return;
    key->hash = gcache_xxh64(key->str, key->len, gc->ramp_seed);
    key->id_hash = key->use_case->tracked ? gcache__idhash(gc, key->str + key->type_id_off, key->type_id_len) : 0;
    key->hash_valid = 1;
}

#if GCACHE__THREADS
static gcache__flight *gcache__flight_find(gcache__shard *s, gcache__u64 slot, const gcache_key *key) {
    gcache__flight *f;
    for (f = s->flights; f; f = f->next)
        if (f->hash == slot && f->klen == key->len && memcmp(f->key, key->str, key->len) == 0) return f;
    return NULL;
}
static void gcache__flight_unref(gcache *gc, gcache__shard *s, gcache__flight *f) {
    if (--f->refs == 0) {
        gcache__free(gc, f->val);
        if (!s->spare_flight) s->spare_flight = f;
        else gcache__free(gc, f);
    }
}
#endif

GCACHE_DEF int gcache_get(gcache *gc, gcache_key *key, gcache_fetch_fn fetch, void *user, gcache_buf *out) {
    gcache__req r;
    gcache_use_case *uc;
    int en, rc = GCACHE_OK, local_reason = -1;
#if GCACHE__THREADS
    gcache__flight *flight = NULL;
#endif
    if (!gc || !key || !fetch || !out) return GCACHE_EINVAL;
    if (!out->fixed && !out->allocator.alloc_fn && !out->data) out->allocator = gc->allocator;
    uc = key->use_case;
    if (!uc || uc->gc != gc) return gcache__fetch_plain(gc, NULL, NULL, key, fetch, user, out);
    if (key->error) {
        gcache__shard *s = gcache__thread_shard(gc);
        gcache__count_error(gc, uc, s, GCACHE__GLOBAL, GCACHE__ERR_KEY);
        return gcache__fetch_plain(gc, uc, s, key, fetch, user, out);
    }
    en = gcache__tls_enabled;
    if (en < 0) en = gc->enabled_by_default;
    if (!en || GCACHE__LOAD_RELAXED(&gc->killed)) {
        gcache__shard *s = gcache__thread_shard(gc);
        gcache__count_disabled(uc, s, GCACHE__GLOBAL, en ? GCACHE_REASON_KILLED : GCACHE_REASON_CONTEXT);
        return gcache__fetch_plain(gc, uc, s, key, fetch, user, out);
    }
    r.gc = gc;
    r.uc = uc;
    r.key = key;
    r.local_on = r.remote_on = r.read_ok = r.nostore = 0;
    r.wm_seen = GCACHE__WM_NONE;
    r.tl = 0;
    r.flight = NULL;
    if (gc->config_provider) {
        int prc = gc->config_provider(gc->config_user, key, &r.cfg);
        if (prc < 0 || (prc > 0 && !gcache__cfg_valid(&r.cfg))) {
            gcache__shard *s = gcache__thread_shard(gc);
            gcache__lock(&s->mu);
            gcache__ctr_of(s, uc)->disabled[GCACHE_LOCAL][GCACHE_REASON_CONFIG_ERROR]++;
            if (gc->has_remote) gcache__ctr_of(s, uc)->disabled[GCACHE_REMOTE][GCACHE_REASON_CONFIG_ERROR]++;
            gcache__ctr_of(s, uc)->errors[GCACHE__GLOBAL][GCACHE__ERR_CONFIG]++;
            gcache__unlock(&s->mu);
            gcache__log(gc, GCACHE__LOG_CONFIG, GCACHE_LOG_WARN, "gcache: config provider failed, caching skipped");
            return gcache__fetch_plain(gc, uc, s, key, fetch, user, out);
        }
        if (prc == 0) gcache__cfg_read(gc, uc, &r.cfg);
    } else {
        gcache__cfg_read(gc, uc, &r.cfg);
    }
    gcache__key_hash(gc, key);
    r.bucket = gc->ramp_random ? gcache__rand100() : GCACHE__CAST(unsigned, key->hash % 100u);
    r.slot = gcache__mix64(key->hash ^ gc->secret);
    if (uc->tracked) {
        r.idhash = key->id_hash;
        r.s = gcache__shard_of(gc, r.idhash);
    } else {
        r.idhash = 0;
        r.s = gcache__shard_of(gc, r.slot);
    }
    if (r.cfg.ttl_sec[GCACHE_LOCAL] <= 0) local_reason = GCACHE_REASON_MISSING_CONFIG;
    else if (r.bucket >= GCACHE__CAST(unsigned, r.cfg.ramp[GCACHE_LOCAL])) local_reason = GCACHE_REASON_RAMPED_DOWN;
    else r.local_on = 1;

    if (r.local_on) {
        gcache__u64 now = gcache__now_ns(gc), t0 = 0;
        unsigned sample = ++gcache__tls_sample & 63u; /* time one local lookup in 64 */
        gcache__entry *e;
        gcache__ctr *c;
        if (!sample) t0 = gcache__timer_now(gc);
        gcache__lock(&r.s->mu);
        c = gcache__ctr_of(r.s, uc);
        c->requests[GCACHE_LOCAL]++;
        e = gcache__lookup(r.s, GCACHE__CAST(gcache__u32, r.slot >> 32), key->str, key->len, NULL);
        if (e) {
            if (e->expire_ns > now && !(uc->tracked && gcache__wm_get(r.s, r.idhash) >= e->created_ms)) {
                e->visited = 1;
                c->hits[GCACHE_LOCAL]++;
                if (e->negative) {
                    out->len = 0;
                    rc = GCACHE_NOT_FOUND;
                } else {
                    rc = gcache_buf_set(out, GCACHE__ENTRY_VAL(e), e->vlen);
                }
                gcache__unlock(&r.s->mu);
                if (!sample) gcache__timer_add(&uc->get_timer[GCACHE_LOCAL], gcache__timer_now(gc) - t0, 64);
                return rc;
            }
            gcache__entry_remove(gc, r.s, e); /* expired, or stale by a watermark */
        }
        c->misses[GCACHE_LOCAL]++;
        gcache__unlock(&r.s->mu);
        if (!sample) gcache__timer_add(&uc->get_timer[GCACHE_LOCAL], gcache__timer_now(gc) - t0, 64);
    } else {
        gcache__count_disabled(uc, r.s, GCACHE_LOCAL, local_reason);
    }
    if (gcache__remote_part(&r, out, &rc)) return rc;
    if (!r.local_on && !(gc->has_remote && r.cfg.ttl_sec[GCACHE_REMOTE] > 0 &&
                         r.bucket < GCACHE__CAST(unsigned, r.cfg.ramp[GCACHE_REMOTE])))
        return gcache__fetch_part(&r, fetch, user, out); /* no layer configured: nothing to coalesce */

#if GCACHE__THREADS
    /* singleflight: one fetch per key; a fetch re-entering for its own key goes straight on */
    gcache__lock(&r.s->mu);
    flight = gcache__flight_find(r.s, r.slot, key);
    /* a flight that started before an invalidation of this id may bring the old value:
       a get that starts after the invalidation fetches for itself */
    if (flight && flight->leader != &gcache__tls_token &&
        !flight->closed) {
        flight->refs++;
        while (!flight->done) gcache__cond_wait(&r.s->cv, &r.s->mu);
        if (!flight->shareable) {
            gcache__flight_unref(gc, r.s, flight);
            gcache__unlock(&r.s->mu);
            return gcache__fetch_plain(gc, NULL, NULL, key, fetch, user, out);
        }
        rc = flight->rc;
        if (rc == GCACHE_OK) rc = gcache_buf_set(out, flight->val, flight->vlen);
        else if (rc == GCACHE_NOT_FOUND) out->len = 0;
        gcache__flight_unref(gc, r.s, flight);
        gcache__unlock(&r.s->mu);
        return rc;
    }
    flight = NULL;
    if (r.local_on) { /* a flight may have finished (and filled) while we read the remote */
        gcache__entry *e = gcache__lookup(r.s, GCACHE__CAST(gcache__u32, r.slot >> 32), key->str, key->len, NULL);
        if (e && e->expire_ns > gcache__now_ns(gc) && !(uc->tracked && gcache__wm_get(r.s, r.idhash) >= e->created_ms)) {
            e->visited = 1;
            if (e->negative) {
                out->len = 0;
                rc = GCACHE_NOT_FOUND;
            } else {
                rc = gcache_buf_set(out, GCACHE__ENTRY_VAL(e), e->vlen);
            }
            gcache__unlock(&r.s->mu);
            return rc;
        }
    }
    {
        gcache__flight *f = r.s->spare_flight;
        if (f) r.s->spare_flight = NULL;
        else f = GCACHE__CAST(gcache__flight *, gcache__alloc(gc, sizeof *f + GCACHE_KEY_MAX));
        if (f) { /* without memory we simply do not coalesce */
            memset(f, 0, sizeof *f);
            f->hash = r.slot;
            f->klen = key->len;
            memcpy(f->key, key->str, key->len);
            f->leader = &gcache__tls_token;
            f->idhash = r.idhash;
            f->refs = 1;
            f->next = r.s->flights;
            r.s->flights = f;
            flight = f;
        }
    }
    gcache__unlock(&r.s->mu);
#endif
#if GCACHE__THREADS
    r.flight = flight;
#endif
    rc = gcache__fetch_part(&r, fetch, user, out);
#if GCACHE__THREADS
    if (flight) {
        gcache__flight **link;
        gcache__lock(&r.s->mu);
        for (link = &r.s->flights; *link != flight; link = &(*link)->next) {}
        *link = flight->next;
        flight->rc = rc;
        /* the leader's own buffer troubles are not the waiters': they fetch for themselves */
        flight->shareable = !(out->fixed && out->needed > out->cap) && rc != GCACHE_ENOMEM && rc != GCACHE_ETOOBIG;
        if (flight->refs > 1 && rc == GCACHE_OK && flight->shareable) {
            flight->val = GCACHE__CAST(unsigned char *, gcache__alloc(gc, out->len));
            if (flight->val) {
                if (out->len) memcpy(flight->val, out->data, out->len);
                flight->vlen = out->len;
            } else {
                flight->shareable = 0;
            }
        }
        flight->done = 1;
        gcache__cond_broadcast(&r.s->cv);
        gcache__flight_unref(gc, r.s, flight);
        gcache__unlock(&r.s->mu);
    }
#endif
    return rc;
}

/* ---- Invalidation, delete, flush ----------------------------------------------------------- */
static void gcache__count_invalidation(gcache *gc, const char *key_type, size_t len, int layer) {
    size_t i;
    gcache__lock(&gc->reg_mu);
    for (i = 0; i < gc->ninval; i++)
        if (gc->inval[i].len == len && memcmp(gc->inval[i].key_type, key_type, len) == 0) break;
    if (i == gc->ninval && gc->ninval < 1024) { /* bounded: key types beyond 1024 are not counted */
        if (gc->ninval == gc->inval_cap) {
            size_t nc = gc->inval_cap ? gc->inval_cap * 2 : 8;
            gcache__inval_ctr *n = GCACHE__CAST(gcache__inval_ctr *, gcache__alloc(gc, nc * sizeof *n));
            if (n) {
                if (gc->ninval) memcpy(n, gc->inval, gc->ninval * sizeof *n);
                gcache__free(gc, gc->inval);
                gc->inval = n;
                gc->inval_cap = nc;
            }
        }
        if (gc->ninval < gc->inval_cap) {
            gc->inval[i].key_type = gcache__strdup(gc, key_type, len);
            if (gc->inval[i].key_type) {
                gc->inval[i].len = len;
                gc->inval[i].n[0] = gc->inval[i].n[1] = 0;
                gc->ninval++;
            }
        }
    }
    if (i < gc->ninval) gc->inval[i].n[layer]++;
    gcache__unlock(&gc->reg_mu);
}

/* type_id = "key_type:escaped_id"; key_type_len = the key_type part. */
static int gcache__invalidate_tid(gcache *gc, const char *type_id, size_t tlen, size_t key_type_len, long long future_ms) {
    long long now = gcache__now_ms(gc), wm;
    int rc = GCACHE_OK;
    if (now < 0) now = 0;
    /* saturates; a negative buffer (a watermark in the past) stops at 0: never a '-' */
    wm = future_ms > GCACHE__LLONG_MAX - now ? GCACHE__LLONG_MAX : now + future_ms;
    if (wm < 0) wm = 0;
    gcache__wm_apply(gc, type_id, tlen, wm, 1);
    gcache__count_invalidation(gc, type_id, key_type_len, GCACHE_LOCAL);
    if (gc->has_remote) {
        char wk[GCACHE_KEY_MAX + 32], val[24];
        size_t n = 0;
        gcache_slice k, v, t;
        if (gc->prefix_len + tlen + 13 > sizeof wk) return GCACHE_EKEY;
        wk[n++] = '{';
        memcpy(wk + n, gc->prefix, gc->prefix_len); n += gc->prefix_len;
        wk[n++] = ':';
        memcpy(wk + n, type_id, tlen); n += tlen;
        memcpy(wk + n, "}#watermark", 11); n += 11;
        k.ptr = wk; k.len = n;
        v.ptr = val; v.len = gcache__fmt_i64(val, wm);
        rc = gc->remote.set(gc->remote.ctx, k, v, gc->watermark_ttl_sec);
        gcache__breaker_report(gc, rc == 0);
        if (rc == 0) gcache__count_invalidation(gc, type_id, key_type_len, GCACHE_REMOTE);
        else if (rc > 0) rc = GCACHE_EBACKEND;
        if (gc->remote.publish) {
            int prc;
            t.ptr = type_id; t.len = tlen;
            prc = gc->remote.publish(gc->remote.ctx, t, wm);
            if (prc != 0 && rc == 0) rc = prc < 0 ? prc : GCACHE_EBACKEND;
        }
    }
    return rc;
}

GCACHE_DEF int gcache_invalidate(gcache *gc, const char *key_type, const char *id, long long future_buffer_ms) {
    char tid[GCACHE_KEY_MAX + 1];
    size_t tl, n;
    if (!gc || !key_type || !id) return GCACHE_EINVAL;
    tl = strlen(key_type);
    if (tl + 1 > GCACHE_KEY_MAX) return GCACHE_EKEY;
    memcpy(tid, key_type, tl);
    tid[tl] = ':';
    n = gcache__escape(tid + tl + 1, GCACHE_KEY_MAX - tl - 1, id, strlen(id));
    if (n == GCACHE__CAST(size_t, -1)) return GCACHE_EKEY;
    return gcache__invalidate_tid(gc, tid, tl + 1 + n, tl, future_buffer_ms);
}

GCACHE_DEF int gcache_invalidate_key(gcache *gc, const gcache_key *key, long long future_buffer_ms) {
    if (!gc || !key) return GCACHE_EINVAL;
    if (key->error || !key->use_case || key->use_case->gc != gc) return GCACHE_EKEY;
    return gcache__invalidate_tid(gc, key->str + key->type_id_off, key->type_id_len, key->use_case->key_type_len,
                                  future_buffer_ms);
}

GCACHE_DEF int gcache_delete(gcache *gc, gcache_key *key) {
    gcache_use_case *uc;
    gcache__u64 slot;
    gcache__shard *s;
    gcache__entry *e;
    int rc = GCACHE_OK;
    if (!gc || !key) return GCACHE_EINVAL;
    uc = key->use_case;
    if (key->error || !uc || uc->gc != gc) return GCACHE_EKEY;
    gcache__key_hash(gc, key);
    slot = gcache__mix64(key->hash ^ gc->secret);
    s = gcache__shard_of(gc, uc->tracked ? key->id_hash : slot);
    gcache__lock(&s->mu);
    e = gcache__lookup(s, GCACHE__CAST(gcache__u32, slot >> 32), key->str, key->len, NULL);
    if (e) gcache__entry_remove(gc, s, e);
    gcache__unlock(&s->mu);
    if (gc->has_remote) {
        gcache_slice k;
        k.ptr = key->str;
        k.len = key->len;
        rc = gc->remote.del(gc->remote.ctx, k);
        gcache__breaker_report(gc, rc == 0);
        if (rc > 0) rc = GCACHE_EBACKEND;
    }
    return rc;
}

GCACHE_DEF int gcache_flush(gcache *gc) {
    int rc = GCACHE_OK, i;
    if (!gc) return GCACHE_EINVAL;
    gcache__local_flush(gc);
    if (gc->has_remote) {
        char p[GCACHE_KEY_MAX + 4];
        for (i = 0; i < 2; i++) {
            gcache_slice sl;
            size_t n = 0;
            int r;
            if (i) p[n++] = '{';
            memcpy(p + n, gc->prefix, gc->prefix_len); n += gc->prefix_len;
            p[n++] = ':';
            sl.ptr = p; sl.len = n;
            r = gc->remote.flush_prefix(gc->remote.ctx, sl);
            gcache__breaker_report(gc, r == 0);
            if (r != 0 && rc == GCACHE_OK) rc = r < 0 ? r : GCACHE_EBACKEND;
        }
    }
    return rc;
}

/* ---- Stats ---------------------------------------------------------------------------------- */
GCACHE_DEF int gcache_stats_get(gcache *gc, const char *use_case, gcache_layer layer, gcache_stats *out) {
    size_t i, u;
    const gcache_use_case *only = NULL;
    int r, e;
    if (!gc || !out || (layer != GCACHE_LOCAL && layer != GCACHE_REMOTE)) return GCACHE_EINVAL;
    gcache__lock(&gc->reg_mu);
    if (use_case) {
        for (u = 0; u < gc->nucs && !only; u++)
            if (strcmp(gc->ucs[u]->name, use_case) == 0) only = gc->ucs[u];
        if (!only) { gcache__unlock(&gc->reg_mu); return GCACHE_EINVAL; }
    }
    memset(out, 0, sizeof *out);
    for (i = 0; i < gc->nshards; i++) {
        gcache__shard *s = &gc->shards[i];
        gcache__lock(&s->mu);
        for (u = 0; u < gc->nucs; u++) {
            const gcache__ctr *c;
            if (only && gc->ucs[u] != only) continue;
            c = &s->ctr[u];
            out->requests += c->requests[layer];
            out->hits += c->hits[layer];
            out->misses += c->misses[layer];
            for (e = 0; e < GCACHE__ERR_COUNT; e++) out->errors += c->errors[layer][e] + c->errors[GCACHE__GLOBAL][e];
            for (r = 0; r < GCACHE_REASON_COUNT; r++) out->disabled[r] += c->disabled[layer][r] + c->disabled[GCACHE__GLOBAL][r];
            if (layer == GCACHE_LOCAL) {
                out->evictions += c->evictions;
                out->entries += c->entries;
                out->bytes += c->bytes;
            }
        }
        gcache__unlock(&s->mu);
    }
    for (i = 0; i < gc->ninval; i++)
        if (!only || (gc->inval[i].len == only->key_type_len && memcmp(gc->inval[i].key_type, only->key_type, only->key_type_len) == 0))
            out->invalidations += gc->inval[i].n[layer];
    gcache__unlock(&gc->reg_mu);
    return GCACHE_OK;
}

/* ---- Metrics text (Prometheus exposition format 0.0.4) ---------------------------------------- */
#ifndef GCACHE_NO_METRICS_TEXT
enum { GCACHE__M_REQ, GCACHE__M_MISS, GCACHE__M_DIS, GCACHE__M_ERR, GCACHE__M_INV, GCACHE__M_GET, GCACHE__M_FB,
       GCACHE__M_SER, GCACHE__M_SIZE, GCACHE__M_COUNT };
static const char *const gcache__metric_names[2][GCACHE__M_COUNT] = {
    {"gcache_request_counter_total", "gcache_miss_counter_total", "gcache_disabled_counter_total",
     "gcache_error_counter_total", "gcache_invalidation_counter_total", "gcache_get_timer", "gcache_fallback_timer",
     "gcache_serialization_timer", "gcache_size_histogram"},
    {"gcache_requests_total", "gcache_misses_total", "gcache_disabled_total", "gcache_errors_total",
     "gcache_invalidations_total", "gcache_get_seconds", "gcache_fallback_seconds", "gcache_serialization_seconds",
     "gcache_value_size_bytes"}};
static const char *const gcache__metric_help[GCACHE__M_COUNT] = {
    "Calls that reached a cache layer enabled.",
    "Calls that missed a cache layer.",
    "Calls that skipped a cache layer, by reason.",
    "Cache faults by layer and error; error=fetch counts errors of the value's source.",
    "Invalidations by key type and layer.",
    "Time to read a cache layer in seconds (local lookups sampled 1 in 64, weighted).",
    "Time spent below a layer on its miss in seconds.",
    "Time to encode or decode the remote value envelope in seconds.",
    "Bytes of envelopes written to the remote layer."};

static void gcache__put_label(gcache__out *o, const char *name, const char *v, size_t n, int first) {
    size_t i = 0;
    gcache__puts(o, first ? "{" : ",");
    gcache__puts(o, name);
    gcache__puts(o, "=\"");
    while (i < n) {
        unsigned char c = GCACHE__CAST(unsigned char, v[i]);
        size_t u = gcache__utf8_len(GCACHE__CAST(const unsigned char *, v + i), GCACHE__CAST(const unsigned char *, v + n));
        if (c == '\\') gcache__puts(o, "\\\\");
        else if (c == '"') gcache__puts(o, "\\\"");
        else if (c == '\n') gcache__puts(o, "\\n");
        else if (c == 0 || !u) gcache__puts(o, "\xef\xbf\xbd"); /* invalid UTF-8: U+FFFD */
        else { gcache__put(o, v + i, u); i += u; continue; }
        i++;
    }
    gcache__puts(o, "\"");
}
static void gcache__put_name(gcache__out *o, const gcache *gc, int m, const char *suffix) {
    gcache__puts(o, gc->metrics_prefix);
    gcache__puts(o, gcache__metric_names[gc->metrics_names][m]);
    if (suffix) gcache__puts(o, suffix);
}
static void gcache__put_family(gcache__out *o, const gcache *gc, int m, const char *type) {
    gcache__puts(o, "# HELP ");
    gcache__put_name(o, gc, m, NULL);
    gcache__puts(o, " ");
    gcache__puts(o, gcache__metric_help[m]);
    gcache__puts(o, "\n# TYPE ");
    gcache__put_name(o, gc, m, NULL);
    gcache__puts(o, " ");
    gcache__puts(o, type);
    gcache__puts(o, "\n");
}
static void gcache__put_uc_labels(gcache__out *o, const gcache_use_case *uc, int layer) {
    gcache__put_label(o, "use_case", uc->name, uc->name_len, 1);
    gcache__put_label(o, "key_type", uc->key_type, uc->key_type_len, 0);
    gcache__put_label(o, "layer", gcache__layer_names[layer], strlen(gcache__layer_names[layer]), 0);
}
static void gcache__put_sample_end(gcache__out *o, gcache__u64 v) {
    gcache__puts(o, "} ");
    gcache__put_u64(o, v);
    gcache__puts(o, "\n");
}
static void gcache__put_seconds(gcache__out *o, gcache__u64 ns) {
    char t[16];
    int i;
    gcache__put_u64(o, ns / 1000000000ULL);
    ns %= 1000000000ULL;
    for (i = 8; i >= 0; i--) { t[i] = GCACHE__CAST(char, '0' + ns % 10); ns /= 10; }
    gcache__puts(o, ".");
    gcache__put(o, t, 9);
}
/* One histogram series: cumulative buckets, +Inf, sum, count. extra = one more label or NULL. */
static void gcache__put_hist(gcache__out *o, const gcache *gc, int m, const gcache_use_case *uc, int layer,
                             const char *extra_name, const char *extra_value, const gcache__hist *h, int timer) {
    int nb = timer ? GCACHE__TIMER_BUCKETS : GCACHE__SIZE_BUCKETS, i;
    gcache__u64 cum = 0, count = GCACHE__LOAD_RELAXED(&h->count), sum = GCACHE__LOAD_RELAXED(&h->sum);
    for (i = 0; i <= nb; i++) {
        const char *le = i == nb ? "+Inf" : (timer ? gcache__timer_le[i] : gcache__size_le[i]);
        if (i < nb) cum += GCACHE__LOAD_RELAXED(&h->buckets[i]);
        gcache__put_name(o, gc, m, "_bucket");
        gcache__put_uc_labels(o, uc, layer);
        if (extra_name) gcache__put_label(o, extra_name, extra_value, strlen(extra_value), 0);
        gcache__put_label(o, "le", le, strlen(le), 0);
        gcache__put_sample_end(o, i == nb ? (count > cum ? count : cum) : cum);
    }
    gcache__put_name(o, gc, m, "_sum");
    gcache__put_uc_labels(o, uc, layer);
    if (extra_name) gcache__put_label(o, extra_name, extra_value, strlen(extra_value), 0);
    gcache__puts(o, "} ");
    if (timer) gcache__put_seconds(o, sum); else gcache__put_u64(o, sum);
    gcache__puts(o, "\n");
    gcache__put_name(o, gc, m, "_count");
    gcache__put_uc_labels(o, uc, layer);
    if (extra_name) gcache__put_label(o, extra_name, extra_value, strlen(extra_value), 0);
    gcache__put_sample_end(o, count > cum ? count : cum);
}

GCACHE_DEF int gcache_metrics_prometheus(gcache *gc, char *buf, size_t cap) {
    gcache__out o;
    gcache__ctr *tot;
    size_t i, u, nucs;
    int l, k, m;
    if (!gc || (!buf && cap)) return GCACHE_EINVAL;
    o.buf = buf; o.cap = cap; o.len = 0;
    gcache__lock(&gc->reg_mu);
    nucs = gc->nucs;
    tot = GCACHE__CAST(gcache__ctr *, gcache__alloc(gc, (nucs ? nucs : 1) * sizeof *tot));
    if (!tot) { gcache__unlock(&gc->reg_mu); return GCACHE_ENOMEM; }
    memset(tot, 0, (nucs ? nucs : 1) * sizeof *tot);
    for (i = 0; i < gc->nshards; i++) {
        gcache__shard *s = &gc->shards[i];
        gcache__lock(&s->mu);
        for (u = 0; u < nucs; u++) {
            const gcache__u64 *src = GCACHE__PCAST(const gcache__u64 *, &s->ctr[u]);
            gcache__u64 *dst = GCACHE__PCAST(gcache__u64 *, &tot[u]);
            size_t w;
            for (w = 0; w < sizeof(gcache__ctr) / sizeof(gcache__u64); w++) dst[w] += src[w];
        }
        gcache__unlock(&s->mu);
    }
    for (m = GCACHE__M_REQ; m <= GCACHE__M_MISS; m++) {
        gcache__put_family(&o, gc, m, "counter");
        for (u = 0; u < nucs; u++)
            for (l = 0; l < (gc->has_remote ? 2 : 1); l++) {
                gcache__put_name(&o, gc, m, NULL);
                gcache__put_uc_labels(&o, gc->ucs[u], l);
                gcache__put_sample_end(&o, m == GCACHE__M_REQ ? tot[u].requests[l] : tot[u].misses[l]);
            }
    }
    gcache__put_family(&o, gc, GCACHE__M_DIS, "counter");
    for (u = 0; u < nucs; u++)
        for (l = 0; l < GCACHE__LAYERS3; l++)
            for (k = 0; k < GCACHE_REASON_COUNT; k++)
                if (tot[u].disabled[l][k]) {
                    gcache__put_name(&o, gc, GCACHE__M_DIS, NULL);
                    gcache__put_uc_labels(&o, gc->ucs[u], l);
                    gcache__put_label(&o, "reason", gcache__reason_names[k], strlen(gcache__reason_names[k]), 0);
                    gcache__put_sample_end(&o, tot[u].disabled[l][k]);
                }
    gcache__put_family(&o, gc, GCACHE__M_ERR, "counter");
    for (u = 0; u < nucs; u++)
        for (l = 0; l < GCACHE__LAYERS3; l++) {
            for (k = 0; k <= GCACHE__ERR_COUNT; k++) {
                gcache__u64 v = k < GCACHE__ERR_COUNT ? tot[u].errors[l][k] : tot[u].fetch_errors[l];
                const char *en = k < GCACHE__ERR_COUNT ? gcache__err_names[k] : "fetch";
                if (!v) continue;
                gcache__put_name(&o, gc, GCACHE__M_ERR, NULL);
                gcache__put_uc_labels(&o, gc->ucs[u], l);
                gcache__put_label(&o, "error", en, strlen(en), 0);
                gcache__put_label(&o, "in_fallback", k < GCACHE__ERR_COUNT ? "False" : "True", k < GCACHE__ERR_COUNT ? 5 : 4, 0);
                gcache__put_sample_end(&o, v);
            }
        }
    gcache__put_family(&o, gc, GCACHE__M_INV, "counter");
    for (i = 0; i < gc->ninval; i++)
        for (l = 0; l < 2; l++) {
            gcache__put_name(&o, gc, GCACHE__M_INV, NULL);
            gcache__put_label(&o, "key_type", gc->inval[i].key_type, gc->inval[i].len, 1);
            gcache__put_label(&o, "layer", gcache__layer_names[l], strlen(gcache__layer_names[l]), 0);
            gcache__put_sample_end(&o, gc->inval[i].n[l]);
        }
    for (m = GCACHE__M_GET; m <= GCACHE__M_FB; m++) {
        gcache__put_family(&o, gc, m, "histogram");
        for (u = 0; u < nucs; u++)
            for (l = 0; l < 2; l++) {
                const gcache__hist *h = m == GCACHE__M_GET ? &gc->ucs[u]->get_timer[l] : &gc->ucs[u]->fallback_timer[l];
                if (GCACHE__LOAD_RELAXED(&h->count)) gcache__put_hist(&o, gc, m, gc->ucs[u], l, NULL, NULL, h, 1);
            }
    }
    gcache__put_family(&o, gc, GCACHE__M_SER, "histogram");
    for (u = 0; u < nucs; u++)
        for (k = 0; k < 2; k++) {
            const gcache__hist *h = &gc->ucs[u]->ser_timer[k];
            if (GCACHE__LOAD_RELAXED(&h->count))
                gcache__put_hist(&o, gc, GCACHE__M_SER, gc->ucs[u], GCACHE_REMOTE, "operation", k ? "load" : "dump", h, 1);
        }
    gcache__put_family(&o, gc, GCACHE__M_SIZE, "histogram");
    for (u = 0; u < nucs; u++)
        if (GCACHE__LOAD_RELAXED(&gc->ucs[u]->size_hist.count))
            gcache__put_hist(&o, gc, GCACHE__M_SIZE, gc->ucs[u], GCACHE_REMOTE, NULL, NULL, &gc->ucs[u]->size_hist, 0);
    gcache__unlock(&gc->reg_mu);
    gcache__free(gc, tot);
    return gcache__out_finish(&o);
}
#else
GCACHE_DEF int gcache_metrics_prometheus(gcache *gc, char *buf, size_t cap) {
    (void)gc;
    if (buf && cap) buf[0] = 0;
    return 0;
}
#endif

/* ---- The in-memory remote backend ------------------------------------------------------------- */
typedef struct gcache__mem_entry {
    struct gcache__mem_entry *hnext, *newer, *older;
    gcache__u64 hash, expire_ns;
    size_t klen, vlen;
} gcache__mem_entry;
#define GCACHE__MEM_KEY(e) (GCACHE__PCAST(char *, (e)) + sizeof(gcache__mem_entry))
typedef struct gcache__mem_listener {
    void (*fn)(void *u, gcache_slice key_type_id, long long watermark_ms);
    void *u;
} gcache__mem_listener;
typedef struct gcache__mem {
    gcache__mutex mu;  /* the table */
    gcache__mutex lmu; /* listeners; held while delivering, so detaching waits for callbacks */
    gcache_allocator allocator;
    gcache_clock clock;
    gcache__mem_entry **buckets;
    size_t nbuckets, count, bytes, max_entries, max_bytes;
    gcache__mem_entry *newest, *oldest; /* FIFO eviction */
    gcache__mem_listener *listeners;
    size_t nlisteners, listeners_cap;
} gcache__mem;

static gcache__mem_entry **gcache__mem_link(gcache__mem *m, const char *k, size_t klen, gcache__u64 h) {
    gcache__mem_entry **link = &m->buckets[h & (m->nbuckets - 1)];
    while (*link && !((*link)->hash == h && (*link)->klen == klen && memcmp(GCACHE__MEM_KEY(*link), k, klen) == 0))
        link = &(*link)->hnext;
    return link;
}
static void gcache__mem_unlink(gcache__mem *m, gcache__mem_entry **link) {
    gcache__mem_entry *e = *link;
    *link = e->hnext;
    if (e->newer) e->newer->older = e->older; else m->newest = e->older;
    if (e->older) e->older->newer = e->newer; else m->oldest = e->newer;
    m->count--;
    m->bytes -= e->klen + e->vlen;
    gcache__free_with(&m->allocator, e);
}
static void gcache__mem_remove(gcache__mem *m, gcache__mem_entry *e) {
    gcache__mem_unlink(m, gcache__mem_link(m, GCACHE__MEM_KEY(e), e->klen, e->hash));
}
static gcache__u64 gcache__mem_now(gcache__mem *m) { return m->clock.mono_ns_fn(m->clock.user_data); }

static int gcache__mem_mget(void *ctx, const gcache_slice *keys, size_t n, gcache_slice *vals, void **reply) {
    gcache__mem *m = GCACHE__CAST(gcache__mem *, ctx);
    size_t i, total = 0;
    gcache__mem_entry *found[64];
    gcache__mem_entry **fp = found;
    unsigned char *block;
    gcache__u64 now;
    if (!keys || !vals || !reply || (n && !keys)) return GCACHE_EINVAL;
    *reply = NULL;
    if (n > 64) {
        fp = GCACHE__CAST(gcache__mem_entry **, gcache__alloc_with(&m->allocator, n * sizeof *fp));
        if (!fp) return GCACHE_ENOMEM;
    }
    now = gcache__mem_now(m);
    gcache__lock(&m->mu);
    for (i = 0; i < n; i++) {
        gcache__u64 h = gcache_xxh64(keys[i].ptr, keys[i].len, 0);
        gcache__mem_entry **link = gcache__mem_link(m, keys[i].ptr, keys[i].len, h);
        fp[i] = *link;
        if (fp[i] && fp[i]->expire_ns <= now) { gcache__mem_unlink(m, link); fp[i] = NULL; }
        if (fp[i]) total += fp[i]->vlen;
    }
    block = GCACHE__CAST(unsigned char *, gcache__alloc_with(&m->allocator, total ? total : 1));
    if (!block) {
        gcache__unlock(&m->mu);
        if (fp != found) gcache__free_with(&m->allocator, fp);
        return GCACHE_ENOMEM;
    }
    total = 0;
    for (i = 0; i < n; i++) {
        if (!fp[i]) { vals[i].ptr = NULL; vals[i].len = 0; continue; }
        memcpy(block + total, GCACHE__MEM_KEY(fp[i]) + fp[i]->klen, fp[i]->vlen);
        vals[i].ptr = GCACHE__PCAST(const char *, block + total);
        vals[i].len = fp[i]->vlen;
        total += fp[i]->vlen;
    }
    gcache__unlock(&m->mu);
    if (fp != found) gcache__free_with(&m->allocator, fp);
    *reply = block;
    return GCACHE_OK;
}
static void gcache__mem_release(void *ctx, void *reply) {
    gcache__mem *m = GCACHE__CAST(gcache__mem *, ctx);
    gcache__free_with(&m->allocator, reply);
}
static int gcache__mem_set(void *ctx, gcache_slice key, gcache_slice val, int ttl_sec) {
    gcache__mem *m = GCACHE__CAST(gcache__mem *, ctx);
    gcache__u64 h = gcache_xxh64(key.ptr, key.len, 0), now;
    gcache__mem_entry *e, **link;
    size_t sz = key.len + val.len;
    if ((!key.ptr && key.len) || (!val.ptr && val.len)) return GCACHE_EINVAL;
    if (sz < key.len || (m->max_bytes && sz > m->max_bytes)) return GCACHE_ETOOBIG;
    if (ttl_sec < 1) ttl_sec = 1;
    e = GCACHE__CAST(gcache__mem_entry *, gcache__alloc_with(&m->allocator, sizeof *e + sz));
    if (!e) return GCACHE_ENOMEM;
    now = gcache__mem_now(m);
    e->hash = h;
    e->expire_ns = now + GCACHE__CAST(gcache__u64, ttl_sec) * 1000000000ULL;
    e->klen = key.len;
    e->vlen = val.len;
    if (key.len) memcpy(GCACHE__MEM_KEY(e), key.ptr, key.len);
    if (val.len) memcpy(GCACHE__MEM_KEY(e) + key.len, val.ptr, val.len);
    gcache__lock(&m->mu);
    link = gcache__mem_link(m, key.ptr, key.len, h);
    if (*link) gcache__mem_unlink(m, link);
    while (m->oldest && (m->count >= m->max_entries || (m->max_bytes && m->bytes + sz > m->max_bytes))) {
        gcache__mem_entry *victim = m->oldest;
        gcache__mem_remove(m, victim);
    }
    if (m->count >= m->nbuckets && m->nbuckets < (GCACHE__CAST(size_t, 1) << 30)) {
        size_t nb = m->nbuckets * 2, i;
        gcache__mem_entry **b = GCACHE__CAST(gcache__mem_entry **, gcache__alloc_with(&m->allocator, nb * sizeof *b));
        if (b) {
            memset(b, 0, nb * sizeof *b);
            for (i = 0; i < m->nbuckets; i++) {
                gcache__mem_entry *x = m->buckets[i], *next;
                for (; x; x = next) { next = x->hnext; x->hnext = b[x->hash & (nb - 1)]; b[x->hash & (nb - 1)] = x; }
            }
            gcache__free_with(&m->allocator, m->buckets);
            m->buckets = b;
            m->nbuckets = nb;
        }
    }
    link = &m->buckets[h & (m->nbuckets - 1)];
    e->hnext = *link;
    *link = e;
    e->older = m->newest;
    e->newer = NULL;
    if (m->newest) m->newest->newer = e; else m->oldest = e;
    m->newest = e;
    m->count++;
    m->bytes += sz;
    gcache__unlock(&m->mu);
    return GCACHE_OK;
}
static int gcache__mem_del(void *ctx, gcache_slice key) {
    gcache__mem *m = GCACHE__CAST(gcache__mem *, ctx);
    gcache__u64 h = gcache_xxh64(key.ptr, key.len, 0);
    gcache__mem_entry **link;
    if (!key.ptr && key.len) return GCACHE_EINVAL;
    gcache__lock(&m->mu);
    link = gcache__mem_link(m, key.ptr, key.len, h);
    if (*link) gcache__mem_unlink(m, link);
    gcache__unlock(&m->mu);
    return GCACHE_OK;
}
static int gcache__mem_flush_prefix(void *ctx, gcache_slice prefix) {
    gcache__mem *m = GCACHE__CAST(gcache__mem *, ctx);
    gcache__mem_entry *e, *next;
    if (!prefix.ptr && prefix.len) return GCACHE_EINVAL;
    gcache__lock(&m->mu);
    for (e = m->oldest; e; e = next) {
        next = e->newer;
        if (e->klen >= prefix.len && memcmp(GCACHE__MEM_KEY(e), prefix.ptr, prefix.len) == 0) gcache__mem_remove(m, e);
    }
    gcache__unlock(&m->mu);
    return GCACHE_OK;
}
static int gcache__mem_publish(void *ctx, gcache_slice key_type_id, long long watermark_ms) {
    gcache__mem *m = GCACHE__CAST(gcache__mem *, ctx);
    size_t i;
    gcache__lock(&m->lmu);
    for (i = 0; i < m->nlisteners; i++) m->listeners[i].fn(m->listeners[i].u, key_type_id, watermark_ms);
    gcache__unlock(&m->lmu);
    return GCACHE_OK;
}
static int gcache__mem_subscribe(void *ctx, void (*fn)(void *u, gcache_slice key_type_id, long long watermark_ms), void *u) {
    gcache__mem *m = GCACHE__CAST(gcache__mem *, ctx);
    size_t i;
    int rc = GCACHE_OK;
    gcache__lock(&m->lmu);
    for (i = 0; i < m->nlisteners; i++)
        if (m->listeners[i].u == u) break;
    if (!fn) {
        if (i < m->nlisteners) m->listeners[i] = m->listeners[--m->nlisteners];
    } else if (i < m->nlisteners) {
        m->listeners[i].fn = fn;
    } else {
        if (m->nlisteners == m->listeners_cap) {
            size_t nc = m->listeners_cap ? m->listeners_cap * 2 : 4;
            gcache__mem_listener *n = GCACHE__CAST(gcache__mem_listener *, gcache__alloc_with(&m->allocator, nc * sizeof *n));
            if (n) {
                if (m->nlisteners) memcpy(n, m->listeners, m->nlisteners * sizeof *n);
                gcache__free_with(&m->allocator, m->listeners);
                m->listeners = n;
                m->listeners_cap = nc;
            }
        }
        if (m->nlisteners < m->listeners_cap) {
            m->listeners[m->nlisteners].fn = fn;
            m->listeners[m->nlisteners].u = u;
            m->nlisteners++;
        } else {
            rc = GCACHE_ENOMEM;
        }
    }
    gcache__unlock(&m->lmu);
    return rc;
}
static void gcache__mem_destroy(void *ctx) {
    gcache__mem *m = GCACHE__CAST(gcache__mem *, ctx);
    gcache_allocator a;
    if (!m) return;
    a = m->allocator;
    while (m->oldest) gcache__mem_remove(m, m->oldest);
    gcache__free_with(&a, m->buckets);
    gcache__free_with(&a, m->listeners);
    gcache__mutex_fini(&m->mu);
    gcache__mutex_fini(&m->lmu);
    gcache__free_with(&a, m);
}

GCACHE_DEF int gcache_remote_memory(const gcache_memory_desc *d, gcache_remote *out) {
    gcache_memory_desc dd;
    gcache__mem *m;
    if (!out) return GCACHE_EINVAL;
    memset(out, 0, sizeof *out);
    if (d) dd = *d; else memset(&dd, 0, sizeof dd);
    if (!dd.max_entries) dd.max_entries = 100000;
    dd.allocator = gcache__allocator_or_default(dd.allocator);
    if (!dd.allocator.alloc_fn) return GCACHE_EINVAL;
#if GCACHE__HAS_DEFAULT_CLOCK
    if (!dd.clock.mono_ns_fn) dd.clock.mono_ns_fn = gcache__mono_ns;
    if (!dd.clock.wall_ms_fn) dd.clock.wall_ms_fn = gcache__wall_ms;
#endif
    if (!dd.clock.mono_ns_fn) return GCACHE_EINVAL;
    m = GCACHE__CAST(gcache__mem *, gcache__alloc_with(&dd.allocator, sizeof *m));
    if (!m) return GCACHE_ENOMEM;
    memset(m, 0, sizeof *m);
    m->allocator = dd.allocator;
    m->clock = dd.clock;
    m->max_entries = dd.max_entries;
    m->max_bytes = dd.max_bytes;
    m->nbuckets = 64;
    m->buckets = GCACHE__CAST(gcache__mem_entry **, gcache__alloc_with(&m->allocator, m->nbuckets * sizeof *m->buckets));
    if (!m->buckets) { gcache__free_with(&m->allocator, m); return GCACHE_ENOMEM; }
    memset(m->buckets, 0, m->nbuckets * sizeof *m->buckets);
    (void)gcache__mutex_init(&m->mu);
    (void)gcache__mutex_init(&m->lmu);
    out->ctx = m;
    out->name = "memory";
    out->mget = gcache__mem_mget;
    out->release = gcache__mem_release;
    out->set = gcache__mem_set;
    out->del = gcache__mem_del;
    out->flush_prefix = gcache__mem_flush_prefix;
    out->publish = gcache__mem_publish;
    out->subscribe = gcache__mem_subscribe;
    out->destroy = gcache__mem_destroy;
    return GCACHE_OK;
}

#endif /* GCACHE__IMPLEMENTATION_GUARD */
#endif /* GCACHE_IMPLEMENTATION */

/*
------------------------------------------------------------------------------
This software is available under 2 licenses -- choose whichever you prefer.
------------------------------------------------------------------------------
ALTERNATIVE A - MIT License
Copyright (c) 2026 the gcache authors
Permission is hereby granted, free of charge, to any person obtaining a copy of
this software and associated documentation files (the "Software"), to deal in
the Software without restriction, including without limitation the rights to
use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies
of the Software, and to permit persons to whom the Software is furnished to do
so, subject to the following conditions:
The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.
THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
------------------------------------------------------------------------------
ALTERNATIVE B - Public Domain (www.unlicense.org)
This is free and unencumbered software released into the public domain.
Anyone is free to copy, modify, publish, use, compile, sell, or distribute this
software, either in source code form or as a compiled binary, for any purpose,
commercial or non-commercial, and by any means.
In jurisdictions that recognize copyright laws, the author or authors of this
software dedicate any and all copyright interest in the software to the public
domain. We make this dedication in the spirit of continuing to enjoy the
benefits of the public domain and to the detriment of copyright law.
------------------------------------------------------------------------------
*/
