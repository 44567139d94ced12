#!/bin/sh
# dlq.sh — the dead-letter topic, read back with kcat, against a mock broker
# process (the Kafka protocol over TCP) and a real `pledged serve`:
# 1. every rejection is produced to --dlq-topic with the original key and
#    value and headers naming the reason, detail, source and event;
# 2. while the topic is unavailable, ingest goes on and /metrics shows the
#    backlog; when it returns, the backlog is delivered, and a rejection
#    whose supporter was forgotten meanwhile goes out erased (its value
#    empty), not as librdkafka held it;
# 3. after a kill -9, every rejection is on the topic at least once, and the
#    mark stored with the batches keeps it from sending everything again;
# 4. with one of the topic's two partitions unavailable, an erasure takes
#    back only what waits (those go out erased), and what the other
#    partition took meanwhile is not sent again: each rejection once;
# 5. after a clean stop, the next start sends nothing again.
# Skipped (77) without kcat or curl.
# Usage: dlq.sh PLEDGED MOCK_BROKER STREAM_GEN
set -u
PLEDGED=$1 MOCK=$2 GEN=$3
KCAT=$(command -v kcat || command -v kafkacat || true)
[ -n "$KCAT" ] && command -v curl >/dev/null || { echo "dlq: kcat or curl missing: skipped"; exit 77; }
work=$(mktemp -d "${TMPDIR:-/tmp}/pledged-dlq-XXXXXX")
MOCK_PID= SERVE_PID=
cleanup() {
	for pid in $SERVE_PID $MOCK_PID; do kill -9 "$pid" 2>/dev/null; done
	exec 3>&- 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
. "$(dirname "$0")/../unit/testlib.sh"
die() { fail "$*"; tail -n 20 "$work/serve.log" >&2; finish; exit 1; }

# The mock broker takes fault commands on a FIFO.
mkfifo "$work/ctl"
"$MOCK" pledges 4 <"$work/ctl" >"$work/addr" &
MOCK_PID=$!
exec 3>"$work/ctl"
for _ in $(seq 50); do [ -s "$work/addr" ] && break; sleep 0.1; done
ADDR=$(cat "$work/addr")
[ -n "$ADDR" ] || die "mock broker did not start"
echo "topic pledged-dlq 2" >&3

starts=0
start_serve() {
	starts=$((starts + 1))
	"$PLEDGED" serve --brokers "$ADDR" --data "$work/data" --listen 127.0.0.1:0 \
		--admin-listen 127.0.0.1:0 --dlq-topic pledged-dlq --batch-ms 10 2>"$work/serve.$starts.log" &
	SERVE_PID=$!
	ADMIN=http://127.0.0.1:$(admin_port "$work/serve.$starts.log")
	cat "$work/serve.$starts.log" >>"$work/serve.log"
}
metric() { curl -s "$ADMIN/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
# wait_metric NAME VALUE: until the metric has that value (30 s at most).
wait_metric() {
	for _ in $(seq 300); do
		[ "$(metric "$1")" = "$2" ] && return 0
		sleep 0.1
	done
	fail "$1 is $(metric "$1"), want $2"
	return 1
}
publish() { "$PLEDGED" publish --brokers "$ADDR" 2>>"$work/publish.log" >/dev/null || die "publish"; }
# The dead-letter topic: "key|headers" lines in $work/dlq, and the
# values (msgpack: they may hold newlines) each after its headers in
# $work/dlq.values.
read_dlq() {
	"$KCAT" -C -b "$ADDR" -t pledged-dlq -o beginning -e -q -f '%k|%h\n' 2>"$work/kcat.err" >"$work/dlq"
	"$KCAT" -C -b "$ADDR" -t pledged-dlq -o beginning -e -q -f '%h|%s\n' 2>>"$work/kcat.err" >"$work/dlq.values"
}
# wait_dlq ID: until the rejection of event ID is on the topic (30 s at most).
wait_dlq() {
	for _ in $(seq 60); do
		read_dlq
		grep -q "pledged.event_id=$1" "$work/dlq" && return 0
		sleep 0.5
	done
	return 1
}

start_serve
cat >"$work/events.jsonl" <<'JSON'
{"v":1,"type":"campaign.opened","id":"open-1","at":1700000000000,"campaign":"c1","title":"T","owner":"o","currency":"EUR"}
{"v":1,"type":"pledge.teleported","id":"bad-type-1","at":1700000000001,"campaign":"c1"}
{"v":1,"type":"pledge.created","id":"bad-currency-1","at":1700000000002,"campaign":"c1","pledge":"p1","supporter":"s1","amount":500,"currency":"GBP"}
{"v":1,"type":"comment.posted","id":"not-backer-1","at":1700000000003,"campaign":"c1","comment":"k1","supporter":"s9","text":"hello"}
JSON
publish <"$work/events.jsonl"
# And bytes that are not msgpack at all, with a key of their own.
printf 'garbage-key@@KEY@@not msgpack at all@@END@@' |
	"$KCAT" -P -b "$ADDR" -t pledges -K '@@KEY@@' -D '@@END@@' 2>"$work/kcat.err" || die "kcat -P"
wait_metric pledged_dlq_delivered_total 4
[ "$(metric pledged_dlq_backlog)" = 0 ] && ok || fail "a backlog after delivery"
read_dlq
[ "$(wc -l <"$work/dlq")" = 4 ] && ok || fail "the topic holds $(wc -l <"$work/dlq") messages, want 4"
contains "$work/dlq" 'c1|pledged.reason=unknown_type,' "an unknown type, keyed by its campaign"
contains "$work/dlq" 'pledged.event_id=bad-type-1' "the event id in the headers"
contains "$work/dlq" 'pledged.reason=currency_mismatch' "a currency mismatch"
contains "$work/dlq" 'pledged.event_type=comment.posted' "the event type in the headers"
contains "$work/dlq" 'pledged.topic=pledges,pledged.partition=' "the source topic and partition"
contains "$work/dlq" 'garbage-key|pledged.reason=bad_msgpack' "raw bytes keep their key"
grep -a 'reason=bad_msgpack,' "$work/dlq.values" | grep -aq '|not msgpack at all$' && ok ||
	fail "raw bytes are not on the topic byte for byte"
grep -a 'event_id=not-backer-1' "$work/dlq.values" | LC_ALL=C grep -aq 'supporter.s9.text.hello$' && ok ||
	fail "the original value is not on the topic"

# 2. The topic goes away: ingest goes on, the backlog shows, then drains.
echo "down pledged-dlq 2" >&3
sleep 1
applied0=$(metric pledged_log_sequence)
for i in 1 2 3 4 5; do
	echo "{\"v\":1,\"type\":\"pledge.teleported\",\"id\":\"down-$i\",\"at\":1700000000010,\"campaign\":\"c1\"}"
	echo "{\"v\":1,\"type\":\"pledge.created\",\"id\":\"good-$i\",\"at\":1700000000011,\"campaign\":\"c1\",\"pledge\":\"pg$i\",\"supporter\":\"s$i\",\"amount\":100,\"currency\":\"EUR\"}"
done | publish
echo '{"v":1,"type":"comment.posted","id":"down-secret","at":1700000000012,"campaign":"c1","comment":"k2","supporter":"s-gone","text":"Secret-Down-Text"}' |
	publish
wait_metric pledged_log_sequence $((applied0 + 5)) && ok
wait_metric pledged_dlq_backlog 6 && ok
[ "$(metric pledged_dlq_delivered_total)" = 4 ] && ok || fail "delivered while the topic was down"
"$PLEDGED" forget --brokers "$ADDR" --supporter s-gone >/dev/null 2>>"$work/publish.log" || die "forget"
wait_metric 'pledged_events_applied_total{type="supporter.forgotten"}' 4 && ok # a copy on each partition
echo "up pledged-dlq 2" >&3
wait_metric pledged_dlq_backlog 0 && ok
read_dlq
[ "$(grep -c 'pledged.event_id=down-[0-9]' "$work/dlq")" -ge 5 ] && ok ||
	fail "the backlog did not reach the topic: $(cat "$work/kcat.err")"
contains "$work/dlq" 'pledged.event_id=down-secret,pledged.event_type=comment.posted,pledged.erased=true' \
	"the rejection forgotten while it waited goes out erased"
grep -aq 'Secret-Down-Text' "$work/dlq.values" && fail "the erased text went to the topic after the erasure"

# 3. kill -9 and restart: nothing missing, and not everything sent again.
kill -9 "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null
printf '{"v":1,"type":"pledge.teleported","id":"after-kill","at":1700000000020,"campaign":"c1"}\n' | publish
start_serve
wait_dlq after-kill && ok || fail "the rejection after the restart is not on the topic"
for id in bad-type-1 bad-currency-1 not-backer-1 down-1 down-5 after-kill; do
	grep -q "pledged.event_id=$id" "$work/dlq" && ok || fail "rejection $id is not on the topic"
done
# At least once: what was delivered since the mark last stored with a
# batch is sent again (here the six of the backlog), not everything.
total=$(wc -l <"$work/dlq")
[ "$total" -ge 11 ] && [ "$total" -le 17 ] && ok ||
	fail "$total messages on the topic for 11 rejections: sent again from the start?"

# 4. Partition 0 of the topic away: rejections keyed to partition 1 go out
# while those before them wait. Six name s-late, on campaigns of their own
# (so on both partitions); the erasure takes back what waits, only that.
echo "down pledged-dlq 1" >&3
sleep 1
for i in $(seq 16); do
	if [ "$i" -le 6 ]; then
		echo "{\"v\":1,\"type\":\"comment.posted\",\"id\":\"once-$i\",\"at\":1700000000030,\"campaign\":\"k$i\",\"comment\":\"once-$i\",\"supporter\":\"s-late\",\"text\":\"Late-Secret\"}"
	else
		echo "{\"v\":1,\"type\":\"pledge.teleported\",\"id\":\"once-$i\",\"at\":1700000000030,\"campaign\":\"k$i\"}"
	fi
done | publish
# (Partition 1 alone: kcat cannot read to the end of one without a leader.)
sent_p1() {
	"$KCAT" -C -b "$ADDR" -t pledged-dlq -p 1 -o beginning -e -q -f '%h\n' 2>>"$work/kcat.err" |
		grep -c 'pledged.event_id=once-'
}
for _ in $(seq 100); do [ "$(sent_p1)" -gt 0 ] && break; sleep 0.1; done
sent=$(sent_p1) queued=$(metric pledged_dlq_backlog)
[ "$sent" -gt 0 ] && [ "$queued" -gt 0 ] && ok ||
	fail "want rejections both waiting and sent: $queued waiting, $sent sent"
"$PLEDGED" forget --brokers "$ADDR" --supporter s-late >/dev/null 2>>"$work/publish.log" || die "forget"
wait_metric 'pledged_events_applied_total{type="supporter.forgotten"}' 4 && ok # counted since the restart
echo "up pledged-dlq 1" >&3
wait_metric pledged_dlq_backlog 0 && ok
read_dlq
for i in $(seq 16); do
	n=$(grep -cE "pledged.event_id=once-$i(,|\$)" "$work/dlq")
	[ "$n" = 1 ] && ok || fail "rejection once-$i is on the topic $n times"
done
LC_ALL=C grep -a 'pledged.event_id=once-' "$work/dlq.values" | grep -aq 'Late-Secret' &&
	[ "$(grep -c 'pledged.event_id=once-[1-6],.*pledged.erased=true' "$work/dlq")" = 0 ] &&
	fail "nothing waiting went out erased, though the erasure came while it waited"
kill -TERM "$SERVE_PID"
wait "$SERVE_PID" && ok || fail "serve stops cleanly"
SERVE_PID=

# 5. A clean stop stores what the topic acknowledged since the last batch:
# the next start sends nothing again.
before=$(wc -l <"$work/dlq")
newest=$("$PLEDGED" rejections --data "$work/data" --limit 1 | sed -n 's/^{"seq":\([0-9]*\),.*/\1/p')
start_serve
for _ in $(seq 100); do
	grep -q 'dlq: forwarding every rejection' "$work/serve.$starts.log" && break
	sleep 0.1
done
contains "$work/serve.$starts.log" "after rejection $newest" "the restart takes up after the last rejection ($newest)"
sleep 1
read_dlq
[ "$(wc -l <"$work/dlq")" = "$before" ] && ok ||
	fail "a clean restart sent $(($(wc -l <"$work/dlq") - before)) rejections again"
kill -TERM "$SERVE_PID"
wait "$SERVE_PID" && ok || fail "serve stops cleanly after the restart"
SERVE_PID=
finish
