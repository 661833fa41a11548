// Linux errno and signal numbers by name, so that results read as the kernel reports them.
#pragma once
#include <optional>
#include <string>

namespace cocosim {

// "EINVAL" for EINVAL, "0" for 0, "E<n>" for an unknown number.
std::string errno_name(int err);
std::optional<int> errno_from_name(const std::string& name);

std::string signal_name(int sig);  // "SIGBUS", "none" for 0
std::optional<int> signal_from_name(const std::string& name);

}  // namespace cocosim
