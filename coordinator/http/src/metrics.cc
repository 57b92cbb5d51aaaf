#include "metrics.h"

#include <sstream>

namespace txcoord::server {
namespace {

// Label values are our own names (participants, routes): escape the three characters the
// format requires anyway.
std::string Label(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

void Header(std::ostringstream& os, const char* name, const char* type, const char* help) {
  os << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
}

// A metric with one unlabelled sample.
template <typename V>
void Single(std::ostringstream& os, const char* name, const char* type, const char* help, V value) {
  Header(os, name, type, help);
  os << name << ' ' << value << '\n';
}

}  // namespace

void HttpCounters::Count(const std::string& route, int status) {
  std::lock_guard<std::mutex> lock(mu_);
  ++counts_[{route, status}];
}

std::map<std::pair<std::string, int>, std::uint64_t> HttpCounters::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return counts_;
}

std::string RenderMetrics(const coordinator::Metrics& m, const std::optional<wal::Stats>& wal,
                          bool ready, const HttpCounters& http) {
  std::ostringstream os;
  Single(os, "txcoord_ready", "gauge", "1 when recovery is done and the WAL is healthy.",
         ready ? 1 : 0);

  Header(os, "txcoord_transactions_total", "counter", "Finished transactions by mode and outcome.");
  os << "txcoord_transactions_total{mode=\"2pc\",outcome=\"committed\"} " << m.committed << '\n';
  os << "txcoord_transactions_total{mode=\"2pc\",outcome=\"aborted\"} " << m.aborted << '\n';
  os << "txcoord_transactions_total{mode=\"saga\",outcome=\"committed\"} " << m.saga_committed
     << '\n';
  os << "txcoord_transactions_total{mode=\"saga\",outcome=\"compensated\"} " << m.compensated
     << '\n';
  Single(os, "txcoord_sagas_stuck", "gauge",
         "Sagas whose compensation keeps failing or is missing (a person must look).", m.stuck);
  Header(os, "txcoord_heuristic_decisions_total", "counter",
         "Transactions ended by an operator's forced resolve (txctl resolve --force), by outcome.");
  os << "txcoord_heuristic_decisions_total{outcome=\"commit\"} " << m.heuristic_commits << '\n';
  os << "txcoord_heuristic_decisions_total{outcome=\"abort\"} " << m.heuristic_aborts << '\n';
  Single(os, "txcoord_heuristic_mixed_total", "counter",
         "Heuristic decisions against an earlier durable decision (e.g. abort after COMMIT).",
         m.heuristic_mixed);
  Single(os, "txcoord_transactions_rejected_total", "counter",
         "Requests refused before anything was logged (bad input, limits).", m.rejected);
  Single(os, "txcoord_transactions_in_flight", "gauge", "Transactions not yet finished.",
         m.in_flight);
  Single(os, "txcoord_idempotency_keys", "gauge", "Idempotency records held.", m.idempotency_keys);
  Single(os, "txcoord_idempotency_evicted_total", "counter",
         "Idempotency records dropped before their horizon (max_idempotency_keys).",
         m.idempotency_evicted);

  Header(os, "txcoord_branch_calls_total", "counter",
         "Participant calls by participant, call and outcome.");
  for (const auto& [participant, calls] : m.branch_calls) {
    for (const auto& [key, n] : calls) {
      const auto dot = key.find('.');
      const std::string call = key.substr(0, dot);
      const std::string outcome = dot == std::string::npos ? "" : key.substr(dot + 1);
      os << "txcoord_branch_calls_total{participant=\"" << Label(participant) << "\",call=\""
         << Label(call) << "\",outcome=\"" << Label(outcome) << "\"} " << n << '\n';
    }
  }
  Header(os, "txcoord_participant_calls_run_total", "counter",
         "Participant calls run (each prepare, commit, abort, execute or compensate attempt).");
  for (const auto& [participant, t] : m.call_timing) {
    os << "txcoord_participant_calls_run_total{participant=\"" << Label(participant) << "\"} "
       << t.calls << '\n';
  }
  Header(os, "txcoord_participant_call_seconds_total", "counter",
         "Real time participant calls spent waiting for a slot (phase=\"queued\", the "
         "max_concurrent_per_participant cap) and running (phase=\"running\").");
  for (const auto& [participant, t] : m.call_timing) {
    os << "txcoord_participant_call_seconds_total{participant=\"" << Label(participant)
       << "\",phase=\"queued\"} " << t.queued_seconds << '\n';
    os << "txcoord_participant_call_seconds_total{participant=\"" << Label(participant)
       << "\",phase=\"running\"} " << t.running_seconds << '\n';
  }
  Header(os, "txcoord_participant_breaker_open", "gauge",
         "1 while a participant's circuit breaker is open.");
  for (const auto& [participant, open] : m.breaker_open) {
    os << "txcoord_participant_breaker_open{participant=\"" << Label(participant) << "\"} "
       << (open ? 1 : 0) << '\n';
  }

  Header(os, "txcoord_participant_quick", "gauge",
         "1 while a participant's recent calls are under inline_calls_under: a waiting caller "
         "makes its calls itself instead of through the worker pool.");
  for (const auto& [participant, quick] : m.quick) {
    os << "txcoord_participant_quick{participant=\"" << Label(participant) << "\"} "
       << (quick ? 1 : 0) << '\n';
  }

  Header(os, "txcoord_decision_seconds", "histogram", "Time from request to durable decision.");
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < m.latency_counts.size(); ++i) {
    cumulative += m.latency_counts[i];
    os << "txcoord_decision_seconds_bucket{le=\"";
    if (i < m.latency_bounds_ms.size()) {
      os << m.latency_bounds_ms[i] / 1000.0;
    } else {
      os << "+Inf";
    }
    os << "\"} " << cumulative << '\n';
  }
  os << "txcoord_decision_seconds_sum " << m.latency_sum_ms / 1000.0 << '\n';
  os << "txcoord_decision_seconds_count " << cumulative << '\n';

  if (wal) {
    Single(os, "txcoord_wal_fsync_seconds", "gauge", "Duration of the last WAL fdatasync.",
           wal->last_fsync_seconds);
    Single(os, "txcoord_wal_batch_records", "gauge", "Records made durable by the last batch.",
           wal->last_batch_records);
    Single(os, "txcoord_wal_batches_total", "counter", "WAL group-commit batches (fdatasyncs).",
           wal->batches);
    Single(os, "txcoord_wal_appends_total", "counter", "WAL records made durable.", wal->appended);
    Single(os, "txcoord_wal_segments", "gauge", "WAL segment files on disk.", wal->segments);
    Single(os, "txcoord_wal_bytes", "gauge", "WAL bytes on disk.", wal->bytes_on_disk);
    Single(os, "txcoord_wal_last_lsn", "gauge", "Last durable log sequence number.", wal->last_lsn);
    Single(os, "txcoord_wal_checkpoint_lsn", "gauge", "Last LSN covered by the newest checkpoint.",
           wal->checkpoint_lsn);
  }

  Header(os, "txcoord_http_requests_total", "counter", "HTTP requests by route and status.");
  for (const auto& [key, n] : http.Snapshot()) {
    os << "txcoord_http_requests_total{route=\"" << Label(key.first) << "\",status=\"" << key.second
       << "\"} " << n << '\n';
  }
  Single(os, "txcoord_http_connections", "gauge", "HTTP connections open.",
         http.connections.load());
  Single(os, "txcoord_http_connections_refused_total", "counter",
         "HTTP connections closed as soon as accepted: max_connections were open.",
         http.connections_refused.load());
  return os.str();
}

}  // namespace txcoord::server
