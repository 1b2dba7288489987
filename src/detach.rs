//! Letting go of a terminal that hung up, so that the process can train on without it.
//!
//! crossterm reads keys on a thread of its own, from standard input when that is a terminal.
//! Once the terminal hangs up, every read returns end-of-file at once and that thread reads
//! again, forever: most of a core, and nothing can stop it (its loop only leaves on data or
//! "would block"). Pointing standard input at an empty pipe whose writing end stays open turns
//! those reads into "would block", and the thread goes back to waiting. Standard output and
//! error go to `/dev/null`, so nothing is written to (or fails on) the dead terminal, and the
//! terminal's last file descriptor closes.
//!
//! `tests/cli/attach.rs` checks this end to end: a dashboard in a pseudo-terminal that is then
//! hung up, paused, must idle.

use std::fs::OpenOptions;
use std::io::{self, IsTerminal};

use rustix::pipe::{PipeFlags, pipe_with};
use rustix::stdio::{dup2_stderr, dup2_stdin, dup2_stdout};

/// Whether standard input is a terminal, the one crossterm reads keys from. Ask before the
/// terminal goes away: once it has hung up the answer no longer says which file crossterm read.
pub fn stdin_is_terminal() -> bool {
    io::stdin().is_terminal()
}

/// Whether this process's terminal has hung up: it can no longer open it. A terminal that is
/// still there but failed a write, or a key read, opens.
pub fn terminal_hung_up() -> bool {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .is_err()
}

/// Points standard input at an empty, non-blocking pipe that never ends, and standard output and
/// error at `/dev/null`. Call it once the terminal is gone, with no more drawing to do.
pub fn let_go_of_terminal() -> io::Result<()> {
    let (read_end, write_end) = pipe_with(PipeFlags::NONBLOCK | PipeFlags::CLOEXEC)?;
    // The writing end stays open for the life of the process: a pipe with no writer reads as
    // end-of-file, the very thing that made the key reader spin.
    std::mem::forget(write_end);
    dup2_stdin(&read_end)?;
    let null = OpenOptions::new().write(true).open("/dev/null")?;
    dup2_stdout(&null)?;
    dup2_stderr(&null)?;
    Ok(())
}
