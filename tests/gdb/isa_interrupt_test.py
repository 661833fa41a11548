#!/usr/bin/env python3
"""Ctrl-C and kill with real guest code, under a raw socket (tests/gdb/
CMakeLists.txt): the x86-64 compute loop stops at its entry, the client makes
its loop endless (`iterations` = 2^40 through M), continues, sends Ctrl-C and
must get a SIGINT stop inside the loop with RCX counted down; `k` then ends
the run while the guest is stopped inside Unicorn's run.

  isa_interrupt_test.py COCOSIM SCENARIO ELF"""
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from raw_protocol_test import Gdb, check, failures, frame, start  # noqa: E402


def symbols(elf):
    out = subprocess.run(["nm", elf], stdout=subprocess.PIPE, text=True, check=True).stdout
    return {f[2]: int(f[0], 16) for f in (l.split() for l in out.splitlines()) if len(f) == 3}


def main():
    cocosim, scenario, elf = sys.argv[1:4]
    sym = symbols(elf)
    entry, loop_done, iterations = sym["guest_entry"], sym["loop_done"], sym["iterations"]
    sim, _, port = start(cocosim, scenario)
    g = Gdb(port)
    g.ask(b"qSupported:swbreak+")
    check(g.ask(b"Z0,%x,1" % entry) == b"OK", "a breakpoint at guest_entry")
    g.send(frame(b"c"))
    stop = g.packet()
    check(re.fullmatch(rb"T05thread:1;(swbreak:;)?", stop) is not None, f"stopped at the entry ({stop!r})")
    check(g.ask(b"z0,%x,1" % entry) == b"OK", "breakpoint removed")
    endless = (1 << 40).to_bytes(8, "little").hex().encode()
    check(g.ask(b"M%x,8:%s" % (iterations, endless)) == b"OK", "iterations = 2^40 written")
    g.send(frame(b"c"))
    check(g.next_item() == b"+", "c acknowledged")
    time.sleep(0.5)
    g.send(b"\x03")
    stop = g.packet()
    check(re.fullmatch(rb"T02thread:1;", stop) is not None, f"Ctrl-C: SIGINT stop in thread 1 ({stop!r})")
    regs = g.ask(b"g")
    reg = lambda n: int.from_bytes(bytes.fromhex(regs[n * 16:(n + 1) * 16].decode()), "little")
    rcx, rip = reg(2), reg(16)
    check(entry <= rip < loop_done, f"stopped inside the loop (rip {rip:#x})")
    check(0 < rcx < (1 << 40), f"the loop counted down from 2^40 (rcx {rcx:#x})")
    g.send(frame(b"k"))
    sim.wait()
    out = sim.stdout.read()
    check(sim.returncode == 137, f"k ends the run: exit 137 ({sim.returncode})")
    check("stopped by gdb (kill)" in out, "the summary says gdb killed it")
    if failures:
        sys.exit(f"{len(failures)} checks failed")


if __name__ == "__main__":
    main()
