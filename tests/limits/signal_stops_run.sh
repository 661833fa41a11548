#!/bin/sh
# A signal ends a run as a limit does: SIGTERM mid-run exits 143 after the
# summary, with the stats JSON complete (and no temporary file left).
# usage: signal_stops_run.sh COCOSIM SCENARIO WORKDIR
set -u
cocosim=$1 scenario=$2 work=$3
stats=$work/signal-stats.json out=$work/signal-out.txt
rm -f "$stats" "$out"
"$cocosim" run "$scenario" --stats "$stats" --timeout 0 --max-sim-time 0 >"$out" 2>&1 &
pid=$!
# Wait until the guest runs (the banner is printed before the run starts).
i=0
while [ $i -lt 100 ] && ! grep -q "on x86-tdx" "$out" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
sleep 0.5
kill -TERM $pid
wait $pid
rc=$?
cat "$out"
[ $rc -eq 143 ] || { echo "FAIL: exit $rc, expected 143"; exit 1; }
grep -q "stopped by SIGTERM at step 5 (KVM_RUN)" "$out" || { echo "FAIL: no stop message"; exit 1; }
grep -q "steps, .* expectations passed, .* failed" "$out" || { echo "FAIL: no summary line"; exit 1; }
[ -s "$stats" ] || { echo "FAIL: no stats file"; exit 1; }
tail -c 3 "$stats" | grep -q "}" || { echo "FAIL: stats JSON cut short"; exit 1; }
grep -q '"counters"' "$stats" || { echo "FAIL: stats JSON without counters"; exit 1; }
ls "$work" | grep -q "signal-stats.json.tmp" && { echo "FAIL: temporary file left"; exit 1; }
echo "ok: exit 143, summary and complete stats"
