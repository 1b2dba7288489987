use resdash::protocol::{Command, DepthSummary, Event, Fault, RunState};
use resdash::train::{CheckpointState, spawn};

use super::support::{collect, is_finished, losses, run_to_limit, setup, tiny_config};

/// Runs to the step limit, checkpoints, and returns the events and the checkpoint path.
fn run_and_checkpoint(
    config: resdash::config::Config,
    dir: &std::path::Path,
) -> (Vec<Event>, std::path::PathBuf) {
    let mut handle = spawn(setup(config, dir, None)).unwrap();
    let mut events = collect(&mut handle, is_finished);
    handle.commands.send(Command::Checkpoint).unwrap();
    events.extend(collect(&mut handle, |e| {
        matches!(e, Event::Checkpointed { .. })
    }));
    handle.commands.send(Command::Quit).unwrap();
    collect(&mut handle, |_| false);
    let path = events.iter().find_map(|e| match e {
        Event::Checkpointed { path, .. } => Some(path.clone()),
        _ => None,
    });
    (events, path.expect("checkpoint written").into())
}

#[test]
fn resume_continues_exactly_where_a_straight_run_goes() {
    const N: u64 = 8;
    let mut config = tiny_config();
    config.run.max_steps = N;
    // Momentum, weight decay and a milestone inside the second half all have state to carry.
    config.optim.milestones = vec![6];
    let straight_dir = tempfile::tempdir().unwrap();
    let straight = losses(&run_to_limit(config.clone(), straight_dir.path(), None));

    let dir = tempfile::tempdir().unwrap();
    let mut half = config.clone();
    half.run.max_steps = N / 2;
    let (first, checkpoint) = run_and_checkpoint(half, dir.path());
    assert!(
        checkpoint.ends_with("checkpoints/step-000004"),
        "{}",
        checkpoint.display()
    );
    let resumed = run_to_limit(config, dir.path(), Some(checkpoint));

    let mut joined = losses(&first);
    joined.extend(losses(&resumed));
    // Flex and ndarray are deterministic on one machine: bit-exact.
    assert_eq!(joined, straight);
}

/// The degradation rows among `events`.
fn summaries(events: &[Event]) -> Vec<DepthSummary> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::DepthSummary(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_run_resumed_at_its_step_limit_is_finished_and_shows_its_degradation_table() {
    let mut config = tiny_config();
    config.run.max_steps = 2;
    let dir = tempfile::tempdir().unwrap();
    // Depth 8 to its limit, then depth 14 to its limit, then a checkpoint.
    let mut handle = spawn(setup(config.clone(), dir.path(), None)).unwrap();
    let mut first = collect(&mut handle, is_finished);
    handle
        .commands
        .send(Command::SetDepth { depth: 14 })
        .unwrap();
    first.extend(collect(&mut handle, is_finished));
    handle.commands.send(Command::Checkpoint).unwrap();
    let path = collect(&mut handle, |e| matches!(e, Event::Checkpointed { .. }))
        .into_iter()
        .find_map(|e| match e {
            Event::Checkpointed { path, .. } => Some(path),
            _ => None,
        })
        .expect("checkpoint written");
    handle.commands.send(Command::Quit).unwrap();
    collect(&mut handle, |_| false);
    let table = summaries(&first);
    assert_eq!(
        table.iter().map(|s| (s.depth, s.steps)).collect::<Vec<_>>(),
        [(8, 2), (14, 2)]
    );

    let mut deeper = config;
    deeper.model.depth = 14;
    let resumed = run_to_limit(deeper, dir.path(), Some(path.into()));
    // As if never stopped: no step past the limit, the same rows, finished at the same step.
    assert_eq!(losses(&resumed), []);
    assert_eq!(summaries(&resumed), table);
    // Straight to finished: no "warming up" for a step that will not come.
    assert!(
        !resumed
            .iter()
            .any(|e| matches!(e, Event::State { state, .. } if *state != RunState::Finished)),
        "{resumed:#?}"
    );
    assert!(
        resumed.iter().any(|e| matches!(
            e,
            Event::State {
                step: 4,
                state: RunState::Finished
            }
        )),
        "{resumed:#?}"
    );
}

#[test]
fn a_periodic_checkpoint_at_the_step_limit_resumes_to_the_same_summary_row() {
    // `run.checkpoint_every` writes the limit step's checkpoint before the summary row exists.
    let mut config = tiny_config();
    config.run.max_steps = 2;
    config.run.checkpoint_every = 2;
    let dir = tempfile::tempdir().unwrap();
    let straight = run_to_limit(config.clone(), dir.path(), None);
    let path = dir.path().join("checkpoints/step-000002");
    let resumed = run_to_limit(config, dir.path(), Some(path));
    assert_eq!(losses(&resumed), []);
    assert_eq!(summaries(&resumed), summaries(&straight));
    assert_eq!(summaries(&straight).len(), 1);
}

#[test]
fn checkpoints_are_complete_directories_with_a_schema() {
    let mut config = tiny_config();
    config.run.max_steps = 2;
    let dir = tempfile::tempdir().unwrap();
    let (_, path) = run_and_checkpoint(config, dir.path());
    for file in [
        "state.json",
        "plain.mpk",
        "residual.mpk",
        "plain-optim.mpk",
        "residual-optim.mpk",
    ] {
        assert!(path.join(file).is_file(), "{file} missing");
    }
    let state = CheckpointState::read(&path).unwrap();
    assert_eq!(
        (state.schema, state.step, state.config.model.depth),
        (1, 2, 8)
    );
    let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
}

fn setup_fault(events: &[Event]) -> String {
    events
        .iter()
        .find_map(|e| match e {
            Event::Fault(Fault::Setup { message }) => Some(message.clone()),
            _ => None,
        })
        .expect("a setup fault")
}

#[test]
fn newer_schema_other_depth_and_corrupt_files_are_refused_clearly() {
    let mut config = tiny_config();
    config.run.max_steps = 1;
    let dir = tempfile::tempdir().unwrap();
    let (_, path) = run_and_checkpoint(config.clone(), dir.path());

    let mut deeper = config.clone();
    deeper.model.depth = 14;
    let e = setup_fault(&run_to_limit(deeper, dir.path(), Some(path.clone())));
    assert!(
        e.contains("model.depth = 8, but model.depth = 14 was requested"),
        "{e}"
    );
    // The trainer refuses by name what only read as a corrupt tensor file before.
    let mut wider = config.clone();
    wider.model.width = 2;
    let e = setup_fault(&run_to_limit(wider, dir.path(), Some(path.clone())));
    assert!(
        e.contains("model.width = 1, but model.width = 2") && !e.contains("corrupt"),
        "{e}"
    );

    let model = path.join("residual.mpk");
    let bytes = std::fs::read(&model).unwrap();
    std::fs::write(&model, &bytes[..bytes.len() / 2]).unwrap();
    let e = setup_fault(&run_to_limit(
        config.clone(),
        dir.path(),
        Some(path.clone()),
    ));
    assert!(e.contains("residual.mpk") && e.contains("corrupt"), "{e}");
    // Not burn's hint about files from burn 0.16 and older, which would send a user astray.
    assert!(
        !e.contains("0.14.0") && !e.contains("backward-compat"),
        "{e}"
    );

    let state_file = path.join("state.json");
    let text = std::fs::read_to_string(&state_file).unwrap().replacen(
        "\"schema\": 1",
        "\"schema\": 99",
        1,
    );
    std::fs::write(&state_file, text).unwrap();
    let e = CheckpointState::read(&path).unwrap_err().to_string();
    assert!(e.contains("schema 99") && e.contains("newer"), "{e}");

    let e = CheckpointState::read(dir.path()).unwrap_err().to_string();
    assert!(e.contains("not a resdash checkpoint"), "{e}");
}
