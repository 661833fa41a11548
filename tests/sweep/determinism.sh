#!/bin/sh
# Determinism: the same scenario and overrides give the same simulated results
# on every run. Two local sweeps of the same grid (one point at a time, then
# two at once) into different directories must agree point for point in
# results.csv (all but wall times) and in every stats file (cocosim diff).
# usage: determinism.sh COCOSIM SCENARIO WORK
set -eu
cocosim=$1 scenario=$2 work=$3
here=$(dirname "$0")
rm -rf "$work" && mkdir -p "$work"
grid="--param platform.tlb.huge_entries=1,2,4 --param platform.timing.dram=10ns,25ns --arch x86-tdx,arm64-pkvm"
"$cocosim" sweep "$scenario" $grid -j 1 --out "$work/a" >"$work/a.log" 2>&1 || { cat "$work/a.log"; exit 1; }
"$cocosim" sweep "$scenario" $grid -j 2 --out "$work/b" >"$work/b.log" 2>&1 || { cat "$work/b.log"; exit 1; }
python3 "$here/same_results.py" "$cocosim" "$work/a" "$work/b"
