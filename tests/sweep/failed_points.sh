#!/bin/sh
# A point that fails or is stopped by its --timeout is a row with its verdict,
# never a lost sweep: the sweep finishes, writes every row and exits 1.
# usage: failed_points.sh COCOSIM SOURCE_DIR WORK
set -u
cocosim=$1 src=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
fail() { echo "$*"; cat "$work"/*.log "$work"/*/results.csv 2>/dev/null; exit 1; }

# thp=false leaves 4 KiB leaves where the scenario expects a 2 MiB one: failed.
"$cocosim" sweep "$src/configs/tlb-huge-entries.yaml" --param platform.thp=true,false -j 2 \
  --out "$work/f" --plot simulated_time_ps >"$work/f.log" 2>&1
[ $? -eq 1 ] || fail "a sweep with a failed point must exit 1"
grep -q "2 points, 1 passed, 1 did not" "$work/f.log" || fail "summary"
grep -q ",true,x86-tdx,0,passed,0," "$work/f/results.csv" || fail "the passing row"
grep -q ",false,x86-tdx,0,failed,1," "$work/f/results.csv" || fail "the failed row"
test -s "$work/f/plots/simulated_time_ps.png" || fail "the plot of the point that passed"

# A guest that never stops, under --timeout 300ms: stopped, exit 3, with its stats.
"$cocosim" sweep "$src/tests/limits/runaway-guest.yaml" --param platform.tlb.entries=16,64 \
  --timeout 300ms -j 2 --out "$work/t" >"$work/t.log" 2>&1
[ $? -eq 1 ] || fail "a sweep with timed-out points must exit 1"
[ "$(grep -c ',stopped by --timeout 300ms,3,' "$work/t/results.csv")" -eq 2 ] || fail "two timed-out rows"
echo "failed and timed-out points are rows with their verdicts"
