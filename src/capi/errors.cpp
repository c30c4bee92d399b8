// Versions, status names and the error boundary of the C API.
#include <cstring>
#include <new>
#include <stdexcept>
#include <system_error>
#include <unordered_set>

#include "capi/handles.h"

namespace st_capi {
namespace {

thread_local std::string thread_error;

}  // namespace

void fail(st_status status, std::string message) { throw Failure{status, std::move(message)}; }

void fail_if_problem(const std::optional<smallthinker::OptionProblem>& problem, const char* struct_name) {
  if (!problem) return;
  // The shared check names ModelOptions' fields; these two are spelled otherwise in C.
  std::string field = problem->field;
  if (field == "plan_ctx") field = "n_ctx";
  if (field == "model") field = "path";
  fail(ST_ERR_INVALID_ARGUMENT, (struct_name ? std::string(struct_name) + "." : std::string()) + field + " " + problem->message);
}

void ErrorSlot::set(const std::string& message) {
  std::lock_guard<std::mutex> lock(mutex_);
  message_ = message;
}

const char* ErrorSlot::get() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return message_.c_str();
}

st_status record(ErrorSlot* slot, st_status status, const std::string& message) {
  try {
    thread_error = message;
    if (slot) slot->set(message);
  } catch (...) {  // no memory for the message: the status still tells
  }
  return status;
}

// The library's exceptions by kind: what the caller can do about each differs.
st_status record_current_exception(ErrorSlot* slot) noexcept {
  try {
    throw;
  } catch (const std::bad_alloc&) {
    return record(slot, ST_ERR_OUT_OF_MEMORY, "out of memory");
  } catch (const std::length_error& e) {  // the forward pass's "context full"
    return record(slot, ST_ERR_CONTEXT_FULL, e.what());
  } catch (const std::invalid_argument& e) {
    return record(slot, ST_ERR_INVALID_ARGUMENT, e.what());
  } catch (const std::out_of_range& e) {  // e.g. a token id outside the vocabulary
    return record(slot, ST_ERR_INVALID_ARGUMENT, e.what());
  } catch (const std::system_error& e) {
    return record(slot, ST_ERR_IO, e.what());
  } catch (const std::logic_error& e) {
    return record(slot, ST_ERR_INTERNAL, e.what());
  } catch (const std::exception& e) {
    return record(slot, ST_ERR_RUNTIME, e.what());
  } catch (...) {
    return record(slot, ST_ERR_INTERNAL, "unknown exception");
  }
}

void check_struct_size(size_t given, size_t needed, const char* what) {
  if (given < needed)
    fail(ST_ERR_INVALID_ARGUMENT, std::string(what) + ".struct_size is " + std::to_string(given) + ", expected at least " +
                                      std::to_string(needed) + " (initialise it with its _init function or sizeof)");
}

void require(const void* p, const char* what) {
  if (!p) fail(ST_ERR_INVALID_ARGUMENT, std::string(what) + " is NULL");
}

namespace {
std::mutex live_mutex;
std::unordered_set<const void*>& live_handles() {
  static auto* handles = new std::unordered_set<const void*>;  // never destroyed: frees may run at exit
  return *handles;
}
}  // namespace

void register_handle(const void* handle) {
  std::lock_guard<std::mutex> lock(live_mutex);
  live_handles().insert(handle);
}

bool unregister_handle(const void* handle) {
  std::lock_guard<std::mutex> lock(live_mutex);
  return live_handles().erase(handle) == 1;
}

bool is_live(const void* handle) {
  std::lock_guard<std::mutex> lock(live_mutex);
  return live_handles().count(handle) == 1;
}

void require_live(const void* handle, const char* what) {
  require(handle, what);
  if (!is_live(handle))
    fail(ST_ERR_INVALID_ARGUMENT, std::string(what) + " is not a live handle of this library (already freed?)");
}

}  // namespace st_capi

extern "C" {

int st_api_version(void) { return SMALLTHINKER_API_VERSION; }

const char* st_version_string(void) { return SMALLTHINKER_VERSION_STRING; }

const char* st_last_error(void) { return st_capi::thread_error.c_str(); }

const char* st_status_name(st_status status) {
  switch (status) {
    case ST_OK: return "ST_OK";
    case ST_ERR_INVALID_ARGUMENT: return "ST_ERR_INVALID_ARGUMENT";
    case ST_ERR_IO: return "ST_ERR_IO";
    case ST_ERR_BAD_MODEL: return "ST_ERR_BAD_MODEL";
    case ST_ERR_BUFFER_TOO_SMALL: return "ST_ERR_BUFFER_TOO_SMALL";
    case ST_ERR_CONTEXT_FULL: return "ST_ERR_CONTEXT_FULL";
    case ST_ERR_OUT_OF_MEMORY: return "ST_ERR_OUT_OF_MEMORY";
    case ST_ERR_NO_TOKENIZER: return "ST_ERR_NO_TOKENIZER";
    case ST_ERR_RUNTIME: return "ST_ERR_RUNTIME";
    case ST_ERR_INTERNAL: return "ST_ERR_INTERNAL";
  }
  return "unknown st_status";
}

}  // extern "C"
