#!/usr/bin/env bash
# test_redis_compat.sh -- run the Redis tests against hiredis 1.x built from source, so
# gcache_redis.h is checked against both hiredis APIs (the system's 0.14 is covered by
# the ordinary build).
#
# usage: tests/test_redis_compat.sh [source_root [build_root]]
#   HIREDIS_SRC=/path/to/hiredis-1.x   a hiredis 1.x source tree (not vendored here; the
#                                       script also looks in ../notes/hiredis-1.x next to
#                                       the repository)
#   CC                                  compiler (default cc)
# Exit status (meson's exitcode protocol): 0 pass, 77 skip (no 1.x tree, or no
# redis-server), anything else fail. Prints TAP-style lines.
set -u

src_root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cc=${CC:-cc}

hiredis_src=${HIREDIS_SRC:-}
if [ -z "$hiredis_src" ]; then
    for d in "$src_root/../notes/hiredis-1.x" "$src_root/../hiredis-1.x" /work/notes/hiredis-1.x; do
        if [ -f "$d/hiredis.h" ]; then hiredis_src=$d; break; fi
    done
fi
if [ -z "$hiredis_src" ] || [ ! -f "$hiredis_src/hiredis.h" ]; then
    echo "1..0 # SKIP no hiredis 1.x source tree found (set HIREDIS_SRC)"
    exit 77
fi
version=$(sed -n 's/^#define HIREDIS_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\).*/\2/p' "$hiredis_src/hiredis.h" | paste -sd. -)
case "$version" in
    1.*) ;;
    *) echo "1..0 # SKIP $hiredis_src is hiredis '$version', not 1.x"; exit 77 ;;
esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gcache-hiredis1.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
# Build a private copy: the source tree stays untouched. Static, no TLS.
cp -R "$hiredis_src" "$tmp/hiredis"
if ! make -C "$tmp/hiredis" static USE_SSL=0 CC="$cc" >"$tmp/build.log" 2>&1; then
    echo "not ok 1 - build hiredis $version from $hiredis_src"
    sed 's/^/# /' "$tmp/build.log" | tail -20
    echo "1..1"
    exit 1
fi
mkdir -p "$tmp/include"
ln -s "$tmp/hiredis" "$tmp/include/hiredis" # so <hiredis/hiredis.h> is the 1.x header
n=1
echo "ok 1 - build hiredis $version from $hiredis_src"

fail=0
skipped=0
for t in test_redis_conformance test_redis test_redis_faults; do
    n=$((n + 1))
    if ! "$cc" -std=c99 -Wall -Wextra -Werror -pedantic -g -I"$tmp/include" -I"$src_root" -I"$src_root/tests" \
            -pthread "$src_root/tests/$t.c" -o "$tmp/$t" "$tmp/hiredis/libhiredis.a" >"$tmp/$t.cc.log" 2>&1; then
        echo "not ok $n - $t compiles against hiredis $version"
        sed 's/^/# /' "$tmp/$t.cc.log" | head -30
        fail=1
        continue
    fi
    "$tmp/$t" >"$tmp/$t.out" 2>&1
    rc=$?
    if grep -q '^1\.\.0 # SKIP' "$tmp/$t.out"; then
        echo "ok $n - $t against hiredis $version # SKIP $(sed -n 's/^1\.\.0 # SKIP //p' "$tmp/$t.out")"
        skipped=$((skipped + 1))
    elif [ "$rc" -eq 0 ]; then
        echo "ok $n - $t against hiredis $version ($(grep -c '^ok' "$tmp/$t.out") checks)"
    else
        echo "not ok $n - $t against hiredis $version (exit $rc)"
        grep -v '^ok' "$tmp/$t.out" | sed 's/^/# /' | head -40
        fail=1
    fi
done
echo "1..$n"
if [ "$fail" -ne 0 ]; then exit 1; fi
if [ "$skipped" -eq 3 ]; then exit 77; fi
exit 0
