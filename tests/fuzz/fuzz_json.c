/* libFuzzer harness: gcache_config_load_json / gcache_config_dump_json.
   For any input: load either succeeds or leaves the store exactly as it was (the dump
   before and after is identical); dump always succeeds; and if load succeeded,
   load(dump) succeeds and dumping again gives identical bytes. Aborts otherwise.
   clang -fsanitize=fuzzer,address,undefined -I. tests/fuzz/fuzz_json.c */
#define GCACHE_IMPLEMENTATION
#include "gcache.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAIL(...) do { fprintf(stderr, "fuzz_json: " __VA_ARGS__); fputc('\n', stderr); abort(); } while (0)

static gcache *gc;

/* A fixed, non-trivial starting store, so every input is checked against the same state
   (crashes reproduce from the input alone) and "keeps the old store" is observable. */
static const char base_json[] =
    "{\"GetUser\": {\"ttl_sec\": {\"local\": 7, \"remote\": 70}, \"ramp\": {\"local\": 42, \"remote\": 3},"
    " \"negative_ttl_sec\": 2}, \"NotRegistered\": {\"ramp\": {\"local\": 1}}}";

static void setup(void) {
    gcache_desc d;
    gcache_use_case_desc u;
    memset(&d, 0, sizeof d);
    if (gcache_create(&d, &gc) != GCACHE_OK) FAIL("create failed");
    memset(&u, 0, sizeof u);
    u.name = "GetUser"; u.key_type = "user_id";
    u.default_config.ttl_sec[GCACHE_LOCAL] = 60; u.default_config.ramp[GCACHE_LOCAL] = 100;
    if (gcache_register(gc, &u, NULL) != GCACHE_OK) FAIL("register GetUser");
    memset(&u, 0, sizeof u);
    u.name = "GetPost"; u.key_type = "post_id"; u.track_for_invalidation = 1;
    u.default_config.ttl_sec[GCACHE_LOCAL] = 10; u.default_config.ttl_sec[GCACHE_REMOTE] = 300;
    u.default_config.ramp[GCACHE_LOCAL] = 50; u.default_config.ramp[GCACHE_REMOTE] = 100;
    u.default_config.negative_ttl_sec = 5;
    if (gcache_register(gc, &u, NULL) != GCACHE_OK) FAIL("register GetPost");
    memset(&u, 0, sizeof u);
    u.name = "Empty.case-1"; u.key_type = "k";
    if (gcache_register(gc, &u, NULL) != GCACHE_OK) FAIL("register Empty.case-1");
}

/* Dump into a malloc'd buffer of exactly the needed size (snprintf semantics). */
static char *dump(size_t *len) {
    char small[8];
    int n = gcache_config_dump_json(gc, small, sizeof small), m;
    char *buf;
    if (n < 0) FAIL("dump returned %d", n);
    buf = (char *)malloc((size_t)n + 1);
    if (!buf) abort();
    m = gcache_config_dump_json(gc, buf, (size_t)n + 1);
    if (m != n) FAIL("dump length changed: %d then %d", n, m);
    if (buf[n] != '\0' || strlen(buf) != (size_t)n) FAIL("dump not NUL-terminated at its length");
    if ((size_t)n < sizeof small && memcmp(small, buf, (size_t)n + 1) != 0) FAIL("small dump differs");
    *len = (size_t)n;
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t before_len, after_len, again_len;
    char *before, *after, *again;
    int rc;
    if (!gc) setup();
    if (gcache_config_load_json(gc, base_json, sizeof base_json - 1) != GCACHE_OK) FAIL("base config refused");
    before = dump(&before_len);

    rc = gcache_config_load_json(gc, (const char *)data, size);
    if (rc != GCACHE_OK && rc != GCACHE_ECONFIG) FAIL("load returned %d (%s)", rc, gcache_strerror(rc));
    after = dump(&after_len);
    if (rc != GCACHE_OK) {
        if (after_len != before_len || memcmp(after, before, before_len) != 0)
            FAIL("a refused load changed the store:\nbefore: %s\nafter:  %s", before, after);
    } else {
        rc = gcache_config_load_json(gc, after, after_len);
        if (rc != GCACHE_OK) FAIL("load(dump) refused (%d): %s", rc, after);
        again = dump(&again_len);
        if (again_len != after_len || memcmp(again, after, after_len) != 0)
            FAIL("dump(load(dump)) differs:\nfirst:  %s\nsecond: %s", after, again);
        free(again);
    }
    free(before);
    free(after);
    return 0;
}
