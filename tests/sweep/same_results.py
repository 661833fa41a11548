#!/usr/bin/env python3
"""Two sweeps of the same plan gave the same simulated results.

usage: same_results.py COCOSIM DIR_A DIR_B

results.csv must match row for row in every column but wall_time_s, and each
point's stats.json must match under `cocosim diff` (which ignores wall times).
Exit 0 when equal, 1 with every difference printed."""
import csv
import subprocess
import sys


def table(d):
    with open(f"{d}/results.csv", newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        sys.exit(f"{d}/results.csv is empty")
    wall = rows[0].index("wall_time_s")
    return rows[0], [r[:wall] + r[wall + 1:] for r in rows[1:]], [r[0] for r in rows[1:]]


cocosim, a, b = sys.argv[1:4]
ha, ra, ids = table(a)
hb, rb, _ = table(b)
bad = 0
if ha != hb:
    print(f"columns differ:\n  {ha}\n  {hb}")
    bad += 1
if len(ra) != len(rb):
    print(f"{len(ra)} rows in {a}, {len(rb)} in {b}")
    bad += 1
for i, (x, y) in enumerate(zip(ra, rb)):
    if x != y:
        print(f"row {i + 1} differs:\n  {x}\n  {y}")
        bad += 1
verdict = [c for c in ha if c != "wall_time_s"].index("verdict")
passed = 0
for i, pid in enumerate(ids):
    if ra[i][verdict] != "passed":
        continue
    passed += 1
    r = subprocess.run([cocosim, "diff", f"{a}/points/{pid}/stats.json", f"{b}/points/{pid}/stats.json"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        print(f"point {pid}: cocosim diff exit {r.returncode}:\n{r.stdout}{r.stderr}")
        bad += 1
if passed == 0:
    print("no point passed: nothing was compared")
    bad += 1
print(f"{len(ra)} points compared, {passed} stats files diffed, {bad} differences")
sys.exit(1 if bad else 0)
