#!/usr/bin/env python3
"""Runs `cocosim run SCENARIO --gdb 0` and drives it with the real gdb-multiarch
in batch mode (tests/gdb/CMakeLists.txt).

  gdb_driver.py COCOSIM SCENARIO GDB_SCRIPT [--expect-rc N] [--define NAME=VALUE]...

`--define` replaces @NAME@ in the script's lines (e.g. the directory of the
built guest images, for gdb's `file`).

The script's lines are gdb commands, each given to gdb as its own -ex (so a
command that fails, such as reading a TD's private page, does not end the
session). Lines starting with `#=` are regular expressions gdb's output must
match, in order; `#!` ones it must not match anywhere. gdb and cocosim are
killed after a timeout rather than hang ctest."""
import re
import shutil
import subprocess
import sys
import threading

TIMEOUT_S = 30


def main():
    cocosim, scenario, script = sys.argv[1:4]
    if not shutil.which("gdb-multiarch"):
        print("gdb-multiarch is not installed (scripts/setup.sh installs it): skipped")
        sys.exit(77)
    expect_rc = 0
    defines = {}
    rest = sys.argv[4:]
    while len(rest) >= 2:
        if rest[0] == "--expect-rc":
            expect_rc = int(rest[1])
        elif rest[0] == "--define":
            name, _, value = rest[1].partition("=")
            defines["@" + name + "@"] = value
        else:
            sys.exit(f"unknown option {rest[0]}")
        rest = rest[2:]
    commands, expects, refuses = [], [], []
    for line in open(script, encoding="utf-8"):
        line = line.rstrip("\n")
        for name, value in defines.items():
            line = line.replace(name, value)
        if line.startswith("#="):
            expects.append(line[2:].strip())
        elif line.startswith("#!"):
            refuses.append(line[2:].strip())
        elif line.strip() and not line.startswith("#"):
            commands.append(line.strip())

    sim = subprocess.Popen([cocosim, "run", scenario, "--gdb", "0"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    timer = threading.Timer(TIMEOUT_S * 2, sim.kill)
    timer.daemon = True
    timer.start()
    sim_out = []
    port = None
    for line in sim.stdout:
        sim_out.append(line)
        m = re.search(r"gdb: listening on 127\.0\.0\.1:(\d+)", line)
        if m:
            port = m.group(1)
            break
    if not port:
        print("".join(sim_out))
        sys.exit("cocosim did not print the port it listens on")

    args = ["gdb-multiarch", "-batch", "-nx", "-ex", "set pagination off",
            "-ex", "set remotetimeout 10", "-ex", f"target remote 127.0.0.1:{port}"]
    for c in commands:
        args += ["-ex", c]
    try:
        gdb = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             timeout=TIMEOUT_S)
        gdb_out = gdb.stdout
    except subprocess.TimeoutExpired as e:
        gdb_out = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        print(gdb_out)
        sim.kill()
        sys.exit("gdb-multiarch timed out")
    rest, _ = sim.communicate()
    timer.cancel()
    sim_out.append(rest)
    print("---- gdb ----\n" + gdb_out + "---- cocosim ----\n" + "".join(sim_out))

    failed = False
    pos = 0
    for e in expects:
        m = re.compile(e, re.M).search(gdb_out, pos)
        if not m:
            print(f"FAIL: gdb's output lacks (after offset {pos}): {e}")
            failed = True
        else:
            pos = m.end()
    for r in refuses:
        if re.search(r, gdb_out, re.M):
            print(f"FAIL: gdb's output has: {r}")
            failed = True
    if sim.returncode != expect_rc:
        print(f"FAIL: cocosim exited with {sim.returncode}, expected {expect_rc}")
        failed = True
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
