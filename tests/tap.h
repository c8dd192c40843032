/* tap.h -- a tiny, zero-dependency TAP (Test Anything Protocol) harness for gcache's tests.

   Header-only: include it in the one .c file of a test program (before or after
   gcache.h, in any order) and call

       TAP_OK(cond, fmt, ...)                    check cond; fmt is printf-style, args optional
       TAP_IS_INT(got, want, name)               compare as long long, print both on failure
       TAP_IS_STR(got, want, name)               compare C strings (NULL-safe: NULL == NULL only)
       TAP_IS_MEM(got, gotlen, want, wantlen, name)  compare byte ranges, hex dump on failure
       TAP_DIAG(fmt, ...)                        print a "# ..." diagnostic line
       TAP_SKIP_ALL(reason)                      "1..0 # SKIP reason" and exit (see below)
       return TAP_DONE();                        print the plan "1..N"; 0 if every check passed

   Every check macro evaluates to 1 when the check passed and 0 when it failed, so
   `if (!TAP_OK(p != NULL, "alloc")) return TAP_DONE();` works.

   Thread safety: checks may run from any thread at once. Numbering, counting and
   printing of one line happen under one lock, so the output stays well-formed TAP
   with increasing test numbers (meson's parser insists on that).

   Skips: TAP_SKIP_ALL must come before the first check. It exits with status 0 after
   printing the skip plan, because meson's "tap" protocol reports a skip plan as SKIP
   only when the program exits 0 (exit status 77 is an ERROR under protocol: 'tap' in
   meson 1.0). Exception: when the environment has GCACHE_REQUIRE_REDIS=1 and the reason
   mentions "redis" (any case), it prints "Bail out!" and exits 1, so CI cannot pass by
   skipping the Redis tests.

   Output goes to stdout and is flushed after every line, so a crash keeps what ran.
   Compiles warning-free as C99, C11 and C++11 or later with -Wall -Wextra -pedantic. */
#ifndef TAP_H
#define TAP_H

/* The same POSIX feature-test macro gcache.h sets, so that a strict -std=c99 test works
   whichever of the two headers it includes first (feature macros must precede the first
   system header). */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE) && !defined(_GNU_SOURCE) && !defined(_DEFAULT_SOURCE) && !defined(_XOPEN_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if !defined(TAP_NO_THREADS) && (defined(__unix__) || defined(__APPLE__))
#include <pthread.h>
#define TAP__PTHREAD 1
#endif

#if defined(__GNUC__) || defined(__clang__)
#define TAP__PRINTF(fmt_index, first_arg) __attribute__((format(printf, fmt_index, first_arg)))
#else
#define TAP__PRINTF(fmt_index, first_arg)
#endif

#define TAP_OK(cond, ...) tap__ok((cond) ? 1 : 0, __FILE__, __LINE__, __VA_ARGS__)
#define TAP_IS_INT(got, want, name) \
    tap__is_int((long long)(got), (long long)(want), #got, #want, (name), __FILE__, __LINE__)
#define TAP_IS_STR(got, want, name) tap__is_str((got), (want), (name), __FILE__, __LINE__)
#define TAP_IS_MEM(got, gotlen, want, wantlen, name) \
    tap__is_mem((got), (size_t)(gotlen), (want), (size_t)(wantlen), (name), __FILE__, __LINE__)
#define TAP_DIAG(...) tap__diag(__VA_ARGS__)
#define TAP_SKIP_ALL(reason) tap__skip_all(reason)
#define TAP_DONE() tap__done()

/* ---- state ------------------------------------------------------------------------- */
static int tap__count;  /* checks run */
static int tap__failed; /* checks failed */
#ifdef TAP__PTHREAD
static pthread_mutex_t tap__mutex = PTHREAD_MUTEX_INITIALIZER;
static inline void tap__lock(void) { (void)pthread_mutex_lock(&tap__mutex); }
static inline void tap__unlock(void) { (void)pthread_mutex_unlock(&tap__mutex); }
#else
static inline void tap__lock(void) {}
static inline void tap__unlock(void) {}
#endif

/* ---- helpers ----------------------------------------------------------------------- */
/* Format into buf (truncating with "..."), turning line breaks into spaces so one
   check is one TAP line. */
static inline void tap__vformat(char *buf, size_t cap, const char *fmt, va_list ap) {
    int n = fmt ? vsnprintf(buf, cap, fmt, ap) : 0;
    size_t i;
    if (n < 0 || !fmt) { buf[0] = '\0'; return; }
    if ((size_t)n >= cap && cap > 4) memcpy(buf + cap - 4, "...", 4);
    for (i = 0; buf[i]; i++)
        if (buf[i] == '\n' || buf[i] == '\r') buf[i] = ' ';
}

/* Print one test line plus optional diagnostics (already "# "-prefixed lines). */
static inline int tap__report(int ok, const char *name, const char *file, int line, const char *diag) {
    tap__lock();
    tap__count++;
    if (!ok) tap__failed++;
    printf("%s %d - %s\n", ok ? "ok" : "not ok", tap__count, name);
    if (!ok) {
        printf("#   Failed test '%s'\n#   at %s line %d.\n", name, file, line);
        if (diag && diag[0]) fputs(diag, stdout);
    }
    fflush(stdout);
    tap__unlock();
    return ok;
}

static inline int tap__ok(int ok, const char *file, int line, const char *fmt, ...) TAP__PRINTF(4, 5);
static inline int tap__ok(int ok, const char *file, int line, const char *fmt, ...) {
    char name[512];
    va_list ap;
    va_start(ap, fmt);
    tap__vformat(name, sizeof name, fmt, ap);
    va_end(ap);
    return tap__report(ok, name, file, line, NULL);
}

static inline int tap__is_int(long long got, long long want, const char *got_expr, const char *want_expr,
                              const char *name, const char *file, int line) {
    char diag[600];
    int ok = got == want;
    if (!ok)
        snprintf(diag, sizeof diag, "#          got: %lld  (%.200s)\n#     expected: %lld  (%.200s)\n",
                 got, got_expr, want, want_expr);
    return tap__report(ok, name ? name : "", file, line, ok ? NULL : diag);
}

/* Quote s for a diagnostic: printable ASCII as is, the rest as \xNN. */
static inline void tap__quote(char *dst, size_t cap, const void *src, size_t len) {
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)src;
    size_t o = 0, i;
    for (i = 0; i < len && o + 8 < cap; i++) {
        unsigned char c = s[i];
        if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"') {
            dst[o++] = (char)c;
        } else if (c == '\\' || c == '"') {
            dst[o++] = '\\'; dst[o++] = (char)c;
        } else {
            dst[o++] = '\\'; dst[o++] = 'x'; dst[o++] = hex[c >> 4]; dst[o++] = hex[c & 15];
        }
    }
    if (i < len) { dst[o++] = '.'; dst[o++] = '.'; dst[o++] = '.'; }
    dst[o] = '\0';
}

static inline int tap__is_str(const char *got, const char *want, const char *name, const char *file, int line) {
    char diag[1400], qgot[600], qwant[600];
    int ok = (got == NULL || want == NULL) ? got == want : strcmp(got, want) == 0;
    if (!ok) {
        if (got) tap__quote(qgot, sizeof qgot, got, strlen(got));
        if (want) tap__quote(qwant, sizeof qwant, want, strlen(want));
        snprintf(diag, sizeof diag, "#          got: %s%s%s\n#     expected: %s%s%s\n",
                 got ? "\"" : "", got ? qgot : "NULL", got ? "\"" : "",
                 want ? "\"" : "", want ? qwant : "NULL", want ? "\"" : "");
    }
    return tap__report(ok, name ? name : "", file, line, ok ? NULL : diag);
}

static inline int tap__is_mem(const void *got, size_t gotlen, const void *want, size_t wantlen,
                              const char *name, const char *file, int line) {
    char diag[1400], qgot[300], qwant[300];
    const unsigned char *g = (const unsigned char *)got, *w = (const unsigned char *)want;
    size_t i = 0, from;
    int ok;
    if ((g == NULL && gotlen > 0) || (w == NULL && wantlen > 0)) {
        ok = 0;
        snprintf(diag, sizeof diag, "#     NULL pointer with a nonzero length (got %p/%lu, expected %p/%lu)\n",
                 got, (unsigned long)gotlen, want, (unsigned long)wantlen);
    } else {
        ok = gotlen == wantlen && (gotlen == 0 || memcmp(g, w, gotlen) == 0);
        if (!ok) {
            while (i < gotlen && i < wantlen && g[i] == w[i]) i++;
            from = i > 16 ? i - 16 : 0;
            tap__quote(qgot, sizeof qgot, g + from, gotlen - from < 64 ? gotlen - from : 64);
            tap__quote(qwant, sizeof qwant, w + from, wantlen - from < 64 ? wantlen - from : 64);
            snprintf(diag, sizeof diag,
                     "#     lengths: got %lu, expected %lu; first difference at byte %lu\n"
                     "#          got[%lu..]: \"%s\"\n#     expected[%lu..]: \"%s\"\n",
                     (unsigned long)gotlen, (unsigned long)wantlen, (unsigned long)i,
                     (unsigned long)from, qgot, (unsigned long)from, qwant);
        }
    }
    return tap__report(ok, name ? name : "", file, line, ok ? NULL : diag);
}

static inline void tap__diag(const char *fmt, ...) TAP__PRINTF(1, 2);
static inline void tap__diag(const char *fmt, ...) {
    char msg[1024];
    const char *p, *nl;
    va_list ap;
    va_start(ap, fmt);
    if (!fmt || vsnprintf(msg, sizeof msg, fmt, ap) < 0) msg[0] = '\0';
    va_end(ap);
    tap__lock();
    for (p = msg;; p = nl + 1) { /* one "# " per line */
        nl = strchr(p, '\n');
        if (!nl) { printf("# %s\n", p); break; }
        printf("# %.*s\n", (int)(nl - p), p);
        if (!nl[1]) break;
    }
    fflush(stdout);
    tap__unlock();
}

static inline int tap__mentions_redis(const char *s) {
    size_t i;
    for (i = 0; s && s[i]; i++) {
        const char *r = "redis";
        size_t j = 0;
        while (r[j]) {
            char c = s[i + j];
            if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
            if (c != r[j]) break;
            j++;
        }
        if (!r[j]) return 1;
    }
    return 0;
}

static inline void tap__skip_all(const char *reason) {
    const char *req = getenv("GCACHE_REQUIRE_REDIS");
    char why[512];
    snprintf(why, sizeof why, "%s", reason ? reason : "");
    {
        size_t i;
        for (i = 0; why[i]; i++)
            if (why[i] == '\n' || why[i] == '\r') why[i] = ' ';
    }
    tap__lock();
    if (req && strcmp(req, "1") == 0 && tap__mentions_redis(why)) {
        printf("Bail out! %s (GCACHE_REQUIRE_REDIS=1 forbids skipping)\n", why);
        fflush(stdout);
        fprintf(stderr, "tap: %s, and GCACHE_REQUIRE_REDIS=1 forbids skipping\n", why);
        exit(1);
    }
    printf("1..0 # SKIP %s\n", why);
    fflush(stdout);
    exit(0);
}

static inline int tap__done(void) {
    int count, failed;
    tap__lock();
    count = tap__count;
    failed = tap__failed;
    if (count == 0) printf("1..0 # SKIP no checks ran\n");
    else printf("1..%d\n", count);
    if (failed) printf("# Looks like you failed %d test%s of %d.\n", failed, failed == 1 ? "" : "s", count);
    fflush(stdout);
    tap__unlock();
    return failed ? 1 : 0;
}

#endif /* TAP_H */
