use std::sync::Mutex;
use std::sync::mpsc::{Receiver, sync_channel};

use super::*;

/// Long enough for a slow CI machine; a flush that blocks fails the test instead of hanging it.
const PATIENCE: Duration = Duration::from_secs(30);

/// A terminal that takes nothing until the test opens its gate, then records what it took.
struct Stalled {
    gate: Option<Receiver<()>>,
    took: Arc<Mutex<Vec<u8>>>,
}

impl Write for Stalled {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(gate) = self.gate.take() {
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
    let (open, gate) = sync_channel(0);
    let took = Arc::new(Mutex::new(Vec::new()));
    let sink = Stalled {
        gate: Some(gate),
        took: Arc::clone(&took),
    };
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
