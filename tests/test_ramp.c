/* test_ramp.c -- the ramp: deterministic XXH64(key, ramp_seed) % 100 < ramp buckets, shared
   by both layers, monotonic in the ramp, stable across instances with one seed; the
   per-request random mode; and gcache_xxh64 against reference vectors. */
#define GCACHE_IMPLEMENTATION
#include "gcache.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* XXH64 reference vectors. Input of length n: bytes (i * 7 + 1) & 0xff for i = 0..n-1.
   Computed with Debian's python3-xxhash 3.2.0 (libxxhash 0.8.1):
     import xxhash
     def inp(n): return bytes((i*7+1) & 0xff for i in range(n))
     xxhash.xxh64_intdigest(inp(n), seed=s)
   (the empty input with seed 0 gives the well-known 0xEF46DB3751D8E999). */
static const struct { unsigned len; unsigned long long seed, want; } xxh_vectors[] = {
    { 0, 0x0000000000000000ULL, 0xEF46DB3751D8E999ULL },
    { 1, 0x0000000000000000ULL, 0x8A4127811B21E730ULL },
    { 2, 0x0000000000000000ULL, 0x2B319EC16221CA2BULL },
    { 3, 0x0000000000000000ULL, 0xB6E6C910C2FD373AULL },
    { 4, 0x0000000000000000ULL, 0x22EDA2CF6AF4C124ULL },
    { 5, 0x0000000000000000ULL, 0x1DA48E4B4CAFAB76ULL },
    { 6, 0x0000000000000000ULL, 0xFED587E892BC395FULL },
    { 7, 0x0000000000000000ULL, 0x34084D91A233A751ULL },
    { 8, 0x0000000000000000ULL, 0xC6F1803A5E0B3222ULL },
    { 9, 0x0000000000000000ULL, 0x9E8ADF2A0CCDB6DAULL },
    { 10, 0x0000000000000000ULL, 0x3403ECD2E83631C2ULL },
    { 11, 0x0000000000000000ULL, 0xA295D00465199F0AULL },
    { 12, 0x0000000000000000ULL, 0x9178B724DCE384C0ULL },
    { 13, 0x0000000000000000ULL, 0xDFCED2D95E03C38EULL },
    { 14, 0x0000000000000000ULL, 0xFF34EE32A5C9ECFEULL },
    { 15, 0x0000000000000000ULL, 0x514C6F58D37CE6F1ULL },
    { 16, 0x0000000000000000ULL, 0xAFE8F989A0735A8EULL },
    { 17, 0x0000000000000000ULL, 0xB191CD44210EA488ULL },
    { 18, 0x0000000000000000ULL, 0x610796A2F9D71AB3ULL },
    { 19, 0x0000000000000000ULL, 0x58C2D9F72170FD3EULL },
    { 20, 0x0000000000000000ULL, 0x73BC78A4C4EBAA37ULL },
    { 21, 0x0000000000000000ULL, 0xF10004B1FFF00066ULL },
    { 22, 0x0000000000000000ULL, 0xBFF028DD5D69B5D1ULL },
    { 23, 0x0000000000000000ULL, 0xC9316B87F4DB1C9FULL },
    { 24, 0x0000000000000000ULL, 0x06C3C997B7008641ULL },
    { 25, 0x0000000000000000ULL, 0x2D6288E385BB919FULL },
    { 26, 0x0000000000000000ULL, 0x417F6C5E6C3B15FAULL },
    { 27, 0x0000000000000000ULL, 0xE66C81892928EAEEULL },
    { 28, 0x0000000000000000ULL, 0x5C02532B751CF115ULL },
    { 29, 0x0000000000000000ULL, 0xA388F9B4D357CA62ULL },
    { 30, 0x0000000000000000ULL, 0xDD06EEECA3DFA420ULL },
    { 31, 0x0000000000000000ULL, 0x6AB1C40E29F50073ULL },
    { 32, 0x0000000000000000ULL, 0x5A0756FBE9ECD3D1ULL },
    { 33, 0x0000000000000000ULL, 0xDC50CDC37BB9C183ULL },
    { 34, 0x0000000000000000ULL, 0xE0725237287738A3ULL },
    { 35, 0x0000000000000000ULL, 0x64593B59A48D806FULL },
    { 36, 0x0000000000000000ULL, 0x31E83081F3301BB8ULL },
    { 37, 0x0000000000000000ULL, 0x9F0A1BB6FDA206F1ULL },
    { 38, 0x0000000000000000ULL, 0x3CFE31931FB9630AULL },
    { 39, 0x0000000000000000ULL, 0xE6B392C5985D77ABULL },
    { 40, 0x0000000000000000ULL, 0x7899CACB89A78430ULL },
    { 63, 0x0000000000000000ULL, 0x10DD94885C71894AULL },
    { 64, 0x0000000000000000ULL, 0x90083DA9CDB9D795ULL },
    { 65, 0x0000000000000000ULL, 0x38824DEA10BF4E5DULL },
    { 100, 0x0000000000000000ULL, 0xD248BFC5208B0B16ULL },
    { 255, 0x0000000000000000ULL, 0x5DA8139D7ACF3995ULL },
    { 1000, 0x0000000000000000ULL, 0x6BE03ACBF959C413ULL },
    { 0, 0x0000000000000001ULL, 0xD5AFBA1336A3BE4BULL },
    { 1, 0x0000000000000001ULL, 0x6EC2195FFCAA3025ULL },
    { 2, 0x0000000000000001ULL, 0x11C04E810A634D97ULL },
    { 3, 0x0000000000000001ULL, 0x9A065AB0264D7748ULL },
    { 4, 0x0000000000000001ULL, 0xE5ADCA577536F94FULL },
    { 5, 0x0000000000000001ULL, 0x6B9894B1277123D2ULL },
    { 6, 0x0000000000000001ULL, 0xA86356D630CB5D29ULL },
    { 7, 0x0000000000000001ULL, 0x7FFA975FB8C68385ULL },
    { 8, 0x0000000000000001ULL, 0x51912278FF8A837CULL },
    { 9, 0x0000000000000001ULL, 0x75882C8C9A3E1DB5ULL },
    { 10, 0x0000000000000001ULL, 0xF014F53BE382B02CULL },
    { 11, 0x0000000000000001ULL, 0xEC539C53D66705E4ULL },
    { 12, 0x0000000000000001ULL, 0x5F8E24FC05331B81ULL },
    { 13, 0x0000000000000001ULL, 0xA0F3E59FE4FA7456ULL },
    { 14, 0x0000000000000001ULL, 0x76DCD498FADB87F8ULL },
    { 15, 0x0000000000000001ULL, 0x4AB2AAC427EF4CF7ULL },
    { 16, 0x0000000000000001ULL, 0x8C611A380D0938CAULL },
    { 17, 0x0000000000000001ULL, 0x18A57E16BBF05EE8ULL },
    { 18, 0x0000000000000001ULL, 0x5BA700F33F8472D6ULL },
    { 19, 0x0000000000000001ULL, 0xAE3CA588D4643B0BULL },
    { 20, 0x0000000000000001ULL, 0x76F2278A3E5F44E1ULL },
    { 21, 0x0000000000000001ULL, 0xA9543494E6CA4835ULL },
    { 22, 0x0000000000000001ULL, 0xEA082E7ECC875738ULL },
    { 23, 0x0000000000000001ULL, 0x88737349F761E2FEULL },
    { 24, 0x0000000000000001ULL, 0x89F663EE6C2D8C63ULL },
    { 25, 0x0000000000000001ULL, 0xCC08E0417DA2F342ULL },
    { 26, 0x0000000000000001ULL, 0x9500ED1706E1F5BEULL },
    { 27, 0x0000000000000001ULL, 0x754D12021AFECCB7ULL },
    { 28, 0x0000000000000001ULL, 0xEA956B16FB55A0E4ULL },
    { 29, 0x0000000000000001ULL, 0x76CB2B9AB73D9421ULL },
    { 30, 0x0000000000000001ULL, 0x727820FEDBC7DE7AULL },
    { 31, 0x0000000000000001ULL, 0x4251C73E9AD1A2C3ULL },
    { 32, 0x0000000000000001ULL, 0xA4339581310EDCC0ULL },
    { 33, 0x0000000000000001ULL, 0x5BCEF87B90A7FD1DULL },
    { 34, 0x0000000000000001ULL, 0x5F74603DDB726CF7ULL },
    { 35, 0x0000000000000001ULL, 0xB8DC2AA26B5605C7ULL },
    { 36, 0x0000000000000001ULL, 0xB933C87AEE462173ULL },
    { 37, 0x0000000000000001ULL, 0xF009A94C27E90319ULL },
    { 38, 0x0000000000000001ULL, 0x156ADC5C08D12E5EULL },
    { 39, 0x0000000000000001ULL, 0x37684F24839F37D7ULL },
    { 40, 0x0000000000000001ULL, 0x21AEB0BBD5E3BCAEULL },
    { 63, 0x0000000000000001ULL, 0x89B6FCFF330B59D9ULL },
    { 64, 0x0000000000000001ULL, 0x6049244348D73C64ULL },
    { 65, 0x0000000000000001ULL, 0xABD82B97A17D7165ULL },
    { 100, 0x0000000000000001ULL, 0xD7413414AAD433F3ULL },
    { 255, 0x0000000000000001ULL, 0x8A19D5848016E263ULL },
    { 1000, 0x0000000000000001ULL, 0x2AE41A06618D3BC3ULL },
    { 0, 0x9E3779B97F4A7C15ULL, 0xC4349FC93C010000ULL },
    { 1, 0x9E3779B97F4A7C15ULL, 0x32888F619F930A8FULL },
    { 2, 0x9E3779B97F4A7C15ULL, 0x105CD85C8ACBCCC5ULL },
    { 3, 0x9E3779B97F4A7C15ULL, 0xAC68126D7ACFCE15ULL },
    { 4, 0x9E3779B97F4A7C15ULL, 0xD8D778DED6EE56B4ULL },
    { 5, 0x9E3779B97F4A7C15ULL, 0x5B1F908ED0947E12ULL },
    { 6, 0x9E3779B97F4A7C15ULL, 0x54541AD60885241DULL },
    { 7, 0x9E3779B97F4A7C15ULL, 0x320E869C7A22C2BAULL },
    { 8, 0x9E3779B97F4A7C15ULL, 0x81C06E0C87CA2C12ULL },
    { 9, 0x9E3779B97F4A7C15ULL, 0x3D6EF83C3EFEE396ULL },
    { 10, 0x9E3779B97F4A7C15ULL, 0xB7660EC2DE4876AAULL },
    { 11, 0x9E3779B97F4A7C15ULL, 0xDD7FB09D18351FC4ULL },
    { 12, 0x9E3779B97F4A7C15ULL, 0x03528383A84B05CCULL },
    { 13, 0x9E3779B97F4A7C15ULL, 0xCEF4C778FAEC4E79ULL },
    { 14, 0x9E3779B97F4A7C15ULL, 0xABC4AAC3E9F9721EULL },
    { 15, 0x9E3779B97F4A7C15ULL, 0x977AA2F7FB91CEFDULL },
    { 16, 0x9E3779B97F4A7C15ULL, 0xB1D1D273B618820EULL },
    { 17, 0x9E3779B97F4A7C15ULL, 0xAF1D7EBA665858D4ULL },
    { 18, 0x9E3779B97F4A7C15ULL, 0xA032B5D8AE8D8B42ULL },
    { 19, 0x9E3779B97F4A7C15ULL, 0xFAC4B376CAE0DAA3ULL },
    { 20, 0x9E3779B97F4A7C15ULL, 0x8201A51C102488F1ULL },
    { 21, 0x9E3779B97F4A7C15ULL, 0x19D48607007A1AFEULL },
    { 22, 0x9E3779B97F4A7C15ULL, 0x8C28E2B0CBE207D3ULL },
    { 23, 0x9E3779B97F4A7C15ULL, 0x844EF3DDEA7BF387ULL },
    { 24, 0x9E3779B97F4A7C15ULL, 0xF68CCCC8B47AA31FULL },
    { 25, 0x9E3779B97F4A7C15ULL, 0x4B5960116C3F1590ULL },
    { 26, 0x9E3779B97F4A7C15ULL, 0x01AC94AB591769C5ULL },
    { 27, 0x9E3779B97F4A7C15ULL, 0x59F89367A3E5142DULL },
    { 28, 0x9E3779B97F4A7C15ULL, 0xECE7CDE23C71E5EDULL },
    { 29, 0x9E3779B97F4A7C15ULL, 0x824CD63A895D03ECULL },
    { 30, 0x9E3779B97F4A7C15ULL, 0xE1F4387EED2A975DULL },
    { 31, 0x9E3779B97F4A7C15ULL, 0x407E1B0246AA4C89ULL },
    { 32, 0x9E3779B97F4A7C15ULL, 0x0FDBC75CBF63F5BDULL },
    { 33, 0x9E3779B97F4A7C15ULL, 0x199870762697AE29ULL },
    { 34, 0x9E3779B97F4A7C15ULL, 0x95B02D9E1A08A45BULL },
    { 35, 0x9E3779B97F4A7C15ULL, 0xD4F8A0F4441DBD45ULL },
    { 36, 0x9E3779B97F4A7C15ULL, 0x39C36D5BB206391AULL },
    { 37, 0x9E3779B97F4A7C15ULL, 0xB7DC6C21B534505BULL },
    { 38, 0x9E3779B97F4A7C15ULL, 0xC7C4B3EFF2782DA3ULL },
    { 39, 0x9E3779B97F4A7C15ULL, 0xB6F7A9FC7E63B741ULL },
    { 40, 0x9E3779B97F4A7C15ULL, 0x2A416FA6BD03B503ULL },
    { 63, 0x9E3779B97F4A7C15ULL, 0xE014E7D23AF65352ULL },
    { 64, 0x9E3779B97F4A7C15ULL, 0x93205AFC5DF112B2ULL },
    { 65, 0x9E3779B97F4A7C15ULL, 0x88D228DCE9A42217ULL },
    { 100, 0x9E3779B97F4A7C15ULL, 0x8D818C65AB873D61ULL },
    { 255, 0x9E3779B97F4A7C15ULL, 0x3BDB2DC193AAFEFAULL },
    { 1000, 0x9E3779B97F4A7C15ULL, 0xC7FE574D3EE26A09ULL },
    { 0, 0x0000000000003039ULL, 0x95584AF7701F808DULL },
    { 1, 0x0000000000003039ULL, 0xE8D1E3A3A22AAB29ULL },
    { 2, 0x0000000000003039ULL, 0x241019578CE89FF8ULL },
    { 3, 0x0000000000003039ULL, 0xD9C8BFC6FFBD541BULL },
    { 4, 0x0000000000003039ULL, 0xC41E7917DB8A4177ULL },
    { 5, 0x0000000000003039ULL, 0xC0E51231A7958D5FULL },
    { 6, 0x0000000000003039ULL, 0x134100C0FB50F06AULL },
    { 7, 0x0000000000003039ULL, 0x177C809EA23971A1ULL },
    { 8, 0x0000000000003039ULL, 0x9FC901BCAB1C9B0FULL },
    { 9, 0x0000000000003039ULL, 0x74A9FAC7E569C333ULL },
    { 10, 0x0000000000003039ULL, 0x0ACD9821016C873DULL },
    { 11, 0x0000000000003039ULL, 0x82139BF3FF8A1AC0ULL },
    { 12, 0x0000000000003039ULL, 0x945F4B0707B48DD2ULL },
    { 13, 0x0000000000003039ULL, 0xFF8D43C74C2E52FEULL },
    { 14, 0x0000000000003039ULL, 0xB2C23705F0E8E06AULL },
    { 15, 0x0000000000003039ULL, 0xD94A95B5FB40F627ULL },
    { 16, 0x0000000000003039ULL, 0x71046F6FB69742E9ULL },
    { 17, 0x0000000000003039ULL, 0xB194E3DCE4A68BC8ULL },
    { 18, 0x0000000000003039ULL, 0xCB8FB6A69564522BULL },
    { 19, 0x0000000000003039ULL, 0xD05C7065361C979CULL },
    { 20, 0x0000000000003039ULL, 0xB2DBE69E9D12F21EULL },
    { 21, 0x0000000000003039ULL, 0xBC298BD3FDF4EF5BULL },
    { 22, 0x0000000000003039ULL, 0x1F7CF0EE90639F65ULL },
    { 23, 0x0000000000003039ULL, 0x0F016BDA66582676ULL },
    { 24, 0x0000000000003039ULL, 0x33FC1414745154DAULL },
    { 25, 0x0000000000003039ULL, 0x3437825A54C9FB84ULL },
    { 26, 0x0000000000003039ULL, 0x4D5C42AE3E830AA6ULL },
    { 27, 0x0000000000003039ULL, 0x3773C506D48B3245ULL },
    { 28, 0x0000000000003039ULL, 0xABEE2A6F942414B1ULL },
    { 29, 0x0000000000003039ULL, 0x29FBD3856D42F4B2ULL },
    { 30, 0x0000000000003039ULL, 0x0994B7C3F4FE1CE2ULL },
    { 31, 0x0000000000003039ULL, 0xE3C8D3EC5510D1D9ULL },
    { 32, 0x0000000000003039ULL, 0x0FFE847B96BF6863ULL },
    { 33, 0x0000000000003039ULL, 0xF74D82A7E7082DF9ULL },
    { 34, 0x0000000000003039ULL, 0xE90613D7B65EC040ULL },
    { 35, 0x0000000000003039ULL, 0x97FA65127D0D7651ULL },
    { 36, 0x0000000000003039ULL, 0x264659E0606C5E34ULL },
    { 37, 0x0000000000003039ULL, 0xD5BF58814C37ADD2ULL },
    { 38, 0x0000000000003039ULL, 0xAE8CC31BB985E5CAULL },
    { 39, 0x0000000000003039ULL, 0x8AEA33BB014A0271ULL },
    { 40, 0x0000000000003039ULL, 0xFDC214A020FE846BULL },
    { 63, 0x0000000000003039ULL, 0x63151100AAA757E1ULL },
    { 64, 0x0000000000003039ULL, 0x636584A6FC5943D2ULL },
    { 65, 0x0000000000003039ULL, 0xB967F277ED40FBBBULL },
    { 100, 0x0000000000003039ULL, 0xF0F10949E40988DDULL },
    { 255, 0x0000000000003039ULL, 0x25D7E8D4C72F3367ULL },
    { 1000, 0x0000000000003039ULL, 0xA8954647BD8DBD28ULL },
};

static void test_xxh64(void) {
    unsigned char in[1000 + 16];
    unsigned char *shifted;
    size_t i, bad = 0, bad_unaligned = 0, n = sizeof xxh_vectors / sizeof xxh_vectors[0];
    unsigned off;
    for (i = 0; i < sizeof in; i++) in[i] = (unsigned char)((i * 7 + 1) & 0xff);
    for (i = 0; i < n; i++) {
        unsigned long long got = gcache_xxh64(in, xxh_vectors[i].len, xxh_vectors[i].seed);
        if (got != xxh_vectors[i].want) {
            if (bad++ < 5)
                TAP_DIAG("xxh64 len %u seed %llx: got %016llx want %016llx", xxh_vectors[i].len,
                         xxh_vectors[i].seed, got, xxh_vectors[i].want);
        }
    }
    TAP_IS_INT(bad, 0, "gcache_xxh64 matches python-xxhash on 188 vectors (0..40, 63..65, 100, 255, 1000 bytes, 4 seeds)");
    /* the same from every misalignment */
    shifted = (unsigned char *)malloc(1000 + 16);
    if (shifted) {
        for (off = 1; off < 8; off++) {
            memcpy(shifted + off, in, 1000);
            for (i = 0; i < n; i++)
                if (gcache_xxh64(shifted + off, xxh_vectors[i].len, xxh_vectors[i].seed) != xxh_vectors[i].want)
                    bad_unaligned++;
        }
        free(shifted);
    }
    TAP_IS_INT(bad_unaligned, 0, "gcache_xxh64 gives the same result from unaligned pointers");
    TAP_OK(gcache_xxh64("abc", 3, 0) == 0x44BC2CF5AD770999ULL, "xxh64(\"abc\", 0)");
    TAP_OK(gcache_xxh64("abc", 3, 12345) == 0x01700E64F6F23509ULL, "xxh64(\"abc\", 12345)");
    TAP_OK(gcache_xxh64(NULL, 0, 0) == 0xEF46DB3751D8E999ULL, "xxh64(NULL, 0, 0) is the empty-input hash");
}

/* ---- helpers ---------------------------------------------------------------------------------- */

typedef struct { long calls; } fetch_state;
static int fetch_fn(void *user, const gcache_key *key, gcache_buf *out) {
    fetch_state *f = (fetch_state *)user;
    size_t len = 0;
    const char *s = gcache_key_str(key, &len);
    f->calls++;
    return gcache_buf_set(out, s, len);
}

static gcache_key_config kc(int ttl_l, int ttl_r, int ramp_l, int ramp_r) {
    gcache_key_config c;
    memset(&c, 0, sizeof c);
    c.ttl_sec[GCACHE_LOCAL] = ttl_l; c.ttl_sec[GCACHE_REMOTE] = ttl_r;
    c.ramp[GCACHE_LOCAL] = ramp_l; c.ramp[GCACHE_REMOTE] = ramp_r;
    return c;
}

static gcache *new_gc(unsigned long long seed, int random, int with_remote) {
    gcache_desc d;
    gcache *gc = NULL;
    memset(&d, 0, sizeof d);
    d.ramp_seed = seed;
    d.ramp_random = random;
    d.local.max_entries = 400000; /* never evict in these tests */
    if (with_remote) {
        gcache_memory_desc md;
        memset(&md, 0, sizeof md);
        md.max_entries = 400000;
        if (gcache_remote_memory(&md, &d.remote) != GCACHE_OK) return NULL;
    }
    if (gcache_create(&d, &gc) != GCACHE_OK) {
        if (with_remote && d.remote.destroy) d.remote.destroy(d.remote.ctx);
        return NULL;
    }
    return gc;
}

static gcache_use_case *reg(gcache *gc, const char *name, const char *key_type, int tracked, gcache_key_config c) {
    gcache_use_case_desc u;
    gcache_use_case *uc = NULL;
    memset(&u, 0, sizeof u);
    u.name = name; u.key_type = key_type; u.track_for_invalidation = tracked;
    u.default_config = c;
    if (gcache_register(gc, &u, &uc) != GCACHE_OK) return NULL;
    return uc;
}

static int get1(gcache *gc, gcache_key *k, fetch_state *f) {
    gcache_buf b;
    size_t len = 0;
    const char *s = gcache_key_str(k, &len);
    int rc, ok;
    memset(&b, 0, sizeof b);
    rc = gcache_get(gc, k, fetch_fn, f, &b);
    ok = rc == GCACHE_OK && s && b.len == len && memcmp(b.data, s, len) == 0;
    gcache_buf_free(&b);
    return ok;
}

/* get a key twice; 1 if the second get did not fetch (it was cached), 0 if it did,
   -1 on a wrong value */
static int cached_twice(gcache *gc, gcache_key *k) {
    fetch_state f;
    f.calls = 0;
    if (!get1(gc, k, &f) || !get1(gc, k, &f)) return -1;
    return f.calls == 1 ? 1 : 0;
}

static int bucket_of(const gcache_key *k, unsigned long long seed) {
    size_t len = 0;
    const char *s = gcache_key_str(k, &len);
    return (int)(gcache_xxh64(s, len, seed) % 100);
}

static gcache_stats stats(gcache *gc, const char *uc, gcache_layer layer) {
    gcache_stats st;
    memset(&st, 0, sizeof st);
    if (gcache_stats_get(gc, uc, layer, &st) != GCACHE_OK) memset(&st, 0xff, sizeof st);
    return st;
}

/* ---- the fraction cached matches the ramp, key by key against the formula -------------------- */

static void test_fraction(void) {
    static const int ramps[] = { 10, 50, 90 };
    const unsigned long long seed = 0x1234567ULL;
    const long nkeys = 100000;
    gcache *gc = new_gc(seed, 0, 0);
    gcache_use_case *uc;
    size_t r;
    if (!TAP_OK(gc != NULL, "fraction: create")) return;
    uc = reg(gc, "R", "t", 0, kc(600, 0, 0, 0));
    if (!TAP_OK(uc != NULL, "fraction: register")) { gcache_destroy(gc); return; }
    for (r = 0; r < sizeof ramps / sizeof ramps[0]; r++) {
        int ramp = ramps[r];
        gcache_key_config c = kc(600, 0, ramp, 0);
        gcache_stats s0, s1;
        long i, cached = 0, mismatch = 0, wrong = 0;
        double frac;
        gcache_config_set(gc, "R", &c);
        s0 = stats(gc, "R", GCACHE_LOCAL);
        for (i = 0; i < nkeys; i++) {
            gcache_key k;
            int got;
            gcache_key_init_int(&k, uc, (long long)ramp * 1000000 + i);
            got = cached_twice(gc, &k);
            if (got < 0) { wrong++; continue; }
            cached += got;
            if (got != (bucket_of(&k, seed) < ramp)) mismatch++;
        }
        s1 = stats(gc, "R", GCACHE_LOCAL);
        frac = 100.0 * (double)cached / (double)nkeys;
        TAP_DIAG("ramp %d: %.2f%% of %ld keys cached", ramp, frac, nkeys);
        TAP_OK(frac >= ramp - 2.0 && frac <= ramp + 2.0, "ramp %d: fraction of keys cached %.2f within +-2 points", ramp, frac);
        TAP_IS_INT(wrong, 0, "every get returned the fetched value");
        TAP_IS_INT(mismatch, 0, "every key's decision is XXH64(key bytes, ramp_seed) % 100 < ramp");
        TAP_IS_INT(s1.hits - s0.hits, cached, "stats: LOCAL hits == keys cached");
        TAP_IS_INT(s1.disabled[GCACHE_REASON_RAMPED_DOWN] - s0.disabled[GCACHE_REASON_RAMPED_DOWN], 2 * (nkeys - cached),
                   "stats: every get of a ramped-down key counted as ramped_down");
        TAP_IS_INT(s1.requests - s0.requests, 2 * cached, "stats: LOCAL requests only for ramped-in keys");
    }
    gcache_destroy(gc);
}

/* ---- pinned buckets (python-xxhash), exact boundaries ------------------------------------------ */

/* buckets from: xxhash.xxh64_intdigest(key, seed=s) % 100 (python3-xxhash 3.2.0) */
static const struct { long long id; int b42, b12345; } pinned[] = {
    { 0, 64, 73 }, { 1, 53, 80 }, { 2, 49, 34 }, { 3, 3, 80 }, { 4, 91, 15 }, { 5, 40, 22 },
    { 6, 52, 89 }, { 7, 55, 64 }, { 8, 81, 88 }, { 9, 19, 77 }, { 327, 20, 40 }, { -1, 28, 23 },
};

/* at ramp b a key of bucket b is not cached, at b + 1 it is */
static int pin_one(gcache *gc, const char *uc_name, gcache_key *k, int bucket) {
    gcache_key_config c;
    int at_b, at_b1;
    c = kc(600, 0, bucket, 0);
    gcache_flush(gc);
    gcache_config_set(gc, uc_name, &c);
    at_b = cached_twice(gc, k);
    c = kc(600, 0, bucket + 1, 0);
    gcache_flush(gc);
    gcache_config_set(gc, uc_name, &c);
    at_b1 = cached_twice(gc, k);
    return at_b == 0 && at_b1 == 1;
}

static void test_pinned(void) {
    static const unsigned long long seeds[] = { 42, 12345 };
    size_t s, i;
    for (s = 0; s < 2; s++) {
        gcache *gc = new_gc(seeds[s], 0, 0);
        gcache *gct = new_gc(seeds[s], 0, 0);
        gcache_use_case *uc = gc ? reg(gc, "R", "t", 0, kc(600, 0, 0, 0)) : NULL;
        gcache_use_case *gu = gc ? reg(gc, "GetUser", "user_id", 0, kc(600, 0, 0, 0)) : NULL;
        gcache_use_case *gt = gct ? reg(gct, "GetUser", "user_id", 1, kc(600, 0, 0, 0)) : NULL;
        int bad = 0;
        gcache_key k;
        if (!TAP_OK(uc && gu && gt, "pinned: setup seed %llu", seeds[s])) { gcache_destroy(gc); gcache_destroy(gct); continue; }
        for (i = 0; i < sizeof pinned / sizeof pinned[0]; i++) {
            int b = s == 0 ? pinned[i].b42 : pinned[i].b12345;
            gcache_key_init_int(&k, uc, pinned[i].id);
            if (!pin_one(gc, "R", &k, b)) { bad++; TAP_DIAG("seed %llu key %s: bucket %d not matched", seeds[s], gcache_key_str(&k, NULL), b); }
        }
        TAP_IS_INT(bad, 0, "ramp boundaries match python-xxhash buckets for urn:t:<id>#R");
        gcache_key_init_int(&k, gt, 327);
        gcache_key_add_int(&k, "page", 2);
        TAP_OK(pin_one(gct, "GetUser", &k, s == 0 ? 28 : 1), "{urn:user_id:327}?page=2#GetUser: bucket %d (seed %llu)",
               s == 0 ? 28 : 1, seeds[s]);
        gcache_key_init_int(&k, gu, 1);
        TAP_OK(pin_one(gc, "GetUser", &k, s == 0 ? 87 : 65), "urn:user_id:1#GetUser: bucket %d (seed %llu)",
               s == 0 ? 87 : 65, seeds[s]);
        gcache_destroy(gc);
        gcache_destroy(gct);
    }
}

/* ---- monotonic, stable across instances, seed-dependent ---------------------------------------- */

static void decisions(gcache *gc, gcache_use_case *uc, long n, unsigned char *out) {
    long i;
    for (i = 0; i < n; i++) {
        gcache_key k;
        gcache_key_init_int(&k, uc, i);
        gcache_key_add(&k, "v", "x");
        out[i] = (unsigned char)cached_twice(gc, &k);
    }
}

static void test_monotonic_and_stable(void) {
    const long n = 20000;
    const unsigned long long seed = 777;
    unsigned char *d30 = (unsigned char *)malloc((size_t)n), *d60 = (unsigned char *)malloc((size_t)n);
    unsigned char *d50a = (unsigned char *)malloc((size_t)n), *d50b = (unsigned char *)malloc((size_t)n);
    unsigned char *d50c = (unsigned char *)malloc((size_t)n);
    gcache *g30 = new_gc(seed, 0, 0), *g60 = new_gc(seed, 0, 0);
    gcache *ga = new_gc(seed, 0, 0), *gb = new_gc(seed, 0, 0), *gc = new_gc(seed + 1, 0, 0);
    gcache_use_case *u30, *u60, *ua, *ub, *uc;
    long i, not_subset = 0, c30 = 0, c60 = 0, differ_same = 0, differ_other = 0, bad = 0;
    if (!TAP_OK(d30 && d60 && d50a && d50b && d50c && g30 && g60 && ga && gb && gc, "monotonic: setup")) goto out;
    u30 = reg(g30, "M", "t", 0, kc(600, 0, 30, 0));
    u60 = reg(g60, "M", "t", 0, kc(600, 0, 60, 0));
    ua = reg(ga, "M", "t", 0, kc(600, 0, 50, 0));
    ub = reg(gb, "M", "t", 0, kc(600, 0, 50, 0));
    uc = reg(gc, "M", "t", 0, kc(600, 0, 50, 0));
    if (!TAP_OK(u30 && u60 && ua && ub && uc, "monotonic: register")) goto out;
    decisions(g30, u30, n, d30);
    decisions(g60, u60, n, d60);
    decisions(ga, ua, n, d50a);
    decisions(gb, ub, n, d50b);
    decisions(gc, uc, n, d50c);
    for (i = 0; i < n; i++) {
        if (d30[i] > 1 || d60[i] > 1 || d50a[i] > 1 || d50b[i] > 1 || d50c[i] > 1) bad++;
        c30 += d30[i] == 1; c60 += d60[i] == 1;
        if (d30[i] == 1 && d60[i] != 1) not_subset++;
        if (d50a[i] != d50b[i]) differ_same++;
        if (d50a[i] != d50c[i]) differ_other++;
    }
    TAP_IS_INT(bad, 0, "monotonic: every get returned the right value");
    TAP_IS_INT(not_subset, 0, "monotonic: every key cached at ramp 30 is cached at ramp 60 (same seed)");
    TAP_OK(c60 > c30 && c30 > n * 27 / 100 && c60 < n * 63 / 100, "ramp 60 adds keys (%ld -> %ld of %ld)", c30, c60, n);
    TAP_IS_INT(differ_same, 0, "two instances with one ramp_seed make the same decision for every key");
    TAP_OK(differ_other > n / 3, "another ramp_seed gives other decisions (%ld of %ld differ)", differ_other, n);

    /* raising the ramp on one instance keeps every cached key cached */
    {
        gcache_key_config c = kc(600, 0, 60, 0);
        long lost = 0;
        fetch_state f;
        f.calls = 0;
        gcache_config_set(g30, "M", &c);
        for (i = 0; i < n; i++) {
            gcache_key k;
            if (d30[i] != 1) continue;
            gcache_key_init_int(&k, u30, i);
            gcache_key_add(&k, "v", "x");
            get1(g30, &k, &f);
        }
        lost = f.calls;
        TAP_IS_INT(lost, 0, "after raising the ramp 30 -> 60 every key cached before is still a hit");
    }
out:
    free(d30); free(d60); free(d50a); free(d50b); free(d50c);
    gcache_destroy(g30); gcache_destroy(g60); gcache_destroy(ga); gcache_destroy(gb); gcache_destroy(gc);
}

/* ---- ramp 0 and 100 ------------------------------------------------------------------------------- */

static void test_ramp_edges(void) {
    gcache *gc = new_gc(99, 0, 0);
    gcache_use_case *uc = gc ? reg(gc, "Z", "t", 0, kc(600, 0, 0, 0)) : NULL;
    gcache_stats s0, s1;
    fetch_state f;
    long i, n = 1000;
    gcache_key_config c;
    if (!TAP_OK(uc != NULL, "edges: setup")) { gcache_destroy(gc); return; }
    f.calls = 0;
    s0 = stats(gc, "Z", GCACHE_LOCAL);
    for (i = 0; i < n; i++) {
        gcache_key k;
        gcache_key_init_int(&k, uc, i % 10);
        get1(gc, &k, &f);
    }
    s1 = stats(gc, "Z", GCACHE_LOCAL);
    TAP_IS_INT(f.calls, n, "ramp 0: every get fetches");
    TAP_IS_INT(s1.disabled[GCACHE_REASON_RAMPED_DOWN] - s0.disabled[GCACHE_REASON_RAMPED_DOWN], n,
               "ramp 0: every get counted as disabled, reason ramped_down");
    TAP_IS_INT(s1.requests - s0.requests, 0, "ramp 0: no LOCAL requests");
    TAP_IS_INT(s1.entries, 0, "ramp 0: nothing stored");
    c = kc(600, 0, 100, 0);
    gcache_config_set(gc, "Z", &c);
    f.calls = 0;
    s0 = stats(gc, "Z", GCACHE_LOCAL);
    for (i = 0; i < n; i++) {
        gcache_key k;
        gcache_key_init_int(&k, uc, i % 10);
        get1(gc, &k, &f);
    }
    s1 = stats(gc, "Z", GCACHE_LOCAL);
    TAP_IS_INT(f.calls, 10, "ramp 100: each of 10 keys fetched once");
    TAP_IS_INT(s1.hits - s0.hits, n - 10, "ramp 100: the rest are hits");
    TAP_IS_INT(s1.disabled[GCACHE_REASON_RAMPED_DOWN] - s0.disabled[GCACHE_REASON_RAMPED_DOWN], 0, "ramp 100: none ramped down");
    gcache_destroy(gc);
}

/* ---- one bucket for both layers --------------------------------------------------------------------- */

static void test_both_layers(void) {
    const unsigned long long seed = 4242;
    gcache *gc = new_gc(seed, 0, 1);
    gcache *gr = new_gc(seed, 0, 1);
    gcache_use_case *uc = gc ? reg(gc, "L", "t", 0, kc(600, 600, 30, 60)) : NULL;
    gcache_use_case *ur = gr ? reg(gr, "L", "t", 0, kc(0, 600, 100, 60)) : NULL;
    gcache_stats l0, l1, r0, r1;
    long i, n = 5000, want_local = 0, want_remote = 0, mismatch = 0, bad = 0;
    if (!TAP_OK(uc && ur, "both layers: setup")) { gcache_destroy(gc); gcache_destroy(gr); return; }
    l0 = stats(gc, "L", GCACHE_LOCAL); r0 = stats(gc, "L", GCACHE_REMOTE);
    for (i = 0; i < n; i++) {
        gcache_key k;
        int b, got;
        gcache_key_init_int(&k, uc, i);
        b = bucket_of(&k, seed);
        want_local += b < 30;
        want_remote += b >= 30 && b < 60;
        got = cached_twice(gc, &k);
        if (got < 0) bad++;
        else if (got != (b < 60)) mismatch++;
    }
    l1 = stats(gc, "L", GCACHE_LOCAL); r1 = stats(gc, "L", GCACHE_REMOTE);
    TAP_IS_INT(bad, 0, "both layers: every get returned the right value");
    TAP_IS_INT(mismatch, 0, "local ramp 30 + remote ramp 60: a key is cached iff its bucket < 60");
    TAP_IS_INT(l1.hits - l0.hits, want_local, "LOCAL hits == keys with bucket < 30");
    TAP_IS_INT(r1.hits - r0.hits, want_remote, "REMOTE hits == keys with 30 <= bucket < 60 (the same bucket in both layers)");
    mismatch = 0;
    for (i = 0; i < n; i++) {
        gcache_key k;
        int got;
        gcache_key_init_int(&k, ur, i);
        got = cached_twice(gr, &k);
        if (got != (bucket_of(&k, seed) < 60)) mismatch++;
    }
    TAP_IS_INT(mismatch, 0, "remote layer alone at ramp 60: cached iff bucket < 60");
    gcache_destroy(gc);
    gcache_destroy(gr);
}

/* ---- ramp_random: per-request roll ------------------------------------------------------------------- */

static void test_random(void) {
    static const int ramps[] = { 10, 50, 90 };
    size_t r;
    for (r = 0; r < sizeof ramps / sizeof ramps[0]; r++) {
        int ramp = ramps[r];
        gcache *gc = new_gc(5, 1, 0);
        gcache_use_case *uc = gc ? reg(gc, "X", "t", 0, kc(600, 0, ramp, 0)) : NULL;
        gcache_stats s0, s1;
        fetch_state f;
        long i, n = 20000, wrong = 0;
        double used, hit;
        gcache_key k;
        if (!TAP_OK(uc != NULL, "random: setup")) { gcache_destroy(gc); continue; }
        f.calls = 0;
        gcache_key_init(&k, uc, "the-one-key");
        s0 = stats(gc, "X", GCACHE_LOCAL);
        for (i = 0; i < n; i++)
            if (!get1(gc, &k, &f)) wrong++;
        s1 = stats(gc, "X", GCACHE_LOCAL);
        used = 100.0 * (double)(s1.requests - s0.requests) / (double)n;
        hit = 100.0 * (double)(s1.hits - s0.hits) / (double)n;
        TAP_DIAG("ramp_random, ramp %d: layer used on %.2f%% of requests, %.2f%% hits, %ld fetches", ramp, used, hit, f.calls);
        TAP_IS_INT(wrong, 0, "ramp_random: every get returned the right value");
        TAP_OK(used >= ramp - 2.0 && used <= ramp + 2.0, "ramp_random %d: one key used on %.2f%% of requests (+-2)", ramp, used);
        TAP_OK(hit >= ramp - 2.0 && hit <= ramp + 2.0, "ramp_random %d: %.2f%% of requests are hits (+-2)", ramp, hit);
        TAP_IS_INT((s1.requests - s0.requests) + (s1.disabled[GCACHE_REASON_RAMPED_DOWN] - s0.disabled[GCACHE_REASON_RAMPED_DOWN]),
                   n, "ramp_random: every request either used the layer or counted ramped_down");
        TAP_IS_INT(f.calls, n - (long)(s1.hits - s0.hits), "ramp_random: fetched exactly when not a hit");
        gcache_destroy(gc);
    }
    {
        gcache *gc = new_gc(5, 1, 0);
        gcache_use_case *u0 = gc ? reg(gc, "R0", "t", 0, kc(600, 0, 0, 0)) : NULL;
        gcache_use_case *u100 = gc ? reg(gc, "R100", "t", 0, kc(600, 0, 100, 0)) : NULL;
        fetch_state f0, f100;
        gcache_key k0, k100;
        long i;
        if (TAP_OK(u0 && u100, "random edges: setup")) {
            f0.calls = f100.calls = 0;
            gcache_key_init(&k0, u0, "k");
            gcache_key_init(&k100, u100, "k");
            for (i = 0; i < 2000; i++) { get1(gc, &k0, &f0); get1(gc, &k100, &f100); }
            TAP_IS_INT(f0.calls, 2000, "ramp_random with ramp 0: never cached");
            TAP_IS_INT(f100.calls, 1, "ramp_random with ramp 100: always cached");
        }
        gcache_destroy(gc);
    }
}

int main(void) {
    int prev = gcache_enable(1);
    test_xxh64();
    test_fraction();
    test_pinned();
    test_monotonic_and_stable();
    test_ramp_edges();
    test_both_layers();
    test_random();
    gcache_enable(prev);
    return TAP_DONE();
}
