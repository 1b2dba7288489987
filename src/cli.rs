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

impl Cli {
    /// Why `resdash watch` cannot take a flag it was given, if it cannot. It shows a run that
    /// another process trains, so what would change that training, or the output of a run this
    /// process starts, would be silently ignored: only the `ui` keys apply, and where to look for
    /// the newest run (`--run-dir`, `run.run_dir`, and without a RUN_DIR `--config`).
    pub fn watch_refusal(&self, run_given: bool) -> Option<String> {
        let shows = "watch shows a run that another resdash process trains";
        if self.headless {
            return Some(format!(
                "--headless: {shows} and draws its dashboard; for its events as text: tail -f \
                 runs/<id>/metrics.jsonl"
            ));
        }
        if self.resume.is_some() {
            return Some(format!(
                "--resume: {shows}; to train on from a checkpoint, start a run: resdash --resume \
                 <checkpoint> (then watch it)"
            ));
        }
        let output_flags = [
            (self.max_time.is_some(), "--max-time"),
            (self.jsonl, "--jsonl"),
            (self.flow_every.is_some(), "--flow-every"),
        ];
        if let Some((_, flag)) = output_flags.iter().find(|(given, _)| *given) {
            return Some(format!(
                "{flag}: {shows}; it shapes the output of a headless run that resdash starts: \
                 pass it to that run"
            ));
        }
        if run_given && self.run.config.is_some() {
            return Some(
                "--config: watch reads the ui settings from RUN_DIR/config.toml; drop --config \
                 (or --set ui.KEY=VALUE)"
                    .to_string(),
            );
        }
        // Where runs live is harmless even beside a RUN_DIR (which wins).
        self.run.overrides().each().find_map(|(written, key)| {
            (!key.starts_with("ui.") && key != "run.run_dir").then(|| {
                format!(
                    "{written}: {shows}, and watch cannot change its training (once attached, \
                     the keys steer it: ? lists them); drop it (only --set ui.KEY=VALUE applies \
                     to watch)"
                )
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(args: &[&str]) -> Option<String> {
        let cli = Cli::try_parse_from(["resdash"].iter().chain(args)).unwrap();
        let Some(Commands::Watch { run }) = &cli.command else {
            panic!("not a watch: {args:?}");
        };
        cli.watch_refusal(run.is_some())
    }

    #[test]
    fn watch_takes_ui_settings_and_where_to_find_the_newest_run() {
        for args in [
            &["watch", "runs/a"][..],
            &[
                "watch",
                "runs/a",
                "--set",
                "ui.fps=4",
                "--set",
                "ui.ascii=true",
            ],
            &[
                "watch",
                "--run-dir",
                "elsewhere",
                "--config",
                "configs/x.toml",
            ],
            &["--set", "run.run_dir=elsewhere", "attach"],
            &["watch", "runs/a", "--run-dir", "runs"],
        ] {
            assert_eq!(refusal(args), None, "{args:?}");
        }
    }

    #[test]
    fn watch_refuses_what_it_would_ignore_naming_the_flag() {
        for (args, named) in [
            (&["watch", "--headless"][..], "--headless"),
            (&["--resume", "runs/a", "watch"], "--resume"),
            (&["--max-time", "3", "watch"], "--max-time"),
            (&["--jsonl", "watch"], "--jsonl"),
            (&["--flow-every", "1", "watch"], "--flow-every"),
            (&["watch", "runs/a", "--config", "c.toml"], "--config"),
            (&["watch", "--set", "optim.lr=0.5"], "--set optim.lr=0.5"),
            (&["watch", "--max-steps", "9"], "--max-steps 9"),
            (&["watch", "--backend", "cuda"], "--backend cuda"),
            (&["watch", "--seed", "3"], "--seed 3"),
            (
                &["watch", "--set", "ui.fps=4", "--set", "model.depth=56"],
                "--set model.depth=56",
            ),
        ] {
            let why = refusal(args).unwrap_or_else(|| panic!("{args:?} was taken"));
            assert!(why.starts_with(&format!("{named}:")), "{args:?}: {why}");
        }
    }
}
