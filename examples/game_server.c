/* examples/game_server.c -- a game backend serving player profiles through gcache.

   Worker threads serve simulated "get player profile" requests. Which player
   is asked for follows a skewed, Zipf-like distribution (a few players are
   very popular, most are rarely seen), as in a real game. Every request goes
   through gcache_get: local layer -> remote layer -> a slow fake database
   (about 1 ms per query). Now and then a player "levels up": the database
   row changes and the server invalidates the player's cached entries.

   While it runs you can, without a restart:
     - edit the config file (JSON, the gcache format): it is re-read when its
       modification time changes (checked every second); a broken file is
       refused and the previous config stays in force;
     - flip the kill switch: `kill -USR1 <pid>` toggles it, and so does creating
       or removing the --kill-file.
   Once a second it prints requests/s, the hit ratio of each layer, fetches/s
   (database queries) and invalidations/s.

   Usage:
     game_server [--seconds N] [--threads N] [--players N] [--config FILE]
                 [--kill-file FILE] [--redis HOST:PORT] [FILE]
   Defaults: 10 seconds, 4 threads, 100000 players, the in-process memory
   backend as the remote layer. --redis needs a build with -DGAME_SERVER_REDIS
   (and gcache_redis.h + hiredis). A config file looks like
     {"GetPlayerProfile": {"ttl_sec": {"local": 2, "remote": 60},
                           "ramp": {"local": 100, "remote": 100}}}

   Build: cc -O2 -pthread examples/game_server.c -o game_server
          cc -O2 -pthread -DGAME_SERVER_REDIS examples/game_server.c -lhiredis -o game_server
*/
#define GCACHE_IMPLEMENTATION
#include "../gcache.h" /* first: it sets the POSIX feature macros it needs */
#ifdef GAME_SERVER_REDIS
#define GCACHE_REDIS_IMPLEMENTATION
#include "../gcache_redis.h"
#endif

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- settings ------------------------------------------------------------------- */
typedef struct settings {
    int seconds, threads, players;
    const char *config_path, *kill_file, *redis;
} settings;

static volatile sig_atomic_t g_toggle_kill = 0; /* SIGUSR1 */
static volatile sig_atomic_t g_interrupted = 0; /* SIGINT / SIGTERM */

static void on_sigusr1(int sig) { (void)sig; g_toggle_kill = 1; }
static void on_sigint(int sig) { (void)sig; g_interrupted = 1; }

/* ---- time ---------------------------------------------------------------------- */
static double mono_sec(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    nanosleep(&ts, NULL);
}

/* ---- the skewed key distribution --------------------------------------------------- */
/* Zipf with exponent s = 1.1: player k (1-based) is asked for with weight k^-1.1.
   k^-1.1 = 1 / (k * k^0.1); k^0.1 is found by Newton's method on y^10 = k started
   from the previous player's root, so no libm is needed. */
static double tenth_root(double k, double guess) {
    double y = guess;
    int i;
    for (i = 0; i < 8; i++) {
        double y9 = y * y * y;
        y9 = y9 * y9 * y9;
        y = y - (y9 * y - k) / (10.0 * y9);
    }
    return y;
}

static double *zipf_cdf_build(int n) {
    double *cdf = (double *)malloc((size_t)n * sizeof(double));
    double sum = 0.0, root = 1.0;
    int k;
    if (!cdf) return NULL;
    for (k = 1; k <= n; k++) {
        root = tenth_root((double)k, root);
        sum += 1.0 / ((double)k * root);
        cdf[k - 1] = sum;
    }
    for (k = 0; k < n; k++) cdf[k] /= sum;
    return cdf;
}

static unsigned long long xorshift64(unsigned long long *s) {
    unsigned long long x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

/* A player id (1..n) drawn from the CDF by binary search. */
static int zipf_sample(const double *cdf, int n, unsigned long long *rng) {
    double u = (double)(xorshift64(rng) >> 11) / 9007199254740992.0; /* [0, 1) */
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (cdf[mid] < u) lo = mid + 1;
        else hi = mid;
    }
    return lo + 1;
}

/* ---- the slow fake database ------------------------------------------------------ */
typedef struct database {
    pthread_mutex_t lock;
    unsigned int *level; /* per player; changes on "level up" */
    int players;
    unsigned long long queries;
} database;

/* The fetch function: one "query" of about 1 ms. */
static int db_load_profile(void *user, const gcache_key *key, gcache_buf *out) {
    database *db = (database *)user;
    const char *s = gcache_key_str(key, NULL);
    const char *colon = s ? strrchr(s, ':') : NULL; /* "...:player_id:<id>}#..." */
    char row[256];
    long id = colon ? strtol(colon + 1, NULL, 10) : 0;
    unsigned int level = 0;
    int n;

    sleep_ms(1);
    if (id < 1 || id > db->players) return GCACHE_NOT_FOUND;
    pthread_mutex_lock(&db->lock);
    level = db->level[id - 1];
    db->queries++;
    pthread_mutex_unlock(&db->lock);
    n = snprintf(row, sizeof row,
                 "{\"player_id\": %ld, \"name\": \"player%ld\", \"level\": %u, \"guild\": \"guild%ld\", "
                 "\"elo\": %ld, \"inventory\": [\"sword\", \"shield\", \"potion\"]}",
                 id, id, level, id % 97, 1000 + (id * 7919) % 1500);
    return gcache_buf_set(out, row, (size_t)n);
}

/* A write: the player levels up; the cache is told with an invalidation. */
static void db_level_up(database *db, int id) {
    pthread_mutex_lock(&db->lock);
    db->level[id - 1]++;
    db->queries++;
    pthread_mutex_unlock(&db->lock);
}

/* ---- workers -------------------------------------------------------------------- */
typedef struct shared_state {
    pthread_mutex_t lock; /* guards the fields below */
    unsigned long long requests, errors, invalidations;
    int stop;
} shared_state;

typedef struct worker_ctx {
    gcache *gc;
    gcache_use_case *profile;
    database *db;
    shared_state *shared;
    const double *cdf;
    int players;
    unsigned long long seed;
    pthread_t thread;
} worker_ctx;

static void *worker_main(void *arg) {
    worker_ctx *w = (worker_ctx *)arg;
    gcache_buf profile;
    unsigned long long rng = w->seed, requests = 0, errors = 0, invalidations = 0;
    int stop = 0;

    memset(&profile, 0, sizeof profile); /* growable, reused by every request */
    /* A request handler that only reads: caching is safe here, so enable it for
       this thread (the reference's `with gcache.enable():`). */
    gcache_enable(1);
    while (!stop) {
        int player = zipf_sample(w->cdf, w->players, &rng);
        gcache_key key;
        int rc;

        if (xorshift64(&rng) % 2000 == 0) {
            /* A write path: change the row, then invalidate every cached entry
               of this player (all use cases keyed by player_id). */
            char id[24];
            db_level_up(w->db, player);
            snprintf(id, sizeof id, "%d", player);
            gcache_invalidate(w->gc, "player_id", id, 0);
            invalidations++;
        }
        gcache_key_init_int(&key, w->profile, player);
        rc = gcache_get(w->gc, &key, db_load_profile, w->db, &profile);
        if (rc < 0) errors++;
        requests++;
        if ((requests & 63) == 0) {
            pthread_mutex_lock(&w->shared->lock);
            w->shared->requests += 64;
            w->shared->errors += errors;
            w->shared->invalidations += invalidations;
            stop = w->shared->stop;
            pthread_mutex_unlock(&w->shared->lock);
            errors = invalidations = 0;
        }
    }
    gcache_enable(-1);
    gcache_buf_free(&profile);
    return NULL;
}

/* ---- config file and kill switch ---------------------------------------------------- */
typedef struct file_watch {
    const char *path;
    int seen;
    long long mtime_sec, mtime_nsec, size;
} file_watch;

/* 1 if the file changed since the last call (or is seen for the first time). */
static int file_changed(file_watch *fw) {
    struct stat st;
    if (stat(fw->path, &st) != 0) return 0;
    if (fw->seen && fw->mtime_sec == (long long)st.st_mtim.tv_sec &&
        fw->mtime_nsec == (long long)st.st_mtim.tv_nsec && fw->size == (long long)st.st_size)
        return 0;
    fw->seen = 1;
    fw->mtime_sec = (long long)st.st_mtim.tv_sec;
    fw->mtime_nsec = (long long)st.st_mtim.tv_nsec;
    fw->size = (long long)st.st_size;
    return 1;
}

/* Reads the config file and hands it to gcache_config_load_json, which either takes
   all of it or refuses it and keeps the previous config. Write the file with a
   rename (write a temporary file, then mv) so a half-written file is never read;
   one that is gets refused and the next change is picked up. */
static char *g_last_config = NULL; /* the text last loaded, to ignore mtime-only changes */

static void config_reload(gcache *gc, const char *path, double t) {
    FILE *f = fopen(path, "rb");
    char *text;
    long len;
    int rc;
    if (!f) {
        printf("[%5.1fs] config %s: cannot open it; keeping the current config\n", t, path);
        return;
    }
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    fseek(f, 0, SEEK_SET);
    text = (char *)malloc(len > 0 ? (size_t)len + 1 : 1);
    if (!text || (len > 0 && fread(text, 1, (size_t)len, f) != (size_t)len)) {
        printf("[%5.1fs] config %s: read failed; keeping the current config\n", t, path);
        free(text);
        fclose(f);
        return;
    }
    fclose(f);
    if (len < 0) len = 0;
    text[len] = '\0';
    if (g_last_config && strcmp(g_last_config, text) == 0) { /* touched, not changed */
        free(text);
        return;
    }
    rc = gcache_config_load_json(gc, text, (size_t)len);
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' ')) len--;
    if (rc == GCACHE_OK) {
        printf("[%5.1fs] config reloaded from %s: %.*s\n", t, path, (int)(len > 300 ? 300 : len), text);
        free(g_last_config);
        g_last_config = text;
    } else {
        printf("[%5.1fs] config reload REFUSED (%s, status %d): keeping the previous config\n", t,
               gcache_strerror(rc), rc);
        free(text);
    }
}

static int file_exists(const char *path) {
    struct stat st;
    return path && stat(path, &st) == 0;
}

/* ---- main ---------------------------------------------------------------------- */
static int parse_args(int argc, char **argv, settings *s) {
    int i;
    s->seconds = 10;
    s->threads = 4;
    s->players = 100000;
    s->config_path = s->kill_file = s->redis = NULL;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return -1;
        if (a[0] != '-') { s->config_path = a; continue; }
        if (!v) return -1;
        if (!strcmp(a, "--seconds")) s->seconds = atoi(v);
        else if (!strcmp(a, "--threads")) s->threads = atoi(v);
        else if (!strcmp(a, "--players")) s->players = atoi(v);
        else if (!strcmp(a, "--config")) s->config_path = v;
        else if (!strcmp(a, "--kill-file")) s->kill_file = v;
        else if (!strcmp(a, "--redis")) s->redis = v;
        else return -1;
        i++;
    }
    if (s->seconds < 1 || s->threads < 1 || s->threads > 256 || s->players < 1) return -1;
    return 0;
}

static void pct(char *dst, size_t cap, unsigned long long part, unsigned long long whole) {
    if (whole == 0) snprintf(dst, cap, "-");
    else snprintf(dst, cap, "%.1f%%", 100.0 * (double)part / (double)whole);
}

int main(int argc, char **argv) {
    settings set;
    gcache_desc desc;
    gcache_use_case_desc ud;
    gcache_use_case *profile = NULL;
    gcache *gc = NULL;
    database db;
    shared_state shared;
    worker_ctx *workers;
    double *cdf;
    double start, next_report, last_report;
    file_watch config_watch;
    gcache_stats last[GCACHE_LAYER_COUNT];
    unsigned long long last_requests = 0, last_queries = 0, last_invalidations = 0;
    int killed_by_signal = 0, killed = 0, i, rc, tick = 0;
    struct sigaction sa;

    if (parse_args(argc, argv, &set) != 0) {
        fprintf(stderr,
                "usage: %s [--seconds N] [--threads N] [--players N] [--config FILE]\n"
                "          [--kill-file FILE] [--redis HOST:PORT] [FILE]\n"
                "  SIGUSR1 toggles the kill switch; the config file is re-read when it changes.\n",
                argv[0]);
        return 64;
    }

    memset(&desc, 0, sizeof desc);
    if (set.redis) {
#ifdef GAME_SERVER_REDIS
        gcache_redis_desc rd;
        static char host[64];
        const char *colon = strrchr(set.redis, ':');
        size_t hl = colon ? (size_t)(colon - set.redis) : strlen(set.redis);
        if (hl >= sizeof host) hl = sizeof host - 1;
        memcpy(host, set.redis, hl);
        host[hl] = '\0';
        memset(&rd, 0, sizeof rd);
        rd.host = host;
        rd.port = colon ? atoi(colon + 1) : 6379;
        rc = gcache_redis_create(&rd, &desc.remote);
        if (rc != GCACHE_OK) {
            fprintf(stderr, "redis backend %s: %s\n", set.redis, gcache_strerror(rc));
            return 2;
        }
        printf("remote layer: Redis at %s:%d\n", host, rd.port);
#else
        fprintf(stderr, "--redis needs a build with -DGAME_SERVER_REDIS (and hiredis)\n");
        return 64;
#endif
    } else {
        gcache_memory_desc md;
        memset(&md, 0, sizeof md);
        md.max_entries = 200000;
        rc = gcache_remote_memory(&md, &desc.remote);
        if (rc != GCACHE_OK) {
            fprintf(stderr, "memory backend: %s\n", gcache_strerror(rc));
            return 1;
        }
        printf("remote layer: in-process memory backend (use --redis HOST:PORT for Redis)\n");
    }
    desc.local.max_entries = 10000;
    rc = gcache_create(&desc, &gc);
    if (rc != GCACHE_OK) {
        fprintf(stderr, "gcache_create: %s\n", gcache_strerror(rc));
        if (desc.remote.destroy) desc.remote.destroy(desc.remote.ctx);
        return 1;
    }

    memset(&ud, 0, sizeof ud);
    ud.name = "GetPlayerProfile";
    ud.key_type = "player_id";
    ud.track_for_invalidation = 1; /* level-ups invalidate the player's entries */
    ud.default_config.ttl_sec[GCACHE_LOCAL] = 2; /* short, so the remote layer shows its hits soon */
    ud.default_config.ttl_sec[GCACHE_REMOTE] = 60;
    ud.default_config.ramp[GCACHE_LOCAL] = 100;
    ud.default_config.ramp[GCACHE_REMOTE] = 100;
    rc = gcache_register(gc, &ud, &profile);
    if (rc != GCACHE_OK) {
        fprintf(stderr, "gcache_register: %s\n", gcache_strerror(rc));
        gcache_destroy(gc);
        return 1;
    }

    memset(&config_watch, 0, sizeof config_watch);
    config_watch.path = set.config_path;
    if (set.config_path) {
        if (file_changed(&config_watch)) config_reload(gc, set.config_path, 0.0);
        else printf("[  0.0s] config %s not found yet: using the built-in defaults\n", set.config_path);
    }

    cdf = zipf_cdf_build(set.players);
    memset(&db, 0, sizeof db);
    db.players = set.players;
    db.level = (unsigned int *)calloc((size_t)set.players, sizeof(unsigned int));
    workers = (worker_ctx *)calloc((size_t)set.threads, sizeof(worker_ctx));
    if (!cdf || !db.level || !workers) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    pthread_mutex_init(&db.lock, NULL);
    memset(&shared, 0, sizeof shared);
    pthread_mutex_init(&shared.lock, NULL);

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigusr1;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    printf("game server: %d worker threads, %d players (Zipf s=1.1), fake DB ~1 ms/query, %d s, pid %ld\n",
           set.threads, set.players, set.seconds, (long)getpid());
    fflush(stdout);

    for (i = 0; i < GCACHE_LAYER_COUNT; i++) gcache_stats_get(gc, "GetPlayerProfile", (gcache_layer)i, &last[i]);
    for (i = 0; i < set.threads; i++) {
        workers[i].gc = gc;
        workers[i].profile = profile;
        workers[i].db = &db;
        workers[i].shared = &shared;
        workers[i].cdf = cdf;
        workers[i].players = set.players;
        workers[i].seed = 0x9e3779b97f4a7c15ULL * (unsigned long long)(i + 1);
        if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            return 1;
        }
    }

    start = mono_sec();
    next_report = start + 1.0;
    last_report = start;
    while (!g_interrupted) {
        double now = mono_sec();
        int want_kill;
        if (now - start >= (double)set.seconds + 0.001) break;

        if (g_toggle_kill) {
            g_toggle_kill = 0;
            killed_by_signal = !killed_by_signal;
        }
        want_kill = killed_by_signal || file_exists(set.kill_file);
        if (want_kill != killed) {
            gcache_kill(gc, want_kill);
            killed = want_kill;
            printf("[%5.1fs] kill switch %s (%s)\n", now - start, killed ? "ON: every layer skipped" : "OFF: caching again",
                   killed_by_signal ? "SIGUSR1" : set.kill_file && file_exists(set.kill_file) ? "kill file" : "cleared");
            fflush(stdout);
        }

        if (now >= next_report) {
            gcache_stats cur[GCACHE_LAYER_COUNT];
            unsigned long long requests, queries, invalidations;
            char hit_local[16], hit_remote[16];
            double dt = now - last_report > 0.001 ? now - last_report : 0.001;

            tick++;
            next_report += 1.0;
            last_report = now;
            if (set.config_path && file_changed(&config_watch)) config_reload(gc, set.config_path, now - start);

            for (i = 0; i < GCACHE_LAYER_COUNT; i++) gcache_stats_get(gc, "GetPlayerProfile", (gcache_layer)i, &cur[i]);
            pthread_mutex_lock(&shared.lock);
            requests = shared.requests;
            invalidations = shared.invalidations;
            pthread_mutex_unlock(&shared.lock);
            pthread_mutex_lock(&db.lock);
            queries = db.queries;
            pthread_mutex_unlock(&db.lock);

            pct(hit_local, sizeof hit_local, cur[GCACHE_LOCAL].hits - last[GCACHE_LOCAL].hits,
                cur[GCACHE_LOCAL].requests - last[GCACHE_LOCAL].requests);
            pct(hit_remote, sizeof hit_remote, cur[GCACHE_REMOTE].hits - last[GCACHE_REMOTE].hits,
                cur[GCACHE_REMOTE].requests - last[GCACHE_REMOTE].requests);
            printf("[%5.1fs] requests/s=%llu hit_ratio LOCAL=%s REMOTE=%s fetches/s=%llu invalidations/s=%llu "
                   "local_entries=%llu%s\n",
                   (double)tick, (unsigned long long)((double)(requests - last_requests) / dt), hit_local,
                   hit_remote, (unsigned long long)((double)(queries - last_queries) / dt),
                   (unsigned long long)((double)(invalidations - last_invalidations) / dt), cur[GCACHE_LOCAL].entries, killed ? " KILLED" : "");
            fflush(stdout);
            memcpy(last, cur, sizeof last);
            last_requests = requests;
            last_queries = queries;
            last_invalidations = invalidations;
        }
        sleep_ms(20);
    }

    pthread_mutex_lock(&shared.lock);
    shared.stop = 1;
    pthread_mutex_unlock(&shared.lock);
    for (i = 0; i < set.threads; i++) pthread_join(workers[i].thread, NULL);

    {
        gcache_stats l, r;
        char hl[16], hr[16];
        gcache_stats_get(gc, "GetPlayerProfile", GCACHE_LOCAL, &l);
        gcache_stats_get(gc, "GetPlayerProfile", GCACHE_REMOTE, &r);
        pct(hl, sizeof hl, l.hits, l.requests);
        pct(hr, sizeof hr, r.hits, r.requests);
        printf("total: requests=%llu database_queries=%llu hit_ratio LOCAL=%s REMOTE=%s errors=%llu "
               "local_evictions=%llu\n",
               shared.requests, db.queries, hl, hr, shared.errors, l.evictions);
    }

    gcache_destroy(gc); /* also destroys the remote backend */
    pthread_mutex_destroy(&shared.lock);
    pthread_mutex_destroy(&db.lock);
    free(g_last_config);
    free(workers);
    free(db.level);
    free(cdf);
    return 0;
}
