#!/usr/bin/env bash
# Runs the libFuzzer targets of build-sanitize/ (configured and built by
# scripts/test.sh) for SECONDS each (default 20), with their dictionary and
# seed corpus; exits non-zero when one finds a crash, leaving the input in
# build-sanitize/fuzz/artifacts/. Long campaigns: docs/hardening.md.
#   scripts/fuzz.sh [SECONDS] [TARGET...]   (targets: fuzz_scenario fuzz_int_expr fuzz_runner fuzz_gdb_protocol)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(fuzz_scenario fuzz_int_expr fuzz_runner fuzz_gdb_protocol)
B=build-sanitize/fuzz
rc=0
for t in "${targets[@]}"; do
  case $t in
    fuzz_int_expr) dict=$B/int_expr.dict seeds=fuzz/seeds/int_expr ;;
    fuzz_scenario) dict=$B/scenario.dict seeds=configs ;;
    # Packets as gdb sends them: no dictionary, the seeds carry the vocabulary.
    fuzz_gdb_protocol) dict= seeds=fuzz/seeds/gdb ;;
    fuzz_runner)
      # configs/ and small random valid scenarios from the oracle, which
      # mutate into other valid ones more often than the long configs do.
      dict=$B/scenario.dict seeds=$B/seeds/oracle
      mkdir -p "$seeds"
      for s in $(seq 1 40); do build-sanitize/cocosim_oracle --print "$s" >"$seeds/seed-$s.yaml"; done
      cp configs/*.yaml "$seeds/" ;;
    *) echo "fuzz.sh: unknown target '$t'" >&2; exit 2 ;;
  esac
  [ -x "$B/$t" ] || { echo "fuzz.sh: $B/$t is not built (run scripts/test.sh first)" >&2; exit 2; }
  mkdir -p "$B/corpus/$t" "$B/artifacts"
  # -timeout: an input slower than this is reported as a hang (a crash);
  # new inputs go to corpus/$t, the seeds in $seeds are only read.
  if "$B/$t" -max_total_time="$seconds" -timeout=25 ${dict:+-dict="$dict"} -print_final_stats=1 \
      -artifact_prefix="$B/artifacts/$t-" "$B/corpus/$t" "$seeds" >"$B/$t.log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$B/$t.log")
    echo "fuzz: $t: ${runs:-?} inputs in ${seconds}s, no crash (corpus: $(ls "$B/corpus/$t" | wc -l) files)"
    grep '^fuzz_runner: ' "$B/$t.log" || true
  else
    echo "fuzz: $t FOUND A CRASH; the end of $B/$t.log:"
    tail -n 60 "$B/$t.log"
    rc=1
  fi
done
exit $rc
