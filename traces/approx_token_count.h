// An approximate Llama-2 (SentencePiece, 32k vocabulary) token count for UTF-8 text, for
// traces that hold text rather than token counts (ShareGPT JSON) when no tokenizer is at hand.
//
// The rule, applied left to right over the bytes:
//   - a run of L letters (ASCII letters, and 2-byte UTF-8 characters: accented Latin, Greek,
//     Cyrillic) counts 1 token when L <= 6, else ceil(L / 4): frequent short words are single
//     vocabulary pieces, longer and rarer words split into pieces of ~4 characters;
//   - every digit counts 1 token (Llama splits numbers into digits), plus 1 for the "▁" piece
//     when the digit run follows a space;
//   - a run of L other ASCII symbols / punctuation counts ceil(L / 2);
//   - a single space is free (it is the "▁" prefix of the next piece); a run of R >= 2 spaces
//     counts ceil((R - 1) / 4) (indentation pieces); each tab, newline or other control
//     character counts 1 ('\r' counts 0);
//   - a run of C 3-byte UTF-8 characters (CJK and most other scripts) counts ceil(3C / 2);
//     each 4-byte character (emoji) counts 4 (byte fallback); a stray byte counts 1.
// No BOS token is added (the vLLM benchmark's len(tokenizer(text).input_ids) includes one).
//
// Expected error: NOT calibrated against the Llama tokenizer (none is available offline in
// this build environment); figures here are estimates from the vocabulary's structure, not
// measurements. On English prose it gives ~1.2-1.4 tokens per word, the ratio usually quoted
// for Llama-2, so we expect totals over many messages within about +-20% of the tokenizer,
// single short messages off by up to ~40%, and larger errors for code and non-Latin scripts.
// When exact lengths matter use a pre-tokenized length trace (length-csv).
#pragma once

#include <cstdint>
#include <string_view>

namespace kvlab {

int64_t approx_llama_token_count(std::string_view utf8_text);

}  // namespace kvlab
