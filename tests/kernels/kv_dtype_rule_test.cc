// The rule a real back end applies to memory.kv_dtype values it does not store
// (kernels/model/kv_dtype_rule.h; the cuda back end's check_config uses it, tested in
// tests/gpu/host_logic_test.cc), and the cpu back end accepting every value. No device needed.
#include <gtest/gtest.h>

#include <string>

#include "app/resolve_experiment.h"
#include "core/engine.h"
#include "core/errors.h"
#include "kernels/model/kv_dtype_rule.h"

namespace kvlab {
namespace {

ExperimentConfig config_with(const std::string& backend, const std::string& kv_dtype) {
  return resolve_experiment(Config::parse("[model]\nname = tiny-llama\n[memory]\ncapacity_slots = "
                                          "64\nswap_space_gb = 0\nkv_dtype = " + kv_dtype +
                                              "\n[backend]\nkind = " + backend + "\n",
                                          "rule.ini"));
}

TEST(KvDtypeRule, RefusesADtypeTheBackEndDoesNotStoreNamingTheKey) {
  const ExperimentConfig c = config_with("sim", "int8");
  try {
    require_kv_dtype(c, "cuda", {KvDtype::kAuto, KvDtype::kFp16}, "K/V in backend.dtype (fp16)");
    FAIL() << "int8 accepted";
  } catch (const InputError& e) {
    EXPECT_EQ(e.field(), "memory.kv_dtype");
    EXPECT_EQ(e.source(), "rule.ini");
    EXPECT_NE(std::string(e.what()).find("does not implement kv_dtype int8; set one of auto, fp16"),
              std::string::npos)
        << e.what();
  }
  EXPECT_NO_THROW(require_kv_dtype(config_with("sim", "fp16"), "cuda",
                                   {KvDtype::kAuto, KvDtype::kFp16}, "K/V in fp16"));
}

TEST(KvDtypeRule, TheCpuBackEndStoresEveryDtype) {
  for (const std::string& name : kv_dtype_names()) {
    EXPECT_NO_THROW(validate_engine_config(config_with("cpu", name))) << name;
  }
}

}  // namespace
}  // namespace kvlab
