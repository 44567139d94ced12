# mock_broker.sh — starts tests/kafka/mock_broker in a process of its own, for
# the shell tests that must outlive (or kill) serve. Source it, then:
#   start_mock_broker MOCK_BROKER_PROGRAM DIR PARTITIONS
# sets MOCK_PID and ADDR (its bootstrap address), or calls fail.
start_mock_broker() {
	"$1" pledges "$3" >"$2/addr" &
	MOCK_PID=$!
	for _ in $(seq 50); do [ -s "$2/addr" ] && break; sleep 0.1; done
	ADDR=$(cat "$2/addr")
	[ -n "$ADDR" ] || fail "mock broker did not start"
}
