// SiLU-and-multiply, the SwiGLU gate (vLLM's silu_and_mul): each row of `gate_up` holds the
// gate projection followed by the up projection, out = silu(gate) * up with
// silu(x) = x / (1 + exp(-x)).
#pragma once

#include "kernels/cpu/tensor.h"

namespace kvlab::cpu {

// REQUIRES: gate_up is [n][2 * d], out is [n][d].
void silu_and_mul(const MatrixCRef& gate_up, MatrixRef out);

}  // namespace kvlab::cpu
