//! Choosing the burn backend at the edge of the program. Everything else is generic over
//! `B: AutodiffBackend`; this module turns the `--backend` name into a concrete type once.

use burn::tensor::backend::AutodiffBackend;

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
    Cuda,
}

#[cfg(feature = "flex")]
pub type FlexAd = burn::backend::Autodiff<burn::backend::Flex>;
#[cfg(feature = "ndarray")]
pub type NdArrayAd = burn::backend::Autodiff<burn::backend::NdArray<f32>>;
#[cfg(feature = "cuda")]
pub type CudaAd = burn::backend::Autodiff<burn::backend::Cuda<f32, i32>>;

impl BackendKind {
    pub const ALL: [BackendKind; 3] = [BackendKind::Flex, BackendKind::Ndarray, BackendKind::Cuda];

    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Flex => "flex",
            BackendKind::Ndarray => "ndarray",
            BackendKind::Cuda => "cuda",
        }
    }

    pub fn is_compiled(self) -> bool {
        match self {
            BackendKind::Flex => cfg!(feature = "flex"),
            BackendKind::Ndarray => cfg!(feature = "ndarray"),
            BackendKind::Cuda => cfg!(feature = "cuda"),
        }
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
                "backend {name:?} is not compiled into this binary; rebuild with `cargo build --release --features {name}` ({})",
                Self::allowed()
            ))
        }
    }
}

/// Work that needs a concrete backend: implemented by the trainer launcher, the sweep and tests.
pub trait BackendJob {
    type Output;
    fn run<B: AutodiffBackend>(self, device: B::Device, backend: &'static str) -> Self::Output;
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
        #[allow(unreachable_patterns)]
        other => unreachable!("backend {} was validated as compiled in", other.name()),
    }
}
