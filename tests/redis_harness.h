/* redis_harness.h -- start and stop private redis-server processes for gcache's tests.

   Header-only, for test programs (and bench/redis_hit.c). Every server runs on
   127.0.0.1 on a free port (found by binding port 0) and on a unix socket, in its own
   mkdtemp directory, with persistence off:

       redis_server srv;
       memset(&srv, 0, sizeof srv);              // port 0: pick a free one
       if (redis_start(&srv, "requirepass s3cret\n") != 0) ...   // extra config lines
       ... srv.port, srv.sock (unix socket path) ...
       redis_pause(&srv); redis_resume(&srv);    // SIGSTOP / SIGCONT
       redis_kill(&srv);                         // SIGKILL, keeps port and directory
       redis_restart(&srv);                      // a new server, same port and config
       redis_stop(&srv);                         // SIGTERM (then SIGKILL), directory removed

   The binary is $GCACHE_REDIS_SERVER, else redis-server on $PATH. When there is none,
   redis_start calls TAP_SKIP_ALL("redis-server not found") (a failure under
   GCACHE_REQUIRE_REDIS=1), so call it before the first check. The servers die with the
   test (PR_SET_PDEATHSIG on Linux), even when it crashes. */
#ifndef REDIS_HARNESS_H
#define REDIS_HARNESS_H

#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE) && !defined(_GNU_SOURCE) && !defined(_DEFAULT_SOURCE) && !defined(_XOPEN_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include "tap.h"

#include <hiredis/hiredis.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

typedef struct redis_server {
    pid_t pid;           /* 0 when not running */
    int port;            /* 0 before redis_start: pick a free one */
    char dir[256];       /* temp directory (config, log, socket) */
    char sock[300];      /* unix socket path */
    char conf[300];      /* config file path */
    char binary[512];
} redis_server;

static inline long long redis_mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline long long redis_wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void redis_sleep_ms(long ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

/* A TCP port on 127.0.0.1 that nobody listens on right now (bind port 0, read it back). */
static inline int redis_free_port(void) {
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int port = -1, fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* $GCACHE_REDIS_SERVER, else the first executable redis-server on $PATH. */
static inline int redis_find_binary(char *out, size_t cap) {
    const char *env = getenv("GCACHE_REDIS_SERVER"), *path = getenv("PATH");
    if (env && env[0] && access(env, X_OK) == 0) {
        snprintf(out, cap, "%s", env);
        return 0;
    }
    if (!path) path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        const char *colon = strchr(path, ':');
        size_t n = colon ? (size_t)(colon - path) : strlen(path);
        if (n && n + 14 < cap) {
            snprintf(out, cap, "%.*s/redis-server", (int)n, path);
            if (access(out, X_OK) == 0) return 0;
        }
        path += n;
        if (*path == ':') path++;
    }
    return -1;
}

/* A raw hiredis connection to the server over TCP (timeout 2 s); NULL on failure. */
static inline redisContext *redis_raw(const redis_server *s) {
    struct timeval tv;
    redisContext *c;
    tv.tv_sec = 2;
    tv.tv_usec = 0;
    c = redisConnectWithTimeout("127.0.0.1", s->port, tv);
    if (c && c->err) { redisFree(c); return NULL; }
    if (c) redisSetTimeout(c, tv);
    return c;
}

/* Run a command on a raw connection and free the reply; returns the reply type or -1. */
static inline int redis_raw_do(redisContext *c, const char *cmd) {
    redisReply *r = (redisReply *)redisCommand(c, cmd);
    int type;
    if (!r) return -1;
    type = r->type;
    freeReplyObject(r);
    return type;
}

static inline int redis__ping(const redis_server *s) {
    redisContext *c = redis_raw(s);
    redisReply *r;
    int ok = 0;
    if (!c) return 0;
    r = (redisReply *)redisCommand(c, "PING");
    ok = r != NULL; /* any reply (even -NOAUTH) means the server is serving */
    if (r) freeReplyObject(r);
    redisFree(c);
    return ok;
}

static inline int redis__spawn(redis_server *s) {
    long long deadline;
    pid_t pid;
    pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
#ifdef __linux__
        prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
        if (null >= 0) { dup2(null, 0); dup2(null, 1); dup2(null, 2); }
        execl(s->binary, s->binary, s->conf, (char *)NULL);
        _exit(127);
    }
    s->pid = pid;
    deadline = redis_mono_ms() + 10000;
    while (redis_mono_ms() < deadline) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) { s->pid = 0; return -1; }
        if (redis__ping(s)) return 0;
        redis_sleep_ms(10);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    s->pid = 0;
    return -1;
}

/* Start a server; extra_config: more redis.conf lines ("\n"-separated) or NULL.
   Returns 0, or -1 (with a TAP diagnostic) when it does not come up. */
static inline int redis_start(redis_server *s, const char *extra_config) {
    int attempt, fixed_port = s->port != 0;
    if (!s->binary[0] && redis_find_binary(s->binary, sizeof s->binary) != 0) {
        TAP_SKIP_ALL("redis-server not found");
        return -1;
    }
    if (!s->dir[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(s->dir, sizeof s->dir, "%s/gcache-redis-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
        if (!mkdtemp(s->dir)) { TAP_DIAG("mkdtemp: %s", strerror(errno)); s->dir[0] = '\0'; return -1; }
    }
    snprintf(s->sock, sizeof s->sock, "%s/redis.sock", s->dir);
    snprintf(s->conf, sizeof s->conf, "%s/redis.conf", s->dir);
    for (attempt = 0; attempt < 5; attempt++) {
        FILE *f;
        if (!fixed_port) s->port = redis_free_port();
        if (s->port <= 0) return -1;
        f = fopen(s->conf, "w");
        if (!f) { TAP_DIAG("cannot write %s", s->conf); return -1; }
        fprintf(f,
                "port %d\nbind 127.0.0.1\nunixsocket %s\nunixsocketperm 700\nsave \"\"\nappendonly no\n"
                "dir %s\nlogfile %s/redis.log\ndaemonize no\n%s\n",
                s->port, s->sock, s->dir, s->dir, extra_config ? extra_config : "");
        fclose(f);
        if (redis__spawn(s) == 0) return 0;
        if (fixed_port) break; /* someone else may hold it for a moment: the caller decides */
    }
    TAP_DIAG("redis-server did not start (see %s/redis.log)", s->dir);
    return -1;
}

/* A new server with the same port, directory and config (after redis_kill/redis_stop
   without cleanup). Returns 0 or -1. */
static inline int redis_restart(redis_server *s) {
    int i;
    for (i = 0; i < 50; i++) { /* the old socket may linger a moment */
        if (redis__spawn(s) == 0) return 0;
        redis_sleep_ms(100);
    }
    return -1;
}

static inline void redis_pause(redis_server *s) { if (s->pid > 0) kill(s->pid, SIGSTOP); }
static inline void redis_resume(redis_server *s) { if (s->pid > 0) kill(s->pid, SIGCONT); }

static inline void redis_kill(redis_server *s) {
    if (s->pid <= 0) return;
    kill(s->pid, SIGCONT);
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
}

static inline void redis__rmdir(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[600];
    if (!d) return;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

/* Stop the server (SIGTERM, SIGKILL after 5 s) and remove its directory. */
static inline void redis_stop(redis_server *s) {
    if (s->pid > 0) {
        long long deadline = redis_mono_ms() + 5000;
        kill(s->pid, SIGCONT);
        kill(s->pid, SIGTERM);
        for (;;) {
            if (waitpid(s->pid, NULL, WNOHANG) == s->pid) break;
            if (redis_mono_ms() > deadline) {
                kill(s->pid, SIGKILL);
                waitpid(s->pid, NULL, 0);
                break;
            }
            redis_sleep_ms(10);
        }
        s->pid = 0;
    }
    if (s->dir[0]) redis__rmdir(s->dir);
    s->dir[0] = '\0';
}

#endif /* REDIS_HARNESS_H */
