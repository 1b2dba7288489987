//! A sum across one cube, for resdash's own cubecl kernels: each unit brings two values, every
//! unit gets the cube's two totals (a tree in shared memory).

use burn_cubecl::cubecl;
use burn_cubecl::cubecl::prelude::*;

/// Units of a cube whose units each bring one of `count` values to [`sum_pairs`]: a power of
/// two, one per value up to 256 (a GPU's warp at least). Idle units still cost each of the
/// tree's synchronisations: on lavapipe, 256 units for batch norm's 8 partial sums per channel
/// (batch 4, 8x8 images) made its two finalize passes a quarter of an unfused step's kernel time.
pub(crate) fn units_for(count: usize) -> usize {
    count.next_power_of_two().clamp(32, 256)
}

/// The sums of `a` and of `b` over the units of the cube, returned to every unit. `units` is the
/// cube's size, a power of two; every unit of the cube must call it (it synchronises the cube).
#[cube]
pub(crate) fn sum_pairs<F: Float + CubeElement>(a: F, b: F, #[comptime] units: usize) -> (F, F) {
    let u = UNIT_POS_X as usize;
    let mut shared_a = SharedMemory::<F>::new(units);
    let mut shared_b = SharedMemory::<F>::new(units);
    shared_a[u] = a;
    shared_b[u] = b;
    sync_cube();
    // A runtime value: a loop cannot change a comptime one (`units`).
    let mut half = CUBE_DIM_X as usize / 2;
    while half > 0 {
        if u < half {
            shared_a[u] = shared_a[u] + shared_a[u + half];
            shared_b[u] = shared_b[u] + shared_b[u + half];
        }
        sync_cube();
        half /= 2;
    }
    (shared_a[0], shared_b[0])
}
