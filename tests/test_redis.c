/* gcache over a real redis-server: the exact key and watermark bytes a Python service
   shares, read-through across two processes, watermarks written by other clients,
   cross-process invalidation over pub/sub (<= 100 ms), fork safety, AUTH (password and
   ACL user), SELECT, and AUTH/SELECT/SUBSCRIBE re-run after the server drops us. */
#define GCACHE_IMPLEMENTATION
#define GCACHE_REDIS_IMPLEMENTATION
#include "gcache_redis.h"
#include "tap.h"
#include "redis_harness.h"

#include <pthread.h>

/* ---- a value source that counts its calls ------------------------------------------ */
typedef struct source {
    const char *tag;
    int calls;
    long long last_call_ns;
} source;

static long long mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int fetch(void *user, const gcache_key *key, gcache_buf *out) {
    source *s = (source *)user;
    char v[700];
    int n;
    s->calls++;
    s->last_call_ns = mono_ns();
    n = snprintf(v, sizeof v, "%s|%s|%d", s->tag, gcache_key_str(key, NULL), s->calls);
    return gcache_buf_set(out, v, (size_t)n);
}

typedef struct inst {
    gcache *gc;
    gcache_use_case *get_user;   /* tracked, key_type user_id */
    gcache_use_case *list_posts; /* untracked, key_type user_id */
} inst;

/* An instance over Redis; local_ttl 0 = remote layer only. */
static int inst_make(inst *in, const gcache_redis_desc *rd, int local_ttl) {
    gcache_desc d;
    gcache_use_case_desc u;
    int rc;
    memset(in, 0, sizeof *in);
    memset(&d, 0, sizeof d);
    d.enabled_by_default = 1;
    rc = gcache_redis_create(rd, &d.remote);
    if (rc) return rc;
    rc = gcache_create(&d, &in->gc);
    if (rc) { d.remote.destroy(d.remote.ctx); return rc; }
    memset(&u, 0, sizeof u);
    u.name = "GetUser";
    u.key_type = "user_id";
    u.track_for_invalidation = 1;
    u.default_config.ttl_sec[GCACHE_LOCAL] = local_ttl;
    u.default_config.ttl_sec[GCACHE_REMOTE] = 300;
    u.default_config.ramp[GCACHE_LOCAL] = 100;
    u.default_config.ramp[GCACHE_REMOTE] = 100;
    rc = gcache_register(in->gc, &u, &in->get_user);
    if (rc) return rc;
    u.name = "ListPosts";
    u.track_for_invalidation = 0;
    return gcache_register(in->gc, &u, &in->list_posts);
}

static int get_user(inst *in, long long id, source *src, gcache_buf *out) {
    gcache_key k;
    gcache_key_init_int(&k, in->get_user, id);
    return gcache_get(in->gc, &k, fetch, src, out);
}

static gcache_redis_desc tcp_desc(int port) {
    gcache_redis_desc d;
    memset(&d, 0, sizeof d);
    d.host = "127.0.0.1";
    d.port = port;
    d.command_timeout_ms = 1000; /* sanitizer builds on a busy 2-core box: no spurious timeouts */
    return d;
}

static redisReply *raw_cmd(redisContext *c, const char *fmt, const char *key) {
    return (redisReply *)redisCommand(c, fmt, key, strlen(key));
}

static int all_digits(const char *s, size_t n) {
    size_t i;
    if (!n) return 0;
    for (i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return 0;
    return 1;
}

static unsigned long long local_stat(inst *in, const char *uc, int which) {
    gcache_stats st;
    if (gcache_stats_get(in->gc, uc, GCACHE_LOCAL, &st) != GCACHE_OK) return 0;
    return which == 0 ? st.hits : which == 1 ? st.misses : st.requests;
}

/* ---- 1. exact bytes in Redis --------------------------------------------------------- */
static void test_exact_bytes(const redis_server *srv) {
    gcache_redis_desc rd = tcp_desc(srv->port);
    inst a;
    source src = {"A", 0, 0};
    gcache_buf out = {0};
    redisContext *raw = redis_raw(srv);
    redisReply *r;
    long long before, after, wm;
    gcache_key k;
    int rc;
    if (!TAP_OK(raw != NULL, "raw hiredis connection")) return;
    if (!TAP_IS_INT(inst_make(&a, &rd, 60), GCACHE_OK, "instance over redis")) return;

    before = redis_wall_ms();
    rc = get_user(&a, 1, &src, &out);
    after = redis_wall_ms();
    TAP_IS_INT(rc, GCACHE_OK, "get user 1 (miss, fetched)");
    TAP_IS_INT(src.calls, 1, "the source ran once");

    r = raw_cmd(raw, "GET %b", "{urn:user_id:1}#GetUser");
    if (TAP_OK(r && r->type == REDIS_REPLY_STRING, "the value is stored under {urn:user_id:1}#GetUser")) {
        gcache_envelope env;
        TAP_IS_INT(gcache_envelope_read(r->str, r->len, &env), GCACHE_OK, "the stored value is an envelope");
        TAP_IS_MEM(env.payload, env.payload_len, out.data, out.len, "its payload is the fetched value");
        TAP_OK(env.created_at_ms >= before - 1 && env.created_at_ms <= after + 1,
               "created_at_ms %lld is the wall time of the fetch [%lld, %lld]", env.created_at_ms, before, after);
        TAP_IS_INT(env.negative, 0, "not a negative entry");
    }
    if (r) freeReplyObject(r);
    r = raw_cmd(raw, "TTL %b", "{urn:user_id:1}#GetUser");
    TAP_OK(r && r->type == REDIS_REPLY_INTEGER && r->integer > 290 && r->integer <= 300,
           "the value's TTL is the remote ttl_sec (300): %lld", r ? r->integer : -99);
    if (r) freeReplyObject(r);

    /* an untracked use case: no braces */
    gcache_key_init_int(&k, a.list_posts, 1);
    gcache_key_add_int(&k, "page", 2);
    TAP_IS_INT(gcache_get(a.gc, &k, fetch, &src, &out), GCACHE_OK, "get ListPosts user 1 page 2");
    r = raw_cmd(raw, "EXISTS %b", "urn:user_id:1?page=2#ListPosts");
    TAP_OK(r && r->type == REDIS_REPLY_INTEGER && r->integer == 1, "untracked key urn:user_id:1?page=2#ListPosts exists");
    if (r) freeReplyObject(r);

    before = redis_wall_ms();
    rc = gcache_invalidate(a.gc, "user_id", "1", 0);
    after = redis_wall_ms();
    TAP_IS_INT(rc, GCACHE_OK, "invalidate user_id 1");
    r = raw_cmd(raw, "GET %b", "{urn:user_id:1}#watermark");
    if (TAP_OK(r && r->type == REDIS_REPLY_STRING, "the watermark is stored under {urn:user_id:1}#watermark")) {
        TAP_OK(all_digits(r->str, r->len), "the watermark is decimal ASCII ms: '%.*s'", (int)r->len, r->str);
        wm = atoll(r->str);
        TAP_OK(wm >= before && wm <= after, "watermark %lld is the invalidation's wall time [%lld, %lld]", wm, before, after);
    }
    if (r) freeReplyObject(r);
    r = raw_cmd(raw, "TTL %b", "{urn:user_id:1}#watermark");
    TAP_OK(r && r->type == REDIS_REPLY_INTEGER && r->integer > 14390 && r->integer <= 14400,
           "the watermark's TTL is about 14400 s: %lld", r ? r->integer : -99);
    if (r) freeReplyObject(r);

    /* with a future buffer */
    before = redis_wall_ms();
    TAP_IS_INT(gcache_invalidate(a.gc, "org_id", "o 7", 5000), GCACHE_OK, "invalidate an unregistered key type");
    r = raw_cmd(raw, "GET %b", "{urn:org_id:o 7}#watermark");
    TAP_OK(r && r->type == REDIS_REPLY_STRING && atoll(r->str) >= before + 5000 && atoll(r->str) <= redis_wall_ms() + 5000,
           "future_buffer_ms is added to the watermark");
    if (r) freeReplyObject(r);

    gcache_buf_free(&out);
    gcache_destroy(a.gc);
    redisFree(raw);
}

/* ---- 2. watermarks written by another client (as the Python reference does) ----------- */
static void test_foreign_watermarks(const redis_server *srv) {
    gcache_redis_desc rd = tcp_desc(srv->port);
    inst rem, loc;
    source src = {"R", 0, 0};
    gcache_buf out = {0};
    redisContext *raw = redis_raw(srv);
    redisReply *r;
    gcache_stats st;
    char cmd[200];
    int calls;
    if (!TAP_OK(raw != NULL, "raw hiredis connection")) return;
    if (!TAP_IS_INT(inst_make(&rem, &rd, 0), GCACHE_OK, "remote-only instance")) return;
    if (!TAP_IS_INT(inst_make(&loc, &rd, 60), GCACHE_OK, "instance with a local layer")) return;

    /* a numeric watermark set with SETEX makes the cached value stale */
    TAP_IS_INT(get_user(&rem, 300, &src, &out), GCACHE_OK, "fill user 300");
    calls = src.calls;
    TAP_IS_INT(get_user(&rem, 300, &src, &out), GCACHE_OK, "get user 300 again");
    TAP_IS_INT(src.calls, calls, "... a remote hit");
    redis_sleep_ms(2);
    snprintf(cmd, sizeof cmd, "SETEX {urn:user_id:300}#watermark 14400 %lld", redis_wall_ms());
    TAP_IS_INT(redis_raw_do(raw, cmd), REDIS_REPLY_STATUS, "another client SETEXes the watermark");
    TAP_IS_INT(get_user(&rem, 300, &src, &out), GCACHE_OK, "get user 300 after the foreign watermark");
    TAP_IS_INT(src.calls, calls + 1, "... the C side refetched");

    /* a fractional one, as float() would accept, in the future: refetch, store nothing */
    TAP_IS_INT(get_user(&rem, 303, &src, &out), GCACHE_OK, "fill user 303");
    snprintf(cmd, sizeof cmd, "SETEX {urn:user_id:303}#watermark 14400 %lld.25", redis_wall_ms() + 60000);
    TAP_IS_INT(redis_raw_do(raw, cmd), REDIS_REPLY_STATUS, "SETEX a fractional watermark 60 s ahead");
    calls = src.calls;
    TAP_IS_INT(get_user(&rem, 303, &src, &out), GCACHE_OK, "get user 303");
    TAP_IS_INT(get_user(&rem, 303, &src, &out), GCACHE_OK, "get user 303 again");
    TAP_IS_INT(src.calls, calls + 2, "... refetched both times (a value under a future watermark is not stored)");

    /* a non-numeric watermark: fail open, store nothing, count an error */
    TAP_IS_INT(redis_raw_do(raw, "SETEX {urn:user_id:301}#watermark 14400 not-a-number"), REDIS_REPLY_STATUS,
               "SETEX a non-numeric watermark");
    calls = src.calls;
    TAP_IS_INT(get_user(&rem, 301, &src, &out), GCACHE_OK, "get user 301 with a malformed watermark");
    TAP_OK(out.len > 2 && memcmp(out.data, "R|", 2) == 0, "... returns the source's value");
    TAP_IS_INT(src.calls, calls + 1, "... fetched");
    r = raw_cmd(raw, "EXISTS %b", "{urn:user_id:301}#GetUser");
    TAP_OK(r && r->type == REDIS_REPLY_INTEGER && r->integer == 0, "... and nothing was stored in Redis");
    if (r) freeReplyObject(r);
    TAP_IS_INT(get_user(&rem, 301, &src, &out), GCACHE_OK, "get user 301 again");
    TAP_IS_INT(src.calls, calls + 2, "... fetched again");
    TAP_IS_INT(gcache_stats_get(rem.gc, "GetUser", GCACHE_REMOTE, &st), GCACHE_OK, "stats");
    TAP_OK(st.errors >= 2, "malformed watermarks count as remote errors (%llu)", st.errors);

    /* the same with a local layer: nothing is stored locally either */
    calls = src.calls;
    TAP_IS_INT(get_user(&loc, 301, &src, &out), GCACHE_OK, "local+remote instance: get user 301");
    TAP_IS_INT(get_user(&loc, 301, &src, &out), GCACHE_OK, "local+remote instance: get user 301 again");
    TAP_IS_INT(src.calls, calls + 2, "... fetched both times (not stored locally)");

    /* a malformed watermark next to an existing value: fail open too */
    TAP_IS_INT(get_user(&rem, 302, &src, &out), GCACHE_OK, "fill user 302");
    TAP_IS_INT(redis_raw_do(raw, "SETEX {urn:user_id:302}#watermark 14400 12abc"), REDIS_REPLY_STATUS,
               "SETEX a malformed watermark next to a cached value");
    calls = src.calls;
    TAP_IS_INT(get_user(&rem, 302, &src, &out), GCACHE_OK, "get user 302");
    TAP_IS_INT(src.calls, calls + 1, "... the cached value is not served: fetched");

    gcache_buf_free(&out);
    gcache_destroy(rem.gc);
    gcache_destroy(loc.gc);
    redisFree(raw);
}

/* ---- 3. two processes ------------------------------------------------------------------ */
/* The child runs its own instance and answers line commands:
   "get <id>" -> "<rc> <calls> <value>", "inv <id>" -> "<rc> <mono_ns before invalidate>". */
static void child_serve(int port, FILE *in, FILE *out) {
    gcache_redis_desc rd = tcp_desc(port);
    inst b;
    source src = {"B", 0, 0};
    gcache_buf val = {0};
    char line[200];
    if (inst_make(&b, &rd, 60) != GCACHE_OK) { fprintf(out, "fail\n"); fflush(out); _exit(2); }
    fprintf(out, "ready\n");
    fflush(out);
    while (fgets(line, sizeof line, in)) {
        long long id = 0;
        if (sscanf(line, "get %lld", &id) == 1) {
            int rc = get_user(&b, id, &src, &val);
            fprintf(out, "%d %d %.*s\n", rc, src.calls, (int)val.len, (const char *)val.data);
        } else if (sscanf(line, "inv %lld", &id) == 1) {
            char ids[32];
            long long t0;
            int rc;
            snprintf(ids, sizeof ids, "%lld", id);
            t0 = mono_ns();
            rc = gcache_invalidate(b.gc, "user_id", ids, 0);
            fprintf(out, "%d %lld\n", rc, t0);
        } else {
            break;
        }
        fflush(out);
    }
    gcache_buf_free(&val);
    gcache_destroy(b.gc);
    _exit(0);
}

static void test_two_processes(const redis_server *srv, pid_t child, FILE *to_child, FILE *from_child) {
    gcache_redis_desc rd = tcp_desc(srv->port);
    inst a;
    source src = {"A", 0, 0};
    gcache_buf out = {0};
    char line[800], expect[800];
    int rc = -99, calls = -1, status = 0;
    long long t0 = 0, deadline;
    unsigned long long hits;

    if (!fgets(line, sizeof line, from_child) || strncmp(line, "ready", 5) != 0) {
        TAP_OK(0, "the child process started its instance");
        return;
    }
    if (!TAP_IS_INT(inst_make(&a, &rd, 60), GCACHE_OK, "parent instance")) return;

    /* read-through across processes: B fills, A reads B's value from Redis */
    fprintf(to_child, "get 100\n");
    fflush(to_child);
    if (fgets(line, sizeof line, from_child)) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        sscanf(line, "%d %d", &rc, &calls);
        snprintf(expect, sizeof expect, "%s", strchr(strchr(line, ' ') + 1, ' ') + 1);
    }
    TAP_IS_INT(rc, GCACHE_OK, "process B: get user 100");
    TAP_IS_INT(calls, 1, "process B fetched it");
    TAP_IS_INT(get_user(&a, 100, &src, &out), GCACHE_OK, "process A: get user 100");
    TAP_IS_INT(src.calls, 0, "process A did not fetch: a remote hit");
    TAP_IS_MEM(out.data, out.len, expect, strlen(expect), "process A got process B's value");
    hits = local_stat(&a, "GetUser", 0);
    TAP_IS_INT(get_user(&a, 100, &src, &out), GCACHE_OK, "process A: get user 100 again");
    TAP_IS_INT(local_stat(&a, "GetUser", 0), hits + 1, "... a local hit in A");

    /* B invalidates; A's local entry must go stale through pub/sub within 100 ms */
    fprintf(to_child, "inv 100\n");
    fflush(to_child);
    deadline = mono_ns() + 3000000000LL;
    while (src.calls == 0 && mono_ns() < deadline) {
        get_user(&a, 100, &src, &out);
        if (src.calls == 0) redis_sleep_ms(1);
    }
    rc = -99;
    if (fgets(line, sizeof line, from_child)) sscanf(line, "%d %lld", &rc, &t0);
    TAP_IS_INT(rc, GCACHE_OK, "process B: invalidate user 100");
    if (TAP_IS_INT(src.calls, 1, "process A refetched user 100 after B's invalidation (local layer invalidated)")) {
        double ms = (double)(src.last_call_ns - t0) / 1e6;
        TAP_OK(ms <= 100.0, "the invalidation reached process A in %.2f ms (<= 100 ms)", ms);
    }
    TAP_OK(out.len > 2 && memcmp(out.data, "A|", 2) == 0, "process A now serves its own fresh value");

    fprintf(to_child, "quit\n");
    fflush(to_child);
    waitpid(child, &status, 0);
    TAP_OK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "process B exited cleanly");
    gcache_buf_free(&out);
    gcache_destroy(a.gc);
}

/* ---- 4. fork with a live backend --------------------------------------------------------- */
static void test_fork(const redis_server *srv) {
    gcache_redis_desc rd = tcp_desc(srv->port);
    inst a;
    source src = {"P", 0, 0};
    gcache_buf out = {0};
    redisContext *raw = redis_raw(srv);
    pid_t pid;
    int status = 0, calls;
    long long deadline;
    char cmd[200];
    if (!TAP_OK(raw != NULL, "raw hiredis connection")) return;
    if (!TAP_IS_INT(inst_make(&a, &rd, 60), GCACHE_OK, "parent instance")) return;
    /* make sure the pool holds an open connection and the subscriber runs */
    TAP_IS_INT(get_user(&a, 199, &src, &out), GCACHE_OK, "parent: get user 199 before the fork");

    pid = fork();
    if (pid == 0) {
        /* the child uses the inherited instance: new connections, no subscriber */
        source csrc = {"C", 0, 0};
        gcache_buf cout = {0};
        int ok = get_user(&a, 200, &csrc, &cout) == GCACHE_OK && csrc.calls == 1;
        ok = ok && get_user(&a, 199, &csrc, &cout) == GCACHE_OK; /* local hit inherited */
        gcache_buf_free(&cout);
        gcache_destroy(a.gc); /* must not join the parent's thread or touch its sockets */
        gcache_buf_free(&out);
        redisFree(raw);
        _exit(ok ? 0 : 3);
    }
    waitpid(pid, &status, 0);
    TAP_OK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "a forked child reads and writes through the inherited backend");
    calls = src.calls;
    TAP_IS_INT(get_user(&a, 200, &src, &out), GCACHE_OK, "parent: get user 200 (filled by the child)");
    TAP_IS_INT(src.calls, calls, "... a remote hit: the child's write reached Redis");
    TAP_OK(out.len > 2 && memcmp(out.data, "C|", 2) == 0, "... with the child's value");
    TAP_IS_INT(get_user(&a, 201, &src, &out), GCACHE_OK, "parent: a new fill after the child exited");

    /* the parent's subscriber survived the child: a raw PUBLISH (any client may) invalidates */
    TAP_IS_INT(get_user(&a, 200, &src, &out), GCACHE_OK, "parent: user 200 (now local)");
    calls = src.calls;
    redis_sleep_ms(2);
    snprintf(cmd, sizeof cmd, "SET {urn:user_id:200}#watermark %lld EX 14400", redis_wall_ms());
    redis_raw_do(raw, cmd);
    snprintf(cmd, sizeof cmd, "PUBLISH gcache:invalidate %%b");
    {
        char payload[64];
        int n = snprintf(payload, sizeof payload, "%lld user_id:200", redis_wall_ms());
        redisReply *r = (redisReply *)redisCommand(raw, "PUBLISH gcache:invalidate %b", payload, (size_t)n);
        TAP_OK(r && r->type == REDIS_REPLY_INTEGER && r->integer >= 1, "a raw PUBLISH reaches a subscriber");
        if (r) freeReplyObject(r);
    }
    deadline = mono_ns() + 3000000000LL;
    while (src.calls == calls && mono_ns() < deadline) {
        get_user(&a, 200, &src, &out);
        if (src.calls == calls) redis_sleep_ms(2);
    }
    TAP_IS_INT(src.calls, calls + 1, "the parent's subscriber still delivers after the fork");
    gcache_buf_free(&out);
    gcache_destroy(a.gc);
    redisFree(raw);
}

/* ---- 5. reconnects re-run SELECT and resubscribe ------------------------------------------ */
typedef struct listener {
    pthread_mutex_t mu;
    int empty, hits;
    long long last_wm;
} listener;

static void on_inv(void *u, gcache_slice id, long long wm) {
    listener *l = (listener *)u;
    pthread_mutex_lock(&l->mu);
    if (id.len == 0) l->empty++;
    else if (id.len == 10 && memcmp(id.ptr, "user_id:77", 10) == 0) { l->hits++; l->last_wm = wm; }
    pthread_mutex_unlock(&l->mu);
}

static int listener_get(listener *l, int empty) {
    int v;
    pthread_mutex_lock(&l->mu);
    v = empty ? l->empty : l->hits;
    pthread_mutex_unlock(&l->mu);
    return v;
}

static void test_select_and_reconnect(const redis_server *srv) {
    gcache_redis_desc rd = tcp_desc(srv->port);
    gcache_remote r;
    redisContext *raw = redis_raw(srv);
    redisReply *rep;
    gcache_slice k, v;
    listener l;
    long long deadline;
    int i;
    if (!TAP_OK(raw != NULL, "raw hiredis connection")) return;
    rd.db = 3;
    TAP_IS_INT(gcache_redis_create(&rd, &r), GCACHE_OK, "backend on db 3");
    k.ptr = "select:key";
    k.len = 10;
    v.ptr = "in-db-3";
    v.len = 7;
    TAP_IS_INT(r.set(r.ctx, k, v, 60), GCACHE_OK, "set through the db-3 backend");
    redis_raw_do(raw, "SELECT 3");
    rep = (redisReply *)redisCommand(raw, "GET select:key");
    TAP_OK(rep && rep->type == REDIS_REPLY_STRING && strcmp(rep->str, "in-db-3") == 0, "the key landed in db 3");
    if (rep) freeReplyObject(rep);
    redis_raw_do(raw, "SELECT 0");
    rep = (redisReply *)redisCommand(raw, "EXISTS select:key");
    TAP_OK(rep && rep->type == REDIS_REPLY_INTEGER && rep->integer == 0, "and not in db 0");
    if (rep) freeReplyObject(rep);

    /* the server drops every client: the next call reconnects and SELECTs again */
    memset(&l, 0, sizeof l);
    pthread_mutex_init(&l.mu, NULL);
    TAP_IS_INT(r.subscribe(r.ctx, on_inv, &l), GCACHE_OK, "subscribe a listener");
    redis_raw_do(raw, "CLIENT KILL TYPE normal SKIPME yes");
    redis_raw_do(raw, "CLIENT KILL TYPE pubsub");
    v.ptr = "again-3";
    TAP_IS_INT(r.set(r.ctx, k, v, 60), GCACHE_OK, "set after the server closed our connection (transparent retry)");
    redis_raw_do(raw, "SELECT 3");
    rep = (redisReply *)redisCommand(raw, "GET select:key");
    TAP_OK(rep && rep->type == REDIS_REPLY_STRING && strcmp(rep->str, "again-3") == 0, "SELECT was re-run: db 3 again");
    if (rep) freeReplyObject(rep);
    redis_raw_do(raw, "DEL select:key");
    redis_raw_do(raw, "SELECT 0");

    deadline = mono_ns() + 5000000000LL;
    while (listener_get(&l, 1) == 0 && mono_ns() < deadline) redis_sleep_ms(10);
    TAP_OK(listener_get(&l, 1) >= 1, "after a resubscribe the listener hears \"messages may have been lost\"");
    for (i = 0; i < 300 && listener_get(&l, 0) == 0; i++) {
        rep = (redisReply *)redisCommand(raw, "PUBLISH gcache:invalidate %s", "123456 user_id:77");
        if (rep) freeReplyObject(rep);
        redis_sleep_ms(10);
    }
    TAP_OK(listener_get(&l, 0) >= 1 && l.last_wm == 123456, "and then receives messages again");
    TAP_IS_INT(r.subscribe(r.ctx, NULL, &l), GCACHE_OK, "detach");
    r.destroy(r.ctx);
    pthread_mutex_destroy(&l.mu);
    redisFree(raw);
}

/* The whole local layer is dropped when the subscription was lost (core + backend). */
static void test_lost_drops_local(const redis_server *srv) {
    gcache_redis_desc rd = tcp_desc(srv->port);
    inst a;
    source src = {"L", 0, 0};
    gcache_buf out = {0};
    redisContext *raw = redis_raw(srv);
    unsigned long long misses;
    long long deadline;
    if (!TAP_OK(raw != NULL, "raw hiredis connection")) return;
    if (!TAP_IS_INT(inst_make(&a, &rd, 60), GCACHE_OK, "instance")) return;
    get_user(&a, 500, &src, &out);
    get_user(&a, 500, &src, &out);
    misses = local_stat(&a, "GetUser", 1);
    redis_raw_do(raw, "CLIENT KILL TYPE pubsub");
    deadline = mono_ns() + 5000000000LL;
    while (mono_ns() < deadline) {
        get_user(&a, 500, &src, &out);
        if (local_stat(&a, "GetUser", 1) > misses) break;
        redis_sleep_ms(10);
    }
    TAP_OK(local_stat(&a, "GetUser", 1) > misses, "a lost subscription drops the local layer (a local miss follows)");
    TAP_IS_INT(src.calls, 1, "... which the remote layer still answered (no refetch)");
    gcache_buf_free(&out);
    gcache_destroy(a.gc);
    redisFree(raw);
}

/* ---- 6. AUTH ------------------------------------------------------------------------------- */
static void roundtrip(gcache_remote *r, const char *label, int want_ok) {
    gcache_slice k, v, got[1];
    void *reply = NULL;
    int rc;
    k.ptr = "auth:key";
    k.len = 8;
    v.ptr = label;
    v.len = strlen(label);
    rc = r->set(r->ctx, k, v, 60);
    if (want_ok) {
        TAP_IS_INT(rc, GCACHE_OK, label);
        rc = r->mget(r->ctx, &k, 1, got, &reply);
        TAP_OK(rc == 0 && got[0].ptr && got[0].len == v.len && memcmp(got[0].ptr, v.ptr, v.len) == 0, "%s: read back", label);
        if (reply) r->release(r->ctx, reply);
        TAP_IS_INT(r->publish(r->ctx, k, 1), GCACHE_OK, "publish works too");
    } else {
        TAP_OK(rc < 0, "%s: refused (%s)", label, gcache_strerror(rc));
        TAP_OK(r->mget(r->ctx, &k, 1, got, &reply) < 0 && reply == NULL, "%s: mget refused, no reply", label);
    }
}

static void test_auth(void) {
    redis_server s1, s2;
    gcache_redis_desc rd;
    gcache_remote r;
    listener l;
    redisContext *raw;
    long long deadline;
    int i;

    memset(&s1, 0, sizeof s1);
    if (redis_start(&s1, "requirepass s3cret") != 0) { TAP_OK(0, "redis with requirepass"); return; }
    rd = tcp_desc(s1.port);
    rd.password = "s3cret";
    TAP_IS_INT(gcache_redis_create(&rd, &r), GCACHE_OK, "backend with a password");
    roundtrip(&r, "AUTH password", 1);
    /* AUTH is re-run after the server drops us */
    raw = redis_raw(&s1);
    if (raw) {
        redisReply *rep = (redisReply *)redisCommand(raw, "AUTH s3cret");
        if (rep) freeReplyObject(rep);
        redis_raw_do(raw, "CLIENT KILL TYPE normal SKIPME yes");
        redisFree(raw);
    }
    roundtrip(&r, "AUTH password after a reconnect", 1);
    r.destroy(r.ctx);
    rd.password = "wrong";
    TAP_IS_INT(gcache_redis_create(&rd, &r), GCACHE_OK, "backend with a wrong password (created)");
    roundtrip(&r, "wrong password", 0);
    r.destroy(r.ctx);
    rd.password = NULL;
    TAP_IS_INT(gcache_redis_create(&rd, &r), GCACHE_OK, "backend without a password (created)");
    roundtrip(&r, "no password", 0);
    r.destroy(r.ctx);
    redis_stop(&s1);

    memset(&s2, 0, sizeof s2);
    if (redis_start(&s2, "user alice on >pw ~* &* +@all\nuser default off") != 0) { TAP_OK(0, "redis with an ACL user"); return; }
    rd = tcp_desc(s2.port);
    rd.username = "alice";
    rd.password = "pw";
    TAP_IS_INT(gcache_redis_create(&rd, &r), GCACHE_OK, "backend with an ACL user");
    roundtrip(&r, "AUTH alice pw", 1);
    /* the subscriber authenticates too */
    memset(&l, 0, sizeof l);
    pthread_mutex_init(&l.mu, NULL);
    TAP_IS_INT(r.subscribe(r.ctx, on_inv, &l), GCACHE_OK, "subscribe as alice");
    deadline = mono_ns() + 5000000000LL;
    for (i = 0; listener_get(&l, 0) == 0 && mono_ns() < deadline; i++) {
        gcache_slice id;
        id.ptr = "user_id:77";
        id.len = 10;
        r.publish(r.ctx, id, 42);
        redis_sleep_ms(10);
    }
    TAP_OK(listener_get(&l, 0) >= 1 && l.last_wm == 42, "pub/sub works as the ACL user");
    r.subscribe(r.ctx, NULL, &l);
    r.destroy(r.ctx);
    pthread_mutex_destroy(&l.mu);
    rd.password = "nope";
    TAP_IS_INT(gcache_redis_create(&rd, &r), GCACHE_OK, "backend with a wrong ACL password (created)");
    roundtrip(&r, "wrong ACL password", 0);
    r.destroy(r.ctx);
    rd.username = NULL;
    rd.password = NULL;
    TAP_IS_INT(gcache_redis_create(&rd, &r), GCACHE_OK, "backend as the disabled default user (created)");
    roundtrip(&r, "default user off", 0);
    r.destroy(r.ctx);
    redis_stop(&s2);
}

/* ---- 7. a server without UNLINK: DEL instead ------------------------------------------------ */
static void test_no_unlink(void) {
    redis_server s;
    gcache_redis_desc rd;
    gcache_remote r;
    redisContext *raw;
    redisReply *rep;
    gcache_slice k, v, p;
    int i;
    memset(&s, 0, sizeof s);
    if (redis_start(&s, "rename-command UNLINK \"\"") != 0) { TAP_OK(0, "redis without UNLINK"); return; }
    raw = redis_raw(&s);
    rep = raw ? (redisReply *)redisCommand(raw, "UNLINK x") : NULL;
    TAP_OK(rep && rep->type == REDIS_REPLY_ERROR, "this server has no UNLINK (%s)", rep && rep->str ? rep->str : "?");
    if (rep) freeReplyObject(rep);
    rd = tcp_desc(s.port);
    TAP_IS_INT(gcache_redis_create(&rd, &r), GCACHE_OK, "backend");
    k.ptr = "nu:a";
    k.len = 4;
    v.ptr = "1";
    v.len = 1;
    r.set(r.ctx, k, v, 60);
    TAP_IS_INT(r.del(r.ctx, k), GCACHE_OK, "del falls back to DEL");
    rep = raw ? (redisReply *)redisCommand(raw, "EXISTS nu:a") : NULL;
    TAP_OK(rep && rep->type == REDIS_REPLY_INTEGER && rep->integer == 0, "the key is gone");
    if (rep) freeReplyObject(rep);
    for (i = 0; i < 30; i++) {
        char key[16];
        k.ptr = key;
        k.len = (size_t)snprintf(key, sizeof key, "nu:b:%d", i);
        r.set(r.ctx, k, v, 60);
    }
    p.ptr = "nu:";
    p.len = 3;
    TAP_IS_INT(r.flush_prefix(r.ctx, p), GCACHE_OK, "flush_prefix with DEL batches");
    rep = raw ? (redisReply *)redisCommand(raw, "DBSIZE") : NULL;
    TAP_OK(rep && rep->type == REDIS_REPLY_INTEGER && rep->integer == 0, "every key under the prefix is gone");
    if (rep) freeReplyObject(rep);
    r.destroy(r.ctx);
    if (raw) redisFree(raw);
    redis_stop(&s);
}

/* ---- 8. create-time validation -------------------------------------------------------------- */
static void test_create_args(void) {
    gcache_redis_desc d;
    gcache_remote r;
    memset(&d, 0, sizeof d);
    TAP_IS_INT(gcache_redis_create(&d, NULL), GCACHE_EINVAL, "NULL out");
    d.host = "localhost";
    TAP_IS_INT(gcache_redis_create(&d, &r), GCACHE_EINVAL, "a host name is refused (numeric IPs only)");
    d.host = "::1";
    TAP_IS_INT(gcache_redis_create(&d, &r), GCACHE_OK, "an IPv6 address is accepted");
    r.destroy(r.ctx);
    d.host = NULL;
    d.port = 70000;
    TAP_IS_INT(gcache_redis_create(&d, &r), GCACHE_EINVAL, "port out of range");
    d.port = 0;
    d.username = "u";
    TAP_IS_INT(gcache_redis_create(&d, &r), GCACHE_EINVAL, "username without password");
    d.username = NULL;
    d.pool_size = -1;
    TAP_IS_INT(gcache_redis_create(&d, &r), GCACHE_EINVAL, "negative pool size");
    d.pool_size = 0;
    d.channel = "";
    TAP_IS_INT(gcache_redis_create(&d, &r), GCACHE_EINVAL, "empty channel");
    d.channel = NULL;
    d.db = -1;
    TAP_IS_INT(gcache_redis_create(&d, &r), GCACHE_EINVAL, "negative db");
    d.db = 0;
    TAP_IS_INT(gcache_redis_create(NULL, &r), GCACHE_OK, "NULL desc = defaults");
    {
        gcache_slice p;
        p.ptr = "";
        p.len = 0;
        TAP_IS_INT(r.flush_prefix(r.ctx, p), GCACHE_EINVAL, "flush_prefix refuses an empty prefix (it would match every key)");
    }
    r.destroy(r.ctx);
}

int main(void) {
    redis_server srv;
    int to_child[2], from_child[2];
    pid_t child;
    FILE *tc, *fc;

    memset(&srv, 0, sizeof srv);
    if (redis_start(&srv, NULL) != 0) {
        TAP_OK(0, "redis-server starts");
        return TAP_DONE();
    }
    TAP_DIAG("hiredis %d.%d.%d, redis-server on 127.0.0.1:%d", HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH, srv.port);

    /* fork process B first, while this process has no threads */
    if (pipe(to_child) != 0 || pipe(from_child) != 0) { TAP_OK(0, "pipes"); return TAP_DONE(); }
    fflush(stdout);
    child = fork();
    if (child == 0) {
        close(to_child[1]);
        close(from_child[0]);
        child_serve(srv.port, fdopen(to_child[0], "r"), fdopen(from_child[1], "w"));
    }
    close(to_child[0]);
    close(from_child[1]);
    tc = fdopen(to_child[1], "w");
    fc = fdopen(from_child[0], "r");

    test_create_args();
    test_exact_bytes(&srv);
    test_foreign_watermarks(&srv);
    test_two_processes(&srv, child, tc, fc);
    fclose(tc);
    fclose(fc);
    test_fork(&srv);
    test_select_and_reconnect(&srv);
    test_lost_drops_local(&srv);
    test_auth();
    test_no_unlink();

    redis_stop(&srv);
    return TAP_DONE();
}
