#!/usr/bin/env bash
# Installs what cocosim needs from Debian (only what is missing), then
# configures a Release build in build/ and builds it with -j2.
# Used by the README's two commands and by CI; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libsystemc-dev      # SystemC 2.3.4 with TLM-2.0 (built for C++17)
  libyaml-dev         # scenario files (libyaml's parser)
  doctest-dev         # unit tests
  libssl-dev          # AES-XTS, SHA-3 and SHA-384 (the memory encryption engine, MRTD)
  python3             # tests: stats files must pass python3 -m json.tool
  python3-cryptography  # tests: the engine's ciphertext recomputed outside cocosim (tools/mee)
  clang               # scripts/test.sh: the sanitizer and fuzzing build (build-sanitize/)
  libfuzzer-14-dev    # libFuzzer for clang 14 (fuzz/)
  slurm-wlm           # cocosim sweep --slurm, and its test's one-node cluster (scripts/slurm-local.sh)
  munge               # Slurm's authentication, a private munged per test cluster
  gnuplot-nox         # cocosim sweep --plot: PNG and SVG plots of results.csv
  gtkwave             # tests: vcd2fst reads every VCD the suite writes; viewing --vcd output
  xvfb                # scripts/gtkwave-screenshot.sh: GTKWave headless (xvfb-run)
  imagemagick         # scripts/gtkwave-screenshot.sh: the screen grab (import)
  libboost-dev        # the gdb server's TCP socket (Boost.Asio, platforms/gdb/)
  gdb-multiarch       # tests: gdb drives the gdb server on x86-64 and AArch64 (tests/gdb/)
  libunicorn-dev      # the instruction-set executor: real x86-64 and AArch64 guest code (models/cpu/isa_executor.*)
  libcapstone-dev     # x86-64 instruction boundaries for exact instruction counts (models/cpu/block_insns.*)
  gcc-aarch64-linux-gnu  # firmware/: the AArch64 guest images (skipped with a message without it)
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Keep whatever generator an existing build/ was configured with.
generator=()
[ -f build/CMakeCache.txt ] || generator=(-G Ninja)
cmake -S . -B build "${generator[@]}" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j2
