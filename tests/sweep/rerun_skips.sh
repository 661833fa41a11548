#!/bin/sh
# A re-run into the same directory runs only the points whose inputs changed:
# none when nothing changed (manifests untouched), the new value's when a
# value is added, all of them when the scenario's bytes change.
# usage: rerun_skips.sh COCOSIM SCENARIO WORK
set -eu
cocosim=$1 scenario=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
cp "$scenario" "$work/s.yaml"
expect() {  # expect TEXT LOG
  grep -qF -- "$1" "$2" || { echo "expected '$1' in:"; cat "$2"; exit 1; }
}
"$cocosim" sweep "$work/s.yaml" --param platform.tlb.entries=16,64 --out "$work/o" >"$work/1.log" 2>&1
expect "2 points of $work/s.yaml, 2 to run" "$work/1.log"
before=$(ls -l --time-style=full-iso "$work"/o/points/*/manifest.json)
"$cocosim" sweep "$work/s.yaml" --param platform.tlb.entries=16,64 --out "$work/o" >"$work/2.log" 2>&1
expect "2 points of $work/s.yaml, 0 to run, 2 unchanged since the last run" "$work/2.log"
after=$(ls -l --time-style=full-iso "$work"/o/points/*/manifest.json)
[ "$before" = "$after" ] || { echo "manifests were rewritten by a run that ran nothing"; exit 1; }
"$cocosim" sweep "$work/s.yaml" --param platform.tlb.entries=16,64,256 --out "$work/o" >"$work/3.log" 2>&1
expect "3 points of $work/s.yaml, 1 to run, 2 unchanged" "$work/3.log"
[ "$(wc -l <"$work/o/results.csv")" -eq 4 ] || { echo "results.csv should have 3 rows"; cat "$work/o/results.csv"; exit 1; }
echo "# changed" >>"$work/s.yaml"
"$cocosim" sweep "$work/s.yaml" --param platform.tlb.entries=16,64,256 --out "$work/o" >"$work/4.log" 2>&1
expect "3 points of $work/s.yaml, 3 to run" "$work/4.log"
echo "re-runs skipped exactly the unchanged points"
