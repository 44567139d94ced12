#!/bin/bash
# group_orders.sh — instances of one consumer group in seeded random orders:
# a feed published in chunks to a topic of 4-8 partitions (the demo
# campaign, then generated campaigns keyed over several partitions), read by
# 1-3 serves of one group, each with a data dir of its own and an
# --advertise-url, killed (-9), stopped (SIGTERM), started again on their
# data dir, joined by an extra instance, frozen (SIGSTOP) past the session
# timeout and resumed, and asked over HTTP for every campaign between steps.
#
# Every answer must fit the ownership: 200 only with the campaign's
# partition in its X-Pledged-Partitions, and then the figures its data dir
# had at the answer's X-Pledged-Seq (replay --dry-run --until-seq once it
# stopped), never older than what another instance had applied before the
# request while saying it is caught up (X-Pledged-Lag 0); 421 not_owned,
# 307 to a live instance, or 503. At rest (after every publish) each
# campaign is answered 200 by one instance alone, with the figures of one
# import of the chunks published so far.
#
# At the end, with every instance stopped cleanly: a partition's messages
# are applied at most once in each data dir, and what a data dir holds of
# a partition is a prefix of it (a partition that moves back to an instance
# resumes from that data dir's own offset: operations.md section 10); the
# instance that held it last has all of it, so each campaign's figures in
# its data dir, and its log and rejections counted over the partitions,
# are those of one import of the whole feed; every data dir verifies.
#
# The feed holds no supporter.forgotten (publish sends it to one partition
# only, and an erasure reaches the campaigns of the partitions it is on),
# and a duplicate reuses the id of an event of its own campaign: every
# event is then valid or rejected alike in any data dir holding its
# partition's prefix.
#
# Usage: group_orders.sh PLEDGED DEMO.jsonl MOCK_BROKER [-- SEED...]
# (seeds: the arguments, else $SEEDS, else 12 16; SEEDS_STEPS steps per
# seed, default 9)
set -u
PLEDGED=$1 DEMO=$2 MOCK=$3
shift 3
[ "${1:-}" = -- ] && shift
seeds=${*:-${SEEDS:-12 16}}
steps=${SEEDS_STEPS:-9}
command -v curl >/dev/null || { echo "group_orders: curl missing: skipped"; exit 77; }
command -v python3 >/dev/null || { echo "group_orders: python3 missing: skipped"; exit 77; }
work=$(mktemp -d "${TMPDIR:-/tmp}/pledged-group-XXXXXX")
MOCK_PID=
declare -a PID PORT INC FROZEN
cleanup() {
	for pid in "${PID[@]}"; do [ -n "$pid" ] && kill -CONT "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null; done
	[ -n "$MOCK_PID" ] && kill -9 "$MOCK_PID" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
. "$(dirname "$0")/../unit/testlib.sh"
. "$(dirname "$0")/mock_broker.sh"
SESSION_MS=3000

# --- the feed: the demo, then generated campaigns, in chunks ---
{ cat "$DEMO"; awk -v seed=11 -v campaigns=8 -v events=3000 -v id=g -v name=grp -v erasures=0 -f "$(dirname "$0")/../unit/feed_gen.awk"; } >"$work/feed.jsonl"
CHUNKS=8
split -n l/$CHUNKS -d -a 2 "$work/feed.jsonl" "$work/chunk-"
chunk() { printf '%s/chunk-%02d' "$work" "$1"; }
CAMPAIGNS="jess-phillips-for-labour-leader $(seq -f 'grp-%.0f' 1 8 | tr '\n' ' ')"

# The reference: the chunks imported in turn, the campaigns after each
# (ref-J: after chunks 0..J), and the whole log and rejections.
for j in $(seq 0 $((CHUNKS - 1))); do
	"$PLEDGED" import --data "$work/ref" <"$(chunk "$j")" >/dev/null 2>"$work/ref.err" ||
		{ fail "the reference import: $(cat "$work/ref.err")"; finish; exit 1; }
	"$PLEDGED" replay --data "$work/ref" --dry-run >"$work/ref-$j" 2>/dev/null
done
ref_entries=$("$PLEDGED" dump --data "$work/ref" | wc -l)
ref_rejections=$("$PLEDGED" rejections --data "$work/ref" | wc -l)
# campaign_line FILE CAMPAIGN: its JSON line in a replay's output.
campaign_line() { grep -F "{\"id\":\"$2\"," "$1"; }

# pick N: a number below N in $r. (Not through $(…): a subshell draws
# from a RANDOM of its own, and the seed would no longer say the order.)
pick() { r=$((RANDOM % $1)); }
trace() { echo "seed $seed step $step: $*" >>"$work/trace"; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# --- the instances: slots 1..4, each with its data dir ---
data() { echo "$work/data-$seed-$1"; }
# start SLOT: serve in the group on the slot's data dir and port.
start() {
	local s=$1 log
	INC[s]=$((${INC[s]:-0} + 1))
	[ -n "${PORT[s]:-}" ] || PORT[s]=$(free_port)
	log=$work/serve-$seed-$s-${INC[s]}.log
	"$PLEDGED" serve --brokers "$ADDR" --group "orders-$seed" --data "$(data "$s")" \
		--listen "127.0.0.1:${PORT[s]}" --advertise-url "http://127.0.0.1:${PORT[s]}" \
		--admin-listen 127.0.0.1:0 --batch-ms 10 --batch-max 100 --log-level info \
		--kafka session.timeout.ms=$SESSION_MS --kafka heartbeat.interval.ms=300 2>"$log" &
	PID[s]=$!
	FROZEN[s]=
	[ -n "$(serve_port "$log")" ] || fail "seed $seed step $step: serve $s did not start: $(tail -n 3 "$log")"
	trace "started $s (pid ${PID[s]}, port ${PORT[s]})"
}
# stop SLOT SIGNAL: after TERM it must end cleanly within 30 s.
stop() {
	local s=$1 sig=$2 pid=${PID[$1]} st log=$work/serve-$seed-$1-${INC[$1]}.log
	kill -"$sig" "$pid"
	[ -n "${FROZEN[s]}" ] && kill -CONT "$pid"
	# (the shell reports a job killed when it notices, unless told not to)
	{ for _ in $(seq 300); do kill -0 "$pid" || break; sleep 0.1; done; } 2>/dev/null
	kill -0 "$pid" 2>/dev/null && { fail "seed $seed step $step: serve $s still running 30 s after SIG$sig: $(tail -n 5 "$log")"; kill -9 "$pid"; }
	wait "$pid" 2>/dev/null
	st=$?
	PID[s]= FROZEN[s]=
	trace "stopped $s by $sig -> $st"
	if grep -q "AddressSanitizer\|runtime error" "$log"; then
		fail "seed $seed step $step: serve $s: $(grep -m3 "ERROR\|runtime error" "$log")"
	elif [ "$sig" = TERM ] && [ "$st" != 0 ]; then
		fail "seed $seed step $step: serve $s exit $st on SIGTERM: $(tail -n 3 "$log")"
	else
		ok
	fi
}
running() { # running: the slots with a live serve, in $run
	run=
	for s in 1 2 3 4; do [ -n "${PID[s]:-}" ] && run="$run $s"; done
}
# pick_running: a slot with a live serve in $s, or none (false).
pick_running() {
	running
	set -- $run
	[ $# -gt 0 ] || return 1
	pick $#
	shift "$r"
	s=$1
}

# ask SLOT CAMPAIGN: asks one instance for one campaign, and judges the
# answer (judge).
ask() {
	local t0
	t0=$(date +%s%3N)
	judge "$1" "$2" "$t0" "$work/headers" "$work/body" "$(curl -s --max-time 10 -D "$work/headers" \
		-o "$work/body" -w '%{http_code}' "http://127.0.0.1:${PORT[$1]}/v1/campaigns/$2")"
}
# judge SLOT CAMPAIGN START_MS HEADERS BODY CODE: judges an answer by
# itself; a 200 is kept in $work/answers to be judged against the data
# dirs once they stopped: SEED SLOT INCARNATION CAMPAIGN SEQ LAG START_MS
# PARTITIONS, and its body in $work/bodies at the same line.
judge() {
	local s=$1 c=$2 t0=$3 h=$4 body=$5 code=$6 seq lag parts loc to t
	seq=$(sed -n 's/^X-Pledged-Seq: \([0-9]*\)\r$/\1/p' "$h")
	lag=$(sed -n 's/^X-Pledged-Lag: \(.*\)\r$/\1/p' "$h")
	parts=$(sed -n 's/^X-Pledged-Partitions: \(.*\)\r$/\1/p' "$h")
	answered="$answered $code"
	case $code in
	200)
		echo "$seed $s ${INC[s]} $c $seq $lag $t0 ${parts// /_}" >>"$work/answers"
		{ cat "$body"; echo; } >>"$work/bodies"
		;;
	421) grep -q '"error":"not_owned' "$body" && ok || fail "seed $seed step $step: $s: a 421 without not_owned: $(cat "$body")" ;;
	307)
		loc=$(sed -n 's/^Location: \(.*\)\r$/\1/p' "$h")
		to=${loc#http://127.0.0.1:}
		to=${to%%/*}
		for t in 1 2 3 4; do [ "${PORT[t]:-}" = "$to" ] && break; done
		if [ "${PORT[t]:-}" = "$to" ] && [ "$loc" = "http://127.0.0.1:$to/v1/campaigns/$c" ] && [ "$t" != "$s" ]; then
			ok
		else
			fail "seed $seed step $step: $s sent $c to '$loc'"
		fi
		;;
	503) ok ;;
	404) ok ;; # before its campaign.opened was applied there
	*) fail "seed $seed step $step: $s answered $code for $c: $(head -c 300 "$body")" ;;
	esac
}
ask_all() {
	running
	for s in $run; do
		answered=
		for c in $CAMPAIGNS; do ask "$s" "$c"; done
		trace "asked $s:$answered"
	done
}

# settle: until each campaign published is answered 200 by exactly one
# instance with the reference's figures after the chunks published, and
# no other instance answers 200 for it (60 s at most).
settle() {
	local want=$work/ref-$((next - 1)) c s code good
	[ "$next" -gt 0 ] || return 0
	published=$(sed 's/^{"id":"\([^"]*\)".*/\1/' "$want")
	running
	[ -n "$run" ] || return 0
	for s in $run; do [ -n "${FROZEN[s]}" ] && return 0; done
	for _ in $(seq 300); do
		good=1
		for c in $published; do
			owners=0
			for s in $run; do
				code=$(curl -s --max-time 10 -o "$work/body" -w '%{http_code}' "http://127.0.0.1:${PORT[s]}/v1/campaigns/$c")
				[ "$code" = 200 ] || continue
				owners=$((owners + 1))
				[ "$(cat "$work/body")" = "$(campaign_line "$want" "$c")" ] || good=
			done
			[ "$owners" = 1 ] || good=
			[ -n "$good" ] || break
		done
		[ -n "$good" ] && break
		sleep 0.2
	done
	if [ -n "$good" ]; then
		ok
		trace "settled at chunk $((next - 1))"
	else
		fail "seed $seed step $step: not settled after 60 s: $c answered 200 by $owners instances${run:+, the last answer: $(head -c 300 "$work/body")}"
	fi
}

publish_next() {
	[ "$next" -lt "$CHUNKS" ] || return 1
	"$PLEDGED" publish --brokers "$ADDR" <"$(chunk "$next")" >/dev/null 2>"$work/publish.err" ||
		fail "seed $seed step $step: publish chunk $next: $(cat "$work/publish.err")"
	trace "published chunk $next"
	next=$((next + 1))
}

for seed in $seeds; do
	RANDOM=$seed
	next=0
	step=0
	PID=() PORT=() INC=() FROZEN=()
	: >"$work/trace"
	: >"$work/answers"
	: >"$work/bodies"
	declare -A PARTITION=()
	[ -n "$MOCK_PID" ] && { kill -9 "$MOCK_PID"; wait "$MOCK_PID" 2>/dev/null; }
	rm -f "$work/addr"
	pick 5
	partitions=$((4 + r))
	start_mock_broker "$MOCK" "$work" "$partitions"
	trace "topic of $partitions partitions"
	start 1
	for step in $(seq "$steps"); do
		pick 12
		case $r in
		0 | 1 | 2)
			publish_next && settle
			;;
		3)
			pick_running && stop "$s" 9
			;;
		4)
			pick_running && stop "$s" TERM
			;;
		5 | 6)
			# one stopped (or never started) comes back on its data dir
			running
			pick 3
			s=$((1 + r))
			if [ -z "${PID[s]:-}" ]; then
				start "$s"
				# asked as soon as it answers, while it may still be
				# catching up on what it missed (4 s at most)
				for _ in $(seq 20); do
					[ "$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:${PORT[s]}/v1/campaigns/none")" = 503 ] || break
					sleep 0.2
				done
				answered=
				for c in $CAMPAIGNS; do ask "$s" "$c"; done
				trace "asked $s once it answered:$answered"
			fi
			;;
		7)
			# an extra instance, a fourth slot at most
			running
			[ "$(echo $run | wc -w)" -lt 3 ] && for s in 1 2 3 4; do
				[ -z "${PID[s]:-}" ] && { start "$s"; break; }
			done
			;;
		8 | 9)
			ask_all
			;;
		10)
			# frozen past the session timeout, the others going on meanwhile
			if pick_running; then
				kill -STOP "${PID[s]}"
				FROZEN[s]=1
				trace "froze $s"
				frozen=$s
				publish_next
				# meanwhile, at times, another one starts
				pick 3
				[ "$r" = 0 ] && for t in 1 2 3; do [ -z "${PID[t]:-}" ] && { start "$t"; break; }; done
				sleep $((SESSION_MS / 1000 + 3))
				s=$frozen
				# Requests sent while it is frozen wait in its sockets:
				# they are the first it answers.
				t0=$(date +%s%3N)
				i=0
				for c in $CAMPAIGNS; do
					i=$((i + 1))
					curl -s --max-time 20 -D "$work/queued-h$i" -o "$work/queued-b$i" -w '%{http_code}' \
						"http://127.0.0.1:${PORT[s]}/v1/campaigns/$c" >"$work/queued-c$i" &
					eval "QUEUED_$i=\$!"
				done
				sleep 0.5
				kill -CONT "${PID[s]}"
				FROZEN[s]=
				answered=
				i=0
				for c in $CAMPAIGNS; do
					i=$((i + 1))
					eval "wait \$QUEUED_$i"
					judge "$s" "$c" "$t0" "$work/queued-h$i" "$work/queued-b$i" "$(cat "$work/queued-c$i")"
				done
				trace "thawed $s, asked while frozen:$answered"
				# the first answers after the thaw, and a second later
				for round in 1 2 3; do
					answered=
					for c in $CAMPAIGNS; do ask "$s" "$c"; done
					trace "thawed $s, asked (round $round):$answered"
					sleep 0.3
				done
				ask_all
			fi
			;;
		11)
			settle
			;;
		esac
	done

	# The rest of the feed, every slot that ran started, all settled, then
	# every instance stopped cleanly.
	for s in 1 2 3; do [ -z "${PID[s]:-}" ] && [ -n "${INC[s]:-}" ] && start "$s"; done
	running
	[ -n "$run" ] || start 1
	while publish_next; do :; done
	settle
	ask_all
	running
	for s in $run; do stop "$s" TERM; done

	# What each data dir holds of each partition: PARTITION OFFSET lines of
	# its log and its rejections.
	for s in 1 2 3 4; do
		[ -d "$(data "$s")" ] || continue
		"$PLEDGED" verify --data "$(data "$s")" --scratch "$work" >"$work/verify.out" 2>&1 && ok ||
			fail "seed $seed: verify $s: $(tail -n 5 "$work/verify.out")"
		{
			"$PLEDGED" dump --data "$(data "$s")" |
				sed -n 's/.*"partition":\([0-9]*\),"offset":\([0-9]*\),.*/log \1 \2/p'
			"$PLEDGED" rejections --data "$(data "$s")" |
				sed -n 's/.*"partition":\([0-9]*\),"offset":\([0-9]*\),.*/rej \1 \2/p'
		} | sed "s/^/$s /" >"$work/held-$s"
		"$PLEDGED" dump --data "$(data "$s")" |
			sed -n 's/.*"partition":\([0-9]*\),.*"campaign":"\([^"]*\)".*/\2 \1/p' | sort -u >>"$work/campaign-partitions"
		"$PLEDGED" replay --data "$(data "$s")" --dry-run >"$work/final-$s" 2>/dev/null
	done
	while read -r c p; do PARTITION[$c]=$p; done < <(sort -u "$work/campaign-partitions")
	# Each offset at most once in a data dir; a data dir's offsets of a
	# partition are those of the union up to its last; the data dir with
	# most of a partition has all of it: its entries and rejections, summed
	# over the partitions, are the reference's.
	cat "$work"/held-* | awk -v want_log="$ref_entries" -v want_rej="$ref_rejections" '
		{ key = $1 " " $3 " " $4; if (seen[key]++) { printf "data dir %s holds offset %s of partition %s twice\n", $1, $4, $3; bad = 1 }
		  kind[$3, $4] = $2; any[$3, $4] = 1; if (!has[$1, $3]++ || $4 > top[$1, $3]) top[$1, $3] = $4
		  dirs[$1] = 1; parts[$3] = 1 }
		END {
			for (d in dirs) for (p in parts) {
				if (!has[d, p]) continue
				for (key in any) {
					split(key, k, SUBSEP)
					if (k[1] == p && k[2] <= top[d, p] && !((d " " p " " k[2]) in seen)) {
						printf "data dir %s holds offsets of partition %s up to %s but not %s\n", d, p, top[d, p], k[2]; bad = 1 }
				}
			}
			for (key in any) { split(key, k, SUBSEP); if (kind[key] == "log") nlog[k[1]]++; else nrej[k[1]]++ }
			for (p in parts) { L += nlog[p]; R += nrej[p] }
			if (L != want_log || R != want_rej) { printf "the partitions hold %d entries and %d rejections, want %d and %d\n", L, R, want_log, want_rej; bad = 1 }
			exit bad
		}' >"$work/held.out" && ok || fail "seed $seed: $(head -n 5 "$work/held.out")"
	# Each campaign's figures where its partition was held last (all of it):
	# one import's.
	for c in $CAMPAIGNS; do
		p=${PARTITION[$c]}
		best= most=-1
		for s in 1 2 3 4; do
			[ -f "$work/held-$s" ] || continue
			n=$(awk -v p="$p" '$3 == p' "$work/held-$s" | wc -l)
			[ "$n" -gt "$most" ] && best=$s most=$n
		done
		if [ "$(campaign_line "$work/final-$best" "$c")" = "$(campaign_line "$work/ref-$((CHUNKS - 1))" "$c")" ]; then
			ok
		else
			fail "seed $seed: $c in data dir $best: $(campaign_line "$work/final-$best" "$c"), want $(campaign_line "$work/ref-$((CHUNKS - 1))" "$c")"
		fi
	done
	# Every 200: the figures of its data dir at its X-Pledged-Seq, and not
	# older, while it said it was caught up, than what another data dir had
	# appended of the partition before the request.
	for s in 1 2 3 4; do
		[ -d "$(data "$s")" ] && "$PLEDGED" dump --data "$(data "$s")" |
			sed -n 's/^{"seq":\([0-9]*\),.*"partition":\([0-9]*\),"offset":\([0-9]*\),"appended_at":\([0-9]*\),.*/\1 \2 \3 \4/p' |
			sed "s/^/$s /" >"$work/appended-$s"
	done
	line=0 checked=0 behind=0
	while read -r _ s inc c seq lag t0 parts; do
		line=$((line + 1))
		p=${PARTITION[$c]}
		[[ ",${parts%_of_*}," == *",$p,"* ]] && ok ||
			fail "seed $seed: $s (start $inc) answered 200 for $c (partition $p) holding '${parts//_/ }'"
		if [ "$checked" -lt 60 ]; then
			checked=$((checked + 1))
			"$PLEDGED" replay --data "$(data "$s")" --dry-run --until-seq "$seq" >"$work/at" 2>/dev/null
			[ "$(campaign_line "$work/at" "$c")" = "$(sed -n "${line}p" "$work/bodies")" ] && ok ||
				fail "seed $seed: $s (start $inc) answered $c at seq $seq with $(sed -n "${line}p" "$work/bodies"), its data dir had $(campaign_line "$work/at" "$c")"
		fi
		# The last offset of the partition this answer reflects, and the
		# furthest another data dir had appended 100 ms before the request.
		mine=$(awk -v p="$p" -v q="$seq" '$3 == p && $2 <= q && $4 > m { m = $4 } END { print m + 0 }' "$work/appended-$s")
		theirs=$(cat "$work"/appended-* | awk -v s="$s" -v p="$p" -v t="$t0" '$1 != s && $3 == p && $5 < t - 100 && $4 > m { m = $4 } END { print m + 0 }')
		if [ "$theirs" -le "$mine" ]; then
			ok
		elif [ "$lag" != 0 ]; then
			behind=$((behind + 1)) # a holder catching up: documented
		else
			fail "seed $seed: $s (start $inc) answered $c with lag 0 at offset $mine of partition $p, which another instance had applied up to $theirs before"
		fi
	done <"$work/answers"
	trace "$line answers 200, $behind of them from a holder still catching up (behind what another had answered)"
	cat "$work/trace" # what each step did, for the log
	rm -rf "$work"/data-* "$work"/held-* "$work"/final-* "$work"/appended-* "$work"/campaign-partitions "$work"/serve-*.log
done
finish
