// Activations of the MLP.
//  - silu_and_mul, the SwiGLU gate (Llama; vLLM's silu_and_mul): each row of `gate_up` holds
//    the gate projection followed by the up projection, out = silu(gate) * up with
//    silu(x) = x / (1 + exp(-x)).
//  - relu (OPT): out = max(x, 0) elementwise.
#pragma once

#include "kernels/cpu/tensor.h"

namespace kvlab::cpu {

// REQUIRES: gate_up is [n][2 * d], out is [n][d].
void silu_and_mul(const MatrixCRef& gate_up, MatrixRef out);

// REQUIRES: x and out have one shape; out may alias x.
void relu(const MatrixCRef& x, MatrixRef out);

}  // namespace kvlab::cpu
