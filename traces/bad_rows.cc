#include "traces/bad_rows.h"

#include "core/errors.h"

namespace kvlab {

void BadRows::report(int64_t line, const std::string& field, const std::string& what) {
  InputError error(path_, static_cast<long>(line), field, what);
  if (!skip_) throw error;
  ++count_;
  if (messages_.size() < kMaxMessages) messages_.push_back(error.what());
}

void BadRows::move_into(TraceData& data) {
  data.bad_rows_skipped += count_;
  for (auto& message : messages_) {
    if (data.bad_row_messages.size() < kMaxMessages) data.bad_row_messages.push_back(message);
  }
  count_ = 0;
  messages_.clear();
}

}  // namespace kvlab
