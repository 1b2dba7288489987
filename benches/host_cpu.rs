//! Where a step's host CPU time goes, thread by thread (Linux `/proc`; empty elsewhere).
//!
//! On burn's fusion backends a step keeps three kinds of thread busy: the one that records
//! autodiff and registers each operation, burn-fusion's and cubecl's device threads (named
//! `DSU-*` and `DSD-*`: the first fuses the operations, the second launches the kernels), and the
//! driver's. If any of them is busy for longer than the GPU's kernels take, the step is bound by
//! the host, and fewer or faster kernels gain nothing. But CPU time counts busy-waiting too:
//! cubecl's device threads spin briefly before they sleep, and a thread whose queue to the next
//! is full spins until it drains, so every thread upstream of the bound reads busy. CPU time is
//! an upper bound on a thread's work; `scripts/cubecl-lavapipe.sh --perf` separates the two.
//!
//! Shared by the throughput harness and `scripts/cubecl-lavapipe.sh`.

use std::collections::BTreeMap;

/// The CPU time so far of every thread of this process.
pub struct ThreadClock {
    /// (thread id, name, CPU nanoseconds).
    threads: Vec<(String, String, u64)>,
    /// The whole process's user + system time in clock ticks, exited threads included.
    process_ticks: u64,
}

impl ThreadClock {
    pub fn now() -> Self {
        let mut threads = Vec::new();
        for entry in std::fs::read_dir("/proc/self/task")
            .into_iter()
            .flatten()
            .flatten()
        {
            let dir = entry.path();
            let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap_or_default();
            // schedstat: nanoseconds on the CPU, nanoseconds waiting, time slices.
            let ns = read("schedstat")
                .split_whitespace()
                .next()
                .and_then(|v| v.parse().ok());
            if let Some(ns) = ns {
                let id = entry.file_name().to_string_lossy().into_owned();
                threads.push((id, read("comm").trim().to_string(), ns));
            }
        }
        Self {
            threads,
            process_ticks: process_ticks().unwrap_or(0),
        }
    }

    /// CPU milliseconds per step since `self`, by thread name, largest first: this thread is
    /// "this thread", threads that ended in between (the trainer's per-step workers) are
    /// "exited threads" (from the process's total, so to 10 ms per run). Below 0.05 ms left out.
    pub fn per_step_since(&self, steps: usize) -> Vec<(String, f64)> {
        let now = Self::now();
        let this = std::fs::read_link("/proc/thread-self")
            .ok()
            .and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()));
        let mut by_name: BTreeMap<String, u64> = BTreeMap::new();
        let mut live_ns = 0;
        for (id, name, ns) in &now.threads {
            let before = self
                .threads
                .iter()
                .find(|(i, _, _)| i == id)
                .map_or(0, |t| t.2);
            let name = if this.as_deref() == Some(id) {
                "this thread"
            } else {
                name
            };
            *by_name.entry(name.to_string()).or_default() += ns.saturating_sub(before);
            live_ns += ns.saturating_sub(before);
        }
        // Linux reports process times in ticks of 1/100 s (USER_HZ) on every common platform.
        let total_ns = now.process_ticks.saturating_sub(self.process_ticks) * 10_000_000;
        if now.process_ticks > 0 && total_ns > live_ns {
            by_name.insert("exited threads".to_string(), total_ns - live_ns);
        }
        let mut rows: Vec<(String, f64)> = by_name
            .into_iter()
            .map(|(name, ns)| (name, ns as f64 / 1e6 / steps.max(1) as f64))
            .filter(|(_, ms)| *ms >= 0.05)
            .collect();
        rows.sort_by(|a, b| b.1.total_cmp(&a.1));
        rows
    }
}

/// utime + stime of the whole process, from `/proc/self/stat`.
fn process_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name (which may hold spaces): state is field 3,
    // utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(field(14)? + field(15)?)
}

/// `rows` as a JSON object, name -> milliseconds.
#[allow(dead_code)] // each bench binary uses a subset
pub fn json(rows: &[(String, f64)]) -> String {
    let items: Vec<String> = rows
        .iter()
        .map(|(name, ms)| format!("{name:?}:{ms:.2}")) // thread names: plain ASCII
        .collect();
    format!("{{{}}}", items.join(","))
}
