// The session state on disk (prompt cache, server slot files): restoring a saved context and
// evaluating the rest gives the logits of a session that never stopped, bit for bit, for every
// KV type and for sliding-window rings as well as global layers; bad files are clear errors.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "smallthinker/engine.h"
#include "smallthinker/tools.h"

namespace smallthinker {
namespace {

std::string synth(const std::string& preset, const std::string& type) {
  const std::string path = ::testing::TempDir() + "/pcache_" + preset + "_" + type + ".gguf";
  if (!std::filesystem::exists(path)) {
    SynthOptions o;
    o.preset = preset;
    o.type = type;
    o.seed = 7;
    synth_model(o, path);
  }
  return path;
}

std::shared_ptr<Model> load(const std::string& path) {
  ModelOptions o;
  o.path = path;
  o.n_threads = 2;
  return Model::load(o);
}

SessionOptions session_opts(int64_t n_ctx, const std::string& k, const std::string& v) {
  SessionOptions so;
  so.n_ctx = n_ctx;
  so.kv_types = {k, v};
  return so;
}

std::vector<int32_t> tokens(int n, int offset = 0) {
  std::vector<int32_t> t;
  for (int i = 0; i < n; ++i) t.push_back(((i + offset) * 131 + 17) % 256);
  return t;
}

std::vector<float> copy(std::span<const float> s) { return {s.begin(), s.end()}; }

std::string temp(const std::string& name) { return ::testing::TempDir() + "/pcache_" + name; }

struct Types {
  std::string k, v;
};
class RestoreIsExact : public ::testing::TestWithParam<Types> {};

// The prefix (40 tokens) is longer than tiny-swa's window of 16: its rings have wrapped.
TEST_P(RestoreIsExact, RestoredContextGivesTheSameLogitsBitForBit) {
  const auto [k, v] = GetParam();
  const std::string model_path = synth("tiny-swa", "f32");
  const std::string file = temp("exact_" + k + "_" + v + ".bin");
  const auto prefix = tokens(40), rest = tokens(12, 40);
  std::vector<float> expected;
  {
    auto model = load(model_path);
    Session s(model, session_opts(256, k, v));
    s.eval(prefix);
    s.save_state(file, prefix);
    expected = copy(s.eval(rest, true));
  }
  for (int64_t n_ctx : {256, 100}) {  // another -c re-places the same positions
    SCOPED_TRACE("n_ctx " + std::to_string(n_ctx));
    auto model = load(model_path);
    Session s(model, session_opts(n_ctx, k, v));
    EXPECT_EQ(s.load_state(file), prefix);
    EXPECT_EQ(s.n_past(), 40);
    const auto got = copy(s.eval(rest, true));
    ASSERT_EQ(got.size(), expected.size());
    EXPECT_EQ(std::memcmp(got.data(), expected.data(), got.size() * sizeof(float)), 0);
  }
}

INSTANTIATE_TEST_SUITE_P(KvTypes, RestoreIsExact,
                         ::testing::Values(Types{"f16", "f16"}, Types{"f32", "f32"}, Types{"bf16", "bf16"},
                                           Types{"q8_0", "q8_0"}, Types{"q4_0", "f16"}),
                         [](const auto& p) { return p.param.k + "_" + p.param.v; });

// A global-only model can go back to any prefix of what was saved.
TEST(PromptCache, ShorterPrefixOfARestoredContextIsExact) {
  const std::string model_path = synth("tiny", "f32");
  const std::string file = temp("prefix.bin");
  auto model = load(model_path);
  std::vector<float> expected;
  {
    Session s(model, session_opts(128, "f16", "f16"));
    s.eval(tokens(20));
    expected = copy(s.eval(tokens(10, 1000), true));
    s.reset();
    s.eval(tokens(50));
    s.save_state(file, tokens(50));
  }
  Session s(model, session_opts(128, "f16", "f16"));
  s.load_state(file);
  ASSERT_TRUE(s.truncate(20));
  const auto got = copy(s.eval(tokens(10, 1000), true));
  EXPECT_EQ(std::memcmp(got.data(), expected.data(), got.size() * sizeof(float)), 0);
}

TEST(PromptCache, FileGrowsWithTheTokensNotTheContext) {
  auto model = load(synth("tiny-swa", "f32"));
  Session s(model, session_opts(4096, "f16", "f16"));
  s.eval(tokens(8));
  s.save_state(temp("small.bin"), tokens(8));
  s.eval(tokens(64, 8));
  auto all = tokens(8);
  const auto more = tokens(64, 8);
  all.insert(all.end(), more.begin(), more.end());
  s.save_state(temp("large.bin"), all);
  const auto small = std::filesystem::file_size(temp("small.bin")), large = std::filesystem::file_size(temp("large.bin"));
  EXPECT_LT(small * 4, large);  // 8 vs 72 tokens (the rings stop at 16)
  EXPECT_LT(large * 20, 4096 * 5 * 2 * 2 * 128u);  // far below a 4096-position f16 allocation
}

std::string load_error(const std::string& model_path, const std::string& file, const SessionOptions& so) {
  auto model = load(model_path);
  Session s(model, so);
  try {
    s.load_state(file);
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(s.n_past(), 0);  // nothing of a refused file stays in the context
    return e.what();
  }
  return "";
}

TEST(PromptCache, ForeignTruncatedCorruptAndNewerFilesAreClearErrors) {
  const std::string model_path = synth("tiny-swa", "f32");
  const std::string file = temp("good.bin");
  {
    auto model = load(model_path);
    Session s(model, session_opts(256, "f16", "f16"));
    s.eval(tokens(30));
    s.save_state(file, tokens(30));
  }
  const auto so = session_opts(256, "f16", "f16");
  std::string e = load_error(synth("tiny-swa", "q8_0"), file, so);
  EXPECT_NE(e.find("another model"), std::string::npos) << e;
  EXPECT_NE(e.find(file), std::string::npos) << e;
  e = load_error(model_path, file, session_opts(256, "q8_0", "f16"));
  EXPECT_NE(e.find("-ctk/-ctv"), std::string::npos) << e;
  e = load_error(model_path, file, session_opts(20, "f16", "f16"));
  EXPECT_NE(e.find("larger -c"), std::string::npos) << e;

  std::string bytes;
  {
    std::ifstream in(file, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  const auto write = [&](const std::string& name, const std::string& b) {
    std::ofstream(temp(name), std::ios::binary) << b;
    return temp(name);
  };
  for (size_t cut : {size_t{0}, size_t{5}, size_t{40}, bytes.size() / 2, bytes.size() - 1}) {
    e = load_error(model_path, write("cut.bin", bytes.substr(0, cut)), so);
    EXPECT_NE(e.find("truncated"), std::string::npos) << cut << ": " << e;
  }
  std::string b = bytes;
  b[8] = 9;  // the version
  EXPECT_NE(load_error(model_path, write("v9.bin", b), so).find("format version 9"), std::string::npos);
  b = bytes;
  b[b.size() - 100] ^= 1;  // a KV byte
  EXPECT_NE(load_error(model_path, write("flip.bin", b), so).find("corrupt"), std::string::npos);
  b = bytes;
  b.replace(0, 8, "GGUF\3\0\0\0");
  EXPECT_NE(load_error(model_path, write("gguf.bin", b), so).find("not a smallthinker prompt cache"), std::string::npos);
  // A hostile token count must be refused before anything is allocated.
  b = bytes;
  const size_t n_past_at = 8 + 6 * 4 + 16 + 4 + std::filesystem::path(model_path).filename().string().size() + 8;
  const int64_t huge = int64_t{1} << 60;
  b.replace(n_past_at, 8, std::string(reinterpret_cast<const char*>(&huge), 8));
  EXPECT_NE(load_error(model_path, write("huge.bin", b), so).find("truncated or corrupt"), std::string::npos);
}

}  // namespace
}  // namespace smallthinker
