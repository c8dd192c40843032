#!/usr/bin/env bash
# tests/test_firmware_size.sh SOURCE_ROOT BUILD_ROOT -- gcache on a Cortex-M4.
#
# With arm-none-eabi-gcc (newlib-nano) installed:
#  1. compiles gcache's implementation alone, local-only (GCACHE_NO_THREADS,
#     GCACHE_NO_JSON, GCACHE_NO_METRICS_TEXT, GCACHE_NO_STDIO, -Os
#     -ffunction-sections), prints arm-none-eabi-size of the object and FAILS if
#     its .text + .rodata exceed 16 KiB (16384 bytes);
#  2. compiles examples/firmware.c (with firmware_main instead of main) warning-free;
#  3. links it into an ELF (--specs=nano.specs --specs=nosys.specs -Wl,--gc-sections)
#     and prints its size, and how much of it is gcache.
# Without the toolchain: a TAP skip (exit 77).
set -u
src=${1:-${GCACHE_SOURCE_ROOT:-.}}
limit=16384
cc=arm-none-eabi-gcc
if ! command -v "$cc" >/dev/null 2>&1; then
  echo "1..0 # SKIP arm-none-eabi-gcc not installed (apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi)"
  exit 77
fi
size=arm-none-eabi-size
nm=arm-none-eabi-nm
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gcache_fwsize.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

n=0
failed=0
ok() {
  n=$((n + 1))
  if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi
}
diag() { sed 's/^/# /' <<<"$1"; }

arch=(-mcpu=cortex-m4 -mthumb -Os --specs=nano.specs)
warn=(-std=c99 -Wall -Wextra -Werror -pedantic)
local_only=(-DGCACHE_NO_THREADS -DGCACHE_NO_JSON -DGCACHE_NO_METRICS_TEXT -DGCACHE_NO_STDIO)

# Sum of the sizes of the .text* and .rodata* sections of an object (size -A).
text_rodata() { "$size" -A "$1" | awk '$1 ~ /^\.(text|rodata)/ { s += $2 } END { print s + 0 }'; }

# ---- 1. the implementation alone, local-only -----------------------------------------------
printf '#define GCACHE_IMPLEMENTATION\n#include "gcache.h"\n' >"$tmp/impl.c"
"$cc" "${arch[@]}" "${warn[@]}" -ffunction-sections -fdata-sections "${local_only[@]}" \
  -I"$src" -c "$tmp/impl.c" -o "$tmp/impl.o" 2>"$tmp/impl.err"
st=$?
ok $st "gcache.h implementation compiles for Cortex-M4 (local-only, -Os)"
if [ $st -eq 0 ]; then
  echo "# arm-none-eabi-size of the local-only implementation object:"
  diag "$("$size" "$tmp/impl.o")"
  bytes=$(text_rodata "$tmp/impl.o")
  echo "# gcache local-only .text+.rodata: $bytes bytes ($(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1024 }') KiB; limit $limit)"
  echo "# FIRMWARE_SIZE text_rodata=$bytes limit=$limit"
  ok $([ "$bytes" -le "$limit" ] && echo 0 || echo 1) "local-only build is within 16 KiB of .text+.rodata ($bytes bytes)"
  # For comparison: everything in (JSON config and the metrics text writer too).
  if "$cc" "${arch[@]}" -ffunction-sections -fdata-sections -DGCACHE_NO_THREADS -DGCACHE_NO_STDIO \
    -I"$src" -c "$tmp/impl.c" -o "$tmp/full.o" 2>/dev/null; then
    echo "# with JSON and metrics text: $(text_rodata "$tmp/full.o") bytes of .text+.rodata"
  fi
else
  diag "$(head -30 "$tmp/impl.err")"
fi

# ---- 2. the firmware example as a Cortex-M4 object -------------------------------------------
"$cc" "${arch[@]}" "${warn[@]}" -ffunction-sections -fdata-sections "${local_only[@]}" -DFIRMWARE_NO_HOST_MAIN \
  -I"$src" -c "$src/examples/firmware.c" -o "$tmp/firmware.o" 2>"$tmp/fw.err"
st=$?
ok $st "examples/firmware.c compiles for Cortex-M4 warning-free"
[ $st -eq 0 ] || diag "$(head -30 "$tmp/fw.err")"

# ---- 3. linked into an ELF ---------------------------------------------------------------
if [ $st -eq 0 ]; then
  printf 'int firmware_main(void);\nint main(void) { return firmware_main(); }\n' >"$tmp/main.c"
  "$cc" "${arch[@]}" "${warn[@]}" -c "$tmp/main.c" -o "$tmp/main.o" &&
    "$cc" "${arch[@]}" --specs=nosys.specs -Wl,--gc-sections "$tmp/firmware.o" "$tmp/main.o" \
      -o "$tmp/firmware.elf" 2>"$tmp/link.err"
  st=$?
  ok $st "firmware links into an ELF (newlib-nano, nosys, --gc-sections)"
  if [ $st -eq 0 ]; then
    echo "# arm-none-eabi-size firmware.elf (gcache + the example + newlib-nano start-up):"
    diag "$("$size" "$tmp/firmware.elf")"
    gbytes=0
    while read -r _addr sz typ name; do
      case "$typ:$name" in [tTrR]:gcache_*) gbytes=$((gbytes + 16#$sz)) ;; esac
    done < <("$nm" -S "$tmp/firmware.elf")
    echo "# gcache functions and constants linked into the firmware: $gbytes bytes"
    if "$nm" "$tmp/firmware.elf" | grep -q -E ' T (_?malloc|_malloc_r)$'; then
      echo "# note: malloc is linked in (referenced by gcache's default allocator), though the example never calls it"
    else
      echo "# malloc is not linked in"
    fi
  else
    diag "$(head -30 "$tmp/link.err")"
  fi
fi

echo "1..$n"
[ "$failed" -eq 0 ]
