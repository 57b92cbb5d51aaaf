#include "txcoord/server/api_server.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <exception>
#include <future>
#include <thread>
#include <vector>

#include "session.h"
#include "txcoord/core/log.h"
#include "txcoord/core/thread_name.h"

namespace txcoord::server {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

// Members in destruction order matter: `io` (and the sessions its handlers hold) goes before
// `core`, which the sessions use.
struct ApiServer::Impl {
  Impl(coordinator::TransactionManager& m, ServerOptions o) : core(m, std::move(o)) {}

  ServerCore core;
  std::optional<asio::io_context> io;
  // Keeps the I/O threads running while every connection waits for a worker (no pending I/O).
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::optional<tcp::acceptor> acceptor;  // on its own strand of `io`
  std::vector<std::thread> threads;
  std::uint16_t port = 0;
  bool stopped = false;

  void Accept();
  void RunIo();
};

void ApiServer::Impl::Accept() {
  acceptor->async_accept(
      asio::make_strand(*io), [this](boost::system::error_code ec, tcp::socket socket) {
        if (ec == asio::error::operation_aborted || !acceptor->is_open()) return;  // stopped
        if (!ec) {
          const auto max = core.ctx.options.max_connections;
          if (core.ctx.http.connections.load() >= static_cast<std::int64_t>(max)) {
            ++core.ctx.http.connections_refused;
            boost::system::error_code ignored;
            socket.close(ignored);  // no answer: at the limit even a 503 costs what we lack
          } else {
            std::make_shared<Session>(core, std::move(socket))->Start();
          }
        } else {
          // E.g. EMFILE: keep serving the open connections, try again a little later.
          log::Warn("accept failed", {{"error", ec.message()}});
          auto retry = std::make_shared<asio::steady_timer>(acceptor->get_executor(), 50ms);
          return retry->async_wait([this, retry](boost::system::error_code) { Accept(); });
        }
        Accept();
      });
}

// An exception escaping a handler is logged and the thread keeps running the loop.
void ApiServer::Impl::RunIo() {
  NameThisThreadOnce("txc-http-io");
  for (;;) {
    try {
      io->run();
      return;
    } catch (const std::exception& e) {
      log::Error("http front: unexpected error", {{"error", e.what()}});
    } catch (...) {
      log::Error("http front: unexpected error", {});
    }
  }
}

Result<std::unique_ptr<ApiServer>> ApiServer::Start(coordinator::TransactionManager& manager,
                                                    ServerOptions options) {
  if (options.max_body_bytes == 0) return InvalidArgument("max_body_bytes must be > 0");
  if (options.max_threads < 1 || options.max_queued < 1) {
    return InvalidArgument("max_threads and max_queued must be >= 1");
  }
  if (options.io_threads < 1) return InvalidArgument("io_threads must be >= 1");
  if (options.max_connections < 1) return InvalidArgument("max_connections must be >= 1");
  if (options.max_header_bytes < 1024) return InvalidArgument("max_header_bytes must be >= 1024");
  auto impl = std::make_unique<Impl>(manager, std::move(options));
  const ServerOptions& o = impl->core.ctx.options;
  impl->io.emplace(o.io_threads);
  try {
    tcp::resolver resolver(*impl->io);
    const auto endpoints =
        resolver.resolve(o.host, std::to_string(o.port), tcp::resolver::numeric_service);
    if (endpoints.empty()) return Unavailable("cannot resolve " + o.host);
    impl->acceptor.emplace(asio::make_strand(*impl->io));
    const tcp::endpoint endpoint = endpoints.begin()->endpoint();
    impl->acceptor->open(endpoint.protocol());
    // Not SO_REUSEPORT: a second coordinator on a port in use must fail, not share it silently.
    impl->acceptor->set_option(asio::socket_base::reuse_address(true));
    impl->acceptor->bind(endpoint);
    impl->acceptor->listen(asio::socket_base::max_listen_connections);
    impl->port = impl->acceptor->local_endpoint().port();
  } catch (const boost::system::system_error& e) {
    return Unavailable("cannot listen on " + o.host + ":" + std::to_string(o.port) + ": " +
                       e.what());
  }
  impl->work.emplace(impl->io->get_executor());
  impl->Accept();
  for (int i = 0; i < o.io_threads; ++i) {
    impl->threads.emplace_back([p = impl.get()] { p->RunIo(); });
  }
  return std::unique_ptr<ApiServer>(new ApiServer(std::move(impl)));
}

ApiServer::ApiServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ApiServer::~ApiServer() {
  Stop();
}

std::uint16_t ApiServer::port() const {
  return impl_->port;
}

void ApiServer::Stop() {
  Impl& s = *impl_;
  if (s.stopped) return;
  s.stopped = true;
  s.core.stopping = true;
  std::promise<void> closed;
  asio::post(s.acceptor->get_executor(), [&] {
    boost::system::error_code ignored;
    s.acceptor->close(ignored);
    closed.set_value();
  });
  closed.get_future().wait();  // from here on, connecting is refused
  s.core.WaitNoRequests();     // requests read before now are answered (Connection: close)
  s.core.pool.join();
  s.work.reset();
  s.io->stop();
  for (auto& t : s.threads) t.join();
  s.threads.clear();
  s.acceptor.reset();
  s.io.reset();  // destroys the remaining sessions, closing their sockets
}

}  // namespace txcoord::server
