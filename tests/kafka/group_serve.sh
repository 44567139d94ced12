# group_serve.sh — starts `pledged serve` as one instance of a consumer group
# on the mock broker, for the shell tests of instances in one group. Source
# it after testlib.sh and mock_broker.sh, with $PLEDGED, $work and a die
# function set, then:
#   start_group_serve NAME GROUP LISTEN [SERVE OPTIONS…]
# runs serve on data dir $work/NAME, logging to $work/NAME.log, its public
# listener on LISTEN (127.0.0.1:0: a free port), its operators' on a free
# port, with short batches and a 6 s session (a lost instance is noticed
# quickly), and sets NAME_PID, NAME_URL and NAME_ADMIN.
start_group_serve() {
	local name=$1 group=$2 listen=$3
	shift 3
	"$PLEDGED" serve --brokers "$ADDR" --group "$group" --data "$work/$name" --listen "$listen" \
		--admin-listen 127.0.0.1:0 --batch-ms 10 --kafka session.timeout.ms=6000 \
		--kafka heartbeat.interval.ms=500 "$@" 2>"$work/$name.log" &
	eval "${name}_PID=$!"
	local port admin
	port=$(serve_port "$work/$name.log")
	admin=$(admin_port "$work/$name.log")
	[ -n "$port" ] && [ -n "$admin" ] || die "serve $name did not start"
	eval "${name}_URL=http://127.0.0.1:$port ${name}_ADMIN=http://127.0.0.1:$admin"
}
