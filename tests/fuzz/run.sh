#!/bin/sh
# run.sh — build the libFuzzer targets with clang and run each for a while.
# Usage: tests/fuzz/run.sh [SECONDS_PER_TARGET]   (default 60; CI uses 30,
# the long mode is e.g. 14400 for four hours). New inputs that add coverage
# are kept in a scratch corpus under the build dir; a crash leaves its input
# as crash-* in the build dir: copy it into tests/fuzz/corpus/<target>/ so
# it becomes a regression test, then fix the bug.
set -eu
cd "$(dirname "$0")/../.."
SECONDS_EACH=${1:-60}
BUILD=build-fuzz
if [ ! -d "$BUILD" ]; then
	CC=clang meson setup "$BUILD" -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false \
		-Dc_args=-fsanitize=fuzzer-no-link --buildtype=debugoptimized >/dev/null
fi
ninja -C "$BUILD" >/dev/null
failed=0
passed=0
for target in fuzz_decode fuzz_json_lines fuzz_http_query; do
	work="$BUILD/fuzz-corpus/$target"
	mkdir -p "$work"
	echo "fuzzing $target for ${SECONDS_EACH}s"
	if (cd "$BUILD" && "./tests/fuzz/$target" -max_total_time="$SECONDS_EACH" -max_len=20000 \
		-print_final_stats=1 "fuzz-corpus/$target" "../tests/fuzz/corpus/$target") \
		>"$BUILD/$target.log" 2>&1; then
		passed=$((passed + 1))
		grep -E "stat::number_of_executed_units|stat::new_units_added" "$BUILD/$target.log" || true
	else
		failed=$((failed + 1))
		tail -40 "$BUILD/$target.log"
	fi
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
