// Temporary output files that a signal must not leave behind (output_file.h explains when the
// handler is installed). Private to the output-file unit.
#pragma once
#include <cstddef>
#include <string>

namespace st::temp_files {

// Registers a temporary file for removal if a signal ends the process; installs the handlers
// on first use. Returns a slot for remove(), or -1 when the path cannot be registered (longer
// than PATH_MAX, or every slot taken): the caller still removes it on every other path.
int add(const std::string& path);
// The file was renamed to its final name or removed by its owner: forget it.
void remove(int slot);
// Registered files right now.
size_t live();

}  // namespace st::temp_files
