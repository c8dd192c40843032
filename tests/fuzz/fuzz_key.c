/* libFuzzer harness: the key builder (gcache_key_init/_int, gcache_key_add/_int/_bool).
   The input is cut in two halves; each half describes one key:
     byte 0: bit 0 use case (0: "GetUser" untracked, 1: "GetPost" tracked),
             bit 1 integer id, bits 2-7: number of args (mod GCACHE_KEY_MAX_ARGS + 3)
     then NUL-separated fields: id, name1, value1, name2, value2, ...
     a value starting with \x01 is added with gcache_key_add_int (the rest folded into a
     long long), one starting with \x02 with gcache_key_add_bool; an integer id is the
     id field folded the same way.
   Checks for each key: gcache_key_str is non-NULL iff gcache_key_error is 0 (errors are
   GCACHE_EKEY), the string's length is reported right and never exceeds GCACHE_KEY_MAX,
   and the key equals what a reference builder written here from the contract gives
   (escaping, sorting, braces, "True"/"False"), with GCACHE_EKEY exactly when that is
   too long, has too many args or a duplicate name. Injectivity: when both keys build
   and their strings are equal, the two inputs are equal (same use case, id and args).
   Small limits (64 bytes, 4 args) by default so the fuzzer reaches the edges quickly. */
#ifndef GCACHE_KEY_MAX
#define GCACHE_KEY_MAX 64
#endif
#ifndef GCACHE_KEY_MAX_ARGS
#define GCACHE_KEY_MAX_ARGS 4
#endif
#define GCACHE_IMPLEMENTATION
#include "gcache.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAIL(...) do { fprintf(stderr, "fuzz_key: " __VA_ARGS__); fputc('\n', stderr); abort(); } while (0)
#define MAXF (GCACHE_KEY_MAX_ARGS + 3)
#define REFCAP 16384

typedef struct { const char *s; size_t len; } field;
typedef struct {
    int uc;                     /* 0 GetUser, 1 GetPost */
    char id[4200];              /* canonical (string) form of the id */
    int nargs;
    char name[MAXF][4200];
    char value[MAXF][4200];     /* canonical string form */
    int kind[MAXF];             /* 0 string, 1 int, 2 bool */
    long long ival[MAXF];
    long long id_int; int id_is_int;
} input;

static gcache *gc;
static gcache_use_case *ucs[2];
static const char *uc_names[2] = {"GetUser", "GetPost"};
static const char *uc_types[2] = {"user_id", "post_id"};

static void setup(void) {
    gcache_desc d;
    gcache_use_case_desc u;
    int i;
    memset(&d, 0, sizeof d);
    if (gcache_create(&d, &gc) != GCACHE_OK) FAIL("create");
    for (i = 0; i < 2; i++) {
        memset(&u, 0, sizeof u);
        u.name = uc_names[i]; u.key_type = uc_types[i]; u.track_for_invalidation = i;
        if (gcache_register(gc, &u, &ucs[i]) != GCACHE_OK) FAIL("register");
    }
}

static long long fold(const char *s, size_t len) {
    unsigned long long v = 0;
    size_t i;
    for (i = 0; i < len; i++) v = (v << 8 | (v >> 56)) ^ (unsigned char)s[i];
    return (long long)v;
}

/* Parse one half into in; fields are NUL-terminated copies (the API takes C strings). */
static void parse(const unsigned char *p, size_t n, input *in) {
    field f[2 * MAXF + 1];
    size_t nf = 0, start = 1, i;
    int want_args, k;
    memset(in, 0, sizeof *in);
    if (n == 0) { strcpy(in->id, ""); return; }
    in->uc = p[0] & 1;
    in->id_is_int = (p[0] >> 1) & 1;
    want_args = (p[0] >> 2) % MAXF;
    for (i = 1; i <= n && nf < 2 * MAXF + 1; i++) {
        if (i == n || p[i] == 0) {
            f[nf].s = (const char *)p + start; f[nf].len = i - start; nf++;
            start = i + 1;
        }
    }
    while (nf < 2 * MAXF + 1) { f[nf].s = ""; f[nf].len = 0; nf++; }
    if (f[0].len > 4000) f[0].len = 4000;
    if (in->id_is_int) {
        in->id_int = fold(f[0].s, f[0].len);
        snprintf(in->id, sizeof in->id, "%lld", in->id_int);
    } else {
        memcpy(in->id, f[0].s, f[0].len); in->id[f[0].len] = 0;
    }
    in->nargs = want_args;
    for (k = 0; k < want_args; k++) {
        field nm = f[1 + 2 * k], vl = f[2 + 2 * k];
        if (nm.len > 4000) nm.len = 4000;
        if (vl.len > 4000) vl.len = 4000;
        memcpy(in->name[k], nm.s, nm.len); in->name[k][nm.len] = 0;
        if (vl.len > 0 && vl.s[0] == 1) {
            in->kind[k] = 1; in->ival[k] = fold(vl.s + 1, vl.len - 1);
            snprintf(in->value[k], sizeof in->value[k], "%lld", in->ival[k]);
        } else if (vl.len > 0 && vl.s[0] == 2) {
            in->kind[k] = 2; in->ival[k] = fold(vl.s + 1, vl.len - 1) & 3; /* 0 or any nonzero */
            strcpy(in->value[k], in->ival[k] ? "True" : "False");
        } else {
            in->kind[k] = 0; memcpy(in->value[k], vl.s, vl.len); in->value[k][vl.len] = 0;
        }
    }
}

static void build(const input *in, gcache_key *k) {
    int i;
    if (in->id_is_int) gcache_key_init_int(k, ucs[in->uc], in->id_int);
    else gcache_key_init(k, ucs[in->uc], in->id);
    for (i = 0; i < in->nargs; i++) {
        if (in->kind[i] == 1) gcache_key_add_int(k, in->name[i], in->ival[i]);
        else if (in->kind[i] == 2) gcache_key_add_bool(k, in->name[i], (int)in->ival[i]);
        else gcache_key_add(k, in->name[i], in->value[i]);
    }
}

/* ---- reference builder, straight from the contract ---------------------------------- */
static size_t esc(char *dst, const char *s) {
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7f || strchr("%?&={}#", c)) {
            dst[o++] = '%'; dst[o++] = hex[c >> 4]; dst[o++] = hex[c & 15];
        } else {
            dst[o++] = (char)c;
        }
    }
    dst[o] = 0;
    return o;
}

static char ename[MAXF][3 * 4200], evalue[MAXF][3 * 4200];
static int cmp_idx(const void *a, const void *b) { return strcmp(ename[*(const int *)a], ename[*(const int *)b]); }

/* Returns 0 and the key in out, or GCACHE_EKEY. */
static int reference(const input *in, char *out, size_t *outlen) {
    static char eid[3 * 4200];
    int order[MAXF], i;
    size_t o = 0;
    if (in->nargs > GCACHE_KEY_MAX_ARGS) return GCACHE_EKEY;
    esc(eid, in->id);
    for (i = 0; i < in->nargs; i++) {
        esc(ename[i], in->name[i]);
        esc(evalue[i], in->value[i]);
        order[i] = i;
    }
    qsort(order, (size_t)in->nargs, sizeof order[0], cmp_idx);
    for (i = 1; i < in->nargs; i++)
        if (strcmp(ename[order[i - 1]], ename[order[i]]) == 0) return GCACHE_EKEY;
    o += (size_t)sprintf(out + o, in->uc ? "{urn:%s:%s}" : "urn:%s:%s", uc_types[in->uc], eid);
    for (i = 0; i < in->nargs; i++)
        o += (size_t)sprintf(out + o, "%c%s=%s", i ? '&' : '?', ename[order[i]], evalue[order[i]]);
    o += (size_t)sprintf(out + o, "#%s", uc_names[in->uc]);
    if (o > GCACHE_KEY_MAX) return GCACHE_EKEY;
    *outlen = o;
    return 0;
}

static int same_input(const input *a, const input *b) {
    int i, j;
    if (a->uc != b->uc || strcmp(a->id, b->id) != 0 || a->nargs != b->nargs) return 0;
    for (i = 0; i < a->nargs; i++) {
        for (j = 0; j < b->nargs; j++)
            if (strcmp(a->name[i], b->name[j]) == 0 && strcmp(a->value[i], b->value[j]) == 0) break;
        if (j == b->nargs) return 0;
    }
    return 1;
}

static const char *check(const input *in, gcache_key *k, size_t *len) {
    static char ref[2][REFCAP * 4];
    static int which;
    char *r = ref[which ^= 1];
    size_t reflen = 0, l = 12345;
    int err, referr;
    const char *s;
    build(in, k);
    err = gcache_key_error(k);
    s = gcache_key_str(k, &l);
    if ((s != NULL) != (err == 0)) FAIL("key_str %s but key_error %d", s ? "non-NULL" : "NULL", err);
    if (err != 0 && err != GCACHE_EKEY) FAIL("key_error %d, not GCACHE_EKEY", err);
    if (s) {
        if (l != strlen(s)) FAIL("len %zu but strlen %zu", l, strlen(s));
        if (l > GCACHE_KEY_MAX) FAIL("key of %zu bytes exceeds GCACHE_KEY_MAX %d", l, GCACHE_KEY_MAX);
        if (gcache_key_str(k, NULL) != s) FAIL("key_str(k, NULL) differs");
    }
    referr = reference(in, r, &reflen);
    if (referr != err) FAIL("key_error %d, reference says %d (key %s, reference %s)", err, referr, s ? s : "NULL", referr ? "-" : r);
    if (s && (reflen != l || memcmp(s, r, l) != 0)) FAIL("key\n  %s\nreference\n  %s", s, r);
    *len = l;
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static input a, b;
    static gcache_key ka, kb;
    size_t half = size / 2, la = 0, lb = 0;
    const char *sa, *sb;
    if (size > 20000) return 0; /* keeps the reference's buffers bounded */
    if (!gc) setup();
    parse(data, half, &a);
    parse(data + half, size - half, &b);
    sa = check(&a, &ka, &la);
    sb = check(&b, &kb, &lb);
    if (sa && sb && la == lb && memcmp(sa, sb, la) == 0 && !same_input(&a, &b))
        FAIL("two different inputs give the same key %s", sa);
    if (sa && sb && same_input(&a, &b) && (la != lb || memcmp(sa, sb, la) != 0))
        FAIL("the same input gives two keys:\n  %s\n  %s", sa, sb);
    return 0;
}
