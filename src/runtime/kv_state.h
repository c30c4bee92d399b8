// A session's state on disk (the prompt cache of `run`/`chat --prompt-cache` and the server's
// slot files): the token ids, the KV rows in use and the fingerprint of the model that made
// them, so a later process resumes without recomputing the prompt.
//
// Layout (little-endian, version 1):
//   "STKVSTAT" | u32 version | u32 n_layer | u32 kv_width | u32 k_type | u32 v_type | u32 reserved
//   | u64 model file size | u64 model header hash | u32 name length | name
//   | i64 n_ctx at save | i64 n_past | i32 tokens[n_past]
//   | per layer: i64 first position | i64 rows | K rows | V rows   (rows in position order)
//   | u64 checksum of everything before it
// Only the positions a layer holds are written: a global layer's 0..n_past-1, a sliding-window
// ring's last `window` of them (unrolled into position order), so the file grows with the
// tokens stored, not with -c. Restoring re-places each position in its slot of the new cache,
// so a different -c works as long as the tokens fit; a different K/V type is refused.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "runtime/kv_cache.h"

namespace st {

// Identifies a model file cheaply: its size and a hash of its header (metadata and tensor
// table: names, shapes, types and offsets), so another model or another quantization differ.
struct ModelFingerprint {
  uint64_t file_size = 0;
  uint64_t header_hash = 0;
  std::string name;  // the model's file name, for messages
};
ModelFingerprint model_fingerprint(const uint8_t* bytes, uint64_t header_bytes, uint64_t file_size, std::string name);

constexpr uint32_t kKvStateVersion = 1;

// Writes `kv` (its first kv.n_past() positions) and `tokens` (one per position) to `path`
// through OutputFile (temporary file + rename). `inputs` are files it must not overwrite.
void save_kv_state(const std::string& path, KvCache& kv, std::span<const int32_t> tokens, const ModelFingerprint& model,
                   const std::vector<std::string>& inputs = {});

// Reads a state file into `kv` and returns its tokens. Throws std::runtime_error naming the
// file and the reason (not a state file, another version, truncated, corrupt, another model,
// another KV type, more tokens than the context) and leaves `kv` empty on any failure.
std::vector<int32_t> load_kv_state(const std::string& path, KvCache& kv, const ModelFingerprint& model, int64_t n_vocab);

}  // namespace st
