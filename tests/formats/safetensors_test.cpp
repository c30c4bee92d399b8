// safetensors reader: hand-built files (8-byte length + JSON + data), every truncation of a
// valid file, and hostile headers. Inputs are parsed from exactly-sized heap buffers so a
// sanitizer build catches any read past the end; every error must name the file and problem.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "formats/safetensors.h"

namespace st {
namespace {

std::vector<uint8_t> file_bytes(const std::string& header_json, const std::vector<uint8_t>& data) {
  const uint64_t n = header_json.size();
  std::vector<uint8_t> b(8 + header_json.size() + data.size());
  std::memcpy(b.data(), &n, 8);
  if (!header_json.empty()) std::memcpy(b.data() + 8, header_json.data(), header_json.size());
  if (!data.empty()) std::memcpy(b.data() + 8 + header_json.size(), data.data(), data.size());
  return b;
}

// Parses from an exactly-sized heap copy; returns the error message ("" on success).
std::string parse_error(const std::vector<uint8_t>& bytes) {
  std::vector<uint8_t> copy(bytes);
  try {
    SafetensorsFile::parse(copy.data(), copy.size(), "test.safetensors");
  } catch (const SafetensorsError& e) {
    return e.what();
  }
  return "";
}

std::vector<uint8_t> valid_file() {
  // a: F32 [2, 2] (16 bytes), b: BF16 [3] (6 bytes), c: F16 [1] (2 bytes).
  std::vector<uint8_t> data(24);
  const float a[4] = {1.0f, -2.0f, 0.5f, 3.0f};
  std::memcpy(data.data(), a, 16);
  const uint16_t b[3] = {0x3f80, 0xc000, 0x0000};  // bf16 1, -2, 0
  std::memcpy(data.data() + 16, b, 6);
  const uint16_t c = 0x3c00;                      // f16 1
  std::memcpy(data.data() + 22, &c, 2);
  return file_bytes(
      R"({"__metadata__":{"format":"pt"},"b":{"dtype":"BF16","shape":[3],"data_offsets":[16,22]},)"
      R"("a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"c":{"dtype":"F16","shape":[1],"data_offsets":[22,24]}})",
      data);
}

TEST(Safetensors, ParsesValidFile) {
  const auto bytes = valid_file();
  auto f = SafetensorsFile::parse(bytes.data(), bytes.size(), "x.safetensors");
  ASSERT_EQ(f->tensors().size(), 3u);
  EXPECT_EQ(f->metadata().at("format"), "pt");
  const SafetensorsTensor* a = f->find("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->dtype, SafetensorsDtype::F32);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(a->n_elements(), 4);
  float v[4];
  std::memcpy(v, a->data, 16);
  EXPECT_EQ(v[1], -2.0f);
  const SafetensorsTensor* b = f->find("b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->dtype, SafetensorsDtype::BF16);
  EXPECT_EQ(b->file_offset, f->data_offset() + 16);
  EXPECT_EQ(b->n_bytes(), 6u);
  EXPECT_EQ(f->find("c")->dtype, SafetensorsDtype::F16);
  EXPECT_EQ(f->find("missing"), nullptr);
  // Sorted by offset.
  EXPECT_EQ(f->tensors()[0].name, "a");
  EXPECT_EQ(f->tensors()[2].name, "c");
}

TEST(Safetensors, OpensFromDisk) {
  const auto bytes = valid_file();
  const std::string path = testing::TempDir() + "/st_valid.safetensors";
  {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  }
  auto f = SafetensorsFile::open(path);
  EXPECT_EQ(f->tensors().size(), 3u);
  uint16_t b0;
  std::memcpy(&b0, f->find("b")->data, 2);
  EXPECT_EQ(b0, 0x3f80);
  f->release(*f->find("a"), 0, 16);  // must be harmless
  std::remove(path.c_str());
  try {
    SafetensorsFile::open(path);
    FAIL() << "missing file opened";
  } catch (const SafetensorsError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos);
  }
}

TEST(Safetensors, ScalarAndEmptyTensors) {
  // Shape [] is a scalar (1 element); a zero dimension gives an empty tensor.
  const auto bytes = file_bytes(R"({"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]},)"
                                R"("e":{"dtype":"BF16","shape":[0,7],"data_offsets":[4,4]}})",
                                std::vector<uint8_t>(4));
  auto f = SafetensorsFile::parse(bytes.data(), bytes.size());
  EXPECT_EQ(f->find("s")->n_elements(), 1);
  EXPECT_EQ(f->find("e")->n_elements(), 0);
}

TEST(Safetensors, EveryTruncationFails) {
  const auto bytes = valid_file();
  for (size_t n = 0; n < bytes.size(); ++n) {
    const std::string err = parse_error(std::vector<uint8_t>(bytes.begin(), bytes.begin() + static_cast<long>(n)));
    EXPECT_NE(err, "") << "truncated to " << n << " bytes parsed";
    EXPECT_NE(err.find("test.safetensors"), std::string::npos) << err;
  }
}

TEST(Safetensors, HugeHeaderLength) {
  std::vector<uint8_t> b(16, ' ');
  const uint64_t huge = ~uint64_t{0};
  std::memcpy(b.data(), &huge, 8);
  EXPECT_NE(parse_error(b).find("exceeds the limit"), std::string::npos) << parse_error(b);
  const uint64_t past_end = 1000;  // below the limit, beyond the file
  std::memcpy(b.data(), &past_end, 8);
  EXPECT_NE(parse_error(b).find("past the end"), std::string::npos) << parse_error(b);
}

TEST(Safetensors, OutOfRangeOffsets) {
  const std::vector<uint8_t> data(8);
  EXPECT_NE(parse_error(file_bytes(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", data))
                .find("past the end of the data"),
            std::string::npos);
  EXPECT_NE(parse_error(file_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})", data)).find("begin"),
            std::string::npos);
  // 18446744073709551615 fits uint64: must not wrap around in any sum.
  EXPECT_NE(parse_error(file_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[18446744073709551612,18446744073709551615]}})", data)),
            "");
  EXPECT_NE(parse_error(file_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})", data)), "");
  EXPECT_NE(parse_error(file_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", data)), "");
}

TEST(Safetensors, SizeMustMatchShape) {
  const std::vector<uint8_t> data(16);
  const std::string err = parse_error(file_bytes(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}})", data));
  EXPECT_NE(err.find("tensor 'a'"), std::string::npos) << err;
  EXPECT_NE(err.find("needs 3 x 4"), std::string::npos) << err;
  // Element-count overflow: 2^40 * 2^40.
  EXPECT_NE(parse_error(file_bytes(R"({"a":{"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,16]}})", data))
                .find("too many elements"),
            std::string::npos);
  EXPECT_NE(parse_error(file_bytes(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", data)), "");
  EXPECT_NE(parse_error(file_bytes(R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", data)), "");
}

TEST(Safetensors, OverlappingTensors) {
  const std::vector<uint8_t> data(16);
  const std::string err = parse_error(file_bytes(
      R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", data));
  EXPECT_NE(err.find("overlap"), std::string::npos) << err;
  // Identical ranges overlap too.
  EXPECT_NE(parse_error(file_bytes(
                R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", data))
                .find("overlap"),
            std::string::npos);
}

TEST(Safetensors, WrongDtype) {
  const std::vector<uint8_t> data(8);
  const std::string known = parse_error(file_bytes(R"({"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})", data));
  EXPECT_NE(known.find("dtype I64 is not supported"), std::string::npos) << known;
  const std::string unknown = parse_error(file_bytes(R"({"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,8]}})", data));
  EXPECT_NE(unknown.find("unknown dtype 'Q4'"), std::string::npos) << unknown;
  EXPECT_NE(parse_error(file_bytes(R"({"a":{"dtype":7,"shape":[1],"data_offsets":[0,4]}})", data)), "");
  EXPECT_NE(parse_error(file_bytes(R"({"a":{"shape":[1],"data_offsets":[0,4]}})", data)), "");
}

TEST(Safetensors, MalformedJson) {
  const std::vector<uint8_t> data(4);
  EXPECT_NE(parse_error(file_bytes(R"({"a":)", data)).find("not valid JSON"), std::string::npos);
  EXPECT_NE(parse_error(file_bytes(R"([1,2,3])", data)).find("not an object"), std::string::npos);
  EXPECT_NE(parse_error(file_bytes(R"({"a":5})", data)).find("not an object"), std::string::npos);
  EXPECT_NE(parse_error(file_bytes(R"({"__metadata__":{"k":1}})", data)).find("not a string"), std::string::npos);
  // Deep nesting is refused early, not recursed into.
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_NE(parse_error(file_bytes(deep, data)).find("nested too deeply"), std::string::npos);
}

}  // namespace
}  // namespace st
