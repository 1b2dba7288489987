//! resdash: train a plain CNN and a `ResNet` of the same depth side by side and watch, live, why
//! shortcuts matter (He et al., 2016).
//!
//! Layers, with dependencies pointing one way: `config`, `data`, `model` → `train` (the trainer
//! thread) → `protocol` (the only types that cross threads) → `runlog`, `headless`, and the UI.

pub mod app;
pub mod backend;
pub mod cli;
pub mod config;
pub mod control;
pub mod data;
pub mod detach;
pub mod headless;
pub mod keymap;
pub mod model;
pub mod number;
pub mod progress;
pub mod protocol;
pub mod remote;
pub mod rng;
pub mod runlog;
pub mod state;
pub mod sweep;
pub mod train;
pub mod ui;
