/* test_key.c -- the key builder and the use-case registry.

   Pins the reference key format byte for byte (DESIGN.md "Keys"), the %XX
   escaping that makes keys injective, the sticky GCACHE_EKEY errors, and a
   property test: over 1,000,000 random (id, args) inputs drawn from a small
   alphabet full of the special bytes, no two different inputs give the same
   key string, the same input gives the same key whatever the order of the
   args, and every key decodes back to its input. */
#define GCACHE_IMPLEMENTATION
#include "gcache.h"
#include "tap.h"
#include "testutil.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------------------ */

static gcache *new_gc(const char *urn_prefix) {
    gcache_desc d;
    gcache *gc = NULL;
    memset(&d, 0, sizeof d);
    d.urn_prefix = urn_prefix;
    if (gcache_create(&d, &gc) != GCACHE_OK) return NULL;
    return gc;
}

static gcache_use_case *reg(gcache *gc, const char *name, const char *key_type, int tracked) {
    gcache_use_case_desc u;
    gcache_use_case *uc = NULL;
    memset(&u, 0, sizeof u);
    u.name = name;
    u.key_type = key_type;
    u.track_for_invalidation = tracked;
    u.default_config.ttl_sec[GCACHE_LOCAL] = 60;
    u.default_config.ramp[GCACHE_LOCAL] = 100;
    if (gcache_register(gc, &u, &uc) != GCACHE_OK) return NULL;
    return uc;
}

/* ---- the reference-format table ------------------------------------------------------ */

enum { UC_TRACKED, UC_PLAIN, UC_GC_PREFIX, UC_APPX_TRACKED, UC_ODD_TYPE, UC_COUNT };

typedef struct { char kind; /* 's' string, 'i' int, 'b' bool */
                 const char *name; const char *sval; long long ival; } key_arg;
typedef struct {
    const char *what;
    int uc;
    int id_is_int; long long id_int; const char *id;
    int nargs; key_arg args[6];
    const char *want;
} key_case;

#define S(n, v) { 's', n, v, 0 }
#define I(n, v) { 'i', n, NULL, v }
#define B(n, v) { 'b', n, NULL, v }
#define NOARGS 0, { S(NULL, NULL) }

static const key_case key_cases[] = {
    { "reference example, tracked, int arg", UC_TRACKED, 1, 327, NULL, 1, { I("page", 2) },
      "{urn:user_id:327}?page=2#GetUser" },
    { "reference example, untracked, no args", UC_PLAIN, 1, 1, NULL, NOARGS, "urn:user_id:1#GetUser" },
    { "int id 0", UC_PLAIN, 1, 0, NULL, NOARGS, "urn:user_id:0#GetUser" },
    { "negative int id", UC_PLAIN, 1, -5, NULL, NOARGS, "urn:user_id:-5#GetUser" },
    { "LLONG_MIN id", UC_PLAIN, 1, LLONG_MIN, NULL, NOARGS, "urn:user_id:-9223372036854775808#GetUser" },
    { "LLONG_MAX id", UC_PLAIN, 1, LLONG_MAX, NULL, NOARGS, "urn:user_id:9223372036854775807#GetUser" },
    { "string id", UC_PLAIN, 0, 0, "abc", NOARGS, "urn:user_id:abc#GetUser" },
    { "string id, tracked, no args", UC_TRACKED, 0, 0, "abc", NOARGS, "{urn:user_id:abc}#GetUser" },
    { "string id that looks like an int", UC_PLAIN, 0, 0, "327", NOARGS, "urn:user_id:327#GetUser" },
    { "empty id", UC_PLAIN, 0, 0, "", NOARGS, "urn:user_id:#GetUser" },
    { "empty id, tracked", UC_TRACKED, 0, 0, "", NOARGS, "{urn:user_id:}#GetUser" },
    { "two args given out of order", UC_PLAIN, 0, 0, "1", 2, { S("sort", "recent"), I("page", 1) },
      "urn:user_id:1?page=1&sort=recent#GetUser" },
    { "five args out of order, byte order (A < _ < a)", UC_PLAIN, 0, 0, "x", 5,
      { S("c", "3"), S("a", "1"), S("b", "2"), S("A", "0"), S("_", "u") },
      "urn:user_id:x?A=0&_=u&a=1&b=2&c=3#GetUser" },
    { "shorter name sorts first", UC_PLAIN, 0, 0, "x", 3, { S("b", "3"), S("ab", "2"), S("a", "1") },
      "urn:user_id:x?a=1&ab=2&b=3#GetUser" },
    { "bools: any non-zero is True", UC_PLAIN, 0, 0, "x", 4,
      { B("y", -1), B("other", 0), B("x", 2), B("flag", 1) },
      "urn:user_id:x?flag=True&other=False&x=True&y=True#GetUser" },
    { "int args incl. negative, 0, LLONG_MIN", UC_PLAIN, 0, 0, "x", 3,
      { I("z", 0), I("n", -7), I("m", LLONG_MIN) },
      "urn:user_id:x?m=-9223372036854775808&n=-7&z=0#GetUser" },
    { "empty arg name sorts first", UC_PLAIN, 0, 0, "x", 2, { S("a", "1"), S("", "v") },
      "urn:user_id:x?=v&a=1#GetUser" },
    { "empty arg value", UC_PLAIN, 0, 0, "x", 1, { S("a", "") }, "urn:user_id:x?a=#GetUser" },
    { "empty id, name and value", UC_TRACKED, 0, 0, "", 1, { S("", "") }, "{urn:user_id:}?=#GetUser" },
    { "space, ':' and '/' kept", UC_PLAIN, 0, 0, "a b:c/d", 1, { S("p q", "r:s/t") },
      "urn:user_id:a b:c/d?p q=r:s/t#GetUser" },
    { "other punctuation kept", UC_PLAIN, 0, 0, "~!$'()*+,;@[]^`|\"\\<>.-_", NOARGS,
      "urn:user_id:~!$'()*+,;@[]^`|\"\\<>.-_#GetUser" },
    { "UTF-8 kept raw", UC_PLAIN, 0, 0, "Zo\xc3\xab \xe6\x97\xa5\xe6\x9c\xac", 1, { S("n\xc3\xa4me", "v\xc3\xa4l") },
      "urn:user_id:Zo\xc3\xab \xe6\x97\xa5\xe6\x9c\xac?n\xc3\xa4me=v\xc3\xa4l#GetUser" },
    { "invalid UTF-8 kept raw", UC_PLAIN, 0, 0, "\xff\xfe\x80\xc0", 1, { S("\x80", "\xc3") },
      "urn:user_id:\xff\xfe\x80\xc0?\x80=\xc3#GetUser" },
    { "every escaped punctuation byte in an id", UC_PLAIN, 0, 0, "%?&=#{}", NOARGS,
      "urn:user_id:%25%3F%26%3D%23%7B%7D#GetUser" },
    { "control bytes and 0x7f escaped, upper-case hex", UC_PLAIN, 0, 0, "\x01\x09\x0a\x0d\x1b\x1f\x7f", NOARGS,
      "urn:user_id:%01%09%0A%0D%1B%1F%7F#GetUser" },
    { "escaped bytes in arg name and value", UC_PLAIN, 0, 0, "1", 1, { S("a=b", "c&d") },
      "urn:user_id:1?a%3Db=c%26d#GetUser" },
    { "'?' and '#' in a value", UC_PLAIN, 0, 0, "1", 1, { S("q", "x?y#z") },
      "urn:user_id:1?q=x%3Fy%23z#GetUser" },
    { "all specials in name and value", UC_PLAIN, 0, 0, "1", 1, { S("%?&=#{}\x7f", "%?&=#{}\x01") },
      "urn:user_id:1?%25%3F%26%3D%23%7B%7D%7F=%25%3F%26%3D%23%7B%7D%01#GetUser" },
    { "sorted by escaped name: 'a{' (a%7B) before 'aa'", UC_PLAIN, 0, 0, "1", 2, { S("aa", "2"), S("a{", "1") },
      "urn:user_id:1?a%7B=1&aa=2#GetUser" },
    { "'a%' and 'a%25' are distinct names", UC_PLAIN, 0, 0, "1", 2, { S("a%25", "2"), S("a%", "1") },
      "urn:user_id:1?a%25=1&a%2525=2#GetUser" },
    { "escaped order: '$' < %01 < %26", UC_PLAIN, 0, 0, "1", 3, { S("&", "3"), S("\x01", "2"), S("$", "1") },
      "urn:user_id:1?$=1&%01=2&%26=3#GetUser" },
    { "bytes >= 0x80 sort after ASCII (unsigned)", UC_PLAIN, 0, 0, "1", 2, { S("\xc3\xa9", "2"), S("z", "1") },
      "urn:user_id:1?z=1&\xc3\xa9=2#GetUser" },
    { "lower-case '%2f' in input is escaped, not decoded", UC_PLAIN, 0, 0, "%2f", NOARGS,
      "urn:user_id:%252f#GetUser" },
    { "tracked id with braces", UC_TRACKED, 0, 0, "{x}", NOARGS, "{urn:user_id:%7Bx%7D}#GetUser" },
    { "tracked id trying to inject a hash tag and args", UC_TRACKED, 0, 0, "1}?a=b#X", NOARGS,
      "{urn:user_id:1%7D%3Fa%3Db%23X}#GetUser" },
    { "custom prefix urn:gc", UC_GC_PREFIX, 1, 1, NULL, NOARGS, "urn:gc:user_id:1#GetUser" },
    { "custom prefix urn:gc with args", UC_GC_PREFIX, 0, 0, "12345", 2, { S("sort", "created"), I("page", 1) },
      "urn:gc:user_id:12345?page=1&sort=created#GetUser" },
    { "custom prefix app.x, tracked", UC_APPX_TRACKED, 0, 0, "1", 1, { B("p", 1) },
      "{app.x:user_id:1}?p=True#GetUser" },
    { "key type and use case with '.', '-', '_'", UC_ODD_TYPE, 0, 0, "org-789", NOARGS,
      "urn:org.id-v2_x:org-789#Use.Case-1_x" },
    { "reference seed example", UC_GC_PREFIX, 1, 123, NULL, 2, { S("sort", "recent"), I("page", 1) },
      "urn:gc:user_id:123?page=1&sort=recent#GetUser" },
};

static void build_case(gcache_key *k, gcache_use_case *uc, const key_case *c) {
    int i;
    if (c->id_is_int) gcache_key_init_int(k, uc, c->id_int);
    else gcache_key_init(k, uc, c->id);
    for (i = 0; i < c->nargs; i++) {
        const key_arg *a = &c->args[i];
        if (a->kind == 's') gcache_key_add(k, a->name, a->sval);
        else if (a->kind == 'i') gcache_key_add_int(k, a->name, a->ival);
        else gcache_key_add_bool(k, a->name, (int)a->ival);
    }
}

static void test_table(gcache_use_case **ucs) {
    size_t i;
    TAP_OK(sizeof key_cases / sizeof key_cases[0] >= 25, "at least 25 key format cases (%u)",
           (unsigned)(sizeof key_cases / sizeof key_cases[0]));
    for (i = 0; i < sizeof key_cases / sizeof key_cases[0]; i++) {
        const key_case *c = &key_cases[i];
        gcache_key k;
        size_t len = 12345;
        const char *s;
        build_case(&k, ucs[c->uc], c);
        s = gcache_key_str(&k, &len);
        if (c->nargs > GCACHE_KEY_MAX_ARGS || strlen(c->want) > GCACHE_KEY_MAX) {
            /* a build with small GCACHE_KEY_MAX / GCACHE_KEY_MAX_ARGS: this case must be refused */
            TAP_OK(s == NULL && gcache_key_error(&k) == GCACHE_EKEY, "key case %u (%s): over this build's limits: GCACHE_EKEY",
                   (unsigned)i, c->what);
            continue;
        }
        if (!s) {
            TAP_OK(0, "key case %u (%s): key_str returned NULL, error %d", (unsigned)i, c->what, gcache_key_error(&k));
            continue;
        }
        TAP_IS_MEM(s, len, c->want, strlen(c->want), c->what);
        TAP_OK(strlen(s) == len && gcache_key_error(&k) == GCACHE_OK,
               "key case %u (%s): NUL-terminated, len == strlen, no error", (unsigned)i, c->what);
    }
}

/* ---- sticky errors ---------------------------------------------------------------------- */

static void test_key_len_limits(gcache *gc) {
    gcache_use_case *uc = reg(gc, "U", "t", 0);
    gcache_use_case *tuc = reg(gc, "V", "t", 1);
    char *id = (char *)malloc(GCACHE_KEY_MAX + 64);
    char *val = (char *)malloc(GCACHE_KEY_MAX + 64);
    gcache_key k;
    size_t len = 0, n, pct;
    const char *s;
    TAP_OK(uc && tuc && id && val, "setup for length limits");
    if (!uc || !tuc || !id || !val) { free(id); free(val); return; }

    /* "urn:t:" + id + "#U" = 8 + strlen(id) */
    n = GCACHE_KEY_MAX - 8;
    memset(id, 'a', n); id[n] = 0;
    gcache_key_init(&k, uc, id);
    s = gcache_key_str(&k, &len);
    TAP_OK(s != NULL && len == GCACHE_KEY_MAX && gcache_key_error(&k) == GCACHE_OK,
           "key of exactly GCACHE_KEY_MAX (%d) bytes is fine", GCACHE_KEY_MAX);
    id[n] = 'a'; id[n + 1] = 0;
    gcache_key_init(&k, uc, id);
    TAP_IS_INT(gcache_key_error(&k), GCACHE_EKEY, "GCACHE_KEY_MAX + 1 bytes: GCACHE_EKEY");
    TAP_OK(gcache_key_str(&k, NULL) == NULL, "overlong key: key_str NULL");

    /* the same with escaping: pct '%' bytes (3 output bytes each) plus 'a's */
    pct = (GCACHE_KEY_MAX - 8) / 3;
    memset(id, '%', pct);
    memset(id + pct, 'a', (GCACHE_KEY_MAX - 8) - 3 * pct);
    id[pct + (GCACHE_KEY_MAX - 8) - 3 * pct] = 0;
    gcache_key_init(&k, uc, id);
    s = gcache_key_str(&k, &len);
    TAP_OK(s != NULL && len == GCACHE_KEY_MAX, "escaped id filling exactly GCACHE_KEY_MAX bytes is fine");
    strcat(id, "a");
    gcache_key_init(&k, uc, id);
    TAP_IS_INT(gcache_key_error(&k), GCACHE_EKEY, "escaped id one byte over: GCACHE_EKEY");
    /* raw length fits (KEY_MAX - 8 bytes), but one '%' costs 2 more bytes escaped */
    n = GCACHE_KEY_MAX - 8;
    memset(id, 'a', n - 1); id[n - 1] = '%'; id[n] = 0;
    gcache_key_init(&k, uc, id);
    TAP_IS_INT(gcache_key_error(&k), GCACHE_EKEY, "escaping pushes a fitting raw id over: GCACHE_EKEY");

    /* tracked: "{urn:t:" + id + "}#V" = 10 + strlen(id) */
    n = GCACHE_KEY_MAX - 10;
    memset(id, 'b', n); id[n] = 0;
    gcache_key_init(&k, tuc, id);
    s = gcache_key_str(&k, &len);
    TAP_OK(s != NULL && len == GCACHE_KEY_MAX && s[0] == '{', "tracked key of exactly GCACHE_KEY_MAX bytes");
    id[n] = 'b'; id[n + 1] = 0;
    gcache_key_init(&k, tuc, id);
    TAP_IS_INT(gcache_key_error(&k), GCACHE_EKEY, "tracked key one byte over: GCACHE_EKEY");

    /* with one arg: "urn:t:1?a=" + val + "#U" = 12 + strlen(val) */
    n = GCACHE_KEY_MAX - 12;
    memset(val, 'v', n); val[n] = 0;
    gcache_key_init(&k, uc, "1");
    gcache_key_add(&k, "a", val);
    s = gcache_key_str(&k, &len);
    TAP_OK(s != NULL && len == GCACHE_KEY_MAX, "key with one arg of exactly GCACHE_KEY_MAX bytes");
    val[n] = 'v'; val[n + 1] = 0;
    gcache_key_init(&k, uc, "1");
    gcache_key_add(&k, "a", val);
    TAP_IS_INT(gcache_key_error(&k), GCACHE_EKEY, "one arg, one byte over: GCACHE_EKEY");

    /* two args: "urn:t:1?a=X&b=Y#U" = 15 + |X| + |Y|; the second add crosses the limit */
    n = GCACHE_KEY_MAX - 15 - 1;
    memset(val, 'w', n); val[n] = 0;
    gcache_key_init(&k, uc, "1");
    gcache_key_add(&k, "b", val);
    gcache_key_add(&k, "a", "x");
    s = gcache_key_str(&k, &len);
    TAP_OK(s != NULL && len == GCACHE_KEY_MAX, "two args summing to exactly GCACHE_KEY_MAX bytes");
    gcache_key_init(&k, uc, "1");
    gcache_key_add(&k, "b", val);
    gcache_key_add(&k, "a", "xy");
    TAP_IS_INT(gcache_key_error(&k), GCACHE_EKEY, "second arg pushes the key one byte over: GCACHE_EKEY");
    gcache_key_init(&k, uc, "1");
    gcache_key_add(&k, "b", val);
    gcache_key_add(&k, "a", "%");
    TAP_IS_INT(gcache_key_error(&k), GCACHE_EKEY, "second arg over only after escaping: GCACHE_EKEY");
    gcache_key_init(&k, uc, "1");
    gcache_key_add(&k, "b", val);
    gcache_key_add_int(&k, "a", 10);
    TAP_IS_INT(gcache_key_error(&k), GCACHE_EKEY, "add_int pushing the key over: GCACHE_EKEY");
    gcache_key_init(&k, uc, "1");
    gcache_key_add(&k, "b", val);
    gcache_key_add_bool(&k, "a", 0);
    TAP_IS_INT(gcache_key_error(&k), GCACHE_EKEY, "add_bool pushing the key over: GCACHE_EKEY");

    /* a very long id does not overrun anything */
    {
        size_t big = 100000;
        char *huge = (char *)malloc(big + 1);
        if (huge) {
            memset(huge, '#', big); huge[big] = 0;
            gcache_key_init(&k, uc, huge);
            gcache_key_add(&k, "a", huge);
            TAP_IS_INT(gcache_key_error(&k), GCACHE_EKEY, "100,000-byte id and value: GCACHE_EKEY");
            gcache_key_init(&k, uc, "1");
            gcache_key_add(&k, huge, "v");
            TAP_IS_INT(gcache_key_error(&k), GCACHE_EKEY, "100,000-byte arg name: GCACHE_EKEY");
            free(huge);
        }
    }
    free(id);
    free(val);
}

static void test_key_args_limits(gcache *gc) {
    gcache_use_case *uc = gcache_use_case_find(gc, "U");
    gcache_key k;
    char name[16];
    int i;
    const char *s;
    gcache_key_init(&k, uc, "1");
    for (i = 0; i < GCACHE_KEY_MAX_ARGS; i++) {
        snprintf(name, sizeof name, "n%03d", GCACHE_KEY_MAX_ARGS - 1 - i); /* reverse order */
        gcache_key_add_int(&k, name, i);
    }
    s = gcache_key_str(&k, NULL);
    TAP_OK(s != NULL && gcache_key_error(&k) == GCACHE_OK, "GCACHE_KEY_MAX_ARGS (%d) args are fine", GCACHE_KEY_MAX_ARGS);
    if (s) {
        /* sorted: n000 comes first, with the last value added */
        char want[64];
        snprintf(want, sizeof want, "urn:t:1?n000=%d&", GCACHE_KEY_MAX_ARGS - 1);
        TAP_OK(strncmp(s, want, strlen(want)) == 0, "max args sorted (%s...)", want);
    }
    gcache_key_add(&k, "zzz", "1");
    TAP_IS_INT(gcache_key_error(&k), GCACHE_EKEY, "one arg more than GCACHE_KEY_MAX_ARGS: GCACHE_EKEY");
    TAP_OK(gcache_key_str(&k, NULL) == NULL, "too many args: key_str NULL");

    /* duplicates */
    gcache_key_init(&k, uc, "1");
    gcache_key_add(&k, "a", "1");
    gcache_key_add(&k, "a", "2");
    TAP_IS_INT(gcache_key_error(&k), GCACHE_EKEY, "duplicate arg name: GCACHE_EKEY");
    gcache_key_init(&k, uc, "1");
    gcache_key_add(&k, "a", "1");
    gcache_key_add(&k, "b", "1");
    gcache_key_add(&k, "a", "1");
    TAP_IS_INT(gcache_key_error(&k), GCACHE_EKEY, "duplicate arg name with the same value: GCACHE_EKEY");
    gcache_key_init(&k, uc, "1");
    gcache_key_add_int(&k, "page", 1);
    gcache_key_add_bool(&k, "page", 1);
    TAP_IS_INT(gcache_key_error(&k), GCACHE_EKEY, "duplicate via add_int and add_bool: GCACHE_EKEY");
    gcache_key_init(&k, uc, "1");
    gcache_key_add(&k, "", "1");
    gcache_key_add(&k, "", "2");
    TAP_IS_INT(gcache_key_error(&k), GCACHE_EKEY, "duplicate empty name: GCACHE_EKEY");
    gcache_key_init(&k, uc, "1");
    gcache_key_add(&k, "a%", "1");
    gcache_key_add(&k, "a%25", "2");
    gcache_key_add(&k, "a%2525", "3");
    s = gcache_key_str(&k, NULL);
    TAP_OK(s != NULL && strcmp(s, "urn:t:1?a%25=1&a%2525=2&a%252525=3#U") == 0,
           "'a%%', 'a%%25', 'a%%2525' are three distinct names (%s)", s ? s : "(null)");
    gcache_key_init(&k, uc, "1");
    gcache_key_add(&k, "A", "1");
    gcache_key_add(&k, "a", "2");
    TAP_OK(gcache_key_error(&k) == GCACHE_OK, "names differing only in case are distinct");
}

static void test_key_null_and_sticky(gcache *gc) {
    gcache_use_case *uc = gcache_use_case_find(gc, "U");
    gcache_key k;
    size_t len = 77;

    gcache_key_init(&k, NULL, "x");
    TAP_IS_INT(gcache_key_error(&k), GCACHE_EKEY, "NULL use case: GCACHE_EKEY");
    TAP_OK(gcache_key_str(&k, &len) == NULL, "NULL use case: key_str NULL");
    gcache_key_init_int(&k, NULL, 5);
    TAP_IS_INT(gcache_key_error(&k), GCACHE_EKEY, "NULL use case (int id): GCACHE_EKEY");
    gcache_key_init(&k, uc, NULL);
    TAP_IS_INT(gcache_key_error(&k), GCACHE_EKEY, "NULL id: GCACHE_EKEY");
    TAP_OK(gcache_key_str(&k, NULL) == NULL, "NULL id: key_str NULL");
    gcache_key_init(&k, uc, "x");
    gcache_key_add(&k, NULL, "v");
    TAP_IS_INT(gcache_key_error(&k), GCACHE_EKEY, "NULL arg name: GCACHE_EKEY");
    gcache_key_init(&k, uc, "x");
    gcache_key_add(&k, "n", NULL);
    TAP_IS_INT(gcache_key_error(&k), GCACHE_EKEY, "NULL arg value: GCACHE_EKEY");
    gcache_key_init(&k, uc, "x");
    gcache_key_add_int(&k, NULL, 1);
    TAP_IS_INT(gcache_key_error(&k), GCACHE_EKEY, "NULL name in add_int: GCACHE_EKEY");
    gcache_key_init(&k, uc, "x");
    gcache_key_add_bool(&k, NULL, 1);
    TAP_IS_INT(gcache_key_error(&k), GCACHE_EKEY, "NULL name in add_bool: GCACHE_EKEY");

    /* a NULL key struct is ignored, never a crash */
    gcache_key_init(NULL, uc, "x");
    gcache_key_init_int(NULL, uc, 1);
    gcache_key_add(NULL, "a", "b");
    gcache_key_add_int(NULL, "a", 1);
    gcache_key_add_bool(NULL, "a", 1);
    TAP_OK(gcache_key_str(NULL, &len) == NULL, "key_str(NULL): NULL");
    TAP_OK(gcache_key_error(NULL) < 0, "key_error(NULL): an error status");

    /* sticky: later valid adds change nothing */
    gcache_key_init(&k, uc, "x");
    gcache_key_add(&k, "a", "1");
    gcache_key_add(&k, "a", "2");            /* error here */
    gcache_key_add(&k, "b", "3");
    gcache_key_add_int(&k, "c", 4);
    gcache_key_add_bool(&k, "d", 1);
    TAP_IS_INT(gcache_key_error(&k), GCACHE_EKEY, "error sticks across later valid adds");
    TAP_OK(gcache_key_str(&k, &len) == NULL, "key_str stays NULL after the error");
    gcache_key_init(&k, NULL, "x");
    gcache_key_add(&k, "a", "1");
    TAP_IS_INT(gcache_key_error(&k), GCACHE_EKEY, "init error sticks across a valid add");
    TAP_OK(gcache_key_str(&k, NULL) == NULL, "init error: key_str NULL after adds");

    /* a new init starts a fresh key */
    gcache_key_init(&k, uc, "y");
    TAP_IS_INT(gcache_key_error(&k), GCACHE_OK, "re-init clears the error");
    TAP_IS_STR(gcache_key_str(&k, NULL), "urn:t:y#U", "re-init builds a fresh key");
    gcache_key_init_int(&k, uc, 9);
    gcache_key_add(&k, "a", "1");
    TAP_IS_STR(gcache_key_str(&k, NULL), "urn:t:9?a=1#U", "re-init drops the old args");
}

/* ---- reusing a key struct: adds after key_str / after gcache_get, copies, re-init ---------- */

typedef struct { int calls; } kfetch_state;
static int kfetch(void *user, const gcache_key *key, gcache_buf *out) {
    size_t len = 0;
    const char *s = gcache_key_str(key, &len);
    ((kfetch_state *)user)->calls++;
    return gcache_buf_set(out, s, len);
}

/* get k; 1 if the value is k's current key string */
static int kget(gcache *gc, gcache_key *k, kfetch_state *f) {
    gcache_buf b;
    size_t len = 0;
    const char *s = gcache_key_str(k, &len);
    int rc, ok;
    memset(&b, 0, sizeof b);
    rc = gcache_get(gc, k, kfetch, f, &b);
    ok = rc == GCACHE_OK && s && b.len == len && memcmp(b.data, s, len) == 0;
    gcache_buf_free(&b);
    return ok;
}

static void test_key_reuse(void) {
    const unsigned long long seed = 99;
    gcache_desc d;
    gcache *gc = NULL;
    gcache_use_case_desc u;
    gcache_use_case *uc = NULL;
    gcache_key k, k2;
    kfetch_state f;
    int i, prev, wrong = 0, mismatch = 0;
    memset(&d, 0, sizeof d);
    d.ramp_seed = seed;
    memset(&u, 0, sizeof u);
    u.name = "M"; u.key_type = "t";
    u.default_config.ttl_sec[GCACHE_LOCAL] = 600;
    u.default_config.ramp[GCACHE_LOCAL] = 50;
    if (!TAP_OK(gcache_create(&d, &gc) == GCACHE_OK && gcache_register(gc, &u, &uc) == GCACHE_OK, "reuse: setup")) {
        gcache_destroy(gc);
        return;
    }
    /* key_str in the middle of building */
    gcache_key_init(&k, uc, "1");
    gcache_key_add(&k, "b", "2");
    TAP_IS_STR(gcache_key_str(&k, NULL), "urn:t:1?b=2#M", "key_str while building");
    gcache_key_add(&k, "a", "1");
    TAP_IS_STR(gcache_key_str(&k, NULL), "urn:t:1?a=1&b=2#M", "add after key_str: the new arg is in the key");
    /* a struct copy is an independent key */
    memcpy(&k2, &k, sizeof k);
    gcache_key_add(&k2, "c", "3");
    TAP_IS_STR(gcache_key_str(&k2, NULL), "urn:t:1?a=1&b=2&c=3#M", "a copied key takes more args");
    TAP_IS_STR(gcache_key_str(&k, NULL), "urn:t:1?a=1&b=2#M", "the original is unchanged");

    prev = gcache_enable(1);
    f.calls = 0;
    for (i = 0; i < 300; i++) {
        int before, cached;
        size_t len = 0;
        const char *s;
        gcache_key_init_int(&k, uc, i);
        if (!kget(gc, &k, &f)) wrong++;          /* hashes the key inside gcache_get */
        gcache_key_add(&k, "extra", "1");        /* a different key now */
        s = gcache_key_str(&k, &len);
        before = f.calls;
        if (!kget(gc, &k, &f) || !kget(gc, &k, &f)) wrong++;
        cached = f.calls - before == 1;
        if (cached != (int)(gcache_xxh64(s, len, seed) % 100 < 50)) mismatch++;
        gcache_key_init_int(&k, uc, 100000 + i); /* re-init the used struct */
        s = gcache_key_str(&k, &len);
        before = f.calls;
        if (!kget(gc, &k, &f) || !kget(gc, &k, &f)) wrong++;
        cached = f.calls - before == 1;
        if (cached != (int)(gcache_xxh64(s, len, seed) % 100 < 50)) mismatch++;
    }
    gcache_enable(prev);
    TAP_IS_INT(wrong, 0, "a key changed after gcache_get is served its own value, never the old key's");
    TAP_IS_INT(mismatch, 0, "a key changed after gcache_get is ramped by its new bytes (no stale cached hash)");
    gcache_destroy(gc);
}

/* ---- registry -------------------------------------------------------------------------- */

static int reg_rc(gcache *gc, const char *name, const char *key_type, gcache_use_case **out) {
    gcache_use_case_desc u;
    memset(&u, 0, sizeof u);
    u.name = name;
    u.key_type = key_type;
    u.default_config.ttl_sec[GCACHE_LOCAL] = 10;
    u.default_config.ramp[GCACHE_LOCAL] = 100;
    return gcache_register(gc, &u, out);
}

static void test_registry(void) {
    gcache *gc = new_gc(NULL);
    gcache_use_case *a = NULL, *b = NULL, *out = NULL;
    gcache_use_case_desc u;
    int rc;
    static const char *bad_names[] = { "", "a b", "a:b", "a/b", "a#b", "a{b", "a}b", "a?b", "a=b", "a&b",
                                       "a%b", "a\tb", "a\x7f", "caf\xc3\xa9", "\xff", "a,b", "a\"b", "a\\b" };
    size_t i;
    TAP_OK(gc != NULL, "registry: create");
    if (!gc) return;

    TAP_IS_INT(reg_rc(gc, "GetUser", "user_id", &a), GCACHE_OK, "register GetUser");
    TAP_OK(a != NULL, "register sets *out");
    TAP_IS_INT(reg_rc(gc, "GetUser", "user_id", &b), GCACHE_EEXIST, "duplicate name: GCACHE_EEXIST");
    TAP_IS_INT(reg_rc(gc, "GetUser", "other_id", NULL), GCACHE_EEXIST, "duplicate name, other key type: GCACHE_EEXIST");
    TAP_OK(gcache_use_case_find(gc, "GetUser") == a, "find returns the registered use case");
    TAP_IS_INT(reg_rc(gc, "ListPosts", "user_id", NULL), GCACHE_OK, "register with out == NULL");
    TAP_OK(gcache_use_case_find(gc, "ListPosts") != NULL && gcache_use_case_find(gc, "ListPosts") != a,
           "find the use case registered with out == NULL");
    TAP_OK(gcache_use_case_find(gc, "getuser") == NULL, "find is case-sensitive");
    TAP_OK(gcache_use_case_find(gc, "Nope") == NULL, "find of an unknown name: NULL");
    TAP_OK(gcache_use_case_find(gc, "") == NULL, "find of \"\": NULL");
    TAP_OK(gcache_use_case_find(gc, NULL) == NULL, "find of NULL: NULL");
    TAP_OK(gcache_use_case_find(NULL, "GetUser") == NULL, "find on a NULL gcache: NULL");

    rc = reg_rc(gc, "watermark", "user_id", NULL);
    TAP_OK(rc == GCACHE_EINVAL || rc == GCACHE_EEXIST, "\"watermark\" is reserved (rc %d)", rc);
    TAP_OK(gcache_use_case_find(gc, "watermark") == NULL, "\"watermark\" was not registered");
    TAP_IS_INT(reg_rc(gc, "Watermark", "user_id", NULL), GCACHE_OK, "\"Watermark\" (other case) is an ordinary name");
    TAP_IS_INT(reg_rc(gc, "A-z_0.9", "K-y_0.9", NULL), GCACHE_OK, "full charset [A-Za-z0-9_.-] accepted");

    for (i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        TAP_IS_INT(reg_rc(gc, bad_names[i], "user_id", NULL), GCACHE_EINVAL, "bad use case name");
        TAP_IS_INT(reg_rc(gc, "Fine", bad_names[i], NULL), GCACHE_EINVAL, "bad key type");
    }
    TAP_OK(gcache_use_case_find(gc, "Fine") == NULL, "no use case registered by a failed call");
    TAP_IS_INT(reg_rc(gc, NULL, "user_id", NULL), GCACHE_EINVAL, "NULL name: GCACHE_EINVAL");
    TAP_IS_INT(reg_rc(gc, "X1", NULL, NULL), GCACHE_EINVAL, "NULL key type: GCACHE_EINVAL");
    TAP_IS_INT(gcache_register(gc, NULL, NULL), GCACHE_EINVAL, "NULL desc: GCACHE_EINVAL");
    memset(&u, 0, sizeof u);
    u.name = "X2"; u.key_type = "t";
    TAP_IS_INT(gcache_register(NULL, &u, &out), GCACHE_EINVAL, "NULL gcache: GCACHE_EINVAL");
    u.default_config.ramp[GCACHE_LOCAL] = 101;
    TAP_IS_INT(gcache_register(gc, &u, NULL), GCACHE_EINVAL, "default ramp 101: GCACHE_EINVAL");
    u.default_config.ramp[GCACHE_LOCAL] = 0;
    u.default_config.ttl_sec[GCACHE_REMOTE] = -1;
    TAP_IS_INT(gcache_register(gc, &u, NULL), GCACHE_EINVAL, "default ttl -1: GCACHE_EINVAL");
    TAP_OK(gcache_use_case_find(gc, "X2") == NULL, "bad default config: not registered");
    u.default_config.ttl_sec[GCACHE_REMOTE] = 0;
    TAP_IS_INT(gcache_register(gc, &u, NULL), GCACHE_OK, "the same desc with a good config registers");

    /* strings are copied */
    {
        char name[16], type[16];
        gcache_key k;
        strcpy(name, "Copied"); strcpy(type, "copy_t");
        TAP_IS_INT(reg_rc(gc, name, type, &out), GCACHE_OK, "register from a stack buffer");
        memset(name, 'X', sizeof name - 1); memset(type, 'Y', sizeof type - 1);
        TAP_OK(gcache_use_case_find(gc, "Copied") == out, "name copied at register");
        gcache_key_init(&k, out, "1");
        TAP_IS_STR(gcache_key_str(&k, NULL), "urn:copy_t:1#Copied", "key type copied at register");
    }
    gcache_destroy(gc);
}

static void test_registry_nomem(void) {
    counting_alloc fa;
    gcache_desc d;
    gcache *gc = NULL;
    gcache_use_case *out = (gcache_use_case *)&fa;
    ca_init(&fa);
    memset(&d, 0, sizeof d);
    d.allocator = counting_allocator(&fa);
    if (!TAP_OK(gcache_create(&d, &gc) == GCACHE_OK, "registry nomem: create")) return;
    fa.fail = 1;
    TAP_IS_INT(reg_rc(gc, "GetUser", "user_id", &out), GCACHE_ENOMEM, "register when the allocator fails: GCACHE_ENOMEM");
    fa.fail = 0;
    TAP_OK(gcache_use_case_find(gc, "GetUser") == NULL, "nothing registered by the failed call");
    TAP_IS_INT(reg_rc(gc, "GetUser", "user_id", &out), GCACHE_OK, "allocator back: the same name registers");
    gcache_destroy(gc);
    TAP_IS_INT(fa.live, 0, "registry nomem: every block freed after destroy");
    fa.fail = 1;
    gc = (gcache *)&fa;
    TAP_IS_INT(gcache_create(&d, &gc), GCACHE_ENOMEM, "create when the allocator fails: GCACHE_ENOMEM");
    TAP_OK(gc == NULL, "failed create: *out = NULL");
    fa.fail = 0;
    TAP_IS_INT(fa.live, 0, "failed create leaks nothing");
    ca_destroy(&fa);
}

static void test_create_prefixes(void) {
    static const char *bad_urn[] = { "", "urn/x", "ur n", "urn{", "urn}", "urn#", "urn?", "urn%", "urn\xc3\xa9", "u\trn",
                                     "urn=", "urn&" };
    static const char *good_urn[] = { "urn", "urn:gc", "app.x", "A-Z_0.9:x", ":", "x" };
    static const char *bad_metrics[] = { "9abc", "a-b", "a b", "a.b", "\xc3\xa9", "a/b" };
    static const char *good_metrics[] = { "", "my_app_", "_x", ":a", "A9:_" };
    size_t i;
    gcache_desc d;
    gcache *gc;
    for (i = 0; i < sizeof bad_urn / sizeof bad_urn[0]; i++) {
        memset(&d, 0, sizeof d);
        d.urn_prefix = bad_urn[i];
        gc = (gcache *)&d; /* must be overwritten with NULL */
        TAP_IS_INT(gcache_create(&d, &gc), GCACHE_EINVAL, "bad urn_prefix: GCACHE_EINVAL");
        TAP_OK(gc == NULL, "failed create sets *out = NULL");
        if (gc && gc != (gcache *)&d) gcache_destroy(gc);
    }
    for (i = 0; i < sizeof good_urn / sizeof good_urn[0]; i++) {
        memset(&d, 0, sizeof d);
        d.urn_prefix = good_urn[i];
        gc = NULL;
        TAP_IS_INT(gcache_create(&d, &gc), GCACHE_OK, "good urn_prefix accepted");
        gcache_destroy(gc);
    }
    for (i = 0; i < sizeof bad_metrics / sizeof bad_metrics[0]; i++) {
        memset(&d, 0, sizeof d);
        d.metrics_prefix = bad_metrics[i];
        gc = NULL;
        TAP_IS_INT(gcache_create(&d, &gc), GCACHE_EINVAL, "bad metrics_prefix: GCACHE_EINVAL");
        if (gc) gcache_destroy(gc);
    }
    for (i = 0; i < sizeof good_metrics / sizeof good_metrics[0]; i++) {
        memset(&d, 0, sizeof d);
        d.metrics_prefix = good_metrics[i];
        gc = NULL;
        TAP_IS_INT(gcache_create(&d, &gc), GCACHE_OK, "good metrics_prefix accepted");
        gcache_destroy(gc);
    }
    memset(&d, 0, sizeof d);
    TAP_IS_INT(gcache_create(NULL, &gc), GCACHE_EINVAL, "create with NULL desc: GCACHE_EINVAL");
    TAP_IS_INT(gcache_create(&d, NULL), GCACHE_EINVAL, "create with NULL out: GCACHE_EINVAL");
    gcache_destroy(NULL);
    TAP_OK(1, "gcache_destroy(NULL) is ignored");
    /* the prefix string is copied */
    {
        char prefix[8];
        gcache_use_case *uc;
        gcache_key k;
        strcpy(prefix, "pre");
        memset(&d, 0, sizeof d);
        d.urn_prefix = prefix;
        gc = NULL;
        if (gcache_create(&d, &gc) == GCACHE_OK) {
            strcpy(prefix, "XXX");
            uc = reg(gc, "U", "t", 0);
            gcache_key_init(&k, uc, "1");
            TAP_IS_STR(gcache_key_str(&k, NULL), "pre:t:1#U", "urn_prefix copied at create");
            gcache_destroy(gc);
        } else {
            TAP_OK(0, "create with urn_prefix \"pre\"");
        }
    }
}

static void test_strerror(void) {
    int codes[] = { GCACHE_OK, GCACHE_NOT_FOUND, GCACHE_EINVAL, GCACHE_ENOMEM, GCACHE_EKEY, GCACHE_EEXIST,
                    GCACHE_EBACKEND, GCACHE_ETIMEOUT, GCACHE_ECORRUPT, GCACHE_ETOOBIG, GCACHE_ECONFIG,
                    12345, -12345, INT_MIN, INT_MAX };
    size_t i;
    int ok = 1;
    for (i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        const char *s = gcache_strerror(codes[i]);
        if (!s || (i < 11 && !*s)) ok = 0;
    }
    TAP_OK(ok, "gcache_strerror never returns NULL, names every status");
    TAP_OK(strcmp(gcache_strerror(GCACHE_EKEY), gcache_strerror(GCACHE_ECONFIG)) != 0,
           "distinct statuses have distinct descriptions");
}

/* ---- property: injective, order-independent, decodable ---------------------------------- */

static unsigned long long rng_state = 0x9E3779B97F4A7C15ULL;
static unsigned long long rng(void) {
    unsigned long long x = rng_state;
    x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
    rng_state = x;
    return x * 0x2545F4914F6CDD1DULL;
}
static unsigned rnd(unsigned n) { return (unsigned)((rng() >> 33) % n); }

static const char alphabet[] = "%?&=#{}:/ ,aAb25F\x01\x1f\x7f\x80\xc3\xff";
#define ALPHA_N (sizeof alphabet - 1)

typedef struct { char name[8]; char val[12]; } parg;

static void rand_str(char *out, unsigned maxlen) {
    unsigned n = rnd(maxlen + 1), i;
    for (i = 0; i < n; i++) out[i] = alphabet[rnd((unsigned)ALPHA_N)];
    out[n] = 0;
}

static int must_escape(unsigned char c) {
    return c == '%' || c == '?' || c == '&' || c == '=' || c == '#' || c == '{' || c == '}' || c < 0x20 || c == 0x7f;
}

static int pair_cmp(const void *a, const void *b) {
    const parg *x = (const parg *)a, *y = (const parg *)b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->val, y->val);
}

/* canonical input: use case tag, id, then (name, value) pairs sorted by raw name;
   each string length-prefixed so the encoding is injective */
static size_t canon(char *out, char uc_tag, const char *id, parg *args, int n) {
    parg sorted[8];
    size_t o = 0;
    int i;
    memcpy(sorted, args, sizeof(parg) * (size_t)n);
    qsort(sorted, (size_t)n, sizeof(parg), pair_cmp);
    out[o++] = uc_tag;
    out[o++] = (char)('0' + strlen(id)); memcpy(out + o, id, strlen(id)); o += strlen(id);
    for (i = 0; i < n; i++) {
        size_t ln = strlen(sorted[i].name), lv = strlen(sorted[i].val);
        out[o++] = (char)('0' + ln); memcpy(out + o, sorted[i].name, ln); o += ln;
        out[o++] = (char)('0' + lv); memcpy(out + o, sorted[i].val, lv); o += lv;
    }
    return o;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1; /* lower case is not what we write */
}

/* unescape s[0..n) into out; 0 on a malformed or non-canonical escape */
static int unescape(const char *s, size_t n, char *out, size_t *outlen) {
    size_t i, o = 0;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            int h, l;
            if (i + 2 >= n) return 0;
            h = hexval(s[i + 1]); l = hexval(s[i + 2]);
            if (h < 0 || l < 0) return 0;
            c = (unsigned char)(h * 16 + l);
            if (!must_escape(c)) return 0; /* escaped a byte that should be raw */
            i += 2;
        } else if (must_escape(c)) {
            return 0; /* a raw special byte inside a component */
        }
        out[o++] = (char)c;
    }
    *outlen = o;
    return 1;
}

/* decode key "urn:t:ID?n=v&...#U" or "{urn:t:ID}?...#T" back into a canonical input */
static int decode_key(const char *s, size_t n, char *canon_out, size_t *canon_len) {
    char uc_tag, id[64];
    size_t idl, i, start, end;
    parg args[8];
    int nargs = 0;
    char esc_prev[64];
    size_t esc_prev_len = 0;
    int have_prev = 0;
    if (n < 2 || s[n - 2] != '#') return 0;
    uc_tag = s[n - 1];
    if (uc_tag == 'U') {
        if (strncmp(s, "urn:t:", 6) != 0) return 0;
        start = 6;
        for (end = start; end < n - 2 && s[end] != '?'; end++) {}
        if (!unescape(s + start, end - start, id, &idl)) return 0;
    } else if (uc_tag == 'T') {
        if (strncmp(s, "{urn:t:", 7) != 0) return 0;
        start = 7;
        for (end = start; end < n - 2 && s[end] != '}'; end++) {}
        if (end >= n - 2) return 0;
        if (!unescape(s + start, end - start, id, &idl)) return 0;
        end++; /* past '}' */
        if (end < n - 2 && s[end] != '?') return 0;
    } else {
        return 0;
    }
    id[idl] = 0;
    if (memchr(id, 0, idl)) return 0;
    i = end;
    if (i < n - 2) {
        if (s[i] != '?') return 0;
        i++;
        for (;;) {
            size_t a = i, eq, z, nl, vl;
            for (z = a; z < n - 2 && s[z] != '&'; z++) {}
            for (eq = a; eq < z && s[eq] != '='; eq++) {}
            if (eq == z || nargs == 8) return 0;
            /* escaped names strictly ascending in byte order */
            if (have_prev) {
                size_t m = esc_prev_len < eq - a ? esc_prev_len : eq - a;
                int c = memcmp(esc_prev, s + a, m);
                if (c > 0 || (c == 0 && esc_prev_len >= eq - a)) return 0;
            }
            memcpy(esc_prev, s + a, eq - a); esc_prev_len = eq - a; have_prev = 1;
            if (!unescape(s + a, eq - a, args[nargs].name, &nl)) return 0;
            if (!unescape(s + eq + 1, z - eq - 1, args[nargs].val, &vl)) return 0;
            args[nargs].name[nl] = 0; args[nargs].val[vl] = 0;
            nargs++;
            if (z >= n - 2) break;
            i = z + 1;
        }
    }
    *canon_len = canon(canon_out, uc_tag, id, args, nargs);
    return 1;
}

/* open-addressing set: key string -> canonical input, strings in one arena */
typedef struct { unsigned int h, key_off, can_off; unsigned short key_len, can_len; } pslot;
static char *arena;
static size_t arena_len, arena_cap;
static pslot *slots;
static size_t slot_mask, slot_used;

static unsigned long long fnv(const char *s, size_t n) {
    unsigned long long h = 1469598103934665603ULL;
    size_t i;
    for (i = 0; i < n; i++) { h ^= (unsigned char)s[i]; h *= 1099511628211ULL; }
    return h;
}

static size_t arena_put(const char *s, size_t n) {
    size_t off;
    if (arena_len + n > arena_cap) {
        size_t nc = arena_cap ? arena_cap * 2 : (1u << 24);
        char *na;
        while (nc < arena_len + n) nc *= 2;
        na = (char *)realloc(arena, nc);
        if (!na) { fprintf(stderr, "out of memory\n"); exit(2); }
        arena = na; arena_cap = nc;
    }
    off = arena_len;
    memcpy(arena + off, s, n);
    arena_len += n;
    return off;
}

/* returns 0 = new, 1 = same key seen with the same input, -1 = same key, different input */
static int set_insert(const char *key, size_t kl, const char *can, size_t cl) {
    unsigned int h = (unsigned int)(fnv(key, kl) | 1);
    size_t i = h & slot_mask;
    for (;;) {
        pslot *p = &slots[i];
        if (p->h == 0) {
            p->h = h;
            p->key_off = (unsigned int)arena_put(key, kl); p->key_len = (unsigned short)kl;
            p->can_off = (unsigned int)arena_put(can, cl); p->can_len = (unsigned short)cl;
            slot_used++;
            return 0;
        }
        if (p->h == h && p->key_len == kl && memcmp(arena + p->key_off, key, kl) == 0)
            return (p->can_len == cl && memcmp(arena + p->can_off, can, cl) == 0) ? 1 : -1;
        i = (i + 1) & slot_mask;
    }
}

static void build_prop(gcache_key *k, gcache_use_case *uc, const char *id, parg *args, int n, int reverse, int *kinds) {
    int j;
    gcache_key_init(k, uc, id);
    for (j = 0; j < n; j++) {
        int i = reverse ? n - 1 - j : j;
        /* values that are decimal ints may go through add_int, "True"/"False" through add_bool */
        if (kinds[i] == 1) gcache_key_add_int(k, args[i].name, atoll(args[i].val));
        else if (kinds[i] == 2) gcache_key_add_bool(k, args[i].name, strcmp(args[i].val, "True") == 0 ? 7 : 0);
        else gcache_key_add(k, args[i].name, args[i].val);
    }
}

static void test_property(gcache_use_case *plain, gcache_use_case *tracked, long iterations) {
    long it, valid = 0;
    long collisions = 0, order_diff = 0, decode_fail = 0, dup_name_ok = 0, errors = 0, repeats = 0, dup_names = 0;
    char can[128], can2[128];
    size_t cl, cl2;
    slot_mask = (1u << 21) - 1;
    slots = (pslot *)calloc(slot_mask + 1, sizeof(pslot));
    if (!slots) { TAP_OK(0, "property: allocate the set"); return; }
    for (it = 0; valid < iterations; it++) {
        char id[8];
        parg args[6];
        int kinds[6];
        int n = (int)rnd(6), i, j, dup = 0;
        int use_tracked = rnd(8) == 0;
        gcache_key k1, k2;
        const char *s1, *s2;
        size_t l1 = 0, l2 = 0;
        rand_str(id, 4);
        for (i = 0; i < n; i++) {
            unsigned r = rnd(16);
            rand_str(args[i].name, 3);
            kinds[i] = 0;
            if (r == 0) { snprintf(args[i].val, sizeof args[i].val, "%d", (int)rnd(200) - 100); kinds[i] = 1; }
            else if (r == 1) { strcpy(args[i].val, rnd(2) ? "True" : "False"); kinds[i] = 2; }
            else rand_str(args[i].val, 3);
            for (j = 0; j < i; j++) if (strcmp(args[i].name, args[j].name) == 0) dup = 1;
        }
        build_prop(&k1, use_tracked ? tracked : plain, id, args, n, 0, kinds);
        if (dup) {
            dup_names++;
            if (gcache_key_error(&k1) != GCACHE_EKEY) dup_name_ok++;
            continue;
        }
        s1 = gcache_key_str(&k1, &l1);
        if (!s1) { errors++; valid++; continue; }
        build_prop(&k2, use_tracked ? tracked : plain, id, args, n, 1, kinds);
        s2 = gcache_key_str(&k2, &l2);
        if (!s2 || l1 != l2 || memcmp(s1, s2, l1) != 0) {
            if (order_diff++ < 5) TAP_DIAG("order changes the key: %s vs %s", s1, s2 ? s2 : "(null)");
        }
        cl = canon(can, use_tracked ? 'T' : 'U', id, args, n);
        if (!decode_key(s1, l1, can2, &cl2) || cl2 != cl || memcmp(can, can2, cl) != 0) {
            if (decode_fail++ < 5) TAP_DIAG("key does not decode to its input: %s", s1);
        }
        {
            int r = set_insert(s1, l1, can, cl);
            if (r < 0) { if (collisions++ < 5) TAP_DIAG("two inputs give the key %s", s1); }
            else if (r > 0) repeats++;
            valid++;
        }
    }
    TAP_DIAG("property: %ld inputs, %ld valid ones in the set (%lu distinct keys, %ld repeated inputs), "
             "%ld with duplicate names", it, valid, (unsigned long)slot_used, repeats, dup_names);
    if (!getenv("GCACHE_TEST_ITERATIONS"))
        TAP_OK(valid >= 1000000, "property test put at least 1,000,000 valid inputs through the set (%ld)", valid);
    TAP_OK(slot_used > (size_t)iterations / 10 && repeats > iterations / 1000, "property test saw many distinct keys and many repeats");
    TAP_IS_INT(errors, 0, "property: no valid input gives a key error");
    TAP_IS_INT(collisions, 0, "property: no two different inputs give the same key (injective)");
    TAP_IS_INT(order_diff, 0, "property: the order of the args does not change the key");
    TAP_IS_INT(decode_fail, 0, "property: every key decodes back to its input (canonical %XX escaping, sorted)");
    TAP_IS_INT(dup_name_ok, 0, "property: every input with a duplicate arg name gives GCACHE_EKEY");
    free(slots); slots = NULL;
    free(arena); arena = NULL; arena_len = arena_cap = 0; slot_used = 0;
}

int main(void) {
    gcache *gc_urn_t = new_gc(NULL), *gc_urn = new_gc("urn"), *gc_gc = new_gc("urn:gc"), *gc_appx = new_gc("app.x");
    gcache *gc_lim = new_gc(NULL);
    gcache_use_case *ucs[UC_COUNT];
    long iterations = 1000000;
    const char *env = getenv("GCACHE_TEST_ITERATIONS");
    if (env && atol(env) > 0) iterations = atol(env);

    TAP_OK(gc_urn_t && gc_urn && gc_gc && gc_appx && gc_lim, "create instances");
    if (!gc_urn_t || !gc_urn || !gc_gc || !gc_appx || !gc_lim) return TAP_DONE();
    ucs[UC_TRACKED] = reg(gc_urn_t, "GetUser", "user_id", 1);
    ucs[UC_PLAIN] = reg(gc_urn, "GetUser", "user_id", 0);
    ucs[UC_GC_PREFIX] = reg(gc_gc, "GetUser", "user_id", 0);
    ucs[UC_APPX_TRACKED] = reg(gc_appx, "GetUser", "user_id", 1);
    ucs[UC_ODD_TYPE] = reg(gc_urn, "Use.Case-1_x", "org.id-v2_x", 0);
    TAP_OK(ucs[0] && ucs[1] && ucs[2] && ucs[3] && ucs[4], "register use cases for the table");
    if (!ucs[0] || !ucs[1] || !ucs[2] || !ucs[3] || !ucs[4]) return TAP_DONE();

    test_table(ucs);
    test_key_len_limits(gc_lim);
    test_key_args_limits(gc_lim);
    test_key_null_and_sticky(gc_lim);
    test_key_reuse();
    test_registry();
    test_registry_nomem();
    test_create_prefixes();
    test_strerror();
    {
        /* the property decoder expects "urn:t:" + "#U" / "#T" */
        gcache *gc_prop = new_gc(NULL);
        gcache_use_case *pu = gc_prop ? reg(gc_prop, "U", "t", 0) : NULL;
        gcache_use_case *pt = gc_prop ? reg(gc_prop, "T", "t", 1) : NULL;
        TAP_OK(pu && pt, "property: register use cases");
        /* the longest generated key is 123 bytes with 5 args */
        if (GCACHE_KEY_MAX < 123 || GCACHE_KEY_MAX_ARGS < 5) TAP_DIAG("property test skipped: GCACHE_KEY_MAX(_ARGS) too small");
        else if (pu && pt) test_property(pu, pt, iterations);
        gcache_destroy(gc_prop);
    }
    gcache_destroy(gc_urn_t);
    gcache_destroy(gc_urn);
    gcache_destroy(gc_gc);
    gcache_destroy(gc_appx);
    gcache_destroy(gc_lim);
    return TAP_DONE();
}
