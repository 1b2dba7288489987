use super::*;
use crate::config::Config;
use crate::protocol::{Hyper, RunState};
use crate::runlog::RunLog;
use crate::state::script;

/// Writes `events` to `<run>/metrics.jsonl` through the real writer.
fn write_log(run: &Path, events: &[Event]) {
    let mut log = RunLog::create(run, &Config::default()).unwrap();
    for e in events {
        log.write(e).unwrap();
    }
}

fn checkpointed(run: &Path, step: u64) -> Event {
    Event::Checkpointed {
        step,
        path: run
            .join(format!("checkpoints/step-{step:06}"))
            .display()
            .to_string(),
    }
}

fn steps(events: &[Event]) -> Vec<u64> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Step(s) => Some(s.step),
            _ => None,
        })
        .collect()
}

#[test]
fn a_run_is_read_up_to_its_checkpoint_and_no_further() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("a");
    let mut events = script::events(20, 0, 10);
    events.push(checkpointed(&run, 10));
    events.extend(script::events(20, 10, 5).into_iter().skip(2));
    // What happened after the checkpoint stays out, a later depth change included.
    events.push(Event::Changed {
        step: 15,
        change: Change::Hyper {
            hyper: Hyper::LearningRate(0.5),
        },
    });
    events.push(Event::Stopped);
    write_log(&run, &events);

    let past = before_checkpoint(&run.join("checkpoints/step-000010"));
    assert_eq!(past.problems, Vec::<String>::new());
    assert_eq!(past.logs, [run.join("metrics.jsonl")]);
    assert_eq!(steps(&past.events), (1..=10).collect::<Vec<_>>());
    assert_eq!(past.events.last(), Some(&checkpointed(&run, 10)));
}

#[test]
fn a_resumed_run_is_read_back_through_the_run_it_resumed() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let mut first = script::events(20, 0, 4);
    first.push(checkpointed(&a, 4));
    first.extend(script::events(20, 4, 3).into_iter().skip(2));
    first.push(Event::Stopped);
    write_log(&a, &first);
    let mut second = vec![
        Event::Changed {
            step: 4,
            change: Change::Resumed {
                from: a.join("checkpoints/step-000004").display().to_string(),
            },
        },
        Event::State {
            step: 4,
            state: RunState::Running,
        },
    ];
    second.extend(script::events(20, 4, 2).into_iter().skip(2));
    second.push(checkpointed(&b, 6));
    write_log(&b, &second);

    let past = before_checkpoint(&b.join("checkpoints/step-000006"));
    assert_eq!(past.problems, Vec::<String>::new());
    assert_eq!(
        past.logs,
        [a.join("metrics.jsonl"), b.join("metrics.jsonl")]
    );
    // No Stopped of the first process, and none of its steps after its checkpoint.
    assert_eq!(steps(&past.events), [1, 2, 3, 4, 5, 6]);
    assert!(!past.events.contains(&Event::Stopped));
}

#[test]
fn a_missing_or_foreign_log_is_a_problem_to_report_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let past = before_checkpoint(&dir.path().join("gone/checkpoints/step-000001"));
    assert!(past.events.is_empty());
    assert!(
        past.problems[0].contains("gone/metrics.jsonl"),
        "{:?}",
        past.problems
    );

    // A log that never wrote this checkpoint, with a torn last line (a crash mid-write).
    let run = dir.path().join("c");
    write_log(&run, &script::events(20, 0, 2));
    let path = run.join("metrics.jsonl");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("{\"v\":1,\"t\":0.5,\"event\":\"st");
    std::fs::write(&path, text).unwrap();
    let past = before_checkpoint(&run.join("checkpoints/step-000002"));
    assert!(past.events.is_empty());
    assert!(
        past.problems[0].contains("does not record checkpoint step-000002"),
        "{:?}",
        past.problems
    );
}

#[test]
fn an_earlier_run_that_cannot_be_read_leaves_the_later_one_whole() {
    let dir = tempfile::tempdir().unwrap();
    let b = dir.path().join("b");
    let mut events = vec![Event::Changed {
        step: 4,
        change: Change::Resumed {
            from: "elsewhere/checkpoints/step-000004".into(),
        },
    }];
    events.extend(script::events(20, 4, 2).into_iter().skip(2));
    events.push(checkpointed(&b, 6));
    write_log(&b, &events);
    let past = before_checkpoint(&b.join("checkpoints/step-000006"));
    assert_eq!(steps(&past.events), [5, 6]);
    assert_eq!(past.problems.len(), 1, "{:?}", past.problems);
    assert!(
        past.problems[0].contains("elsewhere"),
        "{:?}",
        past.problems
    );
}
