//! The preflight: before any run directory or trainer exists, a GPU backend's device computes
//! 1+1+1+1 and reads it back within a deadline, so a machine without a usable GPU gets one clear
//! error with advice instead of a panic or a hang.

use super::{BackendJob, BackendKind, TrainBackend, dispatch};

/// How long a device may take to run its first tiny computation (CUDA: load the driver and
/// NVRTC, compile one kernel) before resdash gives up on it.
pub const PREFLIGHT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// Name of the preflight thread; its panics are reported as an error, not printed raw.
pub const PREFLIGHT_THREAD: &str = "resdash-preflight";

struct Preflight;

impl BackendJob for Preflight {
    type Output = f32;

    fn run<B: TrainBackend>(self, device: B::Device, _backend: &'static str) -> f32 {
        use burn::tensor::{ElementConversion, Tensor};
        Tensor::<B, 1>::ones([4], &device)
            .sum()
            .into_scalar()
            .elem()
    }
}

/// Checks that `kind`'s device can compute (4 ones summed and read back) before any run
/// directory or trainer exists, so a machine without a usable GPU gets one clear error instead
/// of a panic or a hang. CPU backends pass at once.
pub fn preflight(kind: BackendKind) -> Result<(), String> {
    if !kind.is_gpu() {
        return Ok(());
    }
    run_preflight(kind, move || dispatch(kind, Preflight), PREFLIGHT_TIMEOUT)
}

/// The preflight machinery, with the computation injectable for tests.
pub fn run_preflight(
    kind: BackendKind,
    compute: impl FnOnce() -> f32 + Send + 'static,
    timeout: std::time::Duration,
) -> Result<(), String> {
    let name = kind.name();
    let advice = "resdash loads the NVIDIA driver (libcuda.so.1) and NVRTC (libnvrtc.so, from the \
         CUDA toolkit) at run time: check that `nvidia-smi` lists a GPU, that the toolkit's lib \
         directory is on the library path (e.g. LD_LIBRARY_PATH=/usr/local/cuda/lib64) and \
         CUDA_PATH=/usr/local/cuda is set; or run on the CPU with --backend flex";
    quiet_preflight_panics();
    let (tx, rx) = std::sync::mpsc::channel();
    set_preflight_panics(Some(Vec::new()));
    let spawned = std::thread::Builder::new()
        .name(PREFLIGHT_THREAD.into())
        .spawn(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(compute));
            let _ = tx.send(result.map_err(|p| panic_message(p.as_ref())));
        });
    if let Err(e) = spawned {
        set_preflight_panics(None);
        return Err(format!("cannot start the {name} preflight thread: {e}"));
    }
    let outcome = rx.recv_timeout(timeout);
    // The first panic anywhere during the preflight is the cause: the backend's device thread
    // panics (e.g. no libcuda), and the preflight thread only sees its channel close.
    let first_panic = set_preflight_panics(None).and_then(|seen| seen.into_iter().next());
    match outcome {
        Ok(Ok(sum)) if (sum - 4.0).abs() < 1e-3 => Ok(()),
        Ok(Ok(sum)) => Err(format!(
            "backend {name}: the device computed 1+1+1+1 = {sum}; it is not usable"
        )),
        Ok(Err(message)) => Err(format!(
            "backend {name}: the device could not be initialised: {}\n{advice}",
            shorten(first_panic.as_deref().unwrap_or(&message))
        )),
        Err(_) => Err(format!(
            "backend {name}: the device did not finish a first tiny computation within {} s \
             (driver or NVRTC hanging?)\n{advice}",
            timeout.as_secs()
        )),
    }
}

/// Panic messages seen while a preflight runs (`Some` only then), on any thread.
static PREFLIGHT_PANICS: std::sync::Mutex<Option<Vec<String>>> = std::sync::Mutex::new(None);

/// The preflight panic record, locked (a panic elsewhere never makes it unusable).
fn preflight_panics() -> std::sync::MutexGuard<'static, Option<Vec<String>>> {
    PREFLIGHT_PANICS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Replaces the preflight panic record, returning the previous one.
fn set_preflight_panics(value: Option<Vec<String>>) -> Option<Vec<String>> {
    std::mem::replace(&mut *preflight_panics(), value)
}

/// The text of a panic payload (`panic!` makes a `&str` or a `String`).
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(ToString::to_string)
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// The first line of a panic message, at most 200 characters (cudarc lists 34 library names).
fn shorten(message: &str) -> String {
    let line = message.trim().lines().next().unwrap_or_default();
    match line.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_string(),
    }
}

/// Wraps the current panic hook (once per process; every preflight does it first) so that
/// panics during a preflight stay silent, on the preflight thread and on any thread the backend
/// starts (burn-cuda initialises the device on its own thread): they come back as a
/// [`preflight`] error with advice instead. Outside a preflight the previous hook runs.
pub fn quiet_preflight_panics() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let mut guard = preflight_panics();
            if let Some(seen) = guard.as_mut() {
                seen.push(panic_message(info.payload()));
            } else if std::thread::current().name() != Some(PREFLIGHT_THREAD) {
                drop(guard);
                previous(info);
            }
        }));
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// The preflight record and the panic hook are process-wide: these tests take turns, each
    /// with the quiet hook installed.
    fn quiet_turn() -> std::sync::MutexGuard<'static, ()> {
        static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let turn = SERIAL
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        quiet_preflight_panics();
        turn
    }

    #[test]
    fn a_device_that_panics_or_hangs_is_an_error_with_advice() {
        let _turn = quiet_turn();
        let e = run_preflight(
            BackendKind::Cuda,
            || panic!("Unable to dynamically load the \"cuda\" shared library"),
            Duration::from_secs(10),
        )
        .unwrap_err();
        assert!(
            e.contains("backend cuda") && e.contains("shared library") && e.contains("nvidia-smi"),
            "{e}"
        );
        let e = run_preflight(
            BackendKind::Cuda,
            || {
                std::thread::sleep(Duration::from_secs(5));
                4.0
            },
            Duration::from_millis(50),
        )
        .unwrap_err();
        assert!(
            e.contains("did not finish") && e.contains("--backend flex"),
            "{e}"
        );
        assert!(run_preflight(BackendKind::Cuda, || 4.0, Duration::from_secs(10)).is_ok());
        assert!(preflight(BackendKind::Flex).is_ok());
        // Outside a preflight, the panic record is off again. (A device thread's panic, the
        // cause when libcuda is missing: tests/engine/backend.rs.)
        assert!(set_preflight_panics(None).is_none());
    }
}
