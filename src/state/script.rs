//! A deterministic, scripted event stream with the shape of a real run (falling losses, a
//! vanishing gradient in the plain net, an evaluation every 50 steps, a learning-rate change).
//! Drives the reducer and UI tests and snapshot layouts; never used for a real run.

use crate::protocol::{
    BlockFlow, Change, EvalReport, Event, Fault, Hyper, HyperState, Net, ProbeReport, RunInfo,
    RunState, Score, StepReport,
};

/// `RunInfo` of the scripted run.
pub fn info(depth: usize, start_step: u64) -> RunInfo {
    RunInfo {
        run_id: "20261127-120000".into(),
        backend: "flex".into(),
        device: "Cpu".into(),
        dataset: "synthetic".into(),
        input_shape: [1, 16, 16],
        classes: 10,
        train_len: 20_000,
        test_len: 1_000,
        depth,
        width: 1,
        shortcut: "A".into(),
        params: [269_722, 269_722],
        blocks: (depth - 2) / 3,
        max_steps: 2_000,
        hyper: HyperState {
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 1e-4,
            batch_size: 64,
            eval_every: 50,
            probe_every: 25,
            milestones: vec![1_500],
            gamma: 0.1,
            warmup_steps: 0,
            warmup_lr: 0.01,
        },
        start_step,
    }
}

fn probe(net: Net, step: u64, blocks: usize) -> ProbeReport {
    let t = step as f64;
    let blocks = (0..blocks)
        .map(|b| {
            let depth_from_output = (blocks - 1 - b) as f64;
            let output_side = 0.05 * (1.0 + 0.2 * (t / 40.0).sin());
            let (total, branch, shortcut) = match net {
                // The plain net's gradient shrinks by ~25% per block towards the input.
                Net::Plain => (output_side * 0.75f64.powf(depth_from_output), None, None),
                Net::Residual => {
                    let shortcut = output_side * 0.97f64.powf(depth_from_output);
                    let branch = shortcut * 0.4;
                    (shortcut * 1.05, Some(branch), Some(shortcut))
                }
            };
            BlockFlow {
                block: b,
                stage: b * 3 / blocks,
                activation_rms: if net == Net::Plain {
                    0.6
                } else {
                    0.8 + 0.1 * b as f64
                },
                total,
                branch,
                shortcut,
                sum: total * 0.9,
                param_grad_norm: total * 10.0,
                update_ratio: 1e-3,
            }
        })
        .collect();
    ProbeReport {
        step,
        net,
        input_grad: 1e-4,
        classifier_grad: 0.05,
        blocks,
    }
}

/// Events of `steps` steps at `depth`, starting at global step `start`.
pub fn events(depth: usize, start: u64, steps: u64) -> Vec<Event> {
    let info = info(depth, start);
    let blocks = info.blocks;
    let mut events = vec![
        Event::Started(info),
        Event::State {
            step: start,
            state: RunState::Running,
        },
    ];
    for i in 1..=steps {
        let step = start + i;
        let t = i as f64;
        let wiggle = 0.05 * (t * 1.7).sin();
        let plain = 2.3 * (-t / 900.0).exp() + 0.25 + wiggle;
        let residual = 2.3 * (-t / 400.0).exp() + 0.08 + wiggle;
        let acc = |loss: f64| (1.0 - loss / 2.5).clamp(0.05, 0.99);
        events.push(Event::Step(StepReport {
            step,
            epoch: step * 64 / 20_000,
            lr: if i < 120 { 0.1 } else { 0.05 },
            batch_size: 64,
            scores: [
                Score {
                    loss: plain,
                    accuracy: acc(plain),
                },
                Score {
                    loss: residual,
                    accuracy: acc(residual),
                },
            ],
            step_ms: 400.0,
        }));
        if i == 120 {
            events.push(Event::Changed {
                step,
                change: Change::Hyper {
                    hyper: Hyper::LearningRate(0.05),
                },
            });
        }
        if (i - 1) % 25 == 0 {
            events.push(Event::Probe(probe(Net::Plain, step, blocks)));
            events.push(Event::Probe(probe(Net::Residual, step, blocks)));
        }
        if i % 50 == 0 {
            events.push(Event::Eval(EvalReport {
                step,
                scores: [
                    Score {
                        loss: plain + 0.1,
                        accuracy: acc(plain + 0.1),
                    },
                    Score {
                        loss: residual + 0.1,
                        accuracy: acc(residual + 0.1),
                    },
                ],
                samples: 1_000,
            }));
        }
    }
    events
}

/// What the trainer sends when the plain net's loss turns NaN at `step`: the fault, then the
/// faulted state at the last good step.
pub fn nan_fault(step: u64, weights_overflowed: bool) -> [Event; 2] {
    [
        Event::Fault(Fault::NonFinite {
            net: Net::Plain,
            step,
            loss: f64::NAN,
            weights_overflowed,
        }),
        Event::State {
            step: step - 1,
            state: RunState::Faulted,
        },
    ]
}
