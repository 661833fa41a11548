#!/bin/sh
# The GTKWave screenshot in docs/debugging.md, taken headless: runs a TD's
# MapGPA conversions with --vcd, opens the VCD with the .gtkw save file cocosim
# wrote beside it in GTKWave under Xvfb, zoomed on the guest's first
# private -> shared conversion, and grabs the screen with ImageMagick's import.
# usage: scripts/gtkwave-screenshot.sh [BUILD_DIR] [OUT.png]
# Needs gtkwave, xvfb (xvfb-run) and imagemagick (scripts/setup.sh installs them).
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}
out=${2:-docs/debugging-gtkwave.png}
for tool in gtkwave xvfb-run import; do
  command -v $tool >/dev/null || { echo "gtkwave-screenshot: $tool is missing (scripts/setup.sh)" >&2; exit 2; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$build/cocosim" run configs/tdx-mapgpa-conversions.yaml --quiet --vcd "$work/conversion.vcd"

# The first to_shared event of guest_memfd g: its VCD id, then its first time.
id=$(awk '$1 == "$var" && $5 == "to_shared" { print $4; exit }' "$work/conversion.vcd")
t=$(awk -v id="$id" '/^#/ { t = substr($0, 2) } $0 == "1" id { print t; exit }' "$work/conversion.vcd")
[ -n "$t" ] || { echo "gtkwave-screenshot: no conversion in the VCD" >&2; exit 1; }
cat >"$work/zoom.tcl" <<TCL
gtkwave::setZoomRangeTimes $((t - 2500000)) $((t + 3000000))
gtkwave::setMarker $t
TCL
# GTKWave reads its save file, then the Tcl script; the screen is grabbed
# once it has drawn.
xvfb-run -a -s "-screen 0 1400x830x24" sh -c "
  gtkwave -a '$work/conversion.gtkw' -S '$work/zoom.tcl' '$work/conversion.vcd' >'$work/gtkwave.log' 2>&1 &
  pid=\$!
  sleep 6
  import -window root '$out'
  kill \$pid"
echo "gtkwave-screenshot: $out (conversion at $t ps)"
