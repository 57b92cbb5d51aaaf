#pragma once
// The HTTP front on Boost.Beast (internal): what the server shares with its connections, and one
// connection. Exceptions of Beast/Asio stay in here and in api_server.cc.
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>

#include "handler.h"

namespace txcoord::server {

// Shared by the acceptor, every session and the workers. Owned by ApiServer::Impl; outlives every
// session (Stop waits for the requests in flight, then destroys the io_context and with it the
// sessions). Thread-safety: atomics and `mu`; `io` and `pool` are thread-safe.
struct ServerCore {
  ServerCore(coordinator::TransactionManager& m, ServerOptions o)
      : ctx{m, std::move(o), {}}, pool(static_cast<std::size_t>(ctx.options.max_threads)) {}

  Context ctx;
  boost::asio::thread_pool pool;      // runs HandleRequest (blocking manager calls)
  std::atomic<int> queued{0};         // requests posted to `pool`, not yet started
  std::atomic<bool> stopping{false};  // no keep-alive, no new requests

  // Requests read and not yet answered (written or failed); Stop waits for 0.
  void BeginRequest();
  void EndRequest();
  void WaitNoRequests();

 private:
  std::mutex mu_;
  std::condition_variable idle_;
  int in_flight_ = 0;
};

// One connection: reads one request at a time (keep-alive, pipelined bytes wait in the buffer),
// hands it to a worker, writes the answer on its strand. Every member runs on the strand of its
// socket's executor; the workers only post to it. Lives as long as a handler holds it.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(ServerCore& core, boost::asio::ip::tcp::socket socket);
  ~Session();
  void Start();

 private:
  using Parser = boost::beast::http::request_parser<boost::beast::http::string_body>;

  void WaitForRequest();  // keep-alive: idle until the next request's first byte
  void ReadHeader();
  void OnHeader(boost::beast::error_code ec);
  void ReadBody();
  void OnBody(boost::beast::error_code ec);
  void OnReadError(boost::beast::error_code ec);
  void Dispatch(bool body_too_large);
  void Write(HttpResponse response);
  void OnWrite(boost::beast::error_code ec, bool close);
  void Linger();  // half-close, drop what the client still sends for a moment, close
  void Close();
  // Arms the read deadline: when it passes, the pending read is cancelled (timed_out_).
  void ArmTimer(std::chrono::milliseconds d);
  void DisarmTimer();

  ServerCore& core_;
  boost::beast::tcp_stream stream_;
  boost::asio::steady_timer timer_;
  std::uint64_t timer_gen_ = 0;  // a stale expiry of an earlier deadline is ignored
  bool timed_out_ = false;
  boost::beast::flat_buffer buffer_;
  std::optional<Parser> parser_;
  bool head_ = false;        // the request being answered is HEAD: no body in the response
  bool keep_alive_ = false;  // the request allows reusing the connection
  unsigned version_ = 11;    // the request's HTTP version
  bool in_request_ = false;  // between Dispatch and the end of its write
  bool lingering_ = false;
  std::size_t drained_ = 0;  // bytes dropped while lingering
};

}  // namespace txcoord::server
