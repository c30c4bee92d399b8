// The text half of the public API: tokenizer, chat template and streaming detokenizer.
#include <algorithm>
#include <stdexcept>

#include "api/model_impl.h"
#include "text/json_bounded.h"
#include "text/stream_decoder.h"

namespace smallthinker {
namespace {

std::vector<st::ChatMessage> to_st(std::span<const ChatMessage> messages) {
  std::vector<st::ChatMessage> out;
  for (const auto& m : messages) out.push_back({m.role, m.content});
  return out;
}

}  // namespace

const st::Tokenizer& Model::Impl::tok() const {
  if (!tokenizer)
    throw std::runtime_error(file->path() + " has no tokenizer (tokenizer.ggml.* metadata); pass token ids with --tokens");
  return *tokenizer;
}

bool Model::has_tokenizer() const { return impl_->tokenizer != nullptr; }

std::vector<int32_t> Model::tokenize(const std::string& text, bool parse_special) const {
  return impl_->tok().encode(text, parse_special);
}

std::string Model::detokenize(std::span<const int32_t> tokens) const { return impl_->tok().decode(tokens, false); }

std::vector<int32_t> Model::stop_tokens() const {
  std::vector<int32_t> ids = impl_->chat.stop_ids(impl_->tok());
  for (int32_t id : impl_->tok().eog_ids())
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
  return ids;
}

std::vector<int32_t> Model::chat_tokens(std::span<const ChatMessage> messages, bool add_generation_prompt) const {
  const auto m = to_st(messages);
  return impl_->chat.encode(impl_->tok(), m, add_generation_prompt);
}

std::vector<int32_t> Model::chat_continuation_tokens(std::span<const ChatMessage> new_messages, bool reply_closed) const {
  const auto m = to_st(new_messages);
  return impl_->chat.encode_continuation(impl_->tok(), m, reply_closed, true);
}

Model::ChatPrompt Model::render_chat(const std::string& messages_json, const std::string& tools_json,
                                     bool add_generation_prompt, const std::string& kwargs_json) const {
  // Bounded nesting: the template engine and the copies below recurse once per level.
  auto parse = [](const std::string& text, const char* what, bool (nlohmann::ordered_json::*kind)() const noexcept) {
    auto j = st::parse_json_bounded<nlohmann::ordered_json>(text, what);
    if (j.is_discarded() || !(j.*kind)()) throw std::invalid_argument(std::string(what) + " is not valid JSON of the right type");
    return j;
  };
  st::ChatTemplateInputs in;
  in.messages = parse(messages_json, "messages (a JSON array)", &nlohmann::ordered_json::is_array);
  if (!tools_json.empty()) in.tools = parse(tools_json, "tools (a JSON array)", &nlohmann::ordered_json::is_array);
  if (!kwargs_json.empty()) in.kwargs = parse(kwargs_json, "chat_template_kwargs (a JSON object)", &nlohmann::ordered_json::is_object);
  in.add_generation_prompt = add_generation_prompt;
  ChatPrompt out;
  out.text = impl_->chat.apply(in);
  std::vector<std::string> contents;
  for (const auto& m : in.messages)
    if (m.is_object() && m.contains("content") && m["content"].is_string()) contents.push_back(m["content"].get<std::string>());
  out.tokens = st::ChatTemplate::encode_protecting(impl_->tok(), out.text, contents);
  return out;
}

std::shared_ptr<const std::vector<std::string>> Model::token_bytes() const {
  std::lock_guard<std::mutex> lock(impl_->token_bytes_mutex);
  if (!impl_->token_bytes) {
    const st::Tokenizer& t = impl_->tok();
    // The model's vocabulary may be padded past the tokenizer's: those ids decode to nothing.
    auto bytes = std::make_shared<std::vector<std::string>>(static_cast<size_t>(std::max<int64_t>(info().n_vocab, t.n_vocab())));
    for (int32_t id = 0; id < t.n_vocab(); ++id)
      if (t.token_type(id) != st::TokenType::Control) (*bytes)[static_cast<size_t>(id)] = t.token_bytes(id);
    impl_->token_bytes = std::move(bytes);
  }
  return impl_->token_bytes;
}

std::string Model::token_piece(int32_t id) const {
  const st::Tokenizer& t = impl_->tok();
  if (id < 0 || id >= t.n_vocab()) return {};
  return t.token_type(id) == st::TokenType::Control ? t.token_text(id) : t.token_bytes(id);
}

std::string Model::chat_template() const { return impl_->tokenizer ? impl_->tokenizer->chat_template() : std::string(); }

struct TextStreamer::Impl {
  st::StreamDecoder decoder;
};

TextStreamer::TextStreamer(const Model& model, bool show_control)
    : impl_(std::make_unique<Impl>(Impl{st::StreamDecoder(ModelAccess::impl(model).tok(), show_control)})) {}
TextStreamer::~TextStreamer() = default;
std::string TextStreamer::push(int32_t token) { return impl_->decoder.push(token); }
std::string TextStreamer::flush() { return impl_->decoder.flush(); }

}  // namespace smallthinker
