use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::mpsc::{self, Receiver};

use super::*;
use crate::protocol::Hyper;

/// A server on a fresh socket, with the trainer's end of its command channel.
struct Served {
    _dir: tempfile::TempDir,
    path: PathBuf,
    trainer: Receiver<Command>,
    server: Option<ControlServer>,
}

fn served() -> Served {
    let dir = tempfile::tempdir().unwrap();
    let path = socket_path(dir.path());
    let (tx, trainer) = mpsc::channel();
    let server = ControlServer::start(&path, tx).unwrap();
    Served {
        _dir: dir,
        path,
        trainer,
        server: Some(server),
    }
}

/// Runs a blocking client against the server without blocking the server's runtime.
async fn client<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

/// Writes `bytes` as a client would, then reads every reply until the server is done.
async fn exchange(path: &Path, bytes: Vec<u8>) -> Vec<Reply> {
    let path = path.to_path_buf();
    client(move || {
        let mut stream = UnixStream::connect(path).unwrap();
        stream.write_all(&bytes).unwrap();
        stream.shutdown(std::net::Shutdown::Write).unwrap();
        BufReader::new(stream)
            .lines()
            .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
            .collect()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_reach_the_trainer_in_order_and_each_gets_a_reply() {
    let mut s = served();
    let mode = std::fs::metadata(&s.path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "only the owner may steer the run");

    let sent = vec![
        Command::Pause,
        Command::Set {
            hyper: Hyper::LearningRate(0.05),
        },
        Command::SetDepth { depth: 56 },
        Command::Restart,
        Command::Quit,
    ];
    let (path, to_send) = (s.path.clone(), sent.clone());
    let results = client(move || {
        let mut c = ControlClient::connect(&path).unwrap();
        to_send.iter().map(|cmd| c.send(cmd)).collect::<Vec<_>>()
    })
    .await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(s.trainer.try_iter().collect::<Vec<_>>(), sent);
    // The serving loop hears each one too, to report it; what it has not taken when its run
    // stops is still there to report.
    for command in &sent[..2] {
        assert_eq!(&ControlServer::heard(&mut s.server).await, command);
    }
    assert_eq!(ControlServer::unreported(&mut s.server), sent[2..]);
    assert_eq!(ControlServer::unreported(&mut s.server), []);

    drop(s.server.take());
    assert!(!s.path.exists(), "the socket file goes with the server");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_line_is_answered_with_an_example_and_the_connection_stays_open() {
    let s = served();
    let replies = exchange(
        &s.path,
        b"{\"command\":\"fly\"}\n\n{\"command\":\"step\",\"steps\":3}\n{\"command\":\"restart\"}\n"
            .to_vec(),
    )
    .await;
    assert_eq!(replies.len(), 4, "{replies:?}");
    assert!(!replies[0].ok);
    let error = replies[0].error.as_deref().unwrap();
    assert!(
        error.contains("not a command") && error.contains(r#"{"command":"pause"}"#),
        "{error}"
    );
    assert!(!replies[1].ok, "an empty line is not a command");
    assert_eq!(replies[2], Reply::ok());
    assert_eq!(replies[3], Reply::ok());
    assert_eq!(
        s.trainer.try_iter().collect::<Vec<_>>(),
        vec![Command::Step { steps: 3 }, Command::Restart]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overlong_line_is_refused_and_the_next_one_still_heard() {
    let s = served();
    let mut junk = vec![b'x'; 10_000];
    junk.extend_from_slice(b"\n{\"command\":\"pause\"}\n");
    let replies = exchange(&s.path, junk).await;
    assert_eq!(replies.len(), 2, "{replies:?}");
    assert!(
        replies[0]
            .error
            .as_deref()
            .unwrap()
            .contains("longer than 4096 bytes")
    );
    assert_eq!(replies[1], Reply::ok());
    assert_eq!(
        s.trainer.try_iter().collect::<Vec<_>>(),
        vec![Command::Pause]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_hears_when_the_trainer_has_stopped_or_the_process_is_gone() {
    let mut s = served();
    drop(s.trainer);
    let path = s.path.clone();
    let (stopped, mut c) = client(move || {
        let mut c = ControlClient::connect(&path).unwrap();
        (c.send(&Command::Pause), c)
    })
    .await;
    assert_eq!(stopped, Err("the trainer has stopped".to_string()));

    // Dropping the server ends the connections it serves too (asynchronously: the runtime
    // cancels their tasks at its next turn).
    drop(s.server.take());
    let after = client(move || {
        let mut last = Ok(());
        for _ in 0..200 {
            last = c.send(&Command::Pause);
            if last
                .as_ref()
                .is_err_and(|e| !e.contains("trainer has stopped"))
            {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        last
    })
    .await;
    // "closed its control socket" (EOF) or a broken pipe, whichever the client meets first.
    assert!(
        after
            .as_ref()
            .is_err_and(|e| e.contains("control socket") && !e.contains("trainer has stopped")),
        "{after:?}"
    );
    assert!(ControlClient::connect(&s.path).is_err());
}

#[tokio::test]
async fn a_socket_path_taken_or_too_long_is_an_error_not_a_takeover() {
    let dir = tempfile::tempdir().unwrap();
    let path = socket_path(dir.path());
    std::fs::write(&path, "not a socket").unwrap();
    let (tx, _rx) = mpsc::channel();
    assert!(ControlServer::start(&path, tx).is_err());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "not a socket");
    let long = dir.path().join("x".repeat(120));
    std::fs::create_dir(&long).unwrap();
    let (tx, _rx) = mpsc::channel();
    let Err(message) = ControlServer::for_run(&long, &tx) else {
        panic!("a 120-byte directory name leaves no room for a socket path");
    };
    assert!(message.contains("shorter --run-dir"), "{message}");
}
