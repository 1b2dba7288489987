//! Library-level tests of the engine: config, data, model, trainer, checkpoints. One test binary
//! (burn is slow to link), one file per concern under `tests/engine/`.

#![allow(clippy::unwrap_used)]

mod engine {
    pub mod backend;
    pub mod checkpoint;
    pub mod config;
    pub mod data;
    pub mod support;
    pub mod train;
}
