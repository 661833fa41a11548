// `cocosim sweep`: validates every point, then runs each as its own
// `cocosim run` process (fork/exec of this binary) on a local pool or as a
// Slurm job array, and assembles results.csv and the plots. The plan and the
// table are made by sweep_plan / sweep_results; this file owns the processes
// and the files in the output directory (docs/sweep.md describes its layout).
#pragma once
#include <string>
#include <vector>

namespace cocosim {

// `args` are the arguments after `sweep`. Exit: 0 every point passed (or a
// Slurm job was submitted with --no-wait), 1 some point did not, 2 bad
// arguments or an invalid point (reported before anything runs) or a table
// or plot that could not be made, 128+N when signal N stopped the sweep.
int sweep_main(const std::vector<std::string>& args);

}  // namespace cocosim
