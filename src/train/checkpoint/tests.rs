//! Checkpoints round-trip across layouts, files that do not fit are refused naming the file,
//! and a resume that overrides what the nets are is refused naming the key.

use super::*;
use crate::train::nets::tests::{B, assert_close, config, logits, step};
use crate::train::trainer::hyper_from;

fn checkpoint_state() -> CheckpointState {
    let run = Config::load(None, &[]).unwrap();
    CheckpointState {
        schema: CHECKPOINT_SCHEMA,
        run_id: "test".into(),
        step: 1,
        depth_start_step: 0,
        cursor: Cursor::default(),
        hyper: hyper_from(&run),
        config: run,
        summaries: Vec::new(),
    }
}

/// Both nets of `config()` trained one step (so the momentum buffers are set) in `layout`.
fn trained(state: &CheckpointState, layout: Layout) -> Vec<NetState<B>> {
    let (momentum, decay) = (state.hyper.momentum, state.hyper.weight_decay);
    (0..2)
        .map(|_| {
            let net = NetState::<B>::new(&config(), 5, momentum, decay, &Default::default())
                .with_layout(layout);
            step(net, 1).0
        })
        .collect()
}

#[test]
fn a_channels_last_checkpoint_resumes_channels_first_and_back() {
    let device = Default::default();
    let state = checkpoint_state();
    // Channels-last is the CUDA layout.
    let nets = trained(&state, Layout::ChannelsLast);
    let dir = tempfile::tempdir().unwrap();
    let path = save(dir.path(), "step-000001", &state, &nets).unwrap();
    // This backend (flex) loads it channels-first. Loaded twice: a clone would share its
    // batch norms' running statistics with the original.
    let load = || load_nets::<B>(&path, &[config(), config()], &state, &device).unwrap();
    for ((kept, loaded), back) in nets.into_iter().zip(load()).zip(load()) {
        assert_eq!(loaded.model.layout(), Layout::ChannelsFirst);
        let back = back.with_layout(Layout::ChannelsLast);
        let mut ends = Vec::new();
        for net in [kept, loaded, back] {
            let (net, loss) = step(net, 2);
            ends.push((loss as f32, logits(&net)));
        }
        for (what, (loss, logits)) in ["loaded", "loaded, then channels-last"]
            .iter()
            .zip(&ends[1..])
        {
            assert_close(&[*loss], &[ends[0].0], &format!("{what}: loss"));
            assert_close(logits, &ends[0].1, &format!("{what}: logits"));
        }
    }
}

#[test]
fn files_that_do_not_fit_the_model_in_state_json_are_refused_naming_the_file() {
    let device = Default::default();
    let state = checkpoint_state();
    let dir = tempfile::tempdir().unwrap();
    let save_trained = |name: &str| {
        save(
            dir.path(),
            name,
            &state,
            &trained(&state, Layout::ChannelsFirst),
        )
    };
    let path = save_trained("a").unwrap();
    let load = |configs: &[ResNetConfig; 2]| {
        load_nets::<B>(&path, configs, &state, &device)
            .err()
            .expect("refused")
            .to_string()
    };
    // burn would load these tensors into the wider net and fail steps later in a convolution.
    let wider = ResNetConfig {
        width: 2,
        ..config()
    };
    let e = load(&[wider.clone(), wider]);
    assert!(
        e.contains("a/plain.mpk") && e.contains("[16, 3, 3, 3]") && e.contains("[32, 3, 3, 3]"),
        "{e}"
    );
    // Another run's optimiser state: its parameter ids are not this model's, and burn would
    // silently start every momentum buffer afresh.
    let other = save_trained("b").unwrap();
    std::fs::copy(
        other.join("residual-optim.mpk"),
        path.join("residual-optim.mpk"),
    )
    .unwrap();
    let e = load(&[config(), config()]);
    assert!(
        e.contains("a/residual-optim.mpk") && e.contains("lacks"),
        "{e}"
    );
}

#[test]
fn a_resume_that_overrides_what_the_nets_are_is_refused_by_name() {
    let state = checkpoint_state();
    let dir = Path::new("runs/x/checkpoints/step-000001");
    let with = |key: &str| Config::from_toml(&state.config.to_toml(), "test", &[key.into()]);
    // What may change on a resume.
    for key in ["optim.lr=0.01", "run.max_steps=9", "run.backend=ndarray"] {
        assert!(state.fits(dir, &with(key).unwrap()).is_ok(), "{key}");
    }
    for (key, said) in [
        ("model.depth=56", "model.depth = 20, but model.depth = 56"),
        ("model.width=2", "model.width = 1, but model.width = 2"),
        (
            "model.shortcut=\"B\"",
            "model.shortcut = A, but model.shortcut = B",
        ),
        (
            "data.source=\"fashion-mnist\"",
            "data.source = synthetic, but data.source = fashion-mnist",
        ),
    ] {
        let e = state
            .fits(dir, &with(key).unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("runs/x/checkpoints/step-000001: "), "{e}");
        assert!(e.contains(said) && e.contains("drop the"), "{e}");
    }
}

/// Each float tensor of `model` in visiting order (parameters, batch norms' running
/// statistics): whether autodiff tracks it, as a leaf or as the result of a recorded op.
fn tracked(model: &crate::model::ResNet<B>) -> Vec<bool> {
    struct Tracked(Vec<bool>);
    impl burn::module::ModuleVisitor<B> for Tracked {
        fn visit_float<const D: usize>(
            &mut self,
            param: &burn::module::Param<burn::tensor::Tensor<B, D>>,
        ) {
            self.0
                .push(param.val().into_primitive().tensor().is_tracked());
        }
    }
    let mut visitor = Tracked(Vec::new());
    burn::module::Module::visit(model, &mut visitor);
    visitor.0
}

#[test]
fn a_loaded_net_trains_with_its_running_statistics_outside_the_graph() {
    // burn loads a running statistic as a tracked tensor (and `is_require_grad` says false for
    // it: it is no leaf). Each step's update then chained onto the last step's graph: a resumed
    // run's memory grew and its steps slowed, 1700 -> 150 img/s over 300 steps.
    let device = Default::default();
    let state = checkpoint_state();
    let nets = trained(&state, Layout::ChannelsFirst);
    let fresh = tracked(&nets[0].model);
    assert!(fresh.contains(&true) && fresh.contains(&false), "{fresh:?}");
    let dir = tempfile::tempdir().unwrap();
    let path = save(dir.path(), "step-000001", &state, &nets).unwrap();
    for net in load_nets::<B>(&path, &[config(), config()], &state, &device).unwrap() {
        let (net, _) = step(net, 2);
        let (net, _) = step(net, 3);
        assert_eq!(tracked(&net.model), fresh);
    }
}
