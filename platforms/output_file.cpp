#include "output_file.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <sys/stat.h>
#include <unistd.h>

namespace cocosim {

namespace {
std::string directory_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}
}  // namespace

std::string output_path_problem(const std::string& path, const std::vector<std::string>& inputs) {
  struct stat out;
  if (::stat(path.c_str(), &out) == 0) {
    if (S_ISDIR(out.st_mode)) return "it is a directory";
    for (const std::string& in : inputs) {
      struct stat st;
      if (::stat(in.c_str(), &st) == 0 && st.st_dev == out.st_dev && st.st_ino == out.st_ino)
        return "it is the input file " + in;
    }
  }
  const std::string dir = directory_of(path);
  struct stat d;
  if (::stat(dir.c_str(), &d) != 0) return dir + ": " + std::strerror(errno);
  if (!S_ISDIR(d.st_mode)) return dir + ": " + std::strerror(ENOTDIR);
  if (::access(dir.c_str(), W_OK) != 0) return dir + ": " + std::strerror(errno);
  return "";
}

bool write_whole(const std::string& path,
                 const std::function<bool(const std::string& tmp, std::string* err)>& write,
                 std::string* err) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  if (!write(tmp, err)) {
    std::remove(tmp.c_str());
    return false;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    *err = std::strerror(errno);
    std::remove(tmp.c_str());
    return false;
  }
  return true;
}

}  // namespace cocosim
