#!/bin/sh
# test_rules_model.sh — pledged against a model of docs/events.md written
# apart from it (rules_model.py): seeded random streams aimed at every rule
# and edge (rules_streams.py) imported, each line's outcome, the campaigns,
# points in time, the comment feeds, the totals and the erasures compared.
# Usage: test_rules_model.sh PLEDGED; RULES_SEEDS="1 2 3" picks the seeds.
set -u
PLEDGED=$1
command -v python3 >/dev/null || { echo "test_rules_model: python3 missing: skipped"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# shellcheck disable=SC2086 # one argument per seed
python3 "$(dirname "$0")/rules_streams.py" "$PLEDGED" "$work" ${RULES_SEEDS:-$(seq 1 20)}
