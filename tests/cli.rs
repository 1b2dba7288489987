//! The `resdash` binary as a user or a script meets it: exit codes, messages, run directories.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use resdash::protocol::{Event, LogLine, SCHEMA_VERSION};

/// One file per concern under `tests/cli/` (one test binary: resdash is slow to link).
mod cli {
    pub mod attach;
    pub mod dashboard;
}

const TINY: &[&str] = &[
    "--set",
    "model.depth=8",
    "--set",
    "data.image_size=8",
    "--set",
    "data.synthetic_train=128",
    "--set",
    "data.synthetic_test=32",
    "--set",
    "run.batch_size=16",
    "--set",
    "run.eval_every=5",
    "--set",
    "run.train_eval_size=32",
];

fn resdash(args: &[&str], run_dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_resdash"))
        .args(args)
        .args(["--run-dir", run_dir.to_str().unwrap()])
        .output()
        .expect("the resdash binary runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The run directory a test's first run wrote under `run_dir`.
fn first_run(run_dir: &Path) -> PathBuf {
    std::fs::read_dir(run_dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
}

/// A tiny headless run of `steps` steps under `run_dir` that checkpoints every 2 steps; its
/// run directory.
fn checkpointed_run(run_dir: &Path, steps: &str) -> PathBuf {
    let mut args = vec![
        "--headless",
        "--max-steps",
        steps,
        "--set",
        "run.checkpoint_every=2",
    ];
    args.extend(TINY);
    let out = resdash(&args, run_dir);
    assert!(out.status.success(), "{}", stderr(&out));
    first_run(run_dir)
}

/// `resdash --headless --resume FROM --max-steps N`.
fn resume(from: &Path, max_steps: &str, run_dir: &Path) -> Output {
    resdash(
        &[
            "--headless",
            "--resume",
            from.to_str().unwrap(),
            "--max-steps",
            max_steps,
        ],
        run_dir,
    )
}

#[test]
fn headless_run_writes_config_and_versioned_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["--headless", "--jsonl", "--max-steps", "10"];
    args.extend(TINY);
    let out = resdash(&args, dir.path());
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("step ") && err.contains("eval ") && err.contains("depth  8 after 10 steps"),
        "{err}"
    );

    let runs: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 1);
    let config = std::fs::read_to_string(runs[0].join("config.toml")).unwrap();
    assert!(
        config.contains("depth = 8") && config.contains("max_steps = 10"),
        "{config}"
    );
    let metrics = std::fs::read_to_string(runs[0].join("metrics.jsonl")).unwrap();
    let lines: Vec<LogLine> = metrics
        .lines()
        .map(|l| serde_json::from_str(l).expect("valid JSON line"))
        .collect();
    assert!(lines.iter().all(|l| l.v == SCHEMA_VERSION));
    // `--jsonl` prints the log's own lines, schema version and time included.
    assert_eq!(String::from_utf8_lossy(&out.stdout), metrics);
    assert_eq!(
        lines
            .iter()
            .filter(|l| matches!(l.event, Event::Step(_)))
            .count(),
        10
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| matches!(l.event, Event::Eval(_)))
            .count(),
        2
    );
    assert_eq!(lines.last().map(|l| &l.event), Some(&Event::Stopped));
}

/// Mean training loss of each net over the first and the last `k` steps at `depth`.
fn first_and_last_losses(metrics: &str, depth: usize, k: usize) -> [(f64, f64); 2] {
    let mut current = 0;
    let mut losses: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for line in metrics.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        match v["event"].as_str() {
            Some("started") => current = v["depth"].as_u64().unwrap() as usize,
            Some("changed") if v["change"]["kind"] == "depth" => {
                current = v["change"]["to"].as_u64().unwrap() as usize;
            }
            Some("step") if current == depth => {
                for (net, l) in losses.iter_mut().enumerate() {
                    l.push(v["scores"][net]["loss"].as_f64().unwrap());
                }
            }
            _ => {}
        }
    }
    losses.map(|l| {
        assert!(l.len() >= 2 * k, "{} steps at depth {depth}", l.len());
        let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
        (mean(&l[..k]), mean(&l[l.len() - k..]))
    })
}

#[test]
fn a_tiny_sweep_prints_one_row_per_depth_and_both_nets_learn() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["sweep", "--depths", "8,14", "--steps", "40", "--json"];
    args.extend(TINY);
    let out = resdash(&args, dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("one JSON object on stdout");
    let rows = json["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for (row, depth) in rows.iter().zip([8, 14]) {
        assert_eq!(row["depth"], depth);
        assert_eq!(row["steps"], 40);
        for key in [
            "plain_train_error",
            "plain_test_error",
            "residual_train_error",
            "residual_test_error",
        ] {
            let e = row[key].as_f64().unwrap();
            assert!((0.0..=100.0).contains(&e), "{key} = {e}");
        }
    }
    let metrics = std::fs::read_to_string(first_run(dir.path()).join("metrics.jsonl")).unwrap();
    for depth in [8, 14] {
        for (net, (first, last)) in first_and_last_losses(&metrics, depth, 10)
            .iter()
            .enumerate()
        {
            assert!(
                last < first,
                "depth {depth} net {net}: loss {first:.3} over the first 10 steps, {last:.3} over the last 10"
            );
        }
    }
}

#[test]
fn a_headless_run_stopped_early_says_how_to_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let run = checkpointed_run(dir.path(), "2");
    let err = stderr(&resume(&run, "4", dir.path()));
    assert!(!err.contains("stopped before"), "at its step limit: {err}");

    for (every, says) in [
        (
            "2",
            "note   stopped before its step limit; go on from its newest checkpoint with: \
             resdash --headless --resume",
        ),
        (
            "0",
            "note   stopped before its step limit and left no checkpoint to go on from \
             (--set run.checkpoint_every=N",
        ),
    ] {
        let cut = tempfile::tempdir().unwrap();
        let mut args = vec!["--headless", "--max-time", "1", "--max-steps", "1000000"];
        args.extend(TINY);
        let every_setting = format!("run.checkpoint_every={every}");
        args.extend(["--set", &every_setting]);
        let out = resdash(&args, cut.path());
        let err = stderr(&out);
        assert!(out.status.success(), "{err}");
        assert!(err.contains(says), "{err}");
        if every == "2" {
            let run = first_run(cut.path());
            assert!(
                err.contains(&format!("--resume {}\n", run.display())),
                "{err}"
            );
        }
    }
}

#[test]
fn a_resumed_sweep_goes_on_from_its_checkpoints_depth_to_the_same_table() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = |extra: &[&str], run_dir: &Path| {
        let mut args = extra.to_vec();
        args.extend(["sweep", "--depths", "8,14", "--steps", "4", "--json"]);
        // TINY but its model.depth: a resume refuses a depth override, and --depths sets it.
        assert_eq!(TINY[1], "model.depth=8");
        args.extend(&TINY[2..]);
        args.extend(["--set", "run.checkpoint_every=2"]);
        resdash(&args, run_dir)
    };
    let whole = sweep(&[], dir.path());
    assert!(whole.status.success(), "{}", stderr(&whole));
    // Step 6 is two steps into depth 14, depth 8 done: where a killed sweep would resume.
    let ckpt = first_run(dir.path()).join("checkpoints/step-000006");
    let again = tempfile::tempdir().unwrap();
    let resumed = sweep(&["--resume", ckpt.to_str().unwrap()], again.path());
    // Before, the sweep asked for depth 8 again and the checkpoint (depth 14) refused it.
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let rows = |out: &Output| {
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        json["rows"].clone()
    };
    assert_eq!(rows(&resumed), rows(&whole));
    assert_eq!(rows(&whole).as_array().map(Vec::len), Some(2));

    // A checkpoint at a depth the sweep does not hold: refused before a run directory exists.
    let out = resdash(
        &[
            "--resume",
            ckpt.to_str().unwrap(),
            "sweep",
            "--depths",
            "8,20",
            "--steps",
            "4",
        ],
        again.path(),
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("the checkpoint is at depth 14")
            && err.contains("--depths 8,20 does not hold 14: pass --depths 14,20"),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(again.path()).unwrap().count(), 1);

    // A sweep stopped early (here by --max-time) says how to go on.
    let cut = tempfile::tempdir().unwrap();
    let mut args = vec![
        "--max-time",
        "1",
        "sweep",
        "--depths",
        "8,14",
        "--steps",
        "100000",
    ];
    args.extend(&TINY[2..]);
    args.extend(["--set", "run.checkpoint_every=2"]);
    let out = resdash(&args, cut.path());
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    let run = first_run(cut.path());
    assert!(
        err.contains(&format!(
            "note   the sweep stopped before depth 8 was done; go on with: resdash --resume {} \
             sweep --depths 8,14 --steps 100000",
            run.display()
        )),
        "{err}"
    );
}

#[test]
fn a_sweep_takes_its_depths_and_steps_from_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["sweep", "--json", "--set", "model.ladder=[8, 14]"];
    args.extend(TINY);
    args.extend(["--set", "run.max_steps=0"]);
    let out = resdash(&args, dir.path());
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--steps") && err.contains("run.max_steps"),
        "{err}"
    );

    args.extend(["--set", "run.max_steps=2"]);
    let out = resdash(&args, dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let depths: Vec<u64> = json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["depth"].as_u64().unwrap())
        .collect();
    assert_eq!(depths, [8, 14]);

    // A depth outside 6n+2 is refused before anything trains, quoting --depths as typed.
    let out = resdash(&["sweep", "--depths", "8,9", "--steps", "2"], dir.path());
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--depths 8,9") && err.contains("model.depth = 9") && !err.contains("--set"),
        "{err}"
    );
}

#[test]
fn a_bad_config_exits_2_naming_file_key_and_allowed_values() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "[optim]\nmomentum = 2.0\n").unwrap();
    let out = resdash(
        &["--headless", "--config", file.to_str().unwrap()],
        dir.path(),
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("bad.toml") && err.contains("optim.momentum") && err.contains("[0, 1)"),
        "{err}"
    );

    std::fs::write(&file, "[run]\nbach_size = 2\n").unwrap();
    let out = resdash(
        &["--headless", "--config", file.to_str().unwrap()],
        dir.path(),
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("run.bach_size") && err.contains("batch_size"),
        "{err}"
    );

    // A flag is quoted as it was typed, not as the `--set` it becomes.
    let out = resdash(&["--headless", "--backend", "tpu"], dir.path());
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("run.backend") && err.contains("--backend tpu") && !err.contains("--set"),
        "{err}"
    );

    // Said once: the cause is part of the message, not repeated as its source.
    let missing = dir.path().join("missing.toml");
    let out = resdash(
        &["--headless", "--config", missing.to_str().unwrap()],
        dir.path(),
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("missing.toml"), "{err}");
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
}

#[test]
fn a_missing_dataset_exits_2_with_how_to_get_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = resdash(
        &[
            "--headless",
            "--set",
            "data.source=fashion-mnist",
            "--set",
            "data.dir=/nonexistent/fmnist",
        ],
        dir.path(),
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("/nonexistent/fmnist")
            && err.contains("apt-get install dataset-fashion-mnist"),
        "{err}"
    );
}

#[test]
fn a_corrupt_checkpoint_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("ckpt");
    std::fs::create_dir_all(&ckpt).unwrap();
    std::fs::write(ckpt.join("state.json"), "{ \"schema\": 1, \"step\": ").unwrap();
    let out = resdash(
        &["--headless", "--resume", ckpt.to_str().unwrap()],
        dir.path(),
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("state.json") && err.contains("corrupt"),
        "{err}"
    );

    let out = resdash(
        &[
            "--headless",
            "--resume",
            dir.path().join("nothing").to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("not a resdash checkpoint"),
        "{}",
        stderr(&out)
    );

    // A tensor file cut short is found only when the trainer loads it, after the run directory
    // was made: that directory goes again, and only the checkpointed run stays.
    let runs = dir.path().join("runs");
    let ckpt = checkpointed_run(&runs, "2").join("checkpoints/step-000002");
    let model = ckpt.join("residual.mpk");
    let bytes = std::fs::read(&model).unwrap();
    std::fs::write(&model, &bytes[..bytes.len() / 2]).unwrap();
    let out = resume(&ckpt, "4", &runs);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("residual.mpk") && err.contains("corrupt"),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(&runs).unwrap().count(), 1, "{err}");
    // Nor does it point another terminal at the directory it removed.
    assert!(!err.contains("resdash watch"), "{err}");
}

#[test]
fn a_checkpoint_resumes_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let run = checkpointed_run(dir.path(), "4");
    let ckpt = run.join("checkpoints/step-000004");
    assert!(ckpt.join("state.json").is_file());

    let out = resume(&ckpt, "6", dir.path());
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("step        6") || err.contains("depth  8 after 6 steps"),
        "{err}"
    );

    // An override that changes the nets is refused before a run directory is made (it used to
    // read as a corrupt tensor file, and left an empty run behind).
    let runs = || std::fs::read_dir(dir.path()).unwrap().count();
    let before = runs();
    let ckpt_arg = ckpt.to_str().unwrap();
    let out = resdash(
        &["--headless", "--resume", ckpt_arg, "--set", "model.width=2"],
        dir.path(),
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("model.width = 1, but model.width = 2 was requested")
            && err.contains("drop the model.width override")
            && !err.contains("corrupt"),
        "{err}"
    );
    assert_eq!(runs(), before, "a refused resume made a run directory");

    // The run directory itself: its newest checkpoint (step 4, not step 2).
    let out = resume(&run, "5", dir.path());
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("resuming from") && err.contains("step-000004 (the newest)"),
        "{err}"
    );
    assert!(err.contains("depth  8 after 5 steps"), "{err}");

    // A run directory with no checkpoint says how to get one.
    std::fs::remove_dir_all(run.join("checkpoints/step-000002")).unwrap();
    std::fs::remove_dir_all(&ckpt).unwrap();
    let out = resdash(
        &["--headless", "--resume", run.to_str().unwrap()],
        dir.path(),
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("holds no checkpoint yet") && err.contains("run.checkpoint_every"),
        "{err}"
    );
}

#[test]
fn watch_needs_a_run_directory_and_a_terminal_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let out = resdash(&["watch", dir.path().to_str().unwrap()], dir.path());
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("no metrics.jsonl here") && err.contains("runs/<id>"),
        "{err}"
    );

    // Without a directory it looks for the latest run under --run-dir: none yet, whether the
    // folder is empty or not made yet (before the first run).
    for run_dir in [dir.path().to_path_buf(), dir.path().join("not-made-yet")] {
        let out = resdash(&["watch"], &run_dir);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("has a metrics.jsonl yet"), "{err}");
    }

    // A real run directory, but stdout is a pipe here: the text alternative is named.
    let mut args = vec!["--headless", "--max-steps", "1"];
    args.extend(TINY);
    assert!(resdash(&args, dir.path()).status.success());
    let run = first_run(dir.path());
    for args in [vec!["watch", run.to_str().unwrap()], vec!["attach"]] {
        let out = resdash(&args, dir.path());
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains("needs a terminal")
                && err.contains(&format!("tail -f {}", run.join("metrics.jsonl").display())),
            "{err}"
        );
    }
}

#[test]
fn watch_refuses_flags_that_would_not_reach_the_run_it_shows() {
    // Before, each of these was silently ignored: the watched run trained on unchanged.
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["--headless", "--max-steps", "1"];
    args.extend(TINY);
    assert!(resdash(&args, dir.path()).status.success());
    let run = first_run(dir.path());
    let run = run.to_str().unwrap();
    for (args, named) in [
        (
            vec!["watch", run, "--set", "optim.lr=0.5"],
            "--set optim.lr=0.5",
        ),
        (vec!["--max-time", "3", "watch", run], "--max-time"),
        (vec!["watch", run, "--headless"], "--headless"),
    ] {
        let out = resdash(&args, dir.path());
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains(&format!("error: {named}: watch shows a run that another")),
            "{args:?}: {err}"
        );
    }
}
