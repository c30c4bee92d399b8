// Pieces the C API's session, sampler and generation files share.
#pragma once
#include <cstdint>
#include <string>

#include "capi/handles.h"

namespace st_capi {

// st_sampling_params (NULL: the defaults) as the engine's options and constraint.
struct SamplingRequest {
  smallthinker::SamplingOptions options;
  bool json_object = false;
  std::string json_schema;
  bool constrained() const { return json_object || !json_schema.empty(); }
};
SamplingRequest to_cpp(const st_sampling_params* params);

// Refuses ids outside the vocabulary and more tokens than the context has room for, before
// anything is evaluated, so a failed call leaves the session as it was.
void check_tokens(const st_session& s, const int32_t* tokens, size_t n);

// The session's live handle, or INVALID_ARGUMENT.
st_session& live_session(st_session* s);

}  // namespace st_capi
