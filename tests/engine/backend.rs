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
