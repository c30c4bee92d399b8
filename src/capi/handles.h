// The C API's handles and its error boundary: every exported function runs its body through
// st_capi::guard, which turns any C++ exception into an st_status and a message kept per
// thread and per handle, so nothing thrown ever reaches the C caller.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "smallthinker.h"
#include "smallthinker/engine.h"
#include "smallthinker/options_check.h"

namespace st_capi {

// A status with its message, thrown inside the library and caught by guard().
struct Failure {
  st_status status;
  std::string message;
};
[[noreturn]] void fail(st_status status, std::string message);

// A problem of the option check shared with the CLI and the server (smallthinker/options_check.h)
// as ST_ERR_INVALID_ARGUMENT with the shared message, prefixed with the C field's name:
// "st_sampling_params.top_p must be between 0 and 1 (got 2)". `struct_name` NULL: the field is
// a function argument (n_predict). Returns when there is no problem.
void fail_if_problem(const std::optional<smallthinker::OptionProblem>& problem, const char* struct_name);

// The last failure on one handle. Its own lock, because const model calls (tokenize, ...)
// may run in several threads at once.
class ErrorSlot {
 public:
  void set(const std::string& message);
  const char* get() const;  // valid until the next set()

 private:
  mutable std::mutex mutex_;
  std::string message_;
};

// What a model's sessions and samplers share with it, so each can outlive the st_model handle.
struct LoadedModel {
  std::shared_ptr<smallthinker::Model> model;
  int64_t default_ctx = 0;  // st_model_options.n_ctx (0: the training context)
  smallthinker::KvCacheTypes kv_types;  // st_model_options.kv_type_k/v: the sessions' default
  // The model's thread pool runs one parallel loop at a time: forward passes of sessions in
  // different threads take turns on this lock.
  std::mutex compute;
};

// Records a failure in this thread's slot and, if not null, the handle's.
st_status record(ErrorSlot* slot, st_status status, const std::string& message);

st_status record_current_exception(ErrorSlot* slot) noexcept;

// Runs body() (returning st_status); exceptions become statuses recorded in `slot`.
template <class Body>
st_status guard(ErrorSlot* slot, Body&& body) noexcept {
  try {
    return body();
  } catch (const Failure& f) {
    return record(slot, f.status, f.message);
  } catch (...) {
    return record_current_exception(slot);
  }
}

// Checks that a size field says at least `needed` bytes (structs may grow, never shrink).
void check_struct_size(size_t given, size_t needed, const char* what);
// Throws INVALID_ARGUMENT naming `what` when p is null.
void require(const void* p, const char* what);

// A caller's struct, built against any header since API version 1 (`v1_size` bytes), read over
// `out`'s defaults: fields newer than the caller's header keep them.
template <class T>
void read_versioned(const T& given, size_t v1_size, T& out, const char* what) {
  check_struct_size(given.struct_size, v1_size, what);
  std::memcpy(static_cast<void*>(&out), &given, std::min(given.struct_size, sizeof(T)));
  out.struct_size = sizeof(T);
}
// Writes `value` into a caller's struct of out.struct_size bytes (at least v1_size): fields
// newer than the caller's header are left out. struct_size becomes the bytes written.
template <class T>
void write_versioned(T value, size_t v1_size, T& out, const char* what) {
  check_struct_size(out.struct_size, v1_size, what);
  const size_t n = std::min(out.struct_size, sizeof(T));
  value.struct_size = n;
  std::memcpy(static_cast<void*>(&out), &value, n);
}

// The registry of live handles: calls with a freed pointer (or one never issued) are refused
// without reading the memory it points to.
void register_handle(const void* handle);
bool unregister_handle(const void* handle);  // false: it was not live (double free)
bool is_live(const void* handle);
// Throws INVALID_ARGUMENT naming `what` when the handle is NULL or not live.
void require_live(const void* handle, const char* what);

}  // namespace st_capi

struct st_model {
  std::shared_ptr<st_capi::LoadedModel> loaded;
  st_capi::ErrorSlot error;
};

struct st_session {
  std::shared_ptr<st_capi::LoadedModel> loaded;
  std::unique_ptr<smallthinker::Session> session;
  std::span<const float> logits;  // the last eval's, in the session's buffers (empty after generate/reset)
  std::vector<int32_t> history;   // the tokens the KV cache holds (st_session_tokens, saved state)
  st_capi::ErrorSlot error;
};

struct st_sampler {
  std::shared_ptr<st_capi::LoadedModel> loaded;
  std::unique_ptr<smallthinker::Sampler> sampler;
  st_capi::ErrorSlot error;
};

namespace st_capi {
// The handle's error slot when it is live, else none (a freed handle's memory is not touched).
template <class Handle>
ErrorSlot* slot_of(Handle* h) {
  return h && is_live(h) ? &h->error : nullptr;
}
}  // namespace st_capi
