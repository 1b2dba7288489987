use super::*;
use crate::state::script;

fn dashboard(depth: usize) -> Dashboard {
    let mut d = Dashboard::default();
    for e in script::events(depth, 0, 10) {
        d.apply(&e);
    }
    d
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn press(view: &mut View, d: &mut Dashboard, code: KeyCode) -> Reaction {
    view.handle_key(key(code), d)
}

#[test]
fn space_pauses_a_running_trainer_and_resumes_a_paused_one() {
    let (mut v, mut d) = (View::default(), dashboard(20));
    assert_eq!(
        press(&mut v, &mut d, KeyCode::Char(' ')),
        Reaction::Send(Command::Pause)
    );
    d.apply(&crate::protocol::Event::State {
        step: 10,
        state: RunState::Paused,
    });
    assert_eq!(
        press(&mut v, &mut d, KeyCode::Char(' ')),
        Reaction::Send(Command::Resume)
    );
    assert_eq!(
        press(&mut v, &mut d, KeyCode::Char('n')),
        Reaction::Send(Command::Step { steps: 1 })
    );
}

#[test]
fn n_while_running_explains_itself_instead_of_stepping() {
    let (mut v, mut d) = (View::default(), dashboard(20));
    assert_eq!(press(&mut v, &mut d, KeyCode::Char('n')), Reaction::Nothing);
    assert!(d.log.back().unwrap().text.contains("while paused"));
}

#[test]
fn depth_keys_walk_the_ladder_and_stop_at_its_ends() {
    let (mut v, mut d) = (View::default(), dashboard(20));
    assert_eq!(
        press(&mut v, &mut d, KeyCode::Char('D')),
        Reaction::Send(Command::SetDepth { depth: 32 })
    );
    assert_eq!(
        press(&mut v, &mut d, KeyCode::Char('d')),
        Reaction::Send(Command::SetDepth { depth: 14 })
    );
    let mut top = dashboard(110);
    assert_eq!(
        press(&mut v, &mut top, KeyCode::Char('D')),
        Reaction::Nothing
    );
    assert!(top.log.back().unwrap().text.contains("end of the ladder"));

    // `model.ladder` decides where the keys go, from any depth, on or off the ladder.
    let mut short = View::new(vec![20, 56]);
    assert_eq!(
        press(&mut short, &mut dashboard(20), KeyCode::Char('D')),
        Reaction::Send(Command::SetDepth { depth: 56 })
    );
    assert_eq!(
        press(&mut short, &mut dashboard(32), KeyCode::Char('d')),
        Reaction::Send(Command::SetDepth { depth: 20 })
    );
    assert_eq!(
        press(&mut short, &mut dashboard(56), KeyCode::Char('D')),
        Reaction::Nothing
    );
}

#[test]
fn learning_rate_keys_halve_and_double_the_base_rate() {
    let (mut v, mut d) = (View::default(), dashboard(20));
    assert_eq!(
        press(&mut v, &mut d, KeyCode::Char('l')),
        Reaction::Send(Command::Set {
            hyper: Hyper::LearningRate(0.05)
        })
    );
    assert_eq!(
        press(&mut v, &mut d, KeyCode::Char('L')),
        Reaction::Send(Command::Set {
            hyper: Hyper::LearningRate(0.2)
        })
    );
    assert_eq!(
        press(&mut v, &mut d, KeyCode::Char('c')),
        Reaction::Send(Command::Checkpoint)
    );
    assert_eq!(press(&mut v, &mut d, KeyCode::Char('q')), Reaction::Quit);
    assert_eq!(press(&mut v, &mut d, KeyCode::Char('Q')), Reaction::Stop);
}

#[test]
fn zoom_help_and_escape() {
    let (mut v, mut d) = (View::default(), dashboard(20));
    press(&mut v, &mut d, KeyCode::Char('3'));
    assert_eq!(v.zoom, Some(Panel::Flow));
    press(&mut v, &mut d, KeyCode::Char('3'));
    assert_eq!(v.zoom, None);
    press(&mut v, &mut d, KeyCode::Char('5'));
    press(&mut v, &mut d, KeyCode::Char('?'));
    assert!(v.help);
    press(&mut v, &mut d, KeyCode::Esc);
    assert_eq!((v.help, v.zoom), (false, None));
}

#[test]
fn the_edit_form_validates_applies_and_cancels() {
    let (mut v, mut d) = (View::default(), dashboard(20));
    press(&mut v, &mut d, KeyCode::Char('e'));
    assert_eq!(v.edit.as_ref().unwrap().text, "0.1");
    press(&mut v, &mut d, KeyCode::Down);
    assert_eq!(v.edit.as_ref().unwrap().text, "0.9");
    for _ in 0..3 {
        press(&mut v, &mut d, KeyCode::Backspace);
    }
    for c in "1.5".chars() {
        press(&mut v, &mut d, KeyCode::Char(c));
    }
    assert_eq!(press(&mut v, &mut d, KeyCode::Enter), Reaction::Nothing);
    assert!(
        v.edit
            .as_ref()
            .unwrap()
            .error
            .as_deref()
            .unwrap()
            .contains("[0, 1)")
    );
    press(&mut v, &mut d, KeyCode::Backspace);
    press(&mut v, &mut d, KeyCode::Backspace);
    press(&mut v, &mut d, KeyCode::Backspace);
    for c in "0.5".chars() {
        press(&mut v, &mut d, KeyCode::Char(c));
    }
    assert_eq!(
        press(&mut v, &mut d, KeyCode::Enter),
        Reaction::Send(Command::Set {
            hyper: Hyper::Momentum(0.5)
        })
    );
    assert!(v.edit.is_none());
    // Keys that mean something elsewhere are just typing (or ignored) inside the form.
    press(&mut v, &mut d, KeyCode::Char('e'));
    assert_eq!(press(&mut v, &mut d, KeyCode::Char('q')), Reaction::Nothing);
    assert_eq!(press(&mut v, &mut d, KeyCode::Esc), Reaction::Nothing);
    assert!(v.edit.is_none());
}

#[test]
fn parse_field_names_what_is_wrong() {
    assert_eq!(parse_field(3, "256"), Ok(Hyper::BatchSize(256)));
    assert!(parse_field(3, "2.5").unwrap_err().contains("whole number"));
    assert!(parse_field(0, "-1").unwrap_err().contains("> 0"));
    assert!(parse_field(0, "abc").unwrap_err().contains("not a number"));
    // An emptied field said `"" is not a number`.
    assert_eq!(
        parse_field(1, " "),
        Err("momentum: type a value first (esc cancels)".to_string())
    );
}

#[test]
fn once_the_trainer_has_stopped_keys_that_would_steer_it_say_so() {
    let (mut v, mut d) = (View::default(), dashboard(20));
    d.apply(&crate::protocol::Event::State {
        step: 10,
        state: RunState::Finished,
    });
    d.apply(&crate::protocol::Event::Stopped);
    for code in ['d', 'D', ' ', 'n', 'c', 'l', 'e'].map(KeyCode::Char) {
        let before = d.log.len();
        assert_eq!(press(&mut v, &mut d, code), Reaction::Nothing, "{code:?}");
        let note = &d.log.back().unwrap().text;
        assert!(
            d.log.len() > before && note.contains("training has stopped"),
            "{code:?}: {note}"
        );
        assert_eq!(v.edit, None);
    }
    assert_eq!(press(&mut v, &mut d, KeyCode::Char('3')), Reaction::Nothing);
    assert_eq!(v.zoom, Some(Panel::Flow), "the view's own keys still work");
    assert_eq!(press(&mut v, &mut d, KeyCode::Char('q')), Reaction::Quit);
}

#[test]
fn after_a_fault_that_overflowed_the_weights_space_and_n_decline_and_r_restarts() {
    use crate::protocol::Event;
    let fault = |weights_overflowed| {
        let mut d = dashboard(20);
        for e in &script::nan_fault(11, weights_overflowed) {
            d.apply(e);
        }
        d
    };
    // One bad batch, finite weights: lower the learning rate and resume.
    let (mut v, mut d) = (View::default(), fault(false));
    assert_eq!(
        press(&mut v, &mut d, KeyCode::Char(' ')),
        Reaction::Send(Command::Resume)
    );
    // Overflowed weights: resuming would fault again at once (before, it did just that).
    let (mut v, mut d) = (View::default(), fault(true));
    for code in [KeyCode::Char(' '), KeyCode::Char('n')] {
        assert_eq!(press(&mut v, &mut d, code), Reaction::Nothing);
        let note = &d.log.back().unwrap().text;
        assert!(
            note.contains("weights overflowed") && note.contains("r restarts"),
            "{note}"
        );
    }
    assert_eq!(
        press(&mut v, &mut d, KeyCode::Char('r')),
        Reaction::Send(Command::Restart)
    );
    // The restarted nets wait paused: space resumes them.
    d.apply(&Event::State {
        step: 10,
        state: RunState::Paused,
    });
    assert!(!d.fault_needs_restart && d.fault.is_none());
    assert_eq!(
        press(&mut v, &mut d, KeyCode::Char(' ')),
        Reaction::Send(Command::Resume)
    );
}
