// The C API's model: options, load, info, and the text functions (tokenizer, chat template).
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string_view>

#include <nlohmann/json.hpp>

#include "capi/handles.h"
#include "capi/out_buffer.h"

using st_capi::fail;
using st_capi::require;

namespace {

smallthinker::ModelOptions to_cpp(const st_model_options& o) {
  smallthinker::ModelOptions m;
  if (o.path) m.path = o.path;
  m.n_threads = o.n_threads;
  if (o.memory_budget) m.memory = std::to_string(o.memory_budget);
  // n_ctx is the sessions' default context, checked as the CLI checks -c (0: the training
  // context; the plan then keeps its default).
  smallthinker::SessionOptions planned;
  planned.n_ctx = o.n_ctx;
  st_capi::fail_if_problem(smallthinker::check_session_options(planned), "st_model_options");
  if (o.n_ctx > 0) m.plan_ctx = o.n_ctx;
  if (o.cache_policy) {
    const std::string p = o.cache_policy;
    if (p != "lru" && p != "lfu" && p != "lfu_cyclic")
      fail(ST_ERR_INVALID_ARGUMENT, "st_model_options.cache_policy is '" + p + "': use lru, lfu or lfu_cyclic");
    m.cache_policy = p;
  }
  if (o.kv_type_k) m.plan_kv_types.k = o.kv_type_k;
  if (o.kv_type_v) m.plan_kv_types.v = o.kv_type_v;
  if (o.chat_template) m.chat_template = o.chat_template;  // v3
  st_capi::fail_if_problem(smallthinker::check_model_options(m), "st_model_options");
  if (o.progress) {
    const st_progress_fn fn = o.progress;
    void* user = o.progress_user_data;
    m.progress = [fn, user](uint64_t done, uint64_t total) { fn(done, total, user); };
  }
  return m;
}

// A missing or unreadable file is an I/O error naming it; anything the loader then refuses
// (not GGUF, not SmallThinker, truncated) is a bad model.
std::shared_ptr<smallthinker::Model> load_checked(const smallthinker::ModelOptions& o) {
  if (FILE* f = std::fopen(o.path.c_str(), "rb")) {
    std::fclose(f);
  } else {
    fail(ST_ERR_IO, "cannot open model file " + o.path + ": " + std::strerror(errno));
  }
  try {
    return smallthinker::Model::load(o);
  } catch (const std::invalid_argument&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::runtime_error& e) {
    // The memory plan's refusal (the budget below what the process and the model's dense
    // weights need) is about the option, not the file.
    if (std::string_view(e.what()).starts_with("memory budget"))
      fail(ST_ERR_INVALID_ARGUMENT, std::string("st_model_options.memory_budget: ") + e.what());
    fail(ST_ERR_BAD_MODEL, e.what());
  }
}

const smallthinker::Model& text_model(st_model* model) {
  st_capi::require_live(model, "model");
  const smallthinker::Model& m = *model->loaded->model;
  if (!m.has_tokenizer())
    fail(ST_ERR_NO_TOKENIZER, "the model file has no tokenizer (tokenizer.ggml.* metadata): use token ids");
  return m;
}

std::vector<smallthinker::ChatMessage> to_cpp(const st_chat_message* messages, size_t n) {
  if (n) require(messages, "messages");
  std::vector<smallthinker::ChatMessage> out;
  for (size_t i = 0; i < n; ++i) {
    if (!messages[i].role || !messages[i].content)
      fail(ST_ERR_INVALID_ARGUMENT, "messages[" + std::to_string(i) + "] has a NULL role or content");
    out.push_back({messages[i].role, messages[i].content});
  }
  return out;
}

void copy_name(const std::string& name, char (&out)[128]) {
  const size_t n = std::min(name.size(), sizeof out - 1);
  std::memcpy(out, name.data(), n);
  out[n] = '\0';
}

}  // namespace

extern "C" {

void st_model_options_init(st_model_options* options) {
  if (!options) return;
  *options = st_model_options{};
  options->struct_size = sizeof(st_model_options);
  options->n_ctx = 4096;
}

st_status st_model_load(const st_model_options* options, st_model** out_model) {
  return st_capi::guard(nullptr, [&] {
    require(out_model, "out_model");
    *out_model = nullptr;
    require(options, "options");
    st_model_options given;
    st_model_options_init(&given);
    st_capi::read_versioned(*options, offsetof(st_model_options, cache_policy), given, "st_model_options");
    const smallthinker::ModelOptions o = to_cpp(given);
    auto loaded = std::make_shared<st_capi::LoadedModel>();
    loaded->model = load_checked(o);
    loaded->default_ctx = given.n_ctx;
    loaded->kv_types = o.plan_kv_types;
    auto handle = std::make_unique<st_model>();
    handle->loaded = std::move(loaded);
    st_capi::register_handle(handle.get());
    *out_model = handle.release();
    return ST_OK;
  });
}

void st_model_free(st_model* model) {
  if (model && st_capi::unregister_handle(model)) delete model;
}

const char* st_model_last_error(const st_model* model) {
  if (!model) return "model is NULL";
  return st_capi::is_live(model) ? model->error.get() : "model is not a live handle (already freed?)";
}

st_status st_model_get_info(st_model* model, st_model_info* info) {
  return st_capi::guard(st_capi::slot_of(model), [&] {
    st_capi::require_live(model, "model");
    require(info, "info");
    const smallthinker::Model& m = *model->loaded->model;
    const smallthinker::ModelInfo& i = m.info();
    st_model_info out{};
    copy_name(i.name, out.name);
    out.n_layer = i.n_layer;
    out.n_embd = i.n_embd;
    out.n_head = i.n_head;
    out.n_head_kv = i.n_head_kv;
    out.head_dim = i.head_dim;
    out.n_expert = i.n_expert;
    out.n_expert_used = i.n_expert_used;
    out.n_ff_exp = i.n_ff_exp;
    out.n_vocab = i.n_vocab;
    out.n_ctx_train = i.n_ctx_train;
    out.n_threads = m.n_threads();
    out.has_tokenizer = m.has_tokenizer() ? 1 : 0;
    out.file_bytes = i.file_bytes;
    st_capi::write_versioned(out, sizeof(st_model_info), *info, "st_model_info");
    return ST_OK;
  });
}

st_status st_tokenize(st_model* model, const char* text, size_t text_len, int parse_special, int32_t* tokens,
                      size_t capacity, size_t* n_tokens) {
  return st_capi::guard(st_capi::slot_of(model), [&] {
    const smallthinker::Model& m = text_model(model);
    if (text_len) require(text, "text");
    const auto ids = m.tokenize(std::string(text ? text : "", text_len), parse_special != 0);
    return st_capi::write_out(ids.data(), ids.size(), tokens, capacity, n_tokens, "tokens");
  });
}

st_status st_detokenize(st_model* model, const int32_t* tokens, size_t n_tokens, char* text, size_t capacity,
                        size_t* text_len) {
  return st_capi::guard(st_capi::slot_of(model), [&] {
    const smallthinker::Model& m = text_model(model);
    if (n_tokens) require(tokens, "tokens");
    const std::string s = m.detokenize(std::span<const int32_t>(tokens, n_tokens));
    return st_capi::write_out(s.data(), s.size(), text, capacity, text_len, "text");
  });
}

st_status st_chat_apply_template(st_model* model, const st_chat_message* messages, size_t n_messages,
                                 int add_generation_prompt, char* text, size_t capacity, size_t* text_len) {
  return st_capi::guard(st_capi::slot_of(model), [&] {
    const smallthinker::Model& m = text_model(model);
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (const auto& msg : to_cpp(messages, n_messages)) list.push_back({{"role", msg.role}, {"content", msg.content}});
    const std::string s = m.render_chat(list.dump(), "", add_generation_prompt != 0).text;
    const st_status st = st_capi::write_out(s.data(), s.size(), text, capacity, text_len, "text");
    if (capacity > s.size()) text[s.size()] = '\0';
    return st;
  });
}

st_status st_chat_tokens(st_model* model, const st_chat_message* messages, size_t n_messages, int add_generation_prompt,
                         int32_t* tokens, size_t capacity, size_t* n_tokens) {
  return st_capi::guard(st_capi::slot_of(model), [&] {
    const smallthinker::Model& m = text_model(model);
    const auto msgs = to_cpp(messages, n_messages);
    const auto ids = m.chat_tokens(msgs, add_generation_prompt != 0);
    return st_capi::write_out(ids.data(), ids.size(), tokens, capacity, n_tokens, "tokens");
  });
}

st_status st_model_stop_tokens(st_model* model, int32_t* tokens, size_t capacity, size_t* n_tokens) {
  return st_capi::guard(st_capi::slot_of(model), [&] {
    const smallthinker::Model& m = text_model(model);
    const auto ids = m.stop_tokens();
    return st_capi::write_out(ids.data(), ids.size(), tokens, capacity, n_tokens, "tokens");
  });
}

}  // extern "C"
