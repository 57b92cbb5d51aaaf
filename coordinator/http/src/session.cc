#include "session.h"

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>

#include <limits>

#include "txcoord/core/log.h"
#include "txcoord/core/thread_name.h"

namespace txcoord::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

void ServerCore::BeginRequest() {
  std::lock_guard<std::mutex> lock(mu_);
  ++in_flight_;
}

void ServerCore::EndRequest() {
  std::lock_guard<std::mutex> lock(mu_);
  if (--in_flight_ == 0) idle_.notify_all();
}

void ServerCore::WaitNoRequests() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_.wait(lock, [&] { return in_flight_ == 0; });
}

Session::Session(ServerCore& core, tcp::socket socket)
    : core_(core), stream_(std::move(socket)), timer_(stream_.get_executor()) {
  ++core_.ctx.http.connections;
}

Session::~Session() {
  if (in_request_) core_.EndRequest();  // only when the io_context is torn down under it
  --core_.ctx.http.connections;
}

void Session::Start() {
  // A new connection's first request must arrive within read_timeout of the accept.
  asio::dispatch(stream_.get_executor(), [self = shared_from_this()] {
    self->ArmTimer(self->core_.ctx.options.read_timeout);
    self->ReadHeader();
  });
}

void Session::ArmTimer(std::chrono::milliseconds d) {
  const std::uint64_t gen = ++timer_gen_;
  timed_out_ = false;
  timer_.expires_after(d);
  timer_.async_wait([self = shared_from_this(), gen](beast::error_code ec) {
    if (ec || gen != self->timer_gen_) return;
    self->timed_out_ = true;
    beast::error_code ignored;
    self->stream_.socket().cancel(ignored);  // the pending read completes operation_aborted
  });
}

void Session::DisarmTimer() {
  ++timer_gen_;
  timer_.cancel();
}

void Session::WaitForRequest() {
  if (core_.stopping) return Close();
  stream_.expires_never();
  if (buffer_.size() > 0) {  // pipelined: the next request is already here
    ArmTimer(core_.ctx.options.read_timeout);
    return ReadHeader();
  }
  ArmTimer(core_.ctx.options.idle_timeout);
  stream_.socket().async_wait(tcp::socket::wait_read,
                              [self = shared_from_this()](beast::error_code ec) {
                                if (ec || self->timed_out_ || self->core_.stopping) {
                                  return self->Close();  // idle too long, or gone
                                }
                                self->ArmTimer(self->core_.ctx.options.read_timeout);
                                self->ReadHeader();
                              });
}

void Session::ReadHeader() {
  parser_.emplace();
  parser_->header_limit(static_cast<std::uint32_t>(core_.ctx.options.max_header_bytes));
  // Decided in OnHeader from Content-Length (not boost::none: Beast 1.74 then refuses every
  // Content-Length as over the limit).
  parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
  http::async_read_header(
      stream_, buffer_, *parser_,
      [self = shared_from_this()](beast::error_code ec, std::size_t) { self->OnHeader(ec); });
}

void Session::OnHeader(beast::error_code ec) {
  if (ec) return OnReadError(ec);
  const std::size_t limit = core_.ctx.options.max_body_bytes;
  if (const auto len = parser_->content_length(); len && *len > limit) {
    return Dispatch(/*body_too_large=*/true);  // the route decides: 413 where a body is read
  }
  parser_->body_limit(limit);  // chunked bodies are checked as they arrive
  if (parser_->is_done()) return Dispatch(false);
  auto expect = parser_->get().find(http::field::expect);
  if (expect != parser_->get().end() && beast::iequals(expect->value(), "100-continue")) {
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    return asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                             [self = shared_from_this()](beast::error_code wec, std::size_t) {
                               if (wec) return self->Close();
                               self->ReadBody();
                             });
  }
  ReadBody();
}

void Session::ReadBody() {
  http::async_read(
      stream_, buffer_, *parser_,
      [self = shared_from_this()](beast::error_code ec, std::size_t) { self->OnBody(ec); });
}

void Session::OnBody(beast::error_code ec) {
  if (ec == http::error::body_limit) return Dispatch(true);
  if (ec) return OnReadError(ec);
  Dispatch(false);
}

// What a request that could not be read gets: a timed-out one 408, oversized headers 431,
// bytes that are not HTTP 400; a client that went away nothing. The connection is closed.
void Session::OnReadError(beast::error_code ec) {
  const bool timed_out = timed_out_;
  DisarmTimer();
  head_ = false;
  keep_alive_ = false;
  version_ = 11;
  Context& ctx = core_.ctx;
  if (timed_out) {
    if (!parser_ || !parser_->got_some()) return Close();
    return Write(ErrorResponse(ctx, nullptr, 408,
                               Timeout("request not received within " +
                                       std::to_string(ctx.options.read_timeout.count()) + " ms"),
                               true));
  }
  if (ec == http::error::header_limit) {
    return Write(
        ErrorResponse(ctx, nullptr, 431,
                      ResourceExhausted("request headers larger than " +
                                        std::to_string(ctx.options.max_header_bytes) + " bytes"),
                      true));
  }
  if (ec.category() == http::make_error_code(http::error::bad_method).category() &&
      ec != http::error::end_of_stream && ec != http::error::partial_message) {
    return Write(ErrorResponse(ctx, nullptr, 400,
                               InvalidArgument("malformed HTTP request: " + ec.message()), true));
  }
  Close();  // end of stream, reset, aborted: nobody to answer
}

void Session::Dispatch(bool body_too_large) {
  DisarmTimer();
  auto& msg = parser_->get();
  HttpRequest req;
  req.method = std::string(msg.method_string());
  req.target = std::string(msg.target());
  for (const auto& field : msg) {
    req.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  req.body_too_large = body_too_large;
  if (!body_too_large) req.body = std::move(msg.body());
  head_ = msg.method() == http::verb::head;
  keep_alive_ = msg.keep_alive() && !body_too_large;
  version_ = msg.version();
  parser_.reset();

  in_request_ = true;
  core_.BeginRequest();
  Context& ctx = core_.ctx;
  if (core_.stopping) {
    return Write(ErrorResponse(ctx, &req, 503, Unavailable("server stopping"), true));
  }
  auto self = shared_from_this();
  Reply to_strand = [self](HttpResponse r) {
    asio::post(self->stream_.get_executor(),
               [self, r = std::move(r)]() mutable { self->Write(std::move(r)); });
  };
  if (IsInlineRoute(req)) return HandleRequest(ctx, std::move(req), to_strand);
  const int max_queued = ctx.options.max_queued;
  if (core_.queued.fetch_add(1) >= max_queued) {
    --core_.queued;
    return Write(ErrorResponse(
        ctx, &req, 503,
        Unavailable("server busy: " + std::to_string(max_queued) + " requests already queued"),
        false));
  }
  asio::post(core_.pool, [self, to_strand, req = std::move(req)]() mutable {
    --self->core_.queued;
    NameThisThreadOnce("txc-http");
    try {
      HandleRequest(self->core_.ctx, std::move(req), to_strand);
    } catch (const std::exception& e) {  // posting the answer failed (bad_alloc): the session
      // goes when its last owner does, closing the connection and ending the request.
      log::Error("http: answer lost", {{"error", e.what()}});
    }
  });
}

void Session::Write(HttpResponse response) {
  struct Out {
    http::response<http::string_body> res;
    http::response_serializer<http::string_body> sr{res};
  };
  auto out = std::make_shared<Out>();
  out->res.version(version_);
  out->res.result(static_cast<unsigned>(response.status));
  for (auto& [name, value] : response.headers) out->res.insert(name, value);
  out->res.body() = std::move(response.body);
  const bool close = response.close || !keep_alive_ || core_.stopping;
  out->res.keep_alive(!close);
  out->res.prepare_payload();  // Content-Length, also for HEAD (whose body is not sent)
  stream_.expires_after(core_.ctx.options.write_timeout);
  auto done = [self = shared_from_this(), out, close](beast::error_code ec, std::size_t) {
    self->OnWrite(ec, close);
  };
  if (head_) return http::async_write_header(stream_, out->sr, std::move(done));
  http::async_write(stream_, out->sr, std::move(done));
}

void Session::OnWrite(beast::error_code ec, bool close) {
  stream_.expires_never();
  if (in_request_) {
    in_request_ = false;
    core_.EndRequest();
  }
  if (ec) return Close();
  if (close) return Linger();
  WaitForRequest();
}

void Session::Linger() {
  // Half-close and read what the client still sends (an unread body, up to 4x max_body_bytes,
  // for at most 2 s) so that it reads our answer instead of a reset.
  beast::error_code ignored;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  if (drained_ > 4 * core_.ctx.options.max_body_bytes + (64 << 10)) return Close();
  buffer_.consume(buffer_.size());
  if (!lingering_) {  // one deadline for the whole linger, however the client trickles
    lingering_ = true;
    stream_.expires_after(std::min<std::chrono::milliseconds>(core_.ctx.options.read_timeout, 2s));
  }
  stream_.async_read_some(buffer_.prepare(16 << 10),
                          [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                            self->drained_ += n;
                            if (ec) return self->Close();
                            self->Linger();
                          });
}

void Session::Close() {
  DisarmTimer();
  beast::error_code ignored;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream_.close();
}

}  // namespace txcoord::server
