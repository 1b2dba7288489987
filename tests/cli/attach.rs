//! Steering a run from another terminal: the control socket of a headless run, a hangup that
//! leaves headless training going, a dashboard whose terminal goes away mid-run, which
//! trains on and is steered from elsewhere, and one whose terminal stops taking output.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use resdash::protocol::{Change, Command as Cmd, Event, Hyper, LogLine, RunState};
use resdash::remote::{self, ControlClient};

use crate::{TINY, first_run};

/// Long enough for a slow CI machine, short enough that a hang fails the test.
const PATIENCE: Duration = Duration::from_secs(180);

/// A child process killed when the test ends, however it ends.
pub(crate) struct Killed(pub(crate) Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A process that is not this one's child (the dashboard `script` started), killed when the test
/// ends, however it ends: a failed test must not leave it training in the background. Killed
/// only while its command line still names the test's run directory (never a reused pid).
struct KilledPid {
    pid: u32,
    run_dir: PathBuf,
}

impl Drop for KilledPid {
    fn drop(&mut self) {
        if is_dashboard_of(self.pid, &self.run_dir) {
            let _ = Command::new("kill")
                .args(["-KILL", &self.pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Waits until `f` gives `Some`, or fails the test naming `what`.
pub(crate) fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn events(run: &Path) -> Vec<Event> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<LogLine>(l).ok())
        .map(|l| l.event)
        .collect()
}

pub(crate) fn has(run: &Path, f: impl Fn(&Event) -> bool) -> Option<()> {
    events(run).iter().any(f).then_some(())
}

pub(crate) fn is_state(e: &Event, want: RunState) -> bool {
    matches!(e, Event::State { state, .. } if *state == want)
}

/// The run directory, once the run has taken a step.
pub(crate) fn started(run_dir: &Path) -> PathBuf {
    let run = wait_for("the run directory", || {
        std::fs::read_dir(run_dir)
            .ok()?
            .next()
            .map(|_| first_run(run_dir))
    });
    wait_for("the first step", || {
        has(&run, |e| matches!(e, Event::Step(_)))
    });
    run
}

/// Reads a pipe to its end on a thread (so the child never blocks on a full pipe).
pub(crate) fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}

/// What a terminal has been sent so far, read on a thread as it arrives.
fn record(mut pipe: impl Read + Send + 'static) -> Arc<Mutex<Vec<u8>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = pipe.read(&mut buf) {
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    seen
}

fn headless(run_dir: &Path, max_steps: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_resdash"));
    c.args(["--headless", "--max-steps", max_steps, "--max-time", "300"])
        .args(TINY)
        .args(["--run-dir", run_dir.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

#[test]
fn a_headless_run_is_steered_through_its_control_socket() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Killed(headless(dir.path(), "100000").spawn().unwrap());
    let stderr = drain(child.0.stderr.take().unwrap());
    let run = started(dir.path());
    let socket = remote::socket_path(&run);
    let mut client = ControlClient::connect(&socket).unwrap();

    client.send(&Cmd::Pause).unwrap();
    wait_for("paused", || has(&run, |e| is_state(e, RunState::Paused)));
    client
        .send(&Cmd::Set {
            hyper: Hyper::LearningRate(0.025),
        })
        .unwrap();
    client.send(&Cmd::Step { steps: 2 }).unwrap();
    wait_for("two steps and paused again", || {
        let states: Vec<_> = events(&run)
            .into_iter()
            .filter(|e| is_state(e, RunState::Paused))
            .collect();
        (states.len() >= 2).then_some(())
    });
    client.send(&Cmd::Quit).unwrap();
    let status = wait_for("the run to stop", || child.0.try_wait().unwrap());
    let err = stderr.join().unwrap();
    assert!(status.success(), "{status}: {err}");
    for line in [
        "ctrl   resdash watch",
        "ctrl   from another terminal: pause",
        "ctrl   from another terminal: optim.lr = 0.025",
        "ctrl   from another terminal: step 2",
        "ctrl   from another terminal: stop",
    ] {
        assert!(err.contains(line), "{line:?} missing from:\n{err}");
    }

    // Between the two pauses: the new learning rate, then exactly the two steps, at that rate.
    let all = events(&run);
    let first = all
        .iter()
        .position(|e| is_state(e, RunState::Paused))
        .unwrap();
    let second = first
        + 1
        + all[first + 1..]
            .iter()
            .position(|e| is_state(e, RunState::Paused))
            .unwrap();
    let between = &all[first..second];
    assert!(between.iter().any(|e| matches!(
        e,
        Event::Changed { change: Change::Hyper { hyper: Hyper::LearningRate(lr) }, .. } if *lr == 0.025
    )));
    let steps: Vec<_> = between
        .iter()
        .filter_map(|e| match e {
            Event::Step(s) => Some(s.lr),
            _ => None,
        })
        .collect();
    assert_eq!(steps, [0.025, 0.025]);
    assert_eq!(all.last(), Some(&Event::Stopped));
    assert!(!socket.exists(), "the socket file goes when the run ends");
}

#[test]
fn a_hangup_leaves_a_headless_run_training_even_with_its_stderr_gone() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Killed(headless(dir.path(), "60").spawn().unwrap());
    let run = started(dir.path());
    let pid = child.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    // The terminal is gone: what it printed to now fails (EPIPE) and must not matter.
    drop(child.0.stderr.take());
    let status = wait_for("the run to end", || child.0.try_wait().unwrap());
    assert!(status.success(), "{status}");
    let all = events(&run);
    assert!(
        all.iter()
            .any(|e| matches!(e, Event::DepthSummary(s) if s.steps == 60)),
        "the run went on to its step limit"
    );
    assert_eq!(all.last(), Some(&Event::Stopped));
}

/// Whether `pid` is a resdash whose command line names `run_dir`.
fn is_dashboard_of(pid: u32, run_dir: &Path) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let args: Vec<_> = cmdline.split(|&b| b == 0).collect();
    args.first()
        .is_some_and(|exe| String::from_utf8_lossy(exe).ends_with("resdash"))
        && args.contains(&run_dir.as_os_str().as_encoded_bytes())
}

/// The process whose command line names `run_dir`: the dashboard that `script` started.
fn dashboard_pid(run_dir: &Path) -> u32 {
    wait_for("the dashboard's process", || {
        std::fs::read_dir("/proc")
            .ok()?
            .flatten()
            .find_map(|entry| {
                let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
                is_dashboard_of(pid, run_dir).then_some(pid)
            })
    })
}

/// Clock ticks of CPU time the process has used, all threads together; `None` once it has
/// exited (or is a zombie nobody reaps).
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses: state is the first, then
    // utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split(' ').collect();
    if fields.first() == Some(&"Z") {
        return None;
    }
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// `script` running the dashboard over `run_dir` in an 80x24 pseudo-terminal, its input and
/// output piped; killing it hangs that terminal up.
pub(crate) fn in_a_terminal(run_dir: &Path, args: &str) -> Killed {
    let command = format!(
        "stty rows 24 cols 80; exec {} {args} {} --run-dir {}",
        env!("CARGO_BIN_EXE_resdash"),
        TINY.join(" "),
        run_dir.display()
    );
    Killed(
        Command::new("script")
            .args(["-qfec", &command, "/dev/null"])
            .env("TERM", "xterm")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("`script` (util-linux) runs the dashboard in a pseudo-terminal"),
    )
}

#[test]
fn a_dashboard_trains_on_without_its_terminal_and_is_steered_from_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let mut script = in_a_terminal(dir.path(), "--max-steps 40");
    let screen = record(script.0.stdout.take().unwrap());
    let run = started(dir.path());
    let pid = dashboard_pid(dir.path());
    let _dashboard = KilledPid {
        pid,
        run_dir: dir.path().to_path_buf(),
    };
    let mut client = ControlClient::connect(&remote::socket_path(&run)).unwrap();
    client.send(&Cmd::Pause).unwrap();
    wait_for("paused", || has(&run, |e| is_state(e, RunState::Paused)));
    wait_for("the dashboard's log to show the command", || {
        String::from_utf8_lossy(&screen.lock().unwrap())
            .contains("from another terminal: pause")
            .then_some(())
    });

    drop(script);
    wait_for("the dashboard to let go of its terminal", || {
        let out = std::fs::read_link(format!("/proc/{pid}/fd/1")).ok()?;
        (out == Path::new("/dev/null")).then_some(())
    });
    // Paused and with no terminal, the process idles: no thread of it spins on the hung-up
    // terminal (crossterm's key reader did, at most of a core, before it was handed a pipe).
    let before = cpu_ticks(pid).expect("the dashboard outlives its terminal");
    std::thread::sleep(Duration::from_secs(3));
    let used = cpu_ticks(pid).expect("the dashboard outlives its terminal") - before;
    assert!(
        used < 60,
        "{used} ticks of CPU in 3 s while paused: something spins"
    );

    // The same connection steers the run on to its step limit, where it stops as a headless
    // run would, its log complete.
    client.send(&Cmd::Resume).unwrap();
    wait_for("the run to stop", || {
        has(&run, |e| matches!(e, Event::Stopped))
    });
    let all = events(&run);
    assert!(
        all.iter()
            .any(|e| matches!(e, Event::DepthSummary(s) if s.steps == 40)),
        "the run went on to its step limit"
    );
    wait_for("the process to exit", || {
        cpu_ticks(pid).is_none().then_some(())
    });
    assert!(!remote::socket_path(&run).exists());
}

/// Whether a thread of `pid` is blocked writing to its standard output (the terminal is not
/// taking what it is sent).
fn writing_to_stdout(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().any(|task| {
        let call = std::fs::read_to_string(task.path().join("syscall")).unwrap_or_default();
        let mut fields = call.split(' ');
        // write(2) and writev(2) on x86-64 and on aarch64, with fd 1 as their first argument.
        matches!(fields.next(), Some("1" | "20" | "64" | "66")) && fields.next() == Some("0x1")
    })
}

#[test]
fn a_dashboard_whose_terminal_stops_taking_output_is_still_steered() {
    let dir = tempfile::tempdir().unwrap();
    let mut script = in_a_terminal(dir.path(), "--max-steps 100000");
    // Nobody reads `script`'s output (a stalled SSH connection): once this small pipe and the
    // pseudo-terminal's buffer are full, the dashboard's writes to its terminal block.
    let stdout = script.0.stdout.take().unwrap();
    rustix::pipe::fcntl_setpipe_size(&stdout, 4096).unwrap();
    let run = started(dir.path());
    let pid = dashboard_pid(dir.path());
    let _dashboard = KilledPid {
        pid,
        run_dir: dir.path().to_path_buf(),
    };
    wait_for("the terminal to stop taking output", || {
        writing_to_stdout(pid).then_some(())
    });

    // The run's loop is not the one waiting: it still hears the control socket.
    let mut client = ControlClient::connect(&remote::socket_path(&run)).unwrap();
    client
        .send(&Cmd::Pause)
        .expect("the run hears its control socket while its terminal is stalled");
    wait_for("paused while the terminal is stalled", || {
        has(&run, |e| is_state(e, RunState::Paused))
    });

    // The connection recovers: the terminal catches up, shows the pause, and takes keys.
    let screen = record(stdout);
    wait_for("the screen to show the pause", || {
        String::from_utf8_lossy(&screen.lock().unwrap())
            .contains("PAUSED")
            .then_some(())
    });
    let mut keys = script.0.stdin.take().unwrap();
    keys.write_all(b"q").unwrap();
    keys.flush().unwrap();
    wait_for("the dashboard to quit", || {
        cpu_ticks(pid).is_none().then_some(())
    });
    let _ = script.0.wait();
    let shown = screen.lock().unwrap().clone();
    assert!(
        shown.windows(8).any(|w| w == b"\x1b[?1049l"),
        "the terminal was restored (left the alternate screen) on quit"
    );
}
