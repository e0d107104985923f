#include "kernels/cuda/decoder_model.h"

#include <map>
#include <utility>

#include "core/errors.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/llama_model.h"
#include "kernels/cuda/opt_model.h"
#include "kernels/model/llama_weights.h"
#include "kernels/model/opt_weights.h"

namespace kvlab::cuda {

CudaDecoderModel::CudaDecoderModel(ModelSpec spec, DType dtype, cudaStream_t stream)
    : spec_(std::move(spec)), dtype_(dtype), stream_(stream), cublas_(stream) {}

CudaKvCache CudaDecoderModel::make_kv_cache(int64_t num_slots, KvDtype storage) const {
  const ModelSpec& s = spec();
  return CudaKvCache(s.num_layers, num_slots, s.num_kv_heads, s.head_dim, dtype(),
                     CudaKvCache::Memory::kDevice, storage);
}

void CudaDecoderModel::check_cache(const CudaKvCache& cache) const {
  const ModelSpec& s = spec();
  check_invariant(cache.num_layers() == s.num_layers && cache.num_kv_heads() == s.num_kv_heads &&
                      cache.head_dim() == s.head_dim && cache.dtype() == dtype() &&
                      cache.memory() == CudaKvCache::Memory::kDevice,
                  "CudaDecoderModel::forward: cache not shaped for model '" + s.name + "' in " +
                      dtype_name(dtype()));
}

cpu::RowMatrix CudaDecoderModel::forward_to_host(std::span<const ForwardEntry> batch,
                                                 CudaKvCache& cache) {
  int64_t rows = 0;
  const float* logits = forward(batch, cache, &rows);
  const cudaStream_t stream = stream_;
  cpu::RowMatrix out(rows, spec().vocab_size);
  check_cuda(cudaMemcpyAsync(out.data(), logits, static_cast<size_t>(out.size()) * sizeof(float),
                             cudaMemcpyDeviceToHost, stream),
             "CudaDecoderModel: logits download");
  check_cuda(cudaStreamSynchronize(stream), "CudaDecoderModel: forward");
  return out;
}

namespace {

// A model family the cuda back end runs: its shape check and its model.
struct CudaFamily {
  void (*validate)(const ModelSpec& spec);
  std::unique_ptr<CudaDecoderModel> (*make)(const ModelSpec& spec, DType dtype,
                                            uint64_t weights_seed, DeviceWeights::Source source,
                                            cudaStream_t stream);
};

// Every family the cuda back end runs, by ModelSpec::family, listed here.
const std::map<std::string, CudaFamily>& cuda_families() {
  static const std::map<std::string, CudaFamily> families = {
      {"llama",
       {validate_llama_spec,
        [](const ModelSpec& spec, DType dtype, uint64_t seed, DeviceWeights::Source source,
           cudaStream_t stream) -> std::unique_ptr<CudaDecoderModel> {
          return std::make_unique<CudaLlamaModel>(spec, dtype, seed, source, stream);
        }}},
      {"opt",
       {validate_opt_spec,
        [](const ModelSpec& spec, DType dtype, uint64_t seed, DeviceWeights::Source source,
           cudaStream_t stream) -> std::unique_ptr<CudaDecoderModel> {
          return std::make_unique<CudaOptModel>(spec, dtype, seed, source, stream);
        }}},
  };
  return families;
}

const CudaFamily& family_of(const ModelSpec& spec) {
  auto it = cuda_families().find(spec.family);
  if (it == cuda_families().end()) {
    throw InputError("", 0, "model.family",
                     "model '" + spec.name + "' is of family '" + spec.family +
                         "'; the cuda back end runs families " + cuda_model_families());
  }
  return it->second;
}

}  // namespace

std::string cuda_model_families() {
  std::string out;
  for (const auto& [name, family] : cuda_families()) out += (out.empty() ? "" : ", ") + name;
  return out;
}

void validate_cuda_model_spec(const ModelSpec& spec) { family_of(spec).validate(spec); }

std::unique_ptr<CudaDecoderModel> make_cuda_decoder_model(const ModelSpec& spec, DType dtype,
                                                          uint64_t weights_seed,
                                                          DeviceWeights::Source source,
                                                          cudaStream_t stream) {
  const CudaFamily& family = family_of(spec);
  family.validate(spec);
  return family.make(spec, dtype, weights_seed, source, stream);
}

StepInputs upload_step(const StepBatch& b, StagedUpload& upload, cudaStream_t stream) {
  upload.clear();
  const size_t tokens_at = upload.add(b.token_ids);
  const size_t positions_at = upload.add(b.positions);
  const size_t slots_at = upload.add(b.slot_mapping);
  const size_t indptr_at = upload.add(b.query_indptr);
  const size_t samples_at = upload.add(b.sample_rows);
  StepInputs in;
  if (b.prefill_tables) in.prefill_tables = stage_tables(*b.prefill_tables, upload);
  if (b.decode_tables) in.decode_tables = stage_tables(*b.decode_tables, upload);
  upload.upload(stream);
  in.tokens = upload.device<const int32_t>(tokens_at);
  in.positions = upload.device<const int32_t>(positions_at);
  in.slots = upload.device<const int64_t>(slots_at);
  in.query_indptr = upload.device<const int32_t>(indptr_at);
  in.sample_rows = upload.device<const int32_t>(samples_at);
  return in;
}

}  // namespace kvlab::cuda
