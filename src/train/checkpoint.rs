//! Checkpoints: a directory with both models, both optimiser states and `state.json`, written
//! to a temporary sibling first and renamed into place, so a crash never leaves a half-written
//! checkpoint under the real name.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::Optimizer;
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder, Recorder, RecorderError};
use serde::{Deserialize, Serialize};

mod verify;

use super::nets::NetState;
use crate::backend::TrainBackend;
use crate::config::Config;
use crate::data::Cursor;
use crate::model::{Layout, ResNetConfig};
use crate::protocol::{DepthSummary, HyperState, Net};

/// Version of `state.json` and the file set. Bump when either changes incompatibly.
pub const CHECKPOINT_SCHEMA: u32 = 1;
const STATE_FILE: &str = "state.json";

type FileRecorder = NamedMpkFileRecorder<FullPrecisionSettings>;

/// A checkpoint that cannot be written or used. Names the path and what would fix it.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error(
        "{path}: not a resdash checkpoint ({problem}); pass a directory written by resdash, e.g. runs/<id>/checkpoints/step-000100"
    )]
    NotACheckpoint { path: PathBuf, problem: String },
    #[error(
        "{path} holds no checkpoint yet (step-NNNNNN directories with a state.json); press c in the dashboard or set run.checkpoint_every to write some"
    )]
    NoCheckpoints { path: PathBuf },
    #[error(
        "{path}: checkpoint schema {found} is newer than this resdash understands ({supported}); use a newer resdash"
    )]
    NewerSchema {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error(
        "{path}: checkpoint is for {key} = {found}, but {key} = {requested} was requested; drop the {key} override to resume it"
    )]
    OtherRun {
        path: PathBuf,
        key: &'static str,
        found: String,
        requested: String,
    },
    #[error("{path}: corrupt checkpoint file ({problem}); use an earlier checkpoint")]
    Corrupt { path: PathBuf, problem: String },
    #[error("{path}: cannot write checkpoint: {problem}")]
    Write { path: PathBuf, problem: String },
}

/// Everything besides tensors that a resumed run needs to continue exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointState {
    pub schema: u32,
    pub run_id: String,
    /// Global step (monotonic across depths).
    pub step: u64,
    /// Global step at which the current depth started.
    pub depth_start_step: u64,
    pub cursor: Cursor,
    pub hyper: HyperState,
    /// The resolved config of the run (its `model.depth` is the current depth).
    pub config: Config,
    pub summaries: Vec<DepthSummary>,
}

/// How to make a run leave checkpoints, for messages about a run that left none.
pub const HOW_TO_LEAVE_ONE: &str = "--set run.checkpoint_every=N leaves one every N steps";

/// Whether the run directory `run_dir` holds a checkpoint that `--resume run_dir` would take.
pub fn run_has_one(run_dir: &Path) -> bool {
    locate(run_dir).is_ok_and(|found| found != run_dir)
}

/// The checkpoint `dir` names: `dir` itself when it holds `state.json`; for a run directory
/// (`runs/<id>`, with a `checkpoints/` folder) the newest of its `checkpoints/step-NNNNNN`.
/// Anything else is returned as it is, for [`CheckpointState::read`] to say what it is not.
pub fn locate(dir: &Path) -> Result<PathBuf, CheckpointError> {
    let folder = dir.join("checkpoints");
    if dir.join(STATE_FILE).is_file() || !folder.is_dir() {
        return Ok(dir.to_path_buf());
    }
    let entries = std::fs::read_dir(&folder).map_err(|e| CheckpointError::NotACheckpoint {
        path: folder.clone(),
        problem: e.to_string(),
    })?;
    entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join(STATE_FILE).is_file())
        .filter_map(|p| {
            let step = p
                .file_name()?
                .to_str()?
                .strip_prefix("step-")?
                .parse::<u64>()
                .ok()?;
            Some((step, p))
        })
        .max_by_key(|(step, _)| *step)
        .map(|(_, p)| p)
        .ok_or(CheckpointError::NoCheckpoints { path: folder })
}

impl CheckpointState {
    /// Reads and checks `dir/state.json`.
    pub fn read(dir: &Path) -> Result<CheckpointState, CheckpointError> {
        let path = dir.join(STATE_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| CheckpointError::NotACheckpoint {
            path: path.clone(),
            problem: e.to_string(),
        })?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| CheckpointError::Corrupt {
                path: path.clone(),
                problem: e.to_string(),
            })?;
        let schema = value
            .get("schema")
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| CheckpointError::NotACheckpoint {
                path: path.clone(),
                problem: "no \"schema\" field".into(),
            })?;
        if schema > u64::from(CHECKPOINT_SCHEMA) {
            return Err(CheckpointError::NewerSchema {
                path,
                found: schema as u32,
                supported: CHECKPOINT_SCHEMA,
            });
        }
        serde_json::from_value(value).map_err(|e| CheckpointError::Corrupt {
            path,
            problem: e.to_string(),
        })
    }

    /// `config` (the checkpoint's config with the user's overrides) describes the nets and the
    /// data this checkpoint holds. Overriding a key the nets' shapes follow from would otherwise
    /// surface as a "corrupt" tensor file, and another dataset would silently train on.
    pub fn fits(&self, dir: &Path, config: &Config) -> Result<(), CheckpointError> {
        let (saved, wanted) = (&self.config, config);
        let keys: [(&'static str, String, String); 4] = [
            (
                "model.depth",
                saved.model.depth.to_string(),
                wanted.model.depth.to_string(),
            ),
            (
                "model.width",
                saved.model.width.to_string(),
                wanted.model.width.to_string(),
            ),
            (
                "model.shortcut",
                format!("{:?}", saved.model.shortcut),
                format!("{:?}", wanted.model.shortcut),
            ),
            (
                "data.source",
                saved.data.source.name().to_string(),
                wanted.data.source.name().to_string(),
            ),
        ];
        match keys
            .into_iter()
            .find(|(_, found, requested)| found != requested)
        {
            Some((key, found, requested)) => Err(CheckpointError::OtherRun {
                path: dir.to_path_buf(),
                key,
                found,
                requested,
            }),
            None => Ok(()),
        }
    }
}

fn file_stem(dir: &Path, net: Net, part: &str) -> PathBuf {
    dir.join(format!("{}{part}", net.name()))
}

/// Writes a checkpoint named `name` under `parent` atomically; returns its final path.
pub fn save<B: TrainBackend>(
    parent: &Path,
    name: &str,
    state: &CheckpointState,
    nets: &[NetState<B>],
) -> Result<PathBuf, CheckpointError> {
    let target = parent.join(name);
    let tmp = parent.join(format!(".tmp-{name}"));
    let write_err = |path: &Path, e: &dyn std::fmt::Display| CheckpointError::Write {
        path: path.to_path_buf(),
        problem: e.to_string(),
    };
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| write_err(&tmp, &e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| write_err(&tmp, &e))?;
    let recorder = FileRecorder::new();
    for (net, state) in Net::BOTH.into_iter().zip(nets) {
        // Written channels-first whatever the backend trains in, so any backend can resume it.
        let state = NetState {
            model: state.model.clone(),
            optim: state.optim.clone(),
            stream: state.stream,
        }
        .with_layout(Layout::ChannelsFirst);
        state
            .model
            .save_file(file_stem(&tmp, net, ""), &recorder)
            .map_err(|e| write_err(&tmp, &e))?;
        Recorder::<B>::record(
            &recorder,
            state.optim.to_record(),
            file_stem(&tmp, net, "-optim"),
        )
        .map_err(|e| write_err(&tmp, &e))?;
    }
    let json = serde_json::to_string_pretty(state).map_err(|e| write_err(&tmp, &e))?;
    std::fs::write(tmp.join(STATE_FILE), json).map_err(|e| write_err(&tmp, &e))?;
    if target.exists() {
        std::fs::remove_dir_all(&target).map_err(|e| write_err(&target, &e))?;
    }
    std::fs::rename(&tmp, &target).map_err(|e| write_err(&target, &e))?;
    Ok(target)
}

/// What burn says of a record file it cannot read, less the hint it adds to every tensor it cannot
/// decode (about files written by burn 0.16 and older, which resdash never wrote).
fn unreadable(e: &RecorderError) -> String {
    let (RecorderError::FileNotFound(m)
    | RecorderError::DeserializeError(m)
    | RecorderError::Unknown(m)) = e;
    let m = m
        .split("\nThe internal data format has changed")
        .next()
        .unwrap_or(m)
        .trim();
    match e {
        RecorderError::FileNotFound(_) => format!("missing: {m}"),
        _ => format!("unreadable: {m}"),
    }
}

/// Loads both nets of a checkpoint into freshly built skeletons described by `configs`.
pub fn load_nets<B: TrainBackend>(
    dir: &Path,
    configs: &[ResNetConfig; 2],
    state: &CheckpointState,
    device: &B::Device,
) -> Result<Vec<NetState<B>>, CheckpointError> {
    let recorder = FileRecorder::new();
    let mut nets = Vec::new();
    for (net, config) in Net::BOTH.into_iter().zip(configs) {
        let corrupt = |path: PathBuf, e: &dyn std::fmt::Display| CheckpointError::Corrupt {
            path,
            problem: e.to_string(),
        };
        let model_path = file_stem(dir, net, "");
        let optim_path = file_stem(dir, net, "-optim");
        let fresh = NetState::<B>::new(
            config,
            0,
            state.hyper.momentum,
            state.hyper.weight_decay,
            device,
        );
        // The files are channels-first (see `save`); the net returns to this backend's layout
        // once loaded.
        let layout = fresh.model.layout();
        let mut fresh = fresh.with_layout(Layout::ChannelsFirst);
        let (model_file, optim_file) = (
            model_path.with_extension("mpk"),
            optim_path.with_extension("mpk"),
        );
        // burn panics on some structural mismatches instead of returning an error: contain it.
        let contained = |file: &Path, f: &mut dyn FnMut() -> Result<(), CheckpointError>| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
                Err(corrupt(
                    file.to_path_buf(),
                    &"does not match the model in state.json",
                ))
            })
        };
        contained(&model_file, &mut || {
            let model = fresh
                .model
                .clone()
                .load_file(model_path.clone(), &recorder, device)
                .map_err(|e| corrupt(model_file.clone(), &unreadable(&e)))?;
            verify::same_shapes(&fresh.model, &model)
                .map_err(|e| corrupt(model_file.clone(), &e))?;
            fresh.model = model;
            Ok(())
        })?;
        contained(&optim_file, &mut || {
            let record = Recorder::<B>::load(&recorder, optim_path.clone(), device)
                .map_err(|e| corrupt(optim_file.clone(), &unreadable(&e)))?;
            verify::states_fit(&fresh.model, &record)
                .map_err(|e| corrupt(optim_file.clone(), &e))?;
            fresh.optim = fresh.optim.clone().load_record(record);
            Ok(())
        })?;
        nets.push(fresh.with_layout(layout));
    }
    Ok(nets)
}

#[cfg(test)]
mod tests;
