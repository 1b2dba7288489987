//! The run directory: `runs/<id>/config.toml` (the resolved config) and `metrics.jsonl` (every
//! event, one JSON object per line, each with the schema version and seconds since start);
//! `replay` reads a run's past back from it, `follow` reads it as it grows.

pub mod follow;
pub mod replay;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::config::Config;
use crate::protocol::{Event, LogLine, SCHEMA_VERSION};

/// Appends events to `metrics.jsonl`.
pub struct RunLog {
    writer: BufWriter<File>,
    started: Instant,
    path: PathBuf,
}

/// A fresh run id from the UTC time: `20261127-201530` (a suffix is added if it is taken).
pub fn new_run_id(parent: &Path) -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let base = format_utc(secs);
    let mut id = base.clone();
    let mut n = 1;
    while parent.join(&id).exists() {
        n += 1;
        id = format!("{base}-{n}");
    }
    id
}

/// `YYYYMMDD-HHMMSS` for seconds since the Unix epoch (proleptic Gregorian, UTC).
fn format_utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The run directory under `parent` whose `metrics.jsonl` changed last (the run most recently
/// active), if any. No `parent` at all means no run yet, as an empty one does.
pub fn latest_run(parent: &Path) -> std::io::Result<Option<PathBuf>> {
    let mut latest: Option<(SystemTime, PathBuf)> = None;
    let entries = match std::fs::read_dir(parent) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let dir = entry?.path();
        let Ok(modified) = std::fs::metadata(dir.join("metrics.jsonl")).and_then(|m| m.modified())
        else {
            continue;
        };
        if latest.as_ref().is_none_or(|(t, _)| modified > *t) {
            latest = Some((modified, dir));
        }
    }
    Ok(latest.map(|(_, dir)| dir))
}

/// What a run directory holds before its trainer has started: [`RunLog::create`]'s two files
/// and the control socket.
const UNSTARTED: [&str; 3] = ["config.toml", "metrics.jsonl", crate::remote::SOCKET_NAME];

/// Removes the run directory of a run that could not start (a corrupt checkpoint to resume,
/// say): it holds only [`RunLog::create`]'s files and the reason is on the terminal, so it would
/// be litter in `runs/` (and `resdash watch` would pick it as the newest run). A directory that
/// holds anything else is left as it is; returns whether it was removed.
pub fn discard_unstarted(dir: &Path) -> std::io::Result<bool> {
    for entry in std::fs::read_dir(dir)? {
        if !UNSTARTED
            .iter()
            .any(|name| entry.as_ref().is_ok_and(|e| e.file_name() == *name))
        {
            return Ok(false);
        }
    }
    for name in UNSTARTED {
        match std::fs::remove_file(dir.join(name)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    std::fs::remove_dir(dir)?;
    Ok(true)
}

impl RunLog {
    /// Creates `dir`, writes `config.toml` and opens `metrics.jsonl` for appending.
    pub fn create(dir: &Path, config: &Config) -> std::io::Result<RunLog> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("config.toml"), config.to_toml())?;
        let path = dir.join("metrics.jsonl");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        Ok(RunLog {
            writer: BufWriter::new(file),
            started: Instant::now(),
            path,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The run directory the log is in.
    pub fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    /// Stamps `event` with the schema version and the seconds since the run started: the line
    /// [`RunLog::write`] appends, and what `--jsonl` prints.
    pub fn stamp(&self, event: &Event) -> LogLine {
        LogLine {
            v: SCHEMA_VERSION,
            t: self.started.elapsed().as_secs_f64(),
            event: event.clone(),
        }
    }

    /// Writes one line and flushes it, so `tail -f` and a crash both see whole lines.
    pub fn write(&mut self, event: &Event) -> std::io::Result<()> {
        self.write_line(&self.stamp(event))
    }

    /// [`RunLog::write`] for a line already stamped.
    pub fn write_line(&mut self, line: &LogLine) -> std::io::Result<()> {
        serde_json::to_writer(&mut self.writer, line)?;
        self.writer.write_all(b"\n")?;
        self.writer.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_run_is_the_one_whose_log_changed_last() {
        let parent = tempfile::tempdir().unwrap();
        assert_eq!(latest_run(parent.path()).unwrap(), None);
        let now = SystemTime::now();
        // Named so that the newest by name is not the newest by activity.
        for (name, age) in [
            ("20261203-100000", 60),
            ("20261203-090000", 5),
            ("20261203-110000", 30),
        ] {
            let dir = parent.path().join(name);
            std::fs::create_dir(&dir).unwrap();
            let log = File::create(dir.join("metrics.jsonl")).unwrap();
            log.set_modified(now - std::time::Duration::from_secs(age))
                .unwrap();
        }
        std::fs::create_dir(parent.path().join("20261203-120000")).unwrap(); // no log
        assert_eq!(
            latest_run(parent.path()).unwrap(),
            Some(parent.path().join("20261203-090000"))
        );
        // Before the first run, `runs/` does not exist yet: no run, not an error.
        assert_eq!(latest_run(&parent.path().join("missing")).unwrap(), None);
        // A parent that is not a directory is an error.
        assert!(latest_run(&parent.path().join("20261203-090000").join("metrics.jsonl")).is_err());
    }

    #[test]
    fn only_a_run_directory_with_nothing_but_its_first_files_is_discarded() {
        let parent = tempfile::tempdir().unwrap();
        let unstarted = parent.path().join("20261207-100000");
        RunLog::create(&unstarted, &Config::default()).unwrap();
        assert!(discard_unstarted(&unstarted).unwrap());
        assert!(!unstarted.exists());
        assert!(parent.path().exists());

        let started = parent.path().join("20261207-110000");
        RunLog::create(&started, &Config::default()).unwrap();
        std::fs::create_dir(started.join("checkpoints")).unwrap();
        assert!(!discard_unstarted(&started).unwrap());
        assert!(started.join("metrics.jsonl").is_file() && started.join("config.toml").is_file());
    }

    #[test]
    fn utc_formatting() {
        assert_eq!(format_utc(0), "19700101-000000");
        assert_eq!(format_utc(1_795_810_530), "20261127-201530");
    }
}
