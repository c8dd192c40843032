/* examples/metrics_http.c -- serve gcache's Prometheus metrics over HTTP.

   A background thread generates cache traffic (hits, misses, "not found",
   fetch errors, invalidations, calls outside an enable scope) against a cache
   with a local layer and the in-process memory backend as its remote layer,
   while the main thread serves

       GET /metrics   -> 200, the text of gcache_metrics_prometheus()
       anything else  -> 404 (405 for methods other than GET)

   on 127.0.0.1 with HTTP/1.0 (one request per connection). Point a Prometheus
   scrape job at it, or: curl http://127.0.0.1:9464/metrics

   Usage: metrics_http [--prometheus-names] [PORT [SECONDS [MAX_REQUESTS]]]
     PORT          0 picks a free port (default 9464); the port is printed as
                   "listening on http://127.0.0.1:PORT/metrics"
     SECONDS       stop after this long (default 60; 0 = run until killed)
     MAX_REQUESTS  stop after serving this many requests (default 0 = no limit)
     --prometheus-names  lint-clean metric names (GCACHE_METRICS_PROMETHEUS)
                   instead of the Python reference's names

   Build: cc -O2 -pthread examples/metrics_http.c -o metrics_http
*/
#define GCACHE_IMPLEMENTATION
#include "../gcache.h" /* first: it sets the POSIX feature macros it needs */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* ---- traffic ------------------------------------------------------------------------ */
typedef struct traffic {
    gcache *gc;
    gcache_use_case *get_user, *get_order;
    pthread_mutex_t lock;
    int stop;
} traffic;

static void sleep_ms(long ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    nanosleep(&ts, NULL);
}

static double mono_sec(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The source of truth: ids ending in 7 do not exist, ids ending in 99 fail. */
static int fetch_row(void *user, const gcache_key *key, gcache_buf *out) {
    long id = (long)(size_t)user;
    char row[96];
    int n;
    (void)key;
    if (id % 100 == 99) return GCACHE_EBACKEND; /* the database had a bad moment */
    if (id % 10 == 7) return GCACHE_NOT_FOUND;
    n = snprintf(row, sizeof row, "{\"id\": %ld, \"payload\": \"%0*ld\"}", id, (int)(id % 50) + 1, id);
    return gcache_buf_set(out, row, (size_t)n);
}

static void *traffic_main(void *arg) {
    traffic *t = (traffic *)arg;
    gcache_buf out;
    unsigned long long rng = 88172645463325252ULL;
    unsigned long n = 0;
    memset(&out, 0, sizeof out);
    for (;;) {
        int stop, i;
        pthread_mutex_lock(&t->lock);
        stop = t->stop;
        pthread_mutex_unlock(&t->lock);
        if (stop) break;
        for (i = 0; i < 50; i++, n++) {
            gcache_key key;
            long id;
            rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
            id = (long)(rng % 500);
            if (n % 3 == 0) {
                gcache_key_init_int(&key, t->get_order, id);
                gcache_key_add_bool(&key, "with_items", (int)(id & 1));
            } else {
                gcache_key_init_int(&key, t->get_user, id);
            }
            if (n % 20 == 0) {
                (void)gcache_get(t->gc, &key, fetch_row, (void *)(size_t)id, &out); /* not enabled */
            } else {
                GCACHE_WITH_ENABLED {
                    (void)gcache_get(t->gc, &key, fetch_row, (void *)(size_t)id, &out);
                }
            }
            if (n % 97 == 0) {
                char s[24];
                snprintf(s, sizeof s, "%ld", id);
                gcache_invalidate(t->gc, "user_id", s, 0);
            }
        }
        sleep_ms(2);
    }
    gcache_buf_free(&out);
    return NULL;
}

/* ---- HTTP ----------------------------------------------------------------------------- */
static int send_all(int fd, const char *p, size_t len) {
    while (len > 0) {
        ssize_t w = send(fd, p, len, 0);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static void respond(int fd, const char *status, const char *type, const char *body, size_t len) {
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %lu\r\nConnection: close\r\n\r\n",
                     status, type, (unsigned long)len);
    if (send_all(fd, head, (size_t)n) == 0) send_all(fd, body, len);
}

/* The metrics text, grown until it fits (snprintf semantics: the return value is
   the length needed, without the NUL). */
static char *metrics_text(gcache *gc, size_t *len) {
    size_t cap = 16384;
    for (;;) {
        char *buf = (char *)malloc(cap);
        int n;
        if (!buf) return NULL;
        n = gcache_metrics_prometheus(gc, buf, cap);
        if (n < 0) {
            free(buf);
            return NULL;
        }
        if ((size_t)n < cap) {
            *len = (size_t)n;
            return buf;
        }
        free(buf);
        cap = (size_t)n + 1024; /* counters may add lines between the two calls */
    }
}

static void serve_one(int fd, gcache *gc) {
    char req[2048];
    size_t got = 0;
    struct timeval tv;
    tv.tv_sec = 2;
    tv.tv_usec = 0;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    /* Read until the end of the headers (or a full buffer: the request line is all we need). */
    while (got < sizeof req - 1) {
        ssize_t r = recv(fd, req + got, sizeof req - 1 - got, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
        req[got] = '\0';
        if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n")) break;
    }
    req[got] = '\0';
    if (strncmp(req, "GET ", 4) != 0) {
        respond(fd, "405 Method Not Allowed", "text/plain", "only GET\n", 9);
    } else if (strncmp(req + 4, "/metrics ", 9) == 0 || strncmp(req + 4, "/metrics?", 9) == 0 ||
               strncmp(req + 4, "/metrics\r", 9) == 0) {
        size_t len = 0;
        char *body = metrics_text(gc, &len);
        if (body) respond(fd, "200 OK", "text/plain; version=0.0.4; charset=utf-8", body, len);
        else respond(fd, "500 Internal Server Error", "text/plain", "metrics failed\n", 15);
        free(body);
    } else {
        respond(fd, "404 Not Found", "text/plain", "not found; try /metrics\n", 24);
    }
}

/* ---- main ------------------------------------------------------------------------------ */
int main(int argc, char **argv) {
    int port = 9464, seconds = 60, max_requests = 0, served = 0, argi = 0, i, rc, lfd, prom_names = 0;
    gcache_desc desc;
    gcache_memory_desc md;
    gcache_use_case_desc ud;
    traffic t;
    pthread_t th;
    struct sockaddr_in addr;
    socklen_t alen = sizeof addr;
    struct sigaction sa;
    double start;

    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--prometheus-names")) {
            prom_names = 1;
        } else if (argv[i][0] == '-' || argi >= 3) {
            fprintf(stderr, "usage: %s [--prometheus-names] [PORT [SECONDS [MAX_REQUESTS]]]\n", argv[0]);
            return 64;
        } else {
            int v = atoi(argv[i]);
            if (argi == 0) port = v;
            else if (argi == 1) seconds = v;
            else max_requests = v;
            argi++;
        }
    }
    if (port < 0 || port > 65535 || seconds < 0 || max_requests < 0) {
        fprintf(stderr, "bad arguments\n");
        return 64;
    }

    memset(&sa, 0, sizeof sa); /* a client that hangs up must not kill the server */
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);

    memset(&desc, 0, sizeof desc);
    memset(&md, 0, sizeof md);
    desc.metrics_names = prom_names ? GCACHE_METRICS_PROMETHEUS : GCACHE_METRICS_REFERENCE;
    rc = gcache_remote_memory(&md, &desc.remote);
    if (rc == GCACHE_OK) rc = gcache_create(&desc, &t.gc);
    if (rc != GCACHE_OK) {
        fprintf(stderr, "gcache: %s\n", gcache_strerror(rc));
        return 1;
    }
    memset(&ud, 0, sizeof ud);
    ud.name = "GetUser";
    ud.key_type = "user_id";
    ud.track_for_invalidation = 1;
    ud.default_config.ttl_sec[GCACHE_LOCAL] = 2;
    ud.default_config.ttl_sec[GCACHE_REMOTE] = 30;
    ud.default_config.ramp[GCACHE_LOCAL] = 100;
    ud.default_config.ramp[GCACHE_REMOTE] = 100;
    ud.default_config.negative_ttl_sec = 1;
    rc = gcache_register(t.gc, &ud, &t.get_user);
    ud.name = "GetOrder";
    ud.key_type = "order_id";
    ud.track_for_invalidation = 0;
    ud.default_config.ramp[GCACHE_LOCAL] = 50; /* half of the keys, to show ramped_down */
    if (rc == GCACHE_OK) rc = gcache_register(t.gc, &ud, &t.get_order);
    if (rc != GCACHE_OK) {
        fprintf(stderr, "gcache_register: %s\n", gcache_strerror(rc));
        return 1;
    }

    lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (lfd < 0) {
        perror("socket");
        return 1;
    }
    i = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &i, sizeof i);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(lfd, 16) != 0 ||
        getsockname(lfd, (struct sockaddr *)&addr, &alen) != 0) {
        perror("bind/listen on 127.0.0.1");
        return 1;
    }
    printf("listening on http://127.0.0.1:%d/metrics\n", ntohs(addr.sin_port));
    fflush(stdout);

    pthread_mutex_init(&t.lock, NULL);
    t.stop = 0;
    if (pthread_create(&th, NULL, traffic_main, &t) != 0) {
        fprintf(stderr, "pthread_create failed\n");
        return 1;
    }

    start = mono_sec();
    while ((seconds == 0 || mono_sec() - start < (double)seconds) &&
           (max_requests == 0 || served < max_requests)) {
        struct pollfd p;
        int cfd;
        p.fd = lfd;
        p.events = POLLIN;
        p.revents = 0;
        if (poll(&p, 1, 200) <= 0) continue;
        cfd = accept(lfd, NULL, NULL);
        if (cfd < 0) continue;
        serve_one(cfd, t.gc);
        close(cfd);
        served++;
    }
    close(lfd);

    pthread_mutex_lock(&t.lock);
    t.stop = 1;
    pthread_mutex_unlock(&t.lock);
    pthread_join(th, NULL);
    pthread_mutex_destroy(&t.lock);
    printf("served %d requests in %.1f s\n", served, mono_sec() - start);
    gcache_destroy(t.gc);
    return 0;
}
