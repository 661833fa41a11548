#!/usr/bin/env python3
"""ctest cases for waveforms, the text trace, gem5-style stats and --no-dmi.

usage: waves_test.py CASE COCOSIM SOURCE_DIR WORK_DIR

Every VCD a case writes is read back by GTKWave's vcd2fst (Debian gtkwave);
the times checked come from cocosim's own -v report, not from the VCD.
"""
import json
import os
import re
import signal
import subprocess
import sys
import time

CASE, COCOSIM, SRC, WORK = sys.argv[1:5]
os.makedirs(WORK, exist_ok=True)


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def run(args, expect_rc=0, **kw):
    p = subprocess.run([COCOSIM] + args, capture_output=True, text=True, **kw)
    if expect_rc is not None and p.returncode != expect_rc:
        fail(f"cocosim {' '.join(args)}: exit {p.returncode}, expected {expect_rc}\n{p.stdout}{p.stderr}")
    return p


def config(name):
    return os.path.join(SRC, "configs", name)


def vcd2fst(vcd):
    """GTKWave's own parser must take the file whole."""
    fst = vcd[:-4] + ".fst"
    p = subprocess.run(["vcd2fst", vcd, fst], capture_output=True, text=True)
    if p.returncode != 0 or not os.path.getsize(fst):
        fail(f"vcd2fst {vcd}: exit {p.returncode}\n{p.stdout}{p.stderr}")
    if "error" in (p.stdout + p.stderr).lower():
        fail(f"vcd2fst {vcd} complained:\n{p.stdout}{p.stderr}")


def read_vcd(path):
    """{full.signal.name: [(time, value), ...]} and the $comment texts."""
    ids, scope, changes, comments = {}, [], {}, []
    t = 0
    with open(path) as f:
        text = f.read()
    head, _, body = text.partition("$enddefinitions $end")
    for m in re.finditer(r"\$comment\s+(.*?)\s*\$end", head, re.S):
        comments.append(m.group(1))
    for tok in re.finditer(r"\$scope module (\S+) \$end|\$upscope \$end|\$var (\w+) (\d+) (\S+) (\S+) \$end", head):
        if tok.group(1):
            scope.append(tok.group(1))
        elif tok.group(0).startswith("$upscope"):
            scope.pop()
        else:
            name = ".".join(scope + [tok.group(5)])
            ids[tok.group(4)] = name
            changes[name] = []
    for line in body.splitlines():
        line = line.strip()
        if not line or line.startswith("$"):
            continue
        if line[0] == "#":
            t = int(line[1:])
        elif line[0] == "b":
            v, code = line[1:].split()
            if "x" not in v:  # x: not reported yet
                changes[ids[code]].append((t, int(v, 2)))
        elif line[0] != "x":
            changes[ids[line[1:]]].append((t, int(line[0])))
    return changes, comments


def step_end_times(stdout):
    """-v: '  [N] T ps  OP ...' gives the simulated time at which step N ended."""
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^\s+\[([\d.]+)\] (\d+) ps", stdout, re.M)}


def stats(path):
    with open(path) as f:
        return json.load(f)


if CASE == "signal_at_step":
    # Step 5 of tdx-mapgpa-conversions sets the whole file PRIVATE: guest_memfd
    # 'g' must show its to_private event at the time step 5 starts, which is
    # when step 4 ended by the -v report.
    vcd = os.path.join(WORK, "mapgpa.vcd")
    p = run(["run", config("tdx-mapgpa-conversions.yaml"), "-v", "--vcd", vcd])
    vcd2fst(vcd)
    ends = step_end_times(p.stdout)
    sig, _ = read_vcd(vcd)
    conv = sig.get("platform.gmem.g.to_private")
    if not conv:
        fail("no platform.gmem.g.to_private events in the VCD")
    if conv[0][0] != ends["4"]:
        fail(f"first to_private at {conv[0][0]} ps, step 5 started at {ends['4']} ps")
    # The guest's MapGPA exits: KVM_EXIT_HYPERCALL (2) on the vCPU's exit_reason,
    # inside the KVM_RUN of step 9 (after step 8 ended, before step 9 did).
    exits = [t for t, v in sig["platform.kvm.vm1.vcpu0.exit_reason"] if v == 2]
    if not exits or not (ends["8"] < exits[0] < ends["9"]):
        fail(f"KVM_EXIT_HYPERCALL at {exits[:1]}, step 9 ran from {ends['8']} to {ends['9']} ps")
    for f in ("mapgpa.gtkw", "mapgpa.exit_reason.filter", "mapgpa.run_state.filter"):
        if not os.path.exists(os.path.join(WORK, f)):
            fail(f"{f} was not written beside the VCD")
    with open(os.path.join(WORK, "mapgpa.exit_reason.filter")) as f:
        if "2 KVM_EXIT_HYPERCALL" not in f.read():
            fail("the exit_reason filter does not name KVM_EXIT_HYPERCALL")
    print(f"ok: to_private at {conv[0][0]} ps = start of step 5; MapGPA exit at {exits[0]} ps in step 9")

elif CASE == "tracing_changes_nothing":
    scenarios = sys.argv[5].split(",")
    for sc in scenarios:
        base = os.path.join(WORK, CASE + "-" + sc.replace(".yaml", ""))
        run(["run", config(sc), "-q", "--stats", base + "-plain.json"])
        run(["run", config(sc), "-q", "--stats", base + "-traced.json", "--vcd", base + ".vcd",
             "--trace", "all", "--trace-file", base + ".trace"])
        vcd2fst(base + ".vcd")
        d = run(["diff", base + "-plain.json", base + "-traced.json"], expect_rc=None)
        if d.returncode != 0:
            fail(f"{sc}: tracing changed the run:\n{d.stdout}")
        if os.path.getsize(base + ".trace") == 0:
            fail(f"{sc}: the trace file is empty")
    print("ok: " + ", ".join(scenarios))

elif CASE == "no_dmi_same_results":
    # Every scenario run ctest knows (scenario.*: each file of configs/ on its
    # arch(es), the -vm variants, the firmware copies), with and without
    # --no-dmi. Everything simulated must match; only the counters that say
    # how accesses travelled may differ (docs/debugging.md lists the same):
    #   *.dmi_*                 DMI grants, hits, refusals, invalidations, revocations
    #   *.transactions, *.bus_transactions   b_transport calls per slot/initiator
    #   platform.dram.reads, platform.dram.writes   DRAM's b_transport calls
    #   platform.host_mmu.anon_accesses   host accesses the host MMU routed (b_transport)
    #   platform.dram.frames_allocated    the simulator's sparse storage: a DMI
    #                           pointer gives a frame storage on a read, b_transport does not
    from concurrent.futures import ThreadPoolExecutor
    ctest = sys.argv[5]
    build = sys.argv[6]
    by_design = re.compile(r"(\.dmi_[a-z_]+|\.transactions|\.bus_transactions|^platform\.dram\.(reads|writes"
                           r"|frames_allocated)|^platform\.host_mmu\.anon_accesses)$")
    p = subprocess.run([ctest, "--test-dir", build, "--show-only=json-v1", "-R", r"^scenario\."],
                       capture_output=True, text=True)
    tests = json.loads(p.stdout)["tests"] if p.returncode == 0 else []
    if len(tests) < 50:
        fail(f"ctest lists {len(tests)} scenario runs: {p.stderr}")

    def one(t):
        name, cmd = t["name"], t["command"]
        cwd = next((x["value"] for x in t.get("properties", []) if x["name"] == "WORKING_DIRECTORY"), None)
        base = os.path.join(WORK, "no_dmi-" + name)
        plain = subprocess.run(cmd + ["-q", "--stats", base + "-plain.json"], cwd=cwd, capture_output=True, text=True)
        nodmi = subprocess.run(cmd + ["-q", "--stats", base + "-nodmi.json", "--no-dmi"], cwd=cwd,
                               capture_output=True, text=True)
        if any(re.match(r"^# firmware", l) for l in open(cmd[2])):
            # Unicorn runs guest code only from direct pointers: refused up front.
            if nodmi.returncode != 2 or "--no-dmi: program" not in nodmi.stderr:
                return f"{name}: --no-dmi with an ELF guest: exit {nodmi.returncode}, expected 2 and a clear refusal\n{nodmi.stderr}"
            return "refused"
        if plain.returncode != nodmi.returncode:
            return f"{name}: exit {plain.returncode} without --no-dmi, {nodmi.returncode} with it\n{nodmi.stdout[-2000:]}"
        a, b = stats(base + "-plain.json"), stats(base + "-nodmi.json")
        if a["simulated_time_ps"] != b["simulated_time_ps"]:
            return f"{name}: --no-dmi changed the simulated time: {a['simulated_time_ps']} -> {b['simulated_time_ps']} ps"
        sa = [(s["step"], s["op"], s["simulated_time_ps"]) for s in a["step_times"]]
        sb = [(s["step"], s["op"], s["simulated_time_ps"]) for s in b["step_times"]]
        if sa != sb:
            return f"{name}: --no-dmi changed step times: {[x for x in zip(sa, sb) if x[0] != x[1]][:3]}"
        if a["verdict"] != b["verdict"] or a["expectations"] != b["expectations"]:
            return f"{name}: --no-dmi changed the verdict"
        ca = {k: v["value"] for k, v in a["counters"].items()}
        cb = {k: v["value"] for k, v in b["counters"].items()}
        diff = {k: (ca.get(k), cb.get(k)) for k in set(ca) | set(cb)
                if ca.get(k) != cb.get(k) and not by_design.search(k)}
        if diff:
            return f"{name}: --no-dmi changed counters (without -> with): {dict(sorted(diff.items())[:8])}"
        dmi = {k: v for k, v in cb.items() if k.endswith((".dmi_accesses", ".dmi_hits", ".dmi_grants")) and v}
        if dmi:
            return f"{name}: accesses still served through DMI with --no-dmi: {dmi}"
        if ca["platform.bus.transactions"] > cb["platform.bus.transactions"]:
            return f"{name}: --no-dmi made fewer bus transactions"
        return "dmi" if any(k.endswith((".dmi_accesses", ".dmi_hits", ".dmi_grants")) and v
                            for k, v in ca.items()) else "same"

    with ThreadPoolExecutor(2) as pool:  # ctest gives this case 2 processors
        results = list(pool.map(one, tests))
    errors = [r for r in results if r not in ("refused", "dmi", "same")]
    if errors:
        fail(f"{len(errors)} of {len(tests)} runs differ:\n" + "\n".join(errors))
    used = results.count("dmi")
    if used < len(tests) // 2:
        fail(f"only {used} of {len(tests)} runs used DMI without --no-dmi: the comparison shows little")
    print(f"ok: {len(tests)} scenario runs, the same simulated times, step times and counters with --no-dmi "
          f"({used} of them use DMI without it; {results.count('refused')} ELF guests refused)")

elif CASE == "vcd_when_run_fails":
    vcd = os.path.join(WORK, "fails.vcd")
    run(["run", os.path.join(SRC, "tests/waves/fails.yaml"), "--vcd", vcd], expect_rc=1)
    vcd2fst(vcd)
    sig, comments = read_vcd(vcd)
    if not sig.get("platform.vcpu0.run_state"):
        fail("the failed run's VCD has no vCPU activity")
    if not sig.get("vmm.expectation_failed"):
        fail("the failed expectation is not an event in the VCD")
    print("ok: a failed run leaves a complete VCD")

elif CASE == "vcd_after_violation":
    # tests/vcd_violation_test.cpp breaks an owner record after step 4 of the
    # quickstart; the checker reports it and the run goes on to its end.
    vcd = os.path.join(WORK, "violation.vcd")
    p = subprocess.run([sys.argv[5], config("quickstart.yaml"), "4", vcd], capture_output=True, text=True)
    if p.returncode != 0 or "invariant violation" not in p.stdout:
        fail(f"the run did not report the broken invariant (exit {p.returncode}):\n{p.stdout}{p.stderr}")
    vcd2fst(vcd)
    sig, comments = read_vcd(vcd)
    pulses = sig.get("vmm.invariant_violation")
    if not pulses:
        fail("the violation is not an event in the VCD")
    steps = sig.get("vmm.step", [])
    if not steps or steps[-1][0] < pulses[0][0]:
        fail(f"the VCD ends before the run did: last step change at {steps[-1:]}, violation at {pulses[0][0]}")
    print(f"ok: violation at {pulses[0][0]} ps, the VCD complete to step {steps[-1][1]}")

elif CASE == "vcd_has_every_signal":
    # Issue 11's list of waveform signals, each from a scenario that makes it
    # change (signals are declared when first used): per vCPU its run state,
    # program op or guest PC, last GPA, last exit reason, a pulse per fault
    # kind and per TLB flush; per VM private and shared pages; bus
    # transactions; guest_memfd conversions, invalidations, DMI grants and
    # revocations, SIGBUS; the engine's poison; TDX leaf and status; pKVM
    # calls, returns and page states. (The engine's mac_failure needs a MAC
    # mismatch, which no scenario step can cause: unit-tested in mee_test.)
    firmware = sys.argv[5]
    want = {
        "tdx-mapgpa-conversions.yaml": ["platform.vcpuN.run_state", "platform.vcpuN.op", "platform.vcpuN.op_index",
                                        "platform.vcpuN.gpa", "platform.kvm.vmN.vcpuN.exit_reason",
                                        "platform.vcpuN.fault_translation", "platform.bus.addr", "platform.bus.cmd",
                                        "platform.bus.initiator", "platform.bus.initiator_kind", "platform.bus.keyid",
                                        "platform.bus.dmi_grant", "platform.gmem.g.to_private",
                                        "platform.gmem.g.to_shared", "platform.gmem.g.invalidate",
                                        "platform.tdx.leaf", "platform.tdx.status", "vmm.step"],
        "content-modes-tdx.yaml": ["platform.vcpuN.tlb_flush"],
        "guest-mmio-and-faults.yaml": ["platform.vcpuN.fault_permission"],
        "gmem-conversions-guest-tdx.yaml": ["platform.vcpuN.fault_VE"],
        "content-modes-pkvm.yaml": ["platform.kvm.vmN.private_pages", "platform.kvm.vmN.shared_pages",
                                    "platform.gmem_mmap.sigbus", "platform.bus.dmi_invalidate"],
        "address-space-edges.yaml": ["platform.gmem_mmap.dmi_grant"],
        "auto-conversion-refused.yaml": ["platform.gmem_mmap.dmi_revoke"],
        "tdx-host-attacks-memory.yaml": ["platform.mee.poisoned", "platform.mee.poison_consumed"],
        "pkvm-boot-donation.yaml": ["platform.pkvm.call", "platform.pkvm.ret", "platform.pkvm.host_state",
                                    "platform.pkvm.guest_state"],
        "pkvm-ownership-selftest.yaml": ["platform.pkvm.hyp_state"],
        "pkvm-mem-share.yaml": ["platform.pkvm.guest_hvc", "platform.pkvm.guest_hvc_ret"],
        os.path.join(firmware, "isa-compute-loop.yaml"): ["platform.vcpuN.pc"],
    }
    for sc, names in want.items():
        vcd = os.path.join(WORK, "every-" + os.path.basename(sc).replace(".yaml", ".vcd"))
        run(["run", sc if os.path.isabs(sc) else config(sc), "-q", "--vcd", vcd], expect_rc=None)
        vcd2fst(vcd)
        sig, _ = read_vcd(vcd)
        have = {}
        for n, v in sig.items():
            key = re.sub(r"(vcpu|vm)\d+", r"\1N", n)
            have[key] = have.get(key, False) or bool(v)
        for n in names:
            if not have.get(n):
                fail(f"{sc}: no changes of {n} in the VCD (has {sorted(have)[:40]})")
    print(f"ok: {sum(len(v) for v in want.values())} signals from {len(want)} scenarios")

elif CASE == "stats_reference":
    # docs/debugging.md's statistics reference against what the code emits:
    # every counter and rate of every scenario run ctest knows (scenario.*)
    # is documented with its unit, every documented one is emitted by some
    # run, and the gem5 text of a run has issue 11's statistics with gem5's
    # units.
    from concurrent.futures import ThreadPoolExecutor
    ctest, build = sys.argv[5], sys.argv[6]
    doc = open(os.path.join(SRC, "docs/debugging.md"), encoding="utf-8").read()
    ref = doc[doc.index("### Reference"):doc.index("## gdb")]
    documented, doc_rates = {}, set()
    for m in re.finditer(r"^\| `([^`]+)` \| ([^|]+) \|", ref, re.M):
        name, second = m.group(1), m.group(2).strip()
        if name.startswith("platform.") and " " not in second:
            documented[name] = second
        elif name.startswith("platform."):
            doc_rates.add(name)
    if len(documented) < 40:
        fail(f"only {len(documented)} counters found in the reference")

    def norm(name):
        name = re.sub(r"\.vcpu\d+\.", ".vcpuN.", name)
        name = re.sub(r"^(platform\.kvm\.exits\.in_kernel)\.\w+$", r"\1.WHY", name)
        name = re.sub(r"^(platform\.kvm\.exits\.to_vmm)\.\w+$", r"\1.EXIT", name)
        return re.sub(r"^(platform\.vcpuN\.faults\.injected)\.\w+$", r"\1.NAME", name)

    p = subprocess.run([ctest, "--test-dir", build, "--show-only=json-v1", "-R", r"^scenario\."],
                       capture_output=True, text=True)
    tests = json.loads(p.stdout)["tests"] if p.returncode == 0 else []
    if len(tests) < 50:
        fail(f"ctest lists {len(tests)} scenario runs: {p.stderr}")

    def one(t):
        cwd = next((x["value"] for x in t.get("properties", []) if x["name"] == "WORKING_DIRECTORY"), None)
        path = os.path.join(WORK, "ref-" + t["name"] + ".json")
        subprocess.run(t["command"] + ["-q", "--stats", path], cwd=cwd, capture_output=True, text=True)
        return stats(path) if os.path.exists(path) else None

    with ThreadPoolExecutor(2) as pool:
        runs = [r for r in pool.map(one, tests) if r]
    emitted, rates = {}, set()
    for r in runs:
        for name, c in r["counters"].items():
            emitted.setdefault(norm(name), c["unit"])
        rates.update(norm(n) for n in r["derived"])
    undocumented = sorted(n for n in emitted if n not in documented)
    wrong_unit = sorted(f"{n}: {emitted[n]} (docs: {documented[n]})" for n in emitted
                        if n in documented and documented[n] != emitted[n])
    never = sorted(n for n in documented if n not in emitted)
    rates_missing = sorted(rates - doc_rates)
    rates_never = sorted(doc_rates - rates)
    problems = [f"{what}: {names}" for what, names in
                (("emitted but not in docs/debugging.md", undocumented), ("unit differs", wrong_unit),
                 ("documented but no run emits it", never), ("rate not documented", rates_missing),
                 ("documented rate no run emits", rates_never)) if names]
    if problems:
        fail("\n".join(problems))
    # The gem5 text of a TD run: issue 11 item 4's statistics with gem5's units.
    js = os.path.join(WORK, "ref-text.json")
    run(["run", config("gmem-conversions-guest-tdx.yaml"), "-q", "--stats", js])
    units = {}
    for l in open(js[:-5] + ".txt", encoding="utf-8"):
        m = re.match(r"^(\S+) +\S+ +# .* \((\S+)\)$", l.rstrip("\n"))
        if m:
            units[norm(m.group(1))] = m.group(2)
    item4 = {"hostSeconds": "Second", "simSeconds": "Second", "simTicks": "Tick",
             "hostAccessRate": "Count/Second", "hostOpRate": "Op/Second", "hostInstRate": "Count/Second",
             "platform.vcpuN.mmu.tlb_hits": "Count", "platform.vcpuN.mmu.tlb_misses": "Count",
             "platform.vcpuN.mmu.tlb_hit_rate": "Ratio", "platform.vcpuN.mmu.walk_reads": "Count",
             "platform.kvm.exits.to_vmm.EXIT": "Count", "platform.kvm.exits.in_kernel.WHY": "Count",
             "platform.vcpuN.faults.translation": "Count", "platform.vcpuN.faults.injected.NAME": "Count",
             "platform.gmem.conversions": "Page", "platform.frames.guest": "Frame", "platform.frames.host": "Frame",
             "platform.mee.encryptions": "Line", "platform.mee.decryptions": "Line",
             "platform.mee.poisonings": "Line", "platform.mee.machine_checks": "Count"}
    bad = [f"{n} ({units.get(n, 'missing')}, want {u})" for n, u in item4.items() if units.get(n) != u]
    if bad:
        fail("the gem5 text lacks or mislabels: " + ", ".join(bad))
    print(f"ok: {len(emitted)} counters and {len(rates)} rates from {len(runs)} runs, all documented; "
          f"{len(item4)} of issue 11's statistics in the text with their units")

elif CASE == "vcd_when_interrupted":
    # SIGINT mid-run (a guest that never stops): exit 130, the VCD complete.
    vcd = os.path.join(WORK, "sigint.vcd")
    out = os.path.join(WORK, "sigint.out")
    with open(out, "w") as o:
        p = subprocess.Popen([COCOSIM, "run", os.path.join(SRC, "tests/limits/runaway-guest.yaml"),
                              "--vcd", vcd, "--timeout", "0", "--max-sim-time", "0"], stdout=o, stderr=o)
        for _ in range(100):
            time.sleep(0.1)
            if "on x86-tdx" in open(out).read():
                break
        time.sleep(0.5)
        p.send_signal(signal.SIGINT)
        rc = p.wait(timeout=120)
    text = open(out).read()
    if rc != 130:
        fail(f"exit {rc}, expected 130\n{text}")
    vcd2fst(vcd)
    sig, comments = read_vcd(vcd)
    if not any("stopped by SIGINT" in c for c in comments):
        fail(f"the VCD does not say the run was interrupted: {comments}")
    if not sig.get("platform.vcpu0.gpa"):
        fail("the interrupted run's VCD has no guest accesses")
    print(f"ok: exit 130, VCD complete with {len(sig['platform.vcpu0.gpa'])} gpa changes")

elif CASE == "text_trace":
    sc = config("pkvm-mem-share.yaml")
    p = run(["run", sc, "--trace", "bsu"], expect_rc=2)
    if "unknown category 'bsu'" not in p.stderr or "bus, gmem, kvm, tdx, pkvm, mmu, guest" not in p.stderr:
        fail("an unknown category must be named with the valid ones: " + p.stderr)
    run(["run", sc, "--trace-file", os.path.join(WORK, "x.trace")], expect_rc=2)
    p = run(["run", sc, "--trace", "pkvm,guest,kvm"])
    lines = [l for l in p.stdout.splitlines() if l.startswith("[")]
    bad = [l for l in lines if not re.match(r"^\[\d+ ps\] [\w.]+: \S", l)]
    if not lines or bad:
        fail(f"trace lines must read '[T ps] path: details': {bad[:3]}")
    for want in ("platform.pkvm: call=__pkvm_host_donate_guest", "platform.pkvm: guest_hvc=FUNC_MEM_SHARE",
                 "platform.vcpu0: op=store", "vmm: step 1 KVM_CREATE_VM"):
        if not any(want in l for l in lines):
            fail(f"no trace line with '{want}'")
    times = [int(re.match(r"\[(\d+)", l).group(1)) for l in lines]
    tf = os.path.join(WORK, "mapgpa.trace")
    run(["run", config("tdx-mapgpa-conversions.yaml"), "-q", "--trace", "kvm,tdx", "--trace-file", tf])
    text = open(tf).read()
    for want in ("auto: KVM_HC_MAP_GPA_RANGE", "platform.tdx: status=TDX_SUCCESS",
                 "platform.tdx: leaf=TDH.MNG.CREATE", "platform.tdx: leaf=TDH.MEM.PAGE.AUG"):
        if want not in text:
            fail(f"no '{want}' line in {tf}")
    print(f"ok: {len(lines)} lines, from {times[0]} to {times[-1]} ps")

elif CASE == "quiet_and_progress":
    sc = config("pkvm-mem-share.yaml")
    p = run(["run", sc, "--quiet"])
    if p.stdout.count("\n") != 1 or "expectations passed" not in p.stdout or p.stderr:
        fail("--quiet must print the verdict line only:\n" + p.stdout + p.stderr)
    p = run(["run", os.path.join(SRC, "tests/waves/fails.yaml"), "--quiet"], expect_rc=1)
    if p.stdout.count("\n") != 1 or "1 failed" not in p.stdout:
        fail("--quiet on a failing run: the verdict line only:\n" + p.stdout)
    run(["run", sc, "-q", "-v"], expect_rc=2)
    # Not a terminal: no progress line, nothing on stderr.
    p = run(["run", config("gmem-conversions-guest.yaml")])
    if p.stderr:
        fail("output to a pipe must carry no progress line: " + p.stderr[:200])
    # On a terminal (script(1) gives it one): the progress line shows.
    log = os.path.join(WORK, "tty.log")
    runaway = os.path.join(SRC, "tests/limits/runaway-guest.yaml")
    subprocess.run(["script", "-qec", f"{COCOSIM} run {runaway} --timeout 2 --max-sim-time 0", log],
                   capture_output=True, text=True, timeout=300)
    if "\x1b[Kcocosim: step" not in open(log, errors="replace").read():
        fail("no progress line on a terminal")
    print("ok")

elif CASE == "gem5_stats":
    js = os.path.join(WORK, "g5.json")
    run(["run", config("private-mem-kvm-exits-tdx.yaml"), "-q", "--stats", js, "--stats-interval", "50us"])
    txt = os.path.join(WORK, "g5.txt")
    text = open(txt).read()
    begins = text.count("---------- Begin Simulation Statistics ----------")
    ends = text.count("---------- End Simulation Statistics   ----------")
    total_ps = stats(js)["simulated_time_ps"]
    if begins != ends or begins < total_ps // 50_000_000:
        fail(f"{begins} blocks for {total_ps} ps at 50us each")
    # gem5's ScalarPrint: "%-40s %12s %10s %10s # desc (unit)"; a longer name
    # or value pushes the rest right, as in gem5.
    line = re.compile(r"^(\S+) +(\S+) {22} # .* \((\S+)\)$")
    names = set()
    for l in text.splitlines():
        if l and not l.startswith("-"):
            m = line.match(l)
            if not m:
                fail(f"not gem5's layout: {l!r}")
            name, value = m.group(1), m.group(2)
            if len(name) <= 40 and len(value) <= 12 and (l[:40].rstrip() != name or l[41:53].lstrip() != value):
                fail(f"not in gem5's columns (name 40, value 12): {l!r}")
            names.add(name)
    for want in ("simSeconds", "simTicks", "hostSeconds", "hostAccessRate", "hostOpRate",
                 "platform.vcpu0.mmu.tlb_hits", "platform.vcpu0.mmu.tlb_misses",
                 "platform.vcpu0.mmu.tlb_hit_rate", "platform.vcpu0.mmu.walk_reads",
                 "platform.vcpu0.guest_ops", "platform.gmem.conversions", "platform.frames.guest"):
        if want not in names:
            fail(f"no {want} in the text stats")
    # The blocks add up to the JSON's totals.
    acc = sum(int(m.group(1)) for m in re.finditer(r"^platform\.vcpu0\.guest_ops +(\d+)", text, re.M))
    if acc != stats(js)["counters"]["platform.vcpu0.guest_ops"]["value"]:
        fail(f"interval blocks sum to {acc} guest ops, the JSON says otherwise")
    # The snapshots only look: the JSON is the one a run without them writes.
    plain = os.path.join(WORK, "g5-plain.json")
    run(["run", config("private-mem-kvm-exits-tdx.yaml"), "-q", "--stats", plain])
    d = run(["diff", plain, js], expect_rc=None)
    if d.returncode != 0:
        fail("--stats-interval changed the run:\n" + d.stdout)
    run(["run", config("pkvm-mem-share.yaml"), "--stats-interval", "10us"], expect_rc=2)
    print(f"ok: {begins} blocks")

else:
    fail("unknown case " + CASE)
