use super::*;
use crate::config::Shortcut;
use crate::model::normal_tensor;
use crate::rng::Rng;
use burn::tensor::Distribution;

pub(crate) type B = burn::backend::Autodiff<burn::backend::Flex>;

/// Depth 8 with option B, so a projection convolution is among the weights.
pub(crate) fn config() -> ResNetConfig {
    ResNetConfig {
        depth: 8,
        width: 1,
        shortcut: Shortcut::B,
        residual: true,
        in_channels: 3,
        classes: 10,
    }
}

/// A seeded batch: images `[4, 3, 8, 8]` and labels.
pub(crate) fn batch(seed: u64) -> (Tensor<B, 4>, Tensor<B, 1, Int>) {
    let device = Default::default();
    let images = normal_tensor([4, 3, 8, 8], 0.0, 1.0, &mut Rng::new(seed), &device);
    let labels = Tensor::from_data([1, 7, 3, 3], &device);
    (images, labels)
}

/// One SGD step (large rate and momentum, so the momentum buffers matter); returns the loss.
pub(crate) fn step(net: NetState<B>, seed: u64) -> (NetState<B>, f64) {
    let (images, labels) = batch(seed);
    let pass = net.forward_backward(images, labels, false);
    let loss = read_back(pass.stats.to_vec())[0];
    (net.apply(0.2, pass.grads), loss)
}

/// A copy of `model` that shares nothing with it, parameter ids kept. A `clone` would share
/// the batch norms' running statistics (burn's `RunningState`), which training updates.
pub(crate) fn deep_copy(model: &ResNet<B>) -> ResNet<B> {
    config()
        .init(0, &Default::default())
        .load_record(model.clone().into_record())
}

/// Eval-mode logits of the net on a fixed batch.
pub(crate) fn logits(net: &NetState<B>) -> Vec<f32> {
    let (images, _) = batch(99);
    net.eval_model()
        .forward(images.inner())
        .into_data()
        .to_vec()
        .unwrap()
}

pub(crate) fn assert_close(a: &[f32], b: &[f32], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}");
    let scale = a.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= 1e-4 * scale, "{what}[{i}]: {x} vs {y}");
    }
}

#[test]
fn a_net_moved_between_layouts_mid_run_trains_on_identically() {
    let device = Default::default();
    let fresh = |layout| NetState::<B>::new(&config(), 3, 0.9, 1e-3, &device).with_layout(layout);
    let mut runs = Vec::new();
    for (start, then) in [
        (Layout::ChannelsFirst, Layout::ChannelsFirst),
        (Layout::ChannelsFirst, Layout::ChannelsLast),
        (Layout::ChannelsLast, Layout::ChannelsLast),
        (Layout::ChannelsLast, Layout::ChannelsFirst),
    ] {
        let (net, first) = step(fresh(start), 1);
        // Two more steps after the move: the momentum buffers it carried enter both.
        let net = net.with_layout(then);
        assert_eq!(net.model.layout(), then);
        let (net, second) = step(net, 2);
        let (net, third) = step(net, 3);
        runs.push((
            format!("{start:?} then {then:?}"),
            [first, second, third],
            logits(&net),
        ));
    }
    let (_, losses, reference) = &runs[0];
    for (what, l, logits) in &runs[1..] {
        let as_f32 = |l: &[f64; 3]| l.map(|v| v as f32);
        assert_close(&as_f32(l), &as_f32(losses), &format!("{what}: losses"));
        assert_close(
            logits,
            reference,
            &format!("{what}: logits after three steps"),
        );
    }
}

#[test]
fn reconfiguring_keeps_the_momentum_buffers_and_applies_the_new_rates() {
    let device = Default::default();
    let (net, _) = step(NetState::<B>::new(&config(), 3, 0.9, 1e-3, &device), 1);
    let buffers = net.optim.to_record().len();
    assert!(buffers > 0);
    // `net` with `optim`, its model deep-copied.
    let fork = |optim: Optim<B>| NetState {
        model: deep_copy(&net.model),
        optim,
        stream: net.stream,
    };
    let buffers_of = || net.optim.to_record();
    let mut reconfigured = fork(sgd(0.9, 1e-3).load_record(buffers_of()));
    reconfigured.reconfigure(0.5, 1e-3);
    assert_eq!(reconfigured.optim.to_record().len(), buffers);
    let after = |net: NetState<B>| logits(&step(net, 2).0);
    let changed = after(reconfigured);
    assert_eq!(
        changed,
        after(fork(sgd(0.5, 1e-3).load_record(buffers_of()))),
        "as an optimiser built with the new rates and the old buffers"
    );
    let kept = after(fork(sgd(0.9, 1e-3).load_record(buffers_of())));
    assert_ne!(changed, kept, "the new momentum applies");
    assert_ne!(changed, after(fork(sgd(0.5, 1e-3))), "the buffers are kept");
}

#[test]
fn seeded_batches_ignore_other_threads_draws() {
    // Tests can run in parallel threads of one process and burn keeps one RNG per process: a
    // batch drawn from it after `B::seed` could get another test's draws in between (a CI
    // run failed so). Another thread seeding and drawing all along changes nothing here.
    let device = Default::default();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let first = batch(1).0.into_data();
    let same = std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                B::seed(&device, 42);
                let _ = Tensor::<B, 1>::random([256], Distribution::Default, &device);
            }
        });
        let same = (0..200).all(|_| batch(1).0.into_data() == first);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        same
    });
    assert!(same, "a seeded batch changed under another thread's draws");
}

#[test]
fn a_forward_that_panics_fails_the_step_instead_of_stalling_the_other_nets() {
    // The nets wait for each other between forward and backward: a net whose forward
    // panics (here: 3-channel images into a 1-channel stem) must still let the others go.
    let device = Default::default();
    let grey = ResNetConfig {
        in_channels: 1,
        ..config()
    };
    let nets = [
        NetState::<B>::new(&config(), 0, 0.9, 1e-3, &device),
        NetState::<B>::new(&grey, 0, 0.9, 1e-3, &device),
    ];
    let (images, labels) = batch(1);
    let (done, result) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let step = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            forward_backward_all(&nets, &images, &labels, false).len()
        }));
        let _ = done.send(step.is_err());
    });
    let panicked = result.recv_timeout(std::time::Duration::from_secs(120));
    assert_eq!(panicked, Ok(true), "the step should panic, not hang");
}

#[test]
fn each_net_issues_on_its_own_stream_from_any_thread() {
    let device = Default::default();
    let nets = [0, 1].map(|seed| NetState::<B>::new(&config(), seed, 0.9, 1e-3, &device));
    let here = StreamId::current();
    assert_ne!(nets[0].stream, nets[1].stream);
    assert!(nets.iter().all(|n| n.stream != here));
    for net in &nets {
        assert_eq!(net.on_stream(StreamId::current), net.stream);
        let elsewhere = std::thread::scope(|s| {
            s.spawn(|| (net.on_stream(StreamId::current), StreamId::current()))
                .join()
                .unwrap()
        });
        assert_eq!(elsewhere.0, net.stream, "on a worker thread too");
        assert_ne!(
            elsewhere.1, net.stream,
            "the worker's own stream is restored"
        );
    }
    assert_eq!(StreamId::current(), here, "the caller's stream is restored");
    // A layout move and a training step keep the net's stream.
    let net = nets.into_iter().next().unwrap();
    let stream = net.stream;
    let (net, _) = step(net.with_layout(Layout::ChannelsLast), 1);
    assert_eq!(net.stream, stream);
}

#[test]
fn weights_finite_finds_one_overflowed_value_in_any_tensor() {
    use burn::module::ModuleMapper;
    /// Puts `value` into the first element of the `nth` float tensor visited.
    struct Poison {
        nth: usize,
        seen: usize,
        value: f32,
    }
    impl ModuleMapper<B> for Poison {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
            self.seen += 1;
            if self.seen - 1 != self.nth {
                return param;
            }
            let (id, tensor, mapper) = param.consume();
            let mut values = tensor.to_data().to_vec::<f32>().unwrap();
            values[0] = self.value;
            let shape = tensor.shape();
            let poisoned =
                Tensor::<B, 1>::from_floats(values.as_slice(), &tensor.device()).reshape(shape);
            Param::from_mapped_value(id, poisoned, mapper)
        }
    }
    let device = Default::default();
    let net = NetState::<B>::new(&config(), 3, 0.9, 1e-4, &device);
    assert!(net.weights_finite());
    let large = NetState {
        model: deep_copy(&net.model).map(&mut Poison {
            nth: 0,
            seen: 0,
            value: 1e18,
        }),
        optim: sgd(0.9, 1e-4),
        stream: net.stream,
    };
    assert!(
        large.weights_finite(),
        "1e18 squared is 1e36, finite in f32"
    );
    let tensors = {
        let mut count = Poison {
            nth: usize::MAX,
            seen: 0,
            value: 0.0,
        };
        let _ = deep_copy(&net.model).map(&mut count);
        count.seen
    };
    // The first (stem weight), a middle one and the last (a running statistic or the head).
    for nth in [0, tensors / 2, tensors - 1] {
        for value in [f32::INFINITY, f32::NAN, 1e20] {
            let poisoned = NetState {
                model: deep_copy(&net.model).map(&mut Poison {
                    nth,
                    seen: 0,
                    value,
                }),
                optim: sgd(0.9, 1e-4),
                stream: net.stream,
            };
            assert!(
                !poisoned.weights_finite(),
                "tensor {nth} of {tensors} set to {value}"
            );
        }
    }
}
