// Sparse ReGLU micro-benchmarks: one token through one 4B-shaped expert (n_embd 1536, n_ff
// 768), one thread, cycling over enough experts (~170 MB) that the weights come from DRAM as
// in decode. Dense: gate, up and down products on row groups (each as two halves read
// together, as decode does) plus ReGLU and the activations' quantization. Bundles: the same
// gate products, then kernels/neuron_bundles over both parts, at several shares of zero
// neurons. Counter "dense_GB/s": the dense expert's bytes per second, so the rows compare as
// time per expert (a sparse row above the dense one is faster).
//
//   build/bench/sparse_reglu_bench            (ST_BENCH_EXPERTS=1: one expert, cache-resident)
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <random>
#include <vector>

#include "formats/tensor_type.h"
#include "kernels/kernel_table.h"
#include "kernels/matmul.h"
#include "kernels/neuron_bundles.h"
#include "kernels/row_groups.h"

namespace st {
namespace {

constexpr int64_t kH = 1536, kF = 768;
const int kExperts = getenv("ST_BENCH_EXPERTS") ? atoi(getenv("ST_BENCH_EXPERTS")) : 48;

struct Experts {
  TensorType type;
  size_t matrix_bytes;         // one expert's gate (= up = down)
  std::vector<uint8_t> gate;   // all experts, row groups
  std::vector<uint8_t> up;     // row groups
  std::vector<uint8_t> down;   // row groups
  std::vector<uint8_t> bundles;  // [expert][part 0, part 1]
};

const Experts& experts(TensorType type) {
  static std::vector<Experts> cache;
  for (const auto& e : cache)
    if (e.type == type) return e;
  Experts e{type, row_bytes(type, kH) * kF, {}, {}, {}, {}};
  std::mt19937 rng(1);
  std::normal_distribution<float> g(0.f, 1.f);
  const auto& k = kernel_table(type, Isa::scalar);
  auto random_matrix = [&](int64_t rows, int64_t cols) {  // file layout
    std::vector<float> x(static_cast<size_t>(cols));
    std::vector<uint8_t> m(row_bytes(type, cols) * static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) {
      for (auto& v : x) v = g(rng);
      k.quantize_row(x.data(), m.data() + static_cast<size_t>(r) * row_bytes(type, cols), cols);
    }
    return m;
  };
  const auto gate = random_matrix(kF, kH), up = random_matrix(kF, kH), down = random_matrix(kH, kF);
  std::vector<uint8_t> gate_g(gate.size()), up_g(up.size()), down_g(down.size()), parts(2 * e.matrix_bytes);
  pack_row_groups(type, gate.data(), kF, kH, gate_g.data());
  pack_row_groups(type, up.data(), kF, kH, up_g.data());
  pack_row_groups(type, down.data(), kH, kF, down_g.data());
  rows_to_bundles(type, up.data(), down.data(), kH, kF, parts.data(), parts.data() + e.matrix_bytes);
  for (int i = 0; i < kExperts; ++i) {  // copies: the contents do not change the speed
    e.gate.insert(e.gate.end(), gate_g.begin(), gate_g.end());
    e.up.insert(e.up.end(), up_g.begin(), up_g.end());
    e.down.insert(e.down.end(), down_g.begin(), down_g.end());
    e.bundles.insert(e.bundles.end(), parts.begin(), parts.end());
  }
  cache.push_back(std::move(e));
  return cache.back();
}

void rate(benchmark::State& state, size_t bytes) {
  state.counters["dense_GB/s"] =
      benchmark::Counter(static_cast<double>(bytes) * static_cast<double>(state.iterations()) / 1e9, benchmark::Counter::kIsRate);
}

// Gate values with about `zero` of them <= 0.
std::vector<float> gate_values(double zero) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  std::vector<float> g(static_cast<size_t>(kF));
  for (auto& v : g) v = u(rng) < zero ? -u(rng) : 0.1f + u(rng);
  return g;
}

// rows [0, n) of a row-group matrix for one token, as two halves read together.
void halves(const WeightRows& w, const QuantizedActs& act, float* y) {
  const int64_t half = w.n_rows / 2;
  matmul_rows_pair(w, 0, half, y, w, half, w.n_rows, y, act);
}

void BM_ffn_dense(benchmark::State& state, TensorType type) {
  const Experts& e = experts(type);
  std::vector<float> x(static_cast<size_t>(kH), 0.5f), gate(static_cast<size_t>(kF)), up(gate.size()),
      out(static_cast<size_t>(kH));
  QuantizedActs act, act_down;
  quantize_acts(type, x.data(), 1, kH, act, nullptr);
  const auto gv = gate_values(0.5);
  int i = 0;
  for (auto _ : state) {
    const size_t off = e.matrix_bytes * static_cast<size_t>(i);
    const WeightRows wg{type, kH, kF, row_bytes(type, kH), e.gate.data() + off, true};
    const WeightRows wu{type, kH, kF, row_bytes(type, kH), e.up.data() + off, true};
    const WeightRows wd{type, kF, kH, row_bytes(type, kF), e.down.data() + off, true};
    halves(wg, act, gate.data());
    halves(wu, act, up.data());
    for (int64_t j = 0; j < kF; ++j) up[static_cast<size_t>(j)] *= gv[static_cast<size_t>(j)] > 0 ? gv[static_cast<size_t>(j)] : 0.f;
    quantize_acts(type, up.data(), 1, kF, act_down, nullptr);
    halves(wd, act_down, out.data());
    benchmark::DoNotOptimize(out.data());
    i = (i + 1) % kExperts;
  }
  rate(state, 3 * e.matrix_bytes);
}

void BM_ffn_bundles(benchmark::State& state, TensorType type) {
  const Experts& e = experts(type);
  const BundleShape shape(type, kH, kF);
  std::vector<float> x(static_cast<size_t>(kH), 0.5f), gate(static_cast<size_t>(kF)), out(static_cast<size_t>(kH)),
      out1(out.size());
  QuantizedActs act;
  quantize_acts(type, x.data(), 1, kH, act, nullptr);
  const auto gv = gate_values(static_cast<double>(state.range(0)) / 100.0);
  int i = 0;
  for (auto _ : state) {
    const WeightRows wg{type, kH, kF, row_bytes(type, kH), e.gate.data() + e.matrix_bytes * static_cast<size_t>(i), true};
    halves(wg, act, gate.data());  // computed for the time; the gates used are gv's, for a set share
    const uint8_t* parts = e.bundles.data() + 2 * e.matrix_bytes * static_cast<size_t>(i);
    bundle_ffn(shape, parts, 0, gv.data(), 1, act.row(0), act.row_bytes, act.block_sums.data(), out.data());
    bundle_ffn(shape, parts + e.matrix_bytes, 1, gv.data(), 1, act.row(0), act.row_bytes, act.block_sums.data(), out1.data());
    benchmark::DoNotOptimize(out.data());
    benchmark::DoNotOptimize(out1.data());
    i = (i + 1) % kExperts;
  }
  rate(state, 3 * e.matrix_bytes);
}

BENCHMARK_CAPTURE(BM_ffn_dense, q4_0, TensorType::Q4_0);
BENCHMARK_CAPTURE(BM_ffn_bundles, q4_0, TensorType::Q4_0)->Arg(0)->Arg(50)->Arg(70)->Arg(80)->Arg(90);
BENCHMARK_CAPTURE(BM_ffn_dense, q8_0, TensorType::Q8_0);
BENCHMARK_CAPTURE(BM_ffn_bundles, q8_0, TensorType::Q8_0)->Arg(0)->Arg(50)->Arg(70)->Arg(80)->Arg(90);

}  // namespace
}  // namespace st

BENCHMARK_MAIN();
