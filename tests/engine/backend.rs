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
    trains_alike("flex", "tch", 1e-4);
}

/// ndarray computes what flex computes: both run resdash's lowered convolution
/// (`ModelBackend::OWN_CONVOLUTION`) with their own matrix products, and burn's other kernels.
/// Measured: losses within 2.4e-7 (relative) for 16 steps, then the residual net's part to
/// 1.0e-4 at step 19, as far as they did with ndarray's own convolution (the same 1.4e-5,
/// 9.4e-5, 1.0e-4, 4.3e-5 at steps 17-20): float32 rounding amplified, not the lowering. A
/// convolution computed wrong is off from the first step.
#[cfg(all(feature = "ndarray", feature = "flex"))]
#[test]
fn ndarray_trains_what_flex_trains() {
    trains_alike("flex", "ndarray", 1e-3);
}

/// The same seeded run (depth 8, the same batches) on backends `a` and `b`: the losses of 20
/// steps agree to `loss_tolerance` (relative) and the gradient-flow magnitudes at its probe
/// steps to 1e-3.
#[cfg(any(
    all(feature = "tch", feature = "flex"),
    all(feature = "ndarray", feature = "flex")
))]
fn trains_alike(a: &str, b: &str, loss_tolerance: f64) {
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
    let (a_losses, a_probes) = run(a);
    let (b_losses, b_probes) = run(b);
    let close = |x: f64, y: f64, rel: f64| (x - y).abs() <= rel * x.abs().max(y.abs()) + 1e-7;

    assert_eq!(a_losses.len(), 20);
    assert_eq!(b_losses.len(), 20);
    for ((step, x), (_, y)) in a_losses.iter().zip(&b_losses) {
        for net in 0..2 {
            assert!(
                close(x[net], y[net], loss_tolerance),
                "step {step} net {net}: {a} {} {b} {}",
                x[net],
                y[net]
            );
        }
    }
    assert_eq!(a_probes.len(), 4, "probes at steps 1 and 11, both nets");
    assert_eq!(b_probes.len(), 4);
    for (p, q) in a_probes.iter().zip(&b_probes) {
        assert_eq!((p.step, p.net), (q.step, q.net));
        let pairs = [
            (p.input_grad, q.input_grad),
            (p.classifier_grad, q.classifier_grad),
        ]
        .into_iter()
        .chain(p.blocks.iter().zip(&q.blocks).flat_map(|(x, y)| {
            [
                (x.activation_rms, y.activation_rms),
                (x.total, y.total),
                (x.branch.unwrap_or(0.0), y.branch.unwrap_or(0.0)),
                (x.shortcut.unwrap_or(0.0), y.shortcut.unwrap_or(0.0)),
                (x.sum, y.sum),
                (x.param_grad_norm, y.param_grad_norm),
                (x.update_ratio, y.update_ratio),
            ]
        }));
        for (i, (x, y)) in pairs.enumerate() {
            assert!(
                close(x, y, 1e-3),
                "probe at step {} ({:?}), magnitude {i}: {a} {x} {b} {y}",
                p.step,
                p.net
            );
        }
    }
}
