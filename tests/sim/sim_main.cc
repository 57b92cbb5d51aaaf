// sim: runs the deterministic 2PC simulation over a range of seeds (docs/twopc-machine.md).
//   sim --seeds N [--from S] [--fault-steps K]   N seeds from S; prints seeds/s and the longest
//   sim --seed S [-v]                            one seed, replayed exactly; -v traces each step
// Exit status 1 at the first seed that violates an invariant (its replay command is printed).
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "sim_world.h"

int main(int argc, char** argv) {
  std::uint64_t from = 1;
  std::uint64_t seeds = 1000;
  txcoord::sim::SimOptions opt;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--seeds" && has_value) {
      seeds = std::strtoull(argv[++i], nullptr, 10);
    } else if (a == "--from" && has_value) {
      from = std::strtoull(argv[++i], nullptr, 10);
    } else if (a == "--seed" && has_value) {
      from = std::strtoull(argv[++i], nullptr, 10);
      seeds = 1;
    } else if (a == "--fault-steps" && has_value) {
      opt.fault_steps = std::strtoull(argv[++i], nullptr, 10);
    } else if (a == "-v") {
      opt.verbose = true;
    } else {
      std::cerr << "usage: sim [--seeds N] [--from S] [--seed S] [--fault-steps K] [-v]\n";
      return 2;
    }
  }
  const auto start = std::chrono::steady_clock::now();
  std::uint64_t longest_steps = 0, longest_seed = 0, longest_ms = 0, crashes = 0, txns = 0,
                committed = 0;
  for (std::uint64_t s = from; s < from + seeds; ++s) {
    opt.seed = s;
    const txcoord::sim::SimResult r = txcoord::sim::RunSeed(opt);
    crashes += r.crashes;
    txns += r.txns;
    committed += r.committed;
    if (r.steps > longest_steps) {
      longest_steps = r.steps;
      longest_seed = s;
      longest_ms = r.sim_ms;
    }
    if (!r.ok) {
      std::cout << "FAIL seed " << s << ": " << r.violation << "\n  replay: " << argv[0]
                << " --seed " << s << " -v\n";
      return 1;
    }
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "sim: " << seeds << " seeds from " << from << " ok in " << secs << " s ("
            << static_cast<std::uint64_t>(seeds / (secs > 0 ? secs : 1e-9)) << " seeds/s); " << txns
            << " transactions, " << crashes << " crashes; longest run: seed " << longest_seed
            << ", " << longest_steps << " steps, " << longest_ms << " simulated ms\n";
  return 0;
}
