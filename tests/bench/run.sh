#!/bin/bash
# run.sh — the benchmark suite: pledged against the best that can be done on
# the same machine in the same run, as one table (measure | pledged |
# baseline | ratio | target), printed and written to BUILD/bench-table.md.
#
#   tests/bench/run.sh            full sizes (about 8 minutes on 2 cores)
#   tests/bench/run.sh --quick    tiny sizes: the CI smoke run (under a minute)
#   --build-dir DIR               use binaries already built in DIR instead of
#                                 building build-bench/ (release)
#   --only LIST                   run only these measures (comma-separated:
#                                 ingest,replay,rebuild,peer,http,memory,campaigns)
#
# Measures, each side several times alternately, medians reported:
#   ingest   a separate broker process (librdkafka mock cluster) preloaded
#            with the bench_events stream, lz4-compressed, every message
#            checked present; pledged serve from process start until every
#            message is applied, rejected or skipped as duplicate, against
#            kcat reading the same topic (with a consumer group like serve,
#            and without one).
#   replay   replay_bench: rebuild projections against a raw LMDB scan.
#   rebuild  serve with a 5M-entry log consuming 2M more at full speed (fed in
#            rounds of 500k as it goes), once
#            alone and once while `pledged replay` rebuilds its projections
#            online: ingest rate and the longest stall of the log, both ways.
#   peer     what a team would otherwise build: tests/bench/peer's Python
#            consumer keeping the same log and projections in PostgreSQL 15,
#            on the same topic, alternating with serve; their totals must
#            agree for every campaign. Rate (medians), CPU seconds, bytes
#            written, store size (the last run of each).
#            Skipped (a row says so) without PostgreSQL or its Python packages.
#   http     wrk against serve --read-only and against nginx serving the
#            same JSON bytes as static files.
#   memory   peak RssAnon of serve after 1M, 5M and 10M events, the bytes
#            it wrote per event, and its ingest rate in the last round of
#            1M against the second (not in --quick); then serve stopped and
#            started again, and its peak after 2M more events against the
#            first one's.
#   campaigns the same stream spread over 10,000 and 100,000 campaigns
#            instead of 1,000: bytes written per event and steady rate, for
#            the part of a batch's cost that grows with the campaigns it
#            touches (their published rows, the history's moves).
#
# Needs kcat, wrk, nginx (nginx-light) and curl; exits 77 (skipped) when one
# is missing, 1 when a measurement could not be taken (the log says why), 0
# otherwise: a target not met is a finding, not an error. Every server runs
# on 127.0.0.1 and every load loop is bounded in time.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
QUICK=0
BUILD=""
ONLY=ingest,replay,rebuild,peer,http,memory,campaigns
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) QUICK=1 ;;
	--build-dir) BUILD=$2; shift ;;
	--only)
		ONLY=$2
		shift
		for measure in ${ONLY//,/ }; do
			case "$measure" in
			ingest | replay | rebuild | peer | http | memory | campaigns) ;;
			*) echo "$0: --only: no measure '$measure' (ingest, replay, rebuild, peer, http, memory, campaigns)" >&2; exit 2 ;;
			esac
		done
		;;
	*) echo "usage: $0 [--quick] [--build-dir DIR] [--only ingest,replay,rebuild,peer,http,memory,campaigns]" >&2; exit 2 ;;
	esac
	shift
done

for tool in kcat wrk nginx curl; do
	if ! command -v "$tool" >/dev/null && ! [ -x "/usr/sbin/$tool" ]; then
		echo "run.sh: $tool is not installed (apt-get install kcat wrk nginx-light curl); skipping" >&2
		exit 77
	fi
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

if [ -z "$BUILD" ]; then
	BUILD=$ROOT/build-bench
	if [ ! -d "$BUILD" ]; then
		meson setup "$BUILD" "$ROOT" --buildtype=release >/dev/null || exit 1
	fi
	ninja -C "$BUILD" >/dev/null || { echo "run.sh: build failed" >&2; exit 1; }
fi
PLEDGED=$BUILD/pledged
BENCH=$BUILD/tests/bench

if [ "$QUICK" = 1 ]; then
	EVENTS=20000 PARTITIONS=4 RUNS=1 REPLAY_EVENTS=20000 WRK_SECONDS=2 MEM_ROUNDS=0
	REBUILD_BASE=2 REBUILD_LOAD=1 REBUILD_PER=20000
	WAIT_S=60
else
	EVENTS=1000000 PARTITIONS=16 RUNS=3 REPLAY_EVENTS=1000000 WRK_SECONDS=10 MEM_ROUNDS=10
	REBUILD_BASE=10 REBUILD_LOAD=4 REBUILD_PER=500000
	WAIT_S=300
fi
# serve runs with its default settings; BENCH_SERVE_ARGS adds flags, e.g.
# "--batch-max 100000 --batch-ms 250" to see what larger batches change.
SERVE_ARGS=(${BENCH_SERVE_ARGS:-})
WRK_ARGS=(-t2 -c64 "-d${WRK_SECONDS}s" --latency)

TMP=$(mktemp -d /tmp/pledged-bench.XXXXXX)
chmod 711 "$TMP" # nginx's workers run as another user and read www/ inside
PIDS=()
cleanup() {
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

TABLE=$TMP/table.md
printf '| measure | pledged | baseline | ratio | target |\n|---|---|---|---|---|\n' >"$TABLE"
FAILED=0

say() { echo "run.sh: $*" >&2; }
fail() { say "$*"; FAILED=1; }

# What runs beside serve while it is timed forks as little as it can. A
# wait that spawned curl, awk, date and sleep every 20 ms took a large
# share of the two cores from serve (docs/performance.md, "The bench's own
# cost"), which kcat and the peer, timed by their own clocks, never paid.
# So serve is waited for by bench_wait, one process that polls its
# metrics, and the loops here read bash's clock and sleep in `read -t` on
# a FIFO that nothing writes.
export LC_NUMERIC=C # $EPOCHREALTIME with a decimal point
now() { echo "$EPOCHREALTIME"; }
mkfifo "$TMP/nap"
exec {NAP_FD}<>"$TMP/nap"
nap() { read -r -t "$1" -u "$NAP_FD" _ || :; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }
# "met" or "NOT met" for value >= bound.
verdict() { awk -v v="$1" -v b="$2" 'BEGIN { print (v + 0 >= b + 0) ? "met" : "NOT met" }'; }
row() { echo "| $1 | $2 | $3 | $4 | $5 |" >>"$TABLE"; }

# Starts `pledged serve ARGS...` with its log in $1; sets SERVE_PID,
# SERVE_PORT and ADMIN_PORT (from the log lines "[admin ]HTTP on ... (port N)").
start_serve() {
	local log=$1
	shift
	"$PLEDGED" serve --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 "$@" >"$log" 2>&1 4>&- &
	SERVE_PID=$!
	PIDS+=("$SERVE_PID")
	SERVE_PORT=""
	ADMIN_PORT=""
	local line
	for _ in $(seq 1 200); do
		while IFS= read -r line; do
			if [[ $line =~ admin\ HTTP\ on\ .*\(port\ ([0-9]+)\) ]]; then
				ADMIN_PORT=${ADMIN_PORT:-${BASH_REMATCH[1]}}
			elif [[ $line =~ HTTP\ on\ .*\(port\ ([0-9]+)\) ]]; then
				SERVE_PORT=${SERVE_PORT:-${BASH_REMATCH[1]}}
			fi
		done <"$log"
		[ -n "$SERVE_PORT" ] && [ -n "$ADMIN_PORT" ] && return 0
		kill -0 "$SERVE_PID" 2>/dev/null || break
		nap 0.02
	done
	say "serve did not start; its log:"
	cat "$log" >&2
	return 1
}

stop_pid() {
	kill "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

# wait_bounded PID NAME: its exit status, or 1 after WAIT_S seconds, when
# the stacks of its threads and of serve's go to stderr and it is killed.
wait_bounded() {
	local t
	for t in $(seq $((WAIT_S * 10))); do
		kill -0 "$1" 2>/dev/null || { wait "$1"; return; }
		nap 0.1
	done
	echo "run.sh: $2 still running after ${WAIT_S} s; its stacks, then serve's:" >&2
	if command -v gdb >/dev/null; then
		for t in "$1" "$SERVE_PID"; do
			gdb -p "$t" -batch -ex "thread apply all bt" 2>/dev/null | grep -E '^(#|Thread)' | head -n 80 >&2
		done
	fi
	kill -9 "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 1
}

# Waits until serve on port $1 has handled $2 messages (applied, rejected
# or skipped as duplicates); prints the time (seconds since epoch) of the
# first poll that saw any and the count it saw, then the time of the poll
# that saw all. Polls every 20 ms, gives up after WAIT_S seconds.
wait_handled() {
	"$BENCH/bench_wait" --port "$1" --handled "$2" --timeout "$WAIT_S"
}

# Starts bench_broker with $1 partitions; sets BROKER_PID and BROKER.
start_broker() {
	# An earlier phase's broker wrote the same file: read before the new one
	# truncates it, its dead address would be taken for the new one's.
	rm -f "$TMP/broker.$1.addr"
	"$BENCH/bench_broker" --partitions "$1" --timeout 1800 >"$TMP/broker.$1.addr" 2>"$TMP/broker.log" &
	BROKER_PID=$!
	PIDS+=("$BROKER_PID")
	BROKER=""
	for _ in $(seq 1 100); do
		BROKER=$(head -n 1 "$TMP/broker.$1.addr" 2>/dev/null)
		[ -n "$BROKER" ] && return 0
		sleep 0.05
	done
	say "bench_broker did not start"
	cat "$TMP/broker.log" >&2
	return 1
}

# Peak RssAnon (kB) of $1, sampled every 50 ms into file $2 until it exits.
sample_rss() {
	local pid=$1 out=$2 peak=0 v key value
	while kill -0 "$pid" 2>/dev/null; do
		v=""
		while read -r key value _; do
			[ "$key" = RssAnon: ] && v=$value && break
		done 2>/dev/null <"/proc/$pid/status"
		if [ -n "$v" ] && [ "$v" -gt "$peak" ]; then
			peak=$v
			echo "$peak" >"$out"
		fi
		nap 0.05
	done
}

bench_ingest() {
	say "ingest: preloading $EVENTS events into $PARTITIONS partitions"
	start_broker "$PARTITIONS" || return 1
	"$BENCH/bench_produce" --brokers "$BROKER" --topic pledges --events "$EVENTS" \
		--compression lz4 >"$TMP/produce.out" || { fail "ingest: preload failed"; return 1; }
	local k kg p steady r t0 t1
	for r in $(seq 1 "$RUNS"); do
		t0=$(now)
		kcat -C -b "$BROKER" -t pledges -e -o beginning -q >/dev/null 2>"$TMP/kcat.err" ||
			{ fail "ingest: kcat failed: $(cat "$TMP/kcat.err")"; return 1; }
		t1=$(now)
		echo "$t0 $t1" | awk -v n="$EVENTS" '{ print n / ($2 - $1) }' >>"$TMP/kcat.rates"

		t0=$(now)
		kcat -C -b "$BROKER" -G "kcat-$r" -X auto.offset.reset=earliest -e -q pledges \
			>/dev/null 2>"$TMP/kcat.err" ||
			{ fail "ingest: kcat -G failed: $(cat "$TMP/kcat.err")"; return 1; }
		t1=$(now)
		echo "$t0 $t1" | awk -v n="$EVENTS" '{ print n / ($2 - $1) }' >>"$TMP/kcatg.rates"

		rm -rf "$TMP/ingest-data"
		t0=$(now)
		start_serve "$TMP/serve-ingest.log" --brokers "$BROKER" --topic pledges \
			--group "pledged-$r" --data "$TMP/ingest-data" "${SERVE_ARGS[@]}" || return 1
		if ! times=$(wait_handled "$ADMIN_PORT" "$EVENTS"); then
			fail "ingest: serve did not finish; see its log below"
			tail -n 20 "$TMP/serve-ingest.log" >&2
			stop_pid "$SERVE_PID"
			return 1
		fi
		stop_pid "$SERVE_PID"
		# from start; steady (after the first poll that saw any; 0 when that one saw all); join wait
		echo "$t0 $times" | awk -v n="$EVENTS" '{
			print n / ($4 - $1), ($3 < n ? (n - $3) / ($4 - $2) : 0), $2 - $1 }' >>"$TMP/serve.rates"
		say "ingest run $r: kcat $(tail -n 1 "$TMP/kcat.rates")/s, kcat -G $(tail -n 1 "$TMP/kcatg.rates")/s, serve (from start, steady, first after s) $(tail -n 1 "$TMP/serve.rates")"
	done
	rm -rf "$TMP/ingest-data"
	stop_pid "$BROKER_PID"
	k=$(median <"$TMP/kcat.rates")
	kg=$(median <"$TMP/kcatg.rates")
	p=$(awk '{ print $1 }' "$TMP/serve.rates" | median)
	steady=$(awk '{ print $2 }' "$TMP/serve.rates" | median)
	local first
	first=$(awk '{ print $3 }' "$TMP/serve.rates" | median)
	local ratio_g ratio ratio_s
	ratio_g=$(calc %.3f "$p / $kg")
	ratio=$(calc %.3f "$p / $k")
	ratio_s=$(calc %.3f "$steady / $k")
	row "ingest, events/s from process start ($EVENTS events, $PARTITIONS partitions, lz4, median of $RUNS)" \
		"$(calc %.0f "$p")" "$(calc %.0f "$kg") (kcat -G, same group join)" "$ratio_g" \
		"(diagnostic)"
	row "ingest, same against kcat without a group (no join wait)" \
		"$(calc %.0f "$p")" "$(calc %.0f "$k") (kcat -C -e)" "$ratio" "(diagnostic)"
	if [ "$(calc %.0f "$steady")" = 0 ]; then
		row "ingest, steady rate after the first batch" "n/a (one poll saw all)" \
			"$(calc %.0f "$k") (kcat -C -e)" "n/a" "(diagnostic)"
	else
		row "ingest, steady rate after the first batch (group join took $(calc %.1f "$first") s)" \
			"$(calc %.0f "$steady")" "$(calc %.0f "$k") (kcat -C -e)" "$ratio_s" \
			">= 0.5: $(verdict "$ratio_s" 0.5)"
	fi
}

bench_replay() {
	say "replay: $REPLAY_EVENTS events"
	local runs=$((RUNS < 3 ? RUNS : 5))
	local out
	out=$("$BENCH/replay_bench" --events "$REPLAY_EVENTS" --runs "$runs" 2>"$TMP/replay.err") ||
		{ fail "replay: replay_bench failed: $(cat "$TMP/replay.err")"; return 1; }
	cat "$TMP/replay.err" >&2
	# replay_bench prints one row: | measure | pledged | baseline | ratio | target |
	echo "$out" | awk -F' [|] ' '{ sub(/^[|] /, "", $1); sub(/ [|]$/, "", $5);
		met = ($4 + 0 >= 0.15) ? "met" : "NOT met";
		printf "| %s | %s | %s | %s | %s: %s |\n", $1, $2, $3, $4, $5, met }' >>"$TABLE"
}

# A port nothing listens on, near $1.
free_port() {
	local p
	for p in $(seq "$1" $(($1 + 200))); do
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# wrk against URL $1; appends "req/s p99_ms" to file $2.
run_wrk() {
	wrk "${WRK_ARGS[@]}" "$1" >"$TMP/wrk.out" 2>&1 || { cat "$TMP/wrk.out" >&2; return 1; }
	awk '
		function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
		/Requests\/sec:/ { rps = $2 }
		$1 == "99%" { p99 = ms($2) }
		/Non-2xx/ { bad = $NF }
		END { if (bad > 0) { print "wrk: " bad " non-2xx answers" > "/dev/stderr"; exit 1 } print rps, p99 }' \
		"$TMP/wrk.out" >>"$2"
}

bench_http() {
	say "http: demo campaign, wrk ${WRK_ARGS[*]}"
	local data=$TMP/http-data www=$TMP/www ngx=$TMP/nginx
	"$PLEDGED" import --data "$data" <"$ROOT/tests/demo/campaign.jsonl" >"$TMP/import.log" 2>&1 ||
		{ fail "http: import failed: $(tail -n 3 "$TMP/import.log")"; return 1; }
	local camp
	camp=$(sed -n '1s/.*"campaign":"\([^"]*\)".*/\1/p' "$ROOT/tests/demo/campaign.jsonl")
	# s-maxage lets the micro-cache below keep answers 2 s; direct requests ignore it.
	start_serve "$TMP/serve-http.log" --read-only --data "$data" --cache-s-maxage 2 \
		--cache-stale-s 10 || return 1
	local pledged_url="http://127.0.0.1:$SERVE_PORT"
	local paths=("/v1/campaigns/$camp" "/v1/campaigns/$camp/comments?limit=20")
	local names=("campaign" "comments")
	mkdir -p "$www" "$ngx"
	chmod 755 "$www"
	curl -sf "$pledged_url${paths[0]}" >"$www/campaign.json" &&
		curl -sf "$pledged_url${paths[1]}" >"$www/comments.json" ||
		{ fail "http: pledged did not answer the benchmark URLs"; stop_pid "$SERVE_PID"; return 1; }

	local nport cport
	# Below the ephemeral range (32768 up): a port a client connection holds
	# accepts nothing, so free_port would take it, but nginx cannot bind it.
	nport=$(free_port $((10000 + RANDOM % 20000))) || { fail "http: no free port"; return 1; }
	cport=$(free_port $((nport + 1))) || { fail "http: no free port"; return 1; }
	cat >"$ngx/nginx.conf" <<EOF
worker_processes 2;
daemon off;
pid $ngx/nginx.pid;
error_log $ngx/error.log warn;
events { worker_connections 4096; }
http {
	access_log off;
	sendfile on;
	tcp_nopush on;
	keepalive_requests 1000000;
	open_file_cache max=16;
	client_body_temp_path $ngx/body;
	proxy_temp_path $ngx/proxy;
	fastcgi_temp_path $ngx/fastcgi;
	uwsgi_temp_path $ngx/uwsgi;
	scgi_temp_path $ngx/scgi;
	default_type application/json;
	server {
		listen 127.0.0.1:$nport;
		root $www;
		location = /v1/campaigns/$camp { try_files /campaign.json =404; }
		location = /v1/campaigns/$camp/comments { try_files /comments.json =404; }
	}
	# A micro-cache in front of pledged, as docs/operations.md shows: it
	# keeps answers as long as their Cache-Control (s-maxage) says.
	proxy_cache_path $ngx/cache keys_zone=pledged:10m max_size=64m;
	upstream pledged { server 127.0.0.1:$SERVE_PORT; keepalive 32; }
	server {
		listen 127.0.0.1:$cport;
		location / {
			proxy_pass http://pledged;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_cache pledged;
			proxy_cache_lock on;
			proxy_cache_use_stale updating;
			proxy_cache_background_update on;
		}
	}
}
EOF
	"$NGINX" -c "$ngx/nginx.conf" -e "$ngx/error.log" >"$ngx/stdout" 2>&1 &
	local ngx_pid=$!
	PIDS+=("$ngx_pid")
	for _ in $(seq 1 100); do
		curl -sf "http://127.0.0.1:$nport${paths[0]}" >/dev/null && break
		sleep 0.05
	done
	if ! cmp -s <(curl -s "http://127.0.0.1:$nport${paths[1]}") "$www/comments.json"; then
		fail "http: nginx does not serve the same bytes: $(cat "$ngx/error.log" "$ngx/stdout")"
		stop_pid "$ngx_pid"
		stop_pid "$SERVE_PID"
		return 1
	fi

	local i r bytes
	for i in 0 1; do
		: >"$TMP/wrk.pledged.$i"
		: >"$TMP/wrk.nginx.$i"
		for r in $(seq 1 "$RUNS"); do
			run_wrk "$pledged_url${paths[$i]}" "$TMP/wrk.pledged.$i" &&
				run_wrk "http://127.0.0.1:$nport${paths[$i]}" "$TMP/wrk.nginx.$i" ||
				{ fail "http: wrk failed on ${names[$i]}"; break; }
		done
		local prps pp99 nrps np99 ratio
		prps=$(awk '{ print $1 }' "$TMP/wrk.pledged.$i" | median)
		pp99=$(awk '{ print $2 }' "$TMP/wrk.pledged.$i" | median)
		nrps=$(awk '{ print $1 }' "$TMP/wrk.nginx.$i" | median)
		np99=$(awk '{ print $2 }' "$TMP/wrk.nginx.$i" | median)
		ratio=$(calc %.3f "$prps / $nrps")
		bytes=$(wc -c <"$www/${names[$i]}.json")
		row "http GET ${paths[$i]} ($bytes bytes), req/s (p99 ms), wrk ${WRK_ARGS[*]}, median of $RUNS" \
			"$(calc %.0f "$prps") ($(calc %.2f "$pp99") ms)" \
			"$(calc %.0f "$nrps") ($(calc %.2f "$np99") ms) (nginx static)" "$ratio" \
			">= 1.0: $(verdict "$ratio" 1.0)"
	done
	bench_micro_cache "$pledged_url" "http://127.0.0.1:$cport" "${paths[0]}"
	stop_pid "$ngx_pid"
	stop_pid "$SERVE_PID"
}

# Requests the campaign route answered at the origin so far (admin metrics).
origin_requests() {
	curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" |
		awk '/^pledged_http_requests_total\{route="campaign"/ { n += $2 } END { print n + 0 }'
}

# The campaign through the nginx micro-cache against pledged direct: req/s,
# and how many of the requests reached pledged.
bench_micro_cache() {
	local direct=$1 cached=$2 path=$3 r before after
	: >"$TMP/wrk.direct"
	: >"$TMP/wrk.cached"
	curl -sf "$cached$path" >/dev/null || { fail "http: the micro-cache does not answer"; return 1; }
	before=$(origin_requests)
	for r in $(seq 1 "$RUNS"); do
		run_wrk "$cached$path" "$TMP/wrk.cached" || { fail "http: wrk failed on the micro-cache"; return 1; }
	done
	after=$(origin_requests)
	for r in $(seq 1 "$RUNS"); do
		run_wrk "$direct$path" "$TMP/wrk.direct" || { fail "http: wrk failed on pledged"; return 1; }
	done
	local crps drps served
	crps=$(awk '{ print $1 }' "$TMP/wrk.cached" | median)
	drps=$(awk '{ print $1 }' "$TMP/wrk.direct" | median)
	served=$(awk '{ s += $1 } END { printf "%.0f", s * '"$WRK_SECONDS"' }' "$TMP/wrk.cached")
	row "http GET $path through an nginx micro-cache (--cache-s-maxage 2), req/s" \
		"$(calc %.0f "$crps") via nginx ($((after - before)) of ~$served requests reached pledged)" \
		"$(calc %.0f "$drps") direct" "$(calc %.2f "$crps / $drps")" "measured, no target"
}

# Polls serve's log position every 20 ms until it reaches $2 (port $1);
# prints the rate over the window (entries/s) and the longest time the log
# stood still (s).
watch_log() {
	"$BENCH/bench_wait" --port "$1" --log "$2" --timeout "$WAIT_S"
}

# Feeds the producer on fd 4 $3 more rounds of REBUILD_PER events, each once
# serve (port $1) has handled all but one round of the $2 messages sent so
# far: the mock broker keeps only a few MiB per partition (about 1M bench
# events), so rounds sent at once would push unread messages out.
feed_rounds() {
	local port=$1 sent=$2 rounds=$3 r
	for r in $(seq 1 "$rounds"); do
		wait_handled "$port" $((sent - REBUILD_PER)) >/dev/null ||
			{ say "feed_rounds: serve stopped short of $((sent - REBUILD_PER)) of $sent"; return 1; }
		echo "$REBUILD_PER" >&4
		sent=$((sent + REBUILD_PER))
	done
}

bench_rebuild() {
	local per=$REBUILD_PER base=$((REBUILD_BASE * REBUILD_PER)) load=$((REBUILD_LOAD * REBUILD_PER))
	say "rebuild: serve builds a log of $base events, then consumes $load more twice"
	start_broker "$PARTITIONS" || return 1
	rm -rf "$TMP/rebuild-data" "$TMP/rebuild.fifo"
	mkfifo "$TMP/rebuild.fifo"
	"$BENCH/bench_produce" --brokers "$BROKER" --topic pledges --events "$per" --rounds \
		<"$TMP/rebuild.fifo" >"$TMP/rebuild-produce.out" 2>&1 &
	local prod_pid=$!
	PIDS+=("$prod_pid")
	exec 4>"$TMP/rebuild.fifo"
	start_serve "$TMP/serve-rebuild.log" --brokers "$BROKER" --topic pledges --group pledged-rebuild \
		--data "$TMP/rebuild-data" "${SERVE_ARGS[@]}" 4>&- || { exec 4>&-; return 1; }
	local stopped="exec 4>&-; stop_pid $SERVE_PID; stop_pid $BROKER_PID"
	if ! feed_rounds "$ADMIN_PORT" "$per" $((REBUILD_BASE - 1)) || ! wait_handled "$ADMIN_PORT" "$base" >/dev/null; then
		fail "rebuild: serve did not build the log: $(tail -n 3 "$TMP/rebuild-produce.out")"; eval "$stopped"; return 1
	fi
	local head alone during replay_s replay_start feeder
	# Alone: the next $load events, nothing else running.
	head=$(curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" | awk '$1 == "pledged_log_sequence" { print $2 }')
	feed_rounds "$ADMIN_PORT" "$base" "$REBUILD_LOAD" &
	feeder=$!
	alone=$(watch_log "$ADMIN_PORT" $((head + load * 98 / 100))) || { fail "rebuild: serve stalled"; eval "$stopped"; return 1; }
	wait_bounded "$feeder" "feeding the load" && wait_handled "$ADMIN_PORT" $((base + load)) >/dev/null ||
		{ fail "rebuild: serve did not take the load"; eval "$stopped"; return 1; }
	# During: as many again, with `pledged replay` started at the same moment.
	head=$(curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" | awk '$1 == "pledged_log_sequence" { print $2 }')
	feed_rounds "$ADMIN_PORT" $((base + load)) "$REBUILD_LOAD" &
	feeder=$!
	replay_start=$(now)
	"$PLEDGED" replay --data "$TMP/rebuild-data" >"$TMP/rebuild-replay.out" 2>"$TMP/rebuild-replay.err" 4>&- &
	local replay_pid=$!
	PIDS+=("$replay_pid")
	during=$(watch_log "$ADMIN_PORT" $((head + load * 98 / 100))) || { fail "rebuild: serve stalled during the rebuild"; eval "$stopped"; return 1; }
	wait_bounded "$feeder" "feeding the load" || { fail "rebuild: feeding the load failed"; eval "$stopped"; return 1; }
	wait_bounded "$replay_pid" "pledged replay" ||
		{ fail "rebuild: replay failed: $(tail -n 2 "$TMP/rebuild-replay.err")"; eval "$stopped"; return 1; }
	replay_s=$(calc %.1f "$(now) - $replay_start")
	echo 0 >&4
	exec 4>&-
	wait "$prod_pid" || { fail "rebuild: the producer failed: $(tail -n 3 "$TMP/rebuild-produce.out")"; return 1; }
	stop_pid "$SERVE_PID"
	stop_pid "$BROKER_PID"
	rm -rf "$TMP/rebuild-data"
	say "rebuild: alone $alone, during the rebuild $during (events/s, longest stall s); replay took $replay_s s"
	local swapped
	swapped=$(sed -n 's/.*swapped in at entry \([0-9]*\).*/\1/p' "$TMP/rebuild-replay.err" | tail -n 1)
	row "ingest while \`pledged replay\` rebuilds a ${swapped:-?}-entry log online (events/s; longest stall of the log)" \
		"$(calc %.0f "${during% *}"); $(calc %.2f "${during#* }") s" \
		"$(calc %.0f "${alone% *}"); $(calc %.2f "${alone#* }") s (same serve, no rebuild)" \
		"$(calc %.2f "${during% *} / ${alone% *}")" \
		"(diagnostic) rebuild took $replay_s s, $(calc %.0f "${swapped:-0} / $replay_s") entries/s"
}

bench_memory() {
	local rounds=$MEM_ROUNDS per=1000000
	if [ "$QUICK" = 1 ]; then
		rounds=1
		per=$EVENTS
	fi
	say "memory: serve fed $rounds x $per events"
	start_broker "$PARTITIONS" || return 1
	rm -rf "$TMP/mem-data"
	mkfifo "$TMP/produce.fifo"
	"$BENCH/bench_produce" --brokers "$BROKER" --topic pledges --events "$per" --rounds \
		<"$TMP/produce.fifo" >"$TMP/mem-produce.out" &
	local prod_pid=$!
	PIDS+=("$prod_pid")
	exec 4>"$TMP/produce.fifo"
	start_serve "$TMP/serve-mem.log" --brokers "$BROKER" --topic pledges --group pledged-mem \
		--data "$TMP/mem-data" "${SERVE_ARGS[@]}" || { exec 4>&-; return 1; }
	sample_rss "$SERVE_PID" "$TMP/rss.peak" 4>&- &
	PIDS+=("$!")
	local r first="" mid="" last="" ok=1 wrote_first="" wrote_last="" asked_first="" asked_last=""
	local times round_start rate_second="" rate_last=""
	for r in $(seq 1 "$rounds"); do
		[ "$r" -gt 1 ] && echo "$per" >&4
		round_start=$(now)
		if ! times=$(wait_handled "$ADMIN_PORT" $((r * per))); then
			fail "memory: serve did not handle round $r"
			tail -n 20 "$TMP/serve-mem.log" >&2
			ok=0
			break
		fi
		sleep 0.2 # one more sample after the last batch
		last=$(cat "$TMP/rss.peak")
		wrote_last=$(awk '/^write_bytes:/ { print $2 }' "/proc/$SERVE_PID/io")
		asked_last=$(awk '/^wchar:/ { print $2 }' "/proc/$SERVE_PID/io")
		[ "$r" = 1 ] && first=$last && wrote_first=$wrote_last && asked_first=$asked_last
		[ "$r" = $(((rounds + 1) / 2)) ] && mid=$last
		# The round's rate while the producer feeds it, from the line sent to
		# it to the round's last message: the later rounds run against a
		# bigger log and state index than a 1M-event bench sees. (The first
		# round was produced before serve started and waits for the group
		# join: the second is the one to compare with.)
		rate_last=$(echo "$round_start $times" | awk -v per="$per" '{ print per / ($4 - $1) }')
		[ "$r" = 2 ] && rate_second=$rate_last
		say "memory: after $((r * per)) events peak RssAnon $last kB, $asked_last bytes written by serve, $wrote_last by the kernel for it$([ "$r" -gt 1 ] && echo ", $(calc %.0f "$rate_last") events/s in this round")"
	done
	# Then a clean restart and more rounds: the serve that takes over must
	# stay as bounded (a writer opened anew once kept a copy of the rows it
	# staged that grew by a row an event, about 70 MiB a million).
	local restarted="" more=2 sent=$((rounds * per))
	[ "$QUICK" = 1 ] && more=1
	if [ "$ok" = 1 ]; then
		stop_pid "$SERVE_PID"
		start_serve "$TMP/serve-mem2.log" --brokers "$BROKER" --topic pledges --group pledged-mem \
			--data "$TMP/mem-data" "${SERVE_ARGS[@]}" || ok=0
	fi
	if [ "$ok" = 1 ]; then
		sample_rss "$SERVE_PID" "$TMP/rss2.peak" 4>&- &
		PIDS+=("$!")
		for r in $(seq 1 "$more"); do
			echo "$per" >&4
			if ! wait_handled "$ADMIN_PORT" $((r * per)) >/dev/null; then
				fail "memory: serve did not handle round $r after its restart"
				tail -n 20 "$TMP/serve-mem2.log" >&2
				ok=0
				break
			fi
		done
		sleep 0.2
		restarted=$(cat "$TMP/rss2.peak")
		say "memory: restarted after $sent events, then $((more * per)) more: peak RssAnon $restarted kB"
	fi
	echo 0 >&4 # tells the producer to stop
	exec 4>&-
	wait "$prod_pid"
	stop_pid "$SERVE_PID"
	stop_pid "$BROKER_PID"
	rm -rf "$TMP/mem-data"
	[ "$ok" = 1 ] || return 1
	# The tables fill up to their settings over the first few million events;
	# from then on the peak must stay flat: the second half against the first.
	local half=$((((rounds + 1) / 2) * per))
	local label="after $((rounds * per)) events vs after $half (after $per: $(calc %.1f "$first / 1024"))"
	[ "$QUICK" = 1 ] && label="after $per events, --quick: no 10M run"
	row "memory, peak RssAnon of serve, MiB ($label)" \
		"$(calc %.1f "$last / 1024")" "$(calc %.1f "$mid / 1024") (same serve after $half)" \
		"$(calc %.3f "$last / $mid")" "flat (<= 1.1): $(verdict "$(calc %.3f "1.1 - $last / $mid")" 0)"
	row "memory after a clean restart: peak RssAnon, MiB, of the serve that took over after $sent events, $((more * per)) events later" \
		"$(calc %.1f "$restarted / 1024")" "$(calc %.1f "$last / 1024") (the serve before, after $sent)" \
		"$(calc %.3f "$restarted / $last")" "flat (<= 1.1): $(verdict "$(calc %.3f "1.1 - $restarted / $last")" 0)"
	[ "$rounds" -gt 2 ] && row "ingest, events/s in the last of $rounds rounds of $per, while the producer feeds it" \
		"$(calc %.0f "$rate_last")" "$(calc %.0f "$rate_second") (the second round, same serve)" \
		"$(calc %.2f "$rate_last / $rate_second")" "(diagnostic)"
	# Bytes written per event, two ways, against the bytes of the events
	# themselves: what serve hands the kernel (/proc/PID/io wchar: its
	# pwrite/writev of LMDB pages, plus a few KB of sockets and logs), and
	# what the kernel then writes back for it (write_bytes: whole page-cache
	# folios, which on kernels with large folios can be several times more
	# for scattered 4 KiB page writes).
	local event_bytes n
	event_bytes=$(awk '/bytes of messages/ { print $1 / $NF; exit }' "$TMP/mem-produce.out")
	for n in first last; do
		local events=$per asked=$asked_first wrote=$wrote_first
		[ "$n" = last ] && events=$((rounds * per)) asked=$asked_last wrote=$wrote_last
		[ "$n" = last ] && [ "$rounds" = 1 ] && break
		row "bytes written per event over $events events: by serve (wchar) / by the kernel (write_bytes)" \
			"$(calc %.0f "$asked / $events") / $(calc %.0f "$wrote / $events")" \
			"$(calc %.0f "$event_bytes") (the event's own bytes)" \
			"$(calc %.2f "$asked / $events / $event_bytes")" \
			"serve <= 600 bytes: $(verdict "$(calc %.0f "600 - $asked / $events")" 0)"
	done
}

# CPU seconds (user + sys) of process $1 so far.
cpu_seconds() {
	awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f\n", ($12 + $13) / hz }' "/proc/$1/stat"
}

# One serve run of the peer measure (run $1): appends its steady rate to
# peer-serve.rates and sets cpu, wrote and store (of the last run);
# pledged's totals come from the first.
peer_serve_run() {
	local times
	rm -rf "$TMP/peer-data"
	start_serve "$TMP/serve-peer.log" --brokers "$BROKER" --topic pledges --group "pledged-peer-$1" \
		--data "$TMP/peer-data" "${SERVE_ARGS[@]}" || return 1
	if ! times=$(wait_handled "$ADMIN_PORT" "$EVENTS"); then
		fail "peer: serve did not finish"; stop_pid "$SERVE_PID"; return 1
	fi
	cpu=$(cpu_seconds "$SERVE_PID")
	wrote=$(awk '/^write_bytes:/ { print $2 }' "/proc/$SERVE_PID/io")
	stop_pid "$SERVE_PID"
	echo "$times" | awk -v n="$EVENTS" '{ print ($2 < n) ? (n - $2) / ($3 - $1) : 0 }' >>"$TMP/peer-serve.rates"
	store=$(du -sb "$TMP/peer-data" | awk '{ print $1 }')
	if [ "$1" = 1 ]; then
		"$PLEDGED" replay --data "$TMP/peer-data" --dry-run >"$TMP/peer-pledged.jsonl" 2>"$TMP/peer-replay.err" ||
			{ fail "peer: pledged replay --dry-run failed: $(cat "$TMP/peer-replay.err")"; return 1; }
	fi
	rm -rf "$TMP/peer-data"
}

# One run of the peer (a fresh PostgreSQL cluster and consumer group):
# appends its rate to peer.rates; 77 when it cannot run here.
peer_run() {
	# Bounded like every wait here: the consumer gives up (and says where it
	# stood) after WAIT_S, and the whole peer, PostgreSQL's start and stop
	# included, is killed a minute after that.
	PG_PEER_TIMEOUT=${PG_PEER_TIMEOUT:-$WAIT_S} timeout -k 5 $((WAIT_S + 60)) \
		"$ROOT/tests/bench/peer/peer_pg.sh" "$BROKER" pledges "$EVENTS" "$TMP/peer-out" >"$TMP/peer.out" 2>"$TMP/peer.err"
	local rc=$?
	[ "$rc" = 124 ] && echo "peer_pg.sh: killed after $((WAIT_S + 60)) s" >>"$TMP/peer.err"
	[ "$rc" = 77 ] && return 77
	[ "$rc" = 0 ] || { fail "peer: peer_pg.sh failed: $(tail -n 5 "$TMP/peer.err")"; return 1; }
	# An equivalent only if it reached the same figures for every campaign.
	cmp -s "$TMP/peer-pledged.jsonl" "$TMP/peer-out/totals.jsonl" ||
		{ fail "peer: the PostgreSQL consumer's totals differ from pledged's:" \
			"$(diff "$TMP/peer-pledged.jsonl" "$TMP/peer-out/totals.jsonl" | head -n 4)"; return 1; }
	awk '$1 == "events_per_s" { print $2 }' "$TMP/peer.out" >>"$TMP/peer.rates"
	say "peer run $1: pledged $(tail -n 1 "$TMP/peer-serve.rates")/s, $cpu CPU s, $wrote bytes; peer $(tr '\n' ' ' <"$TMP/peer.out")"
}

bench_peer() {
	say "peer: pledged and the Python + PostgreSQL consumer on the same $EVENTS events, alternately"
	start_broker "$PARTITIONS" || return 1
	"$BENCH/bench_produce" --brokers "$BROKER" --topic pledges --events "$EVENTS" \
		--compression lz4 >"$TMP/peer-produce.out" || { fail "peer: preload failed"; return 1; }
	local r rc cpu wrote store
	rm -f "$TMP/peer-serve.rates" "$TMP/peer.rates"
	for r in $(seq 1 "$RUNS"); do
		peer_serve_run "$r" || { stop_pid "$BROKER_PID"; return 1; }
		peer_run "$r"
		rc=$?
		[ "$rc" = 0 ] || break
	done
	stop_pid "$BROKER_PID"
	if [ "$rc" = 77 ]; then
		say "peer: skipped: $(tail -n 1 "$TMP/peer.err")"
		row "ingest against a Python + PostgreSQL consumer" "skipped" "$(tail -n 1 "$TMP/peer.err")" "n/a" "n/a"
		return 0
	fi
	[ "$rc" = 0 ] || return 1
	peer_value() { awk -v k="$1" '$1 == k { print $2 }' "$TMP/peer.out"; }
	local steady prate pcpu
	steady=$(median <"$TMP/peer-serve.rates")
	prate=$(median <"$TMP/peer.rates")
	pcpu=$(calc %.2f "$(peer_value cpu_s_python) + $(peer_value cpu_s_postgres)")
	row "ingest against a Python + PostgreSQL 15 consumer, events/s steady ($EVENTS events, same topic, same totals for every campaign; medians of $RUNS runs each, alternately)" \
		"$(calc %.0f "$steady")" "$(calc %.0f "$prate") (confluent-kafka + psycopg2, one transaction per batch)" \
		"$(calc %.1f "$steady / $prate")" ">= 20: $(verdict "$(calc %.3f "$steady / $prate")" 20)"
	row "CPU seconds per million events (peer: Python + PostgreSQL; the last run of each)" \
		"$(calc %.1f "$cpu * 1000000 / $EVENTS")" \
		"$(calc %.1f "$pcpu * 1000000 / $EVENTS") ($(peer_value cpu_s_python) + $(peer_value cpu_s_postgres))" \
		"$(calc %.1f "$pcpu / $cpu")" "(diagnostic)"
	row "bytes written per event by the kernel (write_bytes; peer after its CHECKPOINT), store size MiB; the last run of each" \
		"$(calc %.0f "$wrote / $EVENTS"), $(calc %.0f "$store / 1048576") MiB" \
		"$(calc %.0f "$(peer_value bytes_written) / $EVENTS"), $(calc %.0f "$(peer_value store_bytes) / 1048576") MiB" \
		"$(calc %.2f "$wrote / $(peer_value bytes_written)")" "(diagnostic)"
}

# Serve on $EVENTS events spread over $1 campaigns: bytes written per event
# (wchar / write_bytes, as in the memory measure) and the steady rate.
bench_campaigns_of() {
	local campaigns=$1 times steady asked wrote event_bytes
	start_broker "$PARTITIONS" || return 1
	"$BENCH/bench_produce" --brokers "$BROKER" --topic pledges --events "$EVENTS" \
		--campaigns "$campaigns" >"$TMP/camp-produce.out" ||
		{ fail "campaigns: preload of $campaigns campaigns failed"; stop_pid "$BROKER_PID"; return 1; }
	rm -rf "$TMP/camp-data"
	start_serve "$TMP/serve-camp.log" --brokers "$BROKER" --topic pledges --group pledged-camp \
		--data "$TMP/camp-data" "${SERVE_ARGS[@]}" || { stop_pid "$BROKER_PID"; return 1; }
	if ! times=$(wait_handled "$ADMIN_PORT" "$EVENTS"); then
		fail "campaigns: serve did not finish $campaigns campaigns"
		stop_pid "$SERVE_PID"; stop_pid "$BROKER_PID"; return 1
	fi
	asked=$(awk '/^wchar:/ { print $2 }' "/proc/$SERVE_PID/io")
	wrote=$(awk '/^write_bytes:/ { print $2 }' "/proc/$SERVE_PID/io")
	stop_pid "$SERVE_PID"
	stop_pid "$BROKER_PID"
	rm -rf "$TMP/camp-data"
	steady=$(echo "$times" | awk -v n="$EVENTS" '{ print ($2 < n) ? (n - $2) / ($3 - $1) : 0 }')
	event_bytes=$(awk '/bytes of messages/ { print $1 / $NF; exit }' "$TMP/camp-produce.out")
	say "campaigns: $campaigns: $asked bytes written by serve, $wrote by the kernel, $steady events/s steady"
	row "bytes written per event with $campaigns campaigns ($EVENTS events): by serve (wchar) / by the kernel (write_bytes); steady events/s" \
		"$(calc %.0f "$asked / $EVENTS") / $(calc %.0f "$wrote / $EVENTS"); $(calc %.0f "$steady")/s" \
		"$(calc %.0f "$event_bytes") (the event's own bytes)" \
		"$(calc %.2f "$asked / $EVENTS / $event_bytes")" \
		"(diagnostic) serve <= 600 bytes: $(verdict "$(calc %.0f "600 - $asked / $EVENTS")" 0)"
}

bench_campaigns() {
	local c
	for c in 10000 100000; do
		say "campaigns: $EVENTS events over $c campaigns"
		bench_campaigns_of "$c" || return 1
	done
}

START=$(now)
for measure in ingest replay rebuild peer http memory campaigns; do
	case ",$ONLY," in
	*",$measure,"*) "bench_$measure" || FAILED=1 ;;
	esac
done

{
	echo
	echo "pledged $(git -C "$ROOT" describe --always --dirty 2>/dev/null), $(nproc) cores," \
		"serve ${SERVE_ARGS[*]:-with its default settings}, took $(calc %.0f "$(now) - $START") s$([ "$QUICK" = 1 ] && echo ", --quick")"
} >>"$TABLE"
cp "$TABLE" "$BUILD/bench-table.md"
cat "$TABLE"
exit "$FAILED"
