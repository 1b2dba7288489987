//! The `resdash` binary: parse flags, resolve the config, load the data, then hand over to the
//! headless runner, the sweep or the dashboard. Every user-caused error ends here as one clear
//! message and exit status 2.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use resdash::cli::{Cli, Commands, FLOW_EVERY};
use resdash::config::{Config, Overrides};
use resdash::headless::{self, HeadlessOptions, Outcome};
use resdash::protocol::{Change, Event};
use resdash::remote::{self, ControlClient};
use resdash::runlog::follow::Follower;
use resdash::runlog::{self, RunLog, new_run_id, replay};
use resdash::state::{Dashboard, Level};
use resdash::train::{CheckpointState, TrainerSetup, checkpoint, spawn};
use resdash::{data, sweep};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(code) => code,
        Err(e) => {
            headless::say(format_args!("error: {e:#}"));
            ExitCode::from(2)
        }
    }
}

/// Defaults ← (`--config` file | the checkpoint's config) ← `--set` and flags.
fn resolve_config(cli: &Cli, resume: Option<&Path>) -> anyhow::Result<Config> {
    let overrides = cli.run.overrides();
    if let Some(dir) = resume {
        if cli.run.config.is_some() {
            bail!(
                "--resume uses the config saved in the checkpoint; drop --config (use --set to change a key)"
            );
        }
        let state = CheckpointState::read(dir)?;
        let origin = dir.join("state.json").display().to_string();
        let config = Config::from_toml_with(&state.config.to_toml(), &origin, &overrides)?;
        // Before the run directory exists: a refused resume leaves nothing behind.
        state.fits(dir, &config)?;
        return Ok(config);
    }
    Ok(Config::load_with(cli.run.config.as_deref(), &overrides)?)
}

fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    if let Some(Commands::Watch { run }) = &cli.command {
        return watch(cli, run.as_deref());
    }
    // `--resume runs/<id>` means that run's newest checkpoint.
    let resume = cli.resume.as_deref().map(checkpoint::locate).transpose()?;
    if let (Some(given), Some(found)) = (&cli.resume, &resume) {
        if given != found {
            eprintln!("note   resuming from {} (the newest)", found.display());
        }
    }
    let mut config = resolve_config(cli, resume.as_deref())?;
    let sweep_depths = match &cli.command {
        Some(Commands::Sweep { depths, steps, .. }) => {
            let steps = steps.unwrap_or(config.run.max_steps);
            if steps == 0 {
                bail!(
                    "a sweep needs a step count per depth: pass --steps N or set run.max_steps \
                     in the config"
                );
            }
            let given = !depths.is_empty();
            let depths = if given {
                depths.clone()
            } else {
                config.model.ladder.clone()
            };
            // Each depth must pass the same rules as model.depth in a config file; an error
            // quotes --depths as typed.
            let written = depths
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",");
            for depth in &depths {
                let mut overrides = Overrides::default();
                overrides.flag(
                    format!("--depths {written}"),
                    format!("model.depth={depth}"),
                );
                Config::from_toml_with(&config.to_toml(), "sweep", &overrides)?;
            }
            let named = if given {
                format!("--depths {written}")
            } else {
                format!("model.ladder = {depths:?}")
            };
            // Resumed, the sweep goes on at the checkpoint's depth (its model.depth, which
            // resolve_config has checked is not overridden).
            let depths = match resume.as_deref() {
                Some(dir) => sweep::resumed_depths(config.model.depth, &depths, &named)
                    .map_err(|why| anyhow::anyhow!("{}: {why}", dir.display()))?,
                None => depths,
            };
            let overrides = [
                format!("model.depth={}", depths[0]),
                format!("run.max_steps={steps}"),
            ];
            config = Config::from_toml(&config.to_toml(), "sweep", &overrides)?;
            Some(depths)
        }
        // Handled above, before any config.
        None | Some(Commands::Watch { .. }) => None,
    };
    let kind =
        resdash::backend::BackendKind::parse(&config.run.backend).map_err(anyhow::Error::msg)?;
    resdash::backend::preflight(kind).map_err(anyhow::Error::msg)?;
    if cli.max_time.is_some_and(|t| !(t.is_finite() && t > 0.0)) {
        bail!("--max-time must be a positive number of seconds");
    }
    let headless = cli.headless || sweep_depths.is_some() || !std::io::stdout().is_terminal();
    if !headless {
        // The dashboard runs until it is quit and owns stdout: these would be ignored.
        let given = [
            (cli.max_time.is_some(), "--max-time"),
            (cli.jsonl, "--jsonl"),
            (cli.flow_every.is_some(), "--flow-every"),
        ];
        if let Some((_, flag)) = given.iter().find(|(given, _)| *given) {
            bail!(
                "{flag} is for headless runs: add --headless (the dashboard runs until you quit \
                 it, and writes runs/<id>/metrics.jsonl as well)"
            );
        }
    }
    let data = data::load(&config)
        .with_context(|| format!("loading the {} dataset", config.data.source.name()))?;
    if data.train.is_empty() || data.test.is_empty() {
        bail!(
            "the {} dataset has an empty split (check data.train_limit / data.test_limit)",
            data.name
        );
    }
    let parent = PathBuf::from(&config.run.run_dir);
    let run_id = new_run_id(&parent);
    let run_dir = parent.join(&run_id);
    let log = RunLog::create(&run_dir, &config)
        .with_context(|| format!("creating run directory {}", run_dir.display()))?;

    if !cli.headless && sweep_depths.is_none() && !std::io::stdout().is_terminal() {
        eprintln!(
            "note   stdout is not a terminal: running headless (metrics in {})",
            log.path().display()
        );
    }
    let setup = TrainerSetup {
        config,
        data: Arc::new(data),
        run_id,
        run_dir: run_dir.clone(),
        resume: resume.clone(),
    };
    let options = HeadlessOptions {
        max_time: cli.max_time.map(Duration::from_secs_f64),
        jsonl: cli.jsonl,
        progress: true,
        flow_every: cli.flow_every.unwrap_or(FLOW_EVERY),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let fps = setup.config.ui.fps;
    let steps_per_depth = setup.config.run.max_steps;
    let theme = resdash::ui::Theme::from_env(setup.config.ui.ascii);
    let view = resdash::control::View::new(setup.config.model.ladder.clone());
    let handle = spawn(setup).map_err(anyhow::Error::msg)?;
    let outcome = match (&cli.command, sweep_depths) {
        (Some(Commands::Sweep { json, .. }), Some(depths)) => {
            let (outcome, rows) = runtime.block_on(sweep::run(handle, log, &depths, &options));
            if outcome != Outcome::Setup {
                let has_checkpoint = checkpoint::run_has_one(&run_dir);
                if let Some(note) =
                    sweep::unfinished(&run_dir, &depths, steps_per_depth, &rows, has_checkpoint)
                {
                    headless::say(format_args!("{note}"));
                }
            }
            // Written, not printed: a terminal that hung up loses the table (it is in
            // metrics.jsonl too), not the exit status.
            let text = if *json {
                format!("{}\n", sweep::json(&rows))
            } else {
                sweep::table(&rows)
            };
            let _ = std::io::stdout().write_all(text.as_bytes());
            outcome
        }
        _ if headless => runtime.block_on(headless::run(handle, log, &options)),
        _ => {
            // Resuming, the dashboard shows the run's past from its logs, not just what follows.
            let dash = resume.as_deref().map_or_else(Dashboard::default, |dir| {
                Dashboard::replayed(&replay::before_checkpoint(dir))
            });
            runtime.block_on(resdash::app::run(handle, log, fps, theme, view, dash))?
        }
    };
    report_run_dir(&run_dir, outcome);
    Ok(ExitCode::from(outcome.exit_code()))
}

/// `resdash watch runs/<id>`: the dashboard over another process's run, steering it through its
/// control socket when it serves one.
fn watch(cli: &Cli, run: Option<&Path>) -> anyhow::Result<ExitCode> {
    if let Some(why) = cli.watch_refusal(run.is_some()) {
        bail!("{why}");
    }
    let chosen;
    let run = if let Some(run) = run {
        run
    } else {
        let parent = PathBuf::from(
            Config::load_with(cli.run.config.as_deref(), &cli.run.overrides())?
                .run
                .run_dir,
        );
        chosen = runlog::latest_run(&parent)
            .with_context(|| format!("looking for runs in {}", parent.display()))?
            .with_context(|| {
                format!(
                    "no run in {} has a metrics.jsonl yet; start one (e.g. resdash --headless) \
                     or pass its directory",
                    parent.display()
                )
            })?;
        &chosen
    };
    let log = run.join("metrics.jsonl");
    if !log.is_file() {
        bail!(
            "{}: no metrics.jsonl here; pass a run directory that resdash writes, e.g. runs/<id>",
            run.display()
        );
    }
    if !std::io::stdout().is_terminal() {
        bail!(
            "watch draws the dashboard and needs a terminal; for the events as text: tail -f {}",
            log.display()
        );
    }
    // The run's own ui settings (fps, ascii), unless --set says otherwise.
    let config = Config::load_with(Some(&run.join("config.toml")), &cli.run.overrides())?;
    let mut follower = Follower::new(&log);
    let events = follower.poll()?;
    // A run that resumed another shows that one's past first.
    let past = events
        .iter()
        .find_map(|e| match e {
            Event::Changed {
                change: Change::Resumed { from },
                ..
            } => Some(replay::before_checkpoint(Path::new(from))),
            _ => None,
        })
        .unwrap_or_default();
    let mut dash = Dashboard::replayed(&past);
    for event in &events {
        dash.apply(event);
    }
    let socket = remote::socket_path(run);
    let control = match ControlClient::connect(&socket) {
        Ok(client) => {
            dash.note(
                Level::Info,
                format!(
                    "attached to {}: keys steer the run; q leaves it training, Q stops it",
                    run.display()
                ),
            );
            Some(client)
        }
        Err(e) => {
            let why = if socket.exists() {
                format!("its process is gone ({e})")
            } else {
                "it serves no control socket (finished, or a sweep)".to_string()
            };
            dash.note(
                Level::Info,
                format!("watching {} read-only: {why}; q quits", log.display()),
            );
            None
        }
    };
    let theme = resdash::ui::Theme::from_env(config.ui.ascii);
    let view = resdash::control::View::new(config.model.ladder.clone());
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(resdash::app::watch(
            follower,
            control,
            config.ui.fps,
            theme,
            view,
            dash,
        ))?;
    Ok(ExitCode::SUCCESS)
}

fn report_run_dir(run_dir: &Path, outcome: Outcome) {
    if outcome != Outcome::Setup {
        headless::say(format_args!("done   run directory {}", run_dir.display()));
    } else if let Err(e) = runlog::discard_unstarted(run_dir) {
        headless::say(format_args!(
            "warn   cannot remove {} (the run that did not start): {e}",
            run_dir.display()
        ));
    }
}
