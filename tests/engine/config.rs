use resdash::config::{Config, ConfigError, DataSource, Overrides, Shortcut};

#[test]
fn every_shipped_config_parses_and_validates() {
    let mut seen = 0;
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/configs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            Config::load(Some(&path), &[]).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            seen += 1;
        }
    }
    assert!(
        seen >= 3,
        "expected default, fashion-mnist and cifar10-paper configs"
    );
}

#[test]
fn the_paper_recipe_is_what_the_paper_says() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/configs/cifar10-paper.toml");
    let c = Config::load(Some(path.as_ref()), &[]).unwrap();
    assert_eq!(
        (
            c.run.batch_size,
            c.optim.lr,
            c.optim.momentum,
            c.optim.weight_decay
        ),
        (128, 0.1, 0.9, 1e-4)
    );
    assert_eq!(
        (c.optim.milestones.clone(), c.optim.gamma, c.run.max_steps),
        (vec![32_000, 48_000], 0.1, 64_000)
    );
    assert_eq!(
        (c.model.shortcut, c.data.source, c.data.augment),
        (Shortcut::A, DataSource::Cifar10, true)
    );
}

#[test]
fn overrides_beat_the_file_and_the_file_beats_defaults() {
    let c = Config::from_toml(
        "[optim]\nlr = 0.2\n",
        "f.toml",
        &["optim.lr=0.05".into(), "model.shortcut=B".into()],
    )
    .unwrap();
    assert_eq!(c.optim.lr, 0.05);
    assert_eq!(c.model.shortcut, Shortcut::B);
    assert_eq!(c.optim.momentum, 0.9);
    let c = Config::from_toml("[optim]\nlr = 0.2\n", "f.toml", &[]).unwrap();
    assert_eq!(c.optim.lr, 0.2);
}

fn error_text(text: &str, overrides: &[&str]) -> String {
    let overrides: Vec<String> = overrides.iter().map(ToString::to_string).collect();
    let err: ConfigError = Config::from_toml(text, "bad.toml", &overrides).unwrap_err();
    err.to_string()
}

#[test]
fn bad_values_name_the_file_the_key_and_what_is_allowed() {
    let e = error_text("[model]\ndepth = 21\n", &[]);
    assert!(
        e.contains("bad.toml") && e.contains("model.depth") && e.contains("6n+2"),
        "{e}"
    );
    let e = error_text("[optim]\nmomentum = 1.5\n", &[]);
    assert!(e.contains("optim.momentum") && e.contains("[0, 1)"), "{e}");
    let e = error_text("", &["run.backend=tpu"]);
    assert!(
        e.contains("run.backend") && e.contains("--set run.backend=tpu") && e.contains("flex"),
        "{e}"
    );
    // A backend resdash has but this binary lacks: how to build it in.
    if !cfg!(feature = "cuda") {
        let e = error_text("", &["run.backend=cuda-unfused"]);
        assert!(
            e.contains("run.backend") && e.contains("--features cuda`") && e.contains("flex"),
            "{e}"
        );
    }
    for ladder in ["[]", "[20, 21]", "[56, 20]", "[20, 20]"] {
        let e = error_text(&format!("[model]\nladder = {ladder}\n"), &[]);
        assert!(
            e.contains("model.ladder") && e.contains("increasing list of 6n+2"),
            "{e}"
        );
    }
    let e = error_text("[model]\nshortcut = \"C\"\n", &[]);
    assert!(
        e.contains("model.shortcut") && e.contains("`A`") && e.contains("`B`"),
        "{e}"
    );
}

#[test]
fn errors_quote_the_command_line_as_it_was_written() {
    // `--backend tpu` is `run.backend="tpu"` underneath; the error says `--backend tpu`, which
    // is what the user typed, and blames the `--set` beside it by its own words.
    let mut overrides = Overrides::default();
    overrides.set("optim.lr=0.05".into());
    overrides.flag("--backend tpu".into(), "run.backend=\"tpu\"".into());
    let e = Config::from_toml_with("", "built-in defaults", &overrides)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("built-in defaults with --set optim.lr=0.05 --backend tpu:")
            && e.contains("run.backend")
            && !e.contains("--set run.backend"),
        "{e}"
    );
}

#[test]
fn unknown_keys_and_sections_are_errors() {
    let e = error_text("[model]\ndepht = 20\n", &[]);
    assert!(e.contains("model.depht") && e.contains("depth"), "{e}");
    let e = error_text("[modle]\n", &[]);
    assert!(e.contains("modle"), "{e}");
    let e = error_text("", &["optim.learning_rate=0.1"]);
    assert!(e.contains("optim.learning_rate"), "{e}");
}

#[test]
fn resolved_config_round_trips_through_toml() {
    let c = Config::from_toml(
        "",
        "x",
        &["optim.milestones=[5, 9]".into(), "data.source=mnist".into()],
    )
    .unwrap();
    let again = Config::from_toml(&c.to_toml(), "round trip", &[]).unwrap();
    assert_eq!(c, again);
}

#[test]
fn the_built_in_defaults_are_configs_default_toml() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/configs/default.toml");
    assert_eq!(
        Config::load(Some(path.as_ref()), &[]).unwrap(),
        Config::load(None, &[]).unwrap()
    );
}
