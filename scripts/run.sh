#!/usr/bin/env bash
# The main job: set up, build, and run a scenario (the quick start by default).
#   scripts/run.sh [SCENARIO.yaml] [cocosim run options...]
# SCENARIO and paths in the options (--stats PATH) are taken from the directory
# the command is typed in, as for any command; only the build happens in the
# repository.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
(cd "$repo" && scripts/setup.sh)
scenario="${1:-$repo/configs/quickstart.yaml}"
shift || true
exec "$repo/build/cocosim" run "$scenario" "$@"
