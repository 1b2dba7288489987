//! Starting the trainer on its own OS thread with the backend chosen at run time, and turning a
//! panic in it into a [`Fault`] event instead of a dead UI.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, Sender};
use std::thread::JoinHandle;

use tokio::sync::mpsc::UnboundedReceiver;

use super::events::Events;
use super::trainer::{Trainer, TrainerSetup};
use crate::backend::{BackendJob, BackendKind, TrainBackend, dispatch, panic_message, share_cores};
use crate::protocol::{Command, Event, Fault, Net};

/// The two ends the caller keeps, and the thread.
pub struct TrainerHandle {
    pub commands: Sender<Command>,
    pub events: UnboundedReceiver<Event>,
    pub thread: JoinHandle<()>,
}

struct TrainJob {
    setup: TrainerSetup,
    events: Events,
    commands: Receiver<Command>,
}

impl BackendJob for TrainJob {
    type Output = ();

    fn run<B: TrainBackend>(self, device: B::Device, backend: &'static str) {
        match Trainer::<B>::new(
            self.setup,
            device,
            backend,
            self.events.clone(),
            self.commands,
        ) {
            Ok(trainer) => trainer.run(),
            Err(e) => self.events.emit(Event::Fault(Fault::Setup {
                message: e.to_string(),
            })),
        }
    }
}

/// Spawns the trainer. The backend name in `setup.config.run.backend` must be compiled in.
pub fn spawn(setup: TrainerSetup) -> Result<TrainerHandle, String> {
    let kind = BackendKind::parse(&setup.config.run.backend)?;
    let (command_tx, command_rx) = std::sync::mpsc::channel();
    let (event_tx, event_rx) = tokio::sync::mpsc::unbounded_channel();
    let events = Events::new(event_tx);
    let thread = std::thread::Builder::new()
        .name("trainer".into())
        .spawn(move || {
            let job = TrainJob {
                setup,
                events: events.clone(),
                commands: command_rx,
            };
            share_cores(kind, Net::BOTH.len());
            if let Err(panic) = catch_unwind(AssertUnwindSafe(|| dispatch(kind, job))) {
                events.emit(Event::Fault(Fault::Panic {
                    message: panic_message(panic.as_ref()),
                }));
            }
            events.emit(Event::Stopped);
        })
        .map_err(|e| format!("cannot start the trainer thread: {e}"))?;
    Ok(TrainerHandle {
        commands: command_tx,
        events: event_rx,
        thread,
    })
}
