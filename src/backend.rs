//! Choosing the burn backend at the edge of the program. Everything else is generic over
//! [`TrainBackend`]; this module turns the `--backend` name into a concrete type once.

use burn::tensor::backend::AutodiffBackend;

use crate::model::ModelBackend;

mod preflight;

pub(crate) use preflight::panic_message;
pub use preflight::{
    PREFLIGHT_THREAD, PREFLIGHT_TIMEOUT, preflight, quiet_preflight_panics, run_preflight,
};

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

#[cfg(test)]
mod tests {
    use super::*;

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
