#!/usr/bin/env python3
"""Where each host thread's CPU time goes, split into work and waiting, from `perf script`.

CPU time per thread (benches/host_cpu.rs) cannot say which thread bounds a step on burn's fusion
backends: cubecl's channel between threads busy-waits. A thread whose queue to the next thread
is full spins (up to ~500,000 pause instructions before it yields), and a device thread with an
empty queue spins before it sleeps, so upstream of the slowest thread every thread reads busy.
Sampled instruction addresses tell the two apart: a sample at or just after a `pause`
instruction (within 32 bytes) (x86's spin-loop hint, which is where a spinning thread spends its time whatever
function the loop was inlined into), in a yield or in a sleep is waiting; the rest is work. The
thread with the most work per step is the host's bound.

    perf record -F 2000 -o perf.data PROGRAM ...   # cpu-clock samples, every thread
    perf script -i perf.data -F comm,tid,period,ip,sym,symoff,dso |
        python3 scripts/perf_threads.py --steps N

`--steps N` divides by the number of steps the samples cover (record only those: perf's
`--control` and `-D -1`, as scripts/cubecl-lavapipe.sh --perf does). Threads are grouped by
name: burn-fusion's `DSU-*`, cubecl's `DSD-*` (lavapipe's own threads take the name of the
thread that started them) and the unnamed ones (the program's, autodiff's recording).
"""
import argparse
import collections
import re
import struct
import subprocess
import sys

# Symbols where a thread waits rather than works, for code whose bytes cannot be read (the
# kernel's, or a library gone since): yields, sleeps, the scheduler, and cubecl-common 0.10's
# channel, whose client `enqueue` (often inlined into `ChannelDeviceHandle::submit_inner`) spins
# while the queue is full and whose server loop (`custom_channel::Server::start`) spins, yields,
# then sleeps while it is empty.
WAITING = re.compile(
    r"ChannelDeviceHandle<.*>::submit_inner|custom_channel::Server::start|sched_yield|"
    r"thread::functions::sleep|nanosleep|spin_loop|oneshot.*recv|finish_task_switch|"
    r"__schedule|schedule$|do_sched_yield|hrtimer|irqentry_exit"
)


PAUSE = b"\xf3\x90"


class Code:
    """The machine code of one ELF file, addressed as it ran: the load bias is found from the
    samples themselves (runtime symbol start = ip - symoff; file address from `nm`)."""

    def __init__(self, path, samples):
        self.segments = []  # (vaddr, offset, size) of each PT_LOAD
        with open(path, "rb") as f:
            self.data = f.read()
        if self.data[:4] != b"\x7fELF" or self.data[4] != 2:
            raise ValueError("not a 64-bit ELF file")
        phoff, = struct.unpack_from("<Q", self.data, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", self.data, 0x36)
        for i in range(phnum):
            kind, _, offset, vaddr, _, filesz = struct.unpack_from(
                "<IIQQQQ", self.data, phoff + i * phentsize)
            if kind == 1:
                self.segments.append((vaddr, offset, filesz))
        names = collections.defaultdict(list)
        nm = subprocess.run(["nm", "-C", "--defined-only", path], capture_output=True, text=True)
        for line in nm.stdout.splitlines():
            parts = line.split(" ", 2)
            if len(parts) == 3 and parts[1] in "tTwW":
                names[re.sub(r"::h[0-9a-f]{16}$", "", parts[2])].append(int(parts[0], 16))
        votes = collections.Counter()
        for ip, sym, off in samples[:5000]:
            for addr in names.get(sym, [])[:50]:
                votes[ip - off - addr] += 1
        if not votes:
            raise ValueError("no sampled symbol found by nm")
        self.bias = votes.most_common(1)[0][0]

    def spinning(self, ip):
        """A `pause` at the address or within the 32 bytes before it: a spin loop is a few
        instructions around one (cubecl's client loop re-tries an atomic add 19 bytes after)."""
        address = ip - self.bias
        for vaddr, offset, size in self.segments:
            if vaddr + 32 <= address < vaddr + size - 2:
                at = offset + address - vaddr
                return PAUSE in self.data[at - 32:at + 2]
        return False


def group(comm):
    m = re.match(r"(DS[UD])-", comm)
    return f"{m.group(1)}-* ({'burn-fusion' if m.group(1) == 'DSU' else 'cubecl, launches'})" \
        if m else f"{comm} (recording, unnamed threads)"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=1, help="steps the samples cover")
    p.add_argument("--top", type=int, default=8, help="working symbols listed per thread")
    args = p.parse_args()
    work = collections.defaultdict(collections.Counter)  # group -> symbol -> ns
    wait = collections.Counter()  # group -> ns
    # `perf script -F comm,tid,period,ip,sym,symoff,dso`: "comm tid period ip sym+0xoff (dso)"
    # (comm may hold spaces; sym is "[unknown]" where perf has none).
    line_re = re.compile(r"^\s*(.+?)\s+(\d+)\s+(\d+)\s+([0-9a-f]+)\s*(.*?)(?:\+0x([0-9a-f]+))?"
                         r"\s+\((.*)\)\s*$")
    samples = []
    for line in sys.stdin:
        m = line_re.match(line)
        if m:
            comm, _, period, ip, sym, off, dso = m.groups()
            samples.append((comm, int(period), int(ip, 16), sym.strip() or "[unknown]",
                            int(off or "0", 16), dso))
    code = {}
    for dso in {s[5] for s in samples}:
        try:
            code[dso] = Code(dso, [(s[2], s[3], s[4]) for s in samples if s[5] == dso])
        except (OSError, ValueError, IndexError, struct.error):
            pass  # the kernel, [unknown], a stripped library: symbols alone decide
    for comm, period, ip, sym, _, dso in samples:
        g = group(comm)
        if WAITING.search(sym) or dso in code and code[dso].spinning(ip):
            wait[g] += period
        else:
            work[g][sym] += period
    if not work and not wait:
        sys.exit("perf_threads: no samples read "
                 "(expected `perf script -F comm,tid,period,ip,sym,symoff,dso`)")
    per_step = lambda ns: ns / 1e6 / args.steps
    groups = sorted(set(work) | set(wait), key=lambda g: -sum(work[g].values()))
    print(f"host threads, ms per step over {args.steps} steps (work: the bound is the largest; "
          "waiting: cubecl's spin/yield/sleep)")
    for g in groups:
        w = sum(work[g].values())
        print(f"  {g:<40} work {per_step(w):8.2f}   waiting {per_step(wait[g]):8.2f}")
    for g in groups:
        w = sum(work[g].values())
        if not w:
            continue
        top = ", ".join(f"{100 * ns / w:.0f}% {short(s)}" for s, ns in work[g].most_common(args.top))
        print(f"  {g.split()[0]} work: {top}")


def short(sym):
    """A symbol without its generic arguments and crate paths, e.g. `MultiStream::register`."""
    while True:
        s = re.sub(r"<[^<>]*>", "", sym)
        if s == sym:
            break
        sym = s
    parts = [x for x in sym.split("::") if x]
    return "::".join(parts[-2:]) if len(parts) > 1 else sym


if __name__ == "__main__":
    main()
