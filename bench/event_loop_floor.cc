// event_loop_floor: a PROTOTYPE, not the product. The ceiling a coordinator built as an event
// loop could reach on this machine with txcoord's own WAL, for txbench's `noop` mode
// (docs/performance.md, "An event-loop floor"). Run it in txcoordd's place:
//   build/bin/txbench --txcoordd build/bin/event_loop_floor --modes noop,http
// It reads txbench's txcoordd config (`listen`, `wal_dir`, optional `floor_threads`, default 2)
// and serves, on Boost.Beast over Asio with `floor_threads` threads and no thread per connection:
//   GET <any path>          200 {"status":"ok"}  (txbench's /readyz, /healthz; /metrics is 404)
//   POST /v1/transactions   the body parsed with Poco JSON; a BEGIN record with the branches
//                           appended durably; two no-op "participants"; a COMMIT decision appended
//                           durably; END appended lazily; 200 with a view-sized JSON body.
// No thread waits: each durable append's callback posts the next step to the connection's
// strand. What it leaves out against txcoordd: the engine's state machine and bookkeeping,
// metrics, idempotency, logging, a view rendered from real state, checkpoints. A bad config
// exits 2, a WAL that does not open exits 1.
#include <Poco/Exception.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <fstream>
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
    gid_ = "g-" + std::to_string(++seq_) + "-0f3ceda4b2a94c1b";
    v1::Record rec;
    v1::Begin* b = rec.mutable_begin();
    try {
      Poco::JSON::Parser parser;
      const auto body = parser.parse(req_.body()).extract<Poco::JSON::Object::Ptr>();
      const auto branches = body->getArray("branches");
      for (std::size_t i = 0; branches && i < branches->size(); ++i) {
        const auto br = branches->getObject(static_cast<unsigned>(i));
        if (!br) throw std::runtime_error("a branch is not an object");
        v1::Branch* p = b->add_branches();
        p->set_participant(br->getValue<std::string>("participant"));
        p->set_action(br->getValue<std::string>("action"));
        p->set_branch("b" + std::to_string(i + 1));
        if (const auto payload = br->getObject("payload")) {
          for (const auto& [k, v] : *payload) (*p->mutable_payload())[k] = v.toString();
        }
      }
    } catch (const std::exception&) {  // Poco::Exception derives from std::exception
      return Answer(http::status::bad_request, "{\"error\":\"bad body\"}");
    }
    b->set_gid(gid_);
    b->set_mode("2pc");
    b->set_created_unix_ms(NowMs());
    branches_ = b->branches_size();
    log_.AppendAsync(rec.SerializeAsString(), [self = shared_from_this()](Result<wal::Lsn> r) {
      asio::post(self->strand_, [self, ok = r.ok()] { self->Prepared(ok); });
    });
  }

  void Prepared(bool durable) {
    if (!durable) return Answer(http::status::service_unavailable, "{\"error\":\"wal\"}");
    // The participants' prepares would run here; a noop participant does nothing.
    v1::Record rec;
    v1::Decision* d = rec.mutable_decision();
    d->set_gid(gid_);
    d->set_outcome(v1::Decision::COMMIT);
    d->set_at_unix_ms(NowMs());
    log_.AppendAsync(rec.SerializeAsString(), [self = shared_from_this()](Result<wal::Lsn> r) {
      asio::post(self->strand_, [self, ok = r.ok()] { self->Committed(ok); });
    });
  }

  void Committed(bool durable) {
    if (!durable) return Answer(http::status::service_unavailable, "{\"error\":\"wal\"}");
    v1::Record rec;
    rec.mutable_end()->set_gid(gid_);
    rec.mutable_end()->set_at_unix_ms(NowMs());
    log_.AppendLazy(rec.SerializeAsString(), nullptr);
    std::string view = "{\"gid\":\"" + gid_ + "\",\"mode\":\"2pc\",\"state\":\"committed\",";
    view += "\"branches\":[";
    for (int i = 0; i < branches_; ++i) {
      view += std::string(i > 0 ? "," : "") + "{\"branch\":\"b" + std::to_string(i + 1) +
              "\",\"participant\":\"noop\",\"action\":\"debit\",\"state\":\"committed\","
              "\"attempts\":1,\"error\":\"\"}";
    }
    view +=
        "],\"reason\":\"\",\"created_at\":\"2026-11-24T18:00:00.000Z\","
        "\"updated_at\":\"2026-11-24T18:00:00.001Z\",\"timeline\":[{\"at\":"
        "\"2026-11-24T18:00:00.000Z\",\"record\":\"begin\",\"detail\":\"\"},{\"at\":"
        "\"2026-11-24T18:00:00.001Z\",\"record\":\"decision\",\"detail\":\"commit\"}]}";
    Answer(http::status::ok, std::move(view));
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

int Main(int argc, char** argv) {
  std::string config;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--config=", 0) == 0) config = a.substr(9);
  }
  std::string listen, wal_dir;
  int threads = 2;
  try {
    std::ifstream in(config);
    if (!in) throw std::runtime_error("cannot read --config=" + config);
    Poco::JSON::Parser parser;
    const auto c = parser.parse(in).extract<Poco::JSON::Object::Ptr>();
    for (const char* key : {"listen", "wal_dir"}) {
      if (!c->has(key)) throw std::runtime_error(std::string("missing \"") + key + "\"");
    }
    listen = c->getValue<std::string>("listen");
    wal_dir = c->getValue<std::string>("wal_dir");
    if (listen.rfind(':') == std::string::npos) throw std::runtime_error("listen is not host:port");
    if (c->has("floor_threads")) threads = c->getValue<int>("floor_threads");
    if (threads < 1 || threads > 64) throw std::runtime_error("floor_threads must be 1..64");
  } catch (const std::exception& e) {
    std::cerr << "event_loop_floor: bad config: " << e.what() << "\n";
    return 2;
  }
  const auto colon = listen.rfind(':');
  wal::Options options;
  options.dir = wal_dir;
  auto log = wal::Log::Open(options, [](const wal::ReplayedRecord&) { return Status::Ok(); });
  if (!log.ok()) {
    std::cerr << "event_loop_floor: " << log.status().ToString() << "\n";
    return 1;
  }
  std::atomic<std::uint64_t> seq{0};
  try {
    asio::io_context io(threads);
    tcp::acceptor acceptor(
        io, tcp::endpoint(asio::ip::make_address(listen.substr(0, colon)),
                          static_cast<unsigned short>(std::stoi(listen.substr(colon + 1)))));
    Accept(acceptor, **log, seq);
    std::vector<std::thread> pool;
    for (int i = 1; i < threads; ++i) pool.emplace_back([&] { io.run(); });
    io.run();
    for (auto& t : pool) t.join();
  } catch (const std::exception& e) {
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
