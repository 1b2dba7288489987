//! The dashboard in a terminal of its own: what the terminal holds once it has ended.

use std::io::Write;
use std::process::ExitStatus;

use resdash::protocol::{Event, RunState};

use super::attach::{drain, has, in_a_terminal, is_state, started, wait_for};
use crate::checkpointed_run;

/// The dashboard run with `args` in a terminal until it ends by itself: its exit status and
/// everything it sent to the terminal.
fn run_to_its_end(run_dir: &std::path::Path, args: &str) -> (ExitStatus, String) {
    let mut script = in_a_terminal(run_dir, args);
    let screen = drain(script.0.stdout.take().unwrap());
    let status = wait_for("the dashboard to end", || script.0.try_wait().unwrap());
    (status, screen.join().unwrap())
}

#[test]
fn a_run_that_cannot_start_says_why_once_the_terminal_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = checkpointed_run(dir.path(), "2").join("checkpoints/step-000002");
    // A model file cut short: the trainer cannot start, so it stops before the dashboard has
    // drawn a frame (the dashboard used to leave with exit status 2 and not a word).
    let model = ckpt.join("plain.mpk");
    let bytes = std::fs::read(&model).unwrap();
    std::fs::write(&model, &bytes[..bytes.len() / 2]).unwrap();

    let (status, screen) = run_to_its_end(dir.path(), &format!("--resume {}", ckpt.display()));
    assert_eq!(status.code(), Some(2), "{screen}");
    // What follows the switch back from the alternate screen stays on the terminal.
    let Some((_, after)) = screen.rsplit_once("\x1b[?1049l") else {
        panic!("the terminal was not restored: {screen:?}");
    };
    assert!(
        after.contains("FAULT  cannot start training")
            && after.contains("plain.mpk: corrupt checkpoint file"),
        "{after:?}"
    );
    // The refused start leaves no run directory behind: only the checkpointed run is there.
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "{after:?}"
    );
}

#[test]
fn a_headless_only_flag_is_refused_by_the_dashboard_not_ignored() {
    let dir = tempfile::tempdir().unwrap();
    for (args, flag) in [
        ("--max-time 5", "--max-time"),
        ("--jsonl", "--jsonl"),
        ("--flow-every 2", "--flow-every"),
    ] {
        let (status, screen) = run_to_its_end(dir.path(), args);
        assert_eq!(status.code(), Some(2), "{screen}");
        assert!(
            screen.contains(&format!("{flag} is for headless runs: add --headless")),
            "{screen}"
        );
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "a refused start made a run directory"
    );
}

#[test]
fn quitting_before_the_step_limit_says_how_to_go_on_and_at_it_does_not() {
    // (step limit, checkpoint every, what the terminal holds once the dashboard has ended)
    for (max_steps, every, says) in [
        (
            "100000",
            "2",
            Some("go on from its newest checkpoint with: resdash --resume "),
        ),
        (
            "100000",
            "0",
            Some("left no checkpoint to go on from (c saves one; "),
        ),
        ("2", "0", None),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let args = format!("--max-steps {max_steps} --set run.checkpoint_every={every}");
        let mut script = in_a_terminal(dir.path(), &args);
        let screen = drain(script.0.stdout.take().unwrap());
        let run = started(dir.path());
        if every == "2" {
            wait_for("a checkpoint", || {
                has(&run, |e| matches!(e, Event::Checkpointed { .. }))
            });
        }
        if max_steps == "2" {
            wait_for("the step limit", || {
                has(&run, |e| is_state(e, RunState::Finished))
            });
        }
        let mut keys = script.0.stdin.take().unwrap();
        keys.write_all(b"q").unwrap();
        keys.flush().unwrap();
        let status = wait_for("the dashboard to end", || script.0.try_wait().unwrap());
        drop(keys);
        let screen = screen.join().unwrap();
        assert_eq!(status.code(), Some(0), "{screen}");
        let Some((_, after)) = screen.rsplit_once("\x1b[?1049l") else {
            panic!("the terminal was not restored: {screen:?}");
        };
        match says {
            Some(says) => {
                assert!(
                    after.contains("note   stopped before its step limit"),
                    "{after:?}"
                );
                assert!(after.contains(says), "{after:?}");
                if every == "2" {
                    assert!(
                        after.contains(&format!("--resume {}", run.display())),
                        "{after:?}"
                    );
                }
            }
            None => assert!(
                !after.contains("stopped before"),
                "at its step limit: {after:?}"
            ),
        }
    }
}
