/* gcache_redis.h -- a Redis backend for gcache over hiredis, v0.1.0
   https://example.invalid/gcache (MIT or public domain, see the end of gcache.h)

   A gcache_remote (the remote-layer vtable of gcache.h) that talks to one Redis
   server through hiredis: MGET for a value and its watermark in one round trip,
   SET key value EX ttl, UNLINK, a prefix flush by SCAN + UNLINK, and
   cross-process invalidation over pub/sub. Keys and watermarks are byte for byte
   those of the Python reference (gcache by Galileo), so a Python and a C service
   can share one Redis and its invalidations.

   DO THIS
   =======
   In exactly ONE .c or .cpp file, before the includes:

       #define GCACHE_IMPLEMENTATION          // unless another file already has it
       #define GCACHE_REDIS_IMPLEMENTATION
       #include "gcache_redis.h"              // includes gcache.h

   Everywhere else just #include "gcache_redis.h" (or only gcache.h). Link with
   -lhiredis -pthread. Only the implementation file needs <hiredis/hiredis.h>.

   CONTENTS
   ========
   1. TL;DR                 5. Connections, timeouts, backoff
   2. Supported hiredis     6. Invalidation over pub/sub
   3. Options               7. Signals and fork
   4. Errors and logging    8. Thread safety, limits, what it does NOT do

   TL;DR
   =====
       gcache_redis_desc rd; memset(&rd, 0, sizeof rd);
       rd.host = "127.0.0.1"; rd.port = 6379;        // numeric IP, or rd.unix_path
       gcache_desc d; memset(&d, 0, sizeof d);
       if (gcache_redis_create(&rd, &d.remote) != GCACHE_OK) return 1;
       gcache *gc;
       if (gcache_create(&d, &gc) != GCACHE_OK) { d.remote.destroy(d.remote.ctx); return 1; }
       ...                                            // register, gcache_get, invalidate
       gcache_destroy(gc);                            // also destroys the backend

   Nothing connects in gcache_redis_create: a server that is not there yet is no
   error. The pool connects on first use and the subscriber thread (started by
   gcache_create through subscribe) keeps retrying; until the server answers,
   every call fails fast and gcache falls through to your fetch function.

   SUPPORTED HIREDIS
   =================
   hiredis 0.14 (Debian 12's libhiredis-dev 0.14.1) and 1.x (tested with a
   1.5.0 source tree by tests/test_redis_compat.sh). Only API common to both
   is used: redisConnectWithTimeout, redisConnectUnixWithTimeout,
   redisSetTimeout, redisFree, the context's fd, err, errstr and reader
   fields, redisReaderFeed, redisReaderGetReply and freeReplyObject.
   HIREDIS_MAJOR selects the fd type and REDIS_ERR_TIMEOUT (1.x only) is used
   when it exists. Commands are written in RESP by this file and sent with
   send(MSG_NOSIGNAL); hiredis parses the replies.
   tests/test_redis_compat.sh builds a hiredis 1.x source tree and runs the
   conformance suite against it.

   OPTIONS (define before the include, in the implementation file)
   =======
   GCACHE_REDIS_DEF             linkage of gcache_redis_create (default GCACHE_DEF)
   GCACHE_REDIS_BACKOFF_MIN_MS  first reconnect delay after a failure (100)
   GCACHE_REDIS_BACKOFF_MAX_MS  cap of the doubling reconnect delay (2000)
   GCACHE_REDIS_PING_MS         the subscriber PINGs after this much silence to
                                find dead connections (1000)
   GCACHE_REDIS_SCAN_COUNT      the COUNT hint of the flush SCAN (500)
   GCACHE_NO_THREADS must not be defined: this backend needs pthreads.

   ERRORS AND LOGGING
   ==================
   Backend calls return 0 or a negative gcache status:
     GCACHE_ETIMEOUT   connect or command deadline passed (the connection is
                       dropped: a late reply could desync it)
     GCACHE_EBACKEND   refused/reset/closed connection, protocol garbage, an
                       error reply (-ERR, -WRONGPASS, -NOPERM...), a reply of an
                       unexpected type or element count, or a fail-fast while
                       the server is down and the backoff has not elapsed
     GCACHE_ENOMEM     allocation failure (ours or the reply parser's)
     GCACHE_EINVAL     bad arguments (an empty flush prefix included)
   gcache counts them and falls through to the fetch; its breaker opens after a
   few in a row. desc.logger (optional, silent by default) hears the
   transitions only: "down" with the reason, "up again", subscriber lost and
   resubscribed.

   CONNECTIONS, TIMEOUTS, BACKOFF
   ==============================
   A pool of pool_size connections (default 4) guarded by one mutex that is
   never held across I/O; a thread takes an idle connection or opens one in a
   free slot, and waits (within its deadline) only when all are busy. After
   every (re)connect: the socket gets the command timeout (redisSetTimeout, a
   backstop), non-blocking mode and close-on-exec; then AUTH (password, or ACL
   username + password) and SELECT db run before the first command. All I/O
   polls against one deadline per call:
     call start + command_timeout_ms (waiting for a busy pool counts) plus, if
     the call had to connect, the time the connect took (at most
     connect_timeout_ms).
   So no call blocks longer than connect_timeout_ms + command_timeout_ms, even
   against a server that trickles bytes. (flush_prefix is several round trips;
   each is bounded so.) Defaults: connect 200 ms, command 100 ms: a cache
   should fail open fast.
   A connect failure, a timeout or an I/O error marks the server down: later
   calls fail fast with GCACHE_EBACKEND until the backoff delay (100 ms,
   doubling up to 2 s) has passed; then one call at a time probes, and the
   first success clears it. An idle connection that turns out dead (EOF/reset
   before any reply byte, e.g. after a Redis restart) is dropped and the call
   is retried once per pool slot on another or a new connection, within its
   deadline: all commands used are idempotent.

   INVALIDATION OVER PUB/SUB
   =========================
   publish sends PUBLISH <channel> "<watermark_ms> <key_type:escaped_id>"
   (ASCII, one space; channel default "gcache:invalidate"), so any client can
   publish or read invalidations. The first subscribe starts a background
   thread (all signals blocked) with its own connection that runs SUBSCRIBE,
   waits in poll() on the socket and a wake-up pipe, PINGs after
   GCACHE_REDIS_PING_MS of silence, and reconnects with the same backoff. It
   calls every listener for every well-formed message (others are ignored),
   including the publisher's own. Pub/sub is at-most-once, so after a
   (re)subscribe that follows a lost connection or a failed first attempt it
   calls every listener with an empty key_type_id: "drop the whole local
   layer". The first subscribe waits (up to connect_timeout_ms +
   command_timeout_ms) for the first SUBSCRIBE to be confirmed, so an
   invalidation published right after gcache_create returns is heard.
   subscribe(ctx, NULL, u) detaches u and returns when no callback for u runs
   or will run (from inside a callback it does not wait for itself). The
   thread runs until destroy, which stops and joins it. There is no pollable
   fd API: single-threaded programs get the same thread.

   SIGNALS AND FORK
   ================
   SIGPIPE: every write is send(..., MSG_NOSIGNAL) (SO_NOSIGPIPE where that is
   the platform's way), so a closed peer gives EPIPE, never a signal; the
   process's SIGPIPE disposition is left alone (no SIG_IGN that exec'd
   children would inherit). hiredis itself never writes here. Only on a
   platform with neither flag does create set SIGPIPE to SIG_IGN, and only if
   it was SIG_DFL.
   fork(): pthread_atfork handlers keep the pool and subscriber mutexes
   consistent and mark every backend as forked. In the child, the first call
   frees the inherited idle connections (closing only the child's copies of
   the sockets; the parent's connections are unaffected) and opens new ones.
   A connection that another parent thread was using at the moment of the
   fork is closed in the child and its memory is left alone (it may be
   mid-update); one that a thread was still opening is unknown to the child,
   so its descriptor stays open there until exit or exec (close-on-exec is
   set). The subscriber thread does not exist in the child: an inherited
   backend delivers no invalidations there (subscribe just records
   listeners); a child that needs them creates its own gcache and backend.

   THREAD SAFETY, LIMITS, WHAT IT DOES NOT DO
   ==========================================
   Every vtable function may be called from any number of threads at once;
   destroy must not race other calls and must not run inside a callback.
   Listener callbacks run on the subscriber thread, one at a time. host must
   be a numeric IPv4/IPv6 address (no DNS: a lookup could block past every
   timeout). A reply is held in memory whole: a hostile server can make one
   call buffer whatever it sends before the deadline. No TLS, no Redis Cluster
   or Sentinel (keys of tracked use cases carry {hash tags}, so a cluster
   client can be written as another backend), no RESP3. flush_prefix never
   runs FLUSHALL/FLUSHDB, and refuses an empty prefix.
*/
#ifndef GCACHE_REDIS_H
#define GCACHE_REDIS_H

#if defined(GCACHE_REDIS_IMPLEMENTATION) && !defined(_WIN32) && !defined(_POSIX_C_SOURCE) && \
    !defined(_GNU_SOURCE) && !defined(_DEFAULT_SOURCE) && !defined(_XOPEN_SOURCE)
#define _POSIX_C_SOURCE 200809L /* poll, pthreads, clock_gettime, MSG_NOSIGNAL in strict C99 */
#endif

#include "gcache.h"

#ifndef GCACHE_REDIS_DEF
#define GCACHE_REDIS_DEF GCACHE_DEF
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gcache_redis_desc {
    const char *host;            /* numeric IPv4/IPv6 address, default "127.0.0.1" */
    int port;                    /* 6379 */
    const char *unix_path;       /* set: connect to this unix socket (host/port unused) */
    int db;                      /* SELECT after each connect when not 0 */
    const char *username;        /* ACL user (Redis 6+); needs password */
    const char *password;        /* AUTH after each connect when set */
    int connect_timeout_ms;      /* 200 */
    int command_timeout_ms;      /* 100 */
    int pool_size;               /* 4 connections at most (1..1024) */
    const char *channel;         /* "gcache:invalidate" */
    gcache_allocator allocator;  /* for this backend's own memory (hiredis uses malloc) */
    gcache_logger logger;        /* connection state changes; silent when unset */
} gcache_redis_desc;

/* Fill *out with a Redis backend (name "redis"). Strings are copied; zero fields
   get their defaults. Connects nothing: returns GCACHE_OK even when no server
   listens yet. GCACHE_EINVAL: NULL out, non-numeric host, port outside 1..65535,
   negative db/timeouts, pool_size outside 0..1024, empty channel or unix_path,
   username without password. GCACHE_ENOMEM. Hand *out to gcache_desc.remote
   (gcache_destroy then destroys it) or call out->destroy(out->ctx) yourself. */
GCACHE_REDIS_DEF int gcache_redis_create(const gcache_redis_desc *d, gcache_remote *out);

#ifdef __cplusplus
}
#endif
#endif /* GCACHE_REDIS_H */

/* ================================================================================== */
#ifdef GCACHE_REDIS_IMPLEMENTATION
#ifndef GCACHE_REDIS__IMPLEMENTED
#define GCACHE_REDIS__IMPLEMENTED

#ifdef GCACHE_NO_THREADS
#error "gcache_redis.h needs pthreads: do not define GCACHE_NO_THREADS in its implementation file"
#endif

#include <hiredis/hiredis.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#ifndef HIREDIS_MAJOR
#error "gcache_redis.h: <hiredis/hiredis.h> defines no HIREDIS_MAJOR; hiredis 0.14 or 1.x is needed"
#endif
#if HIREDIS_MAJOR >= 1
#define GCACHE_REDIS__FD(c) ((int)(c)->fd) /* redisFD: int on POSIX */
#else
#define GCACHE_REDIS__FD(c) ((c)->fd)
#endif

#ifdef MSG_NOSIGNAL
#define GCACHE_REDIS__SEND_FLAGS MSG_NOSIGNAL
#else
#define GCACHE_REDIS__SEND_FLAGS 0 /* SO_NOSIGPIPE is set on the socket instead */
#if !defined(SO_NOSIGPIPE)
#define GCACHE_REDIS__IGNORE_SIGPIPE 1 /* neither: fall back to SIG_IGN if SIGPIPE is SIG_DFL */
#endif
#endif

#ifndef GCACHE_REDIS_BACKOFF_MIN_MS
#define GCACHE_REDIS_BACKOFF_MIN_MS 100
#endif
#ifndef GCACHE_REDIS_BACKOFF_MAX_MS
#define GCACHE_REDIS_BACKOFF_MAX_MS 2000
#endif
#ifndef GCACHE_REDIS_PING_MS
#define GCACHE_REDIS_PING_MS 1000
#endif
#ifndef GCACHE_REDIS_SCAN_COUNT
#define GCACHE_REDIS_SCAN_COUNT 500
#endif

#define GCACHE_REDIS__MS 1000000LL /* ns per ms */

#ifdef __cplusplus
extern "C" {
#endif

/* ---- State ----------------------------------------------------------------------- */
typedef void (*gcache_redis__listener_fn)(void *u, gcache_slice key_type_id, long long watermark_ms);
typedef struct gcache_redis__listener { gcache_redis__listener_fn fn; void *u; } gcache_redis__listener;
typedef struct gcache_redis__slot { redisContext *conn; int busy; } gcache_redis__slot;

typedef struct gcache_redis__ctx {
    /* configuration, immutable after create */
    char *host, *unix_path, *username, *password, *channel;
    int port, db, connect_timeout_ms, command_timeout_ms, pool_size;
    gcache_allocator allocator;
    gcache_logger logger;
    char endpoint[160]; /* for log lines */

    /* pool, under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    gcache_redis__slot *slots;
    int down, probing, backoff_ms;
    long long retry_at_ns;
    int no_unlink; /* server answered "unknown command" to UNLINK: use DEL */
    int forked;    /* set in a forked child by the atfork handler */

    /* subscriber, under smu */
    pthread_mutex_t smu;
    pthread_cond_t scv;
    gcache_redis__listener *listeners;
    size_t nlisteners, listeners_cap;
    int thread_running, stop, first_state; /* first_state: 0 pending, 1 subscribed, -1 failed */
    pthread_t thread;
    int wake[2];               /* self-pipe that wakes the thread for shutdown */
    redisContext *sub_conn;    /* the subscribed connection, only mutated under smu */
    void *current_u;           /* listener being called right now */
    int calling;
    int sub_child;             /* this process is a fork child: no thread here */

    struct gcache_redis__ctx *reg_prev, *reg_next; /* registry for the atfork handlers */
} gcache_redis__ctx;

typedef struct gcache_redis__lease {
    int slot, reused, probe;
    redisContext *conn;
    long long deadline_ns;
} gcache_redis__lease;

/* ---- Small helpers ----------------------------------------------------------------- */
static long long gcache_redis__now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + (long long)ts.tv_nsec;
}

static struct timeval gcache_redis__tv(int ms) {
    struct timeval tv;
    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;
    return tv;
}

/* Capped exponential backoff: 100, 200, 400 ... 2000 ms. */
static int gcache_redis__next_backoff(int ms) {
    return ms >= GCACHE_REDIS_BACKOFF_MAX_MS / 2 ? GCACHE_REDIS_BACKOFF_MAX_MS : ms * 2;
}

static void *gcache_redis__default_alloc(size_t size, void *user) { (void)user; return malloc(size); }
static void gcache_redis__default_free(void *p, void *user) { (void)user; free(p); }

static void *gcache_redis__alloc(const gcache_redis__ctx *ctx, size_t size) {
    return ctx->allocator.alloc_fn(size, ctx->allocator.user_data);
}
static void gcache_redis__free(const gcache_redis__ctx *ctx, void *p) {
    if (p) ctx->allocator.free_fn(p, ctx->allocator.user_data);
}

static char *gcache_redis__strdup(const gcache_redis__ctx *ctx, const char *s) {
    size_t n;
    char *p;
    if (!s) return NULL;
    n = strlen(s);
    p = (char *)gcache_redis__alloc(ctx, n + 1);
    if (p) memcpy(p, s, n + 1);
    return p;
}

static void gcache_redis__log(const gcache_redis__ctx *ctx, int level, const char *fmt, ...) {
    char msg[384];
    va_list ap;
    if (!ctx->logger.fn) return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ctx->logger.fn(ctx->logger.user_data, level, msg);
}

/* Condition variables wait on CLOCK_MONOTONIC so deadlines ignore wall-clock jumps. */
static void gcache_redis__cond_init(pthread_cond_t *cv) {
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &attr);
    pthread_condattr_destroy(&attr);
}

static void gcache_redis__cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, long long deadline_ns) {
    struct timespec ts;
    ts.tv_sec = (time_t)(deadline_ns / 1000000000LL);
    ts.tv_nsec = (long)(deadline_ns % 1000000000LL);
    pthread_cond_timedwait(cv, mu, &ts);
}

/* ---- Fork safety: a registry walked by pthread_atfork handlers ---------------------- */
/* prepare takes every lock (registry, then each backend's pool and subscriber mutex,
   the only order used anywhere), so the child inherits them in a known state; the
   child marks every backend forked and resets the condition variables, whose waiters
   did not survive the fork. */
static pthread_mutex_t gcache_redis__reg_mu = PTHREAD_MUTEX_INITIALIZER;
static gcache_redis__ctx *gcache_redis__reg_head;
static pthread_once_t gcache_redis__reg_once = PTHREAD_ONCE_INIT;

static void gcache_redis__atfork_prepare(void) {
    gcache_redis__ctx *c;
    pthread_mutex_lock(&gcache_redis__reg_mu);
    for (c = gcache_redis__reg_head; c; c = c->reg_next) {
        pthread_mutex_lock(&c->mu);
        pthread_mutex_lock(&c->smu);
    }
}
static void gcache_redis__atfork_parent(void) {
    gcache_redis__ctx *c;
    for (c = gcache_redis__reg_head; c; c = c->reg_next) {
        pthread_mutex_unlock(&c->smu);
        pthread_mutex_unlock(&c->mu);
    }
    pthread_mutex_unlock(&gcache_redis__reg_mu);
}
static void gcache_redis__atfork_child(void) {
    gcache_redis__ctx *c;
    for (c = gcache_redis__reg_head; c; c = c->reg_next) {
        c->forked = 1;
        c->sub_child = 1;
        c->calling = 0;
        c->current_u = NULL;
        gcache_redis__cond_init(&c->cv);
        gcache_redis__cond_init(&c->scv);
        pthread_mutex_unlock(&c->smu);
        pthread_mutex_unlock(&c->mu);
    }
    pthread_mutex_unlock(&gcache_redis__reg_mu);
}
static void gcache_redis__atfork_register(void) {
    pthread_atfork(gcache_redis__atfork_prepare, gcache_redis__atfork_parent, gcache_redis__atfork_child);
}

/* ---- RESP command builder ------------------------------------------------------------ */
/* Commands are built into one contiguous buffer (inline up to 1 KiB) and sent with a
   single send loop; every argument is length-prefixed, so keys and values are
   binary-safe. A failed allocation is sticky and reported once at the end. */
typedef struct gcache_redis__cmd {
    const gcache_redis__ctx *ctx;
    char *p;
    size_t len, cap;
    int heap, failed;
    char inline_buf[1024];
} gcache_redis__cmd;

static void gcache_redis__cmd_init(gcache_redis__cmd *c, const gcache_redis__ctx *ctx) {
    c->ctx = ctx;
    c->p = c->inline_buf;
    c->len = 0;
    c->cap = sizeof c->inline_buf;
    c->heap = 0;
    c->failed = 0;
}

static void gcache_redis__cmd_free(gcache_redis__cmd *c) {
    if (c->heap) gcache_redis__free(c->ctx, c->p);
    c->p = c->inline_buf;
    c->heap = 0;
    c->len = 0;
    c->cap = sizeof c->inline_buf;
}

static int gcache_redis__cmd_reserve(gcache_redis__cmd *c, size_t extra) {
    size_t cap;
    char *np;
    if (c->failed) return 0;
    if (extra <= c->cap - c->len) return 1;
    cap = c->cap;
    while (extra > cap - c->len) {
        if (cap > ((size_t)-1) / 2) { c->failed = 1; return 0; }
        cap *= 2;
    }
    np = (char *)gcache_redis__alloc(c->ctx, cap);
    if (!np) { c->failed = 1; return 0; }
    memcpy(np, c->p, c->len);
    if (c->heap) gcache_redis__free(c->ctx, c->p);
    c->p = np;
    c->cap = cap;
    c->heap = 1;
    return 1;
}

static void gcache_redis__cmd_raw(gcache_redis__cmd *c, const void *data, size_t len) {
    if (!len || !gcache_redis__cmd_reserve(c, len)) return;
    memcpy(c->p + c->len, data, len);
    c->len += len;
}

/* "*<n>\r\n" or "$<n>\r\n" */
static void gcache_redis__cmd_header(gcache_redis__cmd *c, char type, unsigned long long n) {
    char tmp[32];
    int i = (int)sizeof tmp;
    tmp[--i] = '\n';
    tmp[--i] = '\r';
    do { tmp[--i] = (char)('0' + (int)(n % 10)); n /= 10; } while (n);
    tmp[--i] = type;
    gcache_redis__cmd_raw(c, tmp + i, sizeof tmp - (size_t)i);
}

static void gcache_redis__cmd_arg(gcache_redis__cmd *c, const void *data, size_t len) {
    gcache_redis__cmd_header(c, '$', len);
    gcache_redis__cmd_raw(c, data, len);
    gcache_redis__cmd_raw(c, "\r\n", 2);
}

static void gcache_redis__cmd_str(gcache_redis__cmd *c, const char *s) {
    gcache_redis__cmd_arg(c, s, strlen(s));
}

static void gcache_redis__cmd_ll(gcache_redis__cmd *c, long long v) {
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%lld", v);
    gcache_redis__cmd_arg(c, tmp, (size_t)n);
}

/* ---- Socket I/O with one deadline ---------------------------------------------------- */
/* Wait until fd is ready for events or the deadline passes (GCACHE_ETIMEOUT). */
static int gcache_redis__wait(int fd, short events, long long deadline_ns) {
    for (;;) {
        struct pollfd p;
        long long left = deadline_ns - gcache_redis__now_ns();
        int ms, r;
        if (left <= 0) return GCACHE_ETIMEOUT;
        ms = left >= 1000000000LL * 1000 ? 1000000 : (int)((left + GCACHE_REDIS__MS - 1) / GCACHE_REDIS__MS);
        p.fd = fd;
        p.events = events;
        p.revents = 0;
        r = poll(&p, 1, ms);
        if (r > 0) return 0; /* POLLERR/POLLHUP too: the next send/recv reports it */
        if (r < 0 && errno != EINTR) return GCACHE_EBACKEND;
    }
}

/* Send all of buf. *stale: the peer had closed the connection (EPIPE/ECONNRESET). */
static int gcache_redis__send(int fd, const char *buf, size_t len, long long deadline_ns, int *stale,
                              char *why, size_t why_cap) {
    while (len) {
        ssize_t n = send(fd, buf, len, GCACHE_REDIS__SEND_FLAGS);
        if (n > 0) { buf += n; len -= (size_t)n; continue; }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int rc = gcache_redis__wait(fd, POLLOUT, deadline_ns);
            if (rc) { snprintf(why, why_cap, "%s", rc == GCACHE_ETIMEOUT ? "send timed out" : "poll failed"); return rc; }
            continue;
        }
        if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) *stale = 1;
        snprintf(why, why_cap, "send: %s", n < 0 ? strerror(errno) : "no progress");
        return GCACHE_EBACKEND;
    }
    return 0;
}

/* Read one reply. poll_first: nothing can be there yet (we just sent), so wait before
   the first recv. *got_bytes: some reply bytes arrived; *stale: EOF/reset before any. */
static int gcache_redis__read_reply(redisContext *c, long long deadline_ns, int poll_first, redisReply **out,
                                    int *got_bytes, int *stale, char *why, size_t why_cap) {
    char buf[16384];
    int fd = GCACHE_REDIS__FD(c);
    *out = NULL;
    for (;;) {
        void *reply = NULL;
        ssize_t n;
        if (!poll_first) {
            if (redisReaderGetReply(c->reader, &reply) != REDIS_OK) {
                snprintf(why, why_cap, "protocol error: %s", c->reader->errstr);
                return c->reader->err == REDIS_ERR_OOM ? GCACHE_ENOMEM : GCACHE_EBACKEND;
            }
            if (reply) { *out = (redisReply *)reply; return 0; }
            n = recv(fd, buf, sizeof buf, 0);
        } else {
            n = -1;
            errno = EAGAIN;
            poll_first = 0;
        }
        if (n > 0) {
            *got_bytes = 1;
            if (redisReaderFeed(c->reader, buf, (size_t)n) != REDIS_OK) {
                snprintf(why, why_cap, "protocol error: %s", c->reader->errstr);
                return c->reader->err == REDIS_ERR_OOM ? GCACHE_ENOMEM : GCACHE_EBACKEND;
            }
            continue;
        }
        if (n == 0) {
            if (!*got_bytes) *stale = 1;
            snprintf(why, why_cap, "server closed the connection");
            return GCACHE_EBACKEND;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            int rc = gcache_redis__wait(fd, POLLIN, deadline_ns);
            if (rc) { snprintf(why, why_cap, "%s", rc == GCACHE_ETIMEOUT ? "command timed out" : "poll failed"); return rc; }
            continue;
        }
        if (errno == ECONNRESET && !*got_bytes) *stale = 1;
        snprintf(why, why_cap, "recv: %s", strerror(errno));
        return GCACHE_EBACKEND;
    }
}

static int gcache_redis__is_ok_status(const redisReply *r) {
    return r && r->type == REDIS_REPLY_STATUS && r->len == 2 && memcmp(r->str, "OK", 2) == 0;
}

static int gcache_redis__str_is(const redisReply *r, const char *s) {
    size_t n = strlen(s);
    return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) && r->len == n &&
           memcmp(r->str, s, n) == 0;
}

/* ---- Connect and handshake ------------------------------------------------------------ */
static int gcache_redis__connect_timed_out(const redisContext *c, int saved_errno) {
#ifdef REDIS_ERR_TIMEOUT
    if (c->err == REDIS_ERR_TIMEOUT) return 1;
#endif
    if (saved_errno == ETIMEDOUT) return 1;
    return strstr(c->errstr, "timed out") != NULL || strstr(c->errstr, "imeout") != NULL;
}

/* Open a connection and run AUTH/SELECT (and SUBSCRIBE for the subscriber). The
   connect takes at most connect_timeout_ms; *deadline_ns becomes start_ns +
   command_timeout_ms + the connect's duration, the budget of the handshake and of the
   caller's command. */
static int gcache_redis__open(gcache_redis__ctx *ctx, long long start_ns, int subscriber, redisContext **out,
                              long long *deadline_ns, char *why, size_t why_cap) {
    struct timeval ctv = gcache_redis__tv(ctx->connect_timeout_ms);
    redisContext *c;
    long long t0, t1;
    int saved_errno, fd, flags, rc = 0, expect = 0, i;
    gcache_redis__cmd cmd;

    *out = NULL;
    t0 = gcache_redis__now_ns();
    errno = 0;
    c = ctx->unix_path ? redisConnectUnixWithTimeout(ctx->unix_path, ctv)
                       : redisConnectWithTimeout(ctx->host, ctx->port, ctv);
    saved_errno = errno;
    t1 = gcache_redis__now_ns();
    *deadline_ns = start_ns + (long long)ctx->command_timeout_ms * GCACHE_REDIS__MS + (t1 - t0);
    if (!c) { snprintf(why, why_cap, "connect: out of memory"); return GCACHE_ENOMEM; }
    if (c->err) {
        rc = gcache_redis__connect_timed_out(c, saved_errno) ? GCACHE_ETIMEOUT : GCACHE_EBACKEND;
        snprintf(why, why_cap, "connect: %s", c->errstr);
        redisFree(c);
        return rc;
    }
    /* The backstop timeout hiredis knows about, re-applied on every connection; our own
       I/O is non-blocking against the call's deadline. */
    {
        struct timeval cmdtv = gcache_redis__tv(ctx->command_timeout_ms);
        redisSetTimeout(c, cmdtv);
    }
    fd = GCACHE_REDIS__FD(c);
    flags = fcntl(fd, F_GETFL, 0);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
        snprintf(why, why_cap, "fcntl: %s", strerror(errno));
        redisFree(c);
        return GCACHE_EBACKEND;
    }
#if !defined(MSG_NOSIGNAL) && defined(SO_NOSIGPIPE)
    {
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
    }
#endif

    gcache_redis__cmd_init(&cmd, ctx);
    if (ctx->password) {
        gcache_redis__cmd_header(&cmd, '*', ctx->username ? 3 : 2);
        gcache_redis__cmd_str(&cmd, "AUTH");
        if (ctx->username) gcache_redis__cmd_str(&cmd, ctx->username);
        gcache_redis__cmd_str(&cmd, ctx->password);
        expect++;
    }
    if (ctx->db && !subscriber) {
        gcache_redis__cmd_header(&cmd, '*', 2);
        gcache_redis__cmd_str(&cmd, "SELECT");
        gcache_redis__cmd_ll(&cmd, ctx->db);
        expect++;
    }
    if (subscriber) {
        gcache_redis__cmd_header(&cmd, '*', 2);
        gcache_redis__cmd_str(&cmd, "SUBSCRIBE");
        gcache_redis__cmd_str(&cmd, ctx->channel);
        expect++;
    }
    if (cmd.failed) { snprintf(why, why_cap, "out of memory"); rc = GCACHE_ENOMEM; }
    if (!rc && expect) {
        int stale = 0, got = 0;
        rc = gcache_redis__send(fd, cmd.p, cmd.len, *deadline_ns, &stale, why, why_cap);
        for (i = 0; !rc && i < expect; i++) {
            redisReply *r = NULL;
            int last_subscribe = subscriber && i == expect - 1;
            rc = gcache_redis__read_reply(c, *deadline_ns, i == 0, &r, &got, &stale, why, why_cap);
            if (rc) break;
            if (r->type == REDIS_REPLY_ERROR) {
                const char *what = last_subscribe ? "SUBSCRIBE" : (ctx->password && i == 0) ? "AUTH" : "SELECT";
                snprintf(why, why_cap, "%s: %.*s", what, (int)(r->len > 200 ? 200 : r->len), r->str);
                rc = GCACHE_EBACKEND;
            } else if (last_subscribe ? !(r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
                                          gcache_redis__str_is(r->element[0], "subscribe"))
                                      : !gcache_redis__is_ok_status(r)) {
                snprintf(why, why_cap, "unexpected reply to the handshake");
                rc = GCACHE_EBACKEND;
            }
            freeReplyObject(r);
        }
    }
    gcache_redis__cmd_free(&cmd);
    if (rc) { redisFree(c); return rc; }
    *out = c;
    return 0;
}

/* ---- Pool ---------------------------------------------------------------------------- */
/* In a forked child: free the idle inherited connections (closing the child's copies),
   close the ones another parent thread was using (their memory may be mid-update, so
   it is left alone), and start from a clean state. Called with mu held. */
static void gcache_redis__pool_after_fork(gcache_redis__ctx *ctx) {
    int i;
    for (i = 0; i < ctx->pool_size; i++) {
        gcache_redis__slot *s = &ctx->slots[i];
        if (s->conn) {
            if (s->busy) close(GCACHE_REDIS__FD(s->conn));
            else redisFree(s->conn);
        }
        s->conn = NULL;
        s->busy = 0;
    }
    ctx->down = 0;
    ctx->probing = 0;
    ctx->backoff_ms = GCACHE_REDIS_BACKOFF_MIN_MS;
    ctx->forked = 0;
}

/* Record a failure: the server is down until the backoff delay has passed. mu held;
   returns 1 when this is the transition to down (log it). */
static int gcache_redis__mark_down_locked(gcache_redis__ctx *ctx, long long now_ns) {
    int was_down = ctx->down;
    ctx->down = 1;
    ctx->probing = 0;
    ctx->retry_at_ns = now_ns + (long long)ctx->backoff_ms * GCACHE_REDIS__MS;
    ctx->backoff_ms = gcache_redis__next_backoff(ctx->backoff_ms);
    return !was_down;
}

static void gcache_redis__release(gcache_redis__ctx *ctx, gcache_redis__lease *l, int io_rc, int will_retry,
                                  const char *why) {
    redisContext *drop = NULL;
    int log_down = 0, log_up = 0;
    pthread_mutex_lock(&ctx->mu);
    if (l->probe) ctx->probing = 0;
    if (io_rc == 0) {
        ctx->slots[l->slot].conn = l->conn;
        if (ctx->down) { ctx->down = 0; log_up = 1; }
        ctx->backoff_ms = GCACHE_REDIS_BACKOFF_MIN_MS;
    } else {
        drop = l->conn;
        ctx->slots[l->slot].conn = NULL;
        if (!will_retry) log_down = gcache_redis__mark_down_locked(ctx, gcache_redis__now_ns());
    }
    ctx->slots[l->slot].busy = 0;
    pthread_cond_broadcast(&ctx->cv);
    pthread_mutex_unlock(&ctx->mu);
    if (drop) redisFree(drop);
    if (log_down)
        gcache_redis__log(ctx, GCACHE_LOG_WARN, "gcache_redis: %s is down (%s: %s); retrying with backoff",
                          ctx->endpoint, gcache_strerror(io_rc), why ? why : "");
    if (log_up) gcache_redis__log(ctx, GCACHE_LOG_INFO, "gcache_redis: %s is up again", ctx->endpoint);
}

/* Take a connection: an idle one, or a free slot to connect in. Fails fast with
   GCACHE_EBACKEND while the server is down and its backoff has not passed (or
   another call is probing it); GCACHE_ETIMEOUT when every slot stayed busy until the
   deadline. */
static int gcache_redis__acquire(gcache_redis__ctx *ctx, gcache_redis__lease *l, long long start_ns) {
    long long wait_deadline = start_ns + (long long)ctx->command_timeout_ms * GCACHE_REDIS__MS;
    int i, pick = -1;
    char why[192];
    memset(l, 0, sizeof *l);
    pthread_mutex_lock(&ctx->mu);
    if (ctx->forked) gcache_redis__pool_after_fork(ctx);
    for (;;) {
        long long now = gcache_redis__now_ns();
        int idle = -1, empty = -1;
        if (ctx->down && (ctx->probing || now < ctx->retry_at_ns)) {
            pthread_mutex_unlock(&ctx->mu);
            return GCACHE_EBACKEND;
        }
        for (i = 0; i < ctx->pool_size; i++) {
            if (ctx->slots[i].busy) continue;
            if (ctx->slots[i].conn) { idle = i; break; }
            if (empty < 0) empty = i;
        }
        pick = idle >= 0 ? idle : empty;
        if (pick >= 0) break;
        if (now >= wait_deadline) {
            pthread_mutex_unlock(&ctx->mu);
            return GCACHE_ETIMEOUT;
        }
        gcache_redis__cond_wait_until(&ctx->cv, &ctx->mu, wait_deadline);
    }
    l->slot = pick;
    l->conn = ctx->slots[pick].conn;
    l->probe = ctx->down;
    if (l->probe) ctx->probing = 1;
    ctx->slots[pick].busy = 1;
    pthread_mutex_unlock(&ctx->mu);

    if (l->conn) {
        l->reused = 1;
        l->deadline_ns = wait_deadline;
        return 0;
    }
    {
        int rc = gcache_redis__open(ctx, start_ns, 0, &l->conn, &l->deadline_ns, why, sizeof why);
        if (rc) {
            l->conn = NULL;
            gcache_redis__release(ctx, l, rc, 0, why);
            return rc;
        }
    }
    return 0;
}

enum { GCACHE_REDIS__ANY, GCACHE_REDIS__OK, GCACHE_REDIS__INT, GCACHE_REDIS__VALUES, GCACHE_REDIS__SCAN };

static int gcache_redis__shape_ok(const redisReply *r, int shape, size_t n) {
    size_t i;
    switch (shape) {
    case GCACHE_REDIS__OK: return gcache_redis__is_ok_status(r);
    case GCACHE_REDIS__INT: return r->type == REDIS_REPLY_INTEGER;
    case GCACHE_REDIS__VALUES:
        if (r->type != REDIS_REPLY_ARRAY || r->elements != n) return 0;
        for (i = 0; i < n; i++)
            if (r->element[i]->type != REDIS_REPLY_STRING && r->element[i]->type != REDIS_REPLY_NIL) return 0;
        return 1;
    case GCACHE_REDIS__SCAN:
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_STRING ||
            r->element[1]->type != REDIS_REPLY_ARRAY)
            return 0;
        for (i = 0; i < r->element[1]->elements; i++)
            if (r->element[1]->element[i]->type != REDIS_REPLY_STRING) return 0;
        return 1;
    default: return 1;
    }
}

/* One round trip: send cmd, read one reply. An error reply (-ERR...) is returned as a
   reply with status 0 (the connection is fine); a reply of the wrong shape drops the
   connection (it may be out of step) and gives GCACHE_EBACKEND. */
static int gcache_redis__call(gcache_redis__ctx *ctx, const gcache_redis__cmd *cmd, int shape, size_t n,
                              redisReply **out) {
    long long start = gcache_redis__now_ns();
    int attempt;
    *out = NULL;
    if (cmd->failed) return GCACHE_ENOMEM;
    for (attempt = 0;; attempt++) {
        gcache_redis__lease l;
        redisReply *r = NULL;
        int stale = 0, got = 0, retry, rc;
        char why[192];
        why[0] = '\0';
        rc = gcache_redis__acquire(ctx, &l, start);
        if (rc) return rc;
        rc = gcache_redis__send(GCACHE_REDIS__FD(l.conn), cmd->p, cmd->len, l.deadline_ns, &stale, why, sizeof why);
        if (!rc) rc = gcache_redis__read_reply(l.conn, l.deadline_ns, 1, &r, &got, &stale, why, sizeof why);
        if (!rc && r->type != REDIS_REPLY_ERROR && !gcache_redis__shape_ok(r, shape, n)) {
            freeReplyObject(r);
            r = NULL;
            snprintf(why, sizeof why, "reply of an unexpected type");
            rc = GCACHE_EBACKEND;
        }
        retry = rc != 0 && stale && l.reused && attempt < ctx->pool_size;
        gcache_redis__release(ctx, &l, rc, retry, why);
        if (!rc) { *out = r; return 0; }
        if (!retry) return rc;
    }
}

/* ---- Vtable: mget / set / del / flush_prefix / publish --------------------------------- */
static int gcache_redis__mget(void *vctx, const gcache_slice *keys, size_t n, gcache_slice *vals, void **reply) {
    gcache_redis__ctx *ctx = (gcache_redis__ctx *)vctx;
    gcache_redis__cmd cmd;
    redisReply *r;
    size_t i;
    int rc;
    if (reply) *reply = NULL;
    if (!ctx || !reply || (n && (!keys || !vals))) return GCACHE_EINVAL;
    for (i = 0; i < n; i++) { vals[i].ptr = NULL; vals[i].len = 0; }
    if (n == 0) return GCACHE_OK;
    gcache_redis__cmd_init(&cmd, ctx);
    gcache_redis__cmd_header(&cmd, '*', (unsigned long long)n + 1);
    gcache_redis__cmd_arg(&cmd, "MGET", 4);
    for (i = 0; i < n; i++) gcache_redis__cmd_arg(&cmd, keys[i].ptr ? keys[i].ptr : "", keys[i].len);
    rc = gcache_redis__call(ctx, &cmd, GCACHE_REDIS__VALUES, n, &r);
    gcache_redis__cmd_free(&cmd);
    if (rc) return rc;
    if (r->type == REDIS_REPLY_ERROR) { freeReplyObject(r); return GCACHE_EBACKEND; }
    for (i = 0; i < n; i++) {
        const redisReply *e = r->element[i];
        if (e->type == REDIS_REPLY_STRING) {
            vals[i].ptr = e->str ? e->str : "";
            vals[i].len = e->len;
        }
    }
    *reply = r;
    return GCACHE_OK;
}

static void gcache_redis__release_reply(void *vctx, void *reply) {
    (void)vctx;
    if (reply) freeReplyObject(reply);
}

static int gcache_redis__set(void *vctx, gcache_slice key, gcache_slice val, int ttl_sec) {
    gcache_redis__ctx *ctx = (gcache_redis__ctx *)vctx;
    gcache_redis__cmd cmd;
    redisReply *r;
    int rc;
    if (!ctx || (!key.ptr && key.len) || (!val.ptr && val.len)) return GCACHE_EINVAL;
    if (ttl_sec < 1) ttl_sec = 1; /* EX 0 is an error in Redis; the shortest TTL it has */
    gcache_redis__cmd_init(&cmd, ctx);
    gcache_redis__cmd_header(&cmd, '*', 5);
    gcache_redis__cmd_arg(&cmd, "SET", 3);
    gcache_redis__cmd_arg(&cmd, key.ptr ? key.ptr : "", key.len);
    gcache_redis__cmd_arg(&cmd, val.ptr ? val.ptr : "", val.len);
    gcache_redis__cmd_arg(&cmd, "EX", 2);
    gcache_redis__cmd_ll(&cmd, ttl_sec);
    rc = gcache_redis__call(ctx, &cmd, GCACHE_REDIS__OK, 0, &r);
    gcache_redis__cmd_free(&cmd);
    if (rc) return rc;
    rc = r->type == REDIS_REPLY_ERROR ? GCACHE_EBACKEND : GCACHE_OK;
    freeReplyObject(r);
    return rc;
}

static int gcache_redis__unknown_command(const redisReply *r) {
    return r->type == REDIS_REPLY_ERROR && r->len >= 15 && memcmp(r->str, "ERR unknown com", 15) == 0;
}

/* UNLINK (or DEL on servers older than 4.0) of n keys; reply: how many existed. */
static int gcache_redis__unlink(gcache_redis__ctx *ctx, const gcache_slice *keys, const redisReply *const *rkeys,
                                size_t n) {
    int pass, use_del = 0, rc = 0;
    for (pass = 0; pass < 2; pass++) {
        gcache_redis__cmd cmd;
        redisReply *r;
        size_t i;
        gcache_redis__cmd_init(&cmd, ctx);
        if (pass == 0) {
            pthread_mutex_lock(&ctx->mu);
            use_del = ctx->no_unlink;
            pthread_mutex_unlock(&ctx->mu);
        }
        gcache_redis__cmd_header(&cmd, '*', (unsigned long long)n + 1);
        if (use_del) gcache_redis__cmd_arg(&cmd, "DEL", 3);
        else gcache_redis__cmd_arg(&cmd, "UNLINK", 6);
        for (i = 0; i < n; i++) {
            if (keys) gcache_redis__cmd_arg(&cmd, keys[i].ptr ? keys[i].ptr : "", keys[i].len);
            else gcache_redis__cmd_arg(&cmd, rkeys[i]->str, rkeys[i]->len);
        }
        rc = gcache_redis__call(ctx, &cmd, GCACHE_REDIS__INT, 0, &r);
        gcache_redis__cmd_free(&cmd);
        if (rc) return rc;
        if (!use_del && gcache_redis__unknown_command(r)) {
            freeReplyObject(r);
            pthread_mutex_lock(&ctx->mu);
            ctx->no_unlink = 1;
            pthread_mutex_unlock(&ctx->mu);
            use_del = 1;
            continue;
        }
        rc = r->type == REDIS_REPLY_ERROR ? GCACHE_EBACKEND : GCACHE_OK;
        freeReplyObject(r);
        return rc;
    }
    return rc;
}

static int gcache_redis__del(void *vctx, gcache_slice key) {
    gcache_redis__ctx *ctx = (gcache_redis__ctx *)vctx;
    if (!ctx || (!key.ptr && key.len)) return GCACHE_EINVAL;
    return gcache_redis__unlink(ctx, &key, NULL, 1);
}

/* SCAN cursor MATCH <prefix with * ? [ ] \ escaped>* COUNT n, UNLINK each batch, until
   the cursor is back at 0. Every round trip has its own deadline. */
static int gcache_redis__flush_prefix(void *vctx, gcache_slice prefix) {
    gcache_redis__ctx *ctx = (gcache_redis__ctx *)vctx;
    gcache_redis__cmd pattern;
    char cursor[32] = "0";
    size_t i;
    int rc = 0;
    if (!ctx || !prefix.ptr || prefix.len == 0) return GCACHE_EINVAL; /* "" would match every key */
    gcache_redis__cmd_init(&pattern, ctx);
    for (i = 0; i < prefix.len; i++) {
        char ch = prefix.ptr[i];
        if (ch == '*' || ch == '?' || ch == '[' || ch == ']' || ch == '\\') gcache_redis__cmd_raw(&pattern, "\\", 1);
        gcache_redis__cmd_raw(&pattern, &ch, 1);
    }
    gcache_redis__cmd_raw(&pattern, "*", 1);
    if (pattern.failed) { gcache_redis__cmd_free(&pattern); return GCACHE_ENOMEM; }
    for (;;) {
        gcache_redis__cmd cmd;
        redisReply *r;
        const redisReply *keys;
        gcache_redis__cmd_init(&cmd, ctx);
        gcache_redis__cmd_header(&cmd, '*', 6);
        gcache_redis__cmd_arg(&cmd, "SCAN", 4);
        gcache_redis__cmd_str(&cmd, cursor);
        gcache_redis__cmd_arg(&cmd, "MATCH", 5);
        gcache_redis__cmd_arg(&cmd, pattern.p, pattern.len);
        gcache_redis__cmd_arg(&cmd, "COUNT", 5);
        gcache_redis__cmd_ll(&cmd, GCACHE_REDIS_SCAN_COUNT);
        rc = gcache_redis__call(ctx, &cmd, GCACHE_REDIS__SCAN, 0, &r);
        gcache_redis__cmd_free(&cmd);
        if (rc) break;
        if (r->type == REDIS_REPLY_ERROR || r->element[0]->len == 0 || r->element[0]->len >= sizeof cursor) {
            freeReplyObject(r);
            rc = GCACHE_EBACKEND;
            break;
        }
        memcpy(cursor, r->element[0]->str, r->element[0]->len);
        cursor[r->element[0]->len] = '\0';
        keys = r->element[1];
        if (keys->elements)
            rc = gcache_redis__unlink(ctx, NULL, (const redisReply *const *)keys->element, keys->elements);
        freeReplyObject(r);
        if (rc || strcmp(cursor, "0") == 0) break;
    }
    gcache_redis__cmd_free(&pattern);
    return rc;
}

static int gcache_redis__publish(void *vctx, gcache_slice key_type_id, long long watermark_ms) {
    gcache_redis__ctx *ctx = (gcache_redis__ctx *)vctx;
    gcache_redis__cmd cmd;
    redisReply *r;
    char ms[32];
    int rc, msn;
    if (!ctx || (!key_type_id.ptr && key_type_id.len)) return GCACHE_EINVAL;
    msn = snprintf(ms, sizeof ms, "%lld ", watermark_ms);
    gcache_redis__cmd_init(&cmd, ctx);
    gcache_redis__cmd_header(&cmd, '*', 3);
    gcache_redis__cmd_arg(&cmd, "PUBLISH", 7);
    gcache_redis__cmd_str(&cmd, ctx->channel);
    gcache_redis__cmd_header(&cmd, '$', (unsigned long long)msn + key_type_id.len);
    gcache_redis__cmd_raw(&cmd, ms, (size_t)msn);
    gcache_redis__cmd_raw(&cmd, key_type_id.ptr, key_type_id.len);
    gcache_redis__cmd_raw(&cmd, "\r\n", 2);
    rc = gcache_redis__call(ctx, &cmd, GCACHE_REDIS__INT, 0, &r);
    gcache_redis__cmd_free(&cmd);
    if (rc) return rc;
    rc = r->type == REDIS_REPLY_ERROR ? GCACHE_EBACKEND : GCACHE_OK;
    freeReplyObject(r);
    return rc;
}

/* ---- Subscriber ------------------------------------------------------------------------- */
/* Call every listener still registered, one at a time, with no lock held. current_u
   lets subscribe(NULL, u) wait until a running callback for u has returned. */
static void gcache_redis__dispatch(gcache_redis__ctx *ctx, const char *id, size_t id_len, long long watermark_ms) {
    void *inline_us[16];
    void **us = inline_us;
    size_t n, i, j;
    gcache_slice s;
    s.ptr = id;
    s.len = id_len;
    pthread_mutex_lock(&ctx->smu);
    n = ctx->nlisteners;
    if (n > 16) {
        us = (void **)gcache_redis__alloc(ctx, n * sizeof *us);
        if (!us) { us = inline_us; n = 16; }
    }
    for (i = 0; i < n; i++) us[i] = ctx->listeners[i].u;
    for (i = 0; i < n; i++) {
        gcache_redis__listener_fn fn = NULL;
        for (j = 0; j < ctx->nlisteners; j++)
            if (ctx->listeners[j].u == us[i]) { fn = ctx->listeners[j].fn; break; }
        if (!fn || ctx->stop) continue;
        ctx->current_u = us[i];
        ctx->calling = 1;
        pthread_mutex_unlock(&ctx->smu);
        fn(us[i], s, watermark_ms);
        pthread_mutex_lock(&ctx->smu);
        ctx->calling = 0;
        ctx->current_u = NULL;
        pthread_cond_broadcast(&ctx->scv);
    }
    pthread_mutex_unlock(&ctx->smu);
    if (us != inline_us) gcache_redis__free(ctx, us);
}

/* A pub/sub message "<watermark_ms> <key_type:escaped_id>"; malformed ones are ignored
   (an empty id would mean "drop everything", which only the backend itself says). */
static void gcache_redis__on_message(gcache_redis__ctx *ctx, const redisReply *r) {
    const char *p;
    size_t len, sp;
    long long ms;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 || !gcache_redis__str_is(r->element[0], "message") ||
        r->element[2]->type != REDIS_REPLY_STRING)
        return;
    p = r->element[2]->str;
    len = r->element[2]->len;
    for (sp = 0; sp < len && p[sp] != ' '; sp++) {}
    if (sp == 0 || sp + 1 >= len) return;
    if (gcache_watermark_parse(p, sp, &ms) != GCACHE_OK) return;
    if (!memchr(p + sp + 1, ':', len - sp - 1)) return;
    gcache_redis__dispatch(ctx, p + sp + 1, len - sp - 1, ms);
}

static int gcache_redis__sub_stopping(gcache_redis__ctx *ctx) {
    int stop;
    pthread_mutex_lock(&ctx->smu);
    stop = ctx->stop;
    pthread_mutex_unlock(&ctx->smu);
    return stop;
}

/* Sleep until deadline_ns unless the wake pipe fires first (returns 1 then). */
static int gcache_redis__sub_sleep(gcache_redis__ctx *ctx, long long deadline_ns) {
    for (;;) {
        struct pollfd p;
        long long left = deadline_ns - gcache_redis__now_ns();
        int r;
        if (left <= 0) return 0;
        p.fd = ctx->wake[0];
        p.events = POLLIN;
        p.revents = 0;
        r = poll(&p, 1, (int)((left + GCACHE_REDIS__MS - 1) / GCACHE_REDIS__MS));
        if (r > 0) return 1;
    }
}

static void gcache_redis__sub_drop(gcache_redis__ctx *ctx) {
    pthread_mutex_lock(&ctx->smu);
    if (ctx->sub_conn) redisFree(ctx->sub_conn);
    ctx->sub_conn = NULL;
    pthread_mutex_unlock(&ctx->smu);
}

/* The subscriber thread's own state (no lock: only it touches these). */
typedef struct gcache_redis__sub_state {
    int gap;          /* messages may have been lost: tell the listeners after resubscribing */
    int logged_down;  /* log transitions only */
    int backoff_ms;
    long long retry_at, connected_at, last_rx, pong_deadline;
    int ping_out;
} gcache_redis__sub_state;

/* The subscription is gone (connect failed, or the connection broke or went silent).
   A connection that lived long is retried at once; one that keeps failing backs off. */
static void gcache_redis__sub_lost(gcache_redis__ctx *ctx, gcache_redis__sub_state *st, const char *what,
                                   const char *why) {
    long long now = gcache_redis__now_ns();
    gcache_redis__sub_drop(ctx);
    st->gap = 1;
    if (st->connected_at && now - st->connected_at >= (long long)GCACHE_REDIS_BACKOFF_MAX_MS * GCACHE_REDIS__MS) {
        st->backoff_ms = GCACHE_REDIS_BACKOFF_MIN_MS;
        st->retry_at = now;
    } else {
        st->retry_at = now + (long long)st->backoff_ms * GCACHE_REDIS__MS;
        st->backoff_ms = gcache_redis__next_backoff(st->backoff_ms);
    }
    st->connected_at = 0;
    if (!st->logged_down)
        gcache_redis__log(ctx, GCACHE_LOG_WARN, "gcache_redis: subscriber %s %s (%s); resubscribing with backoff", what,
                          ctx->endpoint, why);
    st->logged_down = 1;
}

static void *gcache_redis__sub_main(void *arg) {
    gcache_redis__ctx *ctx = (gcache_redis__ctx *)arg;
    gcache_redis__sub_state st;
    char why[192];
    memset(&st, 0, sizeof st);
    st.backoff_ms = GCACHE_REDIS_BACKOFF_MIN_MS;
    while (!gcache_redis__sub_stopping(ctx)) {
        long long now = gcache_redis__now_ns(), wake_at;
        struct pollfd p[2];
        int r, fd;
        if (!ctx->sub_conn) { /* only this thread sets sub_conn: reading it here is safe */
            redisContext *c = NULL;
            long long deadline;
            if (now < st.retry_at) {
                if (gcache_redis__sub_sleep(ctx, st.retry_at)) break;
                continue;
            }
            if (gcache_redis__open(ctx, now, 1, &c, &deadline, why, sizeof why) != 0) {
                pthread_mutex_lock(&ctx->smu);
                if (ctx->first_state == 0) ctx->first_state = -1;
                pthread_cond_broadcast(&ctx->scv);
                pthread_mutex_unlock(&ctx->smu);
                gcache_redis__sub_lost(ctx, &st, "cannot reach", why);
                continue;
            }
            pthread_mutex_lock(&ctx->smu);
            ctx->sub_conn = c;
            ctx->first_state = 1;
            pthread_cond_broadcast(&ctx->scv);
            pthread_mutex_unlock(&ctx->smu);
            if (st.logged_down)
                gcache_redis__log(ctx, GCACHE_LOG_INFO, "gcache_redis: subscribed on %s again", ctx->endpoint);
            st.logged_down = 0;
            st.connected_at = st.last_rx = gcache_redis__now_ns();
            st.ping_out = 0;
            if (st.gap) { /* pub/sub is at-most-once: messages may have been lost meanwhile */
                st.gap = 0;
                gcache_redis__dispatch(ctx, "", 0, 0);
            }
        }
        /* Replies already parsed (e.g. pipelined behind the SUBSCRIBE confirmation). */
        for (;;) {
            void *reply = NULL;
            int bad;
            pthread_mutex_lock(&ctx->smu);
            bad = redisReaderGetReply(ctx->sub_conn->reader, &reply) != REDIS_OK;
            if (bad) snprintf(why, sizeof why, "protocol error: %s", ctx->sub_conn->reader->errstr);
            pthread_mutex_unlock(&ctx->smu);
            if (bad) { gcache_redis__sub_lost(ctx, &st, "got garbage from", why); break; }
            if (!reply) break;
            gcache_redis__on_message(ctx, (redisReply *)reply);
            freeReplyObject(reply);
        }
        if (!ctx->sub_conn) continue;
        fd = GCACHE_REDIS__FD(ctx->sub_conn);
        now = gcache_redis__now_ns();
        wake_at = st.ping_out ? st.pong_deadline : st.last_rx + (long long)GCACHE_REDIS_PING_MS * GCACHE_REDIS__MS;
        p[0].fd = fd;
        p[0].events = POLLIN;
        p[0].revents = 0;
        p[1].fd = ctx->wake[0];
        p[1].events = POLLIN;
        p[1].revents = 0;
        r = poll(p, 2, wake_at <= now ? 0 : (int)((wake_at - now + GCACHE_REDIS__MS - 1) / GCACHE_REDIS__MS));
        if (r < 0) continue; /* EINTR */
        if (p[1].revents) break;
        if (p[0].revents) {
            char buf[16384];
            ssize_t n;
            int fail = 0;
            pthread_mutex_lock(&ctx->smu);
            n = recv(fd, buf, sizeof buf, 0);
            if (n > 0) fail = redisReaderFeed(ctx->sub_conn->reader, buf, (size_t)n) != REDIS_OK;
            else if (n == 0 || (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)) fail = 1;
            if (fail)
                snprintf(why, sizeof why, "%s",
                         n == 0 ? "closed by the server" : n < 0 ? strerror(errno) : "protocol error");
            pthread_mutex_unlock(&ctx->smu);
            if (fail) {
                gcache_redis__sub_lost(ctx, &st, "lost", why);
            } else if (n > 0) {
                st.last_rx = gcache_redis__now_ns();
                st.ping_out = 0;
            }
            continue;
        }
        /* Silence: PING once (["pong", ""] in subscribed mode); no answer in time, reconnect. */
        if (gcache_redis__now_ns() < wake_at) continue;
        if (!st.ping_out) {
            static const char ping[] = "*1\r\n$4\r\nPING\r\n";
            int stale = 0;
            long long t = gcache_redis__now_ns();
            if (gcache_redis__send(fd, ping, sizeof ping - 1, t + (long long)ctx->command_timeout_ms * GCACHE_REDIS__MS,
                                   &stale, why, sizeof why) == 0) {
                st.ping_out = 1; /* a busy server gets a second of slack beyond the command timeout */
                st.pong_deadline = t + (long long)(GCACHE_REDIS_PING_MS + ctx->command_timeout_ms) * GCACHE_REDIS__MS;
                continue;
            }
        } else {
            snprintf(why, sizeof why, "no answer to PING");
        }
        gcache_redis__sub_lost(ctx, &st, "lost", why);
    }
    gcache_redis__sub_drop(ctx);
    return NULL;
}

static int gcache_redis__start_thread(gcache_redis__ctx *ctx) {
    sigset_t all, old;
    int rc;
    if (pipe(ctx->wake) != 0) return GCACHE_EBACKEND;
    fcntl(ctx->wake[0], F_SETFD, FD_CLOEXEC);
    fcntl(ctx->wake[1], F_SETFD, FD_CLOEXEC);
    /* The thread is born with every signal blocked: no handler of the program runs on
       it, and its poll() is never interrupted. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&ctx->thread, NULL, gcache_redis__sub_main, ctx);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        close(ctx->wake[0]);
        close(ctx->wake[1]);
        ctx->wake[0] = ctx->wake[1] = -1;
        return GCACHE_EBACKEND;
    }
    ctx->thread_running = 1;
    return 0;
}

/* In a fork child: the thread is gone; release what is consistent to release. */
static void gcache_redis__sub_after_fork_locked(gcache_redis__ctx *ctx) {
    if (ctx->thread_running) {
        /* The parent's thread only touches sub_conn under smu, and the atfork handler
           held smu at the fork, so the inherited copy is consistent. */
        if (ctx->sub_conn) redisFree(ctx->sub_conn);
        ctx->sub_conn = NULL;
        if (ctx->wake[0] >= 0) close(ctx->wake[0]);
        if (ctx->wake[1] >= 0) close(ctx->wake[1]);
        ctx->wake[0] = ctx->wake[1] = -1;
        ctx->thread_running = 0;
    }
}

static int gcache_redis__subscribe(void *vctx, gcache_redis__listener_fn fn, void *u) {
    gcache_redis__ctx *ctx = (gcache_redis__ctx *)vctx;
    size_t i;
    int added = 0;
    if (!ctx) return GCACHE_EINVAL;
    pthread_mutex_lock(&ctx->smu);
    if (ctx->sub_child) gcache_redis__sub_after_fork_locked(ctx);
    for (i = 0; i < ctx->nlisteners; i++)
        if (ctx->listeners[i].u == u) break;
    if (!fn) {
        if (i < ctx->nlisteners) {
            ctx->listeners[i] = ctx->listeners[ctx->nlisteners - 1];
            ctx->nlisteners--;
        }
        /* The subscriber thread itself (a callback detaching) must not wait for itself. */
        if (!(ctx->thread_running && pthread_equal(pthread_self(), ctx->thread)))
            while (ctx->calling && ctx->current_u == u) pthread_cond_wait(&ctx->scv, &ctx->smu);
        pthread_mutex_unlock(&ctx->smu);
        return GCACHE_OK;
    }
    if (i < ctx->nlisteners) {
        ctx->listeners[i].fn = fn;
    } else {
        if (ctx->nlisteners == ctx->listeners_cap) {
            size_t cap = ctx->listeners_cap ? ctx->listeners_cap * 2 : 4;
            gcache_redis__listener *nl = (gcache_redis__listener *)gcache_redis__alloc(ctx, cap * sizeof *nl);
            if (!nl) { pthread_mutex_unlock(&ctx->smu); return GCACHE_ENOMEM; }
            if (ctx->nlisteners) memcpy(nl, ctx->listeners, ctx->nlisteners * sizeof *nl);
            gcache_redis__free(ctx, ctx->listeners);
            ctx->listeners = nl;
            ctx->listeners_cap = cap;
        }
        ctx->listeners[ctx->nlisteners].fn = fn;
        ctx->listeners[ctx->nlisteners].u = u;
        ctx->nlisteners++;
        added = 1;
    }
    if (!ctx->thread_running && !ctx->sub_child && !ctx->stop) {
        long long deadline;
        if (gcache_redis__start_thread(ctx) != 0) {
            if (added) ctx->nlisteners--;
            pthread_mutex_unlock(&ctx->smu);
            return GCACHE_EBACKEND;
        }
        /* Wait for the first SUBSCRIBE (bounded): an invalidation published right after
           gcache_create returns is then heard. A failure is no error: it retries. */
        deadline = gcache_redis__now_ns() +
                   (long long)(ctx->connect_timeout_ms + ctx->command_timeout_ms) * GCACHE_REDIS__MS;
        while (ctx->first_state == 0 && gcache_redis__now_ns() < deadline)
            gcache_redis__cond_wait_until(&ctx->scv, &ctx->smu, deadline);
    }
    pthread_mutex_unlock(&ctx->smu);
    return GCACHE_OK;
}

/* ---- Create / destroy ---------------------------------------------------------------- */
static void gcache_redis__free_ctx(gcache_redis__ctx *ctx) {
    gcache_redis__free(ctx, ctx->host);
    gcache_redis__free(ctx, ctx->unix_path);
    gcache_redis__free(ctx, ctx->username);
    gcache_redis__free(ctx, ctx->password);
    gcache_redis__free(ctx, ctx->channel);
    gcache_redis__free(ctx, ctx->slots);
    gcache_redis__free(ctx, ctx->listeners);
    gcache_redis__free(ctx, ctx);
}

static void gcache_redis__destroy(void *vctx) {
    gcache_redis__ctx *ctx = (gcache_redis__ctx *)vctx;
    int i, join = 0;
    if (!ctx) return;
    pthread_mutex_lock(&gcache_redis__reg_mu);
    if (ctx->reg_prev) ctx->reg_prev->reg_next = ctx->reg_next;
    else gcache_redis__reg_head = ctx->reg_next;
    if (ctx->reg_next) ctx->reg_next->reg_prev = ctx->reg_prev;
    pthread_mutex_unlock(&gcache_redis__reg_mu);

    pthread_mutex_lock(&ctx->smu);
    if (ctx->sub_child) gcache_redis__sub_after_fork_locked(ctx);
    ctx->stop = 1;
    if (ctx->thread_running) {
        char b = 1;
        ssize_t w;
        join = 1;
        do { w = write(ctx->wake[1], &b, 1); } while (w < 0 && errno == EINTR);
    }
    pthread_mutex_unlock(&ctx->smu);
    if (join) {
        pthread_join(ctx->thread, NULL);
        close(ctx->wake[0]);
        close(ctx->wake[1]);
    }
    if (ctx->sub_conn) redisFree(ctx->sub_conn);

    pthread_mutex_lock(&ctx->mu);
    if (ctx->forked) gcache_redis__pool_after_fork(ctx);
    for (i = 0; i < ctx->pool_size; i++)
        if (ctx->slots[i].conn) redisFree(ctx->slots[i].conn);
    pthread_mutex_unlock(&ctx->mu);
    pthread_mutex_destroy(&ctx->mu);
    pthread_cond_destroy(&ctx->cv);
    pthread_mutex_destroy(&ctx->smu);
    pthread_cond_destroy(&ctx->scv);
    gcache_redis__free_ctx(ctx);
}

GCACHE_REDIS_DEF int gcache_redis_create(const gcache_redis_desc *d, gcache_remote *out) {
    gcache_redis_desc desc;
    gcache_redis__ctx *ctx;
    gcache_allocator a;
    unsigned char addr[16];
    const char *host;

    if (!out) return GCACHE_EINVAL;
    memset(out, 0, sizeof *out);
    if (d) desc = *d;
    else memset(&desc, 0, sizeof desc);

    /* defaults and validation, once */
    host = desc.host ? desc.host : "127.0.0.1";
    if (desc.port == 0) desc.port = 6379;
    if (desc.connect_timeout_ms == 0) desc.connect_timeout_ms = 200;
    if (desc.command_timeout_ms == 0) desc.command_timeout_ms = 100;
    if (desc.pool_size == 0) desc.pool_size = 4;
    if (!desc.channel) desc.channel = "gcache:invalidate";
    if (desc.port < 1 || desc.port > 65535 || desc.db < 0 || desc.connect_timeout_ms < 0 ||
        desc.command_timeout_ms < 0 || desc.pool_size < 1 || desc.pool_size > 1024 || !desc.channel[0] ||
        (desc.username && !desc.password))
        return GCACHE_EINVAL;
    if (desc.unix_path) {
        struct sockaddr_un sa;
        if (!desc.unix_path[0] || strlen(desc.unix_path) >= sizeof sa.sun_path) return GCACHE_EINVAL;
    } else if (inet_pton(AF_INET, host, addr) != 1 && inet_pton(AF_INET6, host, addr) != 1) {
        return GCACHE_EINVAL; /* numeric only: a DNS lookup could block past every timeout */
    }
    a = desc.allocator;
    if (!a.alloc_fn || !a.free_fn) {
        a.alloc_fn = gcache_redis__default_alloc;
        a.free_fn = gcache_redis__default_free;
        a.user_data = NULL;
    }

    ctx = (gcache_redis__ctx *)a.alloc_fn(sizeof *ctx, a.user_data);
    if (!ctx) return GCACHE_ENOMEM;
    memset(ctx, 0, sizeof *ctx);
    ctx->allocator = a;
    ctx->logger = desc.logger;
    ctx->port = desc.port;
    ctx->db = desc.db;
    ctx->connect_timeout_ms = desc.connect_timeout_ms;
    ctx->command_timeout_ms = desc.command_timeout_ms;
    ctx->pool_size = desc.pool_size;
    ctx->backoff_ms = GCACHE_REDIS_BACKOFF_MIN_MS;
    ctx->wake[0] = ctx->wake[1] = -1;
    ctx->host = gcache_redis__strdup(ctx, host);
    ctx->unix_path = gcache_redis__strdup(ctx, desc.unix_path);
    ctx->username = gcache_redis__strdup(ctx, desc.username);
    ctx->password = gcache_redis__strdup(ctx, desc.password);
    ctx->channel = gcache_redis__strdup(ctx, desc.channel);
    ctx->slots = (gcache_redis__slot *)gcache_redis__alloc(ctx, (size_t)ctx->pool_size * sizeof *ctx->slots);
    if (!ctx->host || !ctx->channel || !ctx->slots || (desc.unix_path && !ctx->unix_path) ||
        (desc.username && !ctx->username) || (desc.password && !ctx->password)) {
        gcache_redis__free_ctx(ctx);
        return GCACHE_ENOMEM;
    }
    memset(ctx->slots, 0, (size_t)ctx->pool_size * sizeof *ctx->slots);
    if (ctx->unix_path) snprintf(ctx->endpoint, sizeof ctx->endpoint, "redis unix:%s", ctx->unix_path);
    else if (strchr(ctx->host, ':')) snprintf(ctx->endpoint, sizeof ctx->endpoint, "redis [%s]:%d", ctx->host, ctx->port);
    else snprintf(ctx->endpoint, sizeof ctx->endpoint, "redis %s:%d", ctx->host, ctx->port);

    pthread_mutex_init(&ctx->mu, NULL);
    gcache_redis__cond_init(&ctx->cv);
    pthread_mutex_init(&ctx->smu, NULL);
    gcache_redis__cond_init(&ctx->scv);

#ifdef GCACHE_REDIS__IGNORE_SIGPIPE
    {
        struct sigaction sa;
        if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
            sa.sa_handler = SIG_IGN;
            sigaction(SIGPIPE, &sa, NULL);
        }
    }
#endif
    pthread_once(&gcache_redis__reg_once, gcache_redis__atfork_register);
    pthread_mutex_lock(&gcache_redis__reg_mu);
    ctx->reg_next = gcache_redis__reg_head;
    if (gcache_redis__reg_head) gcache_redis__reg_head->reg_prev = ctx;
    gcache_redis__reg_head = ctx;
    pthread_mutex_unlock(&gcache_redis__reg_mu);

    out->ctx = ctx;
    out->name = "redis";
    out->mget = gcache_redis__mget;
    out->release = gcache_redis__release_reply;
    out->set = gcache_redis__set;
    out->del = gcache_redis__del;
    out->flush_prefix = gcache_redis__flush_prefix;
    out->publish = gcache_redis__publish;
    out->subscribe = gcache_redis__subscribe;
    out->destroy = gcache_redis__destroy;
    return GCACHE_OK;
}

#ifdef __cplusplus
}
#endif
#endif /* GCACHE_REDIS__IMPLEMENTED */
#endif /* GCACHE_REDIS_IMPLEMENTATION */
