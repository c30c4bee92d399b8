// The C API's tool calling (API version 3): OpenAI-shaped chat rendering (messages with
// tool_calls and role "tool", tools shown by the template) and samplers constrained to tool
// calls. Parsing calls out of the generated text stays with the caller (the format is in the
// header), as the server's own parser lives with the server.
#include <string>
#include <vector>

#include "capi/out_buffer.h"
#include "capi/session_parts.h"

using st_capi::fail;
using st_capi::require;

namespace {

const smallthinker::Model& chat_model(st_model* model) {
  st_capi::require_live(model, "model");
  const smallthinker::Model& m = *model->loaded->model;
  if (!m.has_tokenizer())
    fail(ST_ERR_NO_TOKENIZER, "the model file has no tokenizer (tokenizer.ggml.* metadata): use token ids");
  return m;
}

smallthinker::Model::ChatPrompt render(st_model* model, const char* messages_json, const char* tools_json,
                                       int add_generation_prompt) {
  const smallthinker::Model& m = chat_model(model);
  require(messages_json, "messages_json");
  return m.render_chat(messages_json, tools_json ? tools_json : "", add_generation_prompt != 0);
}

std::vector<smallthinker::Sampler::Tool> to_cpp(const st_tool* tools, size_t n) {
  if (n) require(tools, "tools");
  std::vector<smallthinker::Sampler::Tool> out;
  for (size_t i = 0; i < n; ++i) {
    const std::string at = "tools[" + std::to_string(i) + "]";
    if (!tools[i].name || !*tools[i].name) fail(ST_ERR_INVALID_ARGUMENT, at + ".name is NULL or empty");
    for (size_t j = 0; j < i; ++j)
      if (std::string(tools[j].name) == tools[i].name)
        fail(ST_ERR_INVALID_ARGUMENT, at + ".name: two tools are named '" + tools[i].name + "'");
    out.push_back({tools[i].name, tools[i].parameters ? tools[i].parameters : ""});
  }
  return out;
}

smallthinker::Sampler::ToolChoice to_cpp(st_tool_choice choice, size_t n_tools) {
  using Choice = smallthinker::Sampler::ToolChoice;
  switch (choice) {
    case ST_TOOL_CHOICE_AUTO: return Choice::automatic;
    case ST_TOOL_CHOICE_NONE: return Choice::none;
    case ST_TOOL_CHOICE_REQUIRED:
      if (n_tools == 0) fail(ST_ERR_INVALID_ARGUMENT, "choice is ST_TOOL_CHOICE_REQUIRED but n_tools is 0");
      return Choice::required;
    case ST_TOOL_CHOICE_MAX_: break;
  }
  fail(ST_ERR_INVALID_ARGUMENT, "choice is " + std::to_string(static_cast<int>(choice)) +
                                    ": use ST_TOOL_CHOICE_AUTO, _REQUIRED or _NONE");
}

}  // namespace

extern "C" {

st_status st_chat_json_tokens(st_model* model, const char* messages_json, const char* tools_json,
                              int add_generation_prompt, int32_t* tokens, size_t capacity, size_t* n_tokens) {
  return st_capi::guard(st_capi::slot_of(model), [&] {
    const auto ids = render(model, messages_json, tools_json, add_generation_prompt).tokens;
    return st_capi::write_out(ids.data(), ids.size(), tokens, capacity, n_tokens, "tokens");
  });
}

st_status st_chat_json_text(st_model* model, const char* messages_json, const char* tools_json,
                            int add_generation_prompt, char* text, size_t capacity, size_t* text_len) {
  return st_capi::guard(st_capi::slot_of(model), [&] {
    const std::string s = render(model, messages_json, tools_json, add_generation_prompt).text;
    const st_status st = st_capi::write_out(s.data(), s.size(), text, capacity, text_len, "text");
    if (capacity > s.size()) text[s.size()] = '\0';
    return st;
  });
}

st_status st_sampler_new_tools(st_model* model, const st_sampling_params* params, const st_tool* tools,
                               size_t n_tools, st_tool_choice choice, int parallel_calls, st_sampler** out_sampler) {
  return st_capi::guard(st_capi::slot_of(model), [&] {
    require(out_sampler, "out_sampler");
    *out_sampler = nullptr;
    const smallthinker::Model& m = chat_model(model);
    const st_capi::SamplingRequest r = st_capi::to_cpp(params);
    if (r.constrained())
      fail(ST_ERR_INVALID_ARGUMENT, "st_sampling_params: json_object/json_schema cannot be combined with tools");
    const auto list = to_cpp(tools, n_tools);
    const auto c = to_cpp(choice, n_tools);
    auto handle = std::make_unique<st_sampler>();
    handle->loaded = model->loaded;
    try {
      handle->sampler = std::make_unique<smallthinker::Sampler>(m, r.options, list, c, parallel_calls != 0);
    } catch (const smallthinker::Sampler::ToolSchemaError& e) {
      fail(ST_ERR_INVALID_ARGUMENT, "tools[" + std::to_string(e.tool) + "].parameters: " + e.what());
    }
    st_capi::register_handle(handle.get());
    *out_sampler = handle.release();
    return ST_OK;
  });
}

}  // extern "C"
