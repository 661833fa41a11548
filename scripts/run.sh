#!/usr/bin/env bash
# The main job: set up, build, and run a scenario (the quick start by default).
#   scripts/run.sh [SCENARIO.yaml] [cocosim run options...]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scenario="${1:-configs/quickstart.yaml}"
shift || true
exec build/cocosim run "$scenario" "$@"
