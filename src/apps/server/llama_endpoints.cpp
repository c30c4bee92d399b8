#include "apps/server/llama_endpoints.h"

#include <algorithm>
#include <limits>

namespace st::server {
namespace {

[[noreturn]] void bad(const std::string& param, const std::string& message) {
  throw ApiError(400, message, "invalid_request_error", param, "invalid_value");
}

void only_fields(const json& body, std::initializer_list<std::string_view> known) {
  for (const auto& [key, value] : body.items())
    if (std::find(known.begin(), known.end(), key) == known.end() && !value.is_null())
      bad(key, "unknown field '" + key + "': this endpoint does not support it; remove it from the request");
}

bool flag(const json& body, const char* key, bool fallback) {
  const auto it = body.find(key);
  if (it == body.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) bad(key, std::string("'") + key + "' must be true or false");
  return it->get<bool>();
}

bool valid_utf8(const std::string& s) {
  try {
    (void)json(s).dump();  // the strict serializer throws on invalid UTF-8
    return true;
  } catch (const json::type_error&) {
    return false;
  }
}

// llama-server's "params" of a slot (the subset this server has).
json params_json(const smallthinker::SamplingOptions& s, int n_predict, int n_probs, const std::vector<std::string>& stop) {
  return {{"n_predict", n_predict},
          {"seed", s.seed == std::numeric_limits<uint64_t>::max() ? json(-1) : json(s.seed)},
          {"temperature", s.temperature},
          {"top_k", s.top_k},
          {"top_p", s.top_p},
          {"min_p", s.min_p},
          {"repeat_last_n", s.repeat_last_n},
          {"repeat_penalty", s.repeat_penalty},
          {"presence_penalty", s.presence_penalty},
          {"frequency_penalty", s.frequency_penalty},
          {"n_probs", n_probs},
          {"stop", stop},
          {"stream", false}};
}

json slot_json(const SlotStatus& s, int64_t n_ctx) {
  return {{"id", s.id},
          {"id_task", s.processing ? json(s.task) : json(-1)},
          {"n_ctx", n_ctx},
          {"speculative", false},
          {"is_processing", s.processing},
          {"params", params_json(s.sampling, s.max_tokens, s.n_probs, s.stop)},
          {"n_cached", s.n_cached},
          {"next_token",
           {{"has_next_token", s.processing},
            {"n_remain", s.processing ? std::max(0, s.max_tokens - s.n_decoded) : 0},
            {"n_decoded", s.n_decoded}}}};
}

}  // namespace

json tokenize_reply(const smallthinker::Model& model, std::string_view body_text, const Limits& limits) {
  const json body = parse_body(body_text, limits);
  only_fields(body, {"content", "add_special", "parse_special", "with_pieces"});
  const auto content = body.find("content");
  if (content == body.end() || !content->is_string()) bad("content", "'content' must be a string");
  // add_special: this model family's tokenizer adds no BOS/EOS to a prompt (the server feeds
  // completions exactly these tokens), so it changes nothing; it is still checked.
  (void)flag(body, "add_special", false);
  const bool parse_special = flag(body, "parse_special", true);
  const bool with_pieces = flag(body, "with_pieces", false);
  const std::vector<int32_t> ids = model.tokenize(content->get<std::string>(), parse_special);
  json tokens = json::array();
  for (int32_t id : ids) {
    if (!with_pieces) {
      tokens.push_back(id);
      continue;
    }
    const std::string piece = model.token_piece(id);
    json bytes = json::array();
    for (unsigned char c : piece) bytes.push_back(c);
    tokens.push_back({{"id", id}, {"piece", valid_utf8(piece) ? json(piece) : bytes}});
  }
  return {{"tokens", std::move(tokens)}};
}

json detokenize_reply(const smallthinker::Model& model, std::string_view body_text, const Limits& limits) {
  const json body = parse_body(body_text, limits);
  only_fields(body, {"tokens"});
  const auto tokens = body.find("tokens");
  if (tokens == body.end() || !tokens->is_array()) bad("tokens", "'tokens' must be an array of token ids");
  const int64_t n_vocab = model.info().n_vocab;
  std::string content;
  for (size_t i = 0; i < tokens->size(); ++i) {
    const json& t = (*tokens)[i];
    const std::string p = "tokens[" + std::to_string(i) + "]";
    if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() >= n_vocab)
      bad(p, "'" + p + "' must be a token id in [0, " + std::to_string(n_vocab) + ")");
    content += model.token_piece(static_cast<int32_t>(t.get<int64_t>()));
  }
  return {{"content", std::move(content)}};
}

json props_json(const smallthinker::Model& model, const PropsInfo& info) {
  SlotStatus defaults;
  defaults.max_tokens = info.default_max_tokens;
  json settings = slot_json(defaults, info.n_ctx);
  const std::string tmpl = model.chat_template();
  return {{"default_generation_settings", std::move(settings)},
          {"total_slots", info.total_slots},
          {"model_path", info.model_path},
          {"model_alias", info.model_alias},
          {"chat_template", tmpl},
          {"modalities", {{"vision", false}, {"audio", false}}},
          {"build_info", "smallthinker"}};
}

json slots_json(const std::vector<SlotStatus>& slots, int64_t n_ctx) {
  json out = json::array();
  for (const SlotStatus& s : slots) out.push_back(slot_json(s, n_ctx));
  return out;
}

}  // namespace st::server
