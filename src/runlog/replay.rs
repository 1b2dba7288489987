//! Reading a run's past back: the events that led up to a checkpoint, from the `metrics.jsonl`
//! of the run that wrote it (`<run>/checkpoints/step-N` → `<run>/metrics.jsonl`), so that a
//! dashboard resuming from it shows the curves, markers and table the run had. When that run
//! was itself resumed, its log begins with a `resumed` change naming the checkpoint before, and
//! that run's log is read too, oldest first.

use std::path::{Path, PathBuf};

use crate::protocol::{Change, Event, LogLine, SCHEMA_VERSION};

/// Logs followed back through `resumed` changes, at most (a guard against a cycle of copies).
const MAX_RUNS: usize = 64;

/// What was read back.
#[derive(Debug, Default)]
pub struct Past {
    /// Events in the order they happened, ending with the checkpoint's own `checkpointed`.
    pub events: Vec<Event>,
    /// The logs read, oldest first.
    pub logs: Vec<PathBuf>,
    /// Why the past is missing or incomplete (it is never an error: training does not need it).
    pub problems: Vec<String>,
}

/// The events before `checkpoint`, as far back as the logs go.
pub fn before_checkpoint(checkpoint: &Path) -> Past {
    let mut past = Past::default();
    let mut segments = Vec::new();
    let mut next = Some(checkpoint.to_path_buf());
    while let Some(checkpoint) = next.take() {
        if segments.len() == MAX_RUNS {
            past.problems
                .push(format!("stopped after {MAX_RUNS} resumed runs"));
            break;
        }
        match segment(&checkpoint) {
            Ok((log, events, skipped)) => {
                if skipped > 0 {
                    past.problems.push(format!(
                        "{}: {skipped} unreadable line(s) skipped",
                        log.display()
                    ));
                }
                next = events.iter().find_map(|e| match e {
                    Event::Changed {
                        change: Change::Resumed { from },
                        ..
                    } => Some(PathBuf::from(from)),
                    _ => None,
                });
                segments.push((log, events));
            }
            Err(problem) => {
                past.problems.push(problem);
                break;
            }
        }
    }
    for (log, events) in segments.into_iter().rev() {
        past.logs.push(log);
        past.events.extend(events);
    }
    past
}

/// One run's events up to and including `checkpoint`'s `checkpointed` event, the log read and
/// the number of lines that could not be read.
fn segment(checkpoint: &Path) -> Result<(PathBuf, Vec<Event>, usize), String> {
    let name = checkpoint
        .file_name()
        .ok_or_else(|| format!("{}: not a checkpoint directory", checkpoint.display()))?;
    let log = checkpoint
        .parent()
        .and_then(Path::parent)
        .map(|run| run.join("metrics.jsonl"))
        .ok_or_else(|| {
            format!(
                "{}: not inside a run directory (<run>/checkpoints/step-N)",
                checkpoint.display()
            )
        })?;
    let text = std::fs::read_to_string(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let mut events = Vec::new();
    let mut skipped = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(line) = serde_json::from_str::<LogLine>(line) else {
            skipped += 1;
            continue;
        };
        if line.v > SCHEMA_VERSION {
            skipped += 1;
            continue;
        }
        match line.event {
            // The end of that process, not of the run.
            Event::Stopped => {}
            Event::Checkpointed { ref path, .. } if Path::new(path).file_name() == Some(name) => {
                events.push(line.event);
                return Ok((log, events, skipped));
            }
            event => events.push(event),
        }
    }
    Err(format!(
        "{} does not record checkpoint {}",
        log.display(),
        name.to_string_lossy()
    ))
}

#[cfg(test)]
mod tests;
