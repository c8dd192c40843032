/* The backend conformance suite (tests/conformance.h) against a real redis-server,
   over TCP and over the unix socket, plus a one-connection pool on another db. */
#define GCACHE_IMPLEMENTATION
#define GCACHE_REDIS_IMPLEMENTATION
#include "gcache_redis.h"
#include "tap.h"
#include "conformance.h"
#include "redis_harness.h"

static int run(const char *label, const gcache_redis_desc *d) {
    gcache_remote r;
    int rc = gcache_redis_create(d, &r), failures;
    if (!TAP_IS_INT(rc, GCACHE_OK, "gcache_redis_create")) return 1;
    TAP_IS_STR(r.name, "redis", "the backend is named redis");
    failures = gcache_conformance_run(&r, label);
    r.destroy(r.ctx);
    return failures;
}

int main(void) {
    redis_server srv;
    gcache_redis_desc d;
    memset(&srv, 0, sizeof srv);
    if (redis_start(&srv, NULL) != 0) {
        TAP_OK(0, "redis-server starts");
        return TAP_DONE();
    }
    TAP_DIAG("hiredis %d.%d.%d, redis-server on 127.0.0.1:%d and %s", HIREDIS_MAJOR, HIREDIS_MINOR,
             HIREDIS_PATCH, srv.port, srv.sock);

    memset(&d, 0, sizeof d);
    d.host = "127.0.0.1";
    d.port = srv.port;
    run("redis-tcp", &d);

    memset(&d, 0, sizeof d);
    d.unix_path = srv.sock;
    run("redis-unix", &d);

    /* one connection shared by every caller (the suite's listeners and publishes too),
       on a non-default database */
    memset(&d, 0, sizeof d);
    d.port = srv.port;
    d.pool_size = 1;
    d.db = 5;
    run("redis-pool1-db5", &d);

    redis_stop(&srv);
    return TAP_DONE();
}
