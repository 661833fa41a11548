#!/usr/bin/env bash
# Set up, build, and run every test: unit tests, each scenario in configs/,
# and the validator's bad-file cases. ctest prints the summary.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cd build
exec ctest --output-on-failure -j2
