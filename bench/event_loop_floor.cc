// event_loop_floor: a PROTOTYPE, not the product. The ceiling a coordinator built as an event
// loop could reach on this machine with txcoord's own WAL, for txbench's `noop` mode
// (docs/performance.md, "An event-loop floor"). Run it in txcoordd's place:
//   build/bin/txbench --txcoordd build/bin/event_loop_floor --modes noop,http
// It reads txbench's txcoordd config (`listen`, `wal_dir`; optional `floor_front`,
// `floor_threads`, `floor_waits`) and serves:
//   GET <any path>          200 {"status":"ok"}  (txbench's /readyz, /healthz; /metrics is 404)
//   POST /v1/transactions   the body parsed with Poco JSON; a BEGIN record with the branches
//                           appended durably; two no-op "participants"; a COMMIT decision appended
//                           durably; END appended lazily; 200 with a view-sized JSON body.
// `floor_front` "beast" (the default): Boost.Beast over Asio, `floor_threads` threads (default 2),
// no thread per connection and none waits: each durable append's callback posts the next step to
// the connection's strand. "poco": txcoordd's own front, Poco's HTTPServer with a thread per
// connection (`floor_threads`, default 80 like txbench's txcoordd); with `floor_waits` 2 (the
// default) that thread waits for each durable append, as txcoordd's Submit does; with 1 COMMIT is
// appended from BEGIN's callback on the WAL's thread and the thread waits once, the best an
// asynchronous engine behind Poco's front could do ("The same floor behind Poco's front").
// What it leaves out against txcoordd: the engine's state machine and bookkeeping, metrics,
// idempotency, logging, a view rendered from real state, checkpoints. A bad config exits 2 with
// the reason, a WAL that does not open exits 1.
#include <Poco/Exception.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/StreamCopier.h>
#include <Poco/ThreadPool.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <fstream>
#include <future>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "txcoord/coordinator/coordinator.pb.h"
#include "txcoord/wal/log.h"

namespace txcoord::bench {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace v1 = coordinator::v1;
using tcp = asio::ip::tcp;

std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string NextGid(std::atomic<std::uint64_t>& seq) {
  return "g-" + std::to_string(++seq) + "-0f3ceda4b2a94c1b";
}

// The serialized BEGIN record for a POST body, or "" when the body is not a valid request.
std::string BeginRecord(const std::string& body, const std::string& gid, int& branches) {
  v1::Record rec;
  v1::Begin* b = rec.mutable_begin();
  try {
    Poco::JSON::Parser parser;
    const auto o = parser.parse(body).extract<Poco::JSON::Object::Ptr>();
    const auto list = o->getArray("branches");
    for (std::size_t i = 0; list && i < list->size(); ++i) {
      const auto br = list->getObject(static_cast<unsigned>(i));
      if (!br) return "";
      v1::Branch* p = b->add_branches();
      p->set_participant(br->getValue<std::string>("participant"));
      p->set_action(br->getValue<std::string>("action"));
      p->set_branch("b" + std::to_string(i + 1));
      if (const auto payload = br->getObject("payload")) {
        for (const auto& [k, v] : *payload) (*p->mutable_payload())[k] = v.toString();
      }
    }
  } catch (const std::exception&) {  // Poco::Exception derives from std::exception
    return "";
  }
  b->set_gid(gid);
  b->set_mode("2pc");
  b->set_created_unix_ms(NowMs());
  branches = b->branches_size();
  return rec.SerializeAsString();
}

std::string DecisionRecord(const std::string& gid) {
  v1::Record rec;
  v1::Decision* d = rec.mutable_decision();
  d->set_gid(gid);
  d->set_outcome(v1::Decision::COMMIT);
  d->set_at_unix_ms(NowMs());
  return rec.SerializeAsString();
}

std::string EndRecord(const std::string& gid) {
  v1::Record rec;
  rec.mutable_end()->set_gid(gid);
  rec.mutable_end()->set_at_unix_ms(NowMs());
  return rec.SerializeAsString();
}

// A body the size of txcoordd's view of a committed transaction.
std::string View(const std::string& gid, int branches) {
  std::string view = "{\"gid\":\"" + gid + "\",\"mode\":\"2pc\",\"state\":\"committed\",";
  view += "\"branches\":[";
  for (int i = 0; i < branches; ++i) {
    view += std::string(i > 0 ? "," : "") + "{\"branch\":\"b" + std::to_string(i + 1) +
            "\",\"participant\":\"noop\",\"action\":\"debit\",\"state\":\"committed\","
            "\"attempts\":1,\"error\":\"\"}";
  }
  view +=
      "],\"reason\":\"\",\"created_at\":\"2026-11-24T18:00:00.000Z\","
      "\"updated_at\":\"2026-11-24T18:00:00.001Z\",\"timeline\":[{\"at\":"
      "\"2026-11-24T18:00:00.000Z\",\"record\":\"begin\",\"detail\":\"\"},{\"at\":"
      "\"2026-11-24T18:00:00.001Z\",\"record\":\"decision\",\"detail\":\"commit\"}]}";
  return view;
}

// One keep-alive connection; its steps run on its strand, one request at a time.
class Conn : public std::enable_shared_from_this<Conn> {
 public:
  Conn(tcp::socket s, wal::Log& log, std::atomic<std::uint64_t>& seq)
      : sock_(std::move(s)),
        strand_(asio::make_strand(sock_.get_executor())),
        log_(log),
        seq_(seq) {}

  void Read() {
    req_ = {};
    http::async_read(sock_, buf_, req_,
                     asio::bind_executor(
                         strand_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
                           if (!ec) self->Handle();
                         }));
  }

 private:
  void Handle() {
    if (req_.method() == http::verb::get) {
      if (req_.target() == "/metrics") return Answer(http::status::not_found, "{}");
      return Answer(http::status::ok, "{\"status\":\"ok\"}");
    }
    if (req_.method() != http::verb::post || req_.target() != "/v1/transactions") {
      return Answer(http::status::not_found, "{\"error\":\"no route\"}");
    }
    gid_ = NextGid(seq_);
    std::string begin = BeginRecord(req_.body(), gid_, branches_);
    if (begin.empty()) return Answer(http::status::bad_request, "{\"error\":\"bad body\"}");
    log_.AppendAsync(std::move(begin), [self = shared_from_this()](Result<wal::Lsn> r) {
      asio::post(self->strand_, [self, ok = r.ok()] { self->Prepared(ok); });
    });
  }

  void Prepared(bool durable) {
    if (!durable) return Answer(http::status::service_unavailable, "{\"error\":\"wal\"}");
    // The participants' prepares would run here; a noop participant does nothing.
    log_.AppendAsync(DecisionRecord(gid_), [self = shared_from_this()](Result<wal::Lsn> r) {
      asio::post(self->strand_, [self, ok = r.ok()] { self->Committed(ok); });
    });
  }

  void Committed(bool durable) {
    if (!durable) return Answer(http::status::service_unavailable, "{\"error\":\"wal\"}");
    log_.AppendLazy(EndRecord(gid_), nullptr);
    Answer(http::status::ok, View(gid_, branches_));
  }

  void Answer(http::status status, std::string body) {
    res_ = {};
    res_.result(status);
    res_.version(11);
    res_.set(http::field::content_type, "application/json");
    res_.keep_alive(req_.keep_alive());
    res_.body() = std::move(body);
    res_.prepare_payload();
    http::async_write(sock_, res_,
                      asio::bind_executor(
                          strand_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
                            if (!ec && self->res_.keep_alive()) self->Read();
                          }));
  }

  tcp::socket sock_;
  asio::strand<asio::any_io_executor> strand_;
  wal::Log& log_;
  std::atomic<std::uint64_t>& seq_;
  beast::flat_buffer buf_;
  http::request<http::string_body> req_;
  http::response<http::string_body> res_;
  std::string gid_;
  int branches_ = 0;
};

void Accept(tcp::acceptor& acceptor, wal::Log& log, std::atomic<std::uint64_t>& seq) {
  acceptor.async_accept([&](beast::error_code ec, tcp::socket s) {
    if (!ec) {
      s.set_option(tcp::no_delay(true));
      std::make_shared<Conn>(std::move(s), log, seq)->Read();
    }
    Accept(acceptor, log, seq);
  });
}

// The Poco front: one request on one of the server's threads, which waits for the records.
class PocoHandler : public Poco::Net::HTTPRequestHandler {
 public:
  PocoHandler(wal::Log& log, std::atomic<std::uint64_t>& seq, int waits)
      : log_(log), seq_(seq), waits_(waits) {}

  void handleRequest(Poco::Net::HTTPServerRequest& req,
                     Poco::Net::HTTPServerResponse& res) override {
    using S = Poco::Net::HTTPResponse;
    res.setContentType("application/json");
    if (req.getMethod() == "GET") {
      if (req.getURI() == "/metrics") return Send(res, S::HTTP_NOT_FOUND, "{}");
      return Send(res, S::HTTP_OK, "{\"status\":\"ok\"}");
    }
    if (req.getMethod() != "POST" || req.getURI() != "/v1/transactions") {
      return Send(res, S::HTTP_NOT_FOUND, "{\"error\":\"no route\"}");
    }
    std::string body;
    Poco::StreamCopier::copyToString(req.stream(), body);
    const std::string gid = NextGid(seq_);
    int branches = 0;
    std::string begin = BeginRecord(body, gid, branches);
    if (begin.empty()) return Send(res, S::HTTP_BAD_REQUEST, "{\"error\":\"bad body\"}");
    if (!Durable(std::move(begin), waits_ == 1 ? DecisionRecord(gid) : "")) {
      return Send(res, S::HTTP_SERVICE_UNAVAILABLE, "{\"error\":\"wal\"}");
    }
    if (waits_ == 2 && !Durable(DecisionRecord(gid), "")) {
      return Send(res, S::HTTP_SERVICE_UNAVAILABLE, "{\"error\":\"wal\"}");
    }
    log_.AppendLazy(EndRecord(gid), nullptr);
    Send(res, S::HTTP_OK, View(gid, branches));
  }

 private:
  // Appends `first` durably and then, from its callback on the WAL's thread, `then` (unless
  // empty); waits once for the last of them.
  bool Durable(std::string first, std::string then) {
    std::promise<bool> done;
    auto finished = done.get_future();
    log_.AppendAsync(std::move(first), [&](Result<wal::Lsn> r) {
      if (!r.ok() || then.empty()) return done.set_value(r.ok());
      log_.AppendAsync(std::move(then), [&](Result<wal::Lsn> r2) { done.set_value(r2.ok()); });
    });
    return finished.get();
  }

  static void Send(Poco::Net::HTTPServerResponse& res, Poco::Net::HTTPResponse::HTTPStatus status,
                   const std::string& body) {
    res.setStatus(status);
    res.setContentLength(static_cast<std::streamsize>(body.size()));
    res.send() << body;
  }

  wal::Log& log_;
  std::atomic<std::uint64_t>& seq_;
  int waits_;
};

class PocoFactory : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  PocoFactory(wal::Log& log, std::atomic<std::uint64_t>& seq, int waits)
      : log_(log), seq_(seq), waits_(waits) {}
  Poco::Net::HTTPRequestHandler* createRequestHandler(
      const Poco::Net::HTTPServerRequest&) override {
    return new PocoHandler(log_, seq_, waits_);
  }

 private:
  wal::Log& log_;
  std::atomic<std::uint64_t>& seq_;
  int waits_;
};

// Serves on Poco's HTTPServer until the process is killed.
void ServePoco(const std::string& host, unsigned short port, int threads, int waits, wal::Log& log,
               std::atomic<std::uint64_t>& seq) {
  Poco::ThreadPool pool(2, threads);
  Poco::Net::ServerSocket socket;
  socket.bind(Poco::Net::SocketAddress(host, port), /*reuseAddress=*/true, /*reusePort=*/false);
  socket.listen(128);
  auto* params = new Poco::Net::HTTPServerParams;  // ref-counted; owned by the server
  params->setMaxThreads(threads);
  params->setKeepAlive(true);
  Poco::Net::HTTPServer server(new PocoFactory(log, seq, waits), pool, socket, params);
  server.start();
  std::promise<void>().get_future().wait();
}

int Main(int argc, char** argv) {
  std::string config;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--config=", 0) == 0) config = a.substr(9);
  }
  std::string host, wal_dir, front = "beast";
  unsigned short port = 0;
  int threads = 0, waits = 2;
  try {
    std::ifstream in(config);
    if (!in) throw std::runtime_error("cannot read --config=" + config);
    Poco::JSON::Parser parser;
    const auto c = parser.parse(in).extract<Poco::JSON::Object::Ptr>();
    for (const char* key : {"listen", "wal_dir"}) {
      if (!c->has(key)) throw std::runtime_error(std::string("missing \"") + key + "\"");
    }
    const auto listen = c->getValue<std::string>("listen");
    wal_dir = c->getValue<std::string>("wal_dir");
    const auto colon = listen.rfind(':');
    if (colon == std::string::npos) throw std::runtime_error("listen is not host:port");
    host = listen.substr(0, colon);
    const int p = std::stoi(listen.substr(colon + 1));  // throws on a port that is not a number
    if (p < 0 || p > 65535) throw std::runtime_error("listen: port out of range");
    port = static_cast<unsigned short>(p);
    if (c->has("floor_front")) front = c->getValue<std::string>("floor_front");
    if (front != "beast" && front != "poco") throw std::runtime_error("floor_front: beast or poco");
    threads =
        c->has("floor_threads") ? c->getValue<int>("floor_threads") : (front == "beast" ? 2 : 80);
    if (threads < 1 || threads > 1024) throw std::runtime_error("floor_threads must be 1..1024");
    if (c->has("floor_waits")) waits = c->getValue<int>("floor_waits");
    if (waits != 1 && waits != 2) throw std::runtime_error("floor_waits must be 1 or 2");
  } catch (const std::exception& e) {
    std::cerr << "event_loop_floor: bad config: " << e.what() << "\n";
    return 2;
  }
  wal::Options options;
  options.dir = wal_dir;
  auto log = wal::Log::Open(options, [](const wal::ReplayedRecord&) { return Status::Ok(); });
  if (!log.ok()) {
    std::cerr << "event_loop_floor: " << log.status().ToString() << "\n";
    return 1;
  }
  std::atomic<std::uint64_t> seq{0};
  try {
    if (front == "poco") {
      ServePoco(host, port, threads, waits, **log, seq);
      return 0;
    }
    asio::io_context io(threads);
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address(host), port));
    Accept(acceptor, **log, seq);
    std::vector<std::thread> pool;
    for (int i = 1; i < threads; ++i) pool.emplace_back([&] { io.run(); });
    io.run();
    for (auto& t : pool) t.join();
  } catch (const std::exception& e) {  // Poco::Exception derives from std::exception
    std::cerr << "event_loop_floor: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace txcoord::bench

int main(int argc, char** argv) {
  return txcoord::bench::Main(argc, argv);
}
