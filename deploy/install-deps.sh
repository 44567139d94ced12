#!/bin/sh
# install-deps.sh — install what pledged needs to build, run and test on
# Debian 12, from Debian's own packages. Needs root (or sudo).
set -eu
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive

# Build: compiler, meson, and the libraries the design fixes.
BUILD="gcc meson ninja-build pkg-config libevent-dev librdkafka-dev liblmdb-dev
  libmsgpack-dev libjansson-dev libutf8proc-dev libxxhash-dev"
# Tests: LMDB tools to tamper with a data dir, kcat for Kafka interoperability,
# clang and its runtime for the libFuzzer targets, Chromium for the web page,
# strace to hold a command mid-way.
TEST="lmdb-utils kcat clang libclang-rt-14-dev chromium curl jq strace"
# Optional: systemd-analyze to check the unit file, and the benchmarks'
# baselines and load generator (nginx; PostgreSQL and the Python consumer
# that tests/bench/peer runs as the design a team would otherwise build).
# Their tests skip themselves without them, and nginx's package starts a
# service on port 80, which may fail on a busy host.
OPTIONAL="systemd nginx-light wrk postgresql-15 python3-confluent-kafka python3-psycopg2
  python3-msgpack"

$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $BUILD $TEST
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $OPTIONAL ||
	echo "install-deps: optional packages ($OPTIONAL) not installed; their tests will be skipped" >&2
# playwright-core drives Debian's Chromium for the live page test (it
# downloads no browser). From the npm registry, pinned.
# It needs Node.js 20 or later with npm (Debian 12's own is 18).
if command -v npm >/dev/null; then
	npm install --no-save --no-audit --no-fund --prefix "$(dirname "$0")/../tests/http" \
		playwright-core@1.65.1 ||
		echo "install-deps: playwright-core not installed; the live page test will be skipped" >&2
else
	echo "install-deps: no npm (Node.js 20 or later): playwright-core not installed, the live page tests will be skipped" >&2
fi
