// The public face of formats/output_file.h for the applications (include/smallthinker/tools.h).
#include "formats/output_file.h"
#include "smallthinker/tools.h"

namespace smallthinker {

void write_output_file(const std::string& path, std::string_view bytes, const std::vector<std::string>& inputs) {
  st::write_output_file(path, bytes, inputs);
}

void check_output_path(const std::string& path, const std::vector<std::string>& inputs) {
  st::check_output_path(path, inputs);
}

}  // namespace smallthinker
