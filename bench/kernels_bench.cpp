// Kernel micro-benchmarks: gemv (one token) and gemm (a prefill batch) per weight type and
// ISA, plus the activation quantizers. Counters: weight GB/s (bytes of the weight matrix
// streamed per second) and GOP/s (2 * n * rows * tokens per second).
//
//   build-kern/bench/kernels_bench --benchmark_filter='gemv/q4_0'
//
// Each benchmark runs on one thread; the "large" gemv matrices (> 100 MB) measure DRAM
// bandwidth, the others run from L2/L3.
#include <benchmark/benchmark.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "formats/tensor_type.h"
#include "kernels/kernel_table.h"
#include "kernels/ops/attention.h"
#include "kernels/row_groups.h"
#include "kernels/thread_pool.h"

namespace st {
namespace {

std::vector<float> gaussian(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.f, 1.f);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = dist(rng);
  return v;
}

// n_rows rows: 64 distinct quantized rows repeated (the content does not change the speed).
std::vector<uint8_t> weight_matrix(TensorType type, int64_t n, int64_t n_rows) {
  const size_t rb = row_bytes(type, n);
  const int64_t distinct = std::min<int64_t>(64, n_rows);
  std::vector<uint8_t> w(rb * static_cast<size_t>(n_rows));
  const auto& k = kernel_table(type, Isa::scalar);
  for (int64_t r = 0; r < distinct; ++r)
    k.quantize_row(gaussian(n, 1 + static_cast<uint32_t>(r)).data(), w.data() + r * rb, n);
  for (int64_t r = distinct; r < n_rows; ++r) std::memcpy(w.data() + r * rb, w.data() + (r % distinct) * rb, rb);
  return w;
}

std::vector<uint8_t> activations(TensorType weight_type, int64_t n, int64_t n_tok, Isa isa) {
  const auto& k = kernel_table(kernel_table(weight_type, isa).vec_dot_type, isa);
  const size_t rb = row_bytes(k.type, n);
  std::vector<uint8_t> a(rb * static_cast<size_t>(n_tok));
  for (int64_t t = 0; t < n_tok; ++t)
    k.quantize_row(gaussian(n, 100 + static_cast<uint32_t>(t)).data(), a.data() + t * rb, n);
  return a;
}

void set_counters(benchmark::State& state, double weight_bytes, double ops) {
  const auto iters = static_cast<double>(state.iterations());
  state.counters["GB/s"] = benchmark::Counter(weight_bytes * iters / 1e9, benchmark::Counter::kIsRate);
  state.counters["GOP/s"] = benchmark::Counter(ops * iters / 1e9, benchmark::Counter::kIsRate);
}

void bench_gemv(benchmark::State& state, TensorType type, Isa isa, int64_t n, int64_t n_rows) {
  const auto& k = kernel_table(type, isa);
  const auto w = weight_matrix(type, n, n_rows);
  const auto a = activations(type, n, 1, isa);
  std::vector<float> y(static_cast<size_t>(n_rows));
  const size_t rb = row_bytes(type, n);
  for (auto _ : state) {
    k.gemv(n, w.data(), rb, n_rows, a.data(), y.data());
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, static_cast<double>(w.size()), 2.0 * static_cast<double>(n * n_rows));
}

void bench_gemm(benchmark::State& state, TensorType type, Isa isa, int64_t n, int64_t n_rows, int64_t n_tok) {
  const auto& k = kernel_table(type, isa);
  const auto w = weight_matrix(type, n, n_rows);
  const auto a = activations(type, n, n_tok, isa);
  std::vector<float> y(static_cast<size_t>(n_rows * n_tok));
  const size_t rb = row_bytes(type, n), arb = row_bytes(k.vec_dot_type, n);
  for (auto _ : state) {
    k.gemm(n, w.data(), rb, n_rows, a.data(), arb, n_tok, y.data(), n_rows);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, static_cast<double>(w.size()), 2.0 * static_cast<double>(n * n_rows * n_tok));
}

// The same products on the row-group layout (kernels/row_groups.h): n_tok = 1 is decode's
// gemv, 4 the server's four streams, 64 a prefill batch.
void bench_groups(benchmark::State& state, TensorType type, Isa isa, int64_t n, int64_t n_rows, int64_t n_tok) {
  const auto& k = kernel_table(type, isa);
  const auto rows = weight_matrix(type, n, n_rows);
  std::vector<uint8_t> w(rows.size());
  pack_row_groups(type, rows.data(), n_rows, n, w.data());
  const auto a = activations(type, n, n_tok, isa);
  const size_t rb = row_bytes(type, n), arb = row_bytes(k.vec_dot_type, n);
  std::vector<int32_t> sums(static_cast<size_t>(n_tok * (n / 32)));  // Q8_0 activations only
  if (k.vec_dot_type == TensorType::Q8_0)
    for (int64_t t = 0; t < n_tok; ++t) q8_0_block_sums(a.data() + t * arb, n, sums.data() + t * (n / 32));
  std::vector<float> y(static_cast<size_t>(n_rows * n_tok));
  for (auto _ : state) {
    k.gemm_groups(n, w.data(), rb, n_rows, a.data(), arb, sums.data(), n_tok, y.data(), n_rows);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, static_cast<double>(w.size()), 2.0 * static_cast<double>(n * n_rows * n_tok));
}

void bench_quantize(benchmark::State& state, TensorType act_type, Isa isa, int64_t n) {
  const auto& k = kernel_table(act_type, isa);
  const auto x = gaussian(n, 7);
  std::vector<uint8_t> out(row_bytes(act_type, n));
  for (auto _ : state) {
    k.quantize_row(x.data(), out.data(), n);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * n * 4);
}

// Decode's one-token product over a DRAM-sized matrix in row groups, 64 rows per call as
// matmul hands them out: the two halves one after the other (pair = false) or read together
// by the two-stream kernel (pair = true). GB/s of weights.
void bench_pair(benchmark::State& state, TensorType type, Isa isa, bool pair) {
  const auto& k = kernel_table(type, isa);
  constexpr int64_t n = 1536, chunk = 64;
  const int64_t n_rows = (static_cast<int64_t>(110e6 / static_cast<double>(row_bytes(type, n))) / 128 + 1) * 128;
  const auto rows = weight_matrix(type, n, n_rows);
  std::vector<uint8_t> w(rows.size());
  pack_row_groups(type, rows.data(), n_rows, n, w.data());
  const auto a = activations(type, n, 1, isa);
  const size_t rb = row_bytes(type, n);
  std::vector<int32_t> sums(static_cast<size_t>(n / 32));
  if (k.vec_dot_type == TensorType::Q8_0) q8_0_block_sums(a.data(), n, sums.data());
  std::vector<float> y(static_cast<size_t>(n_rows));
  const int64_t half = n_rows / 2;
  for (auto _ : state) {
    for (int64_t r = 0; r < half; r += chunk) {
      if (pair) {
        k.gemm_groups_pair(n, w.data() + r * rb, w.data() + (half + r) * rb, rb, chunk, a.data(), sums.data(),
                           y.data() + r, y.data() + half + r);
      } else {
        k.gemm_groups(n, w.data() + r * rb, rb, chunk, a.data(), rb, sums.data(), 1, y.data() + r, n_rows);
        k.gemm_groups(n, w.data() + (half + r) * rb, rb, chunk, a.data(), rb, sums.data(), 1, y.data() + half + r, n_rows);
      }
    }
    benchmark::DoNotOptimize(y.data());
  }
  set_counters(state, static_cast<double>(w.size()), 2.0 * static_cast<double>(n * n_rows));
}

// Attention of the 4B shape (12 query heads, 2 KV heads of 128) over a cache of `n_past`
// positions (K and V in `type`) plus `n_tok` fresh tokens on `threads` threads: decode
// (n_tok = 1) at several context lengths, and a prefill batch. Counter: KV cache bytes read
// per second.
void bench_attention(benchmark::State& state, TensorType type, int threads, int64_t n_past, int64_t n_tok) {
  const ops::AttentionShape shape{12, 2, 128, 0};
  const int64_t kvw = 2 * 128, qw = 12 * 128;
  const auto& kt = kernel_table(type);
  const size_t rb = row_bytes(type, kvw);
  std::vector<uint8_t> k(rb * static_cast<size_t>(n_past + n_tok)), v(k.size());
  for (int64_t p = 0; p < n_past + n_tok; ++p) {
    kt.quantize_row(gaussian(kvw, 1000 + static_cast<uint32_t>(p)).data(), k.data() + p * rb, kvw);
    kt.quantize_row(gaussian(kvw, 9000 + static_cast<uint32_t>(p)).data(), v.data() + p * rb, kvw);
  }
  const auto q = gaussian(qw * n_tok, 5);
  std::vector<int64_t> pos(static_cast<size_t>(n_tok));
  for (int64_t t = 0; t < n_tok; ++t) pos[static_cast<size_t>(t)] = n_past + t;
  const std::vector<ops::KvSegment> segs{{0, n_past + n_tok, type, type, k.data(), v.data(), rb, rb}};
  std::vector<float> out(static_cast<size_t>(qw * n_tok));
  ThreadPool pool(threads);
  for (auto _ : state) {
    ops::attention(shape, q.data(), pos.data(), n_tok, segs, out.data(), pool);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["KV_GB/s"] = benchmark::Counter(2.0 * static_cast<double>(rb * static_cast<size_t>(n_past + n_tok)) *
                                                     static_cast<double>(state.iterations()) / 1e9,
                                                 benchmark::Counter::kIsRate);
}

std::string name(const char* what, TensorType t, Isa isa, const std::string& shape) {
  return std::string(what) + "/" + std::string(tensor_type_name(t)) + "/" + std::string(isa_name(isa)) + "/" + shape;
}

int register_all() {
  using T = TensorType;
  const T types[] = {T::Q4_0, T::Q8_0, T::Q4_K, T::Q6_K, T::Q5_K, T::Q4_1, T::Q5_0, T::Q5_1, T::Q3_K,
                     T::Q2_K, T::IQ4_NL, T::IQ4_XS, T::F16, T::BF16, T::F32};
  for (Isa isa : available_isas()) {
    for (T t : types) {
      const int64_t big_rows = static_cast<int64_t>(110e6 / static_cast<double>(row_bytes(t, 1536))) + 1;
      struct Shape {
        const char* label;
        int64_t n, rows;
      };
      for (Shape s : {Shape{"1536x1536", 1536, 1536}, Shape{"768x1536", 768, 1536}, Shape{"1536x4096", 1536, 4096},
                      Shape{"1536xlarge", 1536, big_rows}}) {
        benchmark::RegisterBenchmark(name("gemv", t, isa, s.label).c_str(), bench_gemv, t, isa, s.n, s.rows)
            ->Unit(benchmark::kMicrosecond);
      }
      benchmark::RegisterBenchmark(name("gemm", t, isa, "1536x1536x64tok").c_str(), bench_gemm, t, isa, 1536, 1536, 64)
          ->Unit(benchmark::kMicrosecond);
      benchmark::RegisterBenchmark(name("gemm", t, isa, "1536x1536x4tok").c_str(), bench_gemm, t, isa, 1536, 1536, 4)
          ->Unit(benchmark::kMicrosecond);
      if (kernel_table(t, isa).gemm_groups) {
        const int64_t group_rows = (static_cast<int64_t>(110e6 / static_cast<double>(row_bytes(t, 1536))) / 16 + 1) * 16;
        for (int64_t tok : {1, 4, 64})
          benchmark::RegisterBenchmark(name("groups", t, isa, "1536x1536x" + std::to_string(tok) + "tok").c_str(),
                                       bench_groups, t, isa, 1536, 1536, tok)
              ->Unit(benchmark::kMicrosecond);
        benchmark::RegisterBenchmark(name("groups", t, isa, "1536xlargex1tok").c_str(), bench_groups, t, isa, 1536,
                                     group_rows, 1)
            ->Unit(benchmark::kMicrosecond);
        if (kernel_table(t, isa).gemm_groups_pair)
          for (bool pair : {false, true})
            benchmark::RegisterBenchmark(name("pair", t, isa, pair ? "1536xlarge_two_streams" : "1536xlarge_one_stream").c_str(),
                                         bench_pair, t, isa, pair)
                ->Unit(benchmark::kMicrosecond);
      }
    }
    for (T t : {T::Q8_0, T::Q8_1, T::Q8_K})
      benchmark::RegisterBenchmark(name("quantize", t, isa, "1536").c_str(), bench_quantize, t, isa, 1536);
  }
  for (T t : {T::F16, T::Q8_0})
    for (int threads : {1, 2}) {
      const std::string pre = "attention/" + std::string(tensor_type_name(t)) + "/t" + std::to_string(threads);
      for (int64_t ctx : {64, 512, 4096, 16384})
        benchmark::RegisterBenchmark((pre + "/decode/ctx" + std::to_string(ctx)).c_str(), bench_attention, t, threads,
                                     ctx - 1, 1)
            ->Unit(benchmark::kMicrosecond);
      for (int64_t depth : {0, 4096})
        benchmark::RegisterBenchmark((pre + "/prefill/512/d" + std::to_string(depth)).c_str(), bench_attention, t,
                                     threads, depth, 512)
            ->Unit(benchmark::kMicrosecond);
    }
  return 0;
}

const int registered = register_all();

}  // namespace
}  // namespace st

BENCHMARK_MAIN();
