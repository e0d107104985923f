#include "kernels/cuda/cublas_api.h"

#include <dlfcn.h>

#include <string>

#include "kernels/cuda/cuda_check.h"

#ifndef KVLAB_CUBLAS_LIBRARY
#define KVLAB_CUBLAS_LIBRARY ""
#endif

namespace kvlab::cuda {

namespace {

template <typename Fn>
void resolve(void* library, const char* symbol, Fn& fn) {
  void* address = dlsym(library, symbol);
  if (address == nullptr) {
    const char* error = dlerror();
    throw CudaError(std::string("cuBLAS: symbol ") + symbol + " not found (" +
                    (error != nullptr ? error : "?") + ")");
  }
  fn = reinterpret_cast<Fn>(address);
}

CublasApi load() {
  const std::string soname = "libcublas.so." + std::to_string(CUBLAS_VER_MAJOR);
  void* library = dlopen(soname.c_str(), RTLD_NOW | RTLD_LOCAL);
  std::string errors = soname + ": " + (library == nullptr ? dlerror() : "");
  const std::string fallback = KVLAB_CUBLAS_LIBRARY;
  if (library == nullptr && !fallback.empty()) {
    library = dlopen(fallback.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (library == nullptr) errors += "; " + fallback + ": " + dlerror();
  }
  if (library == nullptr) throw CudaError("cannot load cuBLAS (" + errors + ")");
  CublasApi api{};
  resolve(library, "cublasCreate_v2", api.create);
  resolve(library, "cublasDestroy_v2", api.destroy);
  resolve(library, "cublasSetStream_v2", api.set_stream);
  resolve(library, "cublasGemmEx", api.gemm_ex);
  resolve(library, "cublasGetStatusName", api.status_name);
  resolve(library, "cublasGetStatusString", api.status_string);
  return api;  // the library stays loaded for the life of the process
}

}  // namespace

const CublasApi& cublas_api() {
  static const CublasApi api = load();
  return api;
}

}  // namespace kvlab::cuda
