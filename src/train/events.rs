//! The trainer's outgoing side: an unbounded channel, so a slow consumer never slows training.

use tokio::sync::mpsc::UnboundedSender;

use crate::protocol::Event;

#[derive(Debug, Clone)]
pub struct Events {
    sender: UnboundedSender<Event>,
}

impl Events {
    pub fn new(sender: UnboundedSender<Event>) -> Self {
        Self { sender }
    }

    /// Sends `event`; a consumer that has gone away is not the trainer's problem.
    pub fn emit(&self, event: Event) {
        let _ = self.sender.send(event);
    }
}
