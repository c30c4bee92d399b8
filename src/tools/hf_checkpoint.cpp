#include "tools/hf_checkpoint.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>

namespace smallthinker {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

json read_json(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open");
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    throw std::runtime_error(path + ": not valid JSON: " + e.what());
  }
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

}  // namespace

HfConfig read_hf_config(const std::string& path) {
  const json j = read_json(path);
  if (!j.is_object()) throw std::runtime_error(path + ": not a JSON object");
  const auto fail = [&](const std::string& what) { throw std::runtime_error(path + ": " + what); };
  const auto integer = [&](const char* key, std::optional<int64_t> fallback) -> int64_t {
    if (!j.contains(key) || j[key].is_null()) {
      if (!fallback) fail(std::string("missing key \"") + key + "\" (is this a SmallThinker config.json?)");
      return *fallback;
    }
    if (!j[key].is_number_integer() || j[key].get<int64_t>() <= 0 || j[key].get<int64_t>() > (int64_t{1} << 31))
      fail(std::string("\"") + key + "\" = " + j[key].dump() + " is not a positive integer");
    return j[key].get<int64_t>();
  };
  const auto number = [&](const char* key, double fallback) {
    if (!j.contains(key) || j[key].is_null()) return fallback;
    if (!j[key].is_number()) fail(std::string("\"") + key + "\" is not a number");
    return j[key].get<double>();
  };
  const auto flag = [&](const char* key) {
    if (!j.contains(key) || j[key].is_null()) return false;
    if (!j[key].is_boolean()) fail(std::string("\"") + key + "\" is not true/false");
    return j[key].get<bool>();
  };

  HfConfig c;
  c.model_name = j.value("model_name", std::string());
  if (j.contains("model_type") && j["model_type"].is_string() && j["model_type"] != "smallthinker")
    fail("model_type is " + j["model_type"].dump() + ", expected \"smallthinker\"");
  c.n_layer = static_cast<int>(integer("num_hidden_layers", std::nullopt));
  c.hidden = integer("hidden_size", std::nullopt);
  c.n_head = static_cast<int>(integer("num_attention_heads", std::nullopt));
  c.n_head_kv = static_cast<int>(integer("num_key_value_heads", c.n_head));
  c.head_dim = integer("head_dim", c.hidden / c.n_head);
  c.n_expert = static_cast<int>(integer("moe_num_primary_experts", std::nullopt));
  c.n_expert_used = static_cast<int>(integer("moe_num_active_primary_experts", std::nullopt));
  c.n_ff = integer("moe_ffn_hidden_size", std::nullopt);
  c.vocab = integer("vocab_size", std::nullopt);
  c.n_ctx = integer("max_position_embeddings", 4096);
  c.rms_eps = number("rms_norm_eps", 1e-6);
  c.rope_theta = number("rope_theta", 1.5e6);
  c.softmax_gating = flag("moe_primary_router_apply_softmax");
  c.tied = flag("tie_word_embeddings");
  if (!(c.rms_eps > 0 && c.rms_eps < 1)) fail("rms_norm_eps must be in (0, 1)");
  if (!(c.rope_theta > 0)) fail("rope_theta must be positive");
  if (c.n_head % c.n_head_kv != 0) fail("num_attention_heads is not a multiple of num_key_value_heads");
  if (c.n_expert_used > c.n_expert) fail("moe_num_active_primary_experts exceeds moe_num_primary_experts");
  if (c.head_dim % 2 != 0) fail("head_dim must be even (RoPE rotates pairs)");

  const auto layout = [&](const char* key, int fallback) {
    std::vector<int> v(static_cast<size_t>(c.n_layer), fallback);
    if (!j.contains(key) || j[key].is_null()) return v;
    const json& a = j[key];
    if (!a.is_array() || a.size() != v.size())
      fail(std::string("\"") + key + "\" must be an array of " + std::to_string(c.n_layer) + " entries (one per layer)");
    for (size_t i = 0; i < v.size(); ++i) {
      if (a[i].is_boolean()) v[i] = a[i].get<bool>() ? 1 : 0;
      else if (a[i].is_number_integer() && (a[i] == 0 || a[i] == 1)) v[i] = a[i].get<int>();
      else fail(std::string("\"") + key + "\"[" + std::to_string(i) + "] = " + a[i].dump() + " is not 0 or 1");
    }
    return v;
  };
  c.rope_layout = layout("rope_layout", 1);
  c.window_layout = layout("sliding_window_layout", 0);
  const bool any_window = std::find(c.window_layout.begin(), c.window_layout.end(), 1) != c.window_layout.end();
  if (any_window) c.window = integer("sliding_window_size", std::nullopt);
  return c;
}

HfCheckpoint::HfCheckpoint(const std::string& dir) : dir_(dir) {
  const fs::path root(dir);
  if (!fs::is_directory(root)) throw std::runtime_error(dir + ": not a directory (expected a Hugging Face checkpoint folder)");
  const fs::path index = root / "model.safetensors.index.json";
  std::map<std::string, std::string> weight_map;
  if (fs::exists(index)) {
    const json j = read_json(index.string());
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
      throw std::runtime_error(index.string() + ": no \"weight_map\" object");
    for (const auto& [name, file] : j["weight_map"].items()) {
      if (!file.is_string()) throw std::runtime_error(index.string() + ": weight_map entry '" + name + "' is not a file name");
      const std::string f = file.get<std::string>();
      // Shards live in the folder itself: refuse paths that would read elsewhere.
      if (f.empty() || f.find('/') != std::string::npos || f == "." || f == "..")
        throw std::runtime_error(index.string() + ": weight_map names the file '" + f + "' (expected a file in the same folder)");
      weight_map[name] = f;
    }
  } else if (fs::exists(root / "model.safetensors")) {
    files_.push_back(st::SafetensorsFile::open((root / "model.safetensors").string()));
    for (const auto& t : files_[0]->tensors()) where_[t.name] = 0;
    return;
  } else {
    throw std::runtime_error(dir + ": neither model.safetensors.index.json nor model.safetensors is there");
  }
  std::map<std::string, size_t> opened;
  for (const auto& [name, file] : weight_map) {
    auto it = opened.find(file);
    if (it == opened.end()) {
      files_.push_back(st::SafetensorsFile::open((root / file).string()));
      it = opened.emplace(file, files_.size() - 1).first;
    }
    if (!files_[it->second]->find(name))
      throw std::runtime_error(files_[it->second]->path() + ": tensor '" + name + "' listed in the index is not in this file");
    where_[name] = it->second;
  }
}

bool HfCheckpoint::has(const std::string& name) const { return where_.count(name) != 0; }

const st::SafetensorsFile& HfCheckpoint::file_of(const std::string& name) const {
  const auto it = where_.find(name);
  if (it == where_.end()) throw std::runtime_error(dir_ + ": tensor '" + name + "' is missing from the checkpoint");
  return *files_[it->second];
}

const st::SafetensorsTensor& HfCheckpoint::tensor(const std::string& name, const std::vector<int64_t>& shape) const {
  const st::SafetensorsFile& f = file_of(name);
  const st::SafetensorsTensor* t = f.find(name);
  if (t->shape != shape)
    throw std::runtime_error(f.path() + ": tensor '" + name + "' has shape " + shape_str(t->shape) + ", expected " +
                             shape_str(shape) + " from config.json");
  return *t;
}

}  // namespace smallthinker
