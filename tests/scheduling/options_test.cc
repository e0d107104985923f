// Scheduler settings are checked when a scheduler is created: each error names the config
// field and, for names, lists the valid ones.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "core/errors.h"
#include "core/scheduler.h"

namespace kvlab {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

// The message of the InputError creating `config` throws ("" when it does not throw).
std::string create_error(const SchedulerConfig& config) {
  try {
    schedulers().create(config.batching, config);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(SchedulingOptionsTest, BothPoliciesAreRegistered) {
  EXPECT_TRUE(schedulers().contains("continuous"));
  EXPECT_TRUE(schedulers().contains("static"));
  EXPECT_THAT(schedulers().create("continuous", SchedulerConfig{})->name(),
              AllOf(HasSubstr("continuous"), HasSubstr("prefill-first")));
  SchedulerConfig chunked;
  chunked.settings.set("scheduler.chunk_size", std::to_string(512));
  EXPECT_THAT(schedulers().create("continuous", chunked)->name(), HasSubstr("chunk_size=512"));
  SchedulerConfig static_config;
  static_config.batching = "static";
  EXPECT_THAT(schedulers().create("static", static_config)->name(), HasSubstr("static"));
}

TEST(SchedulingOptionsTest, UnknownBatchingListsThePolicies) {
  try {
    schedulers().create("dynamic", SchedulerConfig{});
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_THAT(std::string(e.what()),
                AllOf(HasSubstr("'dynamic'"), HasSubstr("continuous"), HasSubstr("static")));
  }
}

TEST(SchedulingOptionsTest, ValidNamesAreAccepted) {
  for (const char* batching : {"continuous", "static"}) {
    for (const char* preemption : {"recompute", "swap", "auto"}) {
      SchedulerConfig c;
      c.batching = batching;
      c.settings.set("scheduler.preemption", preemption);
      EXPECT_EQ(create_error(c), "") << batching << " " << preemption;
    }
  }
}

TEST(SchedulingOptionsTest, UnknownPreemptionNamesTheFieldAndTheModes) {
  for (const char* batching : {"continuous", "static"}) {
    SchedulerConfig c;
    c.batching = batching;
    c.settings.set("scheduler.preemption", "evict");
    EXPECT_THAT(create_error(c), AllOf(HasSubstr("field 'scheduler.preemption'"),
                                       HasSubstr("'evict'"), HasSubstr("recompute")))
        << batching;
  }
}

TEST(SchedulingOptionsTest, UnknownVictimNamesTheFieldAndTheRules) {
  SchedulerConfig c;
  c.settings.set("scheduler.victim", "fifo");
  EXPECT_THAT(create_error(c), AllOf(HasSubstr("field 'scheduler.victim'"), HasSubstr("'fifo'"),
                                     HasSubstr("lifo")));
}

TEST(SchedulingOptionsTest, ImpossibleBudgetsNameTheirField) {
  SchedulerConfig no_seqs;
  no_seqs.max_num_seqs = 0;
  EXPECT_THAT(create_error(no_seqs), HasSubstr("field 'scheduler.max_num_seqs'"));

  SchedulerConfig no_tokens;
  no_tokens.max_batched_tokens = 0;
  EXPECT_THAT(create_error(no_tokens), HasSubstr("field 'scheduler.max_batched_tokens'"));

  SchedulerConfig tokens_below_seqs;
  tokens_below_seqs.max_num_seqs = 64;
  tokens_below_seqs.max_batched_tokens = 32;
  EXPECT_THAT(
      create_error(tokens_below_seqs),
      AllOf(HasSubstr("field 'scheduler.max_batched_tokens'"), HasSubstr("32"), HasSubstr("64")));

  for (int32_t chunk : {-1, 1}) {
    SchedulerConfig bad_chunk;
    bad_chunk.settings.set("scheduler.chunk_size", std::to_string(chunk));
    EXPECT_THAT(create_error(bad_chunk), HasSubstr("field 'scheduler.chunk_size'")) << chunk;
  }
  SchedulerConfig smallest_chunk;
  smallest_chunk.settings.set("scheduler.chunk_size", std::to_string(2));
  EXPECT_EQ(create_error(smallest_chunk), "");

  SchedulerConfig no_context;
  no_context.max_seq_len = 0;
  EXPECT_THAT(create_error(no_context), HasSubstr("field 'model.max_seq_len'"));
}

TEST(SchedulingOptionsTest, StaticBatchingDoesNotChunk) {
  SchedulerConfig c;
  c.batching = "static";
  c.settings.set("scheduler.chunk_size", std::to_string(256));
  EXPECT_THAT(create_error(c),
              AllOf(HasSubstr("field 'scheduler.chunk_size'"), HasSubstr("continuous")));
  c.batching = "continuous";
  EXPECT_EQ(create_error(c), "");
}

}  // namespace
}  // namespace kvlab
