use super::*;
use crate::model::normal_tensor;
use crate::rng::Rng;
use burn::tensor::Tolerance;

type Ad = burn::backend::Autodiff<burn::backend::Flex>;
type B = burn::backend::Flex;

/// burn's own `conv2d(x, w)` and gradients of `sum(conv2d(x, w) * dy)` (its default backward),
/// and the lowered ones, for the same seeded tensors.
fn both(x: [usize; 4], weight: [usize; 4], stride: [usize; 2], padding: [usize; 2]) {
    let device = Default::default();
    let mut rng = Rng::new(7);
    let options = ConvOptions::new(stride, padding, [1, 1], 1);
    let g = Geometry::of(x, weight, &options).expect("a lowered geometry");
    let xs = normal_tensor::<B, 4>(x, 0.0, 1.0, &mut rng, &device);
    let ws = normal_tensor::<B, 4>(weight, 0.0, 1.0, &mut rng, &device);
    let dy = normal_tensor::<B, 4>([g.batch, g.c_out, g.oh, g.ow], 0.0, 1.0, &mut rng, &device);

    let xa = Tensor::<Ad, 4>::from_inner(xs.clone()).require_grad();
    let wa = Tensor::<Ad, 4>::from_inner(ws.clone()).require_grad();
    let y = burn::tensor::module::conv2d(xa.clone(), wa.clone(), None, options.clone());
    assert_eq!(y.dims(), [g.batch, g.c_out, g.oh, g.ow], "{g:?}");
    let tolerance = Tolerance::absolute(1e-4);
    forward(xs.clone(), ws.clone(), &g)
        .into_data()
        .assert_approx_eq::<f32>(&y.clone().inner().into_data(), tolerance);
    let grads = (y * Tensor::from_inner(dy.clone())).sum().backward();
    let [input_grad, weight_grad] =
        [xa.grad(&grads), wa.grad(&grads)].map(|t| t.expect("a gradient"));

    let [dx, dw] = backward(xs, ws, dy, &g, [true, true]).map(|t| t.expect("wanted"));
    dx.into_data()
        .assert_approx_eq::<f32>(&input_grad.into_data(), tolerance);
    dw.into_data()
        .assert_approx_eq::<f32>(&weight_grad.into_data(), tolerance);
}

#[test]
fn matches_burns_convolution_for_the_nets_shapes() {
    // 3x3 padding 1 at strides 1 and 2, and option B's 1x1 stride-2 projection.
    both([4, 3, 8, 8], [5, 3, 3, 3], [1, 1], [1, 1]);
    both([4, 3, 8, 8], [6, 3, 3, 3], [2, 2], [1, 1]);
    both([3, 4, 8, 8], [8, 4, 1, 1], [2, 2], [0, 0]);
    // The stem on one-channel images, and a 2x2 map (the last stage on 8x8 inputs).
    both([2, 1, 8, 8], [16, 1, 3, 3], [1, 1], [1, 1]);
    both([2, 4, 2, 2], [4, 4, 3, 3], [1, 1], [1, 1]);
}

#[test]
fn matches_burns_convolution_for_odd_shapes() {
    // Odd and unequal sides, strides that do not divide them, wide kernels, more padding than
    // the kernel reaches, and a kernel larger than the padded image's side in one axis's taps.
    both([2, 2, 7, 5], [3, 2, 3, 3], [2, 2], [1, 1]);
    both([2, 2, 9, 6], [3, 2, 5, 3], [3, 2], [2, 0]);
    both([1, 3, 5, 5], [2, 3, 3, 3], [1, 1], [3, 3]);
    both([2, 2, 4, 6], [2, 2, 4, 1], [1, 3], [0, 2]);
    both([1, 1, 1, 1], [2, 1, 3, 3], [1, 1], [1, 1]);
    // Output rows as far apart in the images as in the patches at row stride 2 (`ow == 2 * w`):
    // a tap's rows copy as one span there too.
    both([2, 2, 2, 2], [3, 2, 1, 1], [2, 1], [1, 1]);
    both([2, 3, 3, 2], [2, 3, 3, 3], [2, 1], [1, 2]);
}

#[test]
fn only_the_wanted_gradients_are_computed() {
    let device = Default::default();
    let options = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
    let g = Geometry::of([1, 1, 4, 4], [2, 1, 3, 3], &options).expect("a lowered geometry");
    let x = Tensor::<B, 4>::ones([1, 1, 4, 4], &device);
    let w = Tensor::<B, 4>::ones([2, 1, 3, 3], &device);
    let dy = Tensor::<B, 4>::ones([1, 2, 4, 4], &device);
    let [dx, dw] = backward(x.clone(), w.clone(), dy.clone(), &g, [false, true]);
    assert!(dx.is_none() && dw.is_some());
    let [dx, dw] = backward(x, w, dy, &g, [true, false]);
    assert!(dx.is_some() && dw.is_none());
}

#[test]
fn geometry_declines_what_it_does_not_lower() {
    let x = [1, 4, 8, 8];
    let w = [4, 4, 3, 3];
    let of = |options: ConvOptions<2>| Geometry::of(x, w, &options);
    assert!(of(ConvOptions::new([1, 1], [1, 1], [1, 1], 1)).is_some());
    assert!(
        of(ConvOptions::new([1, 1], [1, 1], [2, 2], 1)).is_none(),
        "dilation"
    );
    assert!(
        of(ConvOptions::new([1, 1], [1, 1], [1, 1], 2)).is_none(),
        "groups"
    );
    // A kernel larger than the padded image has no output.
    assert!(
        Geometry::of(
            [1, 4, 1, 1],
            w,
            &ConvOptions::new([1, 1], [0, 0], [1, 1], 1)
        )
        .is_none()
    );
}

#[test]
fn inside_is_the_brute_force_range() {
    for outputs in 0..6 {
        for tap in 0..5 {
            for stride in 1..4 {
                for padding in 0..4 {
                    for len in 1..7 {
                        let want: Vec<usize> = (0..outputs)
                            .filter(|&o| {
                                let i = (o * stride + tap) as isize - padding as isize;
                                (0..len as isize).contains(&i)
                            })
                            .collect();
                        let got: Vec<usize> = inside(outputs, tap, stride, padding, len).collect();
                        assert_eq!(got, want, "{outputs} {tap} {stride} {padding} {len}");
                    }
                }
            }
        }
    }
}

#[test]
fn matches_burns_convolution_over_several_passes() {
    // More images than one pass lowers (`images_per_pass`), and a last pass that is shorter.
    for (x, w, stride) in [
        ([23, 4, 16, 16], [5, 4, 3, 3], 1),
        ([23, 4, 32, 32], [5, 4, 3, 3], 2),
    ] {
        let options = ConvOptions::new([stride; 2], [1, 1], [1, 1], 1);
        let g = Geometry::of(x, w, &options).expect("a lowered geometry");
        let per_pass = images_per_pass(&g);
        assert!(
            per_pass < g.batch && g.batch % per_pass != 0,
            "{per_pass} of {}",
            g.batch
        );
        both(x, w, [stride; 2], [1, 1]);
    }
}
