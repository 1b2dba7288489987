//! The run's control socket, `runs/<id>/control.sock`: how a terminal that did not start a run
//! steers it (`resdash watch`, or a script with `nc -U`). The process that trains serves it; each
//! line a client writes is one [`Command`] as JSON (`{"command":"pause"}`), and each gets one
//! [`Reply`] line back. What the command did shows in `metrics.jsonl`, like any other change.
//!
//! Only the owner can connect (the socket file is made mode 0600); the trainer checks every value
//! itself, as it does for the dashboard's keys.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use crate::protocol::Command;

/// The socket's file name inside a run directory.
pub const SOCKET_NAME: &str = "control.sock";
/// Longest line a client may send; a longer one is refused (and its rest dropped).
const MAX_LINE: u64 = 4096;
/// How long a client waits for a reply before giving up.
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// The socket of the run in `run_dir`.
pub fn socket_path(run_dir: &Path) -> PathBuf {
    run_dir.join(SOCKET_NAME)
}

/// The answer to one command line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// The command reached the trainer (which applies it at its next step boundary).
    pub ok: bool,
    /// Why not, when `ok` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Reply {
    fn ok() -> Self {
        Self {
            ok: true,
            error: None,
        }
    }

    fn error(message: impl Into<String>) -> Self {
        Self {
            ok: false,
            error: Some(message.into()),
        }
    }
}

/// A served control socket; dropping it stops serving and removes the socket file.
pub struct ControlServer {
    path: PathBuf,
    task: tokio::task::JoinHandle<()>,
    /// A copy of each command forwarded, for the serving loop to report.
    heard: UnboundedReceiver<Command>,
}

impl ControlServer {
    /// Serves `path`, forwarding each well-formed command to `commands`. Must be called from
    /// inside a tokio runtime. Fails if the path is taken or too long for a Unix socket.
    pub fn start(path: &Path, commands: Sender<Command>) -> std::io::Result<ControlServer> {
        let listener = tokio::net::UnixListener::bind(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        let (told, heard) = unbounded_channel();
        let task = tokio::spawn(async move {
            // Dropped with this task when the server goes: no connection outlives it.
            let mut clients = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => {
                            clients.spawn(serve_client(stream, commands.clone(), told.clone()));
                        }
                        // An accept error (e.g. out of file descriptors) ends serving, not the run.
                        Err(_) => break,
                    },
                    Some(_) = clients.join_next() => {}
                }
            }
        });
        Ok(ControlServer {
            path: path.to_path_buf(),
            task,
            heard,
        })
    }

    /// The next command a client sent (already forwarded to the trainer); never resolves
    /// without a server, so a `select!` branch on it is simply idle.
    pub async fn heard(server: &mut Option<ControlServer>) -> Command {
        match server.as_mut() {
            Some(s) => match s.heard.recv().await {
                Some(command) => command,
                None => std::future::pending().await,
            },
            None => std::future::pending().await,
        }
    }

    /// The commands heard but not yet taken by [`ControlServer::heard`]: a loop that ends on the
    /// trainer's `stopped` can see it before the `stop` that caused it (the trainer is quicker
    /// than the loop's next turn), and reports these last.
    pub fn unreported(server: &mut Option<ControlServer>) -> Vec<Command> {
        let mut commands = Vec::new();
        if let Some(s) = server.as_mut() {
            while let Ok(command) = s.heard.try_recv() {
                commands.push(command);
            }
        }
        commands
    }

    /// Serves the socket of the run in `run_dir`; the error, in words, says what is lost.
    pub fn for_run(run_dir: &Path, commands: &Sender<Command>) -> Result<ControlServer, String> {
        let path = socket_path(run_dir);
        ControlServer::start(&path, commands.clone()).map_err(|e| {
            let hint = if e.kind() == std::io::ErrorKind::InvalidInput {
                " (a socket path must be under 108 bytes: use a shorter --run-dir)"
            } else {
                ""
            };
            format!(
                "no control socket at {}: {e}{hint}; `resdash watch` shows this run read-only",
                path.display()
            )
        })
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

async fn serve_client(
    stream: tokio::net::UnixStream,
    commands: Sender<Command>,
    told: UnboundedSender<Command>,
) {
    let (read, mut write) = stream.into_split();
    let mut read = tokio::io::BufReader::new(read);
    let mut line = Vec::new();
    // Inside a line that was too long: its rest is read and dropped.
    let mut skipping = false;
    loop {
        line.clear();
        let n = match (&mut read)
            .take(MAX_LINE)
            .read_until(b'\n', &mut line)
            .await
        {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let complete = line.last() == Some(&b'\n');
        if skipping {
            skipping = !complete;
            continue;
        }
        let reply = if !complete && n as u64 == MAX_LINE {
            skipping = true;
            Reply::error(format!("line longer than {MAX_LINE} bytes, dropped"))
        } else {
            answer(&line, &commands, &told)
        };
        let Ok(mut text) = serde_json::to_vec(&reply) else {
            return;
        };
        text.push(b'\n');
        if write.write_all(&text).await.is_err() {
            return;
        }
    }
}

/// Parses one line and forwards the command.
fn answer(line: &[u8], commands: &Sender<Command>, told: &UnboundedSender<Command>) -> Reply {
    let text = String::from_utf8_lossy(line);
    let text = text.trim();
    if text.is_empty() {
        return Reply::error("empty line: send one command as JSON, e.g. {\"command\":\"pause\"}");
    }
    match serde_json::from_str::<Command>(text) {
        Ok(command) => {
            if commands.send(command.clone()).is_ok() {
                let _ = told.send(command);
                Reply::ok()
            } else {
                Reply::error("the trainer has stopped")
            }
        }
        Err(e) => Reply::error(format!(
            "not a command ({e}); e.g. {{\"command\":\"pause\"}}, {{\"command\":\"set_depth\",\"depth\":56}}"
        )),
    }
}

/// A connection to a run's control socket (blocking; each send waits for its reply).
pub struct ControlClient {
    stream: BufReader<UnixStream>,
}

impl ControlClient {
    pub fn connect(path: &Path) -> std::io::Result<ControlClient> {
        let stream = UnixStream::connect(path)?;
        stream.set_read_timeout(Some(REPLY_TIMEOUT))?;
        stream.set_write_timeout(Some(REPLY_TIMEOUT))?;
        Ok(ControlClient {
            stream: BufReader::new(stream),
        })
    }

    /// Sends one command; `Err` says why it did not reach the trainer.
    pub fn send(&mut self, command: &Command) -> Result<(), String> {
        let mut line = serde_json::to_vec(command).map_err(|e| e.to_string())?;
        line.push(b'\n');
        self.stream
            .get_mut()
            .write_all(&line)
            .map_err(|e| format!("the run's control socket: {e}"))?;
        let mut reply = String::new();
        match self.stream.read_line(&mut reply) {
            Ok(0) => return Err("the run's process has closed its control socket".into()),
            Ok(_) => {}
            Err(e) => return Err(format!("no reply from the run's control socket: {e}")),
        }
        let reply: Reply = serde_json::from_str(&reply)
            .map_err(|e| format!("the run's control socket replied {reply:?}: {e}"))?;
        if reply.ok {
            Ok(())
        } else {
            Err(reply.error.unwrap_or_else(|| "refused".into()))
        }
    }
}

#[cfg(test)]
mod tests;
