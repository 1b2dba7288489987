//! `resdash sweep`: both nets at each depth in turn, `--steps` steps each, then the table of
//! final train/test errors per depth — the seed paper's Figure 1 as text.

use std::fmt::Write;

use serde::Serialize;

use crate::headless::{HeadlessOptions, Outcome, drive};
use crate::protocol::{Command, DepthSummary, Event, RunState};
use crate::runlog::RunLog;
use crate::train::TrainerHandle;
use crate::train::checkpoint::HOW_TO_LEAVE_ONE;

/// One row of `--json` output (errors in percent).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepRow {
    pub depth: usize,
    pub steps: u64,
    pub plain_train_error: f64,
    pub plain_test_error: f64,
    pub residual_train_error: f64,
    pub residual_test_error: f64,
}

impl From<&DepthSummary> for SweepRow {
    fn from(s: &DepthSummary) -> Self {
        // Errors are counts over a few thousand images: 4 decimals of a percent say it all and
        // keep `27.500000000000004` out of the JSON.
        let round = |e: f64| (e * 1e4).round() / 1e4;
        SweepRow {
            depth: s.depth,
            steps: s.steps,
            plain_train_error: round(s.train_error[0]),
            plain_test_error: round(s.test_error[0]),
            residual_train_error: round(s.train_error[1]),
            residual_test_error: round(s.test_error[1]),
        }
    }
}

/// The depths a sweep resumed from a checkpoint at depth `at` trains: from `at` on, as the
/// interrupted sweep would have (the depths before it are done: their rows are in the
/// checkpoint). `named` says where `depths` came from, e.g. `--depths 20,56`, for the error.
pub fn resumed_depths(at: usize, depths: &[usize], named: &str) -> Result<Vec<usize>, String> {
    if let Some(i) = depths.iter().position(|&d| d == at) {
        return Ok(depths[i..].to_vec());
    }
    let suggested: Vec<String> = std::iter::once(at)
        .chain(depths.iter().copied().filter(|&d| d > at))
        .map(|d| d.to_string())
        .collect();
    Err(format!(
        "the checkpoint is at depth {at}, and a resumed sweep goes on from there, but {named} \
         does not hold {at}: pass --depths {}",
        suggested.join(",")
    ))
}

/// What to say when a sweep ends before its last depth (Ctrl-C, SIGTERM, a fault): how to go
/// on from `run_dir`'s newest checkpoint, or that there is none to go on from.
pub fn unfinished(
    run_dir: &std::path::Path,
    depths: &[usize],
    steps: u64,
    rows: &[SweepRow],
    has_checkpoint: bool,
) -> Option<String> {
    let undone = *depths
        .iter()
        .find(|&&d| !rows.iter().any(|r| r.depth == d))?;
    let list: Vec<String> = depths.iter().map(ToString::to_string).collect();
    Some(if has_checkpoint {
        format!(
            "note   the sweep stopped before depth {undone} was done; go on with: resdash \
             --resume {} sweep --depths {} --steps {steps}",
            run_dir.display(),
            list.join(",")
        )
    } else {
        format!(
            "note   the sweep stopped before depth {undone} was done and left no checkpoint to \
             go on from ({HOW_TO_LEAVE_ONE})"
        )
    })
}

/// Runs the sweep; the trainer must have been started at `depths[0]` with `max_steps` set.
pub async fn run(
    handle: TrainerHandle,
    log: RunLog,
    depths: &[usize],
    options: &HeadlessOptions,
) -> (Outcome, Vec<SweepRow>) {
    let mut rows = Vec::new();
    let mut next = depths.iter().skip(1);
    let outcome = drive(handle, log, options, None, |event, commands| match event {
        Event::DepthSummary(s) => {
            rows.push(SweepRow::from(s));
            false
        }
        Event::State {
            state: RunState::Finished,
            ..
        } => match next.next() {
            Some(&depth) => {
                let _ = commands.send(Command::SetDepth { depth });
                false
            }
            None => true,
        },
        _ => false,
    })
    .await;
    (outcome, rows)
}

/// The table printed by `resdash sweep`.
pub fn table(rows: &[SweepRow]) -> String {
    let mut out =
        String::from("depth   steps | plain train  plain test | residual train  residual test\n");
    for r in rows {
        let _ = writeln!(
            out,
            "{:>5} {:>7} | {:>10.2}% {:>10.2}% | {:>13.2}% {:>13.2}%",
            r.depth,
            r.steps,
            r.plain_train_error,
            r.plain_test_error,
            r.residual_train_error,
            r.residual_test_error
        );
    }
    out
}

/// The `--json` line: `{"rows":[…]}`.
pub fn json(rows: &[SweepRow]) -> String {
    serde_json::json!({ "rows": rows }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resumed_sweep_goes_on_from_the_checkpoints_depth() {
        assert_eq!(resumed_depths(56, &[20, 56, 110], "x"), Ok(vec![56, 110]));
        assert_eq!(resumed_depths(20, &[20, 56], "x"), Ok(vec![20, 56]));
        let why = resumed_depths(32, &[20, 56, 110], "--depths 20,56,110").unwrap_err();
        assert!(
            why.contains("--depths 20,56,110 does not hold 32")
                && why.ends_with("pass --depths 32,56,110"),
            "{why}"
        );
    }

    #[test]
    fn an_unfinished_sweep_says_how_to_go_on() {
        let row = |depth| SweepRow {
            depth,
            steps: 9,
            plain_train_error: 1.0,
            plain_test_error: 1.0,
            residual_train_error: 1.0,
            residual_test_error: 1.0,
        };
        let run = std::path::Path::new("runs/x");
        let done = [row(20), row(56)];
        assert_eq!(unfinished(run, &[20, 56], 9, &done, true), None);
        assert_eq!(
            unfinished(run, &[20, 56], 9, &done[..1], true).as_deref(),
            Some(
                "note   the sweep stopped before depth 56 was done; go on with: resdash \
                 --resume runs/x sweep --depths 20,56 --steps 9"
            )
        );
        let none = unfinished(run, &[20, 56], 9, &[], false).unwrap();
        assert!(
            none.contains("before depth 20") && none.contains("run.checkpoint_every"),
            "{none}"
        );
    }

    #[test]
    fn json_errors_carry_no_float_noise() {
        let row = SweepRow::from(&DepthSummary {
            depth: 20,
            steps: 400,
            train_error: [44.75, 25.049_999_999_999_994],
            test_error: [45.4, 27.500_000_000_000_004],
        });
        let json = json(&[row]);
        assert!(
            json.contains("\"residual_train_error\":25.05")
                && json.contains("\"residual_test_error\":27.5")
                && !json.contains("0000"),
            "{json}"
        );
    }
}
