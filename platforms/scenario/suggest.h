// "did you mean" for names a user misspelt: the closest candidate, if close.
#pragma once
#include <string>
#include <vector>

namespace cocosim {

// Edit distance with adjacent transpositions (optimal string alignment),
// ignoring case: "expcet" is 1 from "expect", "kvm_run" 0 from "KVM_RUN".
size_t edit_distance(const std::string& a, const std::string& b);

// The candidate closest to `word` when it is close enough to be a slip (at
// most one edit per four characters, and at least one); "" otherwise.
std::string closest(const std::string& word, const std::vector<std::string>& candidates);

// " (did you mean 'X'?)" for the closest candidate, or "".
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace cocosim
