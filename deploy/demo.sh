#!/bin/sh
# demo.sh — build pledged, start it on its embedded Kafka broker, publish the
# demo campaign through Kafka, and leave it serving on http://127.0.0.1:8080/
# until Ctrl-C.
#
# Usage: deploy/demo.sh [--fresh] [DATA_DIR]   (default data dir: demo-data)
# An existing data dir is kept and used again: publishing the demo once more
# changes nothing, since events already applied are recognised by their id.
# --fresh deletes the data dir first (only one that holds pledged data).
# LISTEN and ADMIN_LISTEN move the public and the operators' HTTP (default
# 127.0.0.1:8080 and 127.0.0.1:8081), e.g. LISTEN=127.0.0.1:9080
# ADMIN_LISTEN=127.0.0.1:9081 deploy/demo.sh.
set -eu
cd "$(dirname "$0")/.."
fresh=no
[ "${1:-}" = --fresh ] && { fresh=yes; shift; }
DATA=${1:-demo-data}
LISTEN=${LISTEN:-127.0.0.1:8080}
ADMIN_LISTEN=${ADMIN_LISTEN:-127.0.0.1:8081}

say() { echo "demo: $*"; }
if [ ! -d build ]; then
	say "configuring the build in build/ (meson)"
	meson setup build >/dev/null
fi
say "building pledged (ninja; the first build takes a minute)"
ninja -C build pledged >/dev/null

if [ -e "$DATA" ]; then
	if [ "$fresh" = yes ]; then
		if [ -f "$DATA/data.mdb" ] || [ -z "$(ls -A "$DATA")" ]; then
			say "--fresh: deleting the data dir $DATA"
			rm -rf "$DATA"
		else
			say "--fresh: $DATA does not look like a pledged data dir; not deleting it" >&2
			exit 2
		fi
	else
		say "using the existing data dir $DATA (deploy/demo.sh --fresh starts over)"
	fi
fi

# The embedded broker writes its address once it listens. A file left by a
# serve that was killed would point nowhere: wait for this serve's.
rm -f "$DATA/broker.address"
say "starting pledged serve on $LISTEN (operators: $ADMIN_LISTEN) with its embedded Kafka broker"
./build/pledged serve --data "$DATA" --listen "$LISTEN" --admin-listen "$ADMIN_LISTEN" &
serve=$!
trap 'kill $serve 2>/dev/null; wait $serve 2>/dev/null' EXIT INT TERM
for _ in $(seq 100); do
	[ -s "$DATA/broker.address" ] && break
	kill -0 $serve || exit 1
	sleep 0.1
done
say "publishing tests/demo/campaign.jsonl through Kafka"
./build/pledged publish --data "$DATA" < tests/demo/campaign.jsonl
say "published: open http://$LISTEN/ (Ctrl-C stops pledged)"
wait $serve
