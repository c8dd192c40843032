/* examples/quickstart.c -- gcache in one page, no dependencies.

   From the repository root:

       cc -O2 -pthread examples/quickstart.c -o quickstart && ./quickstart

   What it shows, in order:
     1. register a use case ("GetUser", keyed by user_id) with a default config;
     2. caching is OFF by default: outside an enable scope every call goes to
        the database and nothing is cached;
     3. inside GCACHE_WITH_ENABLED: the first call misses and loads from the
        database, the second is a hit in the local cache;
     4. a runtime config change (gcache_config_load_json, as you would load it
        from a config service or a file) ramps the use case down to 0 %: the
        cache is skipped at once, without a restart; a broken config is refused
        and the old one kept; ramping back up finds the entry still cached;
     5. the counters behind it all (gcache_stats_get).
*/
#define GCACHE_IMPLEMENTATION
#include "../gcache.h" /* first: it sets the POSIX feature macros it needs */

#include <stdio.h>
#include <string.h>
#include <time.h>

/* ---- A slow fake database ----------------------------------------------------- */
static int db_queries = 0;
static int calls = 0;

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* The fetch function: gcache calls it on a miss (or when caching is off).
   It writes the value into out and returns GCACHE_OK (or GCACHE_NOT_FOUND). */
static int load_user_from_db(void *user, const gcache_key *key, gcache_buf *out) {
    struct timespec delay;
    const char *profile = "{\"id\": 327, \"name\": \"Ada Lovelace\", \"plan\": \"pro\"}";
    (void)user; (void)key;
    delay.tv_sec = 0;
    delay.tv_nsec = 12 * 1000000L; /* pretend the query takes 12 ms */
    nanosleep(&delay, NULL);
    db_queries++;
    return gcache_buf_set(out, profile, strlen(profile));
}

/* "12 ms", or "0.4 us" for what takes less than a millisecond. */
static const char *duration(double ms, char *buf, size_t cap) {
    if (ms >= 1.0) snprintf(buf, cap, "%.0f ms", ms);
    else snprintf(buf, cap, "%.1f us", ms * 1000.0);
    return buf;
}

/* ---- One call, explained ------------------------------------------------------ */
/* Runs gcache_get once and tells, from the counters and the database's query
   count, what happened in that call. */
static void call_and_explain(gcache *gc, gcache_key *key, gcache_buf *val, const char *label) {
    gcache_stats before, after;
    int rc;
    double t0;
    char took[32];

    gcache_stats_get(gc, "GetUser", GCACHE_LOCAL, &before);
    calls++;
    t0 = now_ms();
    rc = gcache_get(gc, key, load_user_from_db, NULL, val);
    duration(now_ms() - t0, took, sizeof took);
    gcache_stats_get(gc, "GetUser", GCACHE_LOCAL, &after);

    printf("  %s: ", label);
    if (rc != GCACHE_OK) {
        printf("failed: %s\n", gcache_strerror(rc));
        return;
    }
    if (after.hits > before.hits)
        printf("cache hit in the local cache (%s), the database was not queried\n", took);
    else if (after.misses > before.misses)
        printf("cache miss, loaded from the database (%s) and stored in the local cache\n", took);
    else if (after.disabled[GCACHE_REASON_CONTEXT] > before.disabled[GCACHE_REASON_CONTEXT])
        printf("caching is off here (no enable scope), loaded from the database (%s), nothing cached\n", took);
    else if (after.disabled[GCACHE_REASON_RAMPED_DOWN] > before.disabled[GCACHE_REASON_RAMPED_DOWN])
        printf("use case is ramped down, loaded from the database (%s), cache skipped\n", took);
    else if (after.disabled[GCACHE_REASON_KILLED] > before.disabled[GCACHE_REASON_KILLED])
        printf("kill switch is on, loaded from the database (%s), cache skipped\n", took);
    else
        printf("loaded (%s)\n", took);
}

int main(void) {
    gcache *gc = NULL;
    gcache_desc desc;
    gcache_use_case_desc uc_desc;
    gcache_use_case *get_user = NULL;
    gcache_key key;
    gcache_buf val;
    gcache_stats s;
    char dump[512];
    int rc;
    const char *ramp_down = "{\"GetUser\": {\"ttl_sec\": {\"local\": 60}, \"ramp\": {\"local\": 0}}}";
    const char *typo = "{\"GetUser\": {\"ramp\": {\"local\": 150}}}"; /* ramp must be 0..100 */
    const char *ramp_up = "{\"GetUser\": {\"ttl_sec\": {\"local\": 60}, \"ramp\": {\"local\": 100}}}";

    printf("gcache %d.%d.%d quickstart\n\n", GCACHE_VERSION_MAJOR, GCACHE_VERSION_MINOR,
           GCACHE_VERSION_PATCH);

    /* A zeroed desc means "all defaults": local layer only, 10000 entries, urn prefix "urn". */
    memset(&desc, 0, sizeof desc);
    rc = gcache_create(&desc, &gc);
    if (rc != GCACHE_OK) {
        fprintf(stderr, "gcache_create: %s\n", gcache_strerror(rc));
        return 1;
    }

    /* A use case names one cached function. Its default config caches in the
       local layer for 60 s for 100 % of keys; the remote layer is not configured. */
    memset(&uc_desc, 0, sizeof uc_desc);
    uc_desc.name = "GetUser";
    uc_desc.key_type = "user_id";
    uc_desc.default_config.ttl_sec[GCACHE_LOCAL] = 60;
    uc_desc.default_config.ramp[GCACHE_LOCAL] = 100;
    rc = gcache_register(gc, &uc_desc, &get_user);
    if (rc != GCACHE_OK) {
        fprintf(stderr, "gcache_register: %s\n", gcache_strerror(rc));
        gcache_destroy(gc);
        return 1;
    }
    printf("Registered use case \"GetUser\" (key type user_id): local TTL 60 s, ramp 100 %%.\n");

    /* Keys are structured: {urn_prefix}:{key_type}:{id}[?args]#{use_case}. */
    gcache_key_init_int(&key, get_user, 327);
    printf("The cache key of user 327 is %s\n\n", gcache_key_str(&key, NULL));

    memset(&val, 0, sizeof val); /* an empty growable buffer, reused by every call */

    printf("1. Caching is OFF by default (no gcache_enable scope on this thread):\n");
    call_and_explain(gc, &key, &val, "1st call");
    call_and_explain(gc, &key, &val, "2nd call");

    printf("\n2. Inside GCACHE_WITH_ENABLED { ... } caching is on:\n");
    GCACHE_WITH_ENABLED {
        call_and_explain(gc, &key, &val, "1st call");
        call_and_explain(gc, &key, &val, "2nd call");
        call_and_explain(gc, &key, &val, "3rd call");
    }
    printf("  value: %.*s\n", (int)val.len, (const char *)val.data);

    printf("\n3. Runtime config change, no restart: ramp GetUser's local layer down to 0 %%\n");
    printf("  loading %s\n", ramp_down);
    rc = gcache_config_load_json(gc, ramp_down, strlen(ramp_down));
    printf("  -> %s\n", rc == GCACHE_OK ? "accepted" : gcache_strerror(rc));
    GCACHE_WITH_ENABLED {
        call_and_explain(gc, &key, &val, "next call");
    }
    printf("  loading a broken config %s\n", typo);
    rc = gcache_config_load_json(gc, typo, strlen(typo));
    printf("  -> refused (%s); the previous config stays in force\n",
           rc == GCACHE_OK ? "unexpectedly accepted" : gcache_strerror(rc));
    printf("  loading %s\n", ramp_up);
    rc = gcache_config_load_json(gc, ramp_up, strlen(ramp_up));
    printf("  -> %s\n", rc == GCACHE_OK ? "accepted" : gcache_strerror(rc));
    GCACHE_WITH_ENABLED {
        call_and_explain(gc, &key, &val, "next call");
    }
    printf("  (ramping down flushes nothing: the entry cached in step 2 is served again)\n");

    rc = gcache_config_dump_json(gc, dump, sizeof dump);
    if (rc >= 0 && (size_t)rc < sizeof dump)
        printf("  effective config now: %s\n", dump);

    printf("\n4. What the counters say (gcache_stats_get, GetUser, local layer):\n");
    gcache_stats_get(gc, "GetUser", GCACHE_LOCAL, &s);
    printf("  requests that used the cache: %llu (hits %llu, misses %llu)\n", s.requests, s.hits,
           s.misses);
    printf("  calls that skipped it: %llu with caching off (context), %llu ramped down\n",
           s.disabled[GCACHE_REASON_CONTEXT], s.disabled[GCACHE_REASON_RAMPED_DOWN]);
    printf("  entries in the local cache: %llu (%llu bytes of keys and values)\n", s.entries,
           s.bytes);
    printf("  database queries: %d for %d calls\n", db_queries, calls);

    gcache_buf_free(&val);
    gcache_destroy(gc);
    return 0;
}
