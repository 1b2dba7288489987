use super::*;
use crate::protocol::{Hyper, Score, StepReport};

fn fed(events: &[Event]) -> Dashboard {
    let mut d = Dashboard::default();
    for e in events {
        d.apply(e);
    }
    d
}

#[test]
fn steps_fill_the_series_and_throughput() {
    let d = fed(&script::events(20, 0, 200));
    assert_eq!(d.step, 200);
    assert_eq!(d.loss[0].last().map(|p| p.0), Some(200.0));
    assert!(d.loss[1].last().unwrap().1 < d.loss[0].last().unwrap().1);
    assert_eq!(d.test_accuracy[0].points().len(), 4);
    // 64 images in 400 ms.
    assert!((d.images_per_sec.unwrap() - 160.0).abs() < 1e-6);
    assert_eq!(d.state, RunState::Running);
}

#[test]
fn changes_become_markers_and_update_the_hyperparameters() {
    let d = fed(&script::events(20, 0, 130));
    assert_eq!(
        d.markers,
        vec![Marker {
            step: 120,
            label: "lr=0.05".into()
        }]
    );
    assert_eq!(d.hyper.as_ref().unwrap().lr, 0.05);
    assert!(d.log.iter().any(|l| l.text.contains("lr=0.05")));
}

#[test]
fn probes_keep_the_latest_report_and_a_bounded_heat_history() {
    let mut events = script::events(20, 0, 100);
    events.extend(script::events(20, 100, 10_000).into_iter().skip(2));
    let d = fed(&events);
    let plain = d.probes[0].as_ref().unwrap();
    assert_eq!(plain.blocks.len(), 6);
    assert!(d.previous_probes[0].is_some());
    assert_eq!(d.flow_history.len(), PROBE_HISTORY);
    let last = d.flow_history.back().unwrap();
    assert_eq!(last.totals[0].len(), 6);
    assert_eq!(last.totals[1].len(), 6);
}

#[test]
fn a_new_depth_keeps_the_charts_clears_the_probes_and_adds_a_summary_row() {
    let mut events = script::events(20, 0, 100);
    events.push(Event::DepthSummary(DepthSummary {
        depth: 20,
        steps: 100,
        train_error: [30.0, 20.0],
        test_error: [31.0, 22.0],
    }));
    events.push(Event::Changed {
        step: 100,
        change: Change::Depth { from: 20, to: 56 },
    });
    events.extend(script::events(56, 100, 10));
    let d = fed(&events);
    assert_eq!(d.info.as_ref().unwrap().depth, 56);
    assert_eq!(d.depth_step(), 10);
    assert_eq!(d.summaries.len(), 1);
    assert_eq!(d.markers.last().unwrap().label, "depth 20→56");
    assert_eq!(d.probes[0].as_ref().unwrap().blocks.len(), 18);
    assert_eq!(d.loss[0].last().map(|p| p.0), Some(110.0));
}

#[test]
fn faults_are_shown_and_cleared_when_training_resumes() {
    let mut d = fed(&script::events(20, 0, 5));
    for e in &script::nan_fault(6, false) {
        d.apply(e);
    }
    assert!(d.fault.as_deref().unwrap().contains("plain net"));
    d.apply(&Event::Changed {
        step: 5,
        change: Change::Hyper {
            hyper: Hyper::LearningRate(0.01),
        },
    });
    d.apply(&Event::State {
        step: 5,
        state: RunState::Running,
    });
    assert!(d.fault.is_none());
    assert!(d.log.iter().any(|l| l.level == Level::Fault));
}

#[test]
fn eta_follows_the_step_limit_and_throughput() {
    let mut d = fed(&script::events(20, 0, 1_000));
    // 1,000 steps left of 2,000, 64 images a step at 160 images/s.
    assert!((d.eta_secs().unwrap() - 400.0).abs() < 1e-6);
    d.apply(&Event::Step(StepReport {
        step: 1_001,
        epoch: 3,
        lr: 0.1,
        batch_size: 64,
        scores: [Score {
            loss: 1.0,
            accuracy: 0.5,
        }; 2],
        step_ms: 0.0,
    }));
    assert!(d.eta_secs().is_some());
    // At its step limit, or faulted, the run goes no further: the header said "ETA 0m00s", or
    // an ETA for a run that had stopped.
    for state in [RunState::Finished, RunState::Faulted] {
        let mut ended = fed(&script::events(20, 0, 1_000));
        ended.apply(&Event::State { step: 1_000, state });
        assert_eq!(ended.eta_secs(), None, "{state:?}");
    }
    let mut stopped = fed(&script::events(20, 0, 1_000));
    stopped.apply(&Event::Stopped);
    assert_eq!(stopped.eta_secs(), None);
}

#[test]
fn a_new_depth_forgets_the_last_depths_throughput() {
    let mut d = fed(&script::events(20, 0, 100));
    assert!(d.images_per_sec.is_some() && d.eta_secs().is_some());
    // Depth 56 is about three times slower than 20: until its first step the header showed
    // depth 20's images/s and an ETA from it.
    let deeper = script::events(56, 100, 1);
    let first = deeper
        .iter()
        .position(|e| matches!(e, Event::Step(_)))
        .unwrap();
    for e in &deeper[..first] {
        d.apply(e);
    }
    assert_eq!((d.images_per_sec, d.eta_secs()), (None, None));
    let Event::Step(mut step) = deeper[first].clone() else {
        unreachable!()
    };
    step.step_ms = 1_200.0;
    d.apply(&Event::Step(step));
    // 64 images in 1.2 s: the new depth's own rate, not a blend with depth 20's 160/s.
    assert!((d.images_per_sec.unwrap() - 64.0 / 1.2).abs() < 1e-6);
}

#[test]
fn a_resumed_dashboard_keeps_its_past_when_the_trainer_announces_the_same_depth_again() {
    let mut events = script::events(20, 0, 100);
    events.push(Event::Checkpointed {
        step: 100,
        path: "runs/a/checkpoints/step-000100".into(),
    });
    let past = Past {
        events,
        logs: vec!["runs/a/metrics.jsonl".into()],
        problems: vec!["runs/0/metrics.jsonl: No such file or directory".into()],
    };
    let mut d = Dashboard::replayed(&past);
    let before = (
        d.loss[0].points().len(),
        d.lr,
        d.epoch,
        d.flow_history.len(),
    );
    // What a trainer resumed from that checkpoint sends first.
    d.apply(&Event::Started(script::info(20, 0)));
    d.apply(&Event::Changed {
        step: 100,
        change: Change::Resumed {
            from: "runs/a/checkpoints/step-000100".into(),
        },
    });
    assert_eq!(
        (
            d.loss[0].points().len(),
            d.lr,
            d.epoch,
            d.flow_history.len()
        ),
        before
    );
    assert!(
        before.0 > 0 && before.1.is_some() && before.3 > 0,
        "{before:?}"
    );
    assert!(d.probes[0].is_some() && d.probes[1].is_some());
    assert_eq!(d.step, 100);
    assert!(d.depth_starts.is_empty());
    let log: Vec<&str> = d.log.iter().map(|l| l.text.as_str()).collect();
    assert!(
        log.contains(&"history: 113 events from runs/a/metrics.jsonl"),
        "{log:?}"
    );
    assert!(
        log.iter()
            .any(|l| l.starts_with("history incomplete: runs/0/metrics.jsonl")),
        "{log:?}"
    );

    // A real depth change still starts afresh.
    d.apply(&Event::Started(script::info(56, 100)));
    assert!(d.probes[0].is_none() && d.lr.is_none() && d.flow_history.is_empty());
    assert_eq!(d.depth_starts, [100]);
}
