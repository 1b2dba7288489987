//! Choosing the burn backend at the edge of the program. Everything else is generic over
//! [`TrainBackend`]; this module turns the `--backend` name into a concrete type once.

use burn::tensor::backend::AutodiffBackend;

use crate::model::ModelBackend;

/// A backend resdash trains on: autodiff over an inner backend (evaluation, probe read-backs),
/// both with the model's recorded operations ([`ModelBackend`]).
pub trait TrainBackend: AutodiffBackend<InnerBackend: ModelBackend> + ModelBackend {}

impl<B> TrainBackend for B
where
    B: AutodiffBackend + ModelBackend,
    B::InnerBackend: ModelBackend,
{
}

/// The backend used when neither the config nor `--backend` names one: the fastest CPU backend
/// compiled in (see README, "Performance").
#[cfg(feature = "flex")]
pub const DEFAULT_BACKEND: &str = "flex";
#[cfg(all(not(feature = "flex"), feature = "ndarray"))]
pub const DEFAULT_BACKEND: &str = "ndarray";
#[cfg(all(not(feature = "flex"), not(feature = "ndarray")))]
pub const DEFAULT_BACKEND: &str = "cuda";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    Flex,
    Ndarray,
    /// burn's CUDA backend: burn-fusion over cubecl.
    Cuda,
    /// cubecl's CUDA backend without burn-fusion: each operation launched as it is issued, but
    /// resdash's own kernels for the SGD update and batch norm (`model::ModelBackend`). Less host
    /// work per step than burn-fusion's on this project's CPU (docs/gpu.md); the GPU check says
    /// which is faster on a GPU.
    CudaUnfused,
    /// libtorch's CPU kernels through burn-tch.
    Tch,
}

#[cfg(feature = "flex")]
pub type FlexAd = burn::backend::Autodiff<burn::backend::Flex>;
#[cfg(feature = "ndarray")]
pub type NdArrayAd = burn::backend::Autodiff<burn::backend::NdArray<f32>>;
#[cfg(feature = "cuda")]
pub type CudaAd = burn::backend::Autodiff<burn::backend::Cuda<f32, i32>>;
#[cfg(feature = "tch")]
pub type TchAd = burn::backend::Autodiff<burn::backend::LibTorch<f32>>;
/// The same CUDA runtime and element types as [`CudaAd`], without burn-fusion.
#[cfg(feature = "cuda")]
pub type CudaUnfusedAd = burn::backend::Autodiff<
    burn_cubecl::CubeBackend<burn_cubecl::cubecl::cuda::CudaRuntime, f32, i32, u8>,
>;

impl BackendKind {
    pub const ALL: [BackendKind; 5] = [
        BackendKind::Flex,
        BackendKind::Ndarray,
        BackendKind::Cuda,
        BackendKind::CudaUnfused,
        BackendKind::Tch,
    ];

    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Flex => "flex",
            BackendKind::Ndarray => "ndarray",
            BackendKind::Cuda => "cuda",
            BackendKind::CudaUnfused => "cuda-unfused",
            BackendKind::Tch => "tch",
        }
    }

    /// The cargo feature that compiles it in.
    pub fn feature(self) -> &'static str {
        match self {
            BackendKind::Flex => "flex",
            BackendKind::Ndarray => "ndarray",
            BackendKind::Cuda | BackendKind::CudaUnfused => "cuda",
            BackendKind::Tch => "tch",
        }
    }

    pub fn is_compiled(self) -> bool {
        match self {
            BackendKind::Flex => cfg!(feature = "flex"),
            BackendKind::Ndarray => cfg!(feature = "ndarray"),
            BackendKind::Cuda | BackendKind::CudaUnfused => cfg!(feature = "cuda"),
            BackendKind::Tch => cfg!(feature = "tch"),
        }
    }

    /// Whether it runs on a GPU (and so needs the preflight).
    pub fn is_gpu(self) -> bool {
        matches!(self, BackendKind::Cuda | BackendKind::CudaUnfused)
    }

    /// Names of the backends this binary was built with, for error messages.
    pub fn allowed() -> String {
        let names: Vec<_> = Self::ALL
            .iter()
            .filter(|k| k.is_compiled())
            .map(|k| k.name())
            .collect();
        format!(
            "one of the backends compiled into this binary: {}",
            names.join(", ")
        )
    }

    /// What a config may name instead of `name`: the backends compiled in, and how to build
    /// `name` in where resdash has it but this binary lacks it.
    pub fn expected(name: &str) -> String {
        match Self::ALL.into_iter().find(|k| k.name() == name) {
            Some(kind) if !kind.is_compiled() => format!(
                "{} ({name:?} needs `cargo build --release --features {}`)",
                Self::allowed(),
                kind.feature()
            ),
            _ => Self::allowed(),
        }
    }

    /// Parses a backend name; an unknown name or one not compiled in is an error that says how
    /// to get it.
    pub fn parse(name: &str) -> Result<BackendKind, String> {
        let kind = Self::ALL
            .into_iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| format!("unknown backend {name:?}: {}", Self::allowed()))?;
        if kind.is_compiled() {
            Ok(kind)
        } else {
            Err(format!(
                "backend {name:?} is not compiled into this binary; rebuild with `cargo build --release --features {}` ({})",
                kind.feature(),
                Self::allowed()
            ))
        }
    }
}

/// Work that needs a concrete backend: implemented by the trainer launcher, the sweep and tests.
pub trait BackendJob {
    type Output;
    fn run<B: TrainBackend>(self, device: B::Device, backend: &'static str) -> Self::Output;
}

/// How many threads one operation of one net may use when `concurrent` nets train at once, one
/// thread each (the trainer's pair), on `cores` cores: the cores shared out, at least one each.
pub fn threads_per_net(cores: usize, concurrent: usize) -> usize {
    (cores / concurrent.max(1)).max(1)
}

/// Readies `kind` for `concurrent` nets training at once on threads of their own. Only `tch`
/// needs it: libtorch gives every thread that runs an operation a team of OpenMP threads as large
/// as the machine, so the trainer's two net threads asked for twice the cores there are (on 2
/// cores the default data trained 200 steps in 14-16 s that way against 10-11 s with one
/// thread each; README, "The tch backend"). `OMP_NUM_THREADS`, where set, is left to decide. Call
/// it before the backend runs its first operation; later calls reach the calling thread and the
/// threads that have not run one yet.
pub fn share_cores(kind: BackendKind, concurrent: usize) {
    #[cfg(feature = "tch")]
    if kind == BackendKind::Tch && std::env::var_os("OMP_NUM_THREADS").is_none() {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let threads = threads_per_net(cores, concurrent);
        tch::set_num_threads(i32::try_from(threads).unwrap_or(1));
    }
    let _ = (kind, concurrent);
}

/// Runs `job` on the backend `kind` (which must be compiled in: see [`BackendKind::parse`]).
pub fn dispatch<J: BackendJob>(kind: BackendKind, job: J) -> J::Output {
    match kind {
        #[cfg(feature = "flex")]
        BackendKind::Flex => job.run::<FlexAd>(Default::default(), "flex"),
        #[cfg(feature = "ndarray")]
        BackendKind::Ndarray => job.run::<NdArrayAd>(Default::default(), "ndarray"),
        #[cfg(feature = "cuda")]
        BackendKind::Cuda => job.run::<CudaAd>(Default::default(), "cuda"),
        #[cfg(feature = "cuda")]
        BackendKind::CudaUnfused => job.run::<CudaUnfusedAd>(Default::default(), "cuda-unfused"),
        #[cfg(feature = "tch")]
        BackendKind::Tch => job.run::<TchAd>(Default::default(), "tch"),
        #[allow(unreachable_patterns)]
        other => unreachable!("backend {} was validated as compiled in", other.name()),
    }
}

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

    #[test]
    fn the_cuda_backends_parse_when_compiled_in_and_name_their_feature_otherwise() {
        for name in ["cuda", "cuda-unfused"] {
            let parsed = BackendKind::parse(name);
            assert_eq!(parsed.is_ok(), cfg!(feature = "cuda"), "{name}: {parsed:?}");
            match parsed {
                Ok(kind) => {
                    assert_eq!(kind.name(), name);
                    assert!(kind.is_gpu(), "{name} skips the preflight");
                }
                Err(e) => assert!(e.contains("--features cuda`"), "{e}"),
            }
        }
        let e = BackendKind::parse("cuda-fused").unwrap_err();
        assert!(e.contains("unknown backend") && e.contains("flex"), "{e}");
        assert!(!BackendKind::Flex.is_gpu() && !BackendKind::Ndarray.is_gpu());
    }

    #[test]
    fn tch_parses_when_compiled_in_and_names_its_feature_otherwise() {
        let parsed = BackendKind::parse("tch");
        assert_eq!(parsed.is_ok(), cfg!(feature = "tch"), "{parsed:?}");
        match parsed {
            Ok(kind) => {
                assert_eq!(kind.name(), "tch");
                assert!(!kind.is_gpu(), "libtorch's CPU kernels need no preflight");
            }
            Err(e) => assert!(e.contains("--features tch`"), "{e}"),
        }
    }

    #[test]
    fn the_cores_are_shared_out_between_the_nets_at_least_one_each() {
        assert_eq!(threads_per_net(2, 2), 1);
        assert_eq!(threads_per_net(16, 2), 8);
        assert_eq!(threads_per_net(3, 2), 1);
        assert_eq!(threads_per_net(1, 2), 1);
        assert_eq!(threads_per_net(4, 1), 4);
        assert_eq!(threads_per_net(4, 0), 4);
    }
}
