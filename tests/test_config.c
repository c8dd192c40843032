/* test_config.c -- runtime config: JSON load/dump, gcache_config_set/get, the config
   provider's precedence, and atomic visibility of updates across threads.

   Every JSON input is handed over in a heap block of exactly its length (no NUL after
   it), so ASan catches a parser that reads past len. */
#define GCACHE_IMPLEMENTATION
#include "gcache.h"
#include "tap.h"
#include "testutil.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ----------------------------------------------------------------------------- */

static void fake_advance_ms(fake_clock *c, long long ms) {
    c->wall_ms += ms;
    c->mono_ns += (unsigned long long)ms * 1000000ULL;
}

static gcache_key_config kc(int ttl_l, int ttl_r, int ramp_l, int ramp_r, int neg) {
    gcache_key_config c;
    memset(&c, 0, sizeof c);
    c.ttl_sec[GCACHE_LOCAL] = ttl_l; c.ttl_sec[GCACHE_REMOTE] = ttl_r;
    c.ramp[GCACHE_LOCAL] = ramp_l; c.ramp[GCACHE_REMOTE] = ramp_r;
    c.negative_ttl_sec = neg;
    return c;
}

static int kc_eq(const gcache_key_config *a, const gcache_key_config *b) {
    return a->ttl_sec[0] == b->ttl_sec[0] && a->ttl_sec[1] == b->ttl_sec[1] && a->ramp[0] == b->ramp[0] &&
           a->ramp[1] == b->ramp[1] && a->negative_ttl_sec == b->negative_ttl_sec;
}

static gcache_use_case *reg(gcache *gc, const char *name, gcache_key_config def) {
    gcache_use_case_desc u;
    gcache_use_case *uc = NULL;
    memset(&u, 0, sizeof u);
    u.name = name;
    u.key_type = "user_id";
    u.default_config = def;
    if (gcache_register(gc, &u, &uc) != GCACHE_OK) return NULL;
    return uc;
}

static gcache *new_gc(fake_clock *clk) {
    gcache_desc d;
    gcache *gc = NULL;
    memset(&d, 0, sizeof d);
    if (clk) {
        d.clock.wall_ms_fn = fc_wall;
        d.clock.mono_ns_fn = fc_mono;
        d.clock.user_data = clk;
    }
    if (gcache_create(&d, &gc) != GCACHE_OK) return NULL;
    return gc;
}

/* load from an exact-size heap copy */
static int load(gcache *gc, const char *json, size_t len) {
    char *p = (char *)malloc(len ? len : 1);
    int rc;
    if (!p) return -1000;
    memcpy(p, json, len);
    rc = gcache_config_load_json(gc, p, len);
    free(p);
    return rc;
}
static int loads(gcache *gc, const char *json) { return load(gc, json, strlen(json)); }

/* the whole dump in a fresh heap string (caller frees), NULL on failure */
static char *dump(gcache *gc) {
    int n = gcache_config_dump_json(gc, NULL, 0);
    char *p;
    if (n < 0) return NULL;
    p = (char *)malloc((size_t)n + 1);
    if (!p) return NULL;
    if (gcache_config_dump_json(gc, p, (size_t)n + 1) != n) { free(p); return NULL; }
    return p;
}

static int get_cfg(gcache *gc, const char *name, gcache_key_config *out) {
    gcache_use_case *uc = gcache_use_case_find(gc, name);
    memset(out, 0x5a, sizeof *out);
    if (!uc) return -1000;
    return gcache_config_get(gc, uc, out);
}

static int cfg_is(gcache *gc, const char *name, gcache_key_config want) {
    gcache_key_config got;
    int rc = get_cfg(gc, name, &got);
    if (rc != GCACHE_OK || !kc_eq(&got, &want)) {
        TAP_DIAG("%s: rc %d, got ttl %d/%d ramp %d/%d neg %d, want ttl %d/%d ramp %d/%d neg %d", name, rc,
                 got.ttl_sec[0], got.ttl_sec[1], got.ramp[0], got.ramp[1], got.negative_ttl_sec,
                 want.ttl_sec[0], want.ttl_sec[1], want.ramp[0], want.ramp[1], want.negative_ttl_sec);
        return 0;
    }
    return 1;
}

/* read-through fetch: counts calls, value "v:<key>" */
typedef struct { int calls; } fetch_state;
static int fetch_fn(void *user, const gcache_key *key, gcache_buf *out) {
    fetch_state *f = (fetch_state *)user;
    const char *s = gcache_key_str(key, NULL);
    char v[700];
    if (f) f->calls++;
    snprintf(v, sizeof v, "v:%s", s ? s : "?");
    return gcache_buf_set(out, v, strlen(v));
}

/* one gcache_get; 1 if it returned the right value */
static int get_ok(gcache *gc, gcache_use_case *uc, const char *id, fetch_state *f) {
    gcache_key k;
    gcache_buf b;
    char want[700];
    int rc, ok;
    memset(&b, 0, sizeof b);
    gcache_key_init(&k, uc, id);
    rc = gcache_get(gc, &k, fetch_fn, f, &b);
    snprintf(want, sizeof want, "v:%s", gcache_key_str(&k, NULL) ? gcache_key_str(&k, NULL) : "?");
    ok = rc == GCACHE_OK && b.len == strlen(want) && memcmp(b.data, want, b.len) == 0;
    gcache_buf_free(&b);
    return ok;
}

static unsigned long long disabled(gcache *gc, const char *uc, gcache_layer layer, gcache_reason r) {
    gcache_stats st;
    memset(&st, 0, sizeof st);
    if (gcache_stats_get(gc, uc, layer, &st) != GCACHE_OK) return 999999;
    return st.disabled[r];
}

static const char *DUMP_DEFAULT =
    "{\"GetUser\": {\"ttl_sec\": {\"local\": 60, \"remote\": 300}, \"ramp\": {\"local\": 100, \"remote\": 50}, "
    "\"negative_ttl_sec\": 5}, "
    "\"ListPosts\": {\"ttl_sec\": {\"local\": 10, \"remote\": 0}, \"ramp\": {\"local\": 100, \"remote\": 0}, "
    "\"negative_ttl_sec\": 0}}";

static gcache_key_config DEF_USER, DEF_POSTS;

static gcache *std_gc(void) {
    gcache *gc = new_gc(NULL);
    if (!gc) return NULL;
    if (!reg(gc, "GetUser", DEF_USER) || !reg(gc, "ListPosts", DEF_POSTS)) { gcache_destroy(gc); return NULL; }
    return gc;
}

/* ---- dump ---------------------------------------------------------------------------------- */

static void test_dump(void) {
    gcache *empty = new_gc(NULL), *gc = std_gc();
    char *d;
    char buf[64];
    int n, full;
    if (!TAP_OK(empty && gc, "dump: create")) return;
    d = dump(empty);
    TAP_IS_STR(d, "{}", "dump with no use case: {}");
    free(d);
    d = dump(gc);
    TAP_IS_STR(d, DUMP_DEFAULT, "dump of defaults: exact reference format, registration order");
    full = (int)strlen(DUMP_DEFAULT);
    TAP_IS_INT(gcache_config_dump_json(gc, NULL, 0), full, "cap 0, NULL buf: returns the needed length");
    memset(buf, '@', sizeof buf);
    TAP_IS_INT(gcache_config_dump_json(gc, buf, 0), full, "cap 0: returns the needed length");
    TAP_OK(buf[0] == '@', "cap 0: writes nothing");
    memset(buf, '@', sizeof buf);
    TAP_IS_INT(gcache_config_dump_json(gc, buf, 1), full, "cap 1: returns the needed length");
    TAP_OK(buf[0] == 0 && buf[1] == '@', "cap 1: only the NUL");
    memset(buf, '@', sizeof buf);
    n = gcache_config_dump_json(gc, buf, 20);
    TAP_IS_INT(n, full, "cap 20: returns the needed length");
    TAP_OK(memcmp(buf, DUMP_DEFAULT, 19) == 0 && buf[19] == 0 && buf[20] == '@', "cap 20: 19 bytes + NUL, nothing after");
    {
        char *exact = (char *)malloc((size_t)full + 2);
        if (exact) {
            memset(exact, '@', (size_t)full + 2);
            TAP_IS_INT(gcache_config_dump_json(gc, exact, (size_t)full), full, "cap == len: returns len");
            TAP_OK(memcmp(exact, DUMP_DEFAULT, (size_t)full - 1) == 0 && exact[full - 1] == 0 && exact[full] == '@',
                   "cap == len: truncated by one byte, NUL-terminated");
            memset(exact, '@', (size_t)full + 2);
            TAP_IS_INT(gcache_config_dump_json(gc, exact, (size_t)full + 1), full, "cap == len + 1: returns len");
            TAP_OK(strcmp(exact, DUMP_DEFAULT) == 0 && exact[full + 1] == '@', "cap == len + 1: the whole dump");
            free(exact);
        }
    }
    TAP_OK(gcache_config_dump_json(NULL, buf, sizeof buf) < 0, "dump with a NULL gcache: negative");

    /* round trip with overrides and a later registration */
    TAP_IS_INT(loads(gc, "{\"GetUser\": {\"ttl_sec\": {\"local\": 1, \"remote\": 2}, \"ramp\": {\"local\": 3, "
                         "\"remote\": 4}, \"negative_ttl_sec\": 0}, \"Later\": {\"negative_ttl_sec\": 9}}"),
               GCACHE_OK, "load a config with an unknown use case");
    free(d);
    d = dump(gc);
    TAP_IS_STR(d, "{\"GetUser\": {\"ttl_sec\": {\"local\": 1, \"remote\": 2}, \"ramp\": {\"local\": 3, \"remote\": 4}, "
                  "\"negative_ttl_sec\": 0}, \"ListPosts\": {\"ttl_sec\": {\"local\": 10, \"remote\": 0}, \"ramp\": "
                  "{\"local\": 100, \"remote\": 0}, \"negative_ttl_sec\": 0}}",
               "dump shows only registered use cases, with the effective config");
    TAP_OK(reg(gc, "Later", kc(7, 8, 9, 10, 0)) != NULL, "register the unknown use case after the load");
    free(d);
    d = dump(gc);
    TAP_IS_STR(d, "{\"GetUser\": {\"ttl_sec\": {\"local\": 1, \"remote\": 2}, \"ramp\": {\"local\": 3, \"remote\": 4}, "
                  "\"negative_ttl_sec\": 0}, \"ListPosts\": {\"ttl_sec\": {\"local\": 10, \"remote\": 0}, \"ramp\": "
                  "{\"local\": 100, \"remote\": 0}, \"negative_ttl_sec\": 0}, \"Later\": {\"ttl_sec\": {\"local\": 7, "
                  "\"remote\": 8}, \"ramp\": {\"local\": 9, \"remote\": 10}, \"negative_ttl_sec\": 9}}",
               "dump after registering: the loaded field over the new use case's defaults");
    if (d) {
        char *d2;
        TAP_IS_INT(loads(gc, d), GCACHE_OK, "load(dump) is accepted");
        d2 = dump(gc);
        TAP_IS_STR(d2, d, "load(dump) then dump gives identical bytes");
        free(d2);
    }
    free(d);
    gcache_destroy(empty);
    gcache_destroy(gc);
}

/* ---- load semantics ------------------------------------------------------------------------- */

static void test_load_semantics(void) {
    gcache *gc = std_gc();
    if (!TAP_OK(gc != NULL, "load: create")) return;
    TAP_OK(cfg_is(gc, "GetUser", DEF_USER) && cfg_is(gc, "ListPosts", DEF_POSTS), "before any load: the defaults");

    TAP_IS_INT(loads(gc, "{\"GetUser\": {\"ttl_sec\": {\"local\": 30, \"remote\": 600}, \"ramp\": {\"local\": 70, "
                         "\"remote\": 20}, \"negative_ttl_sec\": 2}}"),
               GCACHE_OK, "load the reference format");
    TAP_OK(cfg_is(gc, "GetUser", kc(30, 600, 70, 20, 2)), "loaded use case has the loaded config");
    TAP_OK(cfg_is(gc, "ListPosts", DEF_POSTS), "use case absent from the JSON keeps its default");

    TAP_IS_INT(loads(gc, "{\"GetUser\": {\"ramp\": {\"local\": 10}}}"), GCACHE_OK, "load with missing fields");
    TAP_OK(cfg_is(gc, "GetUser", kc(60, 300, 10, 50, 5)), "missing fields take the use case's default (not the old load)");
    TAP_IS_INT(loads(gc, "{\"GetUser\": {\"ttl_sec\": {\"remote\": 0}, \"negative_ttl_sec\": 0}}"), GCACHE_OK,
               "load with one layer of ttl_sec");
    TAP_OK(cfg_is(gc, "GetUser", kc(60, 0, 100, 50, 0)), "explicit zeros are kept, the rest defaults");
    TAP_IS_INT(loads(gc, "{\"GetUser\": {\"ttl_sec\": {}, \"ramp\": {}}}"), GCACHE_OK, "empty layer objects");
    TAP_OK(cfg_is(gc, "GetUser", DEF_USER), "empty layer objects: defaults");
    TAP_IS_INT(loads(gc, "{\"ListPosts\": {\"ramp\": {\"remote\": 100}}}"), GCACHE_OK, "load replaces the whole store");
    TAP_OK(cfg_is(gc, "GetUser", DEF_USER) && cfg_is(gc, "ListPosts", kc(10, 0, 100, 100, 0)),
           "a use case absent from the new load is back to its default");
    TAP_IS_INT(loads(gc, "{}"), GCACHE_OK, "load {}");
    TAP_OK(cfg_is(gc, "GetUser", DEF_USER) && cfg_is(gc, "ListPosts", DEF_POSTS), "{} clears every override");

    TAP_IS_INT(loads(gc, " \t\r\n{ \"GetUser\"\n:\t{\"negative_ttl_sec\":1,\"ramp\":{\"remote\":0 ,\"local\" : 0},"
                         "\"ttl_sec\":{\"remote\":0,\"local\":0}}\r\n} \n\t"),
               GCACHE_OK, "any JSON whitespace, fields in any order");
    TAP_OK(cfg_is(gc, "GetUser", kc(0, 0, 0, 0, 1)), "... gives the right config (zeros)");
    TAP_IS_INT(loads(gc, "{\"GetUser\": {\"ttl_sec\": {\"local\": 2147483647, \"remote\": 0}, \"ramp\": {\"local\": 100,"
                         " \"remote\": 0}, \"negative_ttl_sec\": 2147483647}}"),
               GCACHE_OK, "INT_MAX ttls and ramp 100 are in range");
    TAP_OK(cfg_is(gc, "GetUser", kc(INT_MAX, 0, 100, 0, INT_MAX)), "... and are kept");
    TAP_IS_INT(loads(gc, "{\"Get\\u0055ser\": {\"ramp\": {\"local\": 33}}}"), GCACHE_OK, "\\u escape in a name");
    TAP_OK(cfg_is(gc, "GetUser", kc(60, 300, 33, 50, 5)), "\\u0055 decodes to 'U' and matches GetUser");

    /* config_set and load share the runtime store */
    {
        gcache_key_config c = kc(1, 2, 3, 4, 1);
        TAP_IS_INT(gcache_config_set(gc, "ListPosts", &c), GCACHE_OK, "config_set");
        TAP_OK(cfg_is(gc, "ListPosts", c), "config_set is visible to config_get");
        TAP_OK(cfg_is(gc, "GetUser", kc(60, 300, 33, 50, 5)), "config_set leaves other use cases alone");
        TAP_IS_INT(gcache_config_set(gc, "ListPosts", NULL), GCACHE_OK, "config_set NULL removes the override");
        TAP_OK(cfg_is(gc, "ListPosts", DEF_POSTS), "after removal: the default");
        TAP_IS_INT(gcache_config_set(gc, "ListPosts", NULL), GCACHE_OK, "removing a missing override is fine");
        TAP_IS_INT(gcache_config_set(gc, "NotYet", &c), GCACHE_OK, "config_set for an unregistered use case");
        TAP_OK(reg(gc, "NotYet", DEF_USER) != NULL && cfg_is(gc, "NotYet", c), "it applies when registered later");
        TAP_IS_INT(gcache_config_set(gc, "ListPosts", &c), GCACHE_OK, "config_set again");
        TAP_IS_INT(loads(gc, "{\"GetUser\": {}}"), GCACHE_OK, "then a load");
        TAP_OK(cfg_is(gc, "ListPosts", DEF_POSTS) && cfg_is(gc, "NotYet", DEF_USER),
               "load replaces the config_set overrides too");

        c = kc(5, 5, 50, 50, 1);
        TAP_IS_INT(gcache_config_set(gc, "GetUser", &c), GCACHE_OK, "config_set a base");
        {
            static const int bad[][5] = { { -1, 0, 0, 0, 0 }, { 0, -1, 0, 0, 0 }, { 0, 0, 101, 0, 0 },
                                          { 0, 0, 0, 101, 0 }, { 0, 0, -1, 0, 0 }, { 0, 0, 0, -1, 0 },
                                          { 0, 0, 0, 0, -1 }, { INT_MIN, 0, 0, 0, 0 }, { 0, 0, INT_MAX, 0, 0 } };
            size_t i;
            for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                gcache_key_config b = kc(bad[i][0], bad[i][1], bad[i][2], bad[i][3], bad[i][4]);
                TAP_IS_INT(gcache_config_set(gc, "GetUser", &b), GCACHE_ECONFIG, "out-of-range config_set: GCACHE_ECONFIG");
                TAP_OK(cfg_is(gc, "GetUser", c), "... and the old config stays");
            }
        }
        TAP_IS_INT(gcache_config_set(NULL, "GetUser", &c), GCACHE_EINVAL, "config_set NULL gcache: GCACHE_EINVAL");
        TAP_IS_INT(gcache_config_set(gc, NULL, &c), GCACHE_EINVAL, "config_set NULL name: GCACHE_EINVAL");
        TAP_IS_INT(gcache_config_set(NULL, "GetUser", NULL), GCACHE_EINVAL, "config remove NULL gcache: GCACHE_EINVAL");
        TAP_IS_INT(gcache_config_set(gc, NULL, NULL), GCACHE_EINVAL, "config remove NULL name: GCACHE_EINVAL");
        TAP_OK(cfg_is(gc, "GetUser", c), "NULL-argument calls change nothing");
    }
    {
        gcache_key_config out;
        gcache_use_case *uc = gcache_use_case_find(gc, "GetUser");
        TAP_IS_INT(gcache_config_get(NULL, uc, &out), GCACHE_EINVAL, "config_get NULL gcache: GCACHE_EINVAL");
        TAP_IS_INT(gcache_config_get(gc, NULL, &out), GCACHE_EINVAL, "config_get NULL use case: GCACHE_EINVAL");
        TAP_IS_INT(gcache_config_get(gc, uc, NULL), GCACHE_EINVAL, "config_get NULL out: GCACHE_EINVAL");
        TAP_IS_INT(gcache_config_load_json(NULL, "{}", 2), GCACHE_EINVAL, "load NULL gcache: GCACHE_EINVAL");
        TAP_IS_INT(gcache_config_load_json(gc, NULL, 2), GCACHE_EINVAL, "load NULL json: GCACHE_EINVAL");
    }
    gcache_destroy(gc);
}

/* ---- odd but valid names, many use cases -------------------------------------------------- */

static void test_names_and_scale(void) {
    gcache *gc = new_gc(NULL);
    gcache_use_case *get = gc ? reg(gc, "Get", kc(60, 0, 100, 0, 0)) : NULL;
    int rc, i;
    if (!TAP_OK(get != NULL, "names: setup")) { gcache_destroy(gc); return; }
    /* "\u0000" must not cut a name short: "Get\0User" is not "Get" */
    rc = loads(gc, "{\"Get\\u0000User\": {\"ramp\": {\"local\": 7}}}");
    TAP_OK(rc == GCACHE_OK || rc == GCACHE_ECONFIG, "\\u0000 inside a name: accepted as unknown or refused (rc %d)", rc);
    TAP_OK(cfg_is(gc, "Get", kc(60, 0, 100, 0, 0)), "\\u0000: the use case \"Get\" is not affected");
    rc = loads(gc, "{\"Get\\u0000\": {\"ramp\": {\"local\": 7}}}");
    TAP_OK(cfg_is(gc, "Get", kc(60, 0, 100, 0, 0)), "\"Get\\u0000\" is not \"Get\" (rc %d)", rc);
    TAP_IS_INT(loads(gc, "{\"\\ud83d\\ude00 \\u00e9\\/\\\\\\\"\": {}, \"Get\": {\"ramp\": {\"local\": 8}}}"), GCACHE_OK,
               "escaped unknown name (surrogate pair, \\/, \\\\, \\\") loads");
    TAP_OK(cfg_is(gc, "Get", kc(60, 0, 8, 0, 0)), "... and the known one applies");

    /* long names: whatever length gcache_register accepts, the JSON side must round-trip */
    {
        static const size_t lens[] = { 1000, 2000, 10000 };
        size_t li;
        for (li = 0; li < sizeof lens / sizeof lens[0]; li++) {
            size_t nlen = lens[li], o = 0;
            char *name = (char *)malloc(nlen + 1), *doc = (char *)malloc(nlen + 128);
            int reg_rc;
            gcache_use_case_desc u;
            if (!name || !doc) { free(name); free(doc); continue; }
            memset(name, 'n', nlen); name[nlen] = 0;
            name[0] = (char)('A' + li);
            memset(&u, 0, sizeof u);
            u.name = name; u.key_type = "t";
            reg_rc = gcache_register(gc, &u, NULL);
            TAP_OK(reg_rc == GCACHE_OK || reg_rc == GCACHE_EINVAL, "register a %u-byte name: rc %d", (unsigned)nlen, reg_rc);
            /* an unknown (or just registered) long name in a load, next to a known one */
            memcpy(doc, "{\"", 2); o = 2;
            memcpy(doc + o, name, nlen); o += nlen;
            o += (size_t)sprintf(doc + o, "\": {\"ramp\": {\"local\": 1}}, \"Get\": {\"ramp\": {\"local\": %d}}}", 10 + (int)li);
            rc = load(gc, doc, o);
            if (reg_rc == GCACHE_OK) {
                char *d1, *d2;
                TAP_IS_INT(rc, GCACHE_OK, "a registrable long name loads from JSON");
                TAP_OK(cfg_is(gc, "Get", kc(60, 0, 10 + (int)li, 0, 0)), "... next to a known one");
                d1 = dump(gc);
                TAP_IS_INT(d1 ? loads(gc, d1) : -1000, GCACHE_OK, "load(dump) with a long registered name");
                d2 = dump(gc);
                TAP_OK(d1 && d2 && strcmp(d1, d2) == 0, "... dumps the same bytes again (%u-byte name)", (unsigned)nlen);
                free(d1); free(d2);
            } else {
                TAP_OK(rc == GCACHE_OK || rc == GCACHE_ECONFIG, "a name too long to register: loaded or refused (rc %d)", rc);
            }
            free(name); free(doc);
        }
    }
    gcache_destroy(gc);

    /* 300 use cases: dump, load the dump, dump again */
    gc = new_gc(NULL);
    if (!TAP_OK(gc != NULL, "scale: create")) return;
    for (i = 0; i < 300; i++) {
        char name[32];
        gcache_key_config c = kc(i, 2 * i, i % 101, (3 * i) % 101, i % 7);
        snprintf(name, sizeof name, "UseCase_%03d", i);
        if (!reg(gc, name, kc(1, 1, 1, 1, 1))) break;
        if (i % 2) gcache_config_set(gc, name, &c);
    }
    TAP_IS_INT(i, 300, "register 300 use cases");
    {
        char *d1 = dump(gc), *d2 = NULL;
        gcache_key_config c;
        TAP_OK(d1 != NULL && strlen(d1) > 300 * 100, "dump of 300 use cases (%u bytes)", d1 ? (unsigned)strlen(d1) : 0u);
        if (d1) {
            TAP_IS_INT(gcache_config_load_json(gc, "{}", 2), GCACHE_OK, "clear");
            TAP_OK(get_cfg(gc, "UseCase_299", &c) == GCACHE_OK && cfg_is(gc, "UseCase_299", kc(1, 1, 1, 1, 1)),
                   "cleared: defaults");
            TAP_IS_INT(loads(gc, d1), GCACHE_OK, "load the big dump");
            d2 = dump(gc);
            TAP_IS_STR(d2, d1, "300 use cases: load(dump) then dump gives identical bytes");
            TAP_OK(get_cfg(gc, "UseCase_299", &c) == GCACHE_OK && cfg_is(gc, "UseCase_299", kc(299, 598, 299 % 101, 897 % 101, 299 % 7)),
                   "the dump restored a config_set override");
        }
        free(d1); free(d2);
    }
    gcache_destroy(gc);
}

/* ---- bad inputs ----------------------------------------------------------------------------- */

typedef struct { const char *what; const char *json; size_t len; /* 0 = strlen */ } bad_case;
#define BAD(w, j) { w, j, 0 }
#define BADN(w, j) { w, j, sizeof(j) - 1 }

static const bad_case bad_cases[] = {
    BAD("unknown field", "{\"GetUser\": {\"ttl\": 5}}"),
    BAD("unknown layer", "{\"GetUser\": {\"ttl_sec\": {\"global\": 5}}}"),
    BAD("field names are case-sensitive", "{\"GetUser\": {\"TTL_SEC\": {\"local\": 5}}}"),
    BAD("non-integer 1.5", "{\"GetUser\": {\"ttl_sec\": {\"local\": 1.5}}}"),
    BAD("string \"60\"", "{\"GetUser\": {\"ttl_sec\": {\"local\": \"60\"}}}"),
    BAD("true", "{\"GetUser\": {\"ramp\": {\"local\": true}}}"),
    BAD("null value", "{\"GetUser\": {\"ramp\": {\"local\": null}}}"),
    BAD("negative ttl", "{\"GetUser\": {\"ttl_sec\": {\"local\": -1}}}"),
    BAD("negative remote ttl", "{\"GetUser\": {\"ttl_sec\": {\"remote\": -5}}}"),
    BAD("negative negative_ttl_sec", "{\"GetUser\": {\"negative_ttl_sec\": -1}}"),
    BAD("ramp 101", "{\"GetUser\": {\"ramp\": {\"local\": 101}}}"),
    BAD("ramp -1", "{\"GetUser\": {\"ramp\": {\"remote\": -1}}}"),
    BAD("duplicate use case", "{\"GetUser\": {}, \"GetUser\": {}}"),
    BAD("duplicate use case (escaped spelling)", "{\"GetUser\": {}, \"Get\\u0055ser\": {}}"),
    BAD("duplicate field", "{\"GetUser\": {\"ramp\": {\"local\": 1}, \"ramp\": {\"local\": 2}}}"),
    BAD("duplicate layer", "{\"GetUser\": {\"ramp\": {\"local\": 1, \"local\": 1}}}"),
    BAD("duplicate negative_ttl_sec", "{\"GetUser\": {\"negative_ttl_sec\": 1, \"negative_ttl_sec\": 1}}"),
    BAD("trailing garbage", "{} x"),
    BAD("two documents", "{}{}"),
    BAD("extra closing brace", "{\"GetUser\": {}}}"),
    BAD("huge number", "{\"GetUser\": {\"ttl_sec\": {\"local\": 99999999999999999999}}}"),
    BAD("huge negative number", "{\"GetUser\": {\"ttl_sec\": {\"local\": -99999999999999999999}}}"),
    BAD("INT_MAX + 1", "{\"GetUser\": {\"ttl_sec\": {\"local\": 2147483648}}}"),
    BAD("2^64", "{\"GetUser\": {\"negative_ttl_sec\": 18446744073709551616}}"),
    BAD("empty input", ""),
    BAD("whitespace only", " \n\t "),
    BAD("top level array", "[]"),
    BAD("top level string", "\"GetUser\""),
    BAD("top level null", "null"),
    BAD("top level number", "5"),
    BAD("use case is a number", "{\"GetUser\": 5}"),
    BAD("use case is null", "{\"GetUser\": null}"),
    BAD("use case is an array", "{\"GetUser\": []}"),
    BAD("ttl_sec is a number", "{\"GetUser\": {\"ttl_sec\": 60}}"),
    BAD("ttl_sec is an array", "{\"GetUser\": {\"ttl_sec\": [60, 300]}}"),
    BAD("negative_ttl_sec is an object", "{\"GetUser\": {\"negative_ttl_sec\": {\"local\": 1}}}"),
    BAD("nested junk", "{\"GetUser\": {\"ttl_sec\": {\"local\": {\"x\": 1}}}}"),
    BAD("array value", "{\"GetUser\": {\"ttl_sec\": {\"local\": [1]}}}"),
    BAD("trailing comma (top)", "{\"GetUser\": {},}"),
    BAD("trailing comma (layer)", "{\"GetUser\": {\"ramp\": {\"local\": 1,}}}"),
    BAD("leading comma", "{, \"GetUser\": {}}"),
    BAD("single quotes", "{'GetUser': {}}"),
    BAD("unquoted key", "{GetUser: {}}"),
    BAD("comment", "{/* c */}"),
    BAD("missing colon", "{\"GetUser\" {}}"),
    BAD("missing value", "{\"GetUser\": }"),
    BAD("missing comma", "{\"GetUser\": {} \"ListPosts\": {}}"),
    BAD("leading zero", "{\"GetUser\": {\"ramp\": {\"local\": 05}}}"),
    BAD("plus sign", "{\"GetUser\": {\"ramp\": {\"local\": +5}}}"),
    BAD("lone minus", "{\"GetUser\": {\"ramp\": {\"local\": -}}}"),
    BAD("hex number", "{\"GetUser\": {\"ramp\": {\"local\": 0x10}}}"),
    BAD("two numbers", "{\"GetUser\": {\"ramp\": {\"local\": 1 2}}}"),
    BAD("NaN", "{\"GetUser\": {\"ramp\": {\"local\": NaN}}}"),
    BAD("Infinity", "{\"GetUser\": {\"ramp\": {\"local\": Infinity}}}"),
    BAD("unterminated string", "{\"GetUser: {}}"),
    BAD("invalid UTF-8 in a name", "{\"Get\xffUser\": {}}"),
    BAD("invalid UTF-8 in a field name", "{\"GetUser\": {\"ttl\xc3_sec\": {}}}"),
    BAD("overlong UTF-8", "{\"\xc0\xaf\": {}}"),
    BAD("UTF-8 encoded surrogate", "{\"\xed\xa0\x80\": {}}"),
    BAD("truncated UTF-8", "{\"\xe6\x97\": {}}"),
    BAD("raw control byte in a string", "{\"Get\x01User\": {}}"),
    BAD("raw newline in a string", "{\"Get\nUser\": {}}"),
    BAD("bad escape", "{\"Get\\qUser\": {}}"),
    BAD("short \\u escape", "{\"Get\\u12\": {}}"),
    BADN("NUL inside a string", "{\"Get\0User\": {}}"),
    BADN("NUL between tokens", "{\"GetUser\":\0 {}}"),
    BADN("NUL after the document", "{}\0"),
    BADN("NUL inside a number", "{\"GetUser\": {\"ramp\": {\"local\": 1\0" "0}}}"),
    BAD("valid, then an out-of-range value", "{\"GetUser\": {\"ttl_sec\": {\"local\": 60}, \"ramp\": {\"remote\": 101}}}"),
    BAD("a valid use case, then a bad one",
        "{\"ListPosts\": {\"ttl_sec\": {\"local\": 1}}, \"GetUser\": {\"bogus\": 1}}"),
};

static void check_unchanged(gcache *gc, const char *before, gcache_key_config u, gcache_key_config p, const char *what) {
    char *after = dump(gc);
    int same = after && before && strcmp(after, before) == 0 && cfg_is(gc, "GetUser", u) && cfg_is(gc, "ListPosts", p);
    TAP_OK(same, "%s: old config kept (dump and config_get unchanged)", what);
    free(after);
}

static void test_bad_inputs(void) {
    gcache *gc = std_gc();
    const char *base = "{\"GetUser\": {\"ttl_sec\": {\"local\": 11, \"remote\": 12}, \"ramp\": {\"local\": 13, "
                       "\"remote\": 14}, \"negative_ttl_sec\": 3}, \"ListPosts\": {\"ttl_sec\": {\"local\": 21}}, "
                       "\"Later2\": {\"ramp\": {\"local\": 42}}}";
    gcache_key_config u = kc(11, 12, 13, 14, 3), p = kc(21, 0, 100, 0, 0);
    char *before;
    size_t i, n, fails;
    if (!TAP_OK(gc != NULL, "bad inputs: create")) return;
    TAP_IS_INT(loads(gc, base), GCACHE_OK, "load the base config");
    before = dump(gc);
    TAP_OK(before != NULL && cfg_is(gc, "GetUser", u) && cfg_is(gc, "ListPosts", p), "base config in force");

    TAP_OK(sizeof bad_cases / sizeof bad_cases[0] >= 20, "at least 20 bad inputs (%u)",
           (unsigned)(sizeof bad_cases / sizeof bad_cases[0]));
    for (i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const bad_case *c = &bad_cases[i];
        size_t len = c->len ? c->len : strlen(c->json);
        int rc = load(gc, c->json, len);
        char name[160];
        snprintf(name, sizeof name, "bad input '%s': GCACHE_ECONFIG", c->what);
        TAP_IS_INT(rc, GCACHE_ECONFIG, name);
        check_unchanged(gc, before, u, p, c->what);
    }

    /* every proper prefix of a valid document */
    {
        const char *doc = "{\"GetUser\": {\"ttl_sec\": {\"local\": 60, \"remote\": 300}, \"ramp\": {\"local\": 100, "
                          "\"remote\": 50}, \"negative_ttl_sec\": 5}, \"ListPosts\": {\"ramp\": {\"local\": 7}}}";
        size_t len = strlen(doc);
        fails = 0;
        for (n = 0; n < len; n++) {
            int rc = load(gc, doc, n);
            char *after = dump(gc);
            if (rc != GCACHE_ECONFIG || !after || strcmp(after, before) != 0) {
                if (fails++ < 5) TAP_DIAG("prefix of length %u: rc %d", (unsigned)n, rc);
            }
            free(after);
        }
        TAP_IS_INT(fails, 0, "every truncation of a valid document: GCACHE_ECONFIG, old config kept");
        check_unchanged(gc, before, u, p, "after all truncations");
        TAP_IS_INT(load(gc, doc, len), GCACHE_OK, "the untruncated document loads");
        TAP_OK(cfg_is(gc, "ListPosts", kc(10, 0, 7, 0, 0)), "... and applies");
        TAP_IS_INT(loads(gc, base), GCACHE_OK, "reload the base");
    }

    /* deep nesting must not overflow the stack */
    {
        size_t depth = 200000, o = 0;
        char *deep = (char *)malloc(depth * 2 + 64);
        if (deep) {
            for (n = 0; n < depth; n++) deep[o++] = '[';
            for (n = 0; n < depth; n++) deep[o++] = ']';
            TAP_IS_INT(load(gc, deep, o), GCACHE_ECONFIG, "200,000 nested arrays at the top: GCACHE_ECONFIG");
            check_unchanged(gc, before, u, p, "deep arrays");
            o = 0;
            memcpy(deep + o, "{\"GetUser\": {\"ttl_sec\": {\"local\": ", 34); o += 34;
            for (n = 0; n < depth; n++) deep[o++] = '[';
            for (n = 0; n < depth; n++) deep[o++] = ']';
            memcpy(deep + o, "}}}", 3); o += 3;
            TAP_IS_INT(load(gc, deep, o), GCACHE_ECONFIG, "200,000 nested arrays as a value: GCACHE_ECONFIG");
            check_unchanged(gc, before, u, p, "deep arrays as a value");
            o = 0;
            for (n = 0; n < depth / 8; n++) { memcpy(deep + o, "{\"a\": ", 6); o += 6; }
            TAP_IS_INT(load(gc, deep, o), GCACHE_ECONFIG, "25,000 unterminated nested objects: GCACHE_ECONFIG");
            check_unchanged(gc, before, u, p, "deep objects");
            free(deep);
        }
    }

    /* a huge but valid document of unknown use cases loads; the use case then stays */
    TAP_OK(reg(gc, "Later2", kc(1, 2, 3, 4, 0)) != NULL && cfg_is(gc, "Later2", kc(1, 2, 42, 4, 0)),
           "unknown use case from the base load survived every failed load");
    free(before);
    gcache_destroy(gc);
}

/* ---- out of memory: GCACHE_ENOMEM, old config kept ----------------------------------------- */

static void test_nomem(void) {
    counting_alloc fa;
    gcache_desc d;
    gcache *gc = NULL;
    char *before, *after;
    gcache_key_config c = kc(1, 2, 3, 4, 0);
    int rc;
    ca_init(&fa);
    memset(&d, 0, sizeof d);
    d.allocator = counting_allocator(&fa);
    if (!TAP_OK(gcache_create(&d, &gc) == GCACHE_OK, "nomem: create")) return;
    if (!TAP_OK(reg(gc, "GetUser", DEF_USER) != NULL && reg(gc, "ListPosts", DEF_POSTS) != NULL, "nomem: register")) {
        gcache_destroy(gc);
        return;
    }
    TAP_IS_INT(loads(gc, "{\"GetUser\": {\"ramp\": {\"local\": 42}}}"), GCACHE_OK, "nomem: base load");
    before = dump(gc);
    fa.fail = 1;
    rc = loads(gc, "{\"GetUser\": {\"ramp\": {\"local\": 7}}, \"ListPosts\": {}}");
    TAP_IS_INT(rc, GCACHE_ENOMEM, "load_json when the allocator fails: GCACHE_ENOMEM");
    TAP_IS_INT(gcache_config_set(gc, "Brand_new", &c), GCACHE_ENOMEM, "config_set of a new name when the allocator fails: GCACHE_ENOMEM");
    fa.fail = 0;
    after = dump(gc);
    TAP_OK(before && after && strcmp(before, after) == 0 && cfg_is(gc, "GetUser", kc(60, 300, 42, 50, 5)),
           "after GCACHE_ENOMEM the old config is kept");
    TAP_OK(reg(gc, "Brand_new", DEF_POSTS) != NULL && cfg_is(gc, "Brand_new", DEF_POSTS),
           "the failed config_set left no override behind");
    TAP_IS_INT(loads(gc, "{\"GetUser\": {\"ramp\": {\"local\": 7}}}"), GCACHE_OK, "allocator back: load works");
    free(before); free(after);
    gcache_destroy(gc);
    TAP_IS_INT(fa.live, 0, "nomem: every block freed after destroy");
    ca_destroy(&fa);
}

/* ---- the loaded TTL and ramp drive gcache_get (fake clock) --------------------------------- */

static void test_config_drives_get(void) {
    fake_clock clk;
    gcache *gc;
    gcache_use_case *uc;
    fetch_state f;
    int prev;
    clk.wall_ms = 1700000000000LL;
    clk.mono_ns = 1000000000ULL;
    f.calls = 0;
    gc = new_gc(&clk);
    if (!TAP_OK(gc != NULL, "drive: create")) return;
    uc = reg(gc, "GetUser", kc(60, 0, 100, 0, 0));
    if (!TAP_OK(uc != NULL, "drive: register")) { gcache_destroy(gc); return; }
    prev = gcache_enable(1);

    TAP_IS_INT(loads(gc, "{\"GetUser\": {\"ttl_sec\": {\"local\": 5}}}"), GCACHE_OK, "load local ttl 5");
    TAP_OK(get_ok(gc, uc, "t1", &f) && f.calls == 1, "first get fetches");
    fake_advance_ms(&clk, 4000);
    TAP_OK(get_ok(gc, uc, "t1", &f) && f.calls == 1, "4 s later: a hit (loaded ttl 5)");
    fake_advance_ms(&clk, 2000);
    TAP_OK(get_ok(gc, uc, "t1", &f) && f.calls == 2, "6 s later: expired under the loaded ttl, fetched again");

    TAP_IS_INT(loads(gc, "{\"GetUser\": {\"ramp\": {\"local\": 0}}}"), GCACHE_OK, "load ramp 0");
    {
        unsigned long long before = disabled(gc, "GetUser", GCACHE_LOCAL, GCACHE_REASON_RAMPED_DOWN);
        TAP_OK(get_ok(gc, uc, "t1", &f) && f.calls == 3, "ramped down at once: fetch although an entry is cached");
        TAP_IS_INT(disabled(gc, "GetUser", GCACHE_LOCAL, GCACHE_REASON_RAMPED_DOWN) - before, 1,
                   "counted as ramped_down");
    }
    TAP_IS_INT(loads(gc, "{}"), GCACHE_OK, "load {} (back to the default)");
    TAP_OK(get_ok(gc, uc, "t1", &f) && f.calls == 3, "ramp back up: the entry filled earlier is a hit again");
    {
        gcache_key_config c = kc(0, 0, 100, 100, 0);
        unsigned long long before = disabled(gc, "GetUser", GCACHE_LOCAL, GCACHE_REASON_MISSING_CONFIG);
        TAP_IS_INT(gcache_config_set(gc, "GetUser", &c), GCACHE_OK, "config_set local ttl 0");
        TAP_OK(get_ok(gc, uc, "t1", &f) && f.calls == 4, "ttl 0: layer off, fetch");
        TAP_IS_INT(disabled(gc, "GetUser", GCACHE_LOCAL, GCACHE_REASON_MISSING_CONFIG) - before, 1,
                   "counted as missing_config");
    }
    gcache_enable(prev);
    gcache_destroy(gc);
}

/* ---- provider precedence -------------------------------------------------------------------- */

typedef struct { int mode; gcache_key_config cfg; int calls; int key_ok; } prov_state;
static int provider(void *user, const gcache_key *key, gcache_key_config *out) {
    prov_state *p = (prov_state *)user;
    const char *s = key ? gcache_key_str(key, NULL) : NULL;
    p->calls++;
    if (s && strncmp(s, "urn:user_id:", 12) == 0 && out) p->key_ok++;
    if (p->mode == 1) { *out = p->cfg; return 1; }
    return p->mode;
}

static void test_provider(void) {
    gcache_desc d;
    gcache *gc = NULL;
    gcache_use_case *uc;
    prov_state ps;
    fetch_state f;
    gcache_key_config on = kc(60, 0, 100, 0, 0), off = kc(60, 0, 0, 0, 0);
    unsigned long long r0, m0, e0, e0r;
    int prev, calls_before;
    memset(&ps, 0, sizeof ps);
    memset(&d, 0, sizeof d);
    f.calls = 0;
    d.config_provider = provider;
    d.config_user = &ps;
    /* a remote layer too, so that "every layer off" is visible at REMOTE (configs below
       keep its ttl at 0, so it never caches) */
    if (!TAP_OK(gcache_remote_memory(NULL, &d.remote) == GCACHE_OK, "provider: memory remote")) return;
    if (!TAP_OK(gcache_create(&d, &gc) == GCACHE_OK, "provider: create")) { d.remote.destroy(d.remote.ctx); return; }
    uc = reg(gc, "GetUser", off); /* default: ramped down */
    if (!TAP_OK(uc != NULL, "provider: register")) { gcache_destroy(gc); return; }
    prev = gcache_enable(1);

    ps.mode = 0;
    r0 = disabled(gc, "GetUser", GCACHE_LOCAL, GCACHE_REASON_RAMPED_DOWN);
    TAP_OK(get_ok(gc, uc, "a", &f) && get_ok(gc, uc, "a", &f) && f.calls == 2,
           "provider 0, empty store: the default (ramp 0) applies, fetched twice");
    TAP_IS_INT(disabled(gc, "GetUser", GCACHE_LOCAL, GCACHE_REASON_RAMPED_DOWN) - r0, 2, "... counted as ramped_down");
    TAP_OK(ps.calls >= 2, "the provider is called on every get");

    TAP_IS_INT(gcache_config_set(gc, "GetUser", &on), GCACHE_OK, "store: ramp 100");
    TAP_OK(get_ok(gc, uc, "b", &f) && get_ok(gc, uc, "b", &f) && f.calls == 3,
           "provider 0: the runtime store wins over the default (cached)");

    ps.mode = 1; ps.cfg = off;
    r0 = disabled(gc, "GetUser", GCACHE_LOCAL, GCACHE_REASON_RAMPED_DOWN);
    TAP_OK(get_ok(gc, uc, "b", &f) && f.calls == 4, "provider 1 (ramp 0) wins over the store: the cached b is not served");
    TAP_OK(get_ok(gc, uc, "c", &f) && get_ok(gc, uc, "c", &f) && f.calls == 6, "provider 1 (ramp 0): nothing cached");
    TAP_IS_INT(disabled(gc, "GetUser", GCACHE_LOCAL, GCACHE_REASON_RAMPED_DOWN) - r0, 3, "... counted as ramped_down");

    TAP_IS_INT(gcache_config_set(gc, "GetUser", &off), GCACHE_OK, "store: ramp 0");
    ps.cfg = on;
    TAP_OK(get_ok(gc, uc, "d", &f) && get_ok(gc, uc, "d", &f) && f.calls == 7,
           "provider 1 (ramp 100) wins over a ramped-down store: cached");

    ps.cfg = kc(0, 0, 100, 100, 0);
    m0 = disabled(gc, "GetUser", GCACHE_LOCAL, GCACHE_REASON_MISSING_CONFIG);
    TAP_OK(get_ok(gc, uc, "d", &f) && f.calls == 8, "provider 1 with local ttl 0: layer off, fetch");
    TAP_IS_INT(disabled(gc, "GetUser", GCACHE_LOCAL, GCACHE_REASON_MISSING_CONFIG) - m0, 1, "... missing_config");

    ps.mode = -1;
    e0 = disabled(gc, "GetUser", GCACHE_LOCAL, GCACHE_REASON_CONFIG_ERROR);
    e0r = disabled(gc, "GetUser", GCACHE_REMOTE, GCACHE_REASON_CONFIG_ERROR);
    calls_before = ps.calls;
    TAP_OK(get_ok(gc, uc, "d", &f) && f.calls == 9, "provider error: fetch called, right value (cached d not used)");
    TAP_OK(get_ok(gc, uc, "e", &f) && get_ok(gc, uc, "e", &f) && f.calls == 11, "provider error: nothing cached");
    TAP_IS_INT(disabled(gc, "GetUser", GCACHE_LOCAL, GCACHE_REASON_CONFIG_ERROR) - e0, 3,
               "provider error: LOCAL disabled with reason config_error");
    TAP_IS_INT(disabled(gc, "GetUser", GCACHE_REMOTE, GCACHE_REASON_CONFIG_ERROR) - e0r, 3,
               "provider error: REMOTE disabled with reason config_error");
    TAP_IS_INT(ps.calls - calls_before, 3, "provider called once per get");
    ps.mode = -12345;
    TAP_OK(get_ok(gc, uc, "e", &f) && f.calls == 12, "any negative provider status is an error");
    ps.mode = 1;
    e0 = disabled(gc, "GetUser", GCACHE_LOCAL, GCACHE_REASON_CONFIG_ERROR);
    ps.cfg = kc(60, 0, 101, 0, 0);
    TAP_OK(get_ok(gc, uc, "d", &f) && f.calls == 13, "provider gives ramp 101: fetch (cached d not used)");
    ps.cfg = kc(-1, 0, 100, 0, 0);
    TAP_OK(get_ok(gc, uc, "d", &f) && f.calls == 14, "provider gives ttl -1: fetch");
    TAP_IS_INT(disabled(gc, "GetUser", GCACHE_LOCAL, GCACHE_REASON_CONFIG_ERROR) - e0, 2,
               "an out-of-range provided config counts as config_error");
    ps.mode = -1;
    {
        gcache_key_config c;
        TAP_OK(gcache_config_get(gc, uc, &c) == GCACHE_OK && kc_eq(&c, &off),
               "config_get ignores the provider (store value)");
    }
    ps.mode = 0;
    TAP_IS_INT(gcache_config_set(gc, "GetUser", NULL), GCACHE_OK, "remove the store override");
    TAP_OK(get_ok(gc, uc, "d", &f) && f.calls == 15, "provider 0, no override: back to the default (ramp 0)");
    ps.mode = 1; ps.cfg = on;
    TAP_OK(get_ok(gc, uc, "d", &f) && f.calls == 15, "provider 1 again: d's entry is still there");
    TAP_IS_INT(ps.key_ok, ps.calls, "the provider always got the key being read");
    gcache_enable(prev);
    gcache_destroy(gc);
}

/* ---- atomic visibility ----------------------------------------------------------------------- */

/* two use cases, so that a dump that mixes two versions across use cases shows */
static const char *JA = "{\"GetUser\": {\"ttl_sec\": {\"local\": 101, \"remote\": 102}, \"ramp\": {\"local\": 100, "
                        "\"remote\": 14}, \"negative_ttl_sec\": 5}, \"ListPosts\": {\"ramp\": {\"remote\": 1}}}";
static const char *JB = "{\"GetUser\": {\"ttl_sec\": {\"local\": 201, \"remote\": 202}, \"ramp\": {\"local\": 50, "
                        "\"remote\": 24}, \"negative_ttl_sec\": 6}, \"ListPosts\": {\"ramp\": {\"remote\": 2}}}";

typedef struct {
    gcache *gc;
    gcache_use_case *uc;
    const char *dump_a, *dump_b;
    pthread_mutex_t mu;
    int stop;
    long seen_a, seen_b, mixed, bad_dump, bad_get, iters;
    int readers_saw_both; /* readers that saw both configs so far */
} vis_state;

static int vis_readers_done(vis_state *v) {
    int n;
    pthread_mutex_lock(&v->mu);
    n = v->readers_saw_both;
    pthread_mutex_unlock(&v->mu);
    return n;
}

static int vis_stopped(vis_state *v) {
    int s;
    pthread_mutex_lock(&v->mu);
    s = v->stop;
    pthread_mutex_unlock(&v->mu);
    return s;
}

static void *vis_reader(void *arg) {
    vis_state *v = (vis_state *)arg;
    gcache_key_config a = kc(101, 102, 100, 14, 5), b = kc(201, 202, 50, 24, 6);
    long sa = 0, sb = 0, mixed = 0, bad_dump = 0, bad_get = 0, it = 0;
    int reported = 0;
    char buf[1024];
    char id[32];
    gcache_enable(1);
    while (!vis_stopped(v) || it < 1000) {
        gcache_key_config c;
        int i;
        for (i = 0; i < 64; i++, it++) {
            memset(&c, 0x77, sizeof c);
            if (gcache_config_get(v->gc, v->uc, &c) != GCACHE_OK) mixed++;
            else if (kc_eq(&c, &a)) sa++;
            else if (kc_eq(&c, &b)) sb++;
            else mixed++;
            snprintf(id, sizeof id, "%ld", it % 500);
            if (!get_ok(v->gc, v->uc, id, NULL)) bad_get++;
        }
        {
            int n = gcache_config_dump_json(v->gc, buf, sizeof buf);
            if (n < 0 || n >= (int)sizeof buf || (strcmp(buf, v->dump_a) != 0 && strcmp(buf, v->dump_b) != 0)) bad_dump++;
        }
        if (!reported && sa > 0 && sb > 0) {
            reported = 1;
            pthread_mutex_lock(&v->mu);
            v->readers_saw_both++;
            pthread_mutex_unlock(&v->mu);
        }
    }
    gcache_enable(-1);
    pthread_mutex_lock(&v->mu);
    v->seen_a += sa; v->seen_b += sb; v->mixed += mixed; v->bad_dump += bad_dump; v->bad_get += bad_get;
    v->iters += it;
    pthread_mutex_unlock(&v->mu);
    return NULL;
}

static void test_atomic_visibility(void) {
    vis_state v;
    pthread_t th[2];
    gcache *gc = new_gc(NULL);
    char *da, *db;
    int i, load_fail = 0;
    memset(&v, 0, sizeof v);
    if (!TAP_OK(gc != NULL, "visibility: create")) return;
    v.gc = gc;
    v.uc = reg(gc, "GetUser", kc(60, 300, 100, 50, 5));
    if (!TAP_OK(v.uc != NULL && reg(gc, "ListPosts", DEF_POSTS) != NULL, "visibility: register")) { gcache_destroy(gc); return; }
    loads(gc, JB); db = dump(gc);
    loads(gc, JA); da = dump(gc);
    if (!TAP_OK(da && db && strcmp(da, db) != 0, "visibility: two distinct dumps")) { gcache_destroy(gc); return; }
    v.dump_a = da; v.dump_b = db;
    pthread_mutex_init(&v.mu, NULL);
    for (i = 0; i < 2; i++) pthread_create(&th[i], NULL, vis_reader, &v);
    /* at least 3000 reloads, and on until both readers saw both configs (slow sanitizer
       builds may start the readers late); capped so a broken build still ends */
    for (i = 0; i < 3000 || (vis_readers_done(&v) < 2 && i < 3000000); i++)
        if (loads(gc, (i & 1) ? JA : JB) != GCACHE_OK) load_fail++;
    TAP_DIAG("visibility: %d reloads", i);
    pthread_mutex_lock(&v.mu);
    v.stop = 1;
    pthread_mutex_unlock(&v.mu);
    for (i = 0; i < 2; i++) pthread_join(th[i], NULL);
    TAP_DIAG("visibility: %ld reads, saw A %ld times and B %ld times", v.iters, v.seen_a, v.seen_b);
    TAP_IS_INT(load_fail, 0, "writer: every load_json succeeded");
    TAP_IS_INT(v.mixed, 0, "readers never saw a mix of two configs in gcache_config_get");
    TAP_IS_INT(v.bad_dump, 0, "readers' dumps were always exactly one of the two configs");
    TAP_IS_INT(v.bad_get, 0, "gcache_get always returned the right value during reloads");
    TAP_OK(v.seen_a > 0 && v.seen_b > 0, "readers saw both configs (updates visible without restart)");
    pthread_mutex_destroy(&v.mu);
    free(da); free(db);
    gcache_destroy(gc);
}

int main(void) {
    DEF_USER = kc(60, 300, 100, 50, 5);
    DEF_POSTS = kc(10, 0, 100, 0, 0);
    test_dump();
    test_load_semantics();
    test_names_and_scale();
    test_bad_inputs();
    test_nomem();
    test_config_drives_get();
    test_provider();
    test_atomic_visibility();
    return TAP_DONE();
}
