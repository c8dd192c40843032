/* examples/gcache_inspect.c -- gcache-inspect, an operator's look into a gcache Redis.

   gcache-inspect [--host IP] [--port N] [--socket PATH] [--db N] [--user NAME]
                  [--password PW] [--prefix URN] [--channel NAME] [--timeout-ms N]
                  COMMAND [ARGS]

   Commands (run `gcache-inspect --help` for the long form):
     key USE_CASE KEY_TYPE ID [--tracked] [name=value ...]   print the key gcache builds
     show KEY                                     decode the entry stored under KEY
     invalidate KEY_TYPE ID [--future-buffer-ms N]  write (and publish) a watermark
     flush --prefix URN                           delete every key and watermark under URN

   Exit codes: 0 done, 1 no such entry, 2 server unreachable (or refused the
   command), 3 corrupt entry or malformed watermark, 64 bad arguments.

   Build: cc -O2 -pthread examples/gcache_inspect.c -lhiredis -o gcache-inspect
*/
#define GCACHE_IMPLEMENTATION
#include "../gcache.h" /* first: it sets the POSIX feature macros it needs */
#define GCACHE_REDIS_IMPLEMENTATION
#include "../gcache_redis.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

enum { EXIT_DONE = 0, EXIT_MISSING = 1, EXIT_UNREACHABLE = 2, EXIT_CORRUPT = 3, EXIT_USAGE = 64 };

typedef struct options {
    const char *host, *socket_path, *user, *password, *prefix, *channel;
    int port, db, timeout_ms, prefix_given, tracked, have_buffer;
    long long future_buffer_ms;
    int npos;
    const char *pos[64]; /* the command and its positional arguments */
} options;

static const char *usage_text =
    "usage: gcache-inspect [--host IP] [--port N] [--socket PATH] [--db N] [--user NAME]\n"
    "                      [--password PW] [--prefix URN] [--channel NAME] [--timeout-ms N]\n"
    "                      COMMAND [ARGS]\n"
    "Commands: key, show, invalidate, flush (gcache-inspect --help explains them)\n";

static const char *help_text =
    "gcache-inspect -- look into the Redis that gcache instances share.\n"
    "\n"
    "Connection options (before or after the command):\n"
    "  --host IP          Redis server address, numeric (default 127.0.0.1)\n"
    "  --port N           Redis port (default 6379)\n"
    "  --socket PATH      connect over a Unix socket instead\n"
    "  --db N             SELECT this database (default 0)\n"
    "  --user NAME        ACL user name (with --password)\n"
    "  --password PW      AUTH with this password\n"
    "  --prefix URN       the instances' urn_prefix (default \"urn\")\n"
    "  --channel NAME     invalidation channel (default gcache:invalidate)\n"
    "  --timeout-ms N     connect and command timeout (default 2000)\n"
    "\n"
    "Commands:\n"
    "  key USE_CASE KEY_TYPE ID [--tracked] [name=value ...]\n"
    "      Print the key gcache builds for a use case, an id and its args, exactly as the\n"
    "      library does (args sorted, special bytes %XX-escaped, {...} hash tag when the\n"
    "      use case is --tracked for invalidation). Needs no server. Example:\n"
    "        gcache-inspect key GetUser user_id 327 --tracked page=2\n"
    "        -> {urn:user_id:327}?page=2#GetUser\n"
    "\n"
    "  show KEY\n"
    "      Read KEY and decode its envelope: created-at (ISO time and ms), age, the TTL\n"
    "      left in Redis, flags (negative = a cached \"not found\"), payload size, whether\n"
    "      the CRC-32C checksum matches, and a hex/ASCII preview of the payload. For a\n"
    "      tracked key ({...}) it also reads the watermark and says whether the entry is\n"
    "      stale (watermark >= created-at: gcache treats it as a miss).\n"
    "\n"
    "  invalidate KEY_TYPE ID [--future-buffer-ms N]\n"
    "      What gcache_invalidate does: write the watermark {URN:KEY_TYPE:ID}#watermark =\n"
    "      now + N ms and publish it, so every tracked entry of that id, in every use case,\n"
    "      is stale in Redis and in the local layers that listen.\n"
    "\n"
    "  flush --prefix URN\n"
    "      Delete every key and watermark under \"URN:\" and \"{URN:\" (SCAN + UNLINK,\n"
    "      never FLUSHALL). Prefixes that extend URN (e.g. URN:x) go too. The prefix must\n"
    "      be given explicitly.\n"
    "\n"
    "Exit codes: 0 done, 1 no such entry, 2 server unreachable or refused the command,\n"
    "3 corrupt entry or malformed watermark, 64 bad arguments.\n";

static int usage_error(const char *msg, const char *arg) {
    if (arg) fprintf(stderr, "gcache-inspect: %s: %s\n", msg, arg);
    else fprintf(stderr, "gcache-inspect: %s\n", msg);
    fputs(usage_text, stderr);
    return EXIT_USAGE;
}

static int parse_int(const char *s, long long lo, long long hi, long long *out) {
    char *end;
    long long v;
    if (!s || !*s) return 0;
    v = strtoll(s, &end, 10);
    if (*end || v < lo || v > hi) return 0;
    *out = v;
    return 1;
}

/* Returns -1 to go on, else an exit code. */
static int parse_args(int argc, char **argv, options *o) {
    int i, only_positional = 0;
    memset(o, 0, sizeof *o);
    o->host = "127.0.0.1";
    o->port = 6379;
    o->prefix = "urn";
    o->timeout_ms = 2000;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long long n;
        if (!only_positional && a[0] == '-' && a[1] == '-') {
            if (!strcmp(a, "--")) { only_positional = 1; continue; }
            if (!strcmp(a, "--help")) { fputs(help_text, stdout); return EXIT_DONE; }
            if (!strcmp(a, "--tracked")) { o->tracked = 1; continue; }
            if (!v) return usage_error("option needs a value", a);
            if (!strcmp(a, "--host")) o->host = v;
            else if (!strcmp(a, "--socket")) o->socket_path = v;
            else if (!strcmp(a, "--user")) o->user = v;
            else if (!strcmp(a, "--password")) o->password = v;
            else if (!strcmp(a, "--prefix")) { o->prefix = v; o->prefix_given = 1; }
            else if (!strcmp(a, "--channel")) o->channel = v;
            else if (!strcmp(a, "--port")) {
                if (!parse_int(v, 1, 65535, &n)) return usage_error("bad port", v);
                o->port = (int)n;
            } else if (!strcmp(a, "--db")) {
                if (!parse_int(v, 0, 1000000, &n)) return usage_error("bad database number", v);
                o->db = (int)n;
            } else if (!strcmp(a, "--timeout-ms")) {
                if (!parse_int(v, 1, 3600000, &n)) return usage_error("bad timeout", v);
                o->timeout_ms = (int)n;
            } else if (!strcmp(a, "--future-buffer-ms")) {
                if (!parse_int(v, 0, 1000000000000LL, &n)) return usage_error("bad --future-buffer-ms", v);
                o->future_buffer_ms = n;
                o->have_buffer = 1;
            } else {
                return usage_error("unknown option", a);
            }
            i++;
            continue;
        }
        if (!only_positional && !strcmp(a, "-h")) { fputs(help_text, stdout); return EXIT_DONE; }
        if (o->npos == (int)(sizeof o->pos / sizeof o->pos[0])) return usage_error("too many arguments", NULL);
        o->pos[o->npos++] = a;
    }
    if (o->npos == 0) return usage_error("no command given", NULL);
    return -1;
}

/* ---- time ------------------------------------------------------------------------------ */
static long long wall_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void iso_time(long long ms, char *out, size_t cap) {
    time_t secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    struct tm tm;
    char day[40];
    if (!gmtime_r(&secs, &tm) || strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
        snprintf(out, cap, "(out of range)");
        return;
    }
    snprintf(out, cap, "%s.%03dZ", day, (int)(((ms % 1000) + 1000) % 1000));
}

/* ---- Redis ------------------------------------------------------------------------------- */
static redisContext *connect_redis(const options *o) {
    struct timeval tv;
    redisContext *c;
    redisReply *r;
    tv.tv_sec = o->timeout_ms / 1000;
    tv.tv_usec = (o->timeout_ms % 1000) * 1000;
    c = o->socket_path ? redisConnectUnixWithTimeout(o->socket_path, tv)
                       : redisConnectWithTimeout(o->host, o->port, tv);
    if (!c || c->err) {
        if (o->socket_path) fprintf(stderr, "gcache-inspect: cannot reach Redis at %s: %s\n", o->socket_path,
                                    c ? c->errstr : "out of memory");
        else fprintf(stderr, "gcache-inspect: cannot reach Redis at %s:%d: %s\n", o->host, o->port,
                     c ? c->errstr : "out of memory");
        if (c) redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    if (o->password) {
        r = o->user ? (redisReply *)redisCommand(c, "AUTH %s %s", o->user, o->password)
                    : (redisReply *)redisCommand(c, "AUTH %s", o->password);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            fprintf(stderr, "gcache-inspect: AUTH refused: %s\n", r ? r->str : c->errstr);
            if (r) freeReplyObject(r);
            redisFree(c);
            return NULL;
        }
        freeReplyObject(r);
    }
    r = o->db ? (redisReply *)redisCommand(c, "SELECT %d", o->db) : (redisReply *)redisCommand(c, "PING");
    if (!r || r->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "gcache-inspect: Redis refused %s: %s\n", o->db ? "SELECT" : "PING", r ? r->str : c->errstr);
        if (r) freeReplyObject(r);
        redisFree(c);
        return NULL;
    }
    freeReplyObject(r);
    return c;
}

/* GET: 1 found (value malloc'd into *out), 0 missing, -1 error (printed). */
static int redis_get(redisContext *c, const char *key, size_t klen, char **out, size_t *len) {
    redisReply *r = (redisReply *)redisCommand(c, "GET %b", key, klen);
    if (!r || r->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "gcache-inspect: GET failed: %s\n", r ? r->str : c->errstr);
        if (r) freeReplyObject(r);
        return -1;
    }
    if (r->type != REDIS_REPLY_STRING) {
        freeReplyObject(r);
        return 0;
    }
    *out = (char *)malloc(r->len + 1);
    if (!*out) {
        freeReplyObject(r);
        return -1;
    }
    memcpy(*out, r->str, r->len);
    (*out)[r->len] = '\0';
    *len = r->len;
    freeReplyObject(r);
    return 1;
}

static long long redis_pttl(redisContext *c, const char *key, size_t klen) {
    redisReply *r = (redisReply *)redisCommand(c, "PTTL %b", key, klen);
    long long v = -3;
    if (r && r->type == REDIS_REPLY_INTEGER) v = r->integer;
    if (r) freeReplyObject(r);
    return v;
}

static void print_ttl(const char *label, long long pttl) {
    if (pttl >= 0) printf("%-12s %.3f s left in Redis\n", label, (double)pttl / 1000.0);
    else if (pttl == -1) printf("%-12s none (the key never expires)\n", label);
}

/* A gcache remote over the same connection settings, for invalidate and flush. */
static int make_instance(const options *o, gcache **gc) {
    gcache_redis_desc rd;
    gcache_desc d;
    int rc;
    memset(&rd, 0, sizeof rd);
    rd.host = o->socket_path ? NULL : o->host;
    rd.port = o->port;
    rd.unix_path = o->socket_path;
    rd.db = o->db;
    rd.username = o->user;
    rd.password = o->password;
    rd.connect_timeout_ms = o->timeout_ms;
    rd.command_timeout_ms = o->timeout_ms;
    rd.pool_size = 1;
    rd.channel = o->channel;
    memset(&d, 0, sizeof d);
    d.urn_prefix = o->prefix;
    rc = gcache_redis_create(&rd, &d.remote);
    if (rc != GCACHE_OK) {
        fprintf(stderr, "gcache-inspect: Redis backend: %s\n", gcache_strerror(rc));
        return rc == GCACHE_EINVAL ? EXIT_USAGE : EXIT_UNREACHABLE;
    }
    rc = gcache_create(&d, gc);
    if (rc != GCACHE_OK) {
        if (d.remote.destroy) d.remote.destroy(d.remote.ctx);
        fprintf(stderr, "gcache-inspect: %s (prefix \"%s\")\n", gcache_strerror(rc), o->prefix);
        return rc == GCACHE_EINVAL ? EXIT_USAGE : EXIT_UNREACHABLE;
    }
    return EXIT_DONE;
}

/* ---- key --------------------------------------------------------------------------------- */
static int cmd_key(const options *o) {
    gcache *gc = NULL;
    gcache_desc d;
    gcache_use_case_desc ud;
    gcache_use_case *uc = NULL;
    gcache_key k;
    const char *s;
    int i, rc;
    if (o->npos < 4) return usage_error("usage: key USE_CASE KEY_TYPE ID [--tracked] [name=value ...]", NULL);
    memset(&d, 0, sizeof d);
    d.urn_prefix = o->prefix;
    rc = gcache_create(&d, &gc);
    if (rc != GCACHE_OK) return usage_error("bad --prefix (allowed: A-Z a-z 0-9 _ . : -)", o->prefix);
    memset(&ud, 0, sizeof ud);
    ud.name = o->pos[1];
    ud.key_type = o->pos[2];
    ud.track_for_invalidation = o->tracked;
    rc = gcache_register(gc, &ud, &uc);
    if (rc != GCACHE_OK) {
        gcache_destroy(gc);
        return usage_error("bad use case or key type (allowed: A-Z a-z 0-9 _ . -; not \"watermark\")", gcache_strerror(rc));
    }
    gcache_key_init(&k, uc, o->pos[3]);
    for (i = 4; i < o->npos; i++) {
        const char *eq = strchr(o->pos[i], '=');
        char name[GCACHE_KEY_MAX + 1];
        size_t nl;
        if (!eq) {
            gcache_destroy(gc);
            return usage_error("args are name=value", o->pos[i]);
        }
        nl = (size_t)(eq - o->pos[i]);
        if (nl > GCACHE_KEY_MAX) nl = GCACHE_KEY_MAX;
        memcpy(name, o->pos[i], nl);
        name[nl] = '\0';
        gcache_key_add(&k, name, eq + 1);
    }
    s = gcache_key_str(&k, NULL);
    if (!s) {
        rc = gcache_key_error(&k);
        gcache_destroy(gc);
        return usage_error("cannot build this key (too long, too many or duplicate args)", gcache_strerror(rc));
    }
    printf("%s\n", s);
    gcache_destroy(gc);
    return EXIT_DONE;
}

/* ---- show -------------------------------------------------------------------------------- */
static void preview(const unsigned char *p, size_t len) {
    size_t off, i, shown = len < 64 ? len : 64;
    for (off = 0; off < shown; off += 16) {
        printf("  %04lx  ", (unsigned long)off);
        for (i = off; i < off + 16; i++) {
            if (i < shown) printf("%02x ", p[i]);
            else printf("   ");
        }
        printf(" |");
        for (i = off; i < off + 16 && i < shown; i++) putchar(p[i] >= 0x20 && p[i] < 0x7f ? p[i] : '.');
        printf("|\n");
    }
    if (shown < len) printf("  ... %lu more bytes\n", (unsigned long)(len - shown));
}

static unsigned long long read_le(const unsigned char *p, int n) {
    unsigned long long v = 0;
    int i;
    for (i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* Says what is wrong with an envelope gcache_envelope_read refused, printing the
   header fields that can be read. */
static void explain_corrupt(const unsigned char *v, size_t len) {
    unsigned long long plen;
    unsigned int crc_stored, crc_real;
    char when[48];
    if (len < GCACHE_ENVELOPE_HEADER) {
        printf("envelope:    CORRUPT: %lu bytes, shorter than the %d-byte header\n", (unsigned long)len,
               GCACHE_ENVELOPE_HEADER);
        preview(v, len);
        return;
    }
    if (v[0] != 'G' || v[1] != 'C') {
        printf("envelope:    CORRUPT: bad magic %02x %02x (want \"GC\"): not written by gcache for C\n", v[0], v[1]);
        preview(v, len);
        return;
    }
    printf("format:      GC version %u, flags 0x%02x%s\n", v[2], v[3], (v[3] & 1) ? " (negative entry)" : "");
    iso_time((long long)read_le(v + 4, 8), when, sizeof when);
    printf("created at:  %s (%lld ms)\n", when, (long long)read_le(v + 4, 8));
    plen = read_le(v + 12, 4);
    crc_stored = (unsigned int)read_le(v + 16, 4);
    if (v[2] != 1) printf("envelope:    CORRUPT: unknown version %u\n", v[2]);
    if (plen != len - GCACHE_ENVELOPE_HEADER)
        printf("envelope:    CORRUPT: header says %llu payload bytes, the value has %lu\n", plen,
               (unsigned long)(len - GCACHE_ENVELOPE_HEADER));
    crc_real = gcache_crc32c(0, v, 16);
    crc_real = gcache_crc32c(crc_real, v + GCACHE_ENVELOPE_HEADER, len - GCACHE_ENVELOPE_HEADER);
    if (crc_real != crc_stored)
        printf("checksum:    BAD (stored 0x%08x, computed 0x%08x)\n", crc_stored, crc_real);
    else
        printf("checksum:    ok (0x%08x)\n", crc_stored);
    if ((v[3] & 1) && len > GCACHE_ENVELOPE_HEADER)
        printf("envelope:    CORRUPT: a negative entry with a payload\n");
    printf("payload:     %lu bytes\n", (unsigned long)(len - GCACHE_ENVELOPE_HEADER));
    preview(v + GCACHE_ENVELOPE_HEADER, len - GCACHE_ENVELOPE_HEADER);
}

static int cmd_show(const options *o) {
    redisContext *c;
    const char *key;
    size_t klen, vlen = 0, wlen = 0;
    char *val = NULL, *wm = NULL;
    char when[48];
    int rc, status = EXIT_DONE, found;
    gcache_envelope env;
    long long now;

    if (o->npos != 2) return usage_error("usage: show KEY", NULL);
    key = o->pos[1];
    klen = strlen(key);
    c = connect_redis(o);
    if (!c) return EXIT_UNREACHABLE;
    found = redis_get(c, key, klen, &val, &vlen);
    if (found < 0) {
        redisFree(c);
        return EXIT_UNREACHABLE;
    }
    now = wall_now_ms();
    printf("key:         %s\n", key);
    if (found == 0) {
        printf("entry:       none (never cached, expired, deleted or flushed)\n");
        status = EXIT_MISSING;
    } else {
        printf("size:        %lu bytes in Redis\n", (unsigned long)vlen);
        print_ttl("remote ttl:", redis_pttl(c, key, klen));
        rc = gcache_envelope_read(val, vlen, &env);
        if (rc != GCACHE_OK) {
            explain_corrupt((const unsigned char *)val, vlen);
            printf("verdict:     CORRUPT: gcache counts an error (corrupt), treats it as a miss and overwrites it\n");
            status = EXIT_CORRUPT;
        } else {
            const unsigned char *v = (const unsigned char *)val;
            iso_time(env.created_at_ms, when, sizeof when);
            printf("format:      GC version %u, flags 0x%02x (%s)\n", v[2], v[3],
                   env.negative ? "negative entry: a cached \"not found\"" : "value");
            printf("created at:  %s (%lld ms)\n", when, env.created_at_ms);
            printf("age:         %.3f s\n", (double)(now - env.created_at_ms) / 1000.0);
            printf("checksum:    ok (CRC-32C 0x%08x)\n", (unsigned int)read_le(v + 16, 4));
            printf("payload:     %lu bytes\n", (unsigned long)env.payload_len);
            preview(env.payload, env.payload_len);
        }
    }

    /* Tracked keys start with the hash tag {urn:key_type:id}: its watermark lives next to it. */
    if (key[0] == '{' && strchr(key, '}')) {
        size_t head = (size_t)(strchr(key, '}') - key) + 1;
        char *wkey = (char *)malloc(head + sizeof "#watermark");
        long long wm_ms = 0;
        int wfound;
        if (!wkey) {
            redisFree(c);
            free(val);
            return EXIT_UNREACHABLE;
        }
        memcpy(wkey, key, head);
        memcpy(wkey + head, "#watermark", sizeof "#watermark");
        wfound = redis_get(c, wkey, strlen(wkey), &wm, &wlen);
        if (wfound < 0) {
            status = EXIT_UNREACHABLE;
        } else if (wfound == 0) {
            printf("watermark:   none under %s (not invalidated within the watermark TTL)\n", wkey);
            if (found && status == EXIT_DONE) printf("verdict:     fresh (no watermark)\n");
        } else if (gcache_watermark_parse(wm, wlen, &wm_ms) != GCACHE_OK) {
            printf("watermark:   MALFORMED value \"%.*s\" under %s: gcache fails open (fetches, stores nothing)\n",
                   (int)(wlen > 60 ? 60 : wlen), wm, wkey);
            status = EXIT_CORRUPT;
        } else {
            long long wttl = redis_pttl(c, wkey, strlen(wkey));
            iso_time(wm_ms, when, sizeof when);
            printf("watermark:   %s = %lld (%s)", wkey, wm_ms, when);
            if (wttl >= 0) printf(", %.3f s left in Redis", (double)wttl / 1000.0);
            printf("\n");
            if (found && status == EXIT_DONE) {
                if (wm_ms >= env.created_at_ms)
                    printf("verdict:     STALE: watermark >= created-at, gcache treats the entry as a miss\n");
                else
                    printf("verdict:     fresh: created %.3f s after the watermark\n",
                           (double)(env.created_at_ms - wm_ms) / 1000.0);
            }
        }
        free(wkey);
    } else if (found && status == EXIT_DONE) {
        printf("watermark:   not tracked (the key has no {...} hash tag)\n");
        printf("verdict:     served until its TTL runs out\n");
    }
    free(wm);
    free(val);
    redisFree(c);
    return status;
}

/* ---- invalidate ------------------------------------------------------------------------ */
/* The id escaping of gcache keys: % ? & = # { }, controls and 0x7f as %XX. */
static void escape_id(const char *id, char *out, size_t cap) {
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *id && o + 4 < cap; id++) {
        unsigned char b = (unsigned char)*id;
        if (b < 0x20 || b == 0x7f || strchr("%?&=#{}", b)) {
            out[o++] = '%';
            out[o++] = hex[b >> 4];
            out[o++] = hex[b & 15];
        } else {
            out[o++] = (char)b;
        }
    }
    out[o] = '\0';
}

static int cmd_invalidate(const options *o) {
    gcache *gc = NULL;
    redisContext *c;
    char escaped[3 * GCACHE_KEY_MAX + 1], wkey[4 * GCACHE_KEY_MAX], *wm = NULL, when[48];
    size_t wlen = 0;
    long long wm_ms = 0;
    int rc, status;
    if (o->npos != 3) return usage_error("usage: invalidate KEY_TYPE ID [--future-buffer-ms N]", NULL);
    c = connect_redis(o); /* a clear message when the server is not there */
    if (!c) return EXIT_UNREACHABLE;
    status = make_instance(o, &gc);
    if (status != EXIT_DONE) {
        redisFree(c);
        return status;
    }
    rc = gcache_invalidate(gc, o->pos[1], o->pos[2], o->future_buffer_ms);
    gcache_destroy(gc);
    if (rc != GCACHE_OK) {
        fprintf(stderr, "gcache-inspect: invalidate failed: %s\n", gcache_strerror(rc));
        redisFree(c);
        return rc == GCACHE_EINVAL ? EXIT_USAGE : EXIT_UNREACHABLE;
    }
    escape_id(o->pos[2], escaped, sizeof escaped);
    snprintf(wkey, sizeof wkey, "{%s:%s:%s}#watermark", o->prefix, o->pos[1], escaped);
    if (redis_get(c, wkey, strlen(wkey), &wm, &wlen) == 1 && gcache_watermark_parse(wm, wlen, &wm_ms) == GCACHE_OK) {
        iso_time(wm_ms, when, sizeof when);
        printf("invalidated %s:%s: %s = %lld (%s), published on the invalidation channel\n", o->pos[1],
               escaped, wkey, wm_ms, when);
    } else {
        printf("invalidated %s:%s (watermark %s)\n", o->pos[1], escaped, wkey);
    }
    free(wm);
    redisFree(c);
    return EXIT_DONE;
}

/* ---- flush ------------------------------------------------------------------------------- */
static long long dbsize(redisContext *c) {
    redisReply *r = (redisReply *)redisCommand(c, "DBSIZE");
    long long v = -1;
    if (r && r->type == REDIS_REPLY_INTEGER) v = r->integer;
    if (r) freeReplyObject(r);
    return v;
}

static int cmd_flush(const options *o) {
    gcache *gc = NULL;
    redisContext *c;
    long long before, after;
    int rc, status;
    if (o->npos != 1) return usage_error("usage: flush --prefix URN", NULL);
    if (!o->prefix_given)
        return usage_error("flush needs an explicit --prefix URN (it deletes every gcache key under it)", NULL);
    c = connect_redis(o);
    if (!c) return EXIT_UNREACHABLE;
    status = make_instance(o, &gc);
    if (status != EXIT_DONE) {
        redisFree(c);
        return status;
    }
    before = dbsize(c);
    rc = gcache_flush(gc);
    after = dbsize(c);
    gcache_destroy(gc);
    redisFree(c);
    if (rc != GCACHE_OK) {
        fprintf(stderr, "gcache-inspect: flush failed: %s\n", gcache_strerror(rc));
        return EXIT_UNREACHABLE;
    }
    printf("flushed keys and watermarks under \"%s:\" and \"{%s:\"", o->prefix, o->prefix);
    if (before >= 0 && after >= 0 && before >= after) printf(" (%lld keys gone from the database)", before - after);
    printf("\n");
    return EXIT_DONE;
}

int main(int argc, char **argv) {
    options o;
    int rc = parse_args(argc, argv, &o);
    if (rc >= 0) return rc;
    if (!strcmp(o.pos[0], "key")) return cmd_key(&o);
    if (!strcmp(o.pos[0], "show")) return cmd_show(&o);
    if (!strcmp(o.pos[0], "invalidate")) return cmd_invalidate(&o);
    if (!strcmp(o.pos[0], "flush")) return cmd_flush(&o);
    if (!strcmp(o.pos[0], "help")) {
        fputs(help_text, stdout);
        return EXIT_DONE;
    }
    return usage_error("unknown command", o.pos[0]);
}
