#!/bin/sh
# run.sh — build pledged with warnings as errors under AddressSanitizer and
# UBSan and with crash points, run the test suites, then run each libFuzzer target for
# FUZZ_SECONDS (default 30; 0 skips them) and the damage test on that
# clang build, and the threaded unit tests under ThreadSanitizer, and end with
# "N passed, N failed, N skipped" counted over the test programs, the fuzz
# targets and that damage test. Each test's result is printed as it finishes.
#
# Usage: tests/run.sh [--suite NAME]... [other `meson test` arguments]
# With --suite (unit, kafka, http, bench, fuzz) only those suites run, the
# timed fuzzing only when one of them is fuzz, and ThreadSanitizer's only
# when one is unit.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD_DIR:-build-test}
suites=
prev=
for arg in "$@"; do
	case $arg in --suite=*) suites="$suites ${arg#--suite=}" ;; esac
	[ "$prev" = --suite ] && suites="$suites $arg"
	prev=$arg
done
case " $suites " in "  " | *" fuzz "*) fuzz=yes ;; *) fuzz=no ;; esac

# Undefined behaviour fails the test that meets it, rather than being printed.
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"

# Crash points are compiled into this build only (see base/crash_point.h).
OPTIONS="-Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false -Dcrash_points=true"
if [ ! -d "$BUILD" ]; then
	echo "run.sh: configuring $BUILD (ASan, UBSan, warnings as errors, crash points)"
	# shellcheck disable=SC2086
	meson setup "$BUILD" $OPTIONS --buildtype=debugoptimized >/dev/null ||
		{ echo "0 passed, 1 failed"; exit 1; }
else
	# shellcheck disable=SC2086
	meson setup --reconfigure "$BUILD" $OPTIONS >/dev/null || { echo "0 passed, 1 failed"; exit 1; }
fi
echo "run.sh: building"
ninja -C "$BUILD" >"$BUILD/build-output.txt" 2>&1 || {
	cat "$BUILD/build-output.txt"
	echo "0 passed, 1 failed"
	exit 1
}
echo "run.sh: testing"
{
	meson test -C "$BUILD" --print-errorlogs "$@"
	echo $? >"$BUILD/test-status"
} 2>&1 | tee "$BUILD/test-output.txt"
# meson's summary: "Ok: N", "Fail: N", "Timeout: N", "Unexpected Pass: N", "Skipped: N".
count() { awk -F: -v k="$1" '$1 == k { n += $2 } END { print n + 0 }' "$BUILD/test-output.txt"; }
ok=$(count "Ok")
bad=$(( $(count "Fail") + $(count "Timeout") + $(count "Unexpected Pass") ))
skipped=$(count "Skipped")
[ "$(cat "$BUILD/test-status")" = 0 ] || [ "$bad" -gt 0 ] || bad=1

FUZZ_SECONDS=${FUZZ_SECONDS:-30}
if [ "$fuzz" = yes ] && [ "$FUZZ_SECONDS" -gt 0 ] && command -v clang >/dev/null; then
	echo "run.sh: fuzzing each target for ${FUZZ_SECONDS}s"
	./tests/fuzz/run.sh "$FUZZ_SECONDS" 2>&1 | tee "$BUILD/fuzz-output.txt"
	fuzz_line=$(tail -n 1 "$BUILD/fuzz-output.txt")
	case $fuzz_line in
	*" passed, "*" failed")
		ok=$((ok + ${fuzz_line%% passed*}))
		fuzz_failed=${fuzz_line#*passed, }
		bad=$((bad + ${fuzz_failed%% failed*})) ;;
	*) bad=$((bad + 1)) ;;
	esac
	# clang links its AddressSanitizer runtime into the program, between
	# LMDB and libc: a crash LMDB causes must still read as damage there
	# (daemon/damage_exit.c). The damage test once more, on that build.
	echo "run.sh: damaged data dirs, on the clang build"
	# build-fuzz: where tests/fuzz/run.sh builds.
	./tests/unit/test_damage.sh build-fuzz/pledged build-fuzz/tests/unit/log_offsets \
		tests/demo/campaign.jsonl 10 >"$BUILD/damage-clang.txt" 2>&1
	case $? in
	0) ok=$((ok + 1)); tail -n 1 "$BUILD/damage-clang.txt" ;;
	77) skipped=$((skipped + 1)); tail -n 1 "$BUILD/damage-clang.txt" ;;
	*) bad=$((bad + 1)); tail -n 40 "$BUILD/damage-clang.txt" ;;
	esac
fi
# The threads that share a slot's state index (the writer, the upkeep) and
# the consumer's hand-over to the writer, under ThreadSanitizer, in a build
# of their own; counted as one test each.
case " $suites " in "  " | *" unit "*) tsan=yes ;; *) tsan=no ;; esac
TSAN_BUILD=${TSAN_BUILD_DIR:-build-tsan}
TSAN_TESTS="test_upkeep_thread test_batch_writer"
if [ "$tsan" = yes ]; then
	echo "run.sh: $TSAN_TESTS under ThreadSanitizer"
	[ -d "$TSAN_BUILD" ] || meson setup "$TSAN_BUILD" -Db_sanitize=thread -Db_lundef=false \
		--buildtype=debugoptimized >/dev/null
	# ASLR off where allowed: TSan's shadow memory wants the layout it knows.
	norandom=
	setarch "$(uname -m)" -R true 2>/dev/null && norandom="setarch $(uname -m) -R"
	for t in $TSAN_TESTS; do
		if ninja -C "$TSAN_BUILD" "tests/unit/$t" >"$TSAN_BUILD/$t.txt" 2>&1 &&
			TSAN_OPTIONS="halt_on_error=1 exitcode=66" $norandom "$TSAN_BUILD/tests/unit/$t" \
				>>"$TSAN_BUILD/$t.txt" 2>&1; then
			ok=$((ok + 1))
			echo "tsan $t: ok"
		else
			bad=$((bad + 1))
			tail -n 40 "$TSAN_BUILD/$t.txt"
			echo "tsan $t: FAIL"
		fi
	done
fi
echo "$ok passed, $bad failed, $skipped skipped"
[ "$bad" = 0 ]
