//! The trainer: models, optimisers, data order, evaluation and checkpoints, on its own thread.
//! Talks to the rest of the program only through [`crate::protocol`]; never imports the UI.

pub mod checkpoint;
pub mod eval;
mod events;
mod grouped_sgd;
pub mod loss;
pub mod nets;
pub mod prefetch;
pub mod probe;
pub mod schedule;
pub mod sgd;
mod shape_groups;
mod spawn;
mod trainer;

pub use checkpoint::{CheckpointError, CheckpointState};
pub use events::Events;
pub use spawn::{TrainerHandle, spawn};
pub use trainer::{Trainer, TrainerSetup};
