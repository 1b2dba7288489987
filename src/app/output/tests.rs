use std::sync::Mutex;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use super::*;

/// Long enough for a slow CI machine; a flush that blocks fails the test instead of hanging it.
const PATIENCE: Duration = Duration::from_secs(30);

/// A terminal that takes nothing until the test opens its gate, then records what it took.
struct Stalled {
    gate: Option<Receiver<()>>,
    /// Set once a write waits at the gate.
    waiting: Arc<AtomicBool>,
    took: Arc<Mutex<Vec<u8>>>,
}

/// The test's side of a [`Stalled`] terminal.
struct Gate {
    open: SyncSender<()>,
    waiting: Arc<AtomicBool>,
    took: Arc<Mutex<Vec<u8>>>,
}

impl Stalled {
    fn new() -> (Stalled, Gate) {
        let (open, gate) = sync_channel(0);
        let waiting = Arc::new(AtomicBool::new(false));
        let took = Arc::new(Mutex::new(Vec::new()));
        let sink = Stalled {
            gate: Some(gate),
            waiting: Arc::clone(&waiting),
            took: Arc::clone(&took),
        };
        (
            sink,
            Gate {
                open,
                waiting,
                took,
            },
        )
    }
}

impl Write for Stalled {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(gate) = self.gate.take() {
            self.waiting.store(true, Ordering::SeqCst);
            gate.recv().unwrap();
        }
        self.took.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A terminal that has hung up.
struct HungUp;

impl Write for HungUp {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::from_raw_os_error(5)) // EIO, as a hung-up tty answers
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_stalled_terminal_holds_the_writing_thread_not_the_caller() {
    let (sink, Gate { open, took, .. }) = Stalled::new();
    let (mut output, state) = Output::spawn(sink).unwrap();

    // Two frames, on another thread so that a flush that waited for the terminal fails here.
    let (done, finished) = channel();
    let caller = std::thread::spawn(move || {
        output.write_all(b"frame one;").unwrap();
        output.flush().unwrap();
        output.write_all(b"frame two").unwrap();
        output.flush().unwrap();
        done.send(()).unwrap();
        output
    });
    finished
        .recv_timeout(PATIENCE)
        .expect("flush returned while the terminal took nothing");
    let _output = caller.join().unwrap();
    assert_eq!(state.backlog(), 19, "both frames wait for the terminal");
    assert!(!state.drain(Duration::from_millis(50)), "still stalled");

    open.send(()).unwrap();
    assert!(state.drain(PATIENCE));
    assert_eq!(state.backlog(), 0);
    assert!(!state.failed());
    assert_eq!(took.lock().unwrap().as_slice(), b"frame one;frame two");
}

#[test]
fn a_hung_up_terminal_fails_the_next_flush() {
    let (mut output, state) = Output::spawn(HungUp).unwrap();
    output.write_all(b"frame").unwrap();
    output.flush().unwrap();
    assert!(state.drain(PATIENCE), "a failed write is not a backlog");
    assert!(state.failed());
    assert_eq!(state.backlog(), 0);
    output.write_all(b"next frame").unwrap();
    let error = output.flush().unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::BrokenPipe);
}

#[test]
fn closing_waits_for_the_chunk_being_written_and_drops_the_rest() {
    let (
        sink,
        Gate {
            open,
            waiting,
            took,
        },
    ) = Stalled::new();
    let (mut output, state) = Output::spawn(sink).unwrap();
    output.write_all(b"being written;").unwrap();
    output.flush().unwrap();
    output.write_all(b"queued").unwrap();
    output.flush().unwrap();
    // The writing thread is inside the first chunk's write until the gate opens.
    let start = Instant::now();
    while !waiting.load(Ordering::SeqCst) {
        assert!(
            start.elapsed() < PATIENCE,
            "the first chunk was never written"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(
        !state.close(Duration::from_millis(50)),
        "a chunk is being written"
    );

    open.send(()).unwrap();
    assert!(state.close(PATIENCE), "the chunk was written");
    output.write_all(b"after").unwrap();
    output.flush().unwrap();
    assert!(state.drain(PATIENCE), "what was handed over is dropped");
    assert_eq!(took.lock().unwrap().as_slice(), b"being written;");
    assert!(!state.failed());
}
