#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace aiot {

// Writes `data` to `path` so that a reader (or a restart after a crash) sees either the old file
// or the whole new one: a temporary file beside it, fsync, rename. `mode` applies to a new file.
Status WriteFileAtomic(const std::string& path, std::string_view data, unsigned mode = 0644);
// The same for bytes (a model file).
Status WriteFileAtomic(const std::string& path, const std::vector<uint8_t>& bytes,
                       unsigned mode = 0644);

// The whole file, bytes as they are: not_found when it does not exist, io_error when it cannot be
// opened otherwise or a read fails (a directory); the message names the path and why.
Result<std::string> ReadWholeFile(const std::string& path);

// The first line of a one-line secret file (a token, a password), without its line ending and
// trailing spaces; io_error when the file cannot be read or is empty.
Result<std::string> ReadFirstLine(const std::string& path);

}  // namespace aiot
