//! The dashboard drawn into ratatui's `TestBackend` from scripted events, through the same entry
//! points as production (`Dashboard::apply`, `View::handle_key`, `ui::render`). Snapshots live
//! in `tests/snapshots/`; review changes with `cargo insta review`.

#![allow(clippy::unwrap_used)]

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::Color;
use resdash::control::{Reaction, View, Watching};
use resdash::protocol::{DepthSummary, Event, Fault, Net, RunState};
use resdash::state::{Dashboard, script};
use resdash::ui::{self, Theme};

fn running() -> Dashboard {
    two_depths(180)
}

/// Depth 20 for 300 steps and its summary row, then `steps_at_56` steps at depth 56.
fn two_depths(steps_at_56: u64) -> Dashboard {
    let mut d = Dashboard::default();
    let mut events = script::events(20, 0, 300);
    events.push(Event::DepthSummary(DepthSummary {
        depth: 20,
        steps: 300,
        train_error: [24.1, 12.3],
        test_error: [26.0, 15.2],
    }));
    events.push(Event::Changed {
        step: 300,
        change: resdash::protocol::Change::Depth { from: 20, to: 56 },
    });
    events.extend(script::events(56, 300, steps_at_56));
    for e in &events {
        d.apply(e);
    }
    d
}

fn draw(d: &Dashboard, view: &View, theme: Theme, (w, h): (u16, u16)) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal.draw(|f| ui::render(f, d, view, theme)).unwrap();
    terminal.backend().buffer().clone()
}

fn text(buffer: &Buffer) -> String {
    let area = buffer.area;
    (0..area.height)
        .map(|y| {
            (0..area.width)
                .map(|x| buffer[(x, y)].symbol())
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn key(view: &mut View, d: &mut Dashboard, code: KeyCode) -> Reaction {
    view.handle_key(KeyEvent::new(code, KeyModifiers::NONE), d)
}

const SMALL: (u16, u16) = (80, 24);
const LARGE: (u16, u16) = (120, 40);

#[test]
fn running_at_80x24_and_120x40() {
    let d = running();
    insta::assert_snapshot!(
        "running_80x24",
        text(&draw(&d, &View::default(), Theme::default(), SMALL))
    );
    insta::assert_snapshot!(
        "running_120x40",
        text(&draw(&d, &View::default(), Theme::default(), LARGE))
    );
}

#[test]
fn paused_with_a_fault() {
    let mut d = running();
    for e in &script::nan_fault(481, false) {
        d.apply(e);
    }
    let screen = text(&draw(&d, &View::default(), Theme::default(), SMALL));
    assert!(screen.contains("resdash FAULT"), "{screen}");
    assert!(
        screen.contains("FAULT: plain net: loss became NaN at step 481"),
        "{screen}"
    );
    // Cut to fit 80 columns, the fault keeps what to do in view and where to read all of it.
    let footer = screen.lines().last().unwrap().trim_end();
    assert!(
        footer.ends_with("… (6 shows all · space resumes)"),
        "{footer}"
    );
    let mut zoomed = View::default();
    key(&mut zoomed, &mut d, KeyCode::Char('6'));
    let log = text(&draw(&d, &zoomed, Theme::default(), SMALL));
    assert!(
        log.contains("step 481; training paused (lower the learning") && log.contains("│rate)"),
        "{log}"
    );
    let wide = text(&draw(&d, &View::default(), Theme::default(), LARGE));
    assert!(
        wide.contains("(lower the learning rate)  (space resumes)"),
        "{wide}"
    );
    insta::assert_snapshot!("fault_80x24", screen);
    d.apply(&Event::State {
        step: 480,
        state: RunState::Paused,
    });
    insta::assert_snapshot!(
        "paused_120x40",
        text(&draw(&d, &View::default(), Theme::default(), LARGE))
    );
}

#[test]
fn zoom_and_help_through_the_keys() {
    let mut d = running();
    let mut view = View::default();
    key(&mut view, &mut d, KeyCode::Char('3'));
    insta::assert_snapshot!(
        "zoom_flow_120x40",
        text(&draw(&d, &view, Theme::default(), LARGE))
    );
    key(&mut view, &mut d, KeyCode::Char('5'));
    insta::assert_snapshot!(
        "zoom_degradation_80x24",
        text(&draw(&d, &view, Theme::default(), SMALL))
    );
    key(&mut view, &mut d, KeyCode::Char('?'));
    insta::assert_snapshot!(
        "help_80x24",
        text(&draw(&d, &view, Theme::default(), SMALL))
    );
    key(&mut view, &mut d, KeyCode::Esc);
    key(&mut view, &mut d, KeyCode::Char('e'));
    insta::assert_snapshot!(
        "edit_80x24",
        text(&draw(&d, &view, Theme::default(), SMALL))
    );
}

#[test]
fn a_tiny_terminal_gets_a_clear_message_not_a_panic() {
    let d = running();
    for size in [(40, 10), (79, 24), (80, 23), (1, 1), (0, 0)] {
        let screen = text(&draw(&d, &View::default(), Theme::default(), size));
        if size.0 >= 20 && size.1 >= 3 {
            assert!(screen.contains("terminal too small"), "{size:?}: {screen}");
        }
    }
    insta::assert_snapshot!(
        "too_small_40x10",
        text(&draw(&d, &View::default(), Theme::default(), (40, 10)))
    );
}

#[test]
fn before_the_first_event_every_panel_says_what_it_waits_for() {
    let screen = text(&draw(
        &Dashboard::default(),
        &View::default(),
        Theme::default(),
        SMALL,
    ));
    assert!(screen.contains("waiting for the first step"), "{screen}");
    assert!(
        screen.contains("waiting for the first probe step"),
        "{screen}"
    );
    // The probe interval is not known before the trainer says it.
    assert!(!screen.contains("every 0 steps"), "{screen}");
}

#[test]
fn a_run_that_stopped_before_its_first_step_says_so_instead_of_waiting() {
    // What `watch` shows of a run whose trainer could not start (e.g. a corrupt checkpoint).
    let mut d = Dashboard::default();
    d.apply(&Event::Fault(Fault::Setup {
        message: "runs/x/checkpoints/step-000002/plain.mpk: corrupt checkpoint file".into(),
    }));
    d.apply(&Event::Stopped);
    let screen = text(&draw(&d, &View::default(), Theme::default(), SMALL));
    assert!(!screen.contains("waiting for"), "{screen}");
    assert!(
        screen.contains("the run stopped before its first step")
            && screen.contains("the run stopped before its first probe")
            && screen.contains("trainer stopped"),
        "{screen}"
    );
}

fn colours_of(buffer: &Buffer, needle: &str) -> Vec<Color> {
    let area = buffer.area;
    for y in 0..area.height {
        let line: String = (0..area.width).map(|x| buffer[(x, y)].symbol()).collect();
        if let Some(pos) = line.find(needle) {
            let col = line[..pos].chars().count() as u16;
            return (col..col + needle.chars().count() as u16)
                .map(|x| buffer[(x, y)].fg)
                .collect();
        }
    }
    panic!("{needle:?} not on screen");
}

#[test]
fn plain_is_red_residual_green_and_no_color_means_no_colour() {
    let d = running();
    let buffer = draw(&d, &View::default(), Theme::default(), LARGE);
    assert!(
        colours_of(&buffer, "plain ")
            .iter()
            .all(|c| *c == Color::Red)
    );
    assert!(
        colours_of(&buffer, "resid ")
            .iter()
            .all(|c| *c == Color::Green)
    );
    // The chart series carry the same colours.
    let area = buffer.area;
    let cells: Vec<Color> = (0..area.height)
        .flat_map(|y| (0..area.width).map(move |x| (x, y)))
        .map(|p| buffer[p].fg)
        .collect();
    assert!(cells.contains(&Color::Red) && cells.contains(&Color::Green));

    let mono = draw(
        &d,
        &View::default(),
        Theme {
            color: false,
            ascii: true,
        },
        LARGE,
    );
    let area = mono.area;
    for y in 0..area.height {
        for x in 0..area.width {
            let cell = &mono[(x, y)];
            assert_eq!(cell.fg, Color::Reset, "colour at ({x},{y}) with NO_COLOR");
            assert!(
                !('\u{2800}'..='\u{28ff}').contains(&cell.symbol().chars().next().unwrap_or(' ')),
                "Braille in ASCII mode"
            );
        }
    }
}

#[test]
fn the_live_degradation_row_gives_way_to_the_summary_at_the_step_limit() {
    let mut d = Dashboard::default();
    for e in &script::events(20, 0, 300) {
        d.apply(e);
    }
    let zoomed = View {
        zoom: Some(resdash::control::Panel::Degradation),
        ..View::default()
    };
    assert!(text(&draw(&d, &zoomed, Theme::default(), SMALL)).contains("20 now"));
    d.apply(&Event::DepthSummary(DepthSummary {
        depth: 20,
        steps: 300,
        train_error: [24.1, 12.3],
        test_error: [26.0, 15.2],
    }));
    let screen = text(&draw(&d, &zoomed, Theme::default(), SMALL));
    assert!(
        !screen.contains("20 now") && screen.contains("24.1/26.0"),
        "{screen}"
    );
}

#[test]
fn after_a_depth_change_the_numbers_are_the_new_networks_only() {
    // Three steps at depth 56, no evaluation yet: its nets start near chance (5% here).
    let d = two_depths(3);
    let screen = text(&draw(&d, &View::default(), Theme::default(), SMALL));
    // Depth 20's smoothed training accuracy (~24% plain) does not leak into depth 56's line, and
    // depth 20's last test accuracy is not shown as depth 56's.
    assert!(screen.contains("train plain  5.0% resid  5."), "{screen}");
    assert!(
        screen.contains("test  plain   -   resid   -   gap-"),
        "{screen}"
    );
}

#[test]
fn a_run_resumed_at_its_step_limit_shows_its_table_and_no_stale_numbers() {
    let mut d = Dashboard::default();
    let mut info = script::info(56, 300);
    info.max_steps = 180;
    let row = |depth, plain, resid| {
        Event::DepthSummary(DepthSummary {
            depth,
            steps: 180,
            train_error: [plain, resid],
            test_error: [plain + 1.0, resid + 1.0],
        })
    };
    for e in [
        Event::Started(info),
        Event::State {
            step: 480,
            state: RunState::WarmingUp,
        },
        Event::Changed {
            step: 480,
            change: resdash::protocol::Change::Resumed {
                from: "runs/x/checkpoints/step-000480".into(),
            },
        },
        row(20, 24.1, 12.3),
        row(56, 86.0, 63.2),
        Event::State {
            step: 480,
            state: RunState::Finished,
        },
    ] {
        d.apply(&e);
    }
    let screen = text(&draw(&d, &View::default(), Theme::default(), SMALL));
    for expected in [
        "resdash STEP LIMIT · synthetic 1x16x16 · flex · depth 56 · step 480\n",
        "no steps yet in this process",
        "20      180    24.1/25.1   12.3/13.3",
        "56      180    86.0/87.0 ▲ 63.2/64.2",
        "lr       - (base 0.1)",
        "step 480: resumed",
    ] {
        assert!(screen.contains(expected), "{expected:?} in\n{screen}");
    }
    assert!(!screen.contains(" ep "), "{screen}");
}

#[test]
fn the_log_pane_always_shows_the_newest_entry_and_the_checkpoint_path_s_end() {
    let mut d = running();
    d.apply(&Event::Checkpointed {
        step: 480,
        path: "runs/20261203-142118/checkpoints/step-000480".into(),
    });
    d.note(
        resdash::state::Level::Info,
        "a long entry that needs two rows of the log pane at 120x40: \
         runs/20261203-142118/checkpoints/step-000480",
    );
    d.note(resdash::state::Level::Info, "the newest entry");
    let screen = text(&draw(&d, &View::default(), Theme::default(), LARGE));
    assert!(screen.contains("the newest entry"), "{screen}");
    let small = text(&draw(&d, &View::default(), Theme::default(), SMALL));
    assert!(
        small.contains("│ckpt     …2118/checkpoints/step-000480│"),
        "{small}"
    );
}

#[test]
fn an_entry_too_long_for_the_log_pane_shows_its_start_not_a_word() {
    let mut d = running();
    d.note(
        resdash::state::Level::Info,
        "attached to /tmp/nc/runs/20261206-095724: keys steer the run; q leaves it training",
    );
    // At 80x24 the log pane is one row: word wrapping left "attached to" alone on it.
    let small = text(&draw(&d, &View::default(), Theme::default(), SMALL));
    assert!(
        small.contains("│attached to /tmp/nc/runs/20261206-095…│"),
        "{small}"
    );
}

#[test]
fn watching_a_run_the_status_bar_says_what_q_does_and_whether_keys_steer() {
    let d = running();
    let last_line = |watching| {
        let view = View {
            watching: Some(watching),
            ..View::default()
        };
        let screen = text(&draw(&d, &view, Theme::default(), SMALL));
        screen.lines().last().unwrap().to_string()
    };
    let steering = last_line(Watching::Steering);
    assert!(
        steering.starts_with("space pause") && steering.ends_with("q leave  Q stop"),
        "{steering}"
    );
    assert_eq!(
        last_line(Watching::ReadOnly),
        "watching, read-only  1-6 zoom  ? help  q leave"
    );
}

#[test]
fn a_fault_that_space_cannot_resume_says_q_quits() {
    let mut d = running();
    d.apply(&Event::Fault(Fault::Panic {
        message: "index out of bounds".into(),
    }));
    d.apply(&Event::Stopped);
    let screen = text(&draw(&d, &View::default(), Theme::default(), SMALL));
    let footer = screen.lines().last().unwrap().trim_end();
    assert_eq!(
        footer,
        "FAULT: trainer panicked: index out of bounds  (q quits)"
    );

    // Watching read-only, no key resumes the run either.
    let mut d = running();
    d.apply(&Event::Fault(Fault::NonFinite {
        net: Net::Residual,
        step: 9,
        loss: f64::INFINITY,
        weights_overflowed: false,
    }));
    let view = View {
        watching: Some(Watching::ReadOnly),
        ..View::default()
    };
    let screen = text(&draw(&d, &view, Theme::default(), LARGE));
    assert!(
        screen
            .lines()
            .last()
            .unwrap()
            .trim_end()
            .ends_with("(q quits)"),
        "{screen}"
    );
}

/// The longest run of digits in `screen`.
fn longest_digit_run(screen: &str) -> usize {
    screen
        .split(|c: char| !c.is_ascii_digit())
        .map(str::len)
        .max()
        .unwrap_or(0)
}

#[test]
fn a_tiny_learning_rate_and_a_blown_up_net_read_as_numbers_not_zeros_or_cut_digits() {
    // Depth 20, then `l` pressed twelve times (lr 0.1/4096) and a net that blew up: losses of
    // 1e28, activations and gradients of 1e14 (what `e` with lr=1e9 did to a live run).
    let mut d = Dashboard::default();
    for mut e in script::events(20, 0, 300) {
        match &mut e {
            Event::Step(s) if s.step > 250 => {
                s.lr = 0.1 / 4096.0;
                for score in &mut s.scores {
                    score.loss *= 1e28;
                }
            }
            Event::Probe(p) if p.step > 250 => {
                for b in &mut p.blocks {
                    b.activation_rms *= 1e14;
                    b.total *= 1e14;
                    b.shortcut = b.shortcut.map(|v| v * 1e14);
                    b.branch = b.branch.map(|v| v * 1e14);
                }
            }
            _ => {}
        }
        d.apply(&e);
    }
    d.apply(&Event::Changed {
        step: 300,
        change: resdash::protocol::Change::Hyper {
            hyper: resdash::protocol::Hyper::LearningRate(0.1 / 4096.0),
        },
    });
    for (view, what) in [
        (View::default(), "all panels"),
        (
            View {
                zoom: Some(resdash::control::Panel::Loss),
                ..View::default()
            },
            "loss zoomed",
        ),
    ] {
        let screen = text(&draw(&d, &view, Theme::default(), SMALL));
        // Before: "lr 0.0000", tick labels "139649739322" and "777476016.1M" (ratatui cut
        // "5104174985.9M" to "5104174985.9", a million times too small), "mean 850186992964949.38".
        // (The log pane keeps the value as set: "step 300: lr=0.0000244140625".)
        let shown = screen
            .lines()
            .filter(|l| !l.contains("lr="))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(!shown.contains("0.0000"), "{what}:\n{screen}");
        assert!(longest_digit_run(&shown) <= 5, "{what}:\n{screen}");
        assert!(screen.contains("5.2e29"), "{what}: the loss axis\n{screen}");
        if view.zoom.is_none() {
            assert!(
                screen.contains("lr       2.44e-5 (base 2.44e-5)"),
                "{screen}"
            );
            assert!(screen.contains("e13") || screen.contains("e14"), "{screen}");
        }
    }
}

#[test]
fn a_fault_whose_weights_overflowed_points_to_r_not_space() {
    let mut d = running();
    for e in &script::nan_fault(481, true) {
        d.apply(e);
    }
    let screen = text(&draw(&d, &View::default(), Theme::default(), SMALL));
    let footer = screen.lines().last().unwrap().trim_end();
    assert!(
        footer.starts_with("FAULT: plain net: loss became NaN at step 481")
            && footer.ends_with("… (6 shows all · r restarts)"),
        "{footer}"
    );
    let mut zoomed = View::default();
    key(&mut zoomed, &mut d, KeyCode::Char('6'));
    let log = text(&draw(&d, &zoomed, Theme::default(), SMALL));
    assert!(
        log.contains("its weights overflowed") && log.contains("restart the depth"),
        "{log}"
    );
}
