#!/bin/bash
# erasure.sh — the right to erasure end to end, against a mock broker process
# (the Kafka protocol over TCP) and a real `pledged serve`:
# 1. A supporter pledges under a name in two campaigns and comments (one
#    comment long enough for an LMDB overflow page, one removed by a
#    moderator); two of their messages are rejected (one not even msgpack).
#    Another supporter's name, comment and rejection are there too.
# 2. `pledged forget` publishes supporter.forgotten to every partition;
#    serve applies each copy once (the first erases, the later ones find
#    nothing more here). Money, pledges and supporters are unchanged,
#    the comments are gone from the feed, the rejections naming them keep
#    no bytes, the other supporter's data stays, and the log records the
#    erasure (when, by whom) without what was erased. verify passes; an
#    online `pledged replay` gives the same answers.
# 3. `pledged compact` refuses while serve runs, and beside a serve
#    --read-only (no lock, but a reader); after serve stops it
#    rewrites the data dir, after which no byte of the erased names and
#    texts is left in any file of it. serve starts again on it with the
#    same answers, and verify passes.
# 4. A log entry damaged on disk: the next erasure cannot rewrite it, and
#    serve's /healthz says the data dir is damaged and to run verify (which
#    names the entry) rather than blaming the disk space.
# Usage: erasure.sh PLEDGED MOCK_BROKER LOG_OFFSETS
set -u
PLEDGED=$1 MOCK=$2 OFFSETS=$3
command -v curl >/dev/null || { echo "erasure: curl missing: skipped"; exit 77; }
work=$(mktemp -d "${TMPDIR:-/tmp}/pledged-erasure-XXXXXX")
MOCK_PID= SERVE_PID= READER_PID=
cleanup() {
	for pid in $READER_PID $SERVE_PID $MOCK_PID; do kill -9 "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
	rm -rf "$work"
}
trap cleanup EXIT
. "$(dirname "$0")/../unit/testlib.sh"
die() { fail "$*"; tail -n 20 "$work/serve.log" >&2; finish; exit 1; }
. "$(dirname "$0")/mock_broker.sh"
start_mock_broker "$MOCK" "$work" 4

starts=0
start_serve() {
	starts=$((starts + 1))
	# A group of its own each time: the mock broker is slow to let a member
	# rejoin, and serve keeps its offsets in the data dir, not in the group.
	"$PLEDGED" serve --brokers "$ADDR" --data "$work/data" --listen 127.0.0.1:0 \
		--admin-listen 127.0.0.1:0 --batch-ms 10 --group "erasure-$starts" \
		2>"$work/serve.$starts.log" &
	SERVE_PID=$!
	PORT=$(serve_port "$work/serve.$starts.log")
	ADMIN_PORT=$(admin_port "$work/serve.$starts.log")
	cat "$work/serve.$starts.log" >>"$work/serve.log"
	[ -n "$PORT" ] && [ -n "$ADMIN_PORT" ] || die "serve did not start"
	URL=http://127.0.0.1:$PORT ADMIN=http://127.0.0.1:$ADMIN_PORT
	# Campaigns are answered once the group has assigned the partitions.
	for _ in $(seq 300); do
		curl -s -D - -o /dev/null "$URL/v1/campaigns" | grep -q "^X-Pledged-Partitions: 0,1,2,3 of 4" && return
		sleep 0.1
	done
	die "serve was not assigned the partitions"
}
stop_serve() {
	kill -TERM "$SERVE_PID"
	wait "$SERVE_PID" || fail "serve did not stop cleanly"
	SERVE_PID=
}
metric() { curl -s "$ADMIN/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
wait_metric() { # wait_metric NAME VALUE (30 s at most)
	for _ in $(seq 300); do
		[ "$(metric "$1")" = "$2" ] && return 0
		sleep 0.1
	done
	die "$1 is $(metric "$1"), want $2"
}
publish() { "$PLEDGED" publish --brokers "$ADDR" 2>>"$work/publish.log" >/dev/null || die "publish"; }
# What readers see of both campaigns: figures and feeds.
answers() {
	for c in hall bells; do
		curl -s "$URL/v1/campaigns/$c" | sed 's/"days":[0-9]*//'
		echo
		curl -s "$URL/v1/campaigns/$c/comments?limit=100"
		echo
	done
}
field() { sed -n "s/.*\"$2\":\\([0-9]*\\).*/\\1/p" "$1"; }
# found TEXT: the files of the data dir that hold TEXT.
found() { grep -rlaF -- "$1" "$work/data" 2>/dev/null; }

start_serve
NOW=$(($(date +%s) * 1000))
LONG=$(printf 'Gone-Long-Text-%.0s' $(seq 200)) # 3000 bytes: an overflow page
cat >"$work/events.jsonl" <<JSON
{"v":1,"type":"campaign.opened","id":"o1","at":$NOW,"campaign":"hall","title":"Hall","owner":"H","currency":"GBP"}
{"v":1,"type":"campaign.opened","id":"o2","at":$NOW,"campaign":"bells","title":"Bells","owner":"B","currency":"GBP"}
{"v":1,"type":"pledge.created","id":"p1","at":$NOW,"campaign":"hall","pledge":"pl1","supporter":"sup-gone","amount":2500,"currency":"GBP","name":"Gone-Name-Q"}
{"v":1,"type":"pledge.created","id":"p2","at":$NOW,"campaign":"bells","pledge":"pl2","supporter":"sup-gone","amount":700,"currency":"GBP","name":"Gone-Name-Q"}
{"v":1,"type":"pledge.created","id":"p3","at":$NOW,"campaign":"hall","pledge":"pl3","supporter":"sup-stays","amount":1000,"currency":"GBP","name":"Stays-Name-R"}
{"v":1,"type":"comment.posted","id":"c1","at":$NOW,"campaign":"hall","comment":"k1","supporter":"sup-gone","name":"Gone-Name-Q","text":"Gone-Text-One"}
{"v":1,"type":"comment.posted","id":"c2","at":$((NOW + 1)),"campaign":"bells","comment":"k2","supporter":"sup-gone","text":"$LONG"}
{"v":1,"type":"comment.posted","id":"c3","at":$((NOW + 2)),"campaign":"hall","comment":"k3","supporter":"sup-stays","name":"Stays-Name-R","text":"Stays-Text"}
{"v":1,"type":"comment.posted","id":"c4","at":$((NOW + 3)),"campaign":"hall","comment":"k4","supporter":"sup-gone","text":"Gone-Text-Moderated"}
{"v":1,"type":"comment.removed","id":"c5","at":$((NOW + 4)),"campaign":"hall","comment":"k4"}
{"v":1,"type":"comment.posted","id":"r1","at":$NOW,"campaign":"nowhere","comment":"k9","supporter":"sup-gone","text":"Gone-Text-Rejected"}
{"v":1,"type":"comment.posted","id":"r2","at":$NOW,"campaign":"bells","comment":"k8","supporter":"sup-stays","text":"Stays-Text-Rejected"}
JSON
publish <"$work/events.jsonl"
# Not msgpack at all (a map cut short), yet it names the supporter.
printf '\x83\xa9supporter\xa8sup-gone\xa4text\xb1Gone-Text-Broken\xa3' >"$work/broken"
KCAT=$(command -v kcat || command -v kafkacat || true)
[ -n "$KCAT" ] && "$KCAT" -P -b "$ADDR" -t pledges -k hall "$work/broken" 2>/dev/null
wait_metric pledged_log_sequence 10
[ -n "$KCAT" ] && wait_metric 'pledged_events_rejected_total{reason="bad_msgpack"}' 1
answers >"$work/before"
grep -q 'Gone-Text-One' "$work/before" && grep -q 'Gone-Long' "$work/before" && ok ||
	fail "the comments to erase are not in the feed before: $(cat "$work/before")"
curl -s "$ADMIN/v1/rejections" >"$work/rejections.before"
[ "$(grep -o '"erased":false' "$work/rejections.before" | wc -l)" -ge 2 ] && ok ||
	fail "rejections before: $(cat "$work/rejections.before")"

# --- 2. forget, through Kafka, to every partition ---
"$PLEDGED" forget --brokers "$ADDR" --supporter sup-gone --by "ticket 42" \
	>"$work/forget.out" 2>"$work/forget.err" && ok || fail "forget: $(cat "$work/forget.err")"
ID=$(cat "$work/forget.out")
contains "$work/forget.err" "4 delivered" "forget publishes to each of the 4 partitions"
wait_metric 'pledged_events_applied_total{type="supporter.forgotten"}' 4
wait_metric pledged_log_sequence 14
answers >"$work/after"
for c in hall bells; do
	for f in raised pledges supporters; do
		b=$(curl -s "$URL/v1/campaigns/$c" | sed -n "s/.*\"$f\":\\([0-9]*\\).*/\\1/p")
		a=$(grep -m1 "\"id\":\"$c\"" "$work/before" | sed -n "s/.*\"$f\":\\([0-9]*\\).*/\\1/p")
		[ -n "$a" ] && [ "$a" = "$b" ] && ok || fail "$c $f was $a, is $b after the erasure"
	done
done
grep -q '"id":"hall".*"comments":1,' "$work/after" && grep -q '"id":"bells".*"comments":0,' "$work/after" && ok ||
	fail "the erased comments still count: $(cat "$work/after")"
grep -q 'Gone-' "$work/after" && fail "erased text or name still served: $(cat "$work/after")" || ok
contains "$work/after" '"name":"Stays-Name-R","text":"Stays-Text"' "another supporter's comment stays"
curl -s "$ADMIN/v1/rejections" >"$work/rejections.after"
grep -q 'Gone-\|R29uZS' "$work/rejections.after" && fail "a rejection keeps erased bytes" || ok
[ "$(grep -o '"raw":"","erased":true' "$work/rejections.after" | wc -l)" = "$([ -n "$KCAT" ] && echo 2 || echo 1)" ] && ok ||
	fail "rejections naming the supporter are not marked erased: $(cat "$work/rejections.after")"
contains "$work/rejections.after" '"event_id":"r1"' "an erased rejection keeps its event id"
"$PLEDGED" rejections --data "$work/data" | grep '"event_id":"r2"' | grep -q '"erased":false' && ok ||
	fail "another supporter's rejection was erased"
"$PLEDGED" dump --data "$work/data" >"$work/dump"
grep '"type":"supporter.forgotten"' "$work/dump" | grep -q "\"id\":\"$ID\".*\"supporter\":\"sup-gone\",\"by\":\"ticket 42\"" && ok ||
	fail "the erasure is not in the log with who asked: $(grep forgotten "$work/dump")"
[ "$(grep -c '"erased":true' "$work/dump")" = 5 ] && ok ||
	fail "$(grep -c '"erased":true' "$work/dump") log entries marked erased, want 5 (2 pledges, 3 comments)"
grep -q 'Gone-' "$work/dump" && fail "the log keeps erased text" || ok
"$PLEDGED" verify --data "$work/data" >"$work/verify.out" 2>&1 && ok || fail "verify after the erasure: $(cat "$work/verify.out")"
[ "$(metric pledged_erased_records_total)" = "$([ -n "$KCAT" ] && echo 7 || echo 6)" ] && ok ||
	fail "pledged_erased_records_total is $(metric pledged_erased_records_total)"
# The supporter may pledge and comment again; that is new data, kept.
echo "{\"v\":1,\"type\":\"comment.posted\",\"id\":\"c6\",\"at\":$((NOW + 5)),\"campaign\":\"hall\",\"comment\":\"k6\",\"supporter\":\"sup-gone\",\"text\":\"New-Text\"}" | publish
wait_metric pledged_log_sequence 15
curl -s "$URL/v1/campaigns/hall/comments" | grep -q New-Text && ok || fail "a comment after the erasure is not shown"
# An online rebuild replays the log, erasure included: the same answers.
answers >"$work/live"
"$PLEDGED" replay --data "$work/data" >"$work/replay.out" 2>&1 && ok || fail "replay: $(cat "$work/replay.out")"
answers >"$work/rebuilt"
cmp -s "$work/live" "$work/rebuilt" && ok || fail "the rebuilt projections differ: $(diff "$work/live" "$work/rebuilt")"

# --- 3. compact: refused while serve runs, then no byte left ---
"$PLEDGED" compact --data "$work/data" 2>"$work/compact.busy"
[ $? = 3 ] && ok || fail "compact ran beside serve"
contains "$work/compact.busy" "in use" "compact says why it refuses"
stop_serve
for text in Gone-Name-Q Gone-Text-One Gone-Long-Text Gone-Text-Moderated Gone-Text-Rejected Gone-Text-Broken; do
	found "$text" >/dev/null && echo "erasure: before compact, '$text' is still in $(found "$text")"
done
# A reader holds no lock, but LMDB's reader table shows it: refused too.
"$PLEDGED" serve --read-only --data "$work/data" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
	2>"$work/reader.log" &
READER_PID=$!
[ -n "$(serve_port "$work/reader.log")" ] || fail "serve --read-only did not start"
"$PLEDGED" compact --data "$work/data" 2>"$work/compact.busy"
[ $? = 3 ] && ok || fail "compact ran beside a serve --read-only"
contains "$work/compact.busy" "process $READER_PID has data dir" "compact names the reader"
kill -TERM "$READER_PID"
wait "$READER_PID"
READER_PID=
"$PLEDGED" compact --data "$work/data" 2>"$work/compact.err" && ok || fail "compact: $(cat "$work/compact.err")"
for text in Gone-Name-Q Gone-Text-One Gone-Long-Text Gone-Text-Moderated Gone-Text-Rejected Gone-Text-Broken; do
	[ -z "$(found "$text")" ] && ok || fail "'$text' is left in $(found "$text") after compact"
done
for text in Stays-Name-R Stays-Text Stays-Text-Rejected New-Text; do
	[ -n "$(found "$text")" ] && ok || fail "compact lost '$text'"
done
[ ! -e "$work/data/compact.tmp" ] && ok || fail "compact left its copy behind"
"$PLEDGED" verify --data "$work/data" >"$work/verify.out" 2>&1 && ok || fail "verify after compact: $(cat "$work/verify.out")"
start_serve
answers >"$work/compacted"
cmp -s "$work/live" "$work/compacted" && ok || fail "answers changed by compact: $(diff "$work/live" "$work/compacted")"
stop_serve
"$PLEDGED" compact --data "$work/nowhere" 2>/dev/null
[ $? = 3 ] && ok || fail "compact of a missing data dir"

# --- 4. an erasure meets a damaged entry: /healthz says so, and what to do ---
read -r _ start len < <(ASAN_OPTIONS=detect_leaks=0 "$OFFSETS" "$work/data" 2>"$work/offsets.err" | sed -n 3p)
[ -n "$len" ] && ok || fail "log_offsets found no third entry: $(cat "$work/offsets.err")"
off=$((start + len - 1))
b=$(od -An -tu1 -j "$off" -N1 "$work/data/data.mdb" | tr -d ' ')
printf "$(printf '\\%03o' $((b ^ 1)))" | dd of="$work/data/data.mdb" bs=1 seek="$off" conv=notrunc 2>/dev/null
start_serve
"$PLEDGED" forget --brokers "$ADDR" --supporter sup-stays --by "ticket 43" >/dev/null 2>&1 ||
	fail "forget of the second supporter"
for _ in $(seq 300); do
	curl -s "$ADMIN/healthz" >"$work/healthz"
	grep -q "damaged" "$work/healthz" && break
	sleep 0.1
done
contains "$work/healthz" "the data dir is damaged" "/healthz says the data dir is damaged"
contains "$work/healthz" "run 'pledged verify' to name the entry" "/healthz says how to find it"
kill -9 "$SERVE_PID" && wait "$SERVE_PID" 2>/dev/null
SERVE_PID=
"$PLEDGED" verify --data "$work/data" >"$work/verify.out" 2>&1
[ $? = 1 ] && grep -q "log entry 3 " "$work/verify.out" && ok ||
	fail "verify does not name the damaged entry: $(head -3 "$work/verify.out")"
finish
