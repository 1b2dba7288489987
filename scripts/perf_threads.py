#!/usr/bin/env python3
"""Where each host thread's CPU time goes, split into work and waiting, from `perf script`.

CPU time per thread (benches/host_cpu.rs) cannot say which thread bounds a step on burn's fusion
backends: cubecl's channel between threads busy-waits. A thread whose queue to the next thread
is full spins (up to ~500,000 pause instructions before it yields), and a device thread with an
empty queue spins before it sleeps, so upstream of the slowest thread every thread reads busy.
Sampled instruction addresses can tell the two apart: samples in cubecl's enqueue/dispatch loop,
in yields and in sleeps are waiting; the rest is work. The thread with the most work per step
is the host's bound.

    perf record -F 2000 -o perf.data PROGRAM ...   # cpu-clock samples, every thread
    perf script -i perf.data -F comm,tid,period,ip,sym | python3 scripts/perf_threads.py --steps N

`--steps N` divides by the number of steps the samples cover (record only those: perf's
`--control` and `-D -1`, as scripts/cubecl-lavapipe.sh --perf does). Threads are grouped by
name: burn-fusion's `DSU-*`, cubecl's `DSD-*` (lavapipe's own threads take the name of the
thread that started them) and the unnamed ones (the program's, autodiff's recording).
"""
import argparse
import collections
import re
import sys

# Symbols where a thread waits rather than works. cubecl-common 0.10's channel: a client's
# `enqueue` (inlined into `ChannelDeviceHandle::submit_inner`) spins while the queue is full; the
# server's loop (`custom_channel::Server::start`) spins, yields, then sleeps while it is empty.
WAITING = re.compile(
    r"ChannelDeviceHandle<.*>::submit_inner|custom_channel::Server::start|sched_yield|"
    r"thread::functions::sleep|nanosleep|spin_loop|oneshot.*recv|finish_task_switch|"
    r"__schedule|schedule$|do_sched_yield|hrtimer|irqentry_exit"
)


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
    # `perf script -F comm,tid,period,ip,sym`: "comm tid period ip sym" (comm may hold spaces).
    line_re = re.compile(r"^\s*(.+?)\s+(\d+)\s+(\d+)\s+[0-9a-f]+\s*(.*)$")
    for line in sys.stdin:
        m = line_re.match(line)
        if not m:
            continue
        comm, _, period, sym = m.groups()
        sym = re.sub(r"\+0x[0-9a-f]+$", "", sym.strip()) or "[unknown]"
        g = group(comm)
        if WAITING.search(sym):
            wait[g] += int(period)
        else:
            work[g][sym] += int(period)
    if not work and not wait:
        sys.exit("perf_threads: no samples read (expected `perf script -F comm,tid,period,ip,sym`)")
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
