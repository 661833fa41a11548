#!/usr/bin/env bash
# Set up, build, and run every test: unit tests, each scenario in configs/,
# the validator's bad-file cases and the oracle's batch (ctest prints the
# summary). Then the hardening stages (docs/hardening.md), in build-sanitize/
# with clang: the same test suite under AddressSanitizer + UBSan, and each
# libFuzzer target for FUZZ_SECONDS (default 20). Every stage runs; the exit
# status is non-zero when any of them failed.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
rc=0
(cd build && ctest --output-on-failure -j2) || rc=1

echo "== the test suite under AddressSanitizer + UBSan (build-sanitize/, clang)"
generator=()
[ -f build-sanitize/CMakeCache.txt ] || generator=(-G Ninja)
# -O1 keeps the suite fast with sanitizers; line tables name the places in reports.
cmake -S . -B build-sanitize "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
  -DCOCOSIM_SANITIZE=ON -DCOCOSIM_FUZZ=ON >/dev/null
cmake --build build-sanitize -j2
# halt_on_error/print_stacktrace: the first report fails the test, with its stack.
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
# A leak inside Unicorn itself (scripts/lsan.supp says which); any other still fails.
export LSAN_OPTIONS=suppressions=$PWD/scripts/lsan.supp
(cd build-sanitize && ctest --output-on-failure -j2) || rc=1

echo "== fuzzing (scripts/fuzz.sh)"
scripts/fuzz.sh "${FUZZ_SECONDS:-20}" || rc=1
exit $rc
