#include "traces/approx_token_count.h"

namespace kvlab {

namespace {

enum class Kind { kLetter, kDigit, kSpace, kSymbol, kControl, kWide, kEmoji, kStray };

bool is_ascii_letter(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// Classifies the character starting at text[pos] and returns its length in bytes.
size_t classify(std::string_view text, size_t pos, Kind& kind) {
  const auto c = static_cast<unsigned char>(text[pos]);
  auto continuation_ok = [&](size_t n) {
    if (pos + n > text.size()) return false;
    for (size_t i = 1; i < n; ++i) {
      if ((static_cast<unsigned char>(text[pos + i]) & 0xC0) != 0x80) return false;
    }
    return true;
  };
  if (c < 0x80) {
    if (is_ascii_letter(c)) {
      kind = Kind::kLetter;
    } else if (c >= '0' && c <= '9') {
      kind = Kind::kDigit;
    } else if (c == ' ') {
      kind = Kind::kSpace;
    } else if (c < 0x20 || c == 0x7F) {
      kind = Kind::kControl;
    } else {
      kind = Kind::kSymbol;
    }
    return 1;
  }
  if ((c & 0xE0) == 0xC0 && continuation_ok(2)) {
    kind = Kind::kLetter;
    return 2;
  }
  if ((c & 0xF0) == 0xE0 && continuation_ok(3)) {
    kind = Kind::kWide;
    return 3;
  }
  if ((c & 0xF8) == 0xF0 && continuation_ok(4)) {
    kind = Kind::kEmoji;
    return 4;
  }
  kind = Kind::kStray;
  return 1;
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

int64_t run_tokens(Kind kind, int64_t run, bool after_space) {
  switch (kind) {
    case Kind::kLetter:
      return run <= 6 ? 1 : ceil_div(run, 4);
    case Kind::kDigit:
      return run + (after_space ? 1 : 0);
    case Kind::kSymbol:
      return ceil_div(run, 2);
    case Kind::kSpace:
      return run >= 2 ? ceil_div(run - 1, 4) : 0;
    case Kind::kWide:
      return ceil_div(3 * run, 2);
    case Kind::kEmoji:
      return 4 * run;
    case Kind::kControl:
    case Kind::kStray:
      return run;
  }
  return 0;
}

}  // namespace

int64_t approx_llama_token_count(std::string_view text) {
  int64_t tokens = 0;
  size_t pos = 0;
  bool previous_was_space = false;
  while (pos < text.size()) {
    Kind kind;
    const size_t start = pos;
    pos += classify(text, pos, kind);
    if (kind == Kind::kControl) {
      // Each control character stands alone; '\r' (of CRLF) is free.
      if (text[start] != '\r') ++tokens;
      previous_was_space = false;
      continue;
    }
    int64_t run = 1;
    Kind next_kind;
    while (pos < text.size()) {
      const size_t length = classify(text, pos, next_kind);
      if (next_kind != kind) break;
      pos += length;
      ++run;
    }
    tokens += run_tokens(kind, run, previous_was_space);
    previous_was_space = kind == Kind::kSpace;
  }
  return tokens;
}

}  // namespace kvlab
