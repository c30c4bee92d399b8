// Hand-built GGUF bytes: a v2 file, every truncation of a valid file, and hostile headers.
// Each malformed input must produce a GgufError whose message names the file, the place and
// the problem; the inputs are parsed from exactly-sized heap buffers so that a sanitizer build
// catches any read past the end.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "formats/gguf.h"

namespace st {
namespace {

using VT = GgufValueType;

// Little-endian byte builder for files the writer would refuse to produce.
class Bytes {
 public:
  template <class T>
  Bytes& put(T v) {
    const size_t at = b.size();
    b.resize(at + sizeof(T));
    std::memcpy(b.data() + at, &v, sizeof(T));
    return *this;
  }
  Bytes& u8(uint8_t v) { return put(v); }
  Bytes& u32(uint32_t v) { return put(v); }
  Bytes& u64(uint64_t v) { return put(v); }
  Bytes& str(std::string_view s) {
    u64(s.size());
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
  Bytes& header(uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    b.insert(b.end(), {'G', 'G', 'U', 'F'});
    return u32(version).u64(n_tensors).u64(n_kv);
  }
  Bytes& kv_u32(std::string_view key, uint32_t v) { return str(key).u32(static_cast<uint32_t>(VT::UINT32)).u32(v); }
  Bytes& kv_str(std::string_view key, std::string_view v) {
    return str(key).u32(static_cast<uint32_t>(VT::STRING)).str(v);
  }
  Bytes& tensor(std::string_view name, std::vector<uint64_t> ne, uint32_t type, uint64_t offset) {
    str(name).u32(static_cast<uint32_t>(ne.size()));
    for (uint64_t n : ne) u64(n);
    return u32(type).u64(offset);
  }
  Bytes& pad(size_t alignment) {
    while (b.size() % alignment) b.push_back(0);
    return *this;
  }
  Bytes& zeros(size_t n) {
    b.insert(b.end(), n, 0);
    return *this;
  }
  std::vector<uint8_t> b;
};

// A parsed file together with the exactly-sized heap copy it points into.
struct Parsed {
  std::unique_ptr<uint8_t[]> bytes;  // declared first: outlives `file`
  std::unique_ptr<GgufFile> file;
  const GgufFile* operator->() const { return file.get(); }
};

// Parses a heap copy of exactly these bytes (so ASan sees any overread) named "model.gguf".
Parsed parse(const std::vector<uint8_t>& bytes, size_t len = SIZE_MAX) {
  len = std::min(len, bytes.size());
  Parsed p;
  p.bytes.reset(new uint8_t[len ? len : 1]);
  std::memcpy(p.bytes.get(), bytes.data(), len);
  p.file = GgufFile::parse(p.bytes.get(), len, "model.gguf");
  // Touch every tensor's first and last byte.
  for (const auto& t : p->tensors()) {
    if (!t.data) continue;  // a type without a known layout: no data range
    volatile uint8_t first = t.data[0], last = t.data[t.n_bytes - 1];
    (void)first;
    (void)last;
  }
  return p;
}

std::string error_of(const std::vector<uint8_t>& bytes) {
  try {
    parse(bytes);
  } catch (const GgufError& e) {
    return e.what();
  }
  return "(no error)";
}

#define EXPECT_ERROR(bytes, ...)                                                          \
  do {                                                                                    \
    const std::string msg_ = error_of(bytes);                                             \
    EXPECT_EQ(msg_.rfind("model.gguf: ", 0), 0u) << msg_;                                 \
    for (const char* part_ : {__VA_ARGS__})                                               \
      EXPECT_NE(msg_.find(part_), std::string::npos) << "'" << part_ << "' not in: " << msg_; \
  } while (0)

// v2 and v3 share the layout (v1 had 32-bit counts): a v2 file written byte by byte.
TEST(GgufMalformed, ParsesVersion2) {
  Bytes f;
  f.header(2, 2, 3)
      .kv_str("general.architecture", "smallthinker")
      .kv_u32("smallthinker.block_count", 32)
      .str("tokenizer.ggml.scores").u32(static_cast<uint32_t>(VT::ARRAY)).u32(static_cast<uint32_t>(VT::FLOAT32))
      .u64(2).put(0.5f).put(-1.0f)
      .tensor("output_norm.weight", {4}, 0, 0)
      .tensor("token_embd.weight", {32, 2}, 8, 32)
      .pad(32);
  const size_t data_start = f.b.size();
  for (int i = 0; i < 16; ++i) f.u8(static_cast<uint8_t>(i));  // F32 {4}
  f.pad(32);
  for (int i = 0; i < 68; ++i) f.u8(static_cast<uint8_t>(100 + i));  // Q8_0 {32, 2}: 2 blocks of 34

  const auto g = parse(f.b);
  EXPECT_EQ(g->version(), 2u);
  EXPECT_EQ(g->get_string("general.architecture"), "smallthinker");
  EXPECT_EQ(g->get_int("smallthinker.block_count"), 32);
  EXPECT_EQ(g->get_float_array("tokenizer.ggml.scores"), (std::vector<double>{0.5, -1.0}));
  EXPECT_EQ(g->data_offset(), data_start);
  ASSERT_EQ(g->tensors().size(), 2u);
  const auto* emb = g->find_tensor("token_embd.weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->type, TensorType::Q8_0);
  EXPECT_EQ(emb->n_dims, 2);
  EXPECT_EQ(emb->n_rows(), 2);
  EXPECT_EQ(emb->n_bytes, 68u);
  EXPECT_EQ(emb->file_offset, data_start + 32);
  EXPECT_EQ(emb->data[67], 167);
  EXPECT_EQ(g->find_tensor("output_norm.weight")->data[3], 3);
}

TEST(GgufMalformed, HonoursAlignmentKey) {
  Bytes f;
  f.header(3, 1, 1).kv_u32("general.alignment", 256).tensor("w", {8}, 0, 0).pad(256).zeros(32);
  const auto g = parse(f.b);
  EXPECT_EQ(g->alignment(), 256u);
  EXPECT_EQ(g->data_offset(), 256u);
}

// llama.cpp accepts a tensor-less file that ends right after the metadata (no padding).
TEST(GgufMalformed, TensorlessFileWithoutPadding) {
  Bytes f;
  f.header(3, 0, 1).kv_u32("a", 1);
  const auto g = parse(f.b);
  EXPECT_EQ(g->get_int("a"), 1);
  EXPECT_GE(g->data_offset(), f.b.size());
}

// Every proper prefix of a valid file that cuts into the header, metadata, infos or tensor
// data is an error, never a crash; prefixes that only drop trailing padding still parse.
TEST(GgufMalformed, TruncationAtEveryOffset) {
  Bytes f;
  f.header(3, 2, 5)
      .kv_str("general.architecture", "smallthinker")
      .kv_u32("general.alignment", 16)
      .str("s").u32(static_cast<uint32_t>(VT::ARRAY)).u32(static_cast<uint32_t>(VT::STRING)).u64(2).str("ab").str("")
      .str("b").u32(static_cast<uint32_t>(VT::ARRAY)).u32(static_cast<uint32_t>(VT::BOOL)).u64(3).u8(1).u8(0).u8(1)
      .str("f").u32(static_cast<uint32_t>(VT::FLOAT64)).put(2.5)
      .tensor("a", {2, 2}, 1, 0)      // F16: 8 bytes
      .tensor("b", {32}, 2, 16)       // Q4_0: 18 bytes
      .pad(16);
  const size_t data_start = f.b.size();
  f.zeros(16).zeros(18).zeros(14);  // 'a' padded to 16, 'b', then padding to the alignment
  const size_t data_end = data_start + 16 + 18;
  ASSERT_NE(parse(f.b).file, nullptr);
  for (size_t len = 0; len < f.b.size(); ++len) {
    SCOPED_TRACE(len);
    if (len < data_end) {
      EXPECT_THROW(parse(f.b, len), GgufError);
    } else {
      EXPECT_NO_THROW(parse(f.b, len));
    }
  }
  EXPECT_ERROR(std::vector<uint8_t>(f.b.begin(), f.b.begin() + 30), "metadata", "truncated");
  EXPECT_ERROR(std::vector<uint8_t>(f.b.begin(), f.b.begin() + static_cast<ptrdiff_t>(data_end - 1)),
               "tensor 'b'", "beyond the end of the file");
}

TEST(GgufMalformed, HeaderProblems) {
  EXPECT_ERROR((std::vector<uint8_t>{'G', 'G'}), "too small");
  EXPECT_ERROR(Bytes().u32(0x464c457f).zeros(20).b, "not a GGUF file", "7f 45 4c 46");
  EXPECT_ERROR(Bytes().header(1, 0, 0).b, "version 1", "not supported");
  EXPECT_ERROR(Bytes().header(4, 0, 0).b, "unsupported GGUF version 4");
  EXPECT_ERROR(Bytes().header(0, 0, 0).b, "unsupported GGUF version 0");
  EXPECT_ERROR(Bytes().header(0x03000000, 0, 0).b, "big-endian", "version 3");
  EXPECT_ERROR(Bytes().header(0x02000000, 0, 0).b, "big-endian", "version 2");
}

TEST(GgufMalformed, HugeCountsAreRejectedBeforeAllocating) {
  const uint64_t huge = uint64_t{1} << 60;
  EXPECT_ERROR(Bytes().header(3, huge, 0).zeros(64).b, "header", "tensor count 1152921504606846976", "bytes left");
  EXPECT_ERROR(Bytes().header(3, 0, huge).zeros(64).b, "metadata entry count 1152921504606846976");
  EXPECT_ERROR(Bytes().header(3, 0, 1).str("k").u32(static_cast<uint32_t>(VT::STRING)).u64(123456789).zeros(20).b,
               "metadata key 'k': string length 123456789 exceeds the 20 bytes left in the file");
  EXPECT_ERROR(Bytes().header(3, 0, 1).u64(huge).zeros(8).b, "metadata entry 1 of 1", "key length", "exceeds");
  for (VT elem : {VT::UINT8, VT::INT64, VT::STRING, VT::BOOL, VT::FLOAT32}) {
    SCOPED_TRACE(std::string(gguf_value_type_name(elem)));
    EXPECT_ERROR(Bytes().header(3, 0, 1).str("arr").u32(9).u32(static_cast<uint32_t>(elem)).u64(huge).zeros(16).b,
                 "metadata key 'arr'", "array count", "1152921504606846976");
  }
  EXPECT_ERROR(Bytes().header(3, 0, 1).str("arr").u32(9).u32(8).u64(2).str("ok").u64(huge).zeros(4).b,
               "metadata key 'arr'", "element 1", "string length");
  EXPECT_ERROR(Bytes().header(3, 1, 0).u64(huge).zeros(40).b, "tensor info 1 of 1", "tensor name length");
}

TEST(GgufMalformed, BadMetadata) {
  EXPECT_ERROR(Bytes().header(3, 0, 2).kv_u32("dup", 1).kv_u32("dup", 2).b, "metadata key 'dup'", "duplicate key");
  EXPECT_ERROR(Bytes().header(3, 0, 1).kv_u32("", 1).b, "empty key");
  EXPECT_ERROR(Bytes().header(3, 0, 1).str("k").u32(13).u32(0).b, "metadata key 'k'", "unknown value type 13");
  EXPECT_ERROR(Bytes().header(3, 0, 1).str("k").u32(9).u32(9).u32(0).u64(0).b, "metadata key 'k'",
               "arrays of arrays");
  EXPECT_ERROR(Bytes().header(3, 0, 1).str("k").u32(9).u32(77).u64(0).b, "unknown array element type 77");
  EXPECT_ERROR(Bytes().header(3, 0, 1).str("k").u32(7).u8(2).b, "metadata key 'k'", "BOOL byte 2");
  EXPECT_ERROR(Bytes().header(3, 0, 1).str("k").u32(9).u32(7).u64(2).u8(1).u8(9).b, "element 1", "BOOL byte 9");
  EXPECT_ERROR(Bytes().header(3, 0, 1).str("k").u32(9).u32(10).u64(1).u64(~uint64_t{0}).b, "element 0",
               "does not fit");
  const std::string long_key(5000, 'k');
  const std::string msg = error_of(Bytes().header(3, 0, 2).kv_u32(long_key, 1).kv_u32(long_key, 2).b);
  EXPECT_LT(msg.size(), 400u) << "hostile keys are shortened in messages";
}

TEST(GgufMalformed, BadAlignment) {
  for (uint32_t a : {0u, 3u, 48u, 1u << 21}) {
    SCOPED_TRACE(a);
    const std::string expected = "alignment " + std::to_string(a);
    EXPECT_ERROR(Bytes().header(3, 0, 1).kv_u32("general.alignment", a).b, "general.alignment", expected.c_str(),
                 "power of two");
  }
  EXPECT_ERROR(Bytes().header(3, 0, 1).kv_str("general.alignment", "32").b, "general.alignment", "STRING");
  EXPECT_ERROR(Bytes().header(3, 0, 1).str("general.alignment").u32(11).put(int64_t{-32}).b, "alignment -32");
}

Bytes one_tensor(std::vector<uint64_t> ne, uint32_t type, uint64_t offset, size_t data_bytes) {
  Bytes f;
  f.header(3, 1, 0).tensor("w", std::move(ne), type, offset).pad(32).zeros(data_bytes);
  return f;
}

TEST(GgufMalformed, BadTensorInfos) {
  EXPECT_NO_THROW(parse(one_tensor({4, 2}, 0, 0, 32).b));
  EXPECT_ERROR(one_tensor({1, 1, 1, 1, 1}, 0, 0, 32).b, "tensor 'w'", "n_dims 5");
  EXPECT_ERROR(Bytes().header(3, 1, 0).str("w").u32(0).u32(0).u64(0).zeros(16).b, "tensor 'w'", "n_dims 0");
  EXPECT_ERROR(one_tensor({4, 0}, 0, 0, 32).b, "tensor 'w'", "ne[1] = 0");
  EXPECT_ERROR(one_tensor({uint64_t{1} << 32, uint64_t{1} << 32}, 0, 0, 32).b, "tensor 'w'", "overflows");
  EXPECT_ERROR(one_tensor({~uint64_t{0}}, 0, 0, 32).b, "tensor 'w'", "overflows");
  // Elements fit in int64 but the byte size does not.
  EXPECT_ERROR(one_tensor({uint64_t{1} << 62}, 0, 0, 32).b, "tensor 'w'", "byte size overflows");
  EXPECT_ERROR(one_tensor({4}, 99, 64, 32).b, "tensor 'w'", "beyond the end of the file");  // any type
  EXPECT_ERROR(one_tensor({48}, 2, 0, 64).b, "tensor 'w'", "ne[0] = 48", "q4_0", "32");
  EXPECT_ERROR(one_tensor({4}, 0, 16, 64).b, "tensor 'w'", "offset 16", "alignment 32");
  EXPECT_ERROR(one_tensor({4}, 0, 64, 32).b, "tensor 'w'", "beyond the end of the file");
  EXPECT_ERROR(one_tensor({4}, 0, ~uint64_t{31}, 32).b, "tensor 'w'", "beyond the end of the file");
  EXPECT_ERROR(one_tensor({8}, 0, 0, 31).b, "tensor 'w'", "beyond the end of the file");
  EXPECT_ERROR(Bytes().header(3, 1, 0).tensor("", {4}, 0, 0).pad(32).zeros(16).b, "empty tensor name");
  EXPECT_ERROR(Bytes().header(3, 2, 0).tensor("w", {4}, 0, 0).tensor("w", {4}, 0, 32).pad(32).zeros(64).b,
               "tensor 'w'", "duplicate tensor name");
  // A misaligned data offset under a non-default alignment.
  EXPECT_ERROR(Bytes().header(3, 1, 1).kv_u32("general.alignment", 64).tensor("w", {4}, 0, 32).pad(64).zeros(64).b,
               "offset 32", "alignment 64");
}

// A type id without a known layout (never assigned, or ggml's pre-GGUF Q4_2) does not stop the
// file from opening: the tensor keeps its id, with no size and no data pointer, so inspect can
// list it and the loader can name it. Known layouts (an i-quant) get their exact size.
TEST(GgufMalformed, TypesWithoutLayoutStillParse) {
  for (uint32_t id : {99u, 4u, 1000000u}) {
    const auto f = parse(one_tensor({4, 3}, id, 0, 32).b);
    ASSERT_EQ(f->tensors().size(), 1u);
    const GgufTensorInfo& t = f->tensors()[0];
    EXPECT_EQ(static_cast<uint32_t>(t.type), id);
    EXPECT_FALSE(has_layout(t.type));
    EXPECT_EQ(t.n_bytes, 0u);
    EXPECT_EQ(t.data, nullptr);
    EXPECT_EQ(t.ne[1], 3);
  }
  const auto iq = parse(one_tensor({512, 2}, 16, 0, 4 * 66).b);  // IQ2_XXS: 66 bytes per 256
  EXPECT_EQ(iq->tensors()[0].type, TensorType::IQ2_XXS);
  EXPECT_EQ(iq->tensors()[0].n_bytes, 4u * 66);
  EXPECT_ERROR(one_tensor({512, 2}, 16, 0, 4 * 66 - 1).b, "tensor 'w'", "beyond the end of the file");
  EXPECT_ERROR(one_tensor({100}, 16, 0, 66).b, "tensor 'w'", "ne[0] = 100", "iq2_xxs", "256");
}

}  // namespace
}  // namespace st
