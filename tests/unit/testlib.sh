# testlib.sh — what the shell tests share: counting checks and the closing
# "N passed, N failed" line. Source it after setting $work (a scratch dir).
passed=0
failed=0
ok() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }
# expect STATUS DESCRIPTION -- COMMAND…: runs it, checks the exit status;
# its output is left in $work/out and $work/err.
expect() {
	want=$1; what=$2; shift 3
	"$@" >"$work/out" 2>"$work/err"
	got=$?
	if [ "$got" = "$want" ]; then ok; else fail "$what: exit $got, want $want ($(cat "$work/err"))"; fi
}
contains() { # contains FILE TEXT DESCRIPTION
	if grep -qF -- "$2" "$1"; then ok; else fail "$3: '$2' not in $(cat "$1")"; fi
}
# serve_port LOG: the public HTTP port a serve logging to LOG listens on,
# once it says so ("HTTP on ... (port N)"); empty after 10 s without.
# admin_port LOG: its operators' port ("admin HTTP on ... (port N)").
serve_port() { logged_port "$1" '/admin HTTP on/!s/.*HTTP on .*(port \([0-9]*\)).*/\1/p'; }
admin_port() { logged_port "$1" 's/.*admin HTTP on .*(port \([0-9]*\)).*/\1/p'; }
logged_port() { # logged_port LOG SED_SCRIPT
	port=
	for _ in $(seq 100); do
		port=$(sed -n "$2" "$1" | head -n 1)
		[ -n "$port" ] && break
		sleep 0.1
	done
	echo "$port"
}
# Prints the closing line; the script's exit status follows it.
finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" = 0 ]
}
