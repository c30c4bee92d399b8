// Loading a Hugging Face tokenizer.json (+ tokenizer_config.json). Only what Qwen2's tokenizer
// uses is accepted; anything else is rejected by name rather than silently encoded differently.
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "text/pretokenizer.h"
#include "text/tokenizer.h"

namespace st {
namespace {

using nlohmann::json;

json read_json(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw TokenizerError(path + ": cannot open");
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    throw TokenizerError(path + ": not valid JSON: " + e.what());
  }
}

[[noreturn]] void fail(const std::string& path, const std::string& what) { throw TokenizerError(path + ": " + what); }

// NFC, or a Sequence of only NFC; null means no normalization.
bool parse_normalizer(const std::string& path, const json& n) {
  if (n.is_null()) return false;
  const std::string type = n.value("type", "");
  if (type == "NFC") return true;
  if (type == "Sequence" && n.contains("normalizers")) {
    bool nfc = false;
    for (const json& sub : n["normalizers"]) nfc = parse_normalizer(path, sub) || nfc;
    return nfc;
  }
  fail(path, "unsupported normalizer " + n.dump() + " (only NFC is implemented)");
}

// Qwen2's: Split(the Qwen2 regex, Isolated) then ByteLevel without its own regex.
void check_pre_tokenizer(const std::string& path, const json& p) {
  const auto unsupported = [&] {
    fail(path, "unsupported pre_tokenizer " + p.dump().substr(0, 300) + " (only Qwen2's is implemented)");
  };
  if (!p.is_object() || p.value("type", "") != "Sequence" || !p.contains("pretokenizers")) unsupported();
  const json& seq = p["pretokenizers"];
  if (seq.size() != 2) unsupported();
  const json& split = seq[0];
  const json& byte_level = seq[1];
  if (split.value("type", "") != "Split" || split.value("behavior", "") != "Isolated" ||
      split.value("invert", false) || !split.contains("pattern") ||
      split["pattern"].value("Regex", "") != Pretokenizer::kQwen2Pattern) {
    unsupported();
  }
  if (byte_level.value("type", "") != "ByteLevel" || byte_level.value("use_regex", true) ||
      byte_level.value("add_prefix_space", false)) {
    unsupported();
  }
}

// tokenizer_config.json writes special tokens as a string, as {"content": ...}, or as null.
std::string token_content(const json& config, const char* key) {
  if (!config.contains(key)) return {};
  const json& v = config[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object()) return v.value("content", "");
  return {};
}

}  // namespace

Tokenizer Tokenizer::from_hf_json(const std::string& path, const std::string& config_path_in) {
  const json j = read_json(path);
  TokenizerData d;
  d.source = path;
  try {
    const json& model = j.at("model");
    if (model.value("type", "BPE") != "BPE") fail(path, "model type '" + model.value("type", "") + "' is not BPE");
    // Null and "" both mean no affix.
    const auto has_affix = [&](const char* key) {
      const json v = model.value(key, json());
      return v.is_string() && !v.get<std::string>().empty();
    };
    if (model.value("byte_fallback", false) || model.value("ignore_merges", false) ||
        has_affix("continuing_subword_prefix") || has_affix("end_of_word_suffix") ||
        !model.value("dropout", json()).is_null()) {
      fail(path, "BPE options byte_fallback / ignore_merges / dropout / subword affixes are not supported");
    }
    d.normalize_nfc = parse_normalizer(path, j.value("normalizer", json()));
    check_pre_tokenizer(path, j.value("pre_tokenizer", json()));

    // Ids are dense in practice; any gap becomes an Unused "[PAD<id>]" entry.
    const json& vocab = model.at("vocab");
    const json added = j.value("added_tokens", json::array());
    int64_t n = 0;
    for (const auto& [text, id] : vocab.items()) n = std::max<int64_t>(n, id.get<int64_t>() + 1);
    for (const json& a : added) n = std::max<int64_t>(n, a.at("id").get<int64_t>() + 1);
    if (n > INT32_MAX) fail(path, "token ids are too large");
    d.tokens.resize(static_cast<size_t>(n));
    d.types.assign(static_cast<size_t>(n), TokenType::Unused);
    for (const auto& [text, id_json] : vocab.items()) {
      const auto id = id_json.get<int64_t>();
      if (id < 0) fail(path, "negative token id for '" + text + "'");
      d.tokens[id] = text;
      d.types[id] = TokenType::Normal;
    }
    for (const json& a : added) {
      const auto id = a.at("id").get<int64_t>();
      if (id < 0) fail(path, "negative added-token id");
      d.tokens[id] = a.at("content").get<std::string>();
      d.types[id] = a.value("special", false) ? TokenType::Control : TokenType::UserDefined;
    }
    for (int64_t id = 0; id < n; ++id) {
      if (d.types[id] == TokenType::Unused) d.tokens[id] = "[PAD" + std::to_string(id) + "]";
    }
    const json& merges = model.at("merges");
    d.merges.reserve(merges.size());
    for (const json& m : merges) {
      if (m.is_string()) {
        d.merges.push_back(m.get<std::string>());  // legacy "left right"
      } else {
        d.merges.push_back(m.at(0).get<std::string>() + " " + m.at(1).get<std::string>());
      }
    }
  } catch (const json::exception& e) {
    fail(path, std::string("unexpected tokenizer.json structure: ") + e.what());
  }

  auto id_of = [&](const std::string& text) -> int32_t {
    for (size_t id = 0; id < d.tokens.size(); ++id) {
      if (d.types[id] != TokenType::Normal && d.tokens[id] == text) return static_cast<int32_t>(id);
    }
    return -1;
  };
  std::string config_path = config_path_in;
  if (config_path.empty()) {
    const auto sibling = std::filesystem::path(path).parent_path() / "tokenizer_config.json";
    if (std::filesystem::exists(sibling)) config_path = sibling.string();
  }
  json config = json::object();
  if (!config_path.empty()) config = read_json(config_path);
  try {
    // Qwen2 configs set bos_token to null, yet llama.cpp's Qwen2 GGUFs record <|endoftext|> as
    // BOS (never prepended); do the same so both loaders agree.
    const std::string bos = token_content(config, "bos_token");
    d.bos_id = id_of(bos.empty() ? "<|endoftext|>" : bos);
    const std::string eos = token_content(config, "eos_token");
    d.eos_id = id_of(eos.empty() ? "<|endoftext|>" : eos);
    d.pad_id = id_of(token_content(config, "pad_token"));
    d.eot_id = id_of("<|im_end|>");
    if (config.contains("chat_template") && config["chat_template"].is_string()) {
      d.chat_template = config["chat_template"].get<std::string>();
    }
  } catch (const json::exception& e) {
    fail(config_path, std::string("unexpected tokenizer_config.json structure: ") + e.what());
  }
  return from_data(std::move(d));
}

}  // namespace st
