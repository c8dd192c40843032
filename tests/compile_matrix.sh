#!/usr/bin/env bash
# Compile matrix for gcache.h: every supported compiler and language standard, every
# option macro, with and without -pthread, all with -Wall -Wextra -Werror -pedantic.
#
#   tests/compile_matrix.sh [SOURCE_ROOT] [BUILD_ROOT]
#
# Each combination builds two translation units and links them:
#   impl.c  nothing but `#define GCACHE_IMPLEMENTATION` + `#include "gcache.h"`
#   user.c  includes only the declarations and calls the API (create, register, keys,
#           get, stats, config, metrics, destroy); the linked program is run and must
#           exit 0 (it checks a miss, a hit and the key format).
# GCACHE_STATIC is tested as one TU (user.c with GCACHE_IMPLEMENTATION). A program whose
# TUs disagree on GCACHE_KEY_MAX / GCACHE_KEY_MAX_ARGS must FAIL to link. With
# arm-none-eabi-gcc present, the implementation TU is also compiled for a Cortex-M4.
# Prints TAP (one line per combination); exits nonzero if any combination failed.
set -u

SRC=$(cd "${1:-$(dirname "$0")/..}" && pwd)
BUILD=${2:-$SRC/build}
mkdir -p "$BUILD"
BUILD=$(cd "$BUILD" && pwd)
WORK=$BUILD/compile_matrix.d
rm -rf "$WORK"
mkdir -p "$WORK/obj" "$WORK/res"
JOBS=${MATRIX_JOBS:-$(nproc 2>/dev/null || echo 2)}

if [ ! -f "$SRC/gcache.h" ]; then
    echo "1..0 # SKIP no gcache.h in $SRC"
    exit 77
fi
cp "$SRC/gcache.h" "$WORK/gcache.h"   # a private copy: no other header can leak in

cat > "$WORK/impl.c" <<'EOF'
#define GCACHE_IMPLEMENTATION
#include "gcache.h"
EOF

cat > "$WORK/user.c" <<'EOF'
#include "gcache.h"
#include <string.h>

static int fetch_calls;
static int fetch_hello(void *user, const gcache_key *key, gcache_buf *out) {
    (void)user;
    (void)key;
    fetch_calls++;
    return gcache_buf_set(out, "hello", 5);
}

int main(void) {
    gcache *gc = NULL;
    gcache_desc d;
    gcache_use_case_desc u;
    gcache_use_case *uc = NULL;
    gcache_key k;
    gcache_buf val;
    gcache_stats st;
    static char text[1 << 16];
    const char *s;
    size_t len = 0;
    int rc = 0, fail = 0, n;

    memset(&d, 0, sizeof d);
    memset(&u, 0, sizeof u);
    memset(&val, 0, sizeof val);
    memset(&st, 0, sizeof st);
    if (gcache_create(&d, &gc) != GCACHE_OK || gc == NULL) return 2;
    u.name = "GetUser";
    u.key_type = "user_id";
    u.track_for_invalidation = 1;
    u.default_config.ttl_sec[GCACHE_LOCAL] = 60;
    u.default_config.ramp[GCACHE_LOCAL] = 100;
    if (gcache_register(gc, &u, &uc) != GCACHE_OK || uc == NULL) return 3;

    gcache_key_init_int(&k, uc, 327);
    gcache_key_add_int(&k, "page", 2);
    s = gcache_key_str(&k, &len);
    if (s == NULL || strcmp(s, "{urn:user_id:327}?page=2#GetUser") != 0 || len != strlen(s)) fail |= 4;
    gcache_key_init(&k, uc, "327");
    gcache_key_add(&k, "page", "2");
    gcache_key_add_bool(&k, "all", 0);
    if (gcache_key_error(&k) != 0) fail |= 8;
    s = gcache_key_str(&k, NULL);
    if (s == NULL || strcmp(s, "{urn:user_id:327}?all=False&page=2#GetUser") != 0) fail |= 16;

    GCACHE_WITH_ENABLED {
        rc = gcache_get(gc, &k, fetch_hello, NULL, &val);
        if (rc != GCACHE_OK || val.len != 5 || memcmp(val.data, "hello", 5) != 0) fail |= 32;
        rc = gcache_get(gc, &k, fetch_hello, NULL, &val);
        if (rc != GCACHE_OK || val.len != 5) fail |= 32;
    }
    if (fetch_calls != 1) fail |= 64;
    if (gcache_stats_get(gc, "GetUser", GCACHE_LOCAL, &st) != GCACHE_OK || st.hits != 1 || st.misses != 1) fail |= 128;

    n = gcache_metrics_prometheus(gc, text, sizeof text);
#ifdef GCACHE_NO_METRICS_TEXT
    (void)n;
#else
    if (n <= 0) fail |= 256;
#endif
    n = gcache_config_dump_json(gc, text, sizeof text);
#ifdef GCACHE_NO_JSON
    if (n >= 0) fail |= 512;
#else
    if (n <= 0 || strstr(text, "GetUser") == NULL) fail |= 512;
#endif
    if (gcache_strerror(GCACHE_EKEY) == NULL || gcache_strerror(12345) == NULL) fail |= 1024;
    if (gcache_kill(gc, 1) != 0 || gcache_kill(gc, 0) != 1) fail |= 2048;

    gcache_buf_free(&val);
    gcache_destroy(gc);
    return fail;
}
EOF

# A user TU that never calls gcache_key_init (only _int/add/str): disagreeing key sizes
# must still fail to link.
cat > "$WORK/user_int.c" <<'EOF'
#include "gcache.h"
#include <string.h>

int main(void) {
    gcache *gc = NULL;
    gcache_desc d;
    gcache_use_case_desc u;
    gcache_use_case *uc = NULL;
    gcache_key k;
    memset(&d, 0, sizeof d);
    memset(&u, 0, sizeof u);
    if (gcache_create(&d, &gc) != GCACHE_OK) return 2;
    u.name = "GetUser";
    u.key_type = "user_id";
    if (gcache_register(gc, &u, &uc) != GCACHE_OK) return 3;
    gcache_key_init_int(&k, uc, 1);
    gcache_key_add(&k, "a", "b");
    if (gcache_key_str(&k, NULL) == NULL) return 4;
    gcache_destroy(gc);
    return 0;
}
EOF

STRICT="-Wall -Wextra -Werror -pedantic"
N=0
FAILED=0
declare -a NAMES

have() { command -v "$1" >/dev/null 2>&1; }

# Each combination runs as a background job writing res/N (status line) and res/N.log.
run_combo() { # run_combo N NAME KIND CC STD FLAGS...
    local n=$1 name=$2 kind=$3 cc=$4 std=$5
    shift 5
    local flags="$*" lang=""
    local tag
    tag=$(echo "$cc $std $flags" | tr -c 'A-Za-z0-9_=+.-' '_')
    case "$cc" in *++) lang="-x c++" ;; esac
    local log=$WORK/res/$n.log
    local impl=$WORK/obj/impl_$tag.o user=$WORK/obj/user_$tag.o exe=$WORK/obj/prog_$tag
    {
        case "$kind" in
        link)
            $cc $lang $std $STRICT $flags -I"$WORK" -c "$WORK/impl.c" -o "$impl" &&
            $cc $lang $std $STRICT $flags -I"$WORK" -c "$WORK/user.c" -o "$user" &&
            $cc $std $flags "$impl" "$user" -o "$exe" &&
            "$exe"
            ;;
        single)
            $cc $lang $std $STRICT $flags -DGCACHE_IMPLEMENTATION -I"$WORK" -c "$WORK/user.c" -o "$user" &&
            $cc $std $flags "$user" -o "$exe" &&
            "$exe"
            ;;
        cross)
            $cc $std $STRICT $flags -I"$WORK" -c "$WORK/impl.c" -o "$impl"
            ;;
        esac
    } >"$log" 2>&1
    local rc=$?
    if [ $rc -eq 0 ]; then echo "ok" >"$WORK/res/$n"; else echo "not ok (status $rc)" >"$WORK/res/$n"; fi
}

# mismatch N NAME CC STD IMPLFLAGS -- USERFLAGS -- USERSRC: objects compiled with
# different key options must not link.
run_mismatch() {
    local n=$1 name=$2 cc=$3 std=$4 implflags=$5 userflags=$6 usersrc=$7 lang=""
    case "$cc" in *++) lang="-x c++" ;; esac
    local log=$WORK/res/$n.log
    local impl=$WORK/obj/mm_impl_$n.o user=$WORK/obj/mm_user_$n.o exe=$WORK/obj/mm_prog_$n
    (
        $cc $lang $std $STRICT $implflags -I"$WORK" -c "$WORK/impl.c" -o "$impl" &&
        $cc $lang $std $STRICT $userflags -I"$WORK" -c "$WORK/$usersrc" -o "$user" &&
        $cc $lang $std $STRICT $implflags -I"$WORK" -c "$WORK/$usersrc" -o "$user.control.o" || exit 3
        # Control: the same sources with agreeing options must link.
        if ! $cc $std -pthread "$impl" "$user.control.o" -o "$exe.control"; then
            echo "CONTROL FAILED: agreeing TUs did not link either"
            exit 4
        fi
        if $cc $std -pthread "$impl" "$user" -o "$exe" >"$log.ld" 2>&1; then
            echo "LINKED although the TUs disagree on GCACHE_KEY_MAX/GCACHE_KEY_MAX_ARGS"
            exit 1
        fi
        cat "$log.ld"
        echo "link failed, as it must"
        exit 0
    ) >"$log" 2>&1
    local rc=$?
    if [ $rc -eq 0 ]; then echo "ok" >"$WORK/res/$n"; else echo "not ok (status $rc)" >"$WORK/res/$n"; fi
}

skip_combo() { # skip_combo NAME REASON
    N=$((N + 1))
    NAMES[$N]=$1
    echo "ok # SKIP $2" >"$WORK/res/$N"
}

running=0
spawn() { # spawn FUNCTION ARGS... (bounded parallelism)
    "$@" &
    running=$((running + 1))
    if [ $running -ge "$JOBS" ]; then
        wait -n 2>/dev/null || wait
        running=$((running - 1))
    fi
}

combo() { # combo NAME KIND CC STD FLAGS...
    local name=$1
    shift
    N=$((N + 1))
    NAMES[$N]=$name
    spawn run_combo "$N" "$name" "$@"
}

COMPILERS=("gcc -std=c99" "gcc -std=c11" "clang -std=c99" "clang -std=c11"
           "g++ -std=c++11" "g++ -std=c++17" "clang++ -std=c++17")
KEYOPT="-DGCACHE_KEY_MAX=128 -DGCACHE_KEY_MAX_ARGS=4"

for entry in "${COMPILERS[@]}"; do
    cc=${entry%% *}
    std=${entry#* }
    if ! have "$cc"; then
        for v in "" "-pthread" "-DGCACHE_NO_THREADS" "-DGCACHE_NO_STDIO" "-DGCACHE_NO_JSON" \
                 "-DGCACHE_NO_METRICS_TEXT" "-DGCACHE_STATIC" "$KEYOPT"; do
            skip_combo "$cc $std $v" "$cc not installed"
        done
        continue
    fi
    combo "$cc $std (two TUs, no -pthread)" link "$cc" "$std"
    combo "$cc $std -pthread (two TUs)" link "$cc" "$std" -pthread
    combo "$cc $std -DGCACHE_NO_THREADS (no -pthread)" link "$cc" "$std" -DGCACHE_NO_THREADS
    combo "$cc $std -pthread -DGCACHE_NO_STDIO" link "$cc" "$std" -pthread -DGCACHE_NO_STDIO
    combo "$cc $std -pthread -DGCACHE_NO_JSON" link "$cc" "$std" -pthread -DGCACHE_NO_JSON
    combo "$cc $std -pthread -DGCACHE_NO_METRICS_TEXT" link "$cc" "$std" -pthread -DGCACHE_NO_METRICS_TEXT
    combo "$cc $std -pthread -DGCACHE_STATIC (single TU)" single "$cc" "$std" -pthread -DGCACHE_STATIC
    combo "$cc $std -pthread $KEYOPT (both TUs)" link "$cc" "$std" -pthread $KEYOPT
done
# Optimized builds: some warnings (maybe-uninitialized, stringop-*) appear only with -O2.
for entry in "gcc -std=c11" "g++ -std=c++17" "clang -std=c99"; do
    cc=${entry%% *}
    std=${entry#* }
    if have "$cc"; then
        combo "$cc $std -O2 -pthread (two TUs)" link "$cc" "$std" -O2 -pthread
    else
        skip_combo "$cc $std -O2" "$cc not installed"
    fi
done
# Everything off at once.
if have gcc; then
    combo "gcc -std=c99 all options (NO_THREADS NO_STDIO NO_JSON NO_METRICS_TEXT STATIC)" single gcc -std=c99 \
        -DGCACHE_NO_THREADS -DGCACHE_NO_STDIO -DGCACHE_NO_JSON -DGCACHE_NO_METRICS_TEXT -DGCACHE_STATIC
fi

# Bare-metal Cortex-M4: compile only (no OS, no clock, no threads).
if have arm-none-eabi-gcc; then
    combo "arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb -Os -DGCACHE_NO_THREADS -c (impl TU)" cross \
        arm-none-eabi-gcc -std=c99 -mcpu=cortex-m4 -mthumb -Os -DGCACHE_NO_THREADS
    combo "arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb -Os -DGCACHE_NO_THREADS -DGCACHE_NO_STDIO -c (impl TU)" cross \
        arm-none-eabi-gcc -std=c99 -mcpu=cortex-m4 -mthumb -Os -DGCACHE_NO_THREADS -DGCACHE_NO_STDIO
else
    skip_combo "arm-none-eabi-gcc cortex-m4" "arm-none-eabi-gcc not installed"
fi

# Disagreeing key options must fail to link (both directions, C and C++).
mismatch() { # mismatch NAME CC STD IMPLFLAGS USERFLAGS USERSRC
    N=$((N + 1))
    NAMES[$N]=$1
    spawn run_mismatch "$N" "$@"
}
for entry in "gcc -std=c99" "g++ -std=c++17"; do
    cc=${entry%% *}
    std=${entry#* }
    have "$cc" || { skip_combo "$cc key-option mismatch" "$cc not installed"; continue; }
    mismatch "$cc $std key options only in the impl TU: must fail to link" "$cc" "$std" "-pthread $KEYOPT" "-pthread" user.c
    mismatch "$cc $std key options only in the user TU: must fail to link" "$cc" "$std" "-pthread" "-pthread $KEYOPT" user.c
    mismatch "$cc $std key options only in the user TU (no gcache_key_init call): must fail to link" \
        "$cc" "$std" "-pthread" "-pthread $KEYOPT" user_int.c
done
wait

# ---- report ----------------------------------------------------------------------------
echo "1..$N"
for i in $(seq 1 "$N"); do
    res=$(cat "$WORK/res/$i" 2>/dev/null || echo "not ok (no result)")
    case "$res" in
    ok*)
        echo "ok $i - ${NAMES[$i]}${res#ok}"
        ;;
    *)
        FAILED=$((FAILED + 1))
        echo "not ok $i - ${NAMES[$i]} ${res#not ok }"
        if [ -f "$WORK/res/$i.log" ]; then sed -n '1,40p' "$WORK/res/$i.log" | sed 's/^/#   /'; fi
        ;;
    esac
done
if [ "$FAILED" -gt 0 ]; then
    echo "# $FAILED of $N combinations failed (logs in $WORK/res)"
    exit 1
fi
exit 0
