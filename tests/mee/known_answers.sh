#!/bin/sh
# The ciphertext configs/mee-ciphertext.yaml expects in DRAM must be what
# tools/mee/known_answer.py computes outside cocosim (Python's cryptography
# package, not OpenSSL through our code): seed 1, generation 1, 0x5a x 64.
# usage: known_answers.sh SOURCE_DIR
set -eu
src=$1
py=""
for p in /usr/bin/python3 python3; do
  if command -v "$p" >/dev/null 2>&1 && "$p" -c "import cryptography" 2>/dev/null; then py=$p; break; fi
done
if [ -z "$py" ]; then
  echo "SKIP: no python3 with the cryptography package (Debian python3-cryptography, installed by scripts/setup.sh)"
  exit 77
fi
plain=$(printf '5a%.0s' $(seq 64))
rc=0
for case in "1 0x200000" "2 0x200000" "1 0x200040"; do
  set -- $case
  ct=$("$py" "$src/tools/mee/known_answer.py" 1 "$1" 1 "$2" "$plain")
  if grep -q "bytes: \"$ct\"" "$src/configs/mee-ciphertext.yaml"; then
    echo "KeyID $1 at $2: $ct (expected by the scenario)"
  else
    echo "KeyID $1 at $2: known answer $ct is not what configs/mee-ciphertext.yaml expects"
    rc=1
  fi
done
exit $rc
