// ShareGPT conversation JSON, the file vLLM's benchmark_serving reads
// (ShareGPT_V3_unfiltered_cleaned_split.json):
//   [{"id": "...", "conversations": [{"from": "human", "value": "..."},
//                                    {"from": "gpt", "value": "..."}, ...]}, ...]
// As in vLLM, the first turn is the prompt and the second the completion (roles are not
// checked) and entries with fewer than two turns are skipped; here they are also counted
// (FormatDrop kDropFewerThanTwoTurns). Lengths come from approx_llama_token_count (see
// approx_token_count.h for the rule and its expected error). Rows keep file order (vLLM
// shuffles; take a sample with workload.num_requests instead) and have no timestamps.
//
// Two registered formats:
//   sharegpt-json       every entry with two turns; an empty prompt or completion (zero
//                       tokens) is a malformed row.
//   sharegpt-json-vllm  also vLLM's length pruning, counted: prompt or completion < 4
//                       tokens (kDropVllmTooShort), prompt > 1024 or prompt + completion
//                       > 2048 tokens (kDropVllmTooLong). Opt-in: auto never picks it.
//
// Multi-turn (TraceReadOptions::multi_turn, workload.multi_turn; sharegpt-json only): each
// conversation's k-th pair of messages (2k, 2k + 1) becomes a row, turn k: its prompt is every
// message before the answer (2k + 1 of them, token counts summed: no chat template) and its
// output the answer, message 2k + 1. Rows carry the conversation's number (0, 1, ... in file
// order, over conversations that gave rows) and the turn, on the entry's line. A last message
// without an answer is no request: counted (kDropUnansweredMessage, one per conversation). An
// empty first message or an empty answer makes the whole conversation a bad row.
//
// Each entry's line is the line where its '{' starts. A malformed entry (not an object,
// 'conversations' missing or not a list, a turn without a string 'value', invalid JSON) is a
// bad row naming that line and the field; a file that ends inside the list (truncated) is a
// bad row at its last line; a file that is empty, not a list, or an empty list is an
// InputError even when skipping bad rows.
#pragma once

namespace kvlab {

inline constexpr const char* kDropFewerThanTwoTurns = "sharegpt: fewer than 2 turns";
inline constexpr const char* kDropUnansweredMessage =
    "sharegpt multi-turn: last message without an answer (not a request)";
inline constexpr const char* kDropVllmTooShort = "vllm filter: prompt or output < 4 tokens";
inline constexpr const char* kDropVllmTooLong =
    "vllm filter: prompt > 1024 or prompt + output > 2048 tokens";

}  // namespace kvlab
