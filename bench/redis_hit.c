/* redis_hit.c -- what gcache adds to a Redis round trip.

   In one run, against one redis-server, on the same kind of connection (TCP loopback,
   or the unix socket with --unix), it measures per operation:
     (a) bare hiredis: MGET of the value key and the watermark key (redisCommandArgv)
     (b) gcache_get remote hit through gcache_redis.h (local layer off): the same MGET
         plus the pool, the envelope check, the watermark parse and the copy out
     (c) gcache_get local hit, for contrast
   and prints ns/op and the ratio b/a (target <= 1.10). Rounds alternate (a) and (b)
   and the median of each is reported, so drift hits both alike.

   usage: build/bench/redis_hit [--port P] [--unix] [--iters N] [--rounds R]
     --port P   use the redis-server already on 127.0.0.1:P (else one is started on a
                free port with no persistence, and stopped at the end) */
#define GCACHE_IMPLEMENTATION
#define GCACHE_REDIS_IMPLEMENTATION
#include "gcache_redis.h"
#include "../tests/redis_harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int fetch_calls;
static int fetch(void *user, const gcache_key *key, gcache_buf *out) {
    static const char value[] = "{\"id\":1,\"name\":\"ada\",\"email\":\"ada@example.com\",\"plan\":\"pro\"}";
    (void)user;
    (void)key;
    fetch_calls++;
    return gcache_buf_set(out, value, sizeof value - 1);
}

static gcache *make(const gcache_redis_desc *rd, int local_ttl, gcache_use_case **uc) {
    gcache_desc d;
    gcache_use_case_desc u;
    gcache *gc;
    memset(&d, 0, sizeof d);
    d.enabled_by_default = 1;
    if (gcache_redis_create(rd, &d.remote) != GCACHE_OK) return NULL;
    if (gcache_create(&d, &gc) != GCACHE_OK) { d.remote.destroy(d.remote.ctx); return NULL; }
    memset(&u, 0, sizeof u);
    u.name = "GetUser";
    u.key_type = "user_id";
    u.track_for_invalidation = 1; /* value + watermark in one MGET */
    u.default_config.ttl_sec[GCACHE_LOCAL] = local_ttl;
    u.default_config.ttl_sec[GCACHE_REMOTE] = 3600;
    u.default_config.ramp[GCACHE_LOCAL] = 100;
    u.default_config.ramp[GCACHE_REMOTE] = 100;
    if (gcache_register(gc, &u, uc) != GCACHE_OK) { gcache_destroy(gc); return NULL; }
    return gc;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv) {
    redis_server srv;
    gcache_redis_desc rd;
    gcache_use_case *remote_uc = NULL, *local_uc = NULL;
    gcache *remote_gc, *local_gc;
    redisContext *c;
    gcache_buf out;
    gcache_key key;
    struct timeval tv;
    const char *argv_mget[3];
    size_t argl[3];
    double a_ns[64], b_ns[64], c_ns[64], ma, mb, mc;
    int port = 0, use_unix = 0, iters = 20000, rounds = 7, started = 0, i, r, bad = 0;
    long long t0;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) port = atoi(argv[++i]);
        else if (strcmp(argv[i], "--unix") == 0) use_unix = 1;
        else if (strcmp(argv[i], "--iters") == 0 && i + 1 < argc) iters = atoi(argv[++i]);
        else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) rounds = atoi(argv[++i]);
        else { fprintf(stderr, "usage: %s [--port P] [--unix] [--iters N] [--rounds R]\n", argv[0]); return 2; }
    }
    if (rounds < 1) rounds = 1;
    if (rounds > 64) rounds = 64;
    if (iters < 1) iters = 1;

    memset(&srv, 0, sizeof srv);
    if (port) {
        if (use_unix) { fprintf(stderr, "--unix needs a server started by the bench (no --port)\n"); return 2; }
        srv.port = port;
    } else {
        if (redis_find_binary(srv.binary, sizeof srv.binary) != 0) {
            fprintf(stderr, "redis-server not found: pass --port of a running server\n");
            return 2;
        }
        if (redis_start(&srv, NULL) != 0) { fprintf(stderr, "could not start redis-server\n"); return 1; }
        started = 1;
    }

    memset(&rd, 0, sizeof rd);
    rd.host = "127.0.0.1";
    rd.port = srv.port;
    if (use_unix) rd.unix_path = srv.sock;
    rd.command_timeout_ms = 1000;
    remote_gc = make(&rd, 0, &remote_uc);
    local_gc = make(&rd, 3600, &local_uc);
    tv.tv_sec = 1;
    tv.tv_usec = 0;
    c = use_unix ? redisConnectUnixWithTimeout(srv.sock, tv) : redisConnectWithTimeout("127.0.0.1", srv.port, tv);
    if (!remote_gc || !local_gc || !c || c->err) {
        fprintf(stderr, "cannot connect to redis on 127.0.0.1:%d\n", srv.port);
        return 1;
    }
    redisSetTimeout(c, tv);

    /* a value and a (past) watermark in Redis, so both MGET keys exist */
    memset(&out, 0, sizeof out);
    gcache_invalidate(remote_gc, "user_id", "1", -1000);
    gcache_key_init_int(&key, remote_uc, 1);
    gcache_get(remote_gc, &key, fetch, NULL, &out);
    gcache_key_init_int(&key, local_uc, 1);
    gcache_get(local_gc, &key, fetch, NULL, &out);
    argv_mget[0] = "MGET";
    argv_mget[1] = "{urn:user_id:1}#GetUser";
    argv_mget[2] = "{urn:user_id:1}#watermark";
    for (i = 0; i < 3; i++) argl[i] = strlen(argv_mget[i]);
    {
        redisReply *rep = (redisReply *)redisCommandArgv(c, 3, argv_mget, argl);
        if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 || rep->element[0]->type != REDIS_REPLY_STRING ||
            rep->element[1]->type != REDIS_REPLY_STRING) {
            fprintf(stderr, "setup failed: the value and watermark keys are not both in Redis\n");
            return 1;
        }
        freeReplyObject(rep);
    }
    fetch_calls = 0;

    for (r = 0; r < rounds; r++) {
        t0 = now_ns();
        for (i = 0; i < iters; i++) {
            redisReply *rep = (redisReply *)redisCommandArgv(c, 3, argv_mget, argl);
            if (!rep) { bad++; break; }
            freeReplyObject(rep);
        }
        a_ns[r] = (double)(now_ns() - t0) / iters;

        t0 = now_ns();
        for (i = 0; i < iters; i++) {
            gcache_key_init_int(&key, remote_uc, 1);
            if (gcache_get(remote_gc, &key, fetch, NULL, &out) != GCACHE_OK) bad++;
        }
        b_ns[r] = (double)(now_ns() - t0) / iters;

        t0 = now_ns();
        for (i = 0; i < iters * 10; i++) {
            gcache_key_init_int(&key, local_uc, 1);
            if (gcache_get(local_gc, &key, fetch, NULL, &out) != GCACHE_OK) bad++;
        }
        c_ns[r] = (double)(now_ns() - t0) / (iters * 10.0);
    }
    ma = median(a_ns, rounds);
    mb = median(b_ns, rounds);
    mc = median(c_ns, rounds);

    printf("redis_hit: %s, %d rounds x %d ops, median ns/op (hiredis %d.%d.%d)\n",
           use_unix ? "unix socket" : "TCP 127.0.0.1", rounds, iters, HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH);
    printf("  (a) bare hiredis MGET value+watermark   %10.0f ns/op\n", ma);
    printf("  (b) gcache_get remote hit (gcache_redis) %10.0f ns/op\n", mb);
    printf("  (c) gcache_get local hit                 %10.1f ns/op\n", mc);
    printf("  ratio b/a = %.3f (target <= 1.10)   a/c = %.0fx\n", mb / ma, ma / mc);
    if (fetch_calls || bad) printf("  WARNING: %d fetches and %d failed calls during timing: the numbers are not hits\n",
                                   fetch_calls, bad);

    gcache_buf_free(&out);
    redisFree(c);
    gcache_destroy(remote_gc);
    gcache_destroy(local_gc);
    if (started) redis_stop(&srv);
    return 0;
}
