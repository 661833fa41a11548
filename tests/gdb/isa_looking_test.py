#!/usr/bin/env python3
"""Looking does not change what is simulated (tests/gdb/CMakeLists.txt): the
compute-loop scenario runs once on its own and once under a gdb session that
stops at breakpoints inside translated blocks (the second instruction of the
entry block and of the block after the loop), single-steps once there, and
continues. Both runs must end with the same instruction count, the same
simulated time and the same counters in their stats files.

  isa_looking_test.py COCOSIM SCENARIO ELF {x86|arm64} WORKDIR"""
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from raw_protocol_test import Gdb, check, failures, frame, start  # noqa: E402

PC_REGNUM = {"x86": 16, "arm64": 32}
INSN_BYTES = {"x86": 7, "arm64": 4}  # the entry block's first instruction (x86: lea ...(%rip), %rsp)


def symbols(elf):
    out = subprocess.run(["nm", elf], stdout=subprocess.PIPE, text=True, check=True).stdout
    return {f[2]: int(f[0], 16) for f in (l.split() for l in out.splitlines()) if len(f) == 3}


def stats(path):
    with open(path, encoding="utf-8") as f:
        j = json.load(f)
    counters = {k: v["value"] for k, v in j["counters"].items()}
    return j["simulated_time_ps"], counters


def read_pc(g, arch):
    reply = g.ask(b"p%x" % PC_REGNUM[arch])
    return int.from_bytes(bytes.fromhex(reply.decode()), "little")


def main():
    cocosim, scenario, elf, arch, work = sys.argv[1:6]
    os.makedirs(work, exist_ok=True)
    sym = symbols(elf)
    plain_json = os.path.join(work, f"looking-{arch}-plain.json")
    gdb_json = os.path.join(work, f"looking-{arch}-gdb.json")

    plain = subprocess.run([cocosim, "run", scenario, "--quiet", "--stats", plain_json],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
    check(plain.returncode == 0, f"the run without gdb passes ({plain.returncode}: {plain.stdout[-300:]})")

    sim, _, port = start(cocosim, scenario, "--stats", gdb_json)
    g = Gdb(port)
    g.ask(b"qSupported:swbreak+")
    inside_entry = sym["guest_entry"] + INSN_BYTES[arch]
    inside_after_loop = sym["loop_done"] + INSN_BYTES[arch]
    for bp in (inside_entry, inside_after_loop):
        check(g.ask(b"Z0,%x,1" % bp) == b"OK", f"a breakpoint at {bp:#x}, inside a block")
    for bp in (inside_entry, inside_after_loop):
        g.send(frame(b"c"))
        stop = g.packet()
        check(re.fullmatch(rb"T05thread:1;(swbreak:;)?", stop) is not None, f"stopped ({stop!r})")
        check(read_pc(g, arch) == bp, f"at {bp:#x}")
        check(g.ask(b"z0,%x,1" % bp) == b"OK", "breakpoint removed")
        g.send(frame(b"s"))
        stop = g.packet()
        check(stop.startswith(b"T05"), f"one instruction stepped ({stop!r})")
        check(read_pc(g, arch) > bp, "past the breakpoint")
    g.send(frame(b"c"))
    end = g.packet()
    check(end.startswith(b"W00"), f"the run ends normally ({end!r})")
    g.s.close()
    sim.wait(timeout=60)
    check(sim.returncode == 0, f"the run under gdb passes ({sim.returncode})")

    t_plain, c_plain = stats(plain_json)
    t_gdb, c_gdb = stats(gdb_json)
    insns = {k: v for k, v in c_plain.items() if k.endswith(".instructions")}
    check(bool(insns) and all(v > 0 for v in insns.values()), f"instructions counted ({insns})")
    check({k: c_gdb.get(k) for k in insns} == insns,
          f"the same instruction counts ({insns} vs {[(k, c_gdb.get(k)) for k in insns]})")
    check(t_plain == t_gdb, f"the same simulated time ({t_plain} ps vs {t_gdb} ps)")
    differ = sorted(k for k in set(c_plain) | set(c_gdb) if c_plain.get(k) != c_gdb.get(k))
    check(not differ, f"the same counters (differ: {differ[:8]})")
    if failures:
        sys.exit(f"{len(failures)} checks failed")


if __name__ == "__main__":
    main()
