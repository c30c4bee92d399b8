// GGUF writer -> reader round trips: every metadata type and array kind, tensors of several
// types and alignments, typed getters and their error messages, and the writer's guarantees
// (validation, atomic replace, progress). Malformed input lives in gguf_malformed_test.cpp.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <stdlib.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "formats/gguf.h"
#include "formats/output_file.h"

namespace st {
namespace {

namespace fs = std::filesystem;
using VT = GgufValueType;

// A fresh directory per test, removed afterwards.
class GgufTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "gguf_test_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  fs::path dir_;
};

std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> out(n);
  for (auto& b : out) b = static_cast<uint8_t>(rng());
  return out;
}

std::vector<uint8_t> read_file(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void expect_same(const GgufValue& a, const GgufValue& b) {
  EXPECT_EQ(a.type, b.type);
  if (a.type == VT::ARRAY) {
    EXPECT_EQ(a.elem_type, b.elem_type);
  }
  EXPECT_TRUE(a.data == b.data) << a.type_name();
}

// Every scalar type at its extremes and every array kind (including empty ones), in an
// order the reader must preserve.
std::vector<std::pair<std::string, GgufValue>> every_kind_of_value() {
  using L8 = std::numeric_limits<int8_t>;
  using L16 = std::numeric_limits<int16_t>;
  using L32 = std::numeric_limits<int32_t>;
  using L64 = std::numeric_limits<int64_t>;
  return {
      {"t.u8", GgufValue::u8(255)},
      {"t.i8", GgufValue::i8(-128)},
      {"t.u16", GgufValue::u16(65535)},
      {"t.i16", GgufValue::i16(-32768)},
      {"t.u32", GgufValue::u32(0xffffffffu)},
      {"t.i32", GgufValue::i32(L32::min())},
      {"t.u64", GgufValue::u64(std::numeric_limits<uint64_t>::max())},
      {"t.i64", GgufValue::i64(L64::min())},
      {"t.f32", GgufValue::f32(-1.5f)},
      {"t.f64", GgufValue::f64(3.141592653589793)},
      {"t.bool_true", GgufValue::boolean(true)},
      {"t.bool_false", GgufValue::boolean(false)},
      {"t.string", GgufValue::string(std::string("h\xc3\xa9llo\0nul", 11))},
      {"t.empty_string", GgufValue::string("")},
      {"a.u8", GgufValue::int_array(VT::UINT8, {0, 1, 255})},
      {"a.i8", GgufValue::int_array(VT::INT8, {L8::min(), -1, L8::max()})},
      {"a.u16", GgufValue::int_array(VT::UINT16, {0, 65535})},
      {"a.i16", GgufValue::int_array(VT::INT16, {L16::min(), L16::max()})},
      {"a.u32", GgufValue::int_array(VT::UINT32, {0, 0xffffffffLL})},
      {"a.i32", GgufValue::int_array(VT::INT32, {L32::min(), 0, L32::max()})},
      {"a.u64", GgufValue::int_array(VT::UINT64, {0, L64::max()})},
      {"a.i64", GgufValue::int_array(VT::INT64, {L64::min(), L64::max()})},
      {"a.f32", GgufValue::float_array({0.5, -2.25, 1e-3f, INFINITY})},
      {"a.f64", GgufValue::float_array(VT::FLOAT64, {0.1, -1e300})},
      {"a.bool", GgufValue::bool_array({1, 0, 0, 1})},
      {"a.string", GgufValue::string_array({"a", "", "\xc4\xa0the", std::string(300, 'x')})},
      {"a.empty", GgufValue::int_array(VT::INT32, {})},
      {"a.empty_strings", GgufValue::string_array({})},
  };
}

TEST_F(GgufTest, EveryMetadataTypeRoundTrips) {
  GgufWriter w;
  const auto values = every_kind_of_value();
  for (const auto& [k, v] : values) w.set(k, v);
  w.write(path("m.gguf"));

  const auto f = GgufFile::open(path("m.gguf"));
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->alignment(), 32u);
  EXPECT_TRUE(f->tensors().empty());
  ASSERT_EQ(f->metadata().size(), values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    SCOPED_TRACE(values[i].first);
    EXPECT_EQ(f->metadata()[i].first, values[i].first);  // file order = insertion order
    expect_same(f->metadata()[i].second, values[i].second);
  }
  // The data section starts aligned even with no tensors.
  EXPECT_EQ(f->data_offset() % 32, 0u);
  EXPECT_EQ(f->file_size(), f->data_offset());
}

TEST_F(GgufTest, TypedGetters) {
  GgufWriter w;
  for (const auto& [k, v] : every_kind_of_value()) w.set(k, v);
  w.write(path("m.gguf"));
  const auto f = GgufFile::open(path("m.gguf"));

  EXPECT_EQ(f->get_int("t.u8"), 255);
  EXPECT_EQ(f->get_int("t.i8"), -128);
  EXPECT_EQ(f->get_int("t.u16"), 65535);
  EXPECT_EQ(f->get_int("t.i16"), -32768);
  EXPECT_EQ(f->get_int("t.u32"), 0xffffffffLL);
  EXPECT_EQ(f->get_int("t.i32"), std::numeric_limits<int32_t>::min());
  EXPECT_EQ(f->get_int("t.i64"), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(f->get_float("t.f32"), -1.5);
  EXPECT_EQ(f->get_float("t.f64"), 3.141592653589793);
  EXPECT_TRUE(f->get_bool("t.bool_true"));
  EXPECT_FALSE(f->get_bool("t.bool_false"));
  EXPECT_EQ(f->get_string("t.string"), std::string("h\xc3\xa9llo\0nul", 11));
  EXPECT_EQ(f->get_string_array("a.string").size(), 4u);
  EXPECT_EQ(f->get_int_array("a.u8"), (std::vector<int64_t>{0, 1, 255}));
  EXPECT_EQ(f->get_int_array("a.i8")[0], -128);
  EXPECT_EQ(f->get_float_array("a.f32")[2], static_cast<double>(1e-3f));
  EXPECT_EQ(f->get_float_array("a.f64")[0], 0.1);
  EXPECT_EQ(f->get_bool_array("a.bool"), (std::vector<uint8_t>{1, 0, 0, 1}));
  EXPECT_EQ(f->find("a.string")->array_size(), 4u);

  EXPECT_EQ(f->get_int_or("missing", 7), 7);
  EXPECT_EQ(f->get_float_or("missing", 0.25), 0.25);
  EXPECT_EQ(f->get_string_or("missing", "dflt"), "dflt");
  EXPECT_EQ(f->get_int_or("t.u16", 7), 65535);
  EXPECT_FALSE(f->has("missing"));
  EXPECT_EQ(f->find("missing"), nullptr);
}

// Messages name the file, the key, what was expected and what was found.
void expect_error(const std::function<void()>& fn, const std::vector<std::string>& parts) {
  try {
    fn();
    ADD_FAILURE() << "no GgufError thrown";
  } catch (const GgufError& e) {
    const std::string msg = e.what();
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
  }
}

TEST_F(GgufTest, GetterErrorsNameKeyKindAndType) {
  GgufWriter w;
  for (const auto& [k, v] : every_kind_of_value()) w.set(k, v);
  const std::string p = path("m.gguf");
  w.write(p);
  const auto f = GgufFile::open(p);

  expect_error([&] { f->get_int("t.u64"); }, {p + ": ", "'t.u64'", "UINT64", "does not fit"});
  expect_error([&] { f->get_int("t.f32"); }, {p + ": ", "'t.f32'", "integer", "FLOAT32"});
  expect_error([&] { f->get_float("t.u32"); }, {"'t.u32'", "float", "UINT32"});
  expect_error([&] { f->get_string("a.string"); }, {"'a.string'", "STRING", "array of STRING"});
  expect_error([&] { f->get_string_array("a.u8"); }, {"'a.u8'", "array of STRING", "array of UINT8"});
  expect_error([&] { f->get_int_array("a.f32"); }, {"'a.f32'", "array of integers", "array of FLOAT32"});
  expect_error([&] { f->get_float_array("a.i32"); }, {"'a.i32'", "array of INT32"});
  expect_error([&] { f->get_bool_array("a.u8"); }, {"'a.u8'", "BOOL"});
  expect_error([&] { f->get_bool("t.u8"); }, {"'t.u8'", "BOOL", "UINT8"});
  expect_error([&] { f->get_int("nope"); }, {p + ": ", "'nope'", "missing"});
  // A present key of the wrong kind is an error even when a default is offered.
  expect_error([&] { f->get_int_or("t.string", 1); }, {"'t.string'", "STRING"});
  expect_error([&] { f->get_string_or("t.u8", "x"); }, {"'t.u8'", "UINT8"});
}

struct TensorCase {
  std::string name;
  TensorType type;
  std::vector<int64_t> ne;
  size_t n_bytes;
};

void round_trip_tensors(const std::string& file, uint64_t alignment) {
  const std::vector<TensorCase> cases = {
      {"f32", TensorType::F32, {3, 2}, 24},
      {"f16", TensorType::F16, {5}, 10},
      {"q4_0", TensorType::Q4_0, {64, 3}, 2 * 3 * 18},
      {"q8_0", TensorType::Q8_0, {32, 1, 2}, 2 * 34},
      {"q4_k", TensorType::Q4_K, {256, 2, 2}, 4 * 144},
      {"q6_k", TensorType::Q6_K, {512}, 2 * 210},
      {"bf16", TensorType::BF16, {7, 1, 1, 2}, 28},
  };
  GgufWriter w(alignment);
  w.set("general.architecture", GgufValue::string("smallthinker"));
  std::vector<std::vector<uint8_t>> data;
  for (size_t i = 0; i < cases.size(); ++i) {
    data.push_back(random_bytes(cases[i].n_bytes, static_cast<uint32_t>(i)));
    if (i % 2 == 0) {
      w.add_tensor(cases[i].name, cases[i].type, cases[i].ne, data.back());
    } else {  // streaming form: the FillFn sees exactly the tensor's bytes
      const auto bytes = data.back();
      w.add_tensor(cases[i].name, cases[i].type, cases[i].ne, [bytes](std::span<uint8_t> dst) {
        ASSERT_EQ(dst.size(), bytes.size());
        std::copy(bytes.begin(), bytes.end(), dst.begin());
      });
    }
  }
  std::vector<std::pair<size_t, size_t>> progress;
  w.write(file, [&](size_t done, size_t total) { progress.emplace_back(done, total); });
  ASSERT_EQ(progress.size(), cases.size());
  for (size_t i = 0; i < progress.size(); ++i) EXPECT_EQ(progress[i], std::make_pair(i + 1, cases.size()));

  const std::vector<uint8_t> raw = read_file(file);
  const auto mapped = GgufFile::open(file);
  const auto parsed = GgufFile::parse(raw.data(), raw.size(), "mem.gguf");
  for (const GgufFile* f : {mapped.get(), parsed.get()}) {
    EXPECT_EQ(f->alignment(), alignment);
    EXPECT_EQ(f->data_offset() % alignment, 0u);
    EXPECT_EQ(f->file_size(), raw.size());
    EXPECT_EQ(f->file_size() % alignment, 0u);  // the last tensor is padded too
    ASSERT_EQ(f->tensors().size(), cases.size());
    for (size_t i = 0; i < cases.size(); ++i) {
      SCOPED_TRACE(cases[i].name);
      const GgufTensorInfo& t = f->tensors()[i];
      EXPECT_EQ(f->find_tensor(cases[i].name), &t);
      EXPECT_EQ(t.type, cases[i].type);
      ASSERT_EQ(t.n_dims, static_cast<int>(cases[i].ne.size()));
      for (int d = 0; d < 4; ++d)
        EXPECT_EQ(t.ne[d], d < t.n_dims ? cases[i].ne[static_cast<size_t>(d)] : 1);
      EXPECT_EQ(t.n_bytes, cases[i].n_bytes);
      EXPECT_EQ(t.offset % alignment, 0u);
      EXPECT_EQ(t.file_offset, f->data_offset() + t.offset);
      EXPECT_EQ(std::vector<uint8_t>(t.data, t.data + t.n_bytes), data[i]);
      EXPECT_EQ(std::vector<uint8_t>(raw.begin() + static_cast<ptrdiff_t>(t.file_offset),
                                     raw.begin() + static_cast<ptrdiff_t>(t.file_offset + t.n_bytes)),
                data[i]);
    }
    EXPECT_EQ(f->find_tensor("absent"), nullptr);
  }
  EXPECT_EQ(parsed->tensors()[0].data, raw.data() + parsed->tensors()[0].file_offset);
  if (alignment != 32) {
    EXPECT_EQ(mapped->get_int("general.alignment"), static_cast<int64_t>(alignment));
  }
  // Padding between tensors is zeros.
  const auto& t0 = parsed->tensors()[0];
  for (uint64_t i = t0.file_offset + t0.n_bytes; i < parsed->tensors()[1].file_offset; ++i) EXPECT_EQ(raw[i], 0);
}

TEST_F(GgufTest, TensorsRoundTripDefaultAlignment) { round_trip_tensors(path("t32.gguf"), 32); }
TEST_F(GgufTest, TensorsRoundTripAlignment64) { round_trip_tensors(path("t64.gguf"), 64); }
TEST_F(GgufTest, TensorsRoundTripAlignment1) { round_trip_tensors(path("t1.gguf"), 1); }
TEST_F(GgufTest, TensorsRoundTripAlignment4096) { round_trip_tensors(path("t4k.gguf"), 4096); }

// Every prefix of a writer-made file holding every value kind fails cleanly until the last
// tensor's data is complete (only the trailing padding may be missing).
TEST_F(GgufTest, EveryTruncationOfAWrittenFileIsAnError) {
  GgufWriter w;
  for (const auto& [k, v] : every_kind_of_value()) w.set(k, v);
  w.add_tensor("a", TensorType::Q8_0, {32}, random_bytes(34, 5));
  w.add_tensor("b", TensorType::F16, {3}, random_bytes(6, 6));
  w.write(path("m.gguf"));
  const std::vector<uint8_t> raw = read_file(path("m.gguf"));
  const auto full = GgufFile::parse(raw.data(), raw.size());
  const uint64_t data_end = full->tensors().back().file_offset + full->tensors().back().n_bytes;
  for (size_t len = 0; len < raw.size(); ++len) {
    const std::vector<uint8_t> prefix(raw.begin(), raw.begin() + static_cast<ptrdiff_t>(len));
    if (len < data_end) {
      EXPECT_THROW(GgufFile::parse(prefix.data(), prefix.size()), GgufError) << len;
    } else {
      EXPECT_NO_THROW(GgufFile::parse(prefix.data(), prefix.size())) << len;
    }
  }
}

TEST_F(GgufTest, SetReplacesInPlace) {
  GgufWriter w;
  w.set("a", GgufValue::u32(1));
  w.set("b", GgufValue::u32(2));
  w.set("a", GgufValue::string("again"));
  w.write(path("m.gguf"));
  const auto f = GgufFile::open(path("m.gguf"));
  ASSERT_EQ(f->metadata().size(), 2u);
  EXPECT_EQ(f->metadata()[0].first, "a");
  EXPECT_EQ(f->get_string("a"), "again");
  EXPECT_EQ(f->metadata()[1].first, "b");
}

TEST_F(GgufTest, SettingAlignmentKeyChangesLayout) {
  GgufWriter w;
  w.set("general.alignment", GgufValue::u32(128));
  EXPECT_EQ(w.alignment(), 128u);
  w.add_tensor("x", TensorType::F32, {3}, std::vector<uint8_t>(12, 7));
  w.add_tensor("y", TensorType::F32, {3}, std::vector<uint8_t>(12, 8));
  w.write(path("m.gguf"));
  const auto f = GgufFile::open(path("m.gguf"));
  EXPECT_EQ(f->alignment(), 128u);
  EXPECT_EQ(f->data_offset() % 128, 0u);
  EXPECT_EQ(f->find_tensor("y")->offset, 128u);
}

TEST_F(GgufTest, WriterRejectsInvalidInput) {
  EXPECT_THROW(GgufWriter(48), GgufError);
  EXPECT_THROW(GgufWriter(0), GgufError);
  EXPECT_THROW(GgufWriter(uint64_t{1} << 21), GgufError);
  GgufWriter w;
  expect_error([&] { w.set("general.alignment", GgufValue::u32(3)); }, {"general.alignment", "power of two"});
  expect_error([&] { w.set("general.alignment", GgufValue::string("32")); }, {"general.alignment", "STRING"});
  GgufValue wrong = GgufValue::u32(1);
  wrong.data = std::string("not a number");
  expect_error([&] { w.set("k", wrong); }, {"'k'", "UINT32", "wrong kind"});
  GgufValue too_big = GgufValue::u8(0);
  too_big.data = uint64_t{256};
  expect_error([&] { w.set("k", too_big); }, {"'k'", "256", "UINT8"});
  expect_error([&] { w.set("k", GgufValue::int_array(VT::INT8, {1, 200})); }, {"'k'", "element 1", "200"});
  expect_error([&] { w.set("k", GgufValue::int_array(VT::UINT32, {-1})); }, {"'k'", "-1"});
  EXPECT_NO_THROW(w.set("k", GgufValue::f64(1e300)));  // FLOAT64 holds it
  GgufValue f32_big = GgufValue::f32(0);
  f32_big.data = 1e300;
  expect_error([&] { w.set("k", f32_big); }, {"'k'", "FLOAT32"});
  expect_error([&] { w.set("k", GgufValue::bool_array({0, 2})); }, {"'k'", "element 1"});
  GgufValue nested = GgufValue::int_array(VT::INT32, {});
  nested.elem_type = VT::ARRAY;
  expect_error([&] { w.set("k", nested); }, {"arrays of arrays"});
  EXPECT_THROW(w.set("", GgufValue::u8(1)), GgufError);
  EXPECT_THROW(GgufValue::int_array(VT::FLOAT32, {}), GgufError);
  EXPECT_THROW(GgufValue::float_array(VT::INT32, {}), GgufError);

  auto fill = [](std::span<uint8_t>) {};
  expect_error([&] { w.add_tensor("q", TensorType::Q4_0, {33}, fill); }, {"'q'", "q4_0", "33"});
  expect_error([&] { w.add_tensor("q", TensorType::F32, {1, 2, 3, 4, 5}, fill); }, {"'q'", "5 dimensions"});
  expect_error([&] { w.add_tensor("q", TensorType::F32, {}, fill); }, {"'q'", "0 dimensions"});
  expect_error([&] { w.add_tensor("q", TensorType::F32, {4, 0}, fill); }, {"'q'", "ne[1] = 0"});
  expect_error([&] { w.add_tensor("q", TensorType::F32, {int64_t{1} << 40, int64_t{1} << 40}, fill); },
               {"'q'", "overflows"});
  expect_error([&] { w.add_tensor("q", TensorType::F32, {4}, std::vector<uint8_t>(15)); }, {"'q'", "15", "16"});
  w.add_tensor("q", TensorType::F32, {4}, std::vector<uint8_t>(16));  // the failed adds left no trace
  expect_error([&] { w.add_tensor("q", TensorType::F32, {4}, fill); }, {"'q'", "twice"});
  EXPECT_EQ(w.n_tensors(), 1u);
}

// A failed write leaves neither a partial file nor a temporary behind, and does not touch an
// existing file at the target path.
TEST_F(GgufTest, FailedWriteLeavesNothingBehind) {
  const std::string p = path("model.gguf");
  {
    std::ofstream(p) << "old contents";
  }
  GgufWriter w;
  w.set("general.architecture", GgufValue::string("smallthinker"));
  w.add_tensor("a", TensorType::F32, {4}, std::vector<uint8_t>(16, 1));
  w.add_tensor("b", TensorType::F32, {4}, [](std::span<uint8_t>) { throw std::runtime_error("source read failed"); });
  EXPECT_THROW(w.write(p), std::runtime_error);
  EXPECT_EQ(read_file(p), (std::vector<uint8_t>{'o', 'l', 'd', ' ', 'c', 'o', 'n', 't', 'e', 'n', 't', 's'}));
  size_t n_files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir_)) ++n_files;
  EXPECT_EQ(n_files, 1u);

  // I/O errors come from the output-file unit (output_file_test.cpp covers its cases).
  const std::string bad = path("no/such/dir/model.gguf");
  try {
    GgufWriter().write(bad);
    ADD_FAILURE() << "no error for a missing directory";
  } catch (const OutputFileError& e) {
    EXPECT_NE(std::string(e.what()).find(bad + ": cannot create the output"), std::string::npos) << e.what();
  }
}

TEST_F(GgufTest, OpenErrorsNameThePath) {
  const std::string missing = path("missing.gguf");
  expect_error([&] { GgufFile::open(missing); }, {missing + ": cannot open"});
  expect_error([&] { GgufFile::open(dir_.string()); }, {dir_.string() + ": is a directory"});
  const std::string empty = path("empty.gguf");
  { std::ofstream out(empty); }
  expect_error([&] { GgufFile::open(empty); }, {empty + ": ", "empty"});
  expect_error([&] { GgufFile::open("/dev/null"); }, {"/dev/null: is a device"});
}

// Opening a FIFO for reading blocks until a writer appears: `-m FIFO` hung for ever.
TEST_F(GgufTest, OpeningAFifoFailsAtOnce) {
  const std::string fifo = path("model.fifo");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  expect_error([&] { GgufFile::open(fifo); }, {fifo + ": is a FIFO"});
}

// The Qwen2 tokenizer's metadata: 151k tokens, 151k merges, 151k token types. Parsing must
// stay far below a second (the bound here is loose: sanitizer builds share this test).
TEST_F(GgufTest, LargeVocabularyParsesQuickly) {
  constexpr size_t kVocab = 151'936;
  std::vector<std::string> tokens(kVocab), merges(kVocab - 400);
  std::vector<int64_t> types(kVocab, 1);
  for (size_t i = 0; i < kVocab; ++i) tokens[i] = "\xc4\xa0tok" + std::to_string(i);
  for (size_t i = 0; i < merges.size(); ++i) merges[i] = "\xc4\xa0t ok" + std::to_string(i);
  GgufWriter w;
  w.set("tokenizer.ggml.tokens", GgufValue::string_array(tokens));
  w.set("tokenizer.ggml.merges", GgufValue::string_array(merges));
  w.set("tokenizer.ggml.token_type", GgufValue::int_array(VT::INT32, types));
  w.write(path("vocab.gguf"));

  const auto start = std::chrono::steady_clock::now();
  const auto f = GgufFile::open(path("vocab.gguf"));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(f->get_string_array("tokenizer.ggml.tokens"), tokens);
  EXPECT_EQ(f->get_string_array("tokenizer.ggml.merges").back(), merges.back());
  EXPECT_EQ(f->get_int_array("tokenizer.ggml.token_type").size(), kVocab);
  EXPECT_LT(seconds, 3.0);
  std::printf("parsed %zu tokens + %zu merges in %.1f ms\n", kVocab, merges.size(), seconds * 1e3);
}

// Seeds for tests/fuzz/gguf_fuzz.cpp. Run by hand when the format code changes:
//   formats_tests --gtest_also_run_disabled_tests --gtest_filter='*WriteFuzzSeeds*'
TEST_F(GgufTest, DISABLED_WriteFuzzSeeds) {
  const fs::path out = fs::path(ST_SOURCE_DIR) / "tests/fuzz/corpus/gguf";
  fs::create_directories(out);
  {
    GgufWriter w;
    for (const auto& [k, v] : every_kind_of_value()) w.set(k, v);
    w.add_tensor("x", TensorType::F32, {2, 2}, random_bytes(16, 1));
    w.write((out / "every_type.gguf").string());
  }
  {
    GgufWriter w(64);
    w.set("general.architecture", GgufValue::string("smallthinker"));
    w.set("smallthinker.block_count", GgufValue::u32(1));
    w.set("tokenizer.ggml.tokens", GgufValue::string_array({"a", "b", "ab"}));
    w.add_tensor("blk.0.ffn_up_exps.weight", TensorType::Q4_0, {32, 2, 2}, random_bytes(4 * 18, 2));
    w.add_tensor("blk.0.attn_q.weight", TensorType::Q4_K, {256, 1}, random_bytes(144, 3));
    w.add_tensor("output_norm.weight", TensorType::BF16, {3}, random_bytes(6, 4));
    w.write((out / "tensors_align64.gguf").string());
  }
  {
    GgufWriter w;
    w.write((out / "empty.gguf").string());
  }
}

}  // namespace
}  // namespace st
