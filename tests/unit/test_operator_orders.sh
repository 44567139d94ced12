#!/bin/bash
# test_operator_orders.sh — the operators' commands in seeded random orders,
# some killed (-9, or stopped by SIGINT) at a random moment, some two at a
# time, a read-only serve coming and going: no order may crash a command,
# end one with an exit status its --help does not list, or leave the log
# and its projections irreconcilable.
#
# The events (the demo campaign, then generated campaigns with refunds,
# comments, removals, erasures and events that must be rejected) are fed in
# chunks, in order; a chunk whose feeding was cut short is fed again before
# the next. Backups are taken, and sometimes restored (the data dir
# replaced by one); what came after it then follows again. At the end
# every chunk is fed once more (nothing may be new but what a restore
# dropped), and the data dir must pass `verify` and hold the same log,
# rejections and campaigns as one import of the whole feed.
#
# Without MOCK_BROKER the chunks go through `import`. With it they go
# through Kafka (`publish` to a topic of one partition, so the log's order
# is the feed's) into a `serve` that runs the whole time, killed (-9) or
# stopped and started again now and then; beside it, compact, upgrade and
# import must refuse the data dir (exit 3), and a restored backup makes
# serve consume again from the backup's offsets.
#
# Usage: test_operator_orders.sh PLEDGED DEMO.jsonl [MOCK_BROKER] [-- SEED...]
# (default seeds 1 2 3; SEEDS_STEPS steps per seed, default 30)
set -u
PLEDGED=$1 DEMO=$2 MOCK=
shift 2
[ $# -gt 0 ] && [ "$1" != -- ] && { MOCK=$1; shift; }
[ "${1:-}" = -- ] && shift
seeds=${*:-1 2 3}
steps=${SEEDS_STEPS:-30}
work=$(mktemp -d "${TMPDIR:-/tmp}/pledged-orders-XXXXXX")
SERVE_PID= WRITER_PID= MOCK_PID=
cleanup() {
	for pid in $SERVE_PID $WRITER_PID $MOCK_PID; do kill -9 "$pid" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
. "$(dirname "$0")/testlib.sh"

# --- the feed: the demo, then generated campaigns, in 12 chunks ---
{ cat "$DEMO"; awk -v seed=7 -v campaigns=6 -v events=12000 -v id=o -v name=ord -v erasures=1 -f "$(dirname "$0")/feed_gen.awk"; } >"$work/feed.jsonl"
CHUNKS=12
split -n l/$CHUNKS -d -a 2 "$work/feed.jsonl" "$work/chunk-"

# The reference: the whole feed in one import.
"$PLEDGED" import --data "$work/ref" <"$work/feed.jsonl" >/dev/null 2>"$work/ref.err" ||
	{ fail "the reference import: $(cat "$work/ref.err")"; finish; exit 1; }

# What a data dir holds, to compare: the log's events in order, the
# rejections (their reasons and bytes), and the campaigns a replay of it gives.
contents() { # contents DIR OUT
	{
		"$PLEDGED" dump --data "$1" | sed 's/.*"event"://'
		# Not where (the import's line, Kafka's offset) or when each came.
		# Through Kafka a chunk fed again is rejected again (its messages
		# are new), and the copy after an erasure keeps its bytes: there
		# each different rejection once, without its bytes.
		"$PLEDGED" rejections --data "$1" |
			sed -E 's/"(seq|partition|offset|at)":[0-9-]+,//g; s/"(topic|key)":("[^"]*"|null),//g' |
			if [ -n "$MOCK" ]; then sed -E 's/,"raw":.*//' | sort -u; else cat; fi
		"$PLEDGED" replay --data "$1" --dry-run
	} >"$2" 2>"$2.err"
}
contents "$work/ref" "$work/ref.contents" || fail "reading the reference: $(cat "$work/ref.contents.err")"
ref_entries=$("$PLEDGED" dump --data "$work/ref" | wc -l)
if [ -n "$MOCK" ]; then
	. "$(dirname "$0")/../kafka/mock_broker.sh"
	# metric NAME: its value, summed over its labels.
	metric() {
		curl -s "http://127.0.0.1:$WRITER_ADMIN/metrics" |
			awk -v m="$1" '$1 == m || index($1, m "{") == 1 { n++; v += $2 } END { if (n) print v }'
	}
fi

# --- one command of the sequence ---
# The exit statuses each command's --help lists (signals apart).
allowed() { # allowed COMMAND STATUS
	case $1:$2 in
	import:[0123] | publish:[0123] | verify:[0123] | compact:[0123] | upgrade:[0123] | backup:[0123]) return 0 ;;
	replay:[0123] | dump:[0123] | rejections:[0123]) return 0 ;;
	esac
	return 1
}
# run_cmd NAME KILL ARGS…: runs pledged ARGS in the background as job NAME;
# KILL is "", "9:MS" or "INT:MS" (that signal after MS milliseconds).
run_cmd() {
	local name=$1 kill=$2
	shift 2
	# <&0: a command put in the background reads /dev/null unless told.
	"$PLEDGED" "$@" <&0 >"$work/$name.out" 2>"$work/$name.err" &
	local pid=$!
	eval "PID_$name=$pid"
	eval "ARGS_$name=\"\$*\""
	eval "KILL_$name=$kill"
	if [ -n "$kill" ]; then
		(
			sleep "$(printf '0.%03d' "${kill#*:}")"
			kill -"${kill%%:*}" "$pid" 2>/dev/null
		) &
		eval "KILLER_$name=$!"
	fi
}
# reap NAME: waits for the job and judges its exit status; sets $status.
reap() {
	local name=$1 pid args kill cmd
	eval "pid=\$PID_$name args=\$ARGS_$name kill=\$KILL_$name"
	wait "$pid" 2>/dev/null
	status=$?
	[ -n "$kill" ] && eval "wait \$KILLER_$name" 2>/dev/null
	cmd=${args%% *}
	local where="seed $seed step $step: pledged $args${kill:+ (kill -${kill%%:*} at ${kill#*:} ms)}"
	if grep -q "AddressSanitizer\|runtime error\|LeakSanitizer" "$work/$name.err"; then
		fail "$where: $(grep -m3 "ERROR\|runtime error" "$work/$name.err")"
	elif [ "$status" -ge 128 ]; then
		local sig=$((status - 128)) sent=
		case ${kill%%:*} in 9) sent=9 ;; INT) sent=2 ;; esac
		if [ "$sig" = "$sent" ]; then ok; else fail "$where: died of signal $sig: $(tail -n 3 "$work/$name.err")"; fi
	elif [ -n "$WRITER_PID" ] && [ "$status" != 3 ] && [[ $cmd =~ ^(compact|upgrade|import)$ ]]; then
		fail "$where: exit $status beside a running serve, want 3: $(tail -n 3 "$work/$name.err")"
	elif allowed "$cmd" "$status"; then
		ok
	else
		fail "$where: exit $status: $(tail -n 3 "$work/$name.err")"
	fi
	echo "seed $seed step $step: pledged $args${kill:+ [$kill]} -> $status$([ "$status" = 0 ] || echo ": $(tail -n 1 "$work/$name.err")")" >>"$work/trace"
}

# pick N: a number below N in $r. (Not through $(…): a subshell draws
# from a RANDOM of its own, and the seed would no longer say the order.)
pick() { r=$((RANDOM % $1)); }
# pick_kill: a kill for a step in $k: mostly none, else -9 or SIGINT
# within 20, 100 or 400 ms (most commands here take 50-500 ms).
pick_kill() {
	local sig
	pick 10
	case $r in
	0 | 1 | 2) sig=9 ;;
	3) sig=INT ;;
	*) k= && return ;;
	esac
	pick 3
	case $r in
	0) pick 20 ;;
	1) pick 100 ;;
	2) pick 400 ;;
	esac
	k=$sig:$r
}

chunk() { printf '%s/chunk-%02d' "$work" "$1"; }
# feed_next KILL: starts feeding the next chunk, if one is left (as job
# imp); it counts as fed only when that ends with 0 (a kill leaves it to be
# fed again).
feed_next() {
	[ "$next" -lt "$CHUNKS" ] || return 1
	if [ -n "$MOCK" ]; then
		run_cmd imp "$1" publish --brokers "$ADDR" <"$(chunk "$next")"
	else
		pick 500
		run_cmd imp "$1" import --data "$DATA" --batch $((50 + r)) <"$(chunk "$next")"
	fi
}
fed() { [ "$status" = 0 ] && next=$((next + 1)); }

# The writing serve (with MOCK_BROKER): each start joins a group of its own,
# since a member killed stays in its group until its session times out;
# positions come from the data dir.
writer_start() {
	starts=$((starts + 1))
	"$PLEDGED" serve --brokers "$ADDR" --data "$DATA" --group "orders-$seed-$starts" \
		--listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 --batch-max 200 --log-level info \
		2>"$work/writer-$starts.log" &
	WRITER_PID=$!
	WRITER_ADMIN=$(admin_port "$work/writer-$starts.log")
	[ -n "$WRITER_ADMIN" ] || fail "seed $seed step $step: serve did not start: $(tail -n 3 "$work/writer-$starts.log")"
}
# writer_stop SIGNAL: stops it; after TERM it must say it stopped cleanly.
writer_stop() {
	kill -"$1" "$WRITER_PID"
	wait "$WRITER_PID" 2>/dev/null
	local s=$? log=$work/writer-$starts.log
	WRITER_PID=
	echo "seed $seed step $step: serve stopped by $1 -> $s" >>"$work/trace"
	if grep -q "AddressSanitizer\|runtime error" "$log"; then
		fail "seed $seed step $step: serve: $(grep -m3 "ERROR\|runtime error" "$log")"
	elif [ "$1" = TERM ] && [ "$s" != 0 ]; then
		fail "seed $seed step $step: serve exit $s on SIGTERM: $(tail -n 3 "$log")"
	else
		ok
	fi
}

start_serve() {
	[ -n "$SERVE_PID" ] && return
	"$PLEDGED" serve --read-only --data "$DATA" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
		2>"$work/serve.log" &
	SERVE_PID=$!
	PORT=$(serve_port "$work/serve.log")
	if [ -z "$PORT" ]; then # refused: no data dir yet, say
		kill -9 "$SERVE_PID" 2>/dev/null
		wait "$SERVE_PID"
		echo "seed $seed step $step: serve --read-only -> $?: $(tail -n 1 "$work/serve.log")" >>"$work/trace"
		SERVE_PID=
	fi
}
stop_serve() {
	[ -z "$SERVE_PID" ] && return
	kill -TERM "$SERVE_PID"
	wait "$SERVE_PID"
	local s=$?
	if grep -q "AddressSanitizer\|runtime error" "$work/serve.log"; then
		fail "seed $seed step $step: read-only serve: $(grep -m3 "ERROR\|runtime error" "$work/serve.log")"
	elif [ "$s" = 0 ]; then
		ok
	else
		fail "seed $seed step $step: read-only serve exit $s: $(tail -n 3 "$work/serve.log")"
	fi
	SERVE_PID=
}
# The read-only serve answers every campaign it lists with 200.
ask_serve() {
	[ -z "$SERVE_PID" ] && return
	local code
	code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/v1/campaigns/ord-1")
	case $code in
	200 | 404) ok ;; # 404 before the campaign is imported
	*) fail "seed $seed step $step: read-only serve answered $code" ;;
	esac
}

for seed in $seeds; do
	RANDOM=$seed
	DATA=$work/data-$seed
	next=0
	backups=0
	starts=0
	step=0
	: >"$work/trace"
	if [ -n "$MOCK" ]; then
		# A topic of its own for each seed, one partition.
		[ -n "$MOCK_PID" ] && { kill -9 "$MOCK_PID"; wait "$MOCK_PID" 2>/dev/null; }
		rm -f "$work/addr"
		start_mock_broker "$MOCK" "$work" 1
		writer_start
	fi
	for step in $(seq "$steps"); do
		pick 17
		case $r in
		0 | 1 | 2 | 3)
			pick_kill
			feed_next "$k" && { reap imp; fed; }
			;;
		4 | 5)
			pick_kill
			pick 8000
			run_cmd rep "$k" replay --data "$DATA" --max-rate $((2000 + r))
			reap rep
			;;
		6)
			pick_kill
			run_cmd rep "$k" replay --data "$DATA" --no-swap
			reap rep
			;;
		7)
			pick 3
			case $r in
			0) run_cmd rep "" replay --data "$DATA" --diff ;;
			1) run_cmd rep "" replay --data "$DATA" --abort ;;
			2)
				pick_kill
				pick 6000
				run_cmd rep "$k" replay --data "$DATA" --dry-run --until-seq $((1 + r))
				;;
			esac
			reap rep
			;;
		8)
			pick_kill
			run_cmd ver "$k" verify --data "$DATA" --scratch "$work"
			reap ver
			;;
		9)
			pick_kill
			run_cmd cmp "$k" compact --data "$DATA"
			reap cmp
			;;
		10)
			pick_kill
			run_cmd upg "$k" upgrade --data "$DATA"
			reap upg
			if [ -n "$WRITER_PID" ]; then
				run_cmd wr "" import --data "$DATA" <"$(chunk 0)"
				reap wr
			fi
			;;
		11)
			backups=$((backups + 1))
			was=$next
			pick_kill
			run_cmd bak "$k" backup --data "$DATA" --to "$work/backup-$seed-$backups"
			reap bak
			pick 3
			if [ "$status" = 0 ] && [ "$r" = 0 ]; then
				# Restored: the data dir is the backup now; the chunks
				# after the last one whole in it follow again.
				stop_serve
				if [ -n "$MOCK" ]; then
					# serve consumes again from the backup's offsets.
					writer_stop TERM
					DATA=$work/backup-$seed-$backups
					writer_start
				else
					DATA=$work/backup-$seed-$backups
					next=$was
				fi
				echo "seed $seed step $step: restored $DATA, next chunk $next" >>"$work/trace"
			fi
			;;
		12)
			# Two at once: an import beside a rebuild, a verify or a backup.
			pick_kill
			feed_next "$k" && feeding=1 || feeding=
			pick 3
			case $r in
			0) pick_kill; run_cmd two "$k" replay --data "$DATA" ;;
			1) pick_kill; run_cmd two "$k" verify --data "$DATA" --scratch "$work" ;;
			2) run_cmd two "" backup --data "$DATA" --to "$work/side-$seed-$step" ;;
			esac
			[ -n "$feeding" ] && { reap imp; fed; }
			reap two
			;;
		13)
			run_cmd rej "" rejections --data "$DATA" --limit 5
			reap rej
			pick 3000
			run_cmd dmp "" dump --data "$DATA" --from $((1 + r)) --limit 100
			reap dmp
			;;
		14)
			if [ -n "$SERVE_PID" ]; then stop_serve; else start_serve; fi
			;;
		15)
			ask_serve
			;;
		16)
			if [ -n "$WRITER_PID" ]; then
				pick 2
				case $r in 0) writer_stop 9 ;; 1) writer_stop TERM ;; esac
				writer_start
			fi
			;;
		esac
	done
	stop_serve
	# Whatever the sequence left: every chunk again, in order, then a
	# rebuild under way finished or dropped.
	for next in $(seq 0 $((CHUNKS - 1))); do
		if [ -n "$MOCK" ]; then
			"$PLEDGED" publish --brokers "$ADDR" <"$(chunk "$next")" >/dev/null 2>"$work/final.err"
		else
			"$PLEDGED" import --data "$DATA" <"$(chunk "$next")" >/dev/null 2>"$work/final.err"
		fi || fail "seed $seed: feeding chunk $next at the end: $(cat "$work/final.err")"
	done
	if [ -n "$MOCK" ]; then
		# Until serve has applied it all: the reference's log, nothing left
		# to consume.
		for _ in $(seq 300); do
			[ "$(metric pledged_log_sequence)" = "$ref_entries" ] && [ "$(metric pledged_consumer_lag)" = 0 ] && break
			sleep 0.2
		done
		writer_stop TERM
	fi
	pick 2
	if [ "$r" = 0 ]; then
		"$PLEDGED" replay --data "$DATA" >/dev/null 2>"$work/final.err" ||
			fail "seed $seed: the final replay: $(tail -n 3 "$work/final.err")"
	else
		"$PLEDGED" replay --data "$DATA" --abort >/dev/null 2>&1 # 1: none under way
	fi
	"$PLEDGED" verify --data "$DATA" --scratch "$work" >"$work/verify.out" 2>&1 ||
		fail "seed $seed: verify after the sequence: $(tail -n 5 "$work/verify.out")"
	contents "$DATA" "$work/contents" || fail "seed $seed: reading the data dir: $(cat "$work/contents.err")"
	if cmp -s "$work/ref.contents" "$work/contents"; then
		ok
	else
		fail "seed $seed: the data dir differs from one import of the feed: $(diff "$work/ref.contents" "$work/contents" | head -n 6)"
	fi
	cat "$work/trace" # what each step did, for the log
	rm -rf "$work"/data-* "$work"/backup-* "$work"/side-*
done
finish
