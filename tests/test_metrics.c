/* tests/test_metrics.c -- the Prometheus text of gcache_metrics_prometheus.

   After traffic that produces every kind of event (local and remote hits and
   misses, "not found", fetch errors, disabled calls for each reason, key,
   backend and corrupt-entry errors, invalidations) it checks:
   - every family of DESIGN.md "Metrics" has # HELP and # TYPE lines of the right type,
     with both naming schemes (reference, GCACHE_METRICS_PROMETHEUS);
   - the counters agree with gcache_stats_get and carry the labels of the contract
     (use_case, key_type, layer LOCAL/REMOTE/GLOBAL, reason, error, in_fallback);
   - label values are escaped (\" \\ \n): gcache_invalidate takes any key_type;
   - metrics_prefix is applied to every family;
   - snprintf semantics (cap 0, exact fit, truncation with a NUL);
   - histograms: buckets from 1e-06 to 10 plus +Inf, cumulative, _sum and _count;
   - when promtool exists: `promtool check metrics` reports only "type in metric
     name" lint findings for the reference names and nothing at all for the
     Prometheus names. */
#define GCACHE_IMPLEMENTATION
#include "../gcache.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- a fake clock -------------------------------------------------------------------- */
static long long g_wall_ms = 1767225600000LL;
static unsigned long long g_mono_ns = 1000000000ULL;
static long long fake_wall(void *u) { (void)u; return g_wall_ms; }
static unsigned long long fake_mono(void *u) { (void)u; return g_mono_ns; }
static void advance_ms(long long ms) {
    g_wall_ms += ms;
    g_mono_ns += (unsigned long long)ms * 1000000ULL;
}
static gcache_clock fake_clock(void) {
    gcache_clock c;
    memset(&c, 0, sizeof c);
    c.wall_ms_fn = fake_wall;
    c.mono_ns_fn = fake_mono;
    return c;
}

/* ---- fetch and provider ------------------------------------------------------------------ */
enum { FETCH_OK, FETCH_NOT_FOUND, FETCH_ERROR };
static int fetch(void *user, const gcache_key *key, gcache_buf *out) {
    int mode = *(const int *)user;
    (void)key;
    if (mode == FETCH_NOT_FOUND) return GCACHE_NOT_FOUND;
    if (mode == FETCH_ERROR) return GCACHE_EBACKEND;
    return gcache_buf_set(out, "value-bytes", 11);
}

static int provider(void *u, const gcache_key *key, gcache_key_config *out) {
    size_t len = 0;
    const char *s = gcache_key_str(key, &len);
    (void)u; (void)out;
    if (s && len >= 7 && strcmp(s + len - 7, "#Broken") == 0) return -1;
    return 0;
}

/* ---- a remote that always fails ---------------------------------------------------------- */
static int bad_mget(void *ctx, const gcache_slice *keys, size_t n, gcache_slice *vals, void **reply) {
    (void)ctx; (void)keys; (void)n; (void)vals;
    *reply = NULL;
    return GCACHE_EBACKEND;
}
static int bad_set(void *ctx, gcache_slice key, gcache_slice val, int ttl) {
    (void)ctx; (void)key; (void)val; (void)ttl;
    return GCACHE_EBACKEND;
}
static int bad_del(void *ctx, gcache_slice key) { (void)ctx; (void)key; return GCACHE_EBACKEND; }
static void bad_destroy(void *ctx) { (void)ctx; }

/* ---- a tiny exposition-format parser ------------------------------------------------------- */
#define MAX_LABELS 8
typedef struct sample {
    char name[160];
    int nlabels;
    char label[MAX_LABELS][32];
    char value[MAX_LABELS][160]; /* unescaped */
    double v;
} sample;

/* Parse one sample line; 0 if it is not a well-formed sample line. */
static int parse_sample(const char *line, size_t len, sample *s) {
    size_t i = 0, n = 0;
    memset(s, 0, sizeof *s);
    while (i < len && line[i] != '{' && line[i] != ' ') {
        if (n + 1 < sizeof s->name) s->name[n++] = line[i];
        i++;
    }
    if (i < len && line[i] == '{') {
        i++;
        while (i < len && line[i] != '}') {
            size_t k = 0, v = 0;
            if (s->nlabels == MAX_LABELS) return 0;
            while (i < len && line[i] != '=') {
                if (k + 1 < sizeof s->label[0]) s->label[s->nlabels][k++] = line[i];
                i++;
            }
            if (i + 1 >= len || line[i + 1] != '"') return 0;
            i += 2;
            while (i < len && line[i] != '"') {
                char c = line[i];
                if (c == '\\') {
                    if (i + 1 >= len) return 0;
                    c = line[++i];
                    if (c == 'n') c = '\n';
                    else if (c != '\\' && c != '"') return 0;
                }
                if (v + 1 < sizeof s->value[0]) s->value[s->nlabels][v++] = c;
                i++;
            }
            if (i >= len) return 0;
            i++; /* closing quote */
            s->nlabels++;
            if (i < len && line[i] == ',') i++;
        }
        if (i >= len) return 0;
        i++; /* } */
    }
    if (i >= len || line[i] != ' ') return 0;
    {
        char num[64];
        size_t m = len - i - 1 < sizeof num - 1 ? len - i - 1 : sizeof num - 1;
        char *end;
        memcpy(num, line + i + 1, m);
        num[m] = '\0';
        if (strcmp(num, "+Inf") == 0) s->v = 1e308;
        else {
            s->v = strtod(num, &end);
            if (end == num) return 0;
        }
    }
    return 1;
}

static const char *label_of(const sample *s, const char *name) {
    int i;
    for (i = 0; i < s->nlabels; i++)
        if (strcmp(s->label[i], name) == 0) return s->value[i];
    return NULL;
}

/* Does s carry every label of want ("k=v" pairs, NULL-terminated)? */
static int has_labels(const sample *s, const char *const *want) {
    for (; want && *want; want++) {
        const char *eq = strchr(*want, '=');
        char k[32];
        const char *v;
        size_t kl = (size_t)(eq - *want);
        memcpy(k, *want, kl);
        k[kl] = '\0';
        v = label_of(s, k);
        if (!v || strcmp(v, eq + 1) != 0) return 0;
    }
    return 1;
}

/* Sum of the samples named `name` that carry the labels; -1 if there is none. */
static double metric_sum(const char *text, const char *name, const char *const *want) {
    const char *p = text;
    double sum = 0;
    int found = 0;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        sample s;
        if (len > 0 && p[0] != '#' && parse_sample(p, len, &s) && strcmp(s.name, name) == 0 && has_labels(&s, want)) {
            sum += s.v;
            found = 1;
        }
        if (!nl) break;
        p = nl + 1;
    }
    return found ? sum : -1;
}

static int has_line_prefix(const char *text, const char *prefix) {
    size_t n = strlen(prefix);
    const char *p = text;
    while (*p) {
        if (strncmp(p, prefix, n) == 0) return 1;
        p = strchr(p, '\n');
        if (!p) break;
        p++;
    }
    return 0;
}

static char *metrics_of(gcache *gc) {
    int n = gcache_metrics_prometheus(gc, NULL, 0);
    char *buf;
    if (n < 0) return NULL;
    buf = (char *)malloc((size_t)n + 1);
    if (!buf) return NULL;
    if (gcache_metrics_prometheus(gc, buf, (size_t)n + 1) != n) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* ---- family tables ---------------------------------------------------------------------- */
typedef struct family { const char *ref, *prom, *type; } family;
static const family families[] = {
    {"gcache_request_counter_total", "gcache_requests_total", "counter"},
    {"gcache_miss_counter_total", "gcache_misses_total", "counter"},
    {"gcache_disabled_counter_total", "gcache_disabled_total", "counter"},
    {"gcache_error_counter_total", "gcache_errors_total", "counter"},
    {"gcache_invalidation_counter_total", "gcache_invalidations_total", "counter"},
    {"gcache_get_timer", "gcache_get_seconds", "histogram"},
    {"gcache_fallback_timer", "gcache_fallback_seconds", "histogram"},
    {"gcache_serialization_timer", "gcache_serialization_seconds", "histogram"},
    {"gcache_size_histogram", "gcache_value_size_bytes", "histogram"},
};
#define NFAMILIES (sizeof families / sizeof families[0])

static void check_families(const char *text, const char *prefix, int prom, const char *what) {
    size_t i;
    for (i = 0; i < NFAMILIES; i++) {
        char help[200], type[200], sample_start[200];
        const char *name = prom ? families[i].prom : families[i].ref;
        snprintf(help, sizeof help, "# HELP %s%s ", prefix, name);
        snprintf(type, sizeof type, "# TYPE %s%s %s\n", prefix, name, families[i].type);
        snprintf(sample_start, sizeof sample_start, "%s%s", prefix, name);
        TAP_OK(has_line_prefix(text, help), "%s: # HELP line of %s%s", what, prefix, name);
        TAP_OK(strstr(text, type) != NULL, "%s: # TYPE %s%s %s", what, prefix, name, families[i].type);
        TAP_OK(has_line_prefix(text, sample_start), "%s: samples of %s%s", what, prefix, name);
    }
}

/* Every le bucket series of a histogram that carries `want`: from 1e-06 (timers) to
   10 plus +Inf, cumulative, and _count equal to the +Inf bucket, with a _sum. */
static void check_histogram(const char *text, const char *name, const char *const *want, int timer,
                            const char *what) {
    char bucket[200], count_name[200], sum_name[200];
    const char *p = text;
    double first_le = -1, last_finite = -1, prev = -1, inf_value = -1;
    int n = 0, cumulative = 1, inf_last = 0;
    snprintf(bucket, sizeof bucket, "%s_bucket", name);
    snprintf(count_name, sizeof count_name, "%s_count", name);
    snprintf(sum_name, sizeof sum_name, "%s_sum", name);
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        sample s;
        if (len > 0 && p[0] != '#' && parse_sample(p, len, &s) && strcmp(s.name, bucket) == 0 && has_labels(&s, want)) {
            const char *le = label_of(&s, "le");
            if (le) {
                inf_last = strcmp(le, "+Inf") == 0;
                if (inf_last) inf_value = s.v;
                else {
                    double x = strtod(le, NULL);
                    if (n == 0) first_le = x;
                    last_finite = x;
                }
                if (s.v < prev) cumulative = 0;
                prev = s.v;
                n++;
            }
        }
        if (!nl) break;
        p = nl + 1;
    }
    TAP_OK(n >= 3, "%s: %s has bucket lines (%d)", what, name, n);
    if (timer) {
        TAP_OK(first_le > 0.99e-6 && first_le < 1.01e-6, "%s: first bucket of %s is le=1e-06 (got %g)", what, name, first_le);
        TAP_OK(last_finite > 9.99 && last_finite < 10.01, "%s: last finite bucket of %s is le=10 (got %g)", what, name, last_finite);
    }
    TAP_OK(inf_last, "%s: %s ends with le=\"+Inf\"", what, name);
    TAP_OK(cumulative, "%s: %s buckets are cumulative", what, name);
    TAP_OK(metric_sum(text, sum_name, want) >= 0, "%s: %s_sum present", what, name);
    TAP_OK(metric_sum(text, count_name, want) == inf_value && inf_value >= 1,
           "%s: %s_count equals the +Inf bucket (%g)", what, name, inf_value);
}

/* ---- promtool ---------------------------------------------------------------------------- */
static const char *promtool_path(void) {
    const char *p = getenv("GCACHE_PROMTOOL");
    if (p && *p) return p;
    if (system("command -v promtool >/dev/null 2>&1") == 0) return "promtool";
    return NULL;
}

/* Runs promtool check metrics on text; returns its exit status, the findings in out. */
static int promtool_check(const char *tool, const char *text, char *out, size_t cap) {
    char path[] = "/tmp/gcache_metrics_XXXXXX";
    char cmd[512];
    FILE *f, *pipe;
    size_t got = 0;
    int fd = mkstemp(path), status;
    out[0] = '\0';
    if (fd < 0) return -1;
    f = fdopen(fd, "w");
    if (!f) { close(fd); return -1; }
    fputs(text, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "'%s' check metrics < '%s' 2>&1", tool, path);
    pipe = popen(cmd, "r");
    if (!pipe) { remove(path); return -1; }
    while (got + 1 < cap) {
        size_t r = fread(out + got, 1, cap - 1 - got, pipe);
        if (r == 0) break;
        got += r;
    }
    out[got] = '\0';
    status = pclose(pipe);
    remove(path);
    return status == -1 ? -1 : (status >> 8) & 0xff;
}

/* 1 if every non-empty line of findings is a "type in metric name" lint finding. */
static int only_type_in_name_findings(const char *findings) {
    const char *p = findings;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len > 0) {
            char line[512];
            size_t m = len < sizeof line - 1 ? len : sizeof line - 1;
            memcpy(line, p, m);
            line[m] = '\0';
            if (!strstr(line, "should not include type")) return 0;
        }
        if (!nl) break;
        p = nl + 1;
    }
    return 1;
}

/* ---- the traffic ------------------------------------------------------------------------ */
typedef struct fixture {
    gcache *gc;
    gcache_remote remote; /* a copy, to plant a corrupt entry */
    gcache_use_case *user, *order, *broken;
} fixture;

static int make_fixture(fixture *fx, const char *metrics_prefix, int names) {
    gcache_desc d;
    gcache_memory_desc md;
    gcache_use_case_desc u;
    int rc;
    memset(fx, 0, sizeof *fx);
    memset(&md, 0, sizeof md);
    md.clock = fake_clock();
    rc = gcache_remote_memory(&md, &fx->remote);
    if (rc != GCACHE_OK) return rc;
    memset(&d, 0, sizeof d);
    d.remote = fx->remote;
    d.clock = fake_clock();
    d.metrics_prefix = metrics_prefix;
    d.metrics_names = names;
    d.config_provider = provider;
    rc = gcache_create(&d, &fx->gc);
    if (rc != GCACHE_OK) {
        fx->remote.destroy(fx->remote.ctx);
        return rc;
    }
    memset(&u, 0, sizeof u);
    u.name = "GetUser";
    u.key_type = "user_id";
    u.track_for_invalidation = 1;
    u.default_config.ttl_sec[GCACHE_LOCAL] = 10;
    u.default_config.ttl_sec[GCACHE_REMOTE] = 100;
    u.default_config.ramp[GCACHE_LOCAL] = 100;
    u.default_config.ramp[GCACHE_REMOTE] = 100;
    u.default_config.negative_ttl_sec = 5;
    rc = gcache_register(fx->gc, &u, &fx->user);
    if (rc != GCACHE_OK) return rc;
    memset(&u, 0, sizeof u);
    u.name = "GetOrder"; /* local ramped down to 0, remote not configured */
    u.key_type = "order_id";
    u.default_config.ttl_sec[GCACHE_LOCAL] = 10;
    u.default_config.ramp[GCACHE_LOCAL] = 0;
    rc = gcache_register(fx->gc, &u, &fx->order);
    if (rc != GCACHE_OK) return rc;
    memset(&u, 0, sizeof u);
    u.name = "Broken"; /* its config provider fails */
    u.key_type = "broken_id";
    u.default_config.ttl_sec[GCACHE_LOCAL] = 10;
    u.default_config.ramp[GCACHE_LOCAL] = 100;
    return gcache_register(fx->gc, &u, &fx->broken);
}

static void drive_traffic(fixture *fx) {
    gcache_key k;
    gcache_buf out;
    int ok = FETCH_OK, nf = FETCH_NOT_FOUND, err = FETCH_ERROR, prev, i;
    char long_id[700];
    size_t klen = 0;
    const char *ks;

    memset(&out, 0, sizeof out);
    gcache_key_init_int(&k, fx->user, 1);
    gcache_get(fx->gc, &k, fetch, &ok, &out); /* not enabled: context */

    prev = gcache_enable(1);
    gcache_get(fx->gc, &k, fetch, &ok, &out); /* local miss, remote miss, fetch */
    gcache_get(fx->gc, &k, fetch, &ok, &out); /* local hit */
    advance_ms(11000);                        /* local entry expires */
    gcache_get(fx->gc, &k, fetch, &ok, &out); /* local miss, remote hit */

    gcache_key_init_int(&k, fx->user, 2);
    gcache_get(fx->gc, &k, fetch, &nf, &out); /* not found, cached negatively */
    gcache_get(fx->gc, &k, fetch, &nf, &out);
    gcache_key_init_int(&k, fx->user, 3);
    gcache_get(fx->gc, &k, fetch, &err, &out); /* fetch error */

    gcache_key_init_int(&k, fx->order, 1);
    gcache_get(fx->gc, &k, fetch, &ok, &out); /* ramped_down + missing_config */
    gcache_key_init_int(&k, fx->broken, 1);
    gcache_get(fx->gc, &k, fetch, &ok, &out); /* config_error */

    memset(long_id, 'x', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    gcache_key_init(&k, fx->user, long_id); /* overlong: key error */
    gcache_get(fx->gc, &k, fetch, &ok, &out);

    gcache_kill(fx->gc, 1);
    gcache_key_init_int(&k, fx->user, 1);
    gcache_get(fx->gc, &k, fetch, &ok, &out); /* killed */
    gcache_kill(fx->gc, 0);

    /* a corrupt remote entry */
    gcache_key_init_int(&k, fx->user, 5);
    ks = gcache_key_str(&k, &klen);
    if (ks) {
        gcache_slice key, val;
        key.ptr = ks;
        key.len = klen;
        val.ptr = "this is not an envelope";
        val.len = 23;
        fx->remote.set(fx->remote.ctx, key, val, 100);
    }
    gcache_get(fx->gc, &k, fetch, &ok, &out);

    /* Timers may be sampled (documented: local lookups 1 in 64, envelope encode and
       decode 1 in 16, weighted), so give them enough events to record some: 256 remote
       fills (dump), then, once the local entries expired, 256 remote hits (load). */
    for (i = 0; i < 256; i++) {
        gcache_key_init_int(&k, fx->user, 1000 + i);
        gcache_get(fx->gc, &k, fetch, &ok, &out);
    }
    advance_ms(11000);
    for (i = 0; i < 256; i++) {
        gcache_key_init_int(&k, fx->user, 1000 + i);
        gcache_get(fx->gc, &k, fetch, &ok, &out);
    }

    /* Many local hits, for the sampled local-hit timer. */
    gcache_key_init_int(&k, fx->user, 1);
    for (i = 0; i < 4096; i++) gcache_get(fx->gc, &k, fetch, &ok, &out);
    gcache_enable(prev);

    gcache_invalidate(fx->gc, "user_id", "1", 0);
    gcache_invalidate(fx->gc, "a\"b\\c\n", "1", 0);
    gcache_buf_free(&out);
}

int main(void) {
    fixture fx;
    char *text;
    int rc;
    const char *tool = promtool_path();

    /* ---- reference names, no prefix ---- */
    rc = make_fixture(&fx, NULL, GCACHE_METRICS_REFERENCE);
    if (!TAP_IS_INT(rc, GCACHE_OK, "create the instance and register use cases")) return TAP_DONE();
    drive_traffic(&fx);
    text = metrics_of(fx.gc);
    if (!TAP_OK(text != NULL, "metrics text")) return TAP_DONE();
    check_families(text, "", 0, "reference names");

    {
        static const char *const local_user[] = {"use_case=GetUser", "key_type=user_id", "layer=LOCAL", NULL};
        static const char *const remote_user[] = {"use_case=GetUser", "key_type=user_id", "layer=REMOTE", NULL};
        gcache_stats sl, sr;
        gcache_stats_get(fx.gc, "GetUser", GCACHE_LOCAL, &sl);
        gcache_stats_get(fx.gc, "GetUser", GCACHE_REMOTE, &sr);
        TAP_OK(sl.requests >= 3 && sl.hits >= 1 && sr.hits >= 1, "traffic produced local and remote hits");
        TAP_OK(metric_sum(text, "gcache_request_counter_total", local_user) == (double)sl.requests,
               "requests LOCAL agree with gcache_stats_get (%llu)", sl.requests);
        TAP_OK(metric_sum(text, "gcache_request_counter_total", remote_user) == (double)sr.requests,
               "requests REMOTE agree with gcache_stats_get (%llu)", sr.requests);
        TAP_OK(metric_sum(text, "gcache_miss_counter_total", local_user) == (double)sl.misses,
               "misses LOCAL agree with gcache_stats_get (%llu)", sl.misses);
        TAP_OK(metric_sum(text, "gcache_miss_counter_total", remote_user) == (double)sr.misses,
               "misses REMOTE agree with gcache_stats_get (%llu)", sr.misses);
    }
    {
        static const char *const ctx[] = {"reason=context", "layer=GLOBAL", "use_case=GetUser", NULL};
        static const char *const killed[] = {"reason=killed", "layer=GLOBAL", NULL};
        static const char *const ramped[] = {"reason=ramped_down", "use_case=GetOrder", "key_type=order_id", "layer=LOCAL", NULL};
        static const char *const missing[] = {"reason=missing_config", "use_case=GetOrder", "layer=REMOTE", NULL};
        static const char *const cfgerr[] = {"reason=config_error", "use_case=Broken", NULL};
        TAP_OK(metric_sum(text, "gcache_disabled_counter_total", ctx) >= 1, "disabled reason=context at layer GLOBAL");
        TAP_OK(metric_sum(text, "gcache_disabled_counter_total", killed) >= 1, "disabled reason=killed at layer GLOBAL");
        TAP_OK(metric_sum(text, "gcache_disabled_counter_total", ramped) >= 1, "disabled reason=ramped_down at LOCAL");
        TAP_OK(metric_sum(text, "gcache_disabled_counter_total", missing) >= 1, "disabled reason=missing_config at REMOTE");
        TAP_OK(metric_sum(text, "gcache_disabled_counter_total", cfgerr) >= 1, "disabled reason=config_error");
    }
    {
        static const char *const fetch_err[] = {"error=fetch", "in_fallback=True", "use_case=GetUser", NULL};
        static const char *const key_err[] = {"error=key", "layer=GLOBAL", NULL};
        static const char *const corrupt[] = {"error=corrupt", "layer=REMOTE", "use_case=GetUser", NULL};
        static const char *const any_false[] = {"in_fallback=False", NULL};
        TAP_OK(metric_sum(text, "gcache_error_counter_total", fetch_err) >= 1, "error=fetch,in_fallback=True counted");
        TAP_OK(metric_sum(text, "gcache_error_counter_total", key_err) >= 1, "error=key at layer GLOBAL");
        TAP_OK(metric_sum(text, "gcache_error_counter_total", corrupt) >= 1, "error=corrupt at layer REMOTE");
        TAP_OK(metric_sum(text, "gcache_error_counter_total", any_false) >= 1, "cache faults carry in_fallback=False");
    }
    {
        static const char *const inv[] = {"key_type=user_id", NULL};
        static const char *const weird[] = {"key_type=a\"b\\c\n", NULL};
        TAP_OK(metric_sum(text, "gcache_invalidation_counter_total", inv) >= 1, "invalidation of user_id counted");
        TAP_OK(metric_sum(text, "gcache_invalidation_counter_total", weird) >= 1,
               "a key_type with a quote, backslash and newline round-trips through the label escaper");
        TAP_OK(strstr(text, "key_type=\"a\\\"b\\\\c\\n\"") != NULL, "label value escaped as a\\\"b\\\\c\\n");
    }
    {
        static const char *const get_local[] = {"use_case=GetUser", "layer=LOCAL", NULL};
        static const char *const get_remote[] = {"use_case=GetUser", "layer=REMOTE", NULL};
        static const char *const fb_local[] = {"use_case=GetUser", "layer=LOCAL", NULL};
        static const char *const ser_dump[] = {"operation=dump", NULL};
        static const char *const ser_load[] = {"operation=load", NULL};
        static const char *const size_any[] = {"use_case=GetUser", NULL};
        check_histogram(text, "gcache_get_timer", get_remote, 1, "get timer REMOTE");
        check_histogram(text, "gcache_get_timer", get_local, 1, "get timer LOCAL (after 4096 local hits)");
        check_histogram(text, "gcache_fallback_timer", fb_local, 1, "fallback timer");
        check_histogram(text, "gcache_serialization_timer", ser_dump, 1, "serialization dump");
        check_histogram(text, "gcache_serialization_timer", ser_load, 1, "serialization load");
        check_histogram(text, "gcache_size_histogram", size_any, 0, "size histogram");
    }
    /* Every sample line belongs to a family announced by # TYPE just before it. */
    {
        const char *p = text;
        char family_name[200] = "";
        int bad = 0, lines = 0;
        while (*p) {
            const char *nl = strchr(p, '\n');
            size_t len = nl ? (size_t)(nl - p) : strlen(p);
            sample s;
            if (strncmp(p, "# TYPE ", 7) == 0) {
                const char *sp = (const char *)memchr(p + 7, ' ', len - 7);
                size_t fl = sp ? (size_t)(sp - p - 7) : 0;
                if (fl >= sizeof family_name) fl = sizeof family_name - 1;
                memcpy(family_name, p + 7, fl);
                family_name[fl] = '\0';
            } else if (len > 0 && p[0] != '#') {
                lines++;
                if (!parse_sample(p, len, &s) || strncmp(s.name, family_name, strlen(family_name)) != 0 || !family_name[0]) {
                    if (bad++ < 3) TAP_DIAG("stray line: %.*s", (int)len, p);
                }
            }
            if (!nl) break;
            p = nl + 1;
        }
        TAP_OK(bad == 0 && lines > 20, "all %d sample lines parse and follow their family's # TYPE", lines);
        TAP_OK(text[strlen(text) - 1] == '\n', "the text ends with a newline");
    }

    /* ---- snprintf semantics ---- */
    {
        int need = gcache_metrics_prometheus(fx.gc, NULL, 0), got;
        char sentinel[4] = {'Z', 'Z', 'Z', 'Z'};
        char *full, *half;
        size_t cap;
        TAP_OK(need > 0, "cap 0 with a NULL buffer returns the length needed (%d)", need);
        got = gcache_metrics_prometheus(fx.gc, sentinel, 0);
        TAP_IS_INT(got, need, "cap 0 with a buffer returns the same length");
        TAP_OK(sentinel[0] == 'Z', "cap 0 writes nothing");
        full = (char *)malloc((size_t)need + 1);
        got = gcache_metrics_prometheus(fx.gc, full, (size_t)need + 1);
        TAP_IS_INT(got, need, "exact fit returns the length");
        TAP_IS_INT(strlen(full), need, "exact fit is NUL-terminated at the length");
        cap = (size_t)need / 2;
        half = (char *)malloc(cap + 8);
        memset(half, 'Z', cap + 8);
        got = gcache_metrics_prometheus(fx.gc, half, cap);
        TAP_IS_INT(got, need, "a truncated write still returns the full length");
        TAP_IS_INT(strlen(half), cap - 1, "truncated output is NUL-terminated within cap");
        TAP_OK(memcmp(half, full, cap - 1) == 0, "truncated output is a prefix of the full text");
        TAP_OK(half[cap] == 'Z', "nothing written past cap");
        got = gcache_metrics_prometheus(fx.gc, sentinel, 1);
        TAP_OK(got == need && sentinel[0] == '\0', "cap 1 writes only the NUL");
        free(half);
        free(full);
    }

    if (tool) {
        char findings[8192];
        int st = promtool_check(tool, text, findings, sizeof findings);
        TAP_OK(st == 0 || st == 3, "promtool parses the reference-named text (status %d)", st);
        TAP_OK(only_type_in_name_findings(findings), "promtool: only \"type in metric name\" findings");
        if (!only_type_in_name_findings(findings) || (st != 0 && st != 3)) TAP_DIAG("promtool said:\n%s", findings);
    }
    free(text);
    gcache_destroy(fx.gc);

    /* ---- Prometheus names ---- */
    rc = make_fixture(&fx, NULL, GCACHE_METRICS_PROMETHEUS);
    if (TAP_IS_INT(rc, GCACHE_OK, "instance with GCACHE_METRICS_PROMETHEUS")) {
        drive_traffic(&fx);
        text = metrics_of(fx.gc);
        if (TAP_OK(text != NULL, "metrics text (Prometheus names)")) {
            static const char *const lu[] = {"use_case=GetUser", "layer=LOCAL", NULL};
            check_families(text, "", 1, "Prometheus names");
            TAP_OK(strstr(text, "gcache_request_counter") == NULL, "no reference names in the Prometheus-named text");
            TAP_OK(metric_sum(text, "gcache_requests_total", lu) >= 3, "gcache_requests_total counts");
            check_histogram(text, "gcache_get_seconds", lu, 1, "get seconds");
            if (tool) {
                char findings[8192];
                int st = promtool_check(tool, text, findings, sizeof findings);
                TAP_IS_INT(st, 0, "promtool check metrics passes the Prometheus names");
                TAP_OK(findings[0] == '\0', "promtool: no finding at all");
                if (findings[0]) TAP_DIAG("promtool said:\n%s", findings);
            }
            free(text);
        }
        gcache_destroy(fx.gc);
    }

    /* ---- metrics_prefix ---- */
    rc = make_fixture(&fx, "myapp_", GCACHE_METRICS_REFERENCE);
    if (TAP_IS_INT(rc, GCACHE_OK, "instance with metrics_prefix myapp_")) {
        drive_traffic(&fx);
        text = metrics_of(fx.gc);
        if (TAP_OK(text != NULL, "metrics text (prefixed)")) {
            const char *p = text;
            int unprefixed = 0;
            check_families(text, "myapp_", 0, "prefixed");
            while (*p) {
                const char *nl = strchr(p, '\n');
                if (p[0] == '#') {
                    if (strncmp(p, "# HELP myapp_gcache_", 20) != 0 && strncmp(p, "# TYPE myapp_gcache_", 20) != 0)
                        unprefixed++;
                } else if (*p && *p != '\n' && strncmp(p, "myapp_gcache_", 13) != 0) {
                    unprefixed++;
                }
                if (!nl) break;
                p = nl + 1;
            }
            TAP_IS_INT(unprefixed, 0, "every line names a myapp_gcache_ family");
            if (tool) {
                char findings[8192];
                int st = promtool_check(tool, text, findings, sizeof findings);
                TAP_OK((st == 0 || st == 3) && only_type_in_name_findings(findings),
                       "promtool: prefixed text parses, only type-in-name findings (status %d)", st);
            }
            free(text);
        }
        gcache_destroy(fx.gc);
    }

    /* ---- backend errors and the breaker (server_down) ---- */
    {
        gcache_desc d;
        gcache_use_case_desc u;
        gcache_use_case *uc = NULL;
        gcache *gc = NULL;
        int i, ok = FETCH_OK;
        memset(&d, 0, sizeof d);
        d.clock = fake_clock();
        d.remote.name = "always-failing";
        d.remote.mget = bad_mget;
        d.remote.set = bad_set;
        d.remote.del = bad_del;
        d.remote.flush_prefix = bad_del;
        d.remote.destroy = bad_destroy;
        d.breaker.failure_threshold = 2;
        d.breaker.cooldown_ms = 60000;
        rc = gcache_create(&d, &gc);
        memset(&u, 0, sizeof u);
        u.name = "GetUser";
        u.key_type = "user_id";
        u.default_config.ttl_sec[GCACHE_REMOTE] = 100;
        u.default_config.ramp[GCACHE_REMOTE] = 100;
        if (rc == GCACHE_OK) rc = gcache_register(gc, &u, &uc);
        if (TAP_IS_INT(rc, GCACHE_OK, "instance with a failing remote")) {
            gcache_buf out;
            memset(&out, 0, sizeof out);
            GCACHE_WITH_ENABLED {
                for (i = 0; i < 6; i++) {
                    gcache_key k;
                    gcache_key_init_int(&k, uc, i);
                    gcache_get(gc, &k, fetch, &ok, &out);
                }
            }
            gcache_buf_free(&out);
            text = metrics_of(gc);
            if (TAP_OK(text != NULL, "metrics text (failing remote)")) {
                static const char *const backend[] = {"error=backend", "layer=REMOTE", "use_case=GetUser", NULL};
                static const char *const down[] = {"reason=server_down", "layer=REMOTE", "use_case=GetUser", NULL};
                TAP_OK(metric_sum(text, "gcache_error_counter_total", backend) >= 1, "error=backend at REMOTE");
                TAP_OK(metric_sum(text, "gcache_disabled_counter_total", down) >= 1,
                       "disabled reason=server_down once the breaker is open");
                free(text);
            }
            gcache_destroy(gc);
        }
    }
    if (!tool) TAP_DIAG("promtool not found: the promtool checks were not run");
    return TAP_DONE();
}
