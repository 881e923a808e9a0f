#!/usr/bin/env bash
# Time the README's run command on the embedded default, after installation, from a fresh clone.
# Usage: [CONFIG=config/powered.yaml] bench/time_default_run.sh [CORES] [KEEP_DIR]
#   (writes bench/out/default_run.tsv; not a test). CONFIG is make run's config (default: config.yaml).
# With KEEP_DIR, the run's tables are copied there (e.g. to compare two revisions' tables).
set -euo pipefail
cores=${1:-2}
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git clone -q "$repo" "$work/clone"
cd "$work/clone"
make venv > /dev/null
SECONDS=0
make run CORES="$cores" CONFIG="${CONFIG:-config/config.yaml}" > "$work/run.log" 2>&1
secs=$SECONDS
if [ -n "${2:-}" ]; then mkdir -p "$2" && cp -r results/*/tables "$2/"; fi
mkdir -p "$repo/bench/out"
printf "date\tgit_revision\tconfig\tcores\tnproc\twall_s\n%s\t%s\t%s\t%s\t%s\t%d\n" "$(date -u +%FT%TZ)" "$(git rev-parse HEAD)" "${CONFIG:-config/config.yaml}" "$cores" "$(nproc)" "$secs" | tee "$repo/bench/out/default_run.tsv"
