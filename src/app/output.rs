//! The dashboard's output to its terminal, written by a thread of its own.
//!
//! Over SSH a terminal can stop taking output without hanging up: when the connection stalls,
//! sshd stops reading once the client's window is full (a few minutes at the dashboard's ~8 KiB/s)
//! and a write to the terminal blocks until the connection is declared dead, which can take
//! hours. Written from the dashboard's loop, that write would stop the loop: the run's log and
//! its control socket with it. Here only the writing thread waits; the loop hands over whole
//! frames, sees the backlog and skips drawing until the terminal has taken the last frame
//! (ratatui diffs against what it last drew, so a skipped frame loses nothing).

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex, PoisonError, TryLockError};
use std::time::{Duration, Instant};

/// The writing side, for ratatui's backend: bytes are kept until `flush`, which hands them to
/// the writing thread and returns at once.
pub struct Output {
    pending: Vec<u8>,
    chunks: Sender<Vec<u8>>,
    state: OutputState,
}

/// What the dashboard's loop asks of the writing thread.
#[derive(Clone, Default)]
pub struct OutputState(Arc<Shared>);

#[derive(Default)]
struct Shared {
    /// Bytes handed over that the terminal has not taken yet.
    backlog: AtomicUsize,
    /// A write failed (the terminal hung up); nothing more is written.
    failed: AtomicBool,
    /// The terminal is being restored: what is still handed over is dropped, not written.
    closed: AtomicBool,
    /// Held by the writing thread while it writes a chunk.
    writing: Mutex<()>,
}

impl Output {
    /// Starts the writing thread over `sink` (the process's standard output).
    pub fn spawn(mut sink: impl Write + Send + 'static) -> io::Result<(Output, OutputState)> {
        let (chunks, incoming) = channel::<Vec<u8>>();
        let state = OutputState::default();
        let shared = Arc::clone(&state.0);
        std::thread::Builder::new()
            .name("resdash-output".into())
            .spawn(move || {
                for chunk in incoming {
                    let _writing = shared
                        .writing
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner);
                    if shared.closed.load(Ordering::SeqCst) {
                        shared.backlog.fetch_sub(chunk.len(), Ordering::SeqCst);
                        continue;
                    }
                    let written = sink.write_all(&chunk).and_then(|()| sink.flush());
                    if written.is_err() {
                        shared.failed.store(true, Ordering::SeqCst);
                    }
                    shared.backlog.fetch_sub(chunk.len(), Ordering::SeqCst);
                    if written.is_err() {
                        break;
                    }
                }
            })?;
        let output = Output {
            pending: Vec::new(),
            chunks,
            state: state.clone(),
        };
        Ok((output, state))
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.state.failed() {
            self.pending.clear();
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the terminal stopped taking output",
            ));
        }
        if self.pending.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::take(&mut self.pending);
        let len = chunk.len();
        self.state.0.backlog.fetch_add(len, Ordering::SeqCst);
        if self.chunks.send(chunk).is_err() {
            self.state.0.backlog.fetch_sub(len, Ordering::SeqCst);
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the terminal's writer has stopped",
            ));
        }
        Ok(())
    }
}

impl OutputState {
    /// Bytes handed over that the terminal has not taken yet.
    pub fn backlog(&self) -> usize {
        self.0.backlog.load(Ordering::SeqCst)
    }

    /// Whether a write to the terminal failed (it hung up).
    pub fn failed(&self) -> bool {
        self.0.failed.load(Ordering::SeqCst)
    }

    /// Waits up to `limit` for the terminal to take what was handed over (before the terminal
    /// is restored, so that nothing drawn lands after it); whether it did.
    pub fn drain(&self, limit: Duration) -> bool {
        let start = Instant::now();
        while self.backlog() > 0 && !self.failed() {
            if start.elapsed() >= limit {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        true
    }

    /// Stops the writing thread before the terminal is restored: nothing handed over after this
    /// is written, and it waits up to `limit` for a chunk being written to finish (so that the
    /// restoring sequences do not land in the middle of a frame, nor a frame after them);
    /// whether the thread is idle.
    pub fn close(&self, limit: Duration) -> bool {
        self.0.closed.store(true, Ordering::SeqCst);
        let start = Instant::now();
        loop {
            if !matches!(self.0.writing.try_lock(), Err(TryLockError::WouldBlock)) {
                return true;
            }
            if start.elapsed() >= limit {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

#[cfg(test)]
mod tests;
