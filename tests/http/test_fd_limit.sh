#!/bin/bash
# test_fd_limit.sh — serve under a low limit of open files. Each connection
# holds a descriptor: past the limit accept() fails, and libevent alone
# retries at once for ever, logging each failure (a busy loop writing
# megabytes of log a second, the public and operators' ports unanswered).
#  1. Under `ulimit -n 1024` (both limits, so serve cannot raise its own)
#     serve caps the public listener below the limit and says so.
#  2. Under `ulimit -n 64`, idle connections to the operators' listener
#     (64 at most) exhaust the descriptors: serve pauses accepting, logs
#     it once per worker, and answers again once they are gone.
#  3. Under `ulimit -n 30`, too few to serve at all: it says so and exits.
# Usage: test_fd_limit.sh PLEDGED DEMO_JSONL
set -u
PLEDGED=$1 DEMO=$2
work=$(mktemp -d)
serve= holder=
trap '[ -n "$serve" ] && kill "$serve" 2>/dev/null; [ -n "$holder" ] && kill "$holder" 2>/dev/null; rm -rf "$work"' EXIT
. "$(dirname "$0")/../unit/testlib.sh"
command -v curl >/dev/null || { echo "test_fd_limit: curl missing: skipped"; exit 77; }
command -v python3 >/dev/null || { echo "test_fd_limit: python3 missing: skipped"; exit 77; }

"$PLEDGED" import --data "$work/d" <"$DEMO" >/dev/null 2>&1 || { echo "import failed" >&2; exit 1; }

start() { # start LIMIT: serve --read-only under that limit of open files
	(ulimit -n "$1" && exec "$PLEDGED" serve --read-only --data "$work/d" --listen 127.0.0.1:0 \
		--admin-listen 127.0.0.1:0 2>"$work/log") &
	serve=$!
	admin_port "$work/log"
	aport=$port
	serve_port "$work/log"
	[ -n "$port" ] && ok || fail "serve under a limit of $1 files did not listen: $(cat "$work/log")"
}
stop() { kill "$serve" && wait "$serve" 2>/dev/null; serve=; }

# 1. The cap follows the limit.
start 1024
contains "$work/log" "allows 832 public connections, not 4096" "serve says what the limit allows"
contains "$work/log" "public listener on 127.0.0.1:0 (port $port), " "the public listener starts"
grep -q "public listener .* at most 832 connections" "$work/log" && ok ||
	fail "the public listener is not capped below the limit: $(grep listener "$work/log")"
stop

# 2. Out of descriptors: paused, said once per worker, then answering again.
start 64
python3 -c "
import socket, sys, time
held = []
for _ in range(60):
    s = socket.create_connection(('127.0.0.1', $aport), timeout=5)
    s.send(b'G')
    held.append(s)
time.sleep(3)
" &
holder=$!
wait "$holder"
holder=
accepts=$(grep -c "accept" "$work/log")
[ "$accepts" -ge 1 ] && [ "$accepts" -le 4 ] && ok ||
	fail "accept failures logged $accepts times (want a line or two): $(grep -m3 accept "$work/log")"
contains "$work/log" "not accepting for 250 ms at a time" "the log says serve pauses accepting"
code=$(curl -s -m 20 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v1/totals")
[ "$code" = 200 ] && ok || fail "serve does not answer once the connections are gone: $code"
stop

# 3. Too few to serve: said, and exit.
(ulimit -n 30 && exec "$PLEDGED" serve --read-only --data "$work/d" --listen 127.0.0.1:0 \
	--admin-listen 127.0.0.1:0 2>"$work/log")
[ $? = 1 ] && ok || fail "serve under a limit of 30 files did not exit 1"
contains "$work/log" "the file limit (30 descriptors) is too low to serve; raise it to 64 at least" \
	"serve says the limit is too low"
finish
