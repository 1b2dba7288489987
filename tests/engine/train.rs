use resdash::protocol::{Change, Command, Event, Fault, Hyper, Net, RunState};
use resdash::train::spawn;

use super::support::{collect, entered, is_finished, losses, run_to_limit, setup, tiny_config};

#[test]
fn both_nets_learn_on_the_same_batches() {
    let mut config = tiny_config();
    config.run.max_steps = 40;
    let dir = tempfile::tempdir().unwrap();
    let events = run_to_limit(config, dir.path(), None);
    let l = losses(&events);
    assert_eq!(l.len(), 40);
    assert_eq!(
        l.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        (1..=40).collect::<Vec<_>>()
    );
    for net in Net::BOTH {
        let first: f64 = l[..5].iter().map(|(_, x)| x[net.index()]).sum::<f64>() / 5.0;
        let last: f64 = l[35..].iter().map(|(_, x)| x[net.index()]).sum::<f64>() / 5.0;
        assert!(
            last < first * 0.9,
            "{} loss did not fall: {first} -> {last}",
            net.name()
        );
    }
    // Same seed, same init and same batch: the first step's losses agree between the nets
    // only if they saw the same data; plain and residual differ in the forward, so just check
    // both are finite and the summary row came with the finish.
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::DepthSummary(s) if s.depth == 8 && s.steps == 40))
    );
    assert_eq!(events.last(), Some(&Event::Stopped));
}

#[test]
fn pause_step_and_hyperparameter_changes_are_echoed_at_step_boundaries() {
    let mut config = tiny_config();
    config.run.max_steps = 200;
    let dir = tempfile::tempdir().unwrap();
    let mut handle = spawn(setup(config, dir.path(), None)).unwrap();
    handle.commands.send(Command::Pause).unwrap();
    let events = collect(&mut handle, |e| {
        matches!(
            e,
            Event::State {
                state: RunState::Paused,
                ..
            }
        )
    });
    let paused_at = losses(&events).last().map_or(0, |(s, _)| *s);

    handle
        .commands
        .send(Command::Set {
            hyper: Hyper::LearningRate(0.01),
        })
        .unwrap();
    handle
        .commands
        .send(Command::Set {
            hyper: Hyper::Momentum(0.5),
        })
        .unwrap();
    handle
        .commands
        .send(Command::Set {
            hyper: Hyper::Momentum(1.5),
        })
        .unwrap();
    handle.commands.send(Command::Step { steps: 3 }).unwrap();
    let events = collect(&mut handle, |e| {
        matches!(
            e,
            Event::State {
                state: RunState::Paused,
                ..
            }
        )
    });
    let changes: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Changed {
                step,
                change: Change::Hyper { hyper },
            } => Some((*step, *hyper)),
            _ => None,
        })
        .collect();
    assert_eq!(
        changes,
        vec![
            (paused_at, Hyper::LearningRate(0.01)),
            (paused_at, Hyper::Momentum(0.5))
        ]
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Warning { message } if message.contains("optim.momentum")))
    );
    let stepped = losses(&events);
    assert_eq!(
        stepped.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        vec![paused_at + 1, paused_at + 2, paused_at + 3]
    );
    assert!(
        events
            .iter()
            .all(|e| !matches!(e, Event::Step(s) if (s.lr - 0.01).abs() > 1e-12))
    );

    // Closing the command channel stops the trainer.
    let resdash::train::TrainerHandle {
        commands,
        mut events,
        thread,
    } = handle;
    drop(commands);
    while let Some(event) = events.blocking_recv() {
        if event == Event::Stopped {
            break;
        }
    }
    thread.join().unwrap();
}

#[test]
fn depth_change_closes_the_depth_with_a_summary_and_restarts_both_nets() {
    let mut config = tiny_config();
    config.run.max_steps = 4;
    let dir = tempfile::tempdir().unwrap();
    let mut handle = spawn(setup(config, dir.path(), None)).unwrap();
    let first = collect(&mut handle, is_finished);
    handle
        .commands
        .send(Command::SetDepth { depth: 14 })
        .unwrap();
    let second = collect(&mut handle, is_finished);
    handle.commands.send(Command::Quit).unwrap();
    collect(&mut handle, |_| false);

    let summary = |events: &[Event]| {
        events.iter().find_map(|e| match e {
            Event::DepthSummary(s) => Some(s.clone()),
            _ => None,
        })
    };
    assert_eq!(summary(&first).map(|s| (s.depth, s.steps)), Some((8, 4)));
    assert_eq!(summary(&second).map(|s| (s.depth, s.steps)), Some((14, 4)));
    assert!(second.iter().any(|e| matches!(
        e,
        Event::Changed {
            step: 4,
            change: Change::Depth { from: 8, to: 14 }
        }
    )));
    assert!(second.iter().any(|e| matches!(e, Event::Started(info) if info.depth == 14 && info.start_step == 4 && info.blocks == 6)));
    assert_eq!(
        losses(&second).iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        vec![5, 6, 7, 8]
    );
    for event in [&first, &second].into_iter().flatten() {
        if let Event::DepthSummary(s) = event {
            for e in s.train_error.iter().chain(&s.test_error) {
                assert!((0.0..=100.0).contains(e));
            }
        }
    }
}

#[test]
fn a_diverging_net_pauses_training_with_a_fault_naming_it() {
    let mut config = tiny_config();
    config.optim.lr = 1e6;
    config.run.max_steps = 50;
    let dir = tempfile::tempdir().unwrap();
    let events = run_to_limit(config, dir.path(), None);
    let fault = events.iter().find_map(|e| match e {
        Event::Fault(Fault::NonFinite { net, step, .. }) => Some((*net, *step)),
        _ => None,
    });
    let (_, step) = fault.expect("lr 1e6 must blow up within 50 steps");
    assert!(events.iter().any(|e| matches!(
        e,
        Event::State {
            state: RunState::Faulted,
            ..
        }
    )));
    assert!(
        losses(&events)
            .iter()
            .all(|(s, l)| *s < step && l.iter().all(|v| v.is_finite()))
    );
}

#[test]
fn a_net_whose_weights_overflowed_says_so_and_a_restart_trains_both_afresh() {
    let mut config = tiny_config();
    config.optim.lr = 1e6;
    config.run.max_steps = 50;
    let dir = tempfile::tempdir().unwrap();
    let mut handle = spawn(setup(config, dir.path(), None)).unwrap();
    // Nothing to restart before the first step.
    handle.commands.send(Command::Restart).unwrap();
    let mut events = collect(&mut handle, |e| entered(e, RunState::Faulted));
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Warning { message } if message.contains("no step since it started")
    )));
    let (fault_step, overflowed) = events
        .iter()
        .find_map(|e| match e {
            Event::Fault(Fault::NonFinite {
                step,
                weights_overflowed,
                ..
            }) => Some((*step, *weights_overflowed)),
            _ => None,
        })
        .expect("lr 1e6 blows up within 50 steps");
    // At lr 1e6 the update that preceded the non-finite loss overflowed the weights: resuming
    // would fault again at once, and the fault says so.
    assert!(overflowed, "{events:#?}");
    handle
        .commands
        .send(Command::Set {
            hyper: Hyper::LearningRate(0.05),
        })
        .unwrap();
    handle.commands.send(Command::Restart).unwrap();
    events = collect(&mut handle, |e| entered(e, RunState::Paused));
    let at = fault_step - 1;
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Changed {
            step,
            change: Change::Restarted { depth: 8 }
        } if *step == at
    )));
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Started(info) if info.depth == 8 && info.start_step == at))
    );
    // No summary row for the discarded steps.
    assert!(!events.iter().any(|e| matches!(e, Event::DepthSummary(_))));
    handle.commands.send(Command::Step { steps: 3 }).unwrap();
    events = collect(&mut handle, |e| entered(e, RunState::Paused));
    let stepped = losses(&events);
    assert_eq!(
        stepped.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        vec![at + 1, at + 2, at + 3]
    );
    // Fresh nets on the first batches again: the first step's losses are a fresh run's.
    let mut fresh_config = tiny_config();
    fresh_config.run.max_steps = 1;
    let fresh_dir = tempfile::tempdir().unwrap();
    let fresh = losses(&run_to_limit(fresh_config, fresh_dir.path(), None));
    assert_eq!(stepped[0].1, fresh[0].1);
    handle.commands.send(Command::Quit).unwrap();
    collect(&mut handle, |_| false);
    handle.thread.join().unwrap();
}

#[test]
fn evaluation_runs_every_eval_every_steps_on_the_test_split() {
    let mut config = tiny_config();
    config.run.max_steps = 6;
    config.run.eval_every = 3;
    let dir = tempfile::tempdir().unwrap();
    let events = run_to_limit(config, dir.path(), None);
    let evals: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Eval(r) => Some((r.step, r.samples)),
            _ => None,
        })
        .collect();
    assert_eq!(evals, vec![(3, 64), (6, 64)]);
}

#[test]
fn probe_reports_come_every_probe_every_steps_for_both_nets() {
    let mut config = tiny_config();
    config.run.max_steps = 7;
    config.run.probe_every = 3;
    let dir = tempfile::tempdir().unwrap();
    let events = run_to_limit(config, dir.path(), None);
    let probes: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Probe(r) => Some(r.clone()),
            _ => None,
        })
        .collect();
    // Steps are numbered from 1; probes run on depth steps 0, 3, 6, i.e. steps 1, 4, 7.
    let seen: Vec<_> = probes.iter().map(|r| (r.step, r.net)).collect();
    let expected: Vec<_> = [1, 4, 7]
        .into_iter()
        .flat_map(|s| [(s, Net::Plain), (s, Net::Residual)])
        .collect();
    assert_eq!(seen, expected);
    for r in &probes {
        assert_eq!(r.blocks.len(), 3);
        assert!(r.input_grad > 0.0 && r.classifier_grad > 0.0);
        for b in &r.blocks {
            assert!(
                b.activation_rms > 0.0 && b.total > 0.0 && b.sum > 0.0 && b.param_grad_norm > 0.0
            );
            assert!(b.update_ratio > 0.0 && b.update_ratio < 1.0, "{b:?}");
            match r.net {
                Net::Plain => assert!(b.shortcut.is_none() && b.branch.is_none()),
                Net::Residual => {
                    let (s, f) = (b.shortcut.unwrap(), b.branch.unwrap());
                    // Vectors add, magnitudes obey the triangle inequality.
                    assert!(
                        b.total <= (s + f) * (1.0 + 1e-5)
                            && b.total >= (s - f).abs() * (1.0 - 1e-5),
                        "{b:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn a_batch_size_not_trained_yet_is_a_warm_up_step_and_a_seen_one_is_not() {
    // On a GPU a new batch shape compiles and autotunes kernels: that step shows as warming up,
    // not as a silent freeze.
    let mut config = tiny_config();
    config.run.max_steps = 1000;
    let dir = tempfile::tempdir().unwrap();
    let mut handle = spawn(setup(config, dir.path(), None)).unwrap();
    let running = |e: &Event| entered(e, RunState::Running);
    collect(&mut handle, running);
    let set = |handle: &resdash::train::TrainerHandle, batch| {
        let hyper = Hyper::BatchSize(batch);
        handle.commands.send(Command::Set { hyper }).unwrap();
    };
    set(&handle, 8);
    let events = collect(
        &mut handle,
        |e| matches!(e, Event::Step(s) if s.batch_size == 8),
    );
    let before = &events[events.len() - 2];
    assert!(entered(before, RunState::WarmingUp), "{before:?}");
    let after = collect(&mut handle, running);
    assert!(
        after.iter().all(|e| !matches!(e, Event::Step(_))),
        "{after:?}"
    );

    set(&handle, 16);
    let mut steps = 0;
    let events = collect(&mut handle, |e| {
        steps += usize::from(matches!(e, Event::Step(s) if s.batch_size == 16));
        steps == 3
    });
    assert!(
        events.iter().all(|e| !entered(e, RunState::WarmingUp)),
        "{events:?}"
    );
    handle.commands.send(Command::Quit).unwrap();
    collect(&mut handle, |_| false);
    handle.thread.join().unwrap();
}
