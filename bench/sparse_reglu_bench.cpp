// Sparse ReGLU micro-benchmarks on 4B-shaped experts (n_embd 1536, n_ff 768), one thread,
// cycling over enough experts (~85 MB per matrix kind) that weights come from DRAM as in
// decode: the dense down gemv against the neuron-column product, and the dense up gemv
// against the row-list product (matmul_row_list on the file layout), at several shares of zero
// neurons (0 = the dense product of the whole matrix). Counter "dense_GB/s" is the
// dense matrix's bytes per second (so sparse and dense compare as time per expert).
//
//   build/bench/sparse_reglu_bench            (ST_BENCH_EXPERTS=1: one expert, cache-resident)
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <random>
#include <vector>

#include "formats/tensor_type.h"
#include "kernels/kernel_table.h"
#include "kernels/matmul.h"
#include "kernels/neuron_columns.h"

namespace st {
namespace {

constexpr int64_t kH = 1536, kF = 768;
const int kExperts = getenv("ST_BENCH_EXPERTS") ? atoi(getenv("ST_BENCH_EXPERTS")) : 128;

struct Experts {
  TensorType type;
  size_t bytes;                 // one expert's matrix
  std::vector<uint8_t> rows;    // down in the file layout, all experts
  std::vector<uint8_t> cols;    // the same in neuron columns
  std::vector<uint8_t> up;      // up matrices [kF rows x kH]
};

const Experts& experts(TensorType type) {
  static std::vector<Experts> cache;
  for (const auto& e : cache)
    if (e.type == type) return e;
  Experts e{type, row_bytes(type, kF) * kH, {}, {}, {}};
  std::mt19937 rng(1);
  std::normal_distribution<float> g(0.f, 1.f);
  std::vector<float> x(static_cast<size_t>(kF));
  std::vector<uint8_t> one(e.bytes);
  const auto& k = kernel_table(type, Isa::scalar);
  for (int64_t r = 0; r < kH; ++r) {  // one random expert, copied (contents do not change speed)
    for (auto& v : x) v = g(rng);
    k.quantize_row(x.data(), one.data() + static_cast<size_t>(r) * row_bytes(type, kF), kF);
  }
  std::vector<uint8_t> one_cols(e.bytes);
  rows_to_neuron_columns(type, one.data(), kH, kF, one_cols.data());
  for (int i = 0; i < kExperts; ++i) {
    e.rows.insert(e.rows.end(), one.begin(), one.end());
    e.cols.insert(e.cols.end(), one_cols.begin(), one_cols.end());
    e.up.insert(e.up.end(), one.begin(), one.end());  // same byte count: [kF x kH]
  }
  cache.push_back(std::move(e));
  return cache.back();
}

// A ReGLU activation row with about `zero` of kF neurons exactly 0, in Q8_0, and its active list.
void sparse_act(double zero, std::vector<uint8_t>& qa, std::vector<int32_t>& active) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  std::vector<float> a(static_cast<size_t>(kF));
  active.clear();
  for (int64_t j = 0; j < kF; ++j) {
    a[static_cast<size_t>(j)] = u(rng) < zero ? 0.f : 0.1f + u(rng);
    if (a[static_cast<size_t>(j)] != 0.f) active.push_back(static_cast<int32_t>(j));
  }
  qa.resize(row_bytes(TensorType::Q8_0, kF));
  kernel_table(TensorType::Q8_0).quantize_row(a.data(), qa.data(), kF);
}

void rate(benchmark::State& state, size_t bytes) {
  state.counters["dense_GB/s"] =
      benchmark::Counter(static_cast<double>(bytes) * static_cast<double>(state.iterations()) / 1e9, benchmark::Counter::kIsRate);
}

void BM_down_dense(benchmark::State& state, TensorType type) {
  const Experts& e = experts(type);
  std::vector<uint8_t> qa;
  std::vector<int32_t> active;
  sparse_act(0.5, qa, active);
  std::vector<float> y(static_cast<size_t>(kH));
  int i = 0;
  for (auto _ : state) {
    kernel_table(type).gemv(kF, e.rows.data() + e.bytes * static_cast<size_t>(i), row_bytes(type, kF), kH, qa.data(), y.data());
    benchmark::DoNotOptimize(y.data());
    i = (i + 1) % kExperts;
  }
  rate(state, e.bytes);
}

void BM_down_columns(benchmark::State& state, TensorType type) {
  const Experts& e = experts(type);
  std::vector<uint8_t> qa;
  std::vector<int32_t> active;
  sparse_act(static_cast<double>(state.range(0)) / 100.0, qa, active);
  std::vector<float> y(static_cast<size_t>(kH));
  int i = 0;
  for (auto _ : state) {
    neuron_columns_down(type, e.cols.data() + e.bytes * static_cast<size_t>(i), kH, kF, qa.data(), active, 0, kH, y.data());
    benchmark::DoNotOptimize(y.data());
    i = (i + 1) % kExperts;
  }
  rate(state, e.bytes);
}

// One token's up product `product(up matrix, activations, y)` over the cycled experts.
template <class Product>
void up_bench(benchmark::State& state, TensorType type, Product product) {
  const Experts& e = experts(type);
  std::vector<float> x(static_cast<size_t>(kH), 0.5f);
  QuantizedActs qa;
  quantize_acts(type, x.data(), 1, kH, qa, nullptr);
  std::vector<float> y(static_cast<size_t>(kF));
  int i = 0;
  for (auto _ : state) {
    const WeightRows w{type, kH, kF, row_bytes(type, kH), e.up.data() + e.bytes * static_cast<size_t>(i)};
    product(w, qa, y.data());
    benchmark::DoNotOptimize(y.data());
    i = (i + 1) % kExperts;
  }
  rate(state, e.bytes);
}

void BM_up_rows(benchmark::State& state, TensorType type) {
  const double zero = static_cast<double>(state.range(0)) / 100.0;
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  std::vector<int32_t> rows;
  for (int64_t r = 0; r < kF; ++r)
    if (u(rng) >= zero) rows.push_back(static_cast<int32_t>(r));
  up_bench(state, type, [&](const WeightRows& w, const QuantizedActs& qa, float* y) {
    if (zero == 0) matmul_rows(w, 0, kF, qa, y, kF);
    else matmul_row_list(w, rows, qa, y, kF);
  });
}

// The up matrix's plain file-layout gemv: the dense baseline of the row-list product (BM_up_rows
// at 0 goes through matmul_rows, which on an ISA with row-group kernels stages the rows).
void BM_up_gemv(benchmark::State& state, TensorType type) {
  up_bench(state, type, [type](const WeightRows& w, const QuantizedActs& qa, float* y) {
    kernel_table(type).gemv(kH, w.data, w.row_bytes, kF, qa.bytes.data(), y);
  });
}

BENCHMARK_CAPTURE(BM_down_dense, q4_0, TensorType::Q4_0);
BENCHMARK_CAPTURE(BM_down_columns, q4_0, TensorType::Q4_0)->Arg(0)->Arg(50)->Arg(70)->Arg(90);
BENCHMARK_CAPTURE(BM_up_gemv, q4_0, TensorType::Q4_0);
BENCHMARK_CAPTURE(BM_up_rows, q4_0, TensorType::Q4_0)->Arg(0)->Arg(50)->Arg(70)->Arg(90);
BENCHMARK_CAPTURE(BM_down_dense, q8_0, TensorType::Q8_0);
BENCHMARK_CAPTURE(BM_down_columns, q8_0, TensorType::Q8_0)->Arg(0)->Arg(50)->Arg(70)->Arg(90);
BENCHMARK_CAPTURE(BM_up_gemv, q8_0, TensorType::Q8_0);
BENCHMARK_CAPTURE(BM_up_rows, q8_0, TensorType::Q8_0)->Arg(0)->Arg(50)->Arg(70)->Arg(90);

}  // namespace
}  // namespace st

BENCHMARK_MAIN();
