#include "common/errno_names.h"

#include <cerrno>
#include <csignal>
#include <utility>

namespace cocosim {
namespace {

// The errnos KVM, guest_memfd, pKVM and the mm return; names are Linux's.
constexpr std::pair<const char*, int> kErrnos[] = {
    {"EPERM", EPERM},     {"ENOENT", ENOENT},         {"EINTR", EINTR},
    {"EIO", EIO},         {"E2BIG", E2BIG},           {"EBADF", EBADF},
    {"EAGAIN", EAGAIN},   {"ENOMEM", ENOMEM},         {"EACCES", EACCES},
    {"EFAULT", EFAULT},   {"EBUSY", EBUSY},           {"EEXIST", EEXIST},
    {"ENODEV", ENODEV},   {"EINVAL", EINVAL},         {"ENOSPC", ENOSPC},
    {"ERANGE", ERANGE},   {"ENOSYS", ENOSYS},         {"ENOTTY", ENOTTY},
    {"EOPNOTSUPP", EOPNOTSUPP}, {"EHWPOISON", EHWPOISON}, {"ENXIO", ENXIO},
    {"ESRCH", ESRCH},     {"EOVERFLOW", EOVERFLOW},
};

constexpr std::pair<const char*, int> kSignals[] = {
    {"SIGBUS", SIGBUS}, {"SIGSEGV", SIGSEGV}, {"SIGKILL", SIGKILL}};

}  // namespace

std::string errno_name(int err) {
  if (err == 0) return "0";
  for (const auto& [name, value] : kErrnos)
    if (value == err) return name;
  return "E" + std::to_string(err);
}

std::optional<int> errno_from_name(const std::string& name) {
  if (name == "0") return 0;
  for (const auto& [n, value] : kErrnos)
    if (name == n) return value;
  return std::nullopt;
}

std::string signal_name(int sig) {
  if (sig == 0) return "none";
  for (const auto& [name, value] : kSignals)
    if (value == sig) return name;
  return "SIG" + std::to_string(sig);
}

std::optional<int> signal_from_name(const std::string& name) {
  if (name == "none") return 0;
  for (const auto& [n, value] : kSignals)
    if (name == n) return value;
  return std::nullopt;
}

}  // namespace cocosim
