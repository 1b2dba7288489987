//! Command-line interface. Flags are turned into `--set`-style overrides so that the CLI, the
//! config file and the defaults go through one parser and one validator.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::Overrides;

/// `--flow-every` when it is not given.
pub const FLOW_EVERY: u64 = 4;

#[derive(Debug, Parser)]
#[command(
    name = "resdash",
    version,
    about = "Train a plain CNN and a ResNet side by side and watch why shortcuts matter"
)]
pub struct Cli {
    #[command(flatten)]
    pub run: RunArgs,
    /// Run the trainer without the dashboard and print progress on stderr.
    #[arg(long, global = true)]
    pub headless: bool,
    /// Continue from a checkpoint directory (`runs/<id>/checkpoints/step-NNNNNN`), or from the
    /// newest checkpoint of a run directory (`runs/<id>`).
    #[arg(long, value_name = "DIR")]
    pub resume: Option<PathBuf>,
    /// Stop after this many seconds of wall time (headless).
    #[arg(long, value_name = "SECS")]
    pub max_time: Option<f64>,
    /// Also print every event on stdout, the same JSON lines as metrics.jsonl (headless).
    #[arg(long)]
    pub jsonl: bool,
    /// Print gradient-flow lines every N probe steps (headless; 0 = never) [default: 4].
    #[arg(long, value_name = "N")]
    pub flow_every: Option<u64>,
    #[command(subcommand)]
    pub command: Option<Commands>,
}

#[derive(Debug, Subcommand)]
pub enum Commands {
    /// Train both nets at each depth in turn and print the train/test error table (the paper's
    /// Figure 1 as text).
    Sweep {
        /// Comma-separated depths, each 6n+2 (default: `model.ladder`).
        #[arg(long, value_delimiter = ',')]
        depths: Vec<usize>,
        /// Steps per depth (default: `run.max_steps`).
        #[arg(long)]
        steps: Option<u64>,
        /// Print one JSON object instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Show the dashboard of a run that another resdash process is training (headless, or a
    /// dashboard whose terminal went away), and steer it through the run's control socket.
    #[command(visible_alias = "attach")]
    Watch {
        /// The run directory, `runs/<id>` (default: the run under `run.run_dir` whose
        /// metrics.jsonl changed last).
        #[arg(value_name = "RUN_DIR")]
        run: Option<PathBuf>,
    },
}

/// Options shared by a run and a sweep.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// TOML config file (see configs/). Without it the built-in defaults are used.
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// Override one config key, e.g. `--set optim.lr=0.05` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE", global = true)]
    pub overrides: Vec<String>,
    /// Steps per depth (`run.max_steps`).
    #[arg(long, value_name = "N", global = true)]
    pub max_steps: Option<u64>,
    /// Parent directory of run directories (`run.run_dir`).
    #[arg(long, value_name = "DIR", global = true)]
    pub run_dir: Option<String>,
    /// flex, ndarray, cuda, cuda-unfused or tch (run.backend).
    #[arg(long, value_name = "B", global = true)]
    pub backend: Option<String>,
    /// Seed for weights, data order and synthetic data (run.seed).
    #[arg(long, value_name = "S", global = true)]
    pub seed: Option<u64>,
}

impl RunArgs {
    /// The `--set`s, then the flags as `section.key=value` overrides (flags win), each with the
    /// words it was given as.
    pub fn overrides(&self) -> Overrides {
        let mut all = Overrides::sets(&self.overrides);
        if let Some(n) = self.max_steps {
            all.flag(format!("--max-steps {n}"), format!("run.max_steps={n}"));
        }
        if let Some(dir) = &self.run_dir {
            all.flag(
                format!("--run-dir {dir}"),
                format!("run.run_dir={}", toml_string(dir)),
            );
        }
        if let Some(b) = &self.backend {
            all.flag(
                format!("--backend {b}"),
                format!("run.backend={}", toml_string(b)),
            );
        }
        if let Some(s) = self.seed {
            all.flag(format!("--seed {s}"), format!("run.seed={s}"));
        }
        all
    }
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}
