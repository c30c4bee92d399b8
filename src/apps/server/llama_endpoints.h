// llama.cpp's server endpoints, for tools written against llama-server: POST /tokenize and
// /detokenize, GET /props and /slots, in llama-server's JSON shapes. Pure functions over the
// model and the scheduler's snapshot; the routes are in api.cpp.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "apps/server/protocol.h"
#include "apps/server/scheduler.h"
#include "smallthinker/engine.h"

namespace st::server {

// {content, add_special?, parse_special?, with_pieces?} -> {tokens: [id...]} or, with pieces,
// {tokens: [{id, piece}]} (piece: a string, or its bytes when it is not valid UTF-8).
json tokenize_reply(const smallthinker::Model& model, std::string_view body, const Limits& limits);
// {tokens: [id...]} -> {content} (control tokens as their names).
json detokenize_reply(const smallthinker::Model& model, std::string_view body, const Limits& limits);

struct PropsInfo {
  std::string model_path, model_alias;
  int64_t n_ctx = 0;   // of one slot
  int total_slots = 0;
  int default_max_tokens = 0;
};
json props_json(const smallthinker::Model& model, const PropsInfo& info);
json slots_json(const std::vector<SlotStatus>& slots, int64_t n_ctx);

}  // namespace st::server
