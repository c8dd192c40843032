/* fault_remote.h -- a fault-injecting gcache_remote that wraps any other backend.

   Header-only test helper (include it after gcache.h in a test program):

       gcache_fault_desc fd; memset(&fd, 0, sizeof fd);
       fd.error_rate = 0.1; fd.timeout_rate = 0.1; fd.corrupt_rate = 0.1; fd.seed = 42;
       gcache_remote faulty;
       gcache_fault_wrap(inner, &fd, &faulty);   // faulty owns inner: destroy destroys both

   Each call of mget, set, del, flush_prefix and publish draws from one seeded PRNG
   (under a lock, so it is thread-safe and the sequence of draws is reproducible in a
   single-threaded test):
   - error_rate:   the call returns GCACHE_EBACKEND without reaching the inner backend;
   - timeout_rate: the call returns GCACHE_ETIMEOUT after sleeping timeout_sleep_us; half
                   of the timeouts happen after the inner call ran (a write that timed out
                   may have landed, as with a real server);
   - corrupt_rate: (mget only) the first value of the reply (or every value with
                   corrupt_all_values) comes back with 1-3 random bits flipped or truncated
                   to a random shorter length. Only the first value by default: the second
                   key of a tracked read is a watermark, which has no checksum, and a
                   corrupted watermark can turn into a smaller valid one;
   - latency_rate / latency_us: the call first sleeps latency_us.
   subscribe is passed through untouched (never faulted); with no_pubsub the wrapper has
   no publish/subscribe at all even if the inner backend does.
   gcache_fault_set_rates() changes the rates at run time (e.g. heal a dead backend);
   gcache_fault_get_counts() reads what was injected and how many calls were made, and
   records the last set (key, value length, ttl) and the last mget (n, keys) for tests
   that spy on the core. */
#ifndef GCACHE_FAULT_REMOTE_H
#define GCACHE_FAULT_REMOTE_H

#include "gcache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct gcache_fault_desc {
    double error_rate;         /* 0..1 */
    double timeout_rate;       /* 0..1 */
    double corrupt_rate;       /* 0..1, mget replies only */
    double latency_rate;       /* 0..1: this share of calls first sleeps latency_us */
    unsigned latency_us;
    unsigned timeout_sleep_us; /* how long a timeout takes (0 = fail at once) */
    unsigned long long seed;   /* 0 = a fixed default seed */
    int corrupt_all_values;    /* 1: corrupt any value of an mget, not only the first */
    int no_pubsub;             /* 1: hide the inner backend's publish/subscribe */
} gcache_fault_desc;

typedef struct gcache_fault_counts {
    unsigned long long mget_calls, set_calls, del_calls, flush_calls, publish_calls, subscribe_calls;
    unsigned long long inner_calls; /* calls that reached the inner backend */
    unsigned long long errors, timeouts, corruptions, delays;
    unsigned long long replies, releases; /* mget replies handed out / released */
    /* spy */
    char last_set_key[600];
    size_t last_set_key_len, last_set_val_len;
    int last_set_ttl;
    size_t last_mget_n;
    char last_mget_keys[2][600];
    size_t last_mget_key_len[2];
    char last_del_key[600];
    size_t last_del_key_len;
    char last_flush_prefix[2][600]; /* the last two flush_prefix calls, oldest first */
    size_t last_flush_prefix_len[2];
} gcache_fault_counts;

typedef struct gcache_fault__ctx {
    gcache_remote inner;
    gcache_fault_desc d;
    pthread_mutex_t mu;
    unsigned long long rng;
    gcache_fault_counts counts;
} gcache_fault__ctx;

/* What the wrapper hands out as *reply: the inner reply plus our corrupted copies. */
typedef struct gcache_fault__reply {
    void *inner_reply;
    size_t n;
    char *copies[1]; /* n entries (over-allocated) */
} gcache_fault__reply;

enum { GCACHE_FAULT__NONE = 0, GCACHE_FAULT__ERROR, GCACHE_FAULT__TIMEOUT_BEFORE, GCACHE_FAULT__TIMEOUT_AFTER,
       GCACHE_FAULT__CORRUPT };

static inline unsigned long long gcache_fault__next(gcache_fault__ctx *f) { /* splitmix64, under f->mu */
    unsigned long long z = (f->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline double gcache_fault__unit(gcache_fault__ctx *f) {
    return (double)(gcache_fault__next(f) >> 11) / 9007199254740992.0;
}

static inline void gcache_fault__sleep_us(unsigned us) {
    struct timespec ts;
    if (!us) return;
    ts.tv_sec = (time_t)(us / 1000000u);
    ts.tv_nsec = (long)(us % 1000000u) * 1000L;
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static inline void gcache_fault__copy(char *dst, size_t cap, size_t *dst_len, const char *src, size_t len) {
    if (len > cap) len = cap;
    if (len && src) memcpy(dst, src, len);
    *dst_len = len;
}

/* Decide the fault for one call (and count it); is_mget allows corruption. Also returns
   whether to sleep first. */
static inline int gcache_fault__decide(gcache_fault__ctx *f, int is_mget, unsigned *sleep_us) {
    int kind = GCACHE_FAULT__NONE;
    double x;
    *sleep_us = 0;
    pthread_mutex_lock(&f->mu);
    if (f->d.latency_rate > 0 && gcache_fault__unit(f) < f->d.latency_rate) {
        *sleep_us = f->d.latency_us;
        f->counts.delays++;
    }
    x = gcache_fault__unit(f);
    if (x < f->d.error_rate) {
        kind = GCACHE_FAULT__ERROR;
        f->counts.errors++;
    } else if (x < f->d.error_rate + f->d.timeout_rate) {
        kind = (gcache_fault__next(f) & 1) ? GCACHE_FAULT__TIMEOUT_AFTER : GCACHE_FAULT__TIMEOUT_BEFORE;
        f->counts.timeouts++;
    } else if (is_mget && x < f->d.error_rate + f->d.timeout_rate + f->d.corrupt_rate) {
        kind = GCACHE_FAULT__CORRUPT; /* counted when a value was actually corrupted */
    }
    if (kind != GCACHE_FAULT__ERROR && kind != GCACHE_FAULT__TIMEOUT_BEFORE) f->counts.inner_calls++;
    pthread_mutex_unlock(&f->mu);
    return kind;
}

static inline int gcache_fault__finish(gcache_fault__ctx *f, int kind, unsigned sleep_before) {
    (void)f;
    gcache_fault__sleep_us(sleep_before);
    if (kind == GCACHE_FAULT__ERROR) return GCACHE_EBACKEND;
    if (kind == GCACHE_FAULT__TIMEOUT_BEFORE) {
        gcache_fault__sleep_us(f->d.timeout_sleep_us);
        return GCACHE_ETIMEOUT;
    }
    return 0;
}

/* ---- vtable ------------------------------------------------------------------------ */
static inline int gcache_fault__mget(void *ctx, const gcache_slice *keys, size_t n, gcache_slice *vals, void **reply) {
    gcache_fault__ctx *f = (gcache_fault__ctx *)ctx;
    unsigned sl;
    int kind, rc;
    void *inner_reply = NULL;
    gcache_fault__reply *r;
    size_t i;
    pthread_mutex_lock(&f->mu);
    f->counts.mget_calls++;
    f->counts.last_mget_n = n;
    for (i = 0; i < n && i < 2; i++)
        gcache_fault__copy(f->counts.last_mget_keys[i], sizeof f->counts.last_mget_keys[i],
                           &f->counts.last_mget_key_len[i], keys[i].ptr, keys[i].len);
    pthread_mutex_unlock(&f->mu);
    *reply = NULL;
    kind = gcache_fault__decide(f, 1, &sl);
    rc = gcache_fault__finish(f, kind, sl);
    if (rc != 0) return rc;
    rc = f->inner.mget(f->inner.ctx, keys, n, vals, &inner_reply);
    if (rc != 0) return rc;
    if (kind == GCACHE_FAULT__TIMEOUT_AFTER) {
        if (inner_reply && f->inner.release) f->inner.release(f->inner.ctx, inner_reply);
        gcache_fault__sleep_us(f->d.timeout_sleep_us);
        return GCACHE_ETIMEOUT;
    }
    r = (gcache_fault__reply *)calloc(1, sizeof *r + n * sizeof(char *));
    if (!r) {
        if (inner_reply && f->inner.release) f->inner.release(f->inner.ctx, inner_reply);
        return GCACHE_ENOMEM;
    }
    r->inner_reply = inner_reply;
    r->n = n;
    if (kind == GCACHE_FAULT__CORRUPT) {
        for (i = 0; i < n; i++) {
            unsigned long long a, b, c;
            char *copy;
            size_t len = vals[i].len;
            if (vals[i].ptr == NULL || (i > 0 && !f->d.corrupt_all_values)) continue;
            pthread_mutex_lock(&f->mu);
            a = gcache_fault__next(f);
            b = gcache_fault__next(f);
            c = gcache_fault__next(f);
            f->counts.corruptions++;
            pthread_mutex_unlock(&f->mu);
            copy = (char *)malloc(len ? len : 1);
            if (!copy) continue;
            if (len) memcpy(copy, vals[i].ptr, len);
            if (len == 0) {
                /* nothing to flip in an empty value: leave it (it is still "present") */
            } else if ((a & 3) == 0) {
                len = (size_t)(b % len); /* truncate to a shorter length (maybe 0) */
            } else {
                int flips = 1 + (int)(a % 3), k;
                for (k = 0; k < flips; k++) {
                    unsigned long long bit = (k == 0 ? b : k == 1 ? c : (b ^ (c >> 17))) % ((unsigned long long)len * 8u);
                    copy[bit / 8] = (char)(copy[bit / 8] ^ (1 << (bit % 8)));
                }
            }
            r->copies[i] = copy;
            vals[i].ptr = copy;
            vals[i].len = len;
        }
    }
    pthread_mutex_lock(&f->mu);
    f->counts.replies++;
    pthread_mutex_unlock(&f->mu);
    *reply = r;
    return 0;
}

static inline void gcache_fault__release(void *ctx, void *reply) {
    gcache_fault__ctx *f = (gcache_fault__ctx *)ctx;
    gcache_fault__reply *r = (gcache_fault__reply *)reply;
    size_t i;
    if (!r) return;
    if (r->inner_reply && f->inner.release) f->inner.release(f->inner.ctx, r->inner_reply);
    for (i = 0; i < r->n; i++) free(r->copies[i]);
    free(r);
    pthread_mutex_lock(&f->mu);
    f->counts.releases++;
    pthread_mutex_unlock(&f->mu);
}

/* The common shape of set/del/flush_prefix/publish: fault, maybe the inner call, fault. */
#define GCACHE_FAULT__WRAP_CALL(f, inner_call)                           \
    do {                                                                 \
        unsigned gcache_fault__sl;                                       \
        int gcache_fault__kind = gcache_fault__decide(f, 0, &gcache_fault__sl); \
        int gcache_fault__rc = gcache_fault__finish(f, gcache_fault__kind, gcache_fault__sl); \
        if (gcache_fault__rc != 0) return gcache_fault__rc;              \
        gcache_fault__rc = (inner_call);                                 \
        if (gcache_fault__rc == 0 && gcache_fault__kind == GCACHE_FAULT__TIMEOUT_AFTER) { \
            gcache_fault__sleep_us((f)->d.timeout_sleep_us);             \
            return GCACHE_ETIMEOUT;                                      \
        }                                                                \
        return gcache_fault__rc;                                         \
    } while (0)

static inline int gcache_fault__set(void *ctx, gcache_slice key, gcache_slice val, int ttl_sec) {
    gcache_fault__ctx *f = (gcache_fault__ctx *)ctx;
    pthread_mutex_lock(&f->mu);
    f->counts.set_calls++;
    gcache_fault__copy(f->counts.last_set_key, sizeof f->counts.last_set_key, &f->counts.last_set_key_len, key.ptr,
                       key.len);
    f->counts.last_set_val_len = val.len;
    f->counts.last_set_ttl = ttl_sec;
    pthread_mutex_unlock(&f->mu);
    GCACHE_FAULT__WRAP_CALL(f, f->inner.set(f->inner.ctx, key, val, ttl_sec));
}

static inline int gcache_fault__del(void *ctx, gcache_slice key) {
    gcache_fault__ctx *f = (gcache_fault__ctx *)ctx;
    pthread_mutex_lock(&f->mu);
    f->counts.del_calls++;
    gcache_fault__copy(f->counts.last_del_key, sizeof f->counts.last_del_key, &f->counts.last_del_key_len, key.ptr,
                       key.len);
    pthread_mutex_unlock(&f->mu);
    GCACHE_FAULT__WRAP_CALL(f, f->inner.del(f->inner.ctx, key));
}

static inline int gcache_fault__flush_prefix(void *ctx, gcache_slice prefix) {
    gcache_fault__ctx *f = (gcache_fault__ctx *)ctx;
    pthread_mutex_lock(&f->mu);
    f->counts.flush_calls++;
    memcpy(f->counts.last_flush_prefix[0], f->counts.last_flush_prefix[1], sizeof f->counts.last_flush_prefix[0]);
    f->counts.last_flush_prefix_len[0] = f->counts.last_flush_prefix_len[1];
    gcache_fault__copy(f->counts.last_flush_prefix[1], sizeof f->counts.last_flush_prefix[1],
                       &f->counts.last_flush_prefix_len[1], prefix.ptr, prefix.len);
    pthread_mutex_unlock(&f->mu);
    GCACHE_FAULT__WRAP_CALL(f, f->inner.flush_prefix(f->inner.ctx, prefix));
}

static inline int gcache_fault__publish(void *ctx, gcache_slice key_type_id, long long watermark_ms) {
    gcache_fault__ctx *f = (gcache_fault__ctx *)ctx;
    pthread_mutex_lock(&f->mu);
    f->counts.publish_calls++;
    pthread_mutex_unlock(&f->mu);
    GCACHE_FAULT__WRAP_CALL(f, f->inner.publish(f->inner.ctx, key_type_id, watermark_ms));
}

static inline int gcache_fault__subscribe(void *ctx,
                                          void (*on_invalidate)(void *u, gcache_slice key_type_id, long long watermark_ms),
                                          void *u) {
    gcache_fault__ctx *f = (gcache_fault__ctx *)ctx;
    pthread_mutex_lock(&f->mu);
    f->counts.subscribe_calls++;
    pthread_mutex_unlock(&f->mu);
    return f->inner.subscribe(f->inner.ctx, on_invalidate, u);
}

static inline void gcache_fault__destroy(void *ctx) {
    gcache_fault__ctx *f = (gcache_fault__ctx *)ctx;
    if (f->inner.destroy) f->inner.destroy(f->inner.ctx);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

/* ---- public ------------------------------------------------------------------------------ */
/* Wrap inner (taken over: out's destroy destroys it). GCACHE_EINVAL for NULL d/out or an
   inner backend without mget/set/del/flush_prefix, GCACHE_ENOMEM. */
static inline int gcache_fault_wrap(gcache_remote inner, const gcache_fault_desc *d, gcache_remote *out) {
    gcache_fault__ctx *f;
    if (!d || !out || !inner.mget || !inner.set || !inner.del || !inner.flush_prefix) return GCACHE_EINVAL;
    f = (gcache_fault__ctx *)calloc(1, sizeof *f);
    if (!f) return GCACHE_ENOMEM;
    f->inner = inner;
    f->d = *d;
    f->rng = d->seed ? d->seed : 0x5eed5eed5eedull;
    pthread_mutex_init(&f->mu, NULL);
    memset(out, 0, sizeof *out);
    out->ctx = f;
    out->name = "fault";
    out->mget = gcache_fault__mget;
    out->release = gcache_fault__release;
    out->set = gcache_fault__set;
    out->del = gcache_fault__del;
    out->flush_prefix = gcache_fault__flush_prefix;
    if (!d->no_pubsub && inner.publish && inner.subscribe) {
        out->publish = gcache_fault__publish;
        out->subscribe = gcache_fault__subscribe;
    }
    out->destroy = gcache_fault__destroy;
    return GCACHE_OK;
}

/* Change the rates (and latency) of a wrapper made by gcache_fault_wrap; the seed and the
   pub/sub choice stay. */
static inline void gcache_fault_set_rates(const gcache_remote *r, const gcache_fault_desc *d) {
    gcache_fault__ctx *f = (gcache_fault__ctx *)r->ctx;
    pthread_mutex_lock(&f->mu);
    f->d.error_rate = d->error_rate;
    f->d.timeout_rate = d->timeout_rate;
    f->d.corrupt_rate = d->corrupt_rate;
    f->d.latency_rate = d->latency_rate;
    f->d.latency_us = d->latency_us;
    f->d.timeout_sleep_us = d->timeout_sleep_us;
    f->d.corrupt_all_values = d->corrupt_all_values;
    pthread_mutex_unlock(&f->mu);
}

/* A consistent copy of the counters. */
static inline void gcache_fault_get_counts(const gcache_remote *r, gcache_fault_counts *out) {
    gcache_fault__ctx *f = (gcache_fault__ctx *)r->ctx;
    pthread_mutex_lock(&f->mu);
    *out = f->counts;
    pthread_mutex_unlock(&f->mu);
}

/* Total calls of the data operations (mget, set, del, flush_prefix, publish). */
static inline unsigned long long gcache_fault_total_calls(const gcache_remote *r) {
    gcache_fault_counts c;
    gcache_fault_get_counts(r, &c);
    return c.mget_calls + c.set_calls + c.del_calls + c.flush_calls + c.publish_calls;
}

/* The inner backend (e.g. to read what the core wrote, bypassing the faults). */
static inline gcache_remote *gcache_fault_inner(const gcache_remote *r) {
    return &((gcache_fault__ctx *)r->ctx)->inner;
}

#endif /* GCACHE_FAULT_REMOTE_H */
