//! The backend preflight as every binary meets it: the benches and examples call `preflight`
//! without any set-up of their own (this test binary installs no panic hook either).

use std::time::Duration;

use resdash::backend::{BackendKind, run_preflight};

#[test]
fn a_preflight_names_the_device_threads_panic_without_any_set_up() {
    // burn-cuda initialises the device on its own thread; without libcuda that thread panics
    // with the cause and the preflight's own thread sees only a closed channel (RecvError).
    let e = run_preflight(
        BackendKind::Cuda,
        || {
            let device = std::thread::Builder::new()
                .name("DSD-0-0".into())
                .spawn(|| -> f32 {
                    panic!(
                        "Unable to dynamically load the \"cuda\" shared library - searched for \
                         library names: {}",
                        "[\"libcuda.so\"], ".repeat(40)
                    )
                })
                .unwrap();
            device.join().map_err(|_| "RecvError").unwrap()
        },
        Duration::from_secs(10),
    )
    .unwrap_err();
    assert!(e.contains("Unable to dynamically load"), "{e}");
    assert!(!e.contains("RecvError"), "{e}");
    // cudarc lists 34 library names: the cause is shortened to a line.
    let first_line = e.lines().next().unwrap_or_default();
    assert!(first_line.chars().count() < 320, "{first_line}");
}

/// libtorch computes what flex computes: the same seeded run (depth 8, the same batches) on both
/// backends gives the same losses for 20 steps (measured: 2.1e-7 apart at most, relative; 1e-4
/// allowed) and the same gradient-flow magnitudes at its probe steps (3e-7; 1e-3 allowed). A
/// momentum of 0.89 instead of 0.9 on one side fails it at step 8. Built only with
/// `--features tch` (README, "The tch backend").
#[cfg(all(feature = "tch", feature = "flex"))]
#[test]
fn tch_trains_what_flex_trains() {
    use resdash::protocol::{Event, ProbeReport};

    use super::support::{losses, run_to_limit, tiny_config};

    let run = |backend: &str| {
        let mut config = tiny_config();
        config.run.backend = backend.into();
        config.run.max_steps = 20;
        config.run.probe_every = 10;
        let dir = tempfile::tempdir().unwrap();
        let events = run_to_limit(config, dir.path(), None);
        let probes: Vec<ProbeReport> = events
            .iter()
            .filter_map(|e| match e {
                Event::Probe(r) => Some(r.clone()),
                _ => None,
            })
            .collect();
        (losses(&events), probes)
    };
    let (flex_losses, flex_probes) = run("flex");
    let (tch_losses, tch_probes) = run("tch");
    let close = |a: f64, b: f64, rel: f64| (a - b).abs() <= rel * a.abs().max(b.abs()) + 1e-7;

    assert_eq!(flex_losses.len(), 20);
    assert_eq!(tch_losses.len(), 20);
    for ((step, f), (_, t)) in flex_losses.iter().zip(&tch_losses) {
        for net in 0..2 {
            assert!(
                close(f[net], t[net], 1e-4),
                "step {step} net {net}: flex {} tch {}",
                f[net],
                t[net]
            );
        }
    }
    assert_eq!(flex_probes.len(), 4, "probes at steps 1 and 11, both nets");
    assert_eq!(tch_probes.len(), 4);
    for (f, t) in flex_probes.iter().zip(&tch_probes) {
        assert_eq!((f.step, f.net), (t.step, t.net));
        let pairs = [
            (f.input_grad, t.input_grad),
            (f.classifier_grad, t.classifier_grad),
        ]
        .into_iter()
        .chain(f.blocks.iter().zip(&t.blocks).flat_map(|(a, b)| {
            [
                (a.activation_rms, b.activation_rms),
                (a.total, b.total),
                (a.branch.unwrap_or(0.0), b.branch.unwrap_or(0.0)),
                (a.shortcut.unwrap_or(0.0), b.shortcut.unwrap_or(0.0)),
                (a.sum, b.sum),
                (a.param_grad_norm, b.param_grad_norm),
                (a.update_ratio, b.update_ratio),
            ]
        }));
        for (i, (a, b)) in pairs.enumerate() {
            assert!(
                close(a, b, 1e-3),
                "probe at step {} ({:?}), magnitude {i}: flex {a} tch {b}",
                f.step,
                f.net
            );
        }
    }
}
