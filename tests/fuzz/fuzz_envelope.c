/* libFuzzer harness: gcache_envelope_read / gcache_envelope_write.
   The first input byte is a mode: bit 0 patches the length field to fit, bit 1 patches a
   correct CRC-32C (so the fuzzer reaches well-formed envelopes); the rest is the entry.
   Checks: read is OK iff a reference decoder written here says the entry is well-formed
   ("GC", version 1, length == size - 20, CRC-32C of bytes 0-15 + payload, a negative
   entry has no payload; flag bits 1-7 ignored); on OK the fields match, and
   gcache_envelope_write re-encodes the same bytes (flag bits 1-7 written 0). */
#define GCACHE_IMPLEMENTATION
#include "gcache.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAIL(...) do { fprintf(stderr, "fuzz_envelope: " __VA_ARGS__); fputc('\n', stderr); abort(); } while (0)

static uint32_t ref_crc32c(uint32_t crc, const unsigned char *p, size_t n) {
    size_t i;
    int k;
    crc = ~crc;
    for (i = 0; i < n; i++) {
        crc ^= p[i];
        for (k = 0; k < 8; k++) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
    }
    return ~crc;
}
static uint32_t get32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static void put32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); p[2] = (unsigned char)(v >> 16); p[3] = (unsigned char)(v >> 24);
}
static uint32_t entry_crc(const unsigned char *e, size_t n) {
    return ref_crc32c(ref_crc32c(0, e, 16), e + 20, n - 20);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    unsigned char *e, *re;
    size_t n, i, wrote;
    int mode, ok_ref, rc;
    unsigned long long created = 0;
    gcache_envelope env;
    if (size < 1) return 0;
    mode = data[0];
    n = size - 1;
    e = (unsigned char *)malloc(n ? n : 1); /* exactly sized: ASan sees any overread */
    if (!e) abort();
    memcpy(e, data + 1, n);
    if (n >= 20 && (mode & 1)) put32(e + 12, (uint32_t)(n - 20));
    if (n >= 20 && (mode & 2)) put32(e + 16, entry_crc(e, n));

    ok_ref = n >= 20 && e[0] == 'G' && e[1] == 'C' && e[2] == 1 && (uint64_t)get32(e + 12) == (uint64_t)(n - 20) &&
             get32(e + 16) == entry_crc(e, n) && !((e[3] & 1) && n > 20);
    memset(&env, 0, sizeof env);
    rc = gcache_envelope_read(e, n, &env);
    if (rc != GCACHE_OK && rc != GCACHE_ECORRUPT) FAIL("status %d", rc);
    if ((rc == GCACHE_OK) != ok_ref)
        FAIL("entry of %zu bytes (mode %d): read says %s, reference says %s", n, mode,
             rc == GCACHE_OK ? "OK" : "ECORRUPT", ok_ref ? "well-formed" : "malformed");
    if (rc == GCACHE_OK) {
        for (i = 0; i < 8; i++) created |= (unsigned long long)e[4 + i] << (8 * i);
        if ((unsigned long long)env.created_at_ms != created) FAIL("created_at_ms %lld, want %llu", env.created_at_ms, created);
        if (!env.negative != !(e[3] & 1)) FAIL("negative flag %d, flags byte 0x%02x", env.negative, e[3]);
        if (env.payload_len != n - 20) FAIL("payload_len %zu, want %zu", env.payload_len, n - 20);
        if (env.payload_len && env.payload != e + 20) FAIL("payload does not point into the entry");

        re = (unsigned char *)malloc(n);
        if (!re) abort();
        if (gcache_envelope_write(re, n - 1, env.created_at_ms, env.negative, env.payload, env.payload_len) != n)
            FAIL("write with a too-small cap did not return the needed size");
        wrote = gcache_envelope_write(re, n, env.created_at_ms, env.negative, env.payload, env.payload_len);
        if (wrote != n) FAIL("re-encoded %zu bytes, want %zu", wrote, n);
        if (memcmp(re, e, 3) != 0 || re[3] != (e[3] & 1) || memcmp(re + 4, e + 4, 12) != 0 ||
            memcmp(re + 20, e + 20, n - 20) != 0)
            FAIL("re-encoded header/payload differs");
        if (get32(re + 16) != entry_crc(re, n)) FAIL("re-encoded CRC is wrong");
        if (e[3] == (e[3] & 1) && memcmp(re, e, n) != 0) FAIL("re-encoding differs");
        memset(&env, 0, sizeof env);
        if (gcache_envelope_read(re, n, &env) != GCACHE_OK) FAIL("re-encoded entry does not read back");
        free(re);
    }
    free(e);
    return 0;
}
