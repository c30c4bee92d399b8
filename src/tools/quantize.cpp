// `smallthinker quantize IN.gguf OUT.gguf TYPE`: re-encodes every tensor of a GGUF file to the
// type the scheme's rules give it (tools/quant_rules.h, docs/QUANTIZE.md), copying metadata.
// Streams like convert: one output tensor in memory at a time, input pages dropped after use.
// A tensor whose type does not change is copied byte for byte (no second rounding).
#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "formats/gguf.h"
#include "formats/gguf_names.h"
#include "formats/output_file.h"
#include "kernels/kernel_table.h"
#include "kernels/thread_pool.h"
#include "smallthinker/tools.h"
#include "tools/quant_rules.h"
#include "tools/tensor_encode.h"

namespace smallthinker {
namespace names = st::gguf_names;

void quantize_model(const std::string& in_path, const std::string& out_path, const QuantizeOptions& o,
                    const TensorReportFn& on_tensor) {
  const auto scheme = quant_scheme_from_name(o.type);
  if (!scheme) {
    std::string known;
    for (const auto& n : quant_scheme_names()) known += (known.empty() ? "" : ", ") + n;
    throw std::invalid_argument("quantization type '" + o.type + "' is not known (" + known + ")");
  }
  // By device and inode, not by name: ./in.gguf, a symbolic or a hard link are the input too.
  st::check_output_path(out_path, {in_path});
  const auto in = st::GgufFile::open(in_path);
  const std::string arch = in->get_string_or(std::string(names::kArchitecture), "");
  if (arch != names::kArchSmallThinker)
    throw std::runtime_error(in_path + ": general.architecture is '" + arch + "', expected 'smallthinker'");
  const int n_layer = static_cast<int>(in->get_int(names::arch_key(arch, names::kBlockCount)));
  const bool tied = in->find_tensor(names::kOutput) == nullptr;

  st::GgufWriter w(in->alignment());
  for (const auto& [key, value] : in->metadata()) w.set(key, value);
  w.set(std::string(names::kFileType), st::GgufValue::u32(scheme->llama_file_type));
  if (st::tensor_type_info(scheme->base).block_size > 1) w.set("general.quantization_version", st::GgufValue::u32(2));

  st::ThreadPool pool(o.n_threads);
  const auto& tensors = in->tensors();
  std::vector<TensorReport> reports(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const st::GgufTensorInfo& t = tensors[i];
    const st::TensorType out_type = choose_tensor_type(*scheme, o.pure, {t.name, t.n_dims, t.ne[0], n_layer, tied});
    if (!st::kernels_supported(t.type))
      throw std::runtime_error(in_path + ": tensor '" + t.name + "' has type " + st::type_label(t.type) +
                               ", which this engine cannot read (supported: " + st::supported_weight_types() + ")");
    std::vector<int64_t> ne(t.ne, t.ne + std::max(1, t.n_dims));
    TensorReport& r = reports[i];
    r.name = t.name;
    r.type_in = std::string(st::tensor_type_name(t.type));
    r.type_out = std::string(st::tensor_type_name(out_type));
    r.ne = ne;
    const st::GgufFile* file = in.get();
    w.add_tensor(t.name, out_type, ne, [&t, &r, out_type, file, &pool](std::span<uint8_t> dst) {
      r.bytes_out = dst.size();
      if (out_type == t.type) {
        std::copy(t.data, t.data + t.n_bytes, dst.begin());
        release_gguf_range(*file, t.file_offset, t.file_offset + t.n_bytes);
        return;
      }
      const size_t in_row = st::row_bytes(t.type, t.ne[0]);
      const st::KernelTable& kin = st::kernel_table(t.type);
      RowSource src;
      src.n_rows = t.n_rows();
      src.n_cols = t.ne[0];
      src.source_bytes_per_row = in_row;
      src.read = [&](int64_t row, float* out) { kin.dequantize_row(t.data + static_cast<size_t>(row) * in_row, out, t.ne[0]); };
      src.release = [&](int64_t first, int64_t last) {
        release_gguf_range(*file, t.file_offset + static_cast<uint64_t>(first) * in_row,
                           t.file_offset + static_cast<uint64_t>(last) * in_row);
      };
      r.rel_rms_error = encode_rows(src, out_type, dst, pool).relative_rms();
    });
  }
  w.write(out_path, [&](size_t done, size_t total) {
    if (on_tensor) on_tensor(reports[done - 1], done, total);
  });
}

}  // namespace smallthinker
