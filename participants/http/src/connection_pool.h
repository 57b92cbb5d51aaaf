#pragma once
// A bounded pool of keep-alive HTTP client sessions to one server (internal to RemoteParticipant).
// Thread-safety: all members are safe from many threads.
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <Poco/Net/HTTPClientSession.h>

#include "txcoord/core/status.h"

namespace txcoord::participant::internal {

struct Lease {
  std::unique_ptr<Poco::Net::HTTPClientSession> session;
  bool reused = false;  // the session carried an earlier request (its connection may be stale)
};

class ConnectionPool {
 public:
  ConnectionPool(std::string host, std::uint16_t port, int max_connections,
                 std::chrono::milliseconds connect_timeout, std::chrono::milliseconds io_timeout);

  // An idle session (checked: one the server closed meanwhile is dropped) or a new, not yet
  // connected one. Waits up to io_timeout for a free slot, then Unavailable.
  Result<Lease> Acquire();
  // Gives the slot back. `reusable` = the exchange completed and the server keeps the connection.
  void Release(Lease lease, bool reusable);

  int opened() const;

 private:
  std::unique_ptr<Poco::Net::HTTPClientSession> NewSession();

  const std::string host_;
  const std::uint16_t port_;
  const int max_;
  const std::chrono::milliseconds connect_timeout_;
  const std::chrono::milliseconds io_timeout_;

  mutable std::mutex mu_;
  std::condition_variable freed_;
  std::vector<std::unique_ptr<Poco::Net::HTTPClientSession>> idle_;
  int in_use_ = 0;
  int opened_ = 0;
};

}  // namespace txcoord::participant::internal
