// The per-tensor lines `convert` and `quantize` print (stdout, one per tensor, parseable):
//   [  12/ 323] blk.0.attn_v.weight  bf16 -> q6_k  {256, 64}  1.2 MiB  rel_rms 0.0183
// rel_rms = sqrt(sum (q - x)^2 / sum x^2) of the dequantized output q against the input x.
#pragma once
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>

#include <unistd.h>

#include "smallthinker/tools.h"

namespace st::cli {

class TensorReportPrinter {
 public:
  void print(const smallthinker::TensorReport& r, size_t done, size_t total) {
    std::string shape = "{";
    for (size_t i = 0; i < r.ne.size(); ++i) shape += (i ? ", " : "") + std::to_string(r.ne[i]);
    shape += "}";
    std::printf("[%4zu/%4zu] %-32s %5s -> %-5s %-22s %10.2f MiB  rel_rms %.6f\n", done, total, r.name.c_str(),
                r.type_in.c_str(), r.type_out.c_str(), shape.c_str(), static_cast<double>(r.bytes_out) / (1 << 20),
                r.rel_rms_error);
    std::fflush(stdout);
    // With the report redirected to a file, show progress on the terminal instead.
    if (progress_) std::fprintf(stderr, "\r%zu/%zu tensors", done, total);
    if (progress_ && done == total) std::fprintf(stderr, "\n");
    bytes_ += r.bytes_out;
    ++by_type_[r.type_out];
  }
  // "1.23 GiB; 97 q4_k, 12 q6_k, 65 f32"
  std::string summary() const {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.2f GiB", static_cast<double>(bytes_) / (1ull << 30));
    std::string s = buf;
    const char* sep = "; ";
    for (const auto& [type, n] : by_type_) {
      s += sep + std::to_string(n) + " " + type;
      sep = ", ";
    }
    return s;
  }

 private:
  bool progress_ = !isatty(STDOUT_FILENO) && isatty(STDERR_FILENO);
  uint64_t bytes_ = 0;
  std::map<std::string, int> by_type_;
};

}  // namespace st::cli
