#!/bin/sh
# Times `gradscope demo` (every lesson) and a 27-setup sweep (act x init x residual, depth 20,
# width 64, 500 steps) with -j 2. A benchmark, not a test: prints seconds.
# Usage: bench/bench_demo.sh [path/to/gradscope]   (default: build/gradscope)
set -eu
GS=${1:-build/gradscope}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/gs-bench-XXXXXX")
trap 'rm -rf "$TMP"' EXIT
now() { date +%s.%N; }

t0=$(now)
"$GS" demo -j 2 -q --out "$TMP/demo"
t1=$(now)
echo "demo (all lessons, -j 2): $(awk "BEGIN { printf \"%.2f\", $t1 - $t0 }") s"

t0=$(now)
"$GS" sweep -j 2 -q --out "$TMP/sweep" --depth 20 --width 64 --steps 500 \
    --vary act=sigmoid,tanh,relu --vary init=standard,xavier_normal,he_normal \
    --vary residual=0,2
t1=$(now)
echo "sweep 3x3x3 (depth 20, width 64, 500 steps, -j 2): $(awk "BEGIN { printf \"%.2f\", $t1 - $t0 }") s"
