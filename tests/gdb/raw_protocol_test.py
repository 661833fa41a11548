#!/usr/bin/env python3
"""The gdb server under a raw socket (tests/gdb/CMakeLists.txt): it listens on
127.0.0.1 only, answers malformed, oversized and unknown packets with an
error or the empty reply, survives random bytes, stops a running guest on
Ctrl-C, ends the run on `k`, and runs on when gdb goes away.

  raw_protocol_test.py COCOSIM SCENARIO_DIR"""
import random
import re
import socket
import subprocess
import sys
import threading
import time

TIMEOUT_S = 20
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def frame(payload: bytes) -> bytes:
    return b"$" + payload + b"#" + b"%02x" % (sum(payload) % 256)


class Gdb:
    """A bare remote-protocol client: what gdb would send, byte for byte."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S)
        self.buf = b""

    def send(self, raw: bytes):
        self.s.sendall(raw)

    def _fill(self):
        chunk = self.s.recv(65536)
        if not chunk:
            raise EOFError("the server closed the connection")
        self.buf += chunk

    def next_item(self):
        """The next ack (b'+', b'-') or packet payload (bytes after '$')."""
        while True:
            if self.buf[:1] in (b"+", b"-"):
                item, self.buf = self.buf[:1], self.buf[1:]
                return item
            m = re.match(rb"\$([^#]*)#([0-9a-f]{2})", self.buf, re.S)
            if m:
                self.buf = self.buf[m.end():]
                payload = m.group(1)
                if int(m.group(2), 16) != sum(payload) % 256:
                    check(False, f"checksum of reply {payload[:40]!r}")
                return b"$" + payload
            if self.buf and self.buf[:1] not in (b"$", b"+", b"-"):
                raise ValueError(f"unexpected bytes from the server: {self.buf[:40]!r}")
            self._fill()

    def packet(self):
        """The next packet's payload, acks skipped."""
        while True:
            item = self.next_item()
            if item.startswith(b"$"):
                return item[1:]

    def ask(self, payload: bytes):
        self.send(frame(payload))
        ack = self.next_item()
        check(ack == b"+", f"{payload[:30]!r} acknowledged")
        return self.packet()


def start(cocosim, scenario, *extra):
    sim = subprocess.Popen([cocosim, "run", scenario, "--gdb", "0", *extra], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    timer = threading.Timer(TIMEOUT_S * 3, sim.kill)
    timer.daemon = True  # never keeps this script alive
    timer.start()
    for line in sim.stdout:
        m = re.search(r"gdb: listening on (\S+):(\d+)", line)
        if m:
            return sim, m.group(1), int(m.group(2))
    sys.exit("cocosim did not print the port it listens on")


def listening_addresses(port):
    """Local addresses of sockets listening on `port`, from /proc/net/tcp and tcp6."""
    found = []
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(name).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            addr, p = f[1].split(":")
            if int(p, 16) == port and f[3] == "0A":  # TCP_LISTEN
                found.append(addr)
    return found


def main():
    cocosim, scenarios = sys.argv[1:3]

    # ---- malformed input and random bytes ------------------------------------
    # --timeout 1: the time stopped in gdb (more than that here) does not count.
    sim, addr, port = start(cocosim, scenarios + "/td.yaml", "--timeout", "1")
    check(addr == "127.0.0.1", f"cocosim says it listens on 127.0.0.1 ({addr})")
    check(listening_addresses(port) == ["0100007F"],
          f"the only listening socket on port {port} is bound to 127.0.0.1 ({listening_addresses(port)})")
    g = Gdb(port)
    sup = g.ask(b"qSupported:multiprocess+;swbreak+")
    check(b"PacketSize=1000" in sup and b"qXfer:features:read+" in sup, f"qSupported: {sup!r}")
    check(g.ask(b"?") == b"S05", "stopped before the first step, no vCPU")
    g.send(b"$g#00")
    check(g.next_item() == b"-", "a bad checksum is nacked")
    g.send(b"-")
    check(g.packet() == b"S05", "a nack makes the server resend its last packet")
    check(g.ask(b"m" * 5000) == b"E16", "an oversized packet gets an error")
    check(g.ask(b"*x") == b"E16", "a malformed run-length encoding gets an error")
    check(g.ask(b"vFooBar") == b"", "an unknown packet gets the empty reply")
    check(g.ask(b"mzz,4") == b"E16", "a malformed m packet gets an error")
    check(g.ask(b"m1000,4") == b"E0e", "memory without a vCPU: EFAULT")
    check(g.ask(b"Z0,zz") == b"E16", "a malformed breakpoint gets an error")
    check(g.ask(b"p999") == b"E16", "a register that does not exist gets an error")
    check(g.ask(b"Hg77") == b"E03", "a thread that does not exist gets an error")
    rnd = random.Random(20261201)
    for _ in range(20):
        junk = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 4000)))
        g.send(junk)
    # Whatever state the junk left the decoder in, "###" brings it back
    # between packets; then a question whose answer is known.
    g.send(b"###" + frame(b"?"))
    deadline = time.time() + TIMEOUT_S
    while time.time() < deadline:
        if g.packet() == b"S05":
            break
    check(True, "the server answers after 20 bursts of random bytes")
    g.send(frame(b"qfThreadInfo"))
    while (p := g.packet()) != b"l":
        pass
    check(True, "and goes on answering")
    time.sleep(1.2)
    g.send(frame(b"D"))
    while (p := g.packet()) != b"OK":
        pass
    check(True, "D: detached")
    out, _ = sim.communicate()
    check(sim.returncode == 0, f"the run goes on without gdb and passes, --timeout 1 not reached (exit {sim.returncode})")
    check("0 failed" in out, "its summary is printed")

    # ---- Ctrl-C stops a running guest, k ends the run -------------------------
    sim, addr, port = start(cocosim, scenarios + "/loop.yaml")
    g = Gdb(port)
    g.ask(b"qSupported:swbreak+")
    g.send(frame(b"c"))
    check(g.next_item() == b"+", "c acknowledged")
    time.sleep(0.5)
    g.send(b"\x03")
    stop = g.packet()
    check(re.fullmatch(rb"T02thread:1;", stop) is not None, f"Ctrl-C: SIGINT stop in thread 1 ({stop!r})")
    regs = g.ask(b"g")
    pc = int.from_bytes(bytes.fromhex(regs[16 * 16:17 * 16].decode()), "little")
    check(pc in (0, 1), f"stopped at an op of the loop (pc {pc})")
    g.send(frame(b"k"))
    sim.wait()
    out = sim.stdout.read()
    check(sim.returncode == 137, f"k ends the run: exit 137 ({sim.returncode})")
    check("stopped by gdb (kill)" in out, "the summary says gdb killed it")

    # ---- gdb goes away without a word: the run goes on -------------------------
    sim, addr, port = start(cocosim, scenarios + "/td.yaml")
    g = Gdb(port)
    g.send(frame(b"qSupported") + b"$m10")  # half a packet, then the connection drops
    g.s.close()
    out, _ = sim.communicate()
    check(sim.returncode == 0 and "0 failed" in out, f"a dropped connection detaches (exit {sim.returncode})")

    if failures:
        sys.exit(f"{len(failures)} checks failed")


if __name__ == "__main__":
    main()
