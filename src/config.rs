//! Run configuration: parsed strictly from TOML (unknown keys are errors), layered as
//! defaults ← file ← `--set section.key=value`, then validated into a [`Config`] the rest of the
//! program can trust.
//!
//! Every field has a default, so an empty file (or no file) is a valid config: the built-in
//! synthetic demo.

mod overrides;
mod validate;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use overrides::apply_override;
pub use validate::DEPTH_LADDER;

/// A user-caused configuration problem. The message names the file or flag, the key and what
/// is allowed; the CLI exits with status 2 on it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    // Not `source`: thiserror would make it the error's cause, and `{:#}` would print it twice.
    #[error("cannot read config file {path}: {problem}")]
    Read {
        path: PathBuf,
        problem: std::io::Error,
    },
    #[error("{origin}: {message}")]
    Parse { origin: String, message: String },
    #[error("{origin}: {key} = {value} is invalid: expected {allowed}")]
    Invalid {
        origin: String,
        key: String,
        value: String,
        allowed: String,
    },
}

/// Shortcut used where a block changes shape (paper §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Shortcut {
    /// Identity; stride-2 subsampling plus zero channels where the shape changes (no parameters).
    A,
    /// Identity; 1x1 convolution + BN projection where the shape changes.
    B,
}

/// Where the images come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DataSource {
    Synthetic,
    FashionMnist,
    Mnist,
    Cifar10,
}

impl DataSource {
    pub fn name(self) -> &'static str {
        match self {
            DataSource::Synthetic => "synthetic",
            DataSource::FashionMnist => "fashion-mnist",
            DataSource::Mnist => "mnist",
            DataSource::Cifar10 => "cifar10",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    /// 6n+2: 8, 14, 20, 32, 44, 56, 110, …
    pub depth: usize,
    /// Channel multiplier: stages have 16w, 32w, 64w channels.
    pub width: usize,
    pub shortcut: Shortcut,
    /// The depths `d`/`D` step through in the dashboard (increasing, each 6n+2).
    pub ladder: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataConfig {
    pub source: DataSource,
    /// Directory of the dataset files; empty = the source's default.
    pub dir: String,
    /// Random crop (pad 4) and horizontal flip; only for 32x32 colour data.
    pub augment: bool,
    /// Use only the first N training images (0 = all).
    pub train_limit: usize,
    /// Use only the first N test images (0 = all).
    pub test_limit: usize,
    /// Synthetic data: side of the square images.
    pub image_size: usize,
    /// Synthetic data: training and test set sizes.
    pub synthetic_train: usize,
    pub synthetic_test: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OptimConfig {
    pub lr: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    /// Steps (counted at the current depth) where the learning rate is multiplied by `gamma`.
    pub milestones: Vec<u64>,
    pub gamma: f64,
    /// For the first `warmup_steps` steps the learning rate is `warmup_lr` (paper: 0.01 for
    /// ResNet-110 until training error < 80%, about 400 iterations).
    pub warmup_steps: u64,
    pub warmup_lr: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunConfig {
    pub batch_size: usize,
    pub seed: u64,
    /// Steps per depth; 0 = no limit.
    pub max_steps: u64,
    pub eval_every: u64,
    pub probe_every: u64,
    /// Write a checkpoint every N steps; 0 = only on request.
    pub checkpoint_every: u64,
    /// Size of the fixed training subset used for the train error of a depth summary.
    pub train_eval_size: usize,
    pub run_dir: String,
    /// `flex`, `ndarray` or `cuda` (must be compiled in).
    pub backend: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UiConfig {
    /// Redraw at most this many times a second.
    pub fps: u32,
    /// Plain dots instead of Braille in the charts (for fonts without Braille).
    pub ascii: bool,
}

/// A validated configuration. Built only by [`Config::load`] or [`Config::from_toml`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub model: ModelConfig,
    pub data: DataConfig,
    pub optim: OptimConfig,
    pub run: RunConfig,
    pub ui: UiConfig,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            depth: 20,
            width: 1,
            shortcut: Shortcut::A,
            ladder: vec![20, 56],
        }
    }
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            source: DataSource::Synthetic,
            dir: String::new(),
            augment: false,
            train_limit: 0,
            test_limit: 0,
            image_size: 8,
            synthetic_train: 20_000,
            synthetic_test: 1_000,
        }
    }
}

impl Default for OptimConfig {
    fn default() -> Self {
        Self {
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 1e-4,
            milestones: Vec::new(),
            gamma: 0.1,
            warmup_steps: 0,
            warmup_lr: 0.01,
        }
    }
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            batch_size: 64,
            seed: 0,
            max_steps: 400,
            eval_every: 100,
            probe_every: 25,
            checkpoint_every: 0,
            train_eval_size: 2_000,
            run_dir: "runs".into(),
            backend: crate::backend::DEFAULT_BACKEND.into(),
        }
    }
}

impl Default for UiConfig {
    fn default() -> Self {
        Self {
            fps: 10,
            ascii: false,
        }
    }
}

/// `section.key=value` settings over a config, in order, with the command-line words each came
/// from (`--set optim.lr=0.05`, or a flag such as `--backend cuda`), which errors quote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    settings: Vec<String>,
    written: Vec<String>,
}

impl Overrides {
    /// Settings given as `--set section.key=value`s.
    pub fn sets(settings: &[String]) -> Self {
        let mut overrides = Self::default();
        for setting in settings {
            overrides.set(setting.clone());
        }
        overrides
    }

    /// `--set section.key=value`.
    pub fn set(&mut self, setting: String) {
        self.written.push(format!("--set {setting}"));
        self.settings.push(setting);
    }

    /// A flag that sets one key, e.g. `--backend cuda` for `run.backend="cuda"`.
    pub fn flag(&mut self, written: String, setting: String) {
        self.written.push(written);
        self.settings.push(setting);
    }

    /// Each override as it was written (`--set optim.lr=0.05`, `--backend cuda`) with the key it
    /// sets (`optim.lr`, `run.backend`).
    pub fn each(&self) -> impl Iterator<Item = (&str, &str)> {
        self.written
            .iter()
            .zip(&self.settings)
            .map(|(written, setting)| {
                let key = setting.split_once('=').map_or(setting.as_str(), |(k, _)| k);
                (written.as_str(), key.trim())
            })
    }
}

impl Config {
    /// Defaults, then `file` (if any), then each `key=value` override, then validation.
    pub fn load(file: Option<&Path>, overrides: &[String]) -> Result<Config, ConfigError> {
        Self::load_with(file, &Overrides::sets(overrides))
    }

    /// [`Config::load`] with overrides that say how they were written.
    pub fn load_with(file: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        let (text, origin) = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|problem| ConfigError::Read {
                    path: path.to_path_buf(),
                    problem,
                })?;
                (text, path.display().to_string())
            }
            None => (String::new(), "built-in defaults".to_string()),
        };
        Self::from_toml_with(&text, &origin, overrides)
    }

    /// Like [`Config::load`] with the file's text given; `origin` names it in errors.
    pub fn from_toml(
        text: &str,
        origin: &str,
        overrides: &[String],
    ) -> Result<Config, ConfigError> {
        Self::from_toml_with(text, origin, &Overrides::sets(overrides))
    }

    /// [`Config::from_toml`] with overrides that say how they were written.
    pub fn from_toml_with(
        text: &str,
        origin: &str,
        overrides: &Overrides,
    ) -> Result<Config, ConfigError> {
        let mut table: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Parse {
            origin: origin.into(),
            message: e.to_string(),
        })?;
        // Parse the file alone first, so that a bad key is blamed on the file, not the flags.
        let file_config: Config = deserialize(&table, origin)?;
        file_config.validate(origin)?;
        if overrides.settings.is_empty() {
            return Ok(file_config);
        }
        for item in &overrides.settings {
            apply_override(&mut table, item)?;
        }
        let origin = format!("{origin} with {}", overrides.written.join(" "));
        let config: Config = deserialize(&table, &origin)?;
        config.validate(&origin)?;
        Ok(config)
    }

    /// The resolved config as TOML (written to `runs/<id>/config.toml`).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self)
            .unwrap_or_else(|e| format!("# could not serialise config: {e}\n"))
    }

    /// Directory of the dataset: the configured one or the source's default.
    pub fn data_dir(&self) -> PathBuf {
        if !self.data.dir.is_empty() {
            return PathBuf::from(&self.data.dir);
        }
        match self.data.source {
            DataSource::FashionMnist => PathBuf::from("/usr/share/datasets/fashion-mnist"),
            DataSource::Mnist => PathBuf::from("/usr/share/datasets/mnist"),
            DataSource::Cifar10 => PathBuf::from("data/cifar-10-batches-bin"),
            DataSource::Synthetic => PathBuf::new(),
        }
    }
}

fn deserialize(table: &toml::Table, origin: &str) -> Result<Config, ConfigError> {
    serde_path_to_error::deserialize(toml::Value::Table(table.clone())).map_err(|e| {
        let path = e.path().to_string();
        let message = one_line(&e.into_inner().to_string());
        let message = if path == "." {
            message
        } else {
            format!("{path}: {message}")
        };
        ConfigError::Parse {
            origin: origin.into(),
            message,
        }
    })
}

fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}
