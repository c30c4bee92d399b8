// The one range check of sampling/session/model options shared by the CLI, the server and
// the library (smallthinker/options_check.h), and the library's use of it.
#include "smallthinker/options_check.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <limits>

#include "smallthinker/tools.h"

namespace smallthinker {
namespace {

std::string problem_field(const std::optional<OptionProblem>& p) { return p ? p->field : "(none)"; }

TEST(OptionsCheck, DefaultsPass) {
  EXPECT_FALSE(check_sampling_options({}));
  EXPECT_FALSE(check_session_options({}));
  ModelOptions m;
  m.path = "x.gguf";
  EXPECT_FALSE(check_model_options(m));
  EXPECT_FALSE(check_n_predict(-1));
  EXPECT_FALSE(check_n_predict(0));
}

// The values the CLI used to take silently (issue 18): each is named by its API field.
TEST(OptionsCheck, OutOfRangeSamplingValuesAreNamed) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  struct Case {
    void (*set)(SamplingOptions&, float);
    float value;
    const char* field;
  };
  const Case cases[] = {
      {[](SamplingOptions& s, float v) { s.temperature = v; }, nan, "temperature"},
      {[](SamplingOptions& s, float v) { s.temperature = v; }, -1, "temperature"},
      {[](SamplingOptions& s, float v) { s.temperature = v; }, 10.5f, "temperature"},
      {[](SamplingOptions& s, float v) { s.top_p = v; }, 2, "top_p"},
      {[](SamplingOptions& s, float v) { s.top_p = v; }, -0.1f, "top_p"},
      {[](SamplingOptions& s, float v) { s.top_k = static_cast<int>(v); }, -3, "top_k"},
      {[](SamplingOptions& s, float v) { s.min_p = v; }, 1.5f, "min_p"},
      {[](SamplingOptions& s, float v) { s.repeat_penalty = v; }, -1, "repeat_penalty"},
      {[](SamplingOptions& s, float v) { s.repeat_last_n = static_cast<int>(v); }, -1, "repeat_last_n"},
      {[](SamplingOptions& s, float v) { s.presence_penalty = v; }, 3, "presence_penalty"},
      {[](SamplingOptions& s, float v) { s.frequency_penalty = v; }, std::numeric_limits<float>::infinity(),
       "frequency_penalty"},
  };
  for (const Case& c : cases) {
    SamplingOptions s;
    c.set(s, c.value);
    const auto p = check_sampling_options(s);
    EXPECT_EQ(problem_field(p), c.field) << c.value;
    if (p) {
      EXPECT_NE(p->message.find("must be between"), std::string::npos) << p->message;
    }
  }
  // A repeat penalty of 0 divides repeated tokens' positive logits by zero: one rule for the
  // CLI, the server and the C API (the server accepted it, the C API refused it).
  SamplingOptions zero;
  zero.repeat_penalty = 0;
  EXPECT_EQ(problem_field(check_sampling_options(zero)), "repeat_penalty");
  SamplingOptions edge;  // the bounds themselves are allowed
  edge.temperature = 0;
  edge.top_p = 1;
  edge.top_k = 0;
  edge.min_p = 0;
  edge.presence_penalty = -2;
  EXPECT_FALSE(check_sampling_options(edge));
}

TEST(OptionsCheck, SessionAndModelValues) {
  SessionOptions s;
  s.n_ctx = -5;  // planned a 16 EiB KV cache
  EXPECT_EQ(problem_field(check_session_options(s)), "n_ctx");
  s.n_ctx = 0;  // the model's own context
  EXPECT_FALSE(check_session_options(s));
  s.n_batch = 0;
  EXPECT_EQ(problem_field(check_session_options(s)), "n_batch");
  ModelOptions m;
  m.path = "x.gguf";
  m.n_threads = -1;
  EXPECT_EQ(problem_field(check_model_options(m)), "n_threads");
  m.n_threads = 0;
  m.window = -1;
  EXPECT_EQ(problem_field(check_model_options(m)), "window");
  m.window = 16;
  EXPECT_FALSE(check_model_options(m));
  EXPECT_EQ(problem_field(check_n_predict(-2)), "n_predict");
}

std::shared_ptr<Model> tiny_model() {
  const std::string path = ::testing::TempDir() + "/options_check_tiny.gguf";
  if (!std::filesystem::exists(path)) {
    SynthOptions o;
    o.seed = 7;
    synth_model(o, path);
  }
  ModelOptions m;
  m.path = path;
  m.n_threads = 1;
  return Model::load(m);
}

// The library applies the same check: a caller of Session::generate or Sampler gets the error
// the CLI and the server give.
TEST(OptionsCheck, LibraryRefusesWhatTheCheckRefuses) {
  auto model = tiny_model();
  SessionOptions so;
  so.n_ctx = 32;
  Session session(model, so);
  const std::vector<int32_t> prompt = {1, 2, 3};
  SamplingOptions bad;
  bad.top_p = 2;
  EXPECT_THROW(session.generate(prompt, 4, bad, {}, {}), std::invalid_argument);
  EXPECT_THROW({ Sampler sampler(*model, bad); }, std::invalid_argument);
  EXPECT_THROW(session.generate(prompt, -2, {}, {}, {}), std::invalid_argument);
  SessionOptions neg;
  neg.n_ctx = -5;
  EXPECT_THROW({ Session s2(model, neg); }, std::invalid_argument);
  ModelOptions mo;
  mo.path = ::testing::TempDir() + "/options_check_tiny.gguf";
  mo.n_threads = -3;
  EXPECT_THROW(Model::load(mo), std::invalid_argument);
}

// -n -1 generated nothing; it means "until a stop token or a full context", as in llama.cpp.
TEST(OptionsCheck, NPredictMinusOneRunsToTheEndOfTheContext) {
  auto model = tiny_model();
  SessionOptions so;
  so.n_ctx = 24;
  Session session(model, so);
  SamplingOptions greedy;
  greedy.temperature = 0;
  const std::vector<int32_t> out = session.generate(std::vector<int32_t>{1, 2, 3}, -1, greedy, {}, {});
  EXPECT_EQ(out.size(), 24u - 3u + 1u);  // the last token is sampled from the full context's logits
  EXPECT_EQ(session.n_past(), 24);
}

}  // namespace
}  // namespace smallthinker
