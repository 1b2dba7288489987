//! How resdash's own cubecl kernels are sized: one unit per element.

use burn_cubecl::CubeRuntime;
use burn_cubecl::cubecl::calculate_cube_count_elemwise;
use burn_cubecl::cubecl::prelude::{ComputeClient, CubeCount, CubeDim};

/// The cube count and size for one unit per element of `len` (the kernel checks
/// `ABSOLUTE_POS < len`).
pub(crate) fn elementwise<R: CubeRuntime>(
    client: &ComputeClient<R>,
    len: usize,
) -> (CubeCount, CubeDim) {
    let cube_dim = CubeDim::new(client, len);
    (
        calculate_cube_count_elemwise(client, len, cube_dim),
        cube_dim,
    )
}
