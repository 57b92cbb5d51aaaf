#include "connection_pool.h"

#include <exception>

#include <Poco/Net/Socket.h>

namespace txcoord::participant::internal {
namespace {

Poco::Timespan ToTimespan(std::chrono::milliseconds ms) {
  return Poco::Timespan(static_cast<Poco::Timespan::TimeDiff>(ms.count()) * 1000);
}

// An idle keep-alive connection has nothing to read; readable means the server closed it (EOF)
// or reset it, and it must not carry a request.
bool StillOpen(Poco::Net::HTTPClientSession& s) {
  try {
    if (!s.connected()) return false;
    return !s.socket().poll(Poco::Timespan(0),
                            Poco::Net::Socket::SELECT_READ | Poco::Net::Socket::SELECT_ERROR);
  } catch (const std::exception&) {
    return false;
  }
}

void CloseQuietly(Poco::Net::HTTPClientSession& s) {
  try {
    s.reset();
  } catch (const std::exception&) {
    // Closing a broken socket may fail; the session is dropped anyway.
  }
}

}  // namespace

ConnectionPool::ConnectionPool(std::string host, std::uint16_t port, int max_connections,
                               std::chrono::milliseconds connect_timeout,
                               std::chrono::milliseconds io_timeout)
    : host_(std::move(host)),
      port_(port),
      max_(max_connections),
      connect_timeout_(connect_timeout),
      io_timeout_(io_timeout) {}

std::unique_ptr<Poco::Net::HTTPClientSession> ConnectionPool::NewSession() {
  auto s = std::make_unique<Poco::Net::HTTPClientSession>(host_, port_);
  s->setKeepAlive(true);
  s->setTimeout(ToTimespan(connect_timeout_), ToTimespan(io_timeout_), ToTimespan(io_timeout_));
  return s;
}

Result<Lease> ConnectionPool::Acquire() {
  std::unique_lock lock(mu_);
  if (!freed_.wait_for(lock, io_timeout_, [&] { return in_use_ < max_; })) {
    return Unavailable("all " + std::to_string(max_) + " connections to " + host_ + ":" +
                       std::to_string(port_) + " stayed busy");
  }
  ++in_use_;
  while (!idle_.empty()) {
    auto s = std::move(idle_.back());
    idle_.pop_back();
    if (StillOpen(*s)) return Lease{std::move(s), true};
    CloseQuietly(*s);
  }
  ++opened_;
  lock.unlock();
  return Lease{NewSession(), false};
}

void ConnectionPool::Release(Lease lease, bool reusable) {
  if (!reusable && lease.session) CloseQuietly(*lease.session);
  {
    std::lock_guard lock(mu_);
    if (reusable && lease.session) idle_.push_back(std::move(lease.session));
    --in_use_;
  }
  freed_.notify_one();
}

int ConnectionPool::opened() const {
  std::lock_guard lock(mu_);
  return opened_;
}

}  // namespace txcoord::participant::internal
