// Copying a result into a caller's buffer: the C API's one convention for outputs of a size
// the caller cannot know in advance (store the size; refuse a buffer too small for it).
#pragma once
#include <algorithm>
#include <cstddef>
#include <string>

#include "capi/handles.h"

namespace st_capi {

template <class T>
st_status write_out(const T* src, size_t n, T* dst, size_t capacity, size_t* n_out, const char* what) {
  require(n_out, (std::string("the size pointer for ") + what).c_str());
  *n_out = n;
  if (capacity && !dst) fail(ST_ERR_INVALID_ARGUMENT, std::string(what) + " is NULL but its capacity is not 0");
  if (n > capacity)
    fail(ST_ERR_BUFFER_TOO_SMALL, std::string(what) + ": the buffer holds " + std::to_string(capacity) + " but " +
                                      std::to_string(n) + " are needed");
  std::copy(src, src + n, dst);
  return ST_OK;
}

}  // namespace st_capi
