/* libFuzzer harness: gcache_watermark_parse.
   OK iff the bytes match [0-9]+(\.[0-9]+)? (checked by a reference matcher here); on OK
   the value is the integer part, saturating at LLONG_MAX. Aborts otherwise. */
#define GCACHE_IMPLEMENTATION
#include "gcache.h"
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAIL(...) do { fprintf(stderr, "fuzz_watermark: " __VA_ARGS__); fputc('\n', stderr); abort(); } while (0)

/* Reference: returns 1 if s matches [0-9]+(\.[0-9]+)? and sets *value (saturating). */
static int reference(const unsigned char *s, size_t len, long long *value) {
    size_t i = 0, digits = 0;
    unsigned long long v = 0;
    int saturated = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9') {
        unsigned d = (unsigned)(s[i] - '0');
        if (!saturated) {
            if (v > ((unsigned long long)LLONG_MAX - d) / 10) saturated = 1;
            else v = v * 10 + d;
        }
        i++; digits++;
    }
    if (digits == 0) return 0;
    if (i < len) {
        size_t frac = 0;
        if (s[i] != '.') return 0;
        i++;
        while (i < len && s[i] >= '0' && s[i] <= '9') { i++; frac++; }
        if (frac == 0 || i != len) return 0;
    }
    *value = saturated ? LLONG_MAX : (long long)v;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    long long got = -12345, want = 0;
    int ok_ref = reference(data, size, &want);
    int rc = gcache_watermark_parse((const char *)data, size, &got);
    if (rc != GCACHE_OK && rc != GCACHE_ECORRUPT) FAIL("status %d", rc);
    if ((rc == GCACHE_OK) != ok_ref)
        FAIL("input of %zu bytes: parse says %s, reference says %s", size, rc == GCACHE_OK ? "OK" : "ECORRUPT",
             ok_ref ? "valid" : "invalid");
    if (ok_ref && got != want) FAIL("value %lld, want %lld", got, want);
    return 0;
}
