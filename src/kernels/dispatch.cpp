// Picks the instruction set once and builds one KernelTable per tensor type and ISA. The only
// code in the engine that reads CPU features. Tables start from ref/ and each ISA folder
// overrides the entries it specialises, so a missing SIMD kernel falls back to the next ISA.
#include <array>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "kernels/kernel_table.h"
#include "kernels/ref/ref.h"
#include "kernels/ref/row_loops.h"
#if ST_HAVE_X86_KERNELS
#include "kernels/avx2/avx2.h"
#include "kernels/avx512/avx512.h"
#endif
#if ST_HAVE_NEON_KERNELS
#include <asm/hwcap.h>
#include <sys/auxv.h>

#include "kernels/neon/neon.h"
#endif

namespace st {
namespace {

constexpr std::array kTypes{TensorType::F32,  TensorType::F16,    TensorType::BF16,  TensorType::Q4_0, TensorType::Q4_1,
                            TensorType::Q5_0, TensorType::Q5_1,   TensorType::Q8_0,  TensorType::Q8_1, TensorType::Q2_K,
                            TensorType::Q3_K, TensorType::Q4_K,   TensorType::Q5_K,  TensorType::Q6_K, TensorType::Q8_K,
                            TensorType::IQ4_NL, TensorType::IQ4_XS, TensorType::IQ2_XXS, TensorType::IQ2_XS,
                            TensorType::IQ2_S, TensorType::IQ3_XXS, TensorType::IQ3_S, TensorType::IQ1_S,
                            TensorType::IQ1_M};
constexpr std::array kIsas{Isa::scalar, Isa::avx2, Isa::avx512, Isa::neon, Isa::neon_dotprod};

std::invalid_argument no_kernels(TensorType type) {
  return std::invalid_argument("tensor type " + type_label(type) + " has no kernels in this engine (weight types: " +
                               supported_weight_types() + ")");
}

template <VecDotFn Dot>
KernelTable weight_table(TensorType type, TensorType dot_type, DequantizeRowFn dq, QuantizeRowFn q) {
  return {type, dot_type, dq, q, Dot, ref::gemv_by_dot<Dot>, ref::gemm_by_dot<Dot>};
}

KernelTable float_table(KernelTable t) {
  ref::set_float_rows(t);
  return t;
}

KernelTable ref_table(TensorType type) {
  using T = TensorType;
  switch (type) {
    case T::F32:
      return float_table(weight_table<ref::vec_dot_f32>(type, T::F32, ref::dequantize_row_f32, ref::quantize_row_f32));
    case T::F16:
      return float_table(weight_table<ref::vec_dot_f16>(type, T::F16, ref::dequantize_row_f16, ref::quantize_row_f16));
    case T::BF16:
      return float_table(weight_table<ref::vec_dot_bf16>(type, T::BF16, ref::dequantize_row_bf16, ref::quantize_row_bf16));
    case T::Q4_0:
      return float_table(weight_table<ref::vec_dot_q4_0>(type, T::Q8_0, ref::dequantize_row_q4_0, ref::quantize_row_q4_0));
    case T::Q4_1:
      return weight_table<ref::vec_dot_q4_1>(type, T::Q8_1, ref::dequantize_row_q4_1, ref::quantize_row_q4_1);
    case T::Q5_0:
      return weight_table<ref::vec_dot_q5_0>(type, T::Q8_0, ref::dequantize_row_q5_0, ref::quantize_row_q5_0);
    case T::Q5_1:
      return weight_table<ref::vec_dot_q5_1>(type, T::Q8_1, ref::dequantize_row_q5_1, ref::quantize_row_q5_1);
    case T::Q8_0:
      return float_table(weight_table<ref::vec_dot_q8_0>(type, T::Q8_0, ref::dequantize_row_q8_0, ref::quantize_row_q8_0));
    case T::Q2_K:
      return weight_table<ref::vec_dot_q2_k>(type, T::Q8_K, ref::dequantize_row_q2_k, ref::quantize_row_q2_k);
    case T::Q3_K:
      return weight_table<ref::vec_dot_q3_k>(type, T::Q8_K, ref::dequantize_row_q3_k, ref::quantize_row_q3_k);
    case T::Q4_K:
      return weight_table<ref::vec_dot_q4_k>(type, T::Q8_K, ref::dequantize_row_q4_k, ref::quantize_row_q4_k);
    case T::Q5_K:
      return weight_table<ref::vec_dot_q5_k>(type, T::Q8_K, ref::dequantize_row_q5_k, ref::quantize_row_q5_k);
    case T::Q6_K:
      return weight_table<ref::vec_dot_q6_k>(type, T::Q8_K, ref::dequantize_row_q6_k, ref::quantize_row_q6_k);
    case T::IQ4_NL:
      return weight_table<ref::vec_dot_iq4_nl>(type, T::Q8_0, ref::dequantize_row_iq4_nl, ref::quantize_row_iq4_nl);
    case T::IQ4_XS:
      return weight_table<ref::vec_dot_iq4_xs>(type, T::Q8_K, ref::dequantize_row_iq4_xs, ref::quantize_row_iq4_xs);
    case T::IQ2_XXS:
      return weight_table<ref::vec_dot_iq2_xxs>(type, T::Q8_K, ref::dequantize_row_iq2_xxs, nullptr);
    case T::IQ2_XS:
      return weight_table<ref::vec_dot_iq2_xs>(type, T::Q8_K, ref::dequantize_row_iq2_xs, nullptr);
    case T::IQ2_S:
      return weight_table<ref::vec_dot_iq2_s>(type, T::Q8_K, ref::dequantize_row_iq2_s, nullptr);
    case T::IQ3_XXS:
      return weight_table<ref::vec_dot_iq3_xxs>(type, T::Q8_K, ref::dequantize_row_iq3_xxs, nullptr);
    case T::IQ3_S:
      return weight_table<ref::vec_dot_iq3_s>(type, T::Q8_K, ref::dequantize_row_iq3_s, nullptr);
    case T::IQ1_S:
      return weight_table<ref::vec_dot_iq1_s>(type, T::Q8_K, ref::dequantize_row_iq1_s, nullptr);
    case T::IQ1_M:
      return weight_table<ref::vec_dot_iq1_m>(type, T::Q8_K, ref::dequantize_row_iq1_m, nullptr);
    // Activation-only types: produced by quantize_row, never multiplied as weights.
    case T::Q8_1: return {type, type, ref::dequantize_row_q8_1, ref::quantize_row_q8_1, nullptr, nullptr, nullptr};
    case T::Q8_K: return {type, type, ref::dequantize_row_q8_k, ref::quantize_row_q8_k, nullptr, nullptr, nullptr};
    default: break;
  }
  throw no_kernels(type);
}

struct CpuFeatures {
  bool avx2 = false;    // AVX2 + FMA + F16C: the avx2/ folder's flags
  bool avx512 = false;  // AVX-512 F/BW/VL/DQ + VNNI: the avx512/ folder's kernels
  bool avx512_bf16 = false;
  bool neon = false;     // Advanced SIMD (every aarch64 Linux CPU): the neon/ folder
  bool dotprod = false;  // SDOT/UDOT (ARMv8.2 dotprod): neon/*_dotprod.cpp
};

CpuFeatures detect_cpu() {
  CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
  // __builtin_cpu_supports also checks that the OS saves the wider registers (XCR0).
  __builtin_cpu_init();
  f.avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  f.avx512 = f.avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("avx512vnni");
  f.avx512_bf16 = f.avx512 && __builtin_cpu_supports("avx512bf16");
#endif
#if ST_HAVE_NEON_KERNELS
  const unsigned long hwcap = getauxval(AT_HWCAP);
  f.neon = (hwcap & HWCAP_ASIMD) != 0;
  f.dotprod = f.neon && (hwcap & HWCAP_ASIMDDP) != 0;
#endif
  return f;
}

const CpuFeatures& cpu() {
  static const CpuFeatures f = detect_cpu();
  return f;
}

bool usable(Isa isa) {
  switch (isa) {
    case Isa::scalar: return true;
#if ST_HAVE_X86_KERNELS
    case Isa::avx2: return cpu().avx2;
    case Isa::avx512: return cpu().avx512;
#endif
#if ST_HAVE_NEON_KERNELS
    case Isa::neon: return cpu().neon;
    case Isa::neon_dotprod: return cpu().dotprod;
#endif
    default: return false;
  }
}

using TypeTables = std::array<KernelTable, kTypes.size()>;

TypeTables build_tables(Isa isa) {
  TypeTables tables{};
  for (size_t i = 0; i < kTypes.size(); ++i) {
    tables[i] = ref_table(kTypes[i]);
    if (kTypes[i] == TensorType::Q4_0 || kTypes[i] == TensorType::Q8_0) tables[i].neuron_columns = ref::neuron_columns_group;
#if ST_HAVE_X86_KERNELS
    if (isa == Isa::avx2 || isa == Isa::avx512) avx2::override_kernels(tables[i]);
    if (isa == Isa::avx512) avx512::override_kernels(tables[i], cpu().avx512_bf16);
#endif
#if ST_HAVE_NEON_KERNELS
    if (isa == Isa::neon || isa == Isa::neon_dotprod) neon::override_kernels(tables[i]);
    if (isa == Isa::neon_dotprod) neon::override_kernels_dotprod(tables[i]);
#endif
  }
  return tables;
}

const TypeTables& tables_for(Isa isa) {
  if (!usable(isa))
    throw std::runtime_error("kernel ISA '" + std::string(isa_name(isa)) + "' is not usable on this CPU");
  static const auto all = [] {
    std::array<TypeTables, kIsas.size()> t{};
    for (size_t i = 0; i < kIsas.size(); ++i)
      if (usable(kIsas[i])) t[i] = build_tables(kIsas[i]);
    return t;
  }();
  return all[static_cast<size_t>(isa)];
}

// The type-independent kernels, layered like the tables.
IsaKernels build_isa_kernels(Isa isa) {
  IsaKernels k;
  k.read_all = ref::read_all;
#if ST_HAVE_X86_KERNELS
  if (isa == Isa::avx2) k.read_all = avx2::read_all;
  if (isa == Isa::avx512) k.read_all = avx512::read_all;
#endif
#if ST_HAVE_NEON_KERNELS
  if (isa == Isa::neon || isa == Isa::neon_dotprod) k.read_all = neon::read_all;
#endif
  return k;
}

Isa choose_isa() {
  const char* forced = std::getenv("ST_FORCE_ISA");
  if (forced && *forced) {
    const std::string_view name = std::string_view(forced) == "ref" ? "scalar" : forced;  // ref/ is the scalar ISA
    for (Isa isa : kIsas) {
      if (isa_name(isa) == name) {
        if (!usable(isa)) throw std::runtime_error("ST_FORCE_ISA=" + std::string(forced) + ": not usable on this CPU");
        return isa;
      }
    }
    throw std::runtime_error("ST_FORCE_ISA=" + std::string(forced) +
                             ": expected scalar (or ref), avx2, avx512, neon or neon_dotprod");
  }
  Isa best = Isa::scalar;
  for (Isa isa : kIsas)
    if (usable(isa)) best = isa;
  return best;
}

}  // namespace

std::string_view isa_name(Isa isa) {
  switch (isa) {
    case Isa::scalar: return "scalar";
    case Isa::avx2: return "avx2";
    case Isa::avx512: return "avx512";
    case Isa::neon: return "neon";
    case Isa::neon_dotprod: return "neon_dotprod";
  }
  return "unknown";
}

Isa active_isa() {
  static const Isa isa = choose_isa();  // a throw leaves it unset, so every call reports it
  return isa;
}

std::vector<Isa> available_isas() {
  std::vector<Isa> out;
  for (Isa isa : kIsas)
    if (usable(isa)) out.push_back(isa);
  return out;
}

const KernelTable& kernel_table(TensorType type, Isa isa) {
  const TypeTables& tables = tables_for(isa);
  for (size_t i = 0; i < kTypes.size(); ++i)
    if (kTypes[i] == type) return tables[i];
  throw no_kernels(type);
}

bool kernels_supported(TensorType type) {
  for (TensorType t : kTypes)
    if (t == type) return true;
  return false;
}

bool weight_type_supported(TensorType type) {
  return kernels_supported(type) && type != TensorType::Q8_1 && type != TensorType::Q8_K;
}

std::string supported_weight_types() {
  std::string s;
  for (TensorType t : kTypes)
    if (weight_type_supported(t)) s += (s.empty() ? "" : ", ") + std::string(tensor_type_name(t));
  return s;
}

const KernelTable& kernel_table(TensorType type) { return kernel_table(type, active_isa()); }

const IsaKernels& isa_kernels(Isa isa) {
  (void)tables_for(isa);  // throws for an ISA this CPU cannot run
  static const auto all = [] {
    std::array<IsaKernels, kIsas.size()> k{};
    for (size_t i = 0; i < kIsas.size(); ++i) k[i] = build_isa_kernels(kIsas[i]);
    return k;
  }();
  return all[static_cast<size_t>(isa)];
}

const IsaKernels& isa_kernels() { return isa_kernels(active_isa()); }

}  // namespace st
