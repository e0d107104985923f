// Keeping freed host memory in the process, as a serving engine's caching allocator does.
//
// A real back end's step allocates its activations (and attention's score matrices) afresh
// and frees them at its end. With glibc's default malloc, a block of 128 KiB or more is an
// mmap of its own and a large free at the top of the heap is trimmed back to the system, so
// every large step faults its activation pages in again (zero-filled by the kernel): on the
// 2-vCPU development machine a 1,145-token prefill step took 20% longer than the same step
// with the pages kept (docs/reproduction.md, Fidelity). A GPU server does not pay this:
// PyTorch's caching allocator keeps freed device memory for the next step. This does the
// same for host memory: blocks up to 32 MiB (glibc's largest heap-served size) come from the
// heap and freed memory stays there (M_MMAP_THRESHOLD, M_TRIM_THRESHOLD).
//
// Process-wide and idempotent: the cpu back end calls it when it is built, and the cpu
// profiler before it measures (so a profile and the steps it prices run alike). Resident
// memory keeps the peak step's activations after the step. Does nothing outside glibc.
//
// Thread safety: safe to call from any thread, any number of times.
#pragma once

namespace kvlab {

void retain_freed_host_memory();

}  // namespace kvlab
