#!/usr/bin/env python3
"""MRTD of a TD image computed from its ELF file alone, outside the simulator,
and checked against what the simulated TD reports.

    tdx_mrtd_from_elf.py COCOSIM SCENARIO ELF

SCENARIO's KVM_TDX_INIT_MEM_REGION step (gpa, nr_pages, MEASURE_MEMORY_REGION)
says which pages the VMM adds; their content is the ELF's PT_LOAD segments
(placed at their physical addresses, zero-filled to their memory size), as
`load_elf` writes them. The TDX module measures each page as
TDH.MEM.PAGE.ADD (one 128-byte block: the 16-byte ASCII name "MEM.PAGE.ADD"
zero-padded, the GPA as 8 bytes little-endian, 104 zero bytes) followed by
16 TDH.MR.EXTENDs (a "MR.EXTEND" block for the chunk's GPA, then the 256
bytes of the chunk); TDH.MR.FINALIZE makes MRTD the SHA-384 of all blocks.

The image's bytes depend on the assembler, so the scenario names no MRTD:
this test runs a copy of it whose `inspect: {vm: ..., expect: {vm_state:
running}}` step also expects `mrtd` to be the value computed here, and whose
GUEST_SYNC(4) (`tag: "4"`) expects it in r8 ... r13 (the guest's
TDG.MR.REPORT, as little-endian quadwords): cocosim must exit 0.
"""
import hashlib
import re
import struct
import subprocess
import sys
import tempfile
import os

PAGE = 4096
PT_LOAD = 1


def load_segments(path):
    data = open(path, "rb").read()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        sys.exit(f"{path}: not a little-endian ELF64 file")
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    segs = []
    for i in range(phnum):
        p_type, _flags, off, _vaddr, paddr, filesz, memsz, _align = struct.unpack_from(
            "<IIQQQQQQ", data, phoff + i * phentsize)
        if p_type == PT_LOAD and memsz:
            segs.append((paddr, data[off:off + filesz], memsz))
    return segs


def block(name, gpa):
    b = name.encode().ljust(16, b"\0") + struct.pack("<Q", gpa)
    return b.ljust(128, b"\0")


def mrtd(segs, gpa, nr_pages):
    image = bytearray(nr_pages * PAGE)
    for paddr, content, memsz in segs:
        if paddr < gpa or paddr + memsz > gpa + len(image):
            sys.exit(f"segment at {paddr:#x} (+{memsz:#x}) outside the measured region "
                     f"{gpa:#x} + {nr_pages} pages")
        image[paddr - gpa:paddr - gpa + len(content)] = content
    last = max(paddr + memsz for paddr, _, memsz in segs)
    if (last - gpa + PAGE - 1) // PAGE != nr_pages:
        sys.exit(f"the scenario adds {nr_pages} pages, the image spans {(last - gpa + PAGE - 1) // PAGE}")
    h = hashlib.sha384()
    for page in range(nr_pages):
        page_gpa = gpa + page * PAGE
        h.update(block("MEM.PAGE.ADD", page_gpa))
        for off in range(0, PAGE, 256):
            h.update(block("MR.EXTEND", page_gpa + off))
            h.update(image[page * PAGE + off:page * PAGE + off + 256])
    return h.digest()


def num(text):
    m = re.fullmatch(r"(\d+)\s*(KiB|MiB|GiB)?", text.strip())
    if m:
        return int(m.group(1)) * {None: 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}[m.group(2)]
    return int(text, 0)


def main():
    cocosim, scenario, elf = sys.argv[1:4]
    text = open(scenario).read()
    m = re.search(r"KVM_TDX_INIT_MEM_REGION: \{[^}\n]*gpa: ([^,]+), nr_pages: (\d+),[^\n]*MEASURE_MEMORY_REGION", text)
    if not m:
        sys.exit(f"{scenario}: no measured KVM_TDX_INIT_MEM_REGION step")
    digest = mrtd(load_segments(elf), num(m.group(1)), int(m.group(2)))
    want_hex = digest.hex()
    regs = [struct.unpack_from("<Q", digest, 8 * i)[0] for i in range(6)]
    want_regs = ", ".join(f"r{8 + i}: {v:#x}" for i, v in enumerate(regs))
    print(f"MRTD computed from {os.path.basename(elf)}: {want_hex}")

    failures = []
    copy_text, n_inspect = re.subn(r"(- inspect: \{vm: [A-Za-z0-9_]+, expect: \{vm_state: running)\}",
                                   lambda mm: mm.group(1) + ", mrtd: " + want_hex + "}", text)
    copy_text, n_sync = re.subn(r'tag: "4"\}', 'tag: "4", ' + want_regs + "}", copy_text)
    if n_inspect != 1 or n_sync != 1:
        sys.exit(f"{scenario}: expected one finalized inspect and one GUEST_SYNC(4) step, "
                 f"found {n_inspect} and {n_sync}")
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", dir=os.path.dirname(scenario), delete=False) as f:
        f.write(copy_text)
        copy = f.name
    try:
        run = subprocess.run([cocosim, "run", copy, "--quiet"], capture_output=True, text=True)
    finally:
        os.unlink(copy)
    if run.returncode != 0:
        failures.append(f"cocosim run expecting the computed MRTD exited {run.returncode}:\n{run.stdout}{run.stderr}")
    for f in failures:
        print("FAIL:", f)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
