use super::*;
use crate::model::normal_tensor;
use crate::rng::Rng;
use burn::module::AutodiffModule;
use burn::nn::BatchNormConfig;

type B = burn::backend::Autodiff<burn::backend::Flex>;

#[test]
fn matches_burns_batch_norm_in_training_and_eval() {
    let device = Default::default();
    let x = normal_tensor::<B, 4>([4, 3, 5, 6], 1.0, 2.0, &mut Rng::new(3), &device);
    let ours = BatchNorm2d::<B>::new(3, &device);
    let theirs = BatchNormConfig::new(3).init::<B>(&device);
    let a = ours.forward(x.clone());
    let b = theirs.forward(x.clone());
    a.clone()
        .into_data()
        .assert_approx_eq::<f32>(&b.into_data(), burn::tensor::Tolerance::absolute(1e-4));
    // Running mean agrees; the running variance is unbiased here (PyTorch), biased in burn.
    ours.running_mean
        .value()
        .into_data()
        .assert_approx_eq::<f32>(
            &theirs.running_mean.value_sync().into_data(),
            burn::tensor::Tolerance::absolute(1e-5),
        );
    let n = 4.0 * 5.0 * 6.0;
    let expected = theirs
        .running_var
        .value_sync()
        .sub_scalar(0.9)
        .mul_scalar(n / (n - 1.0))
        .add_scalar(0.9);
    ours.running_var
        .value()
        .into_data()
        .assert_approx_eq::<f32>(
            &expected.into_data(),
            burn::tensor::Tolerance::absolute(1e-4),
        );
    // Eval mode uses the running statistics.
    let eval = ours.valid().forward(x.clone().inner());
    let [m, v]: [Vec<f32>; 2] = [ours.running_mean.value(), ours.running_var.value()]
        .map(|t| t.into_data().to_vec().unwrap());
    let xin: Vec<f32> = x.clone().into_data().to_vec().unwrap();
    let got: Vec<f32> = eval.into_data().to_vec().unwrap();
    for (i, (&xi, &yi)) in xin.iter().zip(&got).enumerate() {
        let ch = (i / 30) % 3;
        let want = (xi - m[ch]) / (v[ch] + 1e-5).sqrt();
        assert!((want - yi).abs() < 1e-4);
    }
}

#[test]
fn running_statistics_follow_updates_made_on_other_threads() {
    // The trainer runs each step on a fresh thread; two steps must compose as two EMA
    // updates, not be averaged as if they were parallel replicas.
    let device = Default::default();
    let bn = BatchNorm2d::<B>::new(1, &device);
    for value in [10.0, 20.0] {
        std::thread::scope(|s| {
            s.spawn(|| bn.forward(Tensor::<B, 4>::full([2, 1, 2, 2], value, &device)));
        });
    }
    let mean: Vec<f32> = bn.running_mean.value().into_data().to_vec().unwrap();
    let expected = 0.9 * (0.1 * 10.0) + 0.1 * 20.0;
    assert!((mean[0] - expected).abs() < 1e-5, "{mean:?} vs {expected}");
}

#[test]
fn channels_last_rows_match_channels_first_over_steps_far_from_zero() {
    // The channels-last statistics are shifted by the running mean (zero on the first step,
    // the batch mean's EMA after), so compare several steps on inputs whose mean is far from
    // zero against the centred channels-first path: outputs, gradients, running statistics.
    let device = Default::default();
    let rng = &mut Rng::new(11);
    let [first, last] = [Layout::ChannelsFirst, Layout::ChannelsLast].map(|layout| {
        let mut bn = BatchNorm2d::<B>::new(3, &device);
        bn.layout = layout;
        bn
    });
    let offsets = Tensor::<B, 4>::from_floats([[[[20.0]], [[-5.0]], [[0.5]]]], &device);
    let close = |a: Vec<f32>, b: Vec<f32>, what: &str| {
        let scale = a.iter().fold(1f32, |m, v| m.max(v.abs()));
        let worst = a
            .iter()
            .zip(&b)
            .fold(0f32, |m, (u, v)| m.max((u - v).abs()));
        assert!(worst / scale < 1e-4, "{what}: {a:?} vs {b:?}");
    };
    let values = |data: TensorData| data.to_vec::<f32>().unwrap();
    for step in 0..4 {
        let x = normal_tensor::<B, 4>([4, 3, 5, 6], 0.0, 3.0, rng, &device) + offsets.clone();
        let weights = normal_tensor::<B, 4>([4, 3, 5, 6], 0.0, 3.0, rng, &device);
        let [a, b] = [&first, &last].map(|bn| {
            let x = x.clone().require_grad();
            let y = bn.forward_then(x.clone(), &[], true);
            let grads = (y.clone() * weights.clone()).sum().backward();
            (
                [
                    y.into_data(),
                    x.grad(&grads).unwrap().into_data(),
                    bn.gamma.grad(&grads).unwrap().into_data(),
                    bn.beta.grad(&grads).unwrap().into_data(),
                ]
                .map(values),
                [bn.running_mean.value(), bn.running_var.value()].map(|t| values(t.into_data())),
            )
        });
        let names = [
            "output",
            "input gradient",
            "gamma gradient",
            "beta gradient",
        ];
        for ((u, v), name) in a.0.into_iter().zip(b.0).zip(names) {
            close(u, v, &format!("step {step}: {name}"));
        }
        for ((u, v), name) in
            a.1.into_iter()
                .zip(b.1)
                .zip(["running mean", "running var"])
        {
            close(u, v, &format!("step {step}: {name}"));
        }
    }
}

#[test]
fn gradients_match_burns_batch_norm() {
    let device = Default::default();
    let rng = &mut Rng::new(5);
    let normal = |rng: &mut Rng| normal_tensor::<B, 4>([4, 3, 5, 6], 0.5, 1.5, rng, &device);
    let x = normal(rng).require_grad();
    let weights = normal(rng);
    let ours = BatchNorm2d::<B>::new(3, &device);
    let theirs = BatchNormConfig::new(3).init::<B>(&device);
    let tolerance = burn::tensor::Tolerance::absolute(1e-4);

    let grads = (ours.forward(x.clone()) * weights.clone()).sum().backward();
    let (dx, dgamma, dbeta) = (
        x.grad(&grads).unwrap(),
        ours.gamma.grad(&grads).unwrap(),
        ours.beta.grad(&grads).unwrap(),
    );
    let grads = (theirs.forward(x.clone()) * weights).sum().backward();
    dx.into_data()
        .assert_approx_eq::<f32>(&x.grad(&grads).unwrap().into_data(), tolerance);
    dgamma
        .into_data()
        .assert_approx_eq::<f32>(&theirs.gamma.grad(&grads).unwrap().into_data(), tolerance);
    dbeta
        .into_data()
        .assert_approx_eq::<f32>(&theirs.beta.grad(&grads).unwrap().into_data(), tolerance);
}

#[test]
fn the_tail_inside_the_operation_matches_burns_ops_after_it() {
    // On cubecl alone the residual add and the ReLU run inside the recorded batch norm
    // (`ModelBackend::OWN_TAIL`); the default maths of that path must give what batch norm
    // followed by burn's add and ReLU give: outputs, running statistics and every gradient.
    let device = Default::default();
    let rng = &mut Rng::new(17);
    let normal =
        |dims: [usize; 2], rng: &mut Rng| normal_tensor::<B, 2>(dims, 0.5, 1.5, rng, &device);
    let [n, c] = [40, 3];
    let values = |t: Tensor<burn::backend::Flex, 2>| t.into_data().to_vec::<f32>().unwrap();
    for (with_addend, relu) in [(true, true), (false, true), (true, false)] {
        let rows = normal([n, c], rng).require_grad();
        let addend = normal([n, c], rng).require_grad();
        let gamma = normal([1, c], rng).require_grad();
        let beta = normal([1, c], rng).require_grad();
        let weights = normal([n, c], rng);
        let factors = || RowFactors {
            running_mean: Tensor::<B, 2>::full([1, c], 0.2, &device),
            running_var: Tensor::<B, 2>::full([1, c], 1.5, &device),
            gamma: gamma.clone(),
            beta: beta.clone(),
        };
        let addends = if with_addend {
            vec![addend.clone()]
        } else {
            vec![]
        };
        let inside = rows::recorded(
            rows.clone(),
            factors(),
            Tail {
                addend: addends.first().cloned(),
                relu,
            },
        );
        let after = rows::recorded(rows.clone(), factors(), Tail::NONE).then(&addends, relu);
        let [inside, after] = [inside, after].map(|out| {
            let grads = (out.rows.clone() * weights.clone()).sum().backward();
            let grad = |t: &Tensor<B, 2>| t.grad(&grads).map(values);
            (
                values(out.rows.inner()),
                out.running.map(|t| t.into_data().to_vec::<f32>().unwrap()),
                [grad(&rows), grad(&gamma), grad(&beta), grad(&addend)],
            )
        });
        let case = format!("addend {with_addend}, relu {relu}");
        assert_eq!(inside.0, after.0, "{case}: output");
        assert_eq!(inside.1, after.1, "{case}: running statistics");
        for (name, (a, b)) in ["rows", "gamma", "beta", "addend"]
            .iter()
            .zip(inside.2.iter().zip(&after.2))
        {
            assert_eq!(a, b, "{case}: {name} gradient");
            assert_eq!(
                a.is_some(),
                *name != "addend" || with_addend,
                "{case}: {name}"
            );
        }
        if relu {
            // The mask matters: some outputs are clipped, some pass.
            assert!(inside.0.contains(&0.0) && inside.0.iter().any(|v| *v > 0.0));
        }
    }
}
