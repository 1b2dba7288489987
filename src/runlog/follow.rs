//! Following a run's `metrics.jsonl` while another process writes it (`resdash watch`): each
//! poll returns the events of the whole lines appended since the last one. A line being written
//! waits for its newline; a file that shrank (replaced) is read again from the start.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::protocol::{Event, LogLine, SCHEMA_VERSION};

pub struct Follower {
    path: PathBuf,
    /// Bytes of the file consumed so far, the partial last line included.
    offset: u64,
    /// The start of a line whose newline has not been written yet.
    partial: Vec<u8>,
    /// Lines that were not events of a known schema.
    pub skipped: usize,
}

impl Follower {
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            offset: 0,
            partial: Vec::new(),
            skipped: 0,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The events appended since the last poll, oldest first.
    pub fn poll(&mut self) -> std::io::Result<Vec<Event>> {
        let mut file = File::open(&self.path)?;
        let len = file.metadata()?.len();
        if len < self.offset {
            self.offset = 0;
            self.partial.clear();
        }
        file.seek(SeekFrom::Start(self.offset))?;
        let mut bytes = std::mem::take(&mut self.partial);
        let read = file.take(len - self.offset).read_to_end(&mut bytes)?;
        self.offset += read as u64;
        let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        self.partial = bytes.split_off(complete);
        let mut events = Vec::new();
        for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            match serde_json::from_slice::<LogLine>(line) {
                Ok(line) if line.v <= SCHEMA_VERSION => events.push(line.event),
                _ => self.skipped += 1,
            }
        }
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::config::Config;
    use crate::runlog::RunLog;
    use crate::state::script;

    #[test]
    fn whole_lines_once_each_and_a_half_written_line_when_it_ends() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = RunLog::create(dir.path(), &Config::default()).unwrap();
        let events = script::events(20, 0, 3);
        let path = dir.path().join("metrics.jsonl");
        let mut follower = Follower::new(&path);
        assert_eq!(follower.poll().unwrap(), []);
        log.write(&events[0]).unwrap();
        log.write(&events[1]).unwrap();
        assert_eq!(follower.poll().unwrap(), events[..2]);
        assert_eq!(follower.poll().unwrap(), []);

        // Half a line, then the rest of it.
        let line = serde_json::to_string(&LogLine {
            v: SCHEMA_VERSION,
            t: 1.0,
            event: events[2].clone(),
        })
        .unwrap();
        let (head, tail) = line.split_at(line.len() / 2);
        let mut raw = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        raw.write_all(head.as_bytes()).unwrap();
        raw.flush().unwrap();
        assert_eq!(follower.poll().unwrap(), []);
        raw.write_all(format!("{tail}\nnot json\n").as_bytes())
            .unwrap();
        raw.flush().unwrap();
        assert_eq!(follower.poll().unwrap(), events[2..3]);
        assert_eq!(follower.skipped, 1);

        // Replaced by a shorter file: read from its start.
        std::fs::write(&path, format!("{line}\n")).unwrap();
        assert_eq!(follower.poll().unwrap(), events[2..3]);
    }
}
