// Output files (the stats JSON now, VCD later) are written whole or not at
// all, and never over an input.
#pragma once
#include <functional>
#include <string>
#include <vector>

namespace cocosim {

// Why `path` cannot be an output ("" when it can): it is one of `inputs`
// (the same file, by device and inode), a directory, or its directory does
// not exist or cannot be written (the errno text).
std::string output_path_problem(const std::string& path, const std::vector<std::string>& inputs);

// `write` fills a temporary file beside `path`; only when it succeeds is the
// temporary renamed over `path` (atomically), so a reader finds the old file
// or the whole new one. False with *err set otherwise; the temporary is removed.
bool write_whole(const std::string& path,
                 const std::function<bool(const std::string& tmp, std::string* err)>& write,
                 std::string* err);

}  // namespace cocosim
