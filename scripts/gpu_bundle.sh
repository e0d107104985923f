#!/usr/bin/env bash
# Builds what a GPU session runs and stages it in .gpu/ (git-ignored), so that a machine with a
# GPU but without this project's build dependencies (no Eigen, Boost, HDF5, GoogleTest or
# Google Benchmark, and no package registry: the lent H100/H200 machines) can run the GPU
# tests, the kernel benchmarks and `kvlab run` with `backend.kind = cuda`.
#
#   scripts/gpu_bundle.sh [ARCH]      # ARCH: CUDA architectures, default 90 (H100 / H200)
#
# Then carry `.gpu.tar.xz` (the same, packed: ~10 MiB instead of ~55) to the GPU machine with
# the repository, and run scripts/gpu_session.sh there (it unpacks it). What .gpu/ holds:
#   build/bin/          kvlab, bench_gpu_kernels, bench_gpu_vmm (stripped)
#   build/tests/gpu/    the gpu_*_test binaries (stripped)
#   lib/                the shared libraries they load that a bare CUDA image may lack
#                       (ldd's list minus glibc, libstdc++, libgcc_s and the CUDA driver);
#                       cuBLAS is not carried: it is loaded at run time from the CUDA toolkit
#   bundle.env          where it was built (the binaries know this machine's source folder:
#                       gpu_session.sh links it to the copy it runs in), the commit, the
#                       architectures, the date
#
# The binaries are built on this machine (Debian 12, glibc 2.36); they run on any x86-64 Linux
# with glibc 2.36 or newer and a driver for CUDA 13.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
arch="${1:-90}"
build="$root/build/gpu-bundle"
stage="$root/.gpu"
jobs="$(nproc)"

if ! command -v nvcc >/dev/null && [ ! -x /usr/local/cuda/bin/nvcc ]; then
  echo "gpu_bundle: no nvcc (the CUDA toolkit is needed to build the cuda back end)" >&2
  exit 1
fi

cmake --preset cuda -B "$build" -DCMAKE_CUDA_ARCHITECTURES="$arch" -DKVLAB_BUILD_BENCHMARKS=ON \
  -DKVLAB_SKIP_DIRS="tests/core;tests/memory;tests/scheduling;tests/traces;tests/sim;tests/kernels;tests/e2e;tests/reports;tests/bench;notebooks" \
  >/dev/null
tests=(gpu_host_logic_test gpu_ops_test gpu_attention_test gpu_model_test gpu_executor_test
       gpu_large_model_test)
# Any gpu_*_test added later is picked up too.
while read -r t; do
  case " ${tests[*]} " in *" $t "*) ;; *) tests+=("$t") ;; esac
done < <(sed -n 's/^kvlab_add_test(\(gpu_[a-z_0-9]*_test\) .*/\1/p' "$root/tests/gpu/CMakeLists.txt")
cmake --build "$build" -j "$jobs" --target kvlab bench_gpu_kernels bench_gpu_vmm "${tests[@]}"

rm -rf "$stage"
mkdir -p "$stage/build/bin" "$stage/build/tests/gpu" "$stage/lib"
strip_copy() { cp "$1" "$2" && strip --strip-unneeded "$2/$(basename "$1")"; }
strip_copy "$build/bin/kvlab" "$stage/build/bin"
strip_copy "$build/bin/bench_gpu_kernels" "$stage/build/bin"
strip_copy "$build/bin/bench_gpu_vmm" "$stage/build/bin"
for t in "${tests[@]}"; do strip_copy "$build/tests/gpu/$t" "$stage/build/tests/gpu"; done

# Shared libraries, except the ones every glibc system or CUDA driver install has.
skip='^(linux-vdso|ld-linux|libc\.so|libm\.so|libmvec|libpthread|libdl\.so|librt\.so|libresolv|libgcc_s|libstdc\+\+|libcuda\.so|libnvidia)'
for bin in "$stage"/build/bin/* "$stage"/build/tests/gpu/*; do
  ldd "$bin" | awk '/=> \// {print $1, $3}'
done | sort -u | while read -r name path; do
  if [[ "$name" =~ $skip ]]; then continue; fi
  cp -L "$path" "$stage/lib/$name"
done

{
  echo "KVLAB_BUNDLE_SOURCE_DIR=$root"
  echo "KVLAB_BUNDLE_BINARY_DIR=$build"
  echo "KVLAB_BUNDLE_COMMIT=$(git -C "$root" rev-parse HEAD)$(git -C "$root" diff --quiet HEAD -- . ':!.gpu' || echo -dirty)"
  echo "KVLAB_BUNDLE_CUDA_ARCHITECTURES=$arch"
  echo "KVLAB_BUNDLE_NVCC=\"$( (command -v nvcc >/dev/null && nvcc --version || /usr/local/cuda/bin/nvcc --version) | tail -1)\""
  echo "KVLAB_BUNDLE_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
} >"$stage/bundle.env"
du -sh "$stage" "$stage"/build/bin "$stage"/build/tests/gpu "$stage"/lib
binaries=("$stage"/build/bin/* "$stage"/build/tests/gpu/*)
libraries=("$stage"/lib/*)
echo "gpu_bundle: staged ${#binaries[@]} binaries and ${#libraries[@]} libraries in .gpu/" \
  "($(du -sm "$stage" | cut -f1) MiB)"
tar -C "$root" -cf - .gpu | xz -T0 -6 >"$root/.gpu.tar.xz"
echo "gpu_bundle: packed into .gpu.tar.xz ($(du -sm "$root/.gpu.tar.xz" | cut -f1) MiB): carry that"
