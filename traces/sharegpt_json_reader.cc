#include "traces/sharegpt_json_reader.h"

#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <string_view>
#include <vector>

#include "core/errors.h"
#include "core/workload.h"
#include "traces/approx_token_count.h"
#include "traces/bad_rows.h"
#include "traces/json_fields.h"
#include "traces/line_reader.h"
#include "traces/numeric_fields.h"
#include "traces/read_trace.h"
#include "traces/trace_formats.h"

namespace kvlab {

namespace {

using nlohmann::json;

// One element of the top-level list: its bytes and the line where it starts.
struct ElementSpan {
  size_t begin = 0;
  size_t end = 0;
  int64_t line = 0;
};

// Splits the top-level JSON list into element spans without parsing them, so that each entry
// gets its own line number and a malformed entry can be skipped alone. Tracks strings (with
// escapes) and nesting only: everything else is left to the JSON parser.
class ListScanner {
 public:
  ListScanner(const std::string& path, std::string_view text) : path_(path), text_(text) {}

  // Reads the opening '['. Throws InputError for an empty file or a non-list.
  void open() {
    skip_space();
    if (pos_ >= text_.size()) {
      throw InputError(path_, 1, "json", "empty file: expected a JSON list of conversations");
    }
    if (text_[pos_] != '[') {
      throw InputError(path_, line_, "json",
                       "expected a JSON list '[...]' of conversations, found '" +
                           std::string(1, text_[pos_]) + "'");
    }
    ++pos_;
  }

  // The next element; false at the closing ']' or at the end of a truncated file
  // (truncated() tells which).
  bool next(ElementSpan& span) {
    skip_space();
    if (pos_ >= text_.size()) {
      truncated_ = true;
      return false;
    }
    if (text_[pos_] == ']' && !expect_element_) {
      ++pos_;
      return false;
    }
    span.begin = pos_;
    span.line = line_;
    int depth = 0;
    bool in_string = false;
    for (; pos_ < text_.size(); ++pos_) {
      const char c = text_[pos_];
      if (c == '\n') ++line_;
      if (in_string) {
        if (c == '\\') {
          ++pos_;
          if (pos_ < text_.size() && text_[pos_] == '\n') ++line_;
        } else if (c == '"') {
          in_string = false;
        }
      } else if (c == '"') {
        in_string = true;
      } else if (c == '{' || c == '[') {
        ++depth;
      } else if (c == '}' || c == ']') {
        if (depth == 0) {
          // The list's own ']'; a '}' here closes nothing: the file's structure is broken, not
          // one entry, so no entry can be skipped past it.
          if (c == '}') {
            throw InputError(path_, line_, "json", "'}' closes nothing at the list's top level");
          }
          break;
        }
        --depth;
      } else if (c == ',' && depth == 0) {
        break;
      }
    }
    span.end = std::min(pos_, text_.size());
    // Every call consumes input or ends the list: a scanner that stands still would loop.
    check_invariant(
        span.end > span.begin || pos_ >= text_.size() || text_[pos_] == ',' || text_[pos_] == ']',
        "ShareGPT list scanner made no progress");
    if (pos_ >= text_.size()) {
      truncated_ = true;
      return true;  // the incomplete last element, for the parser to reject
    }
    expect_element_ = text_[pos_] == ',';
    if (expect_element_) ++pos_;
    return true;
  }

  // After next() returned false: checks nothing but whitespace follows the list.
  void close() {
    skip_space();
    if (pos_ < text_.size()) {
      throw InputError(path_, line_, "json", "unexpected text after the list's closing ']'");
    }
  }

  bool truncated() const { return truncated_; }
  int64_t line() const { return line_; }

 private:
  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\r' || text_[pos_] == '\n')) {
      if (text_[pos_] == '\n') ++line_;
      ++pos_;
    }
  }

  const std::string& path_;
  std::string_view text_;
  size_t pos_ = 0;
  int64_t line_ = 1;
  bool expect_element_ = false;
  bool truncated_ = false;
};

// What became of one entry.
enum class Outcome { kRow, kFewerThanTwoTurns, kTooShort, kTooLong };

const std::string& turn_text(const json& conversations, size_t turn) {
  const std::string field = "conversations[" + std::to_string(turn) + "].value";
  const json& entry = conversations[turn];
  if (!entry.is_object()) throw RowError(field, "turn is not an object: " + entry.dump());
  const auto value = entry.find("value");
  if (value == entry.end() || value->is_null()) throw RowError(field, "missing");
  if (!value->is_string()) throw RowError(field, "not a string: " + value->dump());
  return value->get_ref<const std::string&>();
}

// The entry's list of messages. Throws RowError when it has none.
const json& messages_of(const json& entry) {
  if (!entry.is_object()) {
    throw RowError("entry", "expected an object with a 'conversations' list");
  }
  const auto conversations = entry.find("conversations");
  if (conversations == entry.end() || conversations->is_null()) {
    throw RowError("conversations", "missing");
  }
  if (!conversations->is_array()) {
    throw RowError("conversations", "not a list of turns: " + conversations->dump());
  }
  return *conversations;
}

Outcome parse_entry(const json& entry, bool vllm_filter, TraceRow& row) {
  const json& conversations = messages_of(entry);
  if (conversations.size() < 2) return Outcome::kFewerThanTwoTurns;
  const int64_t prompt = approx_llama_token_count(turn_text(conversations, 0));
  const int64_t output = approx_llama_token_count(turn_text(conversations, 1));
  if (vllm_filter) {
    if (prompt < 4 || output < 4) return Outcome::kTooShort;
    if (prompt > 1024 || prompt + output > 2048) return Outcome::kTooLong;
  }
  if (prompt == 0) throw RowError("conversations[0].value", "empty prompt (zero tokens)");
  if (output == 0) throw RowError("conversations[1].value", "empty completion (zero tokens)");
  row.prompt_len = check_token_count(static_cast<double>(prompt), "conversations[0].value", 1);
  row.output_len = check_token_count(static_cast<double>(output), "conversations[1].value", 1);
  return Outcome::kRow;
}

// Multi-turn: messages 2k and 2k + 1 are turn k's question and answer (roles are not checked,
// as above); turn k's prompt is messages 0 .. 2k, its output message 2k + 1. Appends the turns
// to `turns` (all or none: a malformed message makes the whole conversation a bad row) and
// returns whether the last message went unanswered.
Outcome parse_conversation(const json& entry, TraceRow first, std::vector<TraceRow>& turns,
                           bool& unanswered) {
  const json& messages = messages_of(entry);
  if (messages.size() < 2) return Outcome::kFewerThanTwoTurns;
  const size_t pairs = messages.size() / 2;
  std::vector<TraceRow> out;
  out.reserve(pairs);
  int64_t so_far = 0;  // tokens of the messages before this turn's question
  for (size_t k = 0; k < pairs; ++k) {
    const std::string question = "conversations[" + std::to_string(2 * k) + "].value";
    const std::string answer = "conversations[" + std::to_string(2 * k + 1) + "].value";
    const int64_t asked = approx_llama_token_count(turn_text(messages, 2 * k));
    const int64_t answered = approx_llama_token_count(turn_text(messages, 2 * k + 1));
    if (k == 0 && asked == 0) throw RowError(question, "empty prompt (zero tokens)");
    if (answered == 0) throw RowError(answer, "empty completion (zero tokens)");
    TraceRow row = first;
    row.turn = static_cast<int32_t>(k);
    row.prompt_len = check_token_count(static_cast<double>(so_far + asked), question, 1);
    row.output_len = check_token_count(static_cast<double>(answered), answer, 1);
    // The conversation so far and this answer must fit a request (the next turn's prompt).
    so_far = check_token_count(static_cast<double>(row.prompt_len + answered), answer, 1);
    out.push_back(std::move(row));
  }
  turns.insert(turns.end(), std::make_move_iterator(out.begin()),
               std::make_move_iterator(out.end()));
  unanswered = messages.size() % 2 == 1;
  return Outcome::kRow;
}

// "parse error at line 1, column 5: syntax error ..." -> "syntax error ..." (the entry's
// own line and column would mislead: the bad row names the file's line instead).
std::string without_location(std::string text) {
  if (text.rfind("parse error at line", 0) == 0) {
    const auto colon = text.find(": ");
    if (colon != std::string::npos) text.erase(0, colon + 2);
  }
  return text;
}

class ShareGptJsonReader : public CountingTraceReader {
 public:
  explicit ShareGptJsonReader(bool vllm_filter) : vllm_filter_(vllm_filter) {}

  std::string name() const override {
    return vllm_filter_ ? "sharegpt-json-vllm" : "sharegpt-json";
  }

  bool detects(const std::string& path, const std::string& first_line) const override {
    if (vllm_filter_) return false;  // opt-in only
    if (path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0) return true;
    const auto start = first_line.find_first_not_of(" \t");
    return start != std::string::npos && first_line[start] == '[';
  }

  TraceReadResult read_counting(const std::string& path,
                                const TraceReadOptions& options) const override {
    const std::string text = read_whole_file(path);
    ListScanner scanner(path, text);
    scanner.open();
    TraceReadResult result;
    result.format = name();
    result.data.has_timestamps = false;
    // vLLM's pruning is defined on the first two messages: the vllm variant reads no turns.
    const bool multi_turn = options.multi_turn && !vllm_filter_;
    result.data.conversations = multi_turn;
    BadRows bad_rows(path, options);
    int64_t fewer_than_two = 0, too_short = 0, too_long = 0, entries = 0, unanswered = 0;
    int64_t conversations = 0;
    ElementSpan span;
    bool truncation_reported = false;
    while (scanner.next(span)) {
      ++entries;
      const std::string_view element(text.data() + span.begin, span.end - span.begin);
      json entry;
      try {
        entry = parse_json_row(element);
      } catch (const json::parse_error& error) {
        if (scanner.truncated()) {
          truncation_reported = true;
          bad_rows.report(scanner.line(), "json",
                          "truncated JSON: the file ends inside an entry (" +
                              without_location(json_error_text(error)) + ")");
        } else {
          bad_rows.report(line_of(text, span, error.byte), "json",
                          "malformed JSON: " + without_location(json_error_text(error)));
        }
        continue;
      } catch (const json::out_of_range&) {
        // A number beyond double's range (1e400), in any field: a bad row, not an internal
        // error.
        bad_rows.report(span.line, "json", "a number out of range (beyond +-1.8e308)");
        continue;
      }
      TraceRow row;
      row.line = span.line;
      try {
        if (multi_turn) {
          row.conversation = conversations;
          bool last_unanswered = false;
          if (parse_conversation(entry, row, result.data.rows, last_unanswered) ==
              Outcome::kFewerThanTwoTurns) {
            ++fewer_than_two;
          } else {
            ++conversations;
            unanswered += last_unanswered ? 1 : 0;
          }
          continue;
        }
        switch (parse_entry(entry, vllm_filter_, row)) {
          case Outcome::kRow:
            result.data.rows.push_back(std::move(row));
            break;
          case Outcome::kFewerThanTwoTurns:
            ++fewer_than_two;
            break;
          case Outcome::kTooShort:
            ++too_short;
            break;
          case Outcome::kTooLong:
            ++too_long;
            break;
        }
      } catch (const RowError& error) {
        bad_rows.report(span.line, error);
      }
    }
    if (!scanner.truncated()) {
      if (entries == 0) {
        throw InputError(path, scanner.line(), "json", "the list holds no conversations");
      }
      scanner.close();
    } else if (!truncation_reported) {
      bad_rows.report(scanner.line(), "json",
                      "truncated JSON: the file ends before the list's closing ']'");
    }
    bad_rows.move_into(result.data);
    result.dropped.push_back({kDropFewerThanTwoTurns, fewer_than_two});
    if (multi_turn) result.dropped.push_back({kDropUnansweredMessage, unanswered});
    if (vllm_filter_) {
      result.dropped.push_back({kDropVllmTooShort, too_short});
      result.dropped.push_back({kDropVllmTooLong, too_long});
    }
    return result;
  }

 private:
  // The file line of byte `byte` (1-based, as nlohmann counts) of the element.
  static int64_t line_of(const std::string& text, const ElementSpan& span, size_t byte) {
    int64_t line = span.line;
    const size_t stop = std::min(span.end, span.begin + (byte > 0 ? byte - 1 : 0));
    for (size_t i = span.begin; i < stop; ++i) line += text[i] == '\n' ? 1 : 0;
    return line;
  }

  bool vllm_filter_;
};

}  // namespace

void register_sharegpt_json_readers(TraceReaderRegistry& registry) {
  registry.add({.name = "sharegpt-json",
                .factory = [](const TraceReaderConfig&) -> std::unique_ptr<TraceReader> {
                  return std::make_unique<ShareGptJsonReader>(false);
                },
                .description =
                    "ShareGPT conversations JSON (vLLM benchmark_serving's input); lengths from an "
                    "approximate Llama-2 token count"});
  registry.add({.name = "sharegpt-json-vllm",
                .factory = [](const TraceReaderConfig&) -> std::unique_ptr<TraceReader> {
                  return std::make_unique<ShareGptJsonReader>(true);
                },
                .description =
                    "sharegpt-json with vLLM's length pruning (< 4 tokens; prompt > 1024 or total "
                    "> 2048), counted"});
}

}  // namespace kvlab
