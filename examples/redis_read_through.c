/* redis_read_through.c -- a read-through cache over Redis with gcache + gcache_redis.h.

   Two "servers" of one service (two gcache instances, as two processes would have)
   share a Redis. They read users (GetUser, tracked for invalidation) and pages of a
   user's posts (ListPosts, not tracked) from a slow fake database through the cache,
   then a write changes a user and invalidates it: both servers see the new value at
   once (the other one through Redis pub/sub). The metrics are printed at the end.

   Build and run (needs libhiredis-dev and a redis-server):

       cc -std=c99 -O2 -I. examples/redis_read_through.c -o redis_read_through -lhiredis -pthread
       redis-server --port 6379 --save '' &            # or use one you have
       ./redis_read_through                            # 127.0.0.1:6379
       ./redis_read_through 127.0.0.1 6380             # host (numeric IP) and port
       ./redis_read_through --unix /tmp/redis.sock     # a unix socket

   With meson: `meson setup build && ninja -C build && build/examples/redis_read_through`.
   Without a reachable Redis it still runs: every read falls through to the database
   (the cache fails open) and the metrics show the remote errors. */
#define GCACHE_IMPLEMENTATION
#define GCACHE_REDIS_IMPLEMENTATION
#include "gcache_redis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- a slow fake database ------------------------------------------------------------- */
typedef struct database {
    char names[100][32];
    int queries;
} database;

static void db_sleep_ms(long ms) {
    struct timespec ts;
    ts.tv_sec = 0;
    ts.tv_nsec = ms * 1000000L;
    nanosleep(&ts, NULL);
}

/* GetUser's source: the user's row as JSON. */
static int load_user(void *user, const gcache_key *key, gcache_buf *out) {
    database *db = (database *)user;
    const char *s = gcache_key_str(key, NULL); /* "{urn:user_id:42}#GetUser" */
    const char *id = strstr(s, "user_id:");
    char json[128];
    int n, uid = id ? atoi(id + 8) : -1;
    db->queries++;
    db_sleep_ms(5); /* a database round trip */
    if (uid < 0 || uid >= 100) return GCACHE_NOT_FOUND;
    n = snprintf(json, sizeof json, "{\"id\":%d,\"name\":\"%s\"}", uid, db->names[uid]);
    return gcache_buf_set(out, json, (size_t)n);
}

/* ListPosts' source: a page of post titles. */
static int load_posts(void *user, const gcache_key *key, gcache_buf *out) {
    database *db = (database *)user;
    const char *s = gcache_key_str(key, NULL); /* "urn:user_id:42?page=2#ListPosts" */
    const char *page = strstr(s, "page=");
    char text[128];
    int n;
    db->queries++;
    db_sleep_ms(10);
    n = snprintf(text, sizeof text, "[\"post %d.1\",\"post %d.2\"]", page ? atoi(page + 5) : 0, page ? atoi(page + 5) : 0);
    return gcache_buf_set(out, text, (size_t)n);
}

/* ---- one server of the service -------------------------------------------------------------- */
typedef struct server {
    const char *name;
    gcache *gc;
    gcache_use_case *get_user, *list_posts;
} server;

static int server_start(server *s, const char *name, const gcache_redis_desc *rd) {
    gcache_desc d;
    gcache_use_case_desc u;
    int rc;
    memset(s, 0, sizeof *s);
    s->name = name;
    memset(&d, 0, sizeof d);
    rc = gcache_redis_create(rd, &d.remote);
    if (rc != GCACHE_OK) return rc;
    rc = gcache_create(&d, &s->gc); /* subscribes to invalidations */
    if (rc != GCACHE_OK) { d.remote.destroy(d.remote.ctx); return rc; }

    memset(&u, 0, sizeof u);
    u.name = "GetUser";
    u.key_type = "user_id";
    u.track_for_invalidation = 1;  /* watermarks + pub/sub keep it fresh after writes */
    u.default_config.ttl_sec[GCACHE_LOCAL] = 30;
    u.default_config.ttl_sec[GCACHE_REMOTE] = 300;
    u.default_config.ramp[GCACHE_LOCAL] = 100;
    u.default_config.ramp[GCACHE_REMOTE] = 100;
    rc = gcache_register(s->gc, &u, &s->get_user);
    if (rc != GCACHE_OK) return rc;

    memset(&u, 0, sizeof u);
    u.name = "ListPosts";
    u.key_type = "user_id";
    u.track_for_invalidation = 0;  /* short TTLs are enough here */
    u.default_config.ttl_sec[GCACHE_LOCAL] = 5;
    u.default_config.ttl_sec[GCACHE_REMOTE] = 60;
    u.default_config.ramp[GCACHE_LOCAL] = 100;
    u.default_config.ramp[GCACHE_REMOTE] = 100;
    return gcache_register(s->gc, &u, &s->list_posts);
}

/* A request handler: caching is off by default, so switch it on for this read. */
static void handle_get_user(server *s, database *db, int uid) {
    gcache_key k;
    gcache_buf out;
    int before = db->queries, prev, rc;
    memset(&out, 0, sizeof out);
    gcache_key_init_int(&k, s->get_user, uid);
    prev = gcache_enable(1);
    rc = gcache_get(s->gc, &k, load_user, db, &out);
    gcache_enable(prev);
    printf("  %-8s GetUser(%d)       -> %-32.*s [%s]\n", s->name, uid, (int)out.len, (const char *)out.data,
           rc < 0 ? gcache_strerror(rc) : db->queries > before ? "database" : "cache");
    gcache_buf_free(&out);
}

static void handle_list_posts(server *s, database *db, int uid, int page) {
    gcache_key k;
    gcache_buf out;
    int before = db->queries, prev, rc;
    memset(&out, 0, sizeof out);
    gcache_key_init_int(&k, s->list_posts, uid);
    gcache_key_add_int(&k, "page", page);
    prev = gcache_enable(1);
    rc = gcache_get(s->gc, &k, load_posts, db, &out);
    gcache_enable(prev);
    printf("  %-8s ListPosts(%d, p%d) -> %-32.*s [%s]\n", s->name, uid, page, (int)out.len, (const char *)out.data,
           rc < 0 ? gcache_strerror(rc) : db->queries > before ? "database" : "cache");
    gcache_buf_free(&out);
}

static void print_metrics(server *s) {
    int need = gcache_metrics_prometheus(s->gc, NULL, 0);
    char *text;
    printf("\n# metrics of %s (Prometheus text format), request/miss/error lines:\n", s->name);
    if (need <= 0) {
        gcache_stats st;
        gcache_stats_get(s->gc, NULL, GCACHE_REMOTE, &st);
        printf("remote: requests %llu hits %llu misses %llu errors %llu\n", st.requests, st.hits, st.misses, st.errors);
        return;
    }
    text = (char *)malloc((size_t)need + 1);
    if (!text) return;
    gcache_metrics_prometheus(s->gc, text, (size_t)need + 1);
    {   /* the counters only; the histograms are long */
        char *line = strtok(text, "\n");
        for (; line; line = strtok(NULL, "\n"))
            if (line[0] != '#' && (strstr(line, "request") || strstr(line, "miss") || strstr(line, "error") ||
                                   strstr(line, "invalidation")))
                printf("%s\n", line);
    }
    free(text);
}

int main(int argc, char **argv) {
    gcache_redis_desc rd;
    database db;
    server a, b;
    int rc, i;

    memset(&rd, 0, sizeof rd);
    if (argc >= 3 && strcmp(argv[1], "--unix") == 0) {
        rd.unix_path = argv[2];
    } else {
        rd.host = argc >= 2 ? argv[1] : "127.0.0.1";
        rd.port = argc >= 3 ? atoi(argv[2]) : 6379;
    }
    memset(&db, 0, sizeof db);
    for (i = 0; i < 100; i++) snprintf(db.names[i], sizeof db.names[i], "user-%d", i);

    if ((rc = server_start(&a, "server-a", &rd)) != GCACHE_OK || (rc = server_start(&b, "server-b", &rd)) != GCACHE_OK) {
        fprintf(stderr, "cannot start: %s (host must be a numeric IP)\n", gcache_strerror(rc));
        return 1;
    }
    /* a clean slate for the demo: only this prefix's keys, never FLUSHALL */
    gcache_flush(a.gc);
    gcache_flush(b.gc);

    printf("1. read-through: the first read goes to the database, then the cache answers\n");
    handle_get_user(&a, &db, 42);
    handle_get_user(&a, &db, 42); /* local hit */
    handle_get_user(&b, &db, 42); /* the other server: a Redis hit */
    handle_list_posts(&a, &db, 42, 1);
    handle_list_posts(&b, &db, 42, 1);
    handle_list_posts(&b, &db, 42, 2);

    printf("2. a write: rename user 42 and invalidate user_id:42 (all its use cases)\n");
    snprintf(db.names[42], sizeof db.names[42], "ada lovelace");
    rc = gcache_invalidate(a.gc, "user_id", "42", 0);
    if (rc != GCACHE_OK) printf("  (invalidate: the Redis part failed: %s; local part done)\n", gcache_strerror(rc));
    db_sleep_ms(20); /* pub/sub reaches server-b within milliseconds */
    handle_get_user(&a, &db, 42);
    handle_get_user(&b, &db, 42);
    handle_get_user(&b, &db, 42);

    printf("\ndatabase queries: %d for 9 reads\n", db.queries);
    print_metrics(&a);
    print_metrics(&b);
    gcache_destroy(b.gc);
    gcache_destroy(a.gc);
    return 0;
}
