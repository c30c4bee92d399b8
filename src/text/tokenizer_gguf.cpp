// The tokenizer in GGUF metadata (llama.cpp's schema, shared/smallthinker-spec.md section 3):
// reading it from a model file and writing it into a new one.
#include <string>

#include "formats/gguf.h"
#include "formats/gguf_names.h"
#include "text/tokenizer.h"

namespace st {
namespace {

namespace names = gguf_names;

[[noreturn]] void fail(const GgufFile& f, const std::string& what) {
  throw TokenizerError(f.path() + ": " + what);
}

int32_t optional_id(const GgufFile& f, std::string_view key) {
  const int64_t v = f.get_int_or(key, -1);
  if (v < -1 || v > INT32_MAX) fail(f, std::string(key) + " = " + std::to_string(v) + " is not a token id");
  return static_cast<int32_t>(v);
}

}  // namespace

Tokenizer Tokenizer::from_gguf(const GgufFile& f) {
  TokenizerData d;
  d.source = f.path();
  if (!f.has(names::kTokTokens)) {
    fail(f, "no tokenizer in this file (metadata key " + std::string(names::kTokTokens) + " is missing)");
  }
  const std::string model = f.get_string_or(names::kTokModel, "gpt2");
  if (model != "gpt2") {
    fail(f, std::string(names::kTokModel) + " is '" + model + "'; only byte-level BPE ('gpt2') is supported");
  }
  // Files without the key predate it; Qwen2 is the only pre-tokenizer this engine has.
  d.pre = f.get_string_or(names::kTokPre, "qwen2");
  d.tokens = f.get_string_array(names::kTokTokens);
  if (f.has(names::kTokTokenType)) {
    const auto& types = f.get_int_array(names::kTokTokenType);
    d.types.reserve(types.size());
    for (int64_t t : types) {
      if (t < 0 || t > static_cast<int64_t>(TokenType::Byte)) {
        fail(f, std::string(names::kTokTokenType) + " has the unknown value " + std::to_string(t));
      }
      d.types.push_back(static_cast<TokenType>(t));
    }
  }
  if (!f.has(names::kTokMerges)) fail(f, "metadata key " + std::string(names::kTokMerges) + " is missing");
  d.merges = f.get_string_array(names::kTokMerges);
  d.bos_id = optional_id(f, names::kTokBos);
  d.eos_id = optional_id(f, names::kTokEos);
  d.eot_id = optional_id(f, names::kTokEot);
  d.pad_id = optional_id(f, names::kTokPad);
  d.chat_template = f.get_string_or(names::kChatTemplate, "");
  return from_data(std::move(d));
}

void Tokenizer::to_gguf(GgufWriter& w, int32_t pad_to_n_vocab) const {
  std::vector<std::string> tokens = data_.tokens;
  std::vector<int64_t> types;
  types.reserve(data_.types.size());
  for (TokenType t : data_.types) types.push_back(static_cast<int64_t>(t));
  for (auto id = static_cast<int32_t>(tokens.size()); id < pad_to_n_vocab; ++id) {
    tokens.push_back("[PAD" + std::to_string(id) + "]");
    types.push_back(static_cast<int64_t>(TokenType::Unused));
  }
  w.set(std::string(names::kTokModel), GgufValue::string("gpt2"));
  w.set(std::string(names::kTokPre), GgufValue::string(data_.pre));
  w.set(std::string(names::kTokTokens), GgufValue::string_array(std::move(tokens)));
  w.set(std::string(names::kTokTokenType), GgufValue::int_array(GgufValueType::INT32, std::move(types)));
  w.set(std::string(names::kTokMerges), GgufValue::string_array(data_.merges));
  const std::pair<std::string_view, int32_t> ids[] = {
      {names::kTokBos, data_.bos_id}, {names::kTokEos, data_.eos_id},
      {names::kTokEot, data_.eot_id}, {names::kTokPad, data_.pad_id}};
  for (const auto& [key, id] : ids) {
    if (id >= 0) w.set(std::string(key), GgufValue::u32(static_cast<uint32_t>(id)));
  }
  w.set(std::string(names::kTokAddBos), GgufValue::boolean(false));  // Qwen2 never prepends BOS
  if (!data_.chat_template.empty()) w.set(std::string(names::kChatTemplate), GgufValue::string(data_.chat_template));
}

}  // namespace st
