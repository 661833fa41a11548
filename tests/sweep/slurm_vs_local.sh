#!/bin/sh
# The same sweep through a one-node Slurm cluster on loopback and on the local
# pool gives the same results point for point (all but wall times), then
# `cocosim sweep --collect` after a --no-wait submission assembles the same
# table. Exit 77 (ctest SKIP) only when Slurm cannot start here, saying why.
# usage: slurm_vs_local.sh COCOSIM SCENARIO SLURM_LOCAL_SH WORK
set -u
cocosim=$1 scenario=$2 slurm_local=$3 work=$4
here=$(dirname "$0")
rm -rf "$work" && mkdir -p "$work"
cluster=$(mktemp -d /tmp/cocosim-slurm.XXXXXX)
if ! "$slurm_local" start "$cluster" >"$work/start.log" 2>&1; then
  cat "$work/start.log"
  echo "SKIP: Slurm cannot start on this machine (see above)"
  "$slurm_local" stop "$cluster" >/dev/null 2>&1
  rm -rf "$cluster"
  exit 77
fi
trap '"$slurm_local" stop "$cluster"; rm -rf "$cluster"' EXIT
export SLURM_CONF="$cluster/slurm.conf"
grid="--param platform.tlb.huge_entries=1,4 --param platform.timing.dram=10ns,25ns --arch x86-tdx,arm64-pkvm"
set -e
"$cocosim" sweep "$scenario" $grid --slurm --time 5 --out "$work/slurm" --plot simulated_time_ps
"$cocosim" sweep "$scenario" $grid -j 2 --out "$work/local"
python3 "$here/same_results.py" "$cocosim" "$work/slurm" "$work/local"
grep -q '^#SBATCH --array=0-7$' "$work/slurm/slurm/sweep.sbatch"
test -s "$work/slurm/plots/simulated_time_ps.png"
# --no-wait, two points per array task, then --collect once the job is done.
"$cocosim" sweep "$scenario" $grid --slurm --no-wait --chunk 2 --out "$work/later" >"$work/later.log"
grep -q "cocosim sweep --collect" "$work/later.log"
grep -q '^#SBATCH --array=0-3$' "$work/later/slurm/sweep.sbatch"
job=$(cat "$work/later/slurm/job_id")
for _ in $(seq 300); do
  [ -z "$(squeue -h -j "$job" 2>/dev/null)" ] && break
  sleep 0.2
done
"$cocosim" sweep --collect "$work/later"
python3 "$here/same_results.py" "$cocosim" "$work/later" "$work/local"
