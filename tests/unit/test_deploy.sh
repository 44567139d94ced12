#!/bin/sh
# test_deploy.sh — what of deploy/ can be checked without a container engine:
# the systemd unit (systemd-analyze verify, against the built binary; its
# dynamic user given the configuration by systemd), the example
# configuration through `serve --check-config`, clear refusals of bad
# configuration files, and the container's health check against a serve
# that requires a token.
# Usage: test_deploy.sh PLEDGED DEPLOY_DIR
set -u
PLEDGED=$(realpath "$1")
DEPLOY=$2
work=$(mktemp -d)
serve=
trap '[ -n "$serve" ] && kill "$serve" 2>/dev/null; rm -rf "$work"' EXIT
. "$(dirname "$0")/testlib.sh"

if command -v systemd-analyze >/dev/null; then
	# verify wants ExecStart to exist: point it at the binary under test.
	sed "s|/usr/local/bin/pledged|$PLEDGED|" "$DEPLOY/pledged.service" >"$work/pledged.service"
	if systemd-analyze verify "$work/pledged.service" >"$work/verify.log" 2>&1; then ok; else
		fail "systemd-analyze verify: $(cat "$work/verify.log")"; fi
	for opt in DynamicUser=yes StateDirectory=pledged ProtectSystem=strict NoNewPrivileges=yes \
		LoadCredential=pledged.conf:/etc/pledged/pledged.conf \
		"ExecStart=/usr/local/bin/pledged serve --config %d/pledged.conf"; do
		grep -qx "$opt" "$DEPLOY/pledged.service" && ok || fail "unit lacks $opt"
	done
else
	echo "systemd-analyze not installed: unit not verified"
fi

if "$PLEDGED" serve --config "$DEPLOY/pledged.conf.example" --check-config >"$work/out" 2>&1; then ok; else
	fail "example config refused: $(cat "$work/out")"; fi
grep -q "^configuration OK" "$work/out" && ok || fail "check-config says OK"
grep -q "^kafka.sasl.password = (hidden)" "$work/out" && ok || fail "secrets are not printed"
# Flags override the file.
"$PLEDGED" serve --config "$DEPLOY/pledged.conf.example" --topic other --check-config >"$work/out" 2>&1
grep -q "^topic = other" "$work/out" && ok || fail "a flag overrides the file"

check_refused() { # description, file text, expected part of the message
	printf '%s\n' "$2" >"$work/bad.conf"
	"$PLEDGED" serve --config "$work/bad.conf" --check-config >"$work/out" 2>&1
	status=$?
	[ "$status" = 2 ] && ok || fail "$1: exit $status, want 2"
	grep -qF -- "$3" "$work/out" && ok || fail "$1: '$3' not in $(cat "$work/out")"
}
check_refused "unknown key" "topic = t
bogus = 1" "line 2: unknown setting 'bogus'"
check_refused "bad value" "batch_ms = soon" "line 1: 'batch_ms' wants a number"
check_refused "owned property" "kafka.enable.auto.commit = true" "set by pledged itself"
check_refused "librdkafka's unknown property" "kafka.bogus.prop = 1" "No such configuration property"
# What librdkafka checks only as it makes a client: a throwaway consumer.
check_refused "fetch smaller than a message" "kafka.fetch.max.bytes = 1000" \
	"librdkafka would not make the consumer: \`fetch.max.bytes\` must be >= \`message.max.bytes\`"
# The same for the dead-letter producer, which takes the --kafka settings too.
check_refused "a setting the dead-letter producer refuses" "dlq_topic = dead
kafka.max.in.flight.requests.per.connection = 10" \
	"librdkafka would not make the dead-letter producer: \`max.in.flight\` must be set <= 5"
check_refused "an unknown SASL mechanism" "kafka.security.protocol = SASL_PLAINTEXT
kafka.sasl.mechanisms = NOPE" "Unsupported SASL mechanism: NOPE"
check_refused "bad listen" "listen = nowhere" "is not HOST:PORT"
check_refused "bad admin listen" "admin_listen = 8081" "admin_listen '8081' is not HOST:PORT"
check_refused "one port for both" "listen = 127.0.0.1:9000
admin_listen = 127.0.0.1:9000" "needs an address of its own"
check_refused "missing token file" "admin_token_file = $work/nope" "cannot open admin_token_file"
printf 'short\n' >"$work/short.token"
check_refused "short token" "admin_token_file = $work/short.token" "the token wants 16..1024 characters"
printf 'has a space in it, 30 chars\n' >"$work/space.token"
check_refused "token with spaces" "admin_token_file = $work/space.token" "visible ASCII characters, no spaces"
printf '0123456789abcdef0123456789abcdef\n' >"$work/good.token"
chmod 0400 "$work/good.token"
"$PLEDGED" serve --admin-token-file "$work/good.token" --check-config >"$work/out" 2>&1
grep -qx "admin_token_file = $work/good.token" "$work/out" && ok || fail "a good token file: $(cat "$work/out")"
grep -q 0123456789abcdef "$work/out" && fail "check-config prints the token" || ok
grep -q "other users" "$work/out" && fail "a token file of mode 0400 is warned of" || ok
# A token others may read is taken, as a Docker secret (0444) must be, but said.
chmod 0644 "$work/good.token"
"$PLEDGED" serve --admin-token-file "$work/good.token" --check-config >"$work/out" 2>&1
grep -q "admin_token_file '$work/good.token' is open to other users (mode 0644)" "$work/out" &&
	ok || fail "a token file others may read is not warned of: $(cat "$work/out")"
chmod 0400 "$work/good.token"
grep -qx "admin_listen = 127.0.0.1:8081" "$work/out" && ok || fail "admin_listen defaults to 127.0.0.1:8081"
"$PLEDGED" serve --config "$work/missing.conf" --check-config >"$work/out" 2>&1
[ $? = 2 ] && grep -q "cannot open config file" "$work/out" && ok || fail "a missing config file is refused"

# The container's health check, against a serve whose operators' listener
# wants a token: with it, 0; without it (a 401), or on /healthz of a
# read-only serve (503), 1.
if command -v bash >/dev/null; then
	"$PLEDGED" import --data "$work/d" </dev/null >/dev/null 2>&1
	"$PLEDGED" serve --read-only --data "$work/d" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
		--admin-token-file "$work/good.token" 2>"$work/serve.log" &
	serve=$!
	admin_port "$work/serve.log"
	check() { # check WANT DESCRIPTION ENV...
		want=$1 what=$2
		shift 2
		env PLEDGED_ADMIN_PORT="$port" "$@" bash "$DEPLOY/healthcheck.sh"
		got=$?
		[ "$got" = "$want" ] && ok || fail "healthcheck $what: exit $got, want $want"
	}
	check 0 "with the token" PLEDGED_ADMIN_TOKEN_FILE="$work/good.token" PLEDGED_HEALTH_PATH=/readyz
	printf '0123456789abcdef0123456789abcdef\r\n' >"$work/crlf.token"
	check 0 "with the token in a file with CRLF" PLEDGED_ADMIN_TOKEN_FILE="$work/crlf.token" \
		PLEDGED_HEALTH_PATH=/readyz
	check 1 "without the token" PLEDGED_ADMIN_TOKEN_FILE="$work/none" PLEDGED_HEALTH_PATH=/readyz
	check 1 "of /healthz on a read-only serve" PLEDGED_ADMIN_TOKEN_FILE="$work/good.token"
	kill "$serve" && wait "$serve" 2>/dev/null
	serve=
	check 1 "with nothing listening" PLEDGED_ADMIN_TOKEN_FILE="$work/good.token"
fi

finish
