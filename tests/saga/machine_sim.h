#pragma once
// A seeded simulation of one saga machine: a log that keeps only what was made durable (plus
// any lazy tail a crash happens to keep), participants behind a network that delays,
// duplicates, fails and answers "unknown", stores with a barrier (execute once, a null
// compensation when Compensate comes first, a late Execute refused), random timer firings,
// operator retries and crashes (the machine dropped, rebuilt from the log via Replayed +
// Recovered). Everything comes from one seed: a failing seed replays exactly.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "txcoord/saga/machine.h"

namespace txcoord::saga::sim {

struct Outcome {
  std::string failure;  // empty: every invariant held
  std::uint64_t events = 0;
  int crashes = 0;
  std::string end;  // "committed", "compensated", "stuck", "never-begun"
};

class SagaSim {
 public:
  explicit SagaSim(std::uint64_t seed);
  Outcome Run();

 private:
  struct StoreStep {        // one step at its participant's store, behind the barrier
    bool executed = false;  // Execute ran (done or refused): later ones answer the same
    bool done = false;
    bool fenced = false;  // a Compensate came first: null compensation, Execute refused
    bool compensated = false;
    int applied = 0;  // the step's effect, applied
    int undone = 0;   // its compensation, applied
  };
  struct Msg {
    bool call = true;  // a call to the store, else a reply to the machine
    bool compensate = false;
    std::uint32_t step = 0;
    std::uint64_t token = 0;
    int incarnation = 0;
    bool reply_expected = true;  // calls: the machine still waits for this one's reply
    bool unknown = false;        // calls: the reply is lost after the store ran it
    ExecuteReply exec;
    CompensateReply comp;
  };

  std::uint64_t R(std::uint64_t n) { return rng_() % n; }
  bool P(int percent) { return R(100) < static_cast<std::uint64_t>(percent); }
  void Fail(const std::string& why);
  void Apply(const Event& e);
  void Trace(const Event& e, const Result<Effects>& r) const;
  void Handle(const Effect& e);
  void OnCall(bool compensate, std::uint32_t step, std::uint64_t token);
  void Deliver(std::size_t i);
  void Sync();
  void Crash();
  void FireTimer();
  bool Step(bool calm);
  bool Done() const;
  void CheckEnd(Outcome& out);
  bool DurableHas(const std::function<bool(const Record&)>& pred) const;
  ExecuteReply StoreExecute(const Msg& m);
  CompensateReply StoreCompensate(const Msg& m);

  std::uint64_t seed_;
  std::mt19937_64 rng_;
  std::vector<StepSpec> specs_;
  std::vector<bool> refuses_;
  MachineConfig cfg_;
  std::vector<StoreStep> store_;
  std::vector<Record> log_;             // survives crashes up to a prefix >= durable_
  std::size_t durable_ = 0;             // log_[0, durable_) is durable
  std::vector<std::uint64_t> waiting_;  // forced seqs of this incarnation not yet durable
  bool log_failed_ = false;
  bool calm_ = false;  // no more faults: the saga must finish
  std::vector<Msg> net_;
  std::map<std::uint64_t, ArmTimer> timers_;
  std::unique_ptr<Machine> m_;
  int incarnation_ = 0;
  int crashes_ = 0;
  int answers_ = 0;
  std::uint64_t events_ = 0;
  std::string final_seen_;
  std::string failure_;
};

}  // namespace txcoord::saga::sim
