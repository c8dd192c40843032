#!/usr/bin/env bash
# tests/test_examples.sh SOURCE_ROOT BUILD_ROOT -- run the examples the way a user would.
#
# quickstart (C and C++ builds), custom_backend, firmware (host build), game_server
# (a config file change, a refused config and the SIGUSR1 kill switch while it runs),
# metrics_http (scraped over a socket, body checked by promtool when present) and
# gcache-inspect against a redis-server this script starts on a free loopback port.
# TAP output; exit status 0 when every check passed. Parts whose program was not
# built, or whose tool is missing, are skipped (with GCACHE_REQUIRE_REDIS=1 a
# missing redis-server or gcache-inspect is a failure instead).
set -u
src=${1:-${GCACHE_SOURCE_ROOT:-.}}
build=${2:-${GCACHE_BUILD_ROOT:-build}}
ex="$build/examples"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gcache_examples.XXXXXX")
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT

n=0
failed=0
ok() { # ok STATUS DESCRIPTION
  n=$((n + 1))
  if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi
}
check() { # check DESCRIPTION COMMAND...
  local d=$1
  shift
  if "$@"; then ok 0 "$d"; else ok 1 "$d"; fi
}
skip() { n=$((n + 1)); echo "ok $n # SKIP $1"; }
diag() { sed 's/^/# /' <<<"$1"; }
has() { grep -q -- "$2" "$1"; } # has FILE PATTERN
exe() { # the path of a built example, or empty
  local name
  for name in "$@"; do
    [ -x "$ex/$name" ] && { echo "$ex/$name"; return; }
  done
}
require_redis_or_skip() {
  if [ "${GCACHE_REQUIRE_REDIS:-0}" = "1" ]; then ok 1 "$1 (GCACHE_REQUIRE_REDIS=1 forbids skipping)"; else skip "$1"; fi
}
# wait_for FILE PATTERN SECONDS
wait_for() {
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    grep -q -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# ---- quickstart ----------------------------------------------------------------------
for name in quickstart quickstart_cpp; do
  q=$(exe "$name")
  if [ -z "$q" ]; then skip "$name not built"; continue; fi
  timeout 60 "$q" >"$tmp/$name.out" 2>&1
  ok $? "$name exits 0"
  check "$name: off by default (nothing cached)" has "$tmp/$name.out" "caching is off here"
  check "$name: a miss loads from the database" has "$tmp/$name.out" "cache miss, loaded from the database"
  check "$name: then a hit" has "$tmp/$name.out" "cache hit in the local cache"
  check "$name: ramped down by a runtime config change" has "$tmp/$name.out" "use case is ramped down"
  check "$name: a broken config is refused" has "$tmp/$name.out" "refused ("
  [ "$name" = quickstart ] || continue
  # The README's exact command, from the source root, with no -I.
  if command -v cc >/dev/null; then
    (cd "$src" && cc -O2 -pthread examples/quickstart.c -o "$tmp/qs_readme") >"$tmp/qs_cc.out" 2>&1
    ok $? "the README command 'cc -O2 -pthread examples/quickstart.c -o quickstart' builds"
    [ -s "$tmp/qs_cc.out" ] && diag "$(cat "$tmp/qs_cc.out")"
  fi
done

# ---- custom_backend ----------------------------------------------------------------------
c=$(exe custom_backend)
if [ -n "$c" ]; then
  timeout 60 "$c" >"$tmp/custom.out" 2>&1
  st=$?
  ok $st "custom_backend exits 0"
  [ $st -eq 0 ] || diag "$(tail -20 "$tmp/custom.out")"
else
  skip "custom_backend not built"
fi

# ---- firmware (host build) ------------------------------------------------------------
f=$(exe firmware)
if [ -n "$f" ]; then
  timeout 60 "$f" >"$tmp/fw.out" 2>&1
  st=$?
  ok $st "firmware exits 0"
  check "firmware: all checks passed" has "$tmp/fw.out" "firmware example OK"
  check "firmware: no malloc, all memory from the static pool" has "$tmp/fw.out" "malloc calls: 0"
  check "firmware: reads served from RAM and from the flash backend" grep -q "from flash cache" "$tmp/fw.out"
  [ $st -eq 0 ] || diag "$(tail -20 "$tmp/fw.out")"
else
  skip "firmware not built"
fi

# ---- game_server ------------------------------------------------------------------------
g=$(exe game_server)
if [ -n "$g" ]; then
  cfg="$tmp/game.json"
  printf '{"GetPlayerProfile": {"ttl_sec": {"local": 2, "remote": 60}, "ramp": {"local": 100, "remote": 100}}}\n' >"$cfg"
  "$g" --seconds 6 --threads 2 --players 20000 --config "$cfg" >"$tmp/game.out" 2>&1 &
  gpid=$!
  pids+=("$gpid")
  sleep 1.6
  # Ramp the local layer down to 0 while it runs.
  printf '{"GetPlayerProfile": {"ttl_sec": {"local": 2, "remote": 60}, "ramp": {"local": 0, "remote": 100}}}\n' >"$cfg.new"
  mv "$cfg.new" "$cfg"
  sleep 1.5
  printf '{"GetPlayerProfile": {"ramp": {"local": 250}}}\n' >"$cfg.new" # out of range: refused
  mv "$cfg.new" "$cfg"
  sleep 0.3
  kill -USR1 "$gpid" 2>/dev/null
  wait "$gpid"
  st=$?
  ok $st "game_server exits 0"
  check "game_server: prints a stats line every second" grep -q "requests/s=.*hit_ratio LOCAL=.* REMOTE=.*fetches/s=" "$tmp/game.out"
  check "game_server: shows the config reload" grep -q "config reloaded from" "$tmp/game.out"
  check "game_server: a broken config is refused with its status" grep -q "config reload REFUSED (.*status -9)" "$tmp/game.out"
  check "game_server: SIGUSR1 turns the kill switch on" grep -q "kill switch ON" "$tmp/game.out"
  distinct=$(grep -o "hit_ratio LOCAL=[^ ]*" "$tmp/game.out" | sort -u | wc -l)
  check "game_server: the local hit ratio changes over the run ($distinct distinct values)" test "$distinct" -ge 2
  check "game_server: after the ramp-down the local layer serves nothing" grep -q "hit_ratio LOCAL=- " "$tmp/game.out"
  check "game_server: before it, local hits" grep -q "hit_ratio LOCAL=[0-9]" "$tmp/game.out"
  diag "$(cat "$tmp/game.out")"
else
  skip "game_server not built"
fi

# ---- metrics_http ------------------------------------------------------------------------
promtool=${GCACHE_PROMTOOL:-$(command -v promtool || true)}
http_get() { # http_get PORT PATH OUTFILE
  if command -v curl >/dev/null; then
    curl -s -i --max-time 5 "http://127.0.0.1:$1$2" >"$3"
  else
    (
      exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
      printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3
      timeout 5 cat <&3 >"$3"
    )
  fi
}
body_of() { tr -d '\r' <"$1" | sed '1,/^$/d'; } # strip the status line and headers
m=$(exe metrics_http)
if [ -n "$m" ]; then
  "$m" 0 30 3 >"$tmp/mh.out" 2>&1 &
  mpid=$!
  pids+=("$mpid")
  if wait_for "$tmp/mh.out" "listening on" 10; then
    port=$(sed -n 's|.*127\.0\.0\.1:\([0-9]*\)/metrics.*|\1|p' "$tmp/mh.out" | head -1)
    ok 0 "metrics_http listens on a free port ($port)"
    sleep 0.5
    http_get "$port" /metrics "$tmp/scrape1.txt"
    check "GET /metrics answers 200" grep -q "^HTTP/1.[01] 200" "$tmp/scrape1.txt"
    body_of "$tmp/scrape1.txt" >"$tmp/body1.txt"
    check "the body has the reference families" grep -q "^# TYPE gcache_request_counter_total counter" "$tmp/body1.txt"
    check "the body counts requests of the background traffic" grep -q '^gcache_request_counter_total{.*use_case="GetUser"' "$tmp/body1.txt"
    http_get "$port" /nope "$tmp/scrape404.txt"
    check "other paths answer 404" grep -q "^HTTP/1.[01] 404" "$tmp/scrape404.txt"
    if [ -n "$promtool" ]; then
      out=$("$promtool" check metrics <"$tmp/body1.txt" 2>&1)
      st=$?
      check "promtool parses the scraped body (status $st)" test "$st" -eq 0 -o "$st" -eq 3
      bad=$(grep -v "should not include type" <<<"$out" | grep -c .)
      check "promtool: only 'type in metric name' findings" test "$bad" -eq 0
      [ "$bad" -eq 0 ] || diag "$out"
    else
      skip "promtool not installed"
    fi
    http_get "$port" /metrics "$tmp/scrape2.txt"
    check "a second scrape answers 200" grep -q "^HTTP/1.[01] 200" "$tmp/scrape2.txt"
    timeout 10 tail --pid="$mpid" -f /dev/null
    wait "$mpid"
    ok $? "metrics_http exits 0 after its request limit"
  else
    ok 1 "metrics_http prints its port"
    diag "$(cat "$tmp/mh.out")"
  fi
  if [ -n "$promtool" ]; then
    "$m" --prometheus-names 0 20 1 >"$tmp/mh2.out" 2>&1 &
    mpid=$!
    pids+=("$mpid")
    if wait_for "$tmp/mh2.out" "listening on" 10; then
      port=$(sed -n 's|.*127\.0\.0\.1:\([0-9]*\)/metrics.*|\1|p' "$tmp/mh2.out" | head -1)
      sleep 0.3
      http_get "$port" /metrics "$tmp/scrape3.txt"
      body_of "$tmp/scrape3.txt" >"$tmp/body3.txt"
      check "--prometheus-names: lint-clean families" grep -q "^# TYPE gcache_requests_total counter" "$tmp/body3.txt"
      out=$("$promtool" check metrics <"$tmp/body3.txt" 2>&1)
      st=$?
      check "--prometheus-names: promtool check metrics passes with no finding" test "$st" -eq 0 -a -z "$out"
      [ -z "$out" ] || diag "$out"
      wait "$mpid"
    else
      ok 1 "metrics_http --prometheus-names prints its port"
    fi
  fi
else
  skip "metrics_http not built"
fi

# ---- gcache-inspect against a real redis-server ---------------------------------------------
inspect=$(exe gcache-inspect gcache_inspect)
redis_server=${GCACHE_REDIS_SERVER:-$(command -v redis-server || true)}
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
resp() { # resp PORT ARG... : send one command (ASCII args), print the first reply line
  local p=$1 a
  shift
  (
    exec 3<>"/dev/tcp/127.0.0.1/$p" || exit 1
    {
      printf '*%d\r\n' $#
      for a in "$@"; do printf '$%d\r\n%s\r\n' ${#a} "$a"; done
    } >&3
    IFS= read -r -t 2 line <&3 && printf '%s\n' "${line%$'\r'}"
    if [[ $line == \$* && $line != '$-1'* ]]; then IFS= read -r -t 2 line <&3 && printf '%s\n' "${line%$'\r'}"; fi
  )
}
if [ -z "$inspect" ]; then
  require_redis_or_skip "gcache-inspect not built (needs hiredis and gcache_redis.h)"
elif [ -z "$redis_server" ]; then
  require_redis_or_skip "redis-server not installed"
else
  # Commands that need no server.
  out=$("$inspect" key GetUser user_id 327 --tracked page=2)
  check "inspect key: tracked key with an arg" test "$out" = "{urn:user_id:327}?page=2#GetUser"
  out=$("$inspect" key GetUser user_id 1)
  check "inspect key: plain key" test "$out" = "urn:user_id:1#GetUser"
  out=$("$inspect" --prefix app key GetUser user_id 'a?b' b=2 a=1)
  check "inspect key: prefix, escaping and sorted args" test "$out" = "app:user_id:a%3Fb?a=1&b=2#GetUser"
  "$inspect" key 'Get User' user_id 1 >/dev/null 2>"$tmp/err"
  check "inspect key: a bad use-case name exits 64" test $? -eq 64
  "$inspect" frobnicate >/dev/null 2>&1
  check "inspect: an unknown command exits 64" test $? -eq 64
  "$inspect" --port notaport show x >/dev/null 2>&1
  check "inspect: a bad port exits 64" test $? -eq 64
  "$inspect" --help >"$tmp/help.txt"
  st=$?
  check "inspect --help exits 0 and explains every command" test $st -eq 0 -a "$(grep -c -E '^  (key|show|invalidate|flush) ' "$tmp/help.txt")" -eq 4

  # A port nobody listens on.
  for ((i = 0; i < 50; i++)); do dead=$((20000 + RANDOM % 40000)); port_free "$dead" && break; done
  "$inspect" --port "$dead" show 'urn:x:1#X' >/dev/null 2>"$tmp/err"
  st=$?
  check "inspect: an unreachable server exits 2" test $st -eq 2
  check "inspect: ... and says so" grep -q "cannot reach Redis" "$tmp/err"

  # Start a throw-away redis-server on a free loopback port.
  for ((i = 0; i < 50; i++)); do rport=$((20000 + RANDOM % 40000)); port_free "$rport" && break; done
  mkdir -p "$tmp/redis"
  "$redis_server" --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp/redis" \
    --daemonize no >"$tmp/redis.log" 2>&1 &
  rpid=$!
  pids+=("$rpid")
  up=1
  for ((i = 0; i < 50; i++)); do
    [ "$(resp "$rport" PING 2>/dev/null)" = "+PONG" ] && { up=0; break; }
    sleep 0.1
  done
  ok $up "redis-server started on 127.0.0.1:$rport"

  # Fill it with the library itself (a small client compiled here), plus broken entries.
  cat >"$tmp/populate.c" <<'EOF'
#define GCACHE_IMPLEMENTATION
#include "gcache.h"
#define GCACHE_REDIS_IMPLEMENTATION
#include "gcache_redis.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static int fetch(void *u, const gcache_key *k, gcache_buf *out) {
    (void)k;
    if (!u) return GCACHE_NOT_FOUND;
    return gcache_buf_set(out, (const char *)u, strlen((const char *)u));
}
static void raw_set(gcache_remote *r, const char *key, const void *val, size_t len) {
    gcache_slice k, v;
    k.ptr = key; k.len = strlen(key);
    v.ptr = (const char *)val; v.len = len;
    if (r->set(r->ctx, k, v, 300) != 0) { fprintf(stderr, "set %s failed\n", key); exit(1); }
}
int main(int argc, char **argv) {
    gcache_redis_desc rd; gcache_desc d; gcache_use_case_desc u; gcache_use_case *uc; gcache *gc;
    gcache_remote remote; gcache_key k; gcache_buf out; unsigned char env[64]; size_t n;
    memset(&rd, 0, sizeof rd); rd.port = atoi(argv[1]); rd.command_timeout_ms = 2000;
    memset(&d, 0, sizeof d);
    if (gcache_redis_create(&rd, &remote) != 0) return 1;
    d.remote = remote;
    if (gcache_create(&d, &gc) != 0) return 1;
    memset(&u, 0, sizeof u); u.name = "GetUser"; u.key_type = "user_id"; u.track_for_invalidation = 1;
    u.default_config.ttl_sec[GCACHE_REMOTE] = 300; u.default_config.ramp[GCACHE_REMOTE] = 100;
    u.default_config.negative_ttl_sec = 300;
    if (gcache_register(gc, &u, &uc) != 0) return 1;
    memset(&out, 0, sizeof out);
    gcache_enable(1);
    gcache_key_init_int(&k, uc, 327);
    if (gcache_get(gc, &k, fetch, (void *)"hello inspect: a cached profile", &out) != 0) return 2;
    gcache_key_init_int(&k, uc, 404);
    if (gcache_get(gc, &k, fetch, NULL, &out) != GCACHE_NOT_FOUND) return 3;
    gcache_key_init_int(&k, uc, 77);
    if (gcache_get(gc, &k, fetch, (void *)"seventy-seven", &out) != 0) return 4;
    raw_set(&remote, "{urn:user_id:77}#watermark", "not-a-number", 12);
    n = gcache_envelope_write(env, sizeof env, 1767225600000LL, 0, "payload!", 8);
    env[n - 1] ^= 0x20; /* flip a payload bit: the CRC no longer matches */
    raw_set(&remote, "{urn:user_id:9}#GetUser", env, n);
    raw_set(&remote, "urn:thing:1#Other", "garbage", 7);
    gcache_buf_free(&out);
    gcache_destroy(gc);
    return 0;
}
EOF
  cc=${CC:-cc}
  hflags=$(pkg-config --cflags --libs hiredis 2>/dev/null || echo "-lhiredis")
  # shellcheck disable=SC2086
  "$cc" -std=c99 -O1 -I"$src" "$tmp/populate.c" -o "$tmp/populate" $hflags -pthread >"$tmp/cc.out" 2>&1
  st=$?
  ok $st "compile a small gcache client that fills the server"
  [ $st -eq 0 ] || diag "$(head -20 "$tmp/cc.out")"
  "$tmp/populate" "$rport" >"$tmp/populate.out" 2>&1
  st=$?
  ok $st "the client wrote entries through gcache (status $st)"
  resp "$rport" SET other:key keepme >/dev/null

  I=("$inspect" --port "$rport")
  "${I[@]}" show '{urn:user_id:327}#GetUser' >"$tmp/show1.txt" 2>&1
  st=$?
  check "show: a fresh entry exits 0" test $st -eq 0
  check "show: created-at as ISO time" grep -q "^created at:  20[0-9][0-9]-[01][0-9]-[0-3][0-9]T..:..:..\.[0-9]*Z ([0-9]* ms)" "$tmp/show1.txt"
  check "show: age" grep -q "^age: " "$tmp/show1.txt"
  check "show: checksum ok" grep -q "^checksum:    ok" "$tmp/show1.txt"
  check "show: payload size" grep -q "^payload:     31 bytes" "$tmp/show1.txt"
  check "show: a hex/ASCII preview" grep -q "|hello inspect: a|" "$tmp/show1.txt"
  check "show: no watermark yet, fresh" grep -q "^verdict:     fresh" "$tmp/show1.txt"
  [ $st -eq 0 ] || diag "$(cat "$tmp/show1.txt")"

  "${I[@]}" invalidate user_id 327 >"$tmp/inv.txt" 2>&1
  st=$?
  check "invalidate exits 0" test $st -eq 0
  check "invalidate prints the watermark it wrote" grep -q "{urn:user_id:327}#watermark = [0-9]" "$tmp/inv.txt"
  "${I[@]}" show '{urn:user_id:327}#GetUser' >"$tmp/show2.txt" 2>&1
  check "show after invalidate: the entry is stale" grep -q "^verdict:     STALE" "$tmp/show2.txt"
  check "show after invalidate: the watermark is shown" grep -q "^watermark:   {urn:user_id:327}#watermark = " "$tmp/show2.txt"
  "${I[@]}" invalidate user_id 'x{1}' --future-buffer-ms 60000 >"$tmp/inv2.txt" 2>&1
  check "invalidate escapes the id and takes --future-buffer-ms" grep -q "{urn:user_id:x%7B1%7D}#watermark" "$tmp/inv2.txt"

  "${I[@]}" show '{urn:user_id:404}#GetUser' >"$tmp/show3.txt" 2>&1
  check "show: a negative entry is flagged" grep -q "negative entry" "$tmp/show3.txt"
  "${I[@]}" show '{urn:user_id:9}#GetUser' >"$tmp/show4.txt" 2>&1
  st=$?
  check "show: a bad checksum exits 3" test $st -eq 3
  check "show: ... and says BAD" grep -q "^checksum:    BAD" "$tmp/show4.txt"
  "${I[@]}" show 'urn:thing:1#Other' >"$tmp/show5.txt" 2>&1
  st=$?
  check "show: a value that is no envelope exits 3" test $st -eq 3
  "${I[@]}" show '{urn:user_id:77}#GetUser' >"$tmp/show6.txt" 2>&1
  st=$?
  check "show: a malformed watermark exits 3" test $st -eq 3 -a -n "$(grep MALFORMED "$tmp/show6.txt")"
  "${I[@]}" show 'urn:user_id:12345#Nope' >"$tmp/show7.txt" 2>&1
  check "show: a missing entry exits 1" test $? -eq 1

  "${I[@]}" flush >/dev/null 2>&1
  check "flush without --prefix exits 64" test $? -eq 64
  "${I[@]}" flush --prefix urn >"$tmp/flush.txt" 2>&1
  check "flush --prefix urn exits 0" test $? -eq 0
  "${I[@]}" show '{urn:user_id:404}#GetUser' >/dev/null 2>&1
  check "flush removed the entries" test $? -eq 1
  check "flush removed the watermarks" test "$(resp "$rport" EXISTS '{urn:user_id:327}#watermark')" = ":0"
  check "flush left keys outside the prefix alone" test "$(resp "$rport" GET other:key | tail -1)" = "keepme"
  kill "$rpid" 2>/dev/null
  wait "$rpid" 2>/dev/null
fi

echo "1..$n"
[ "$failed" -eq 0 ] || echo "# $failed of $n checks failed"
[ "$failed" -eq 0 ]
