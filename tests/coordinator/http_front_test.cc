// The HTTP front (Boost.Beast) against real sockets on 127.0.0.1: keep-alive and pipelining,
// the limits (headers 431, body 413, garbage 400, slowloris 408/close, idle close, max
// connections, a full worker queue 503) and Stop() letting requests in flight finish. The engine
// behind it runs on the fakes of fixture.h; HTTP itself is not faked.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <future>

#include "fixture.h"
#include "txcoord/server/api_server.h"

namespace txcoord::testing {
namespace {

using Clock = std::chrono::steady_clock;

// A raw client connection. Reads are bounded by the deadline given; nothing here sleeps.
class Conn {
 public:
  explicit Conn(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~Conn() {
    if (fd_ >= 0) ::close(fd_);
  }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  bool connected() const { return connected_; }

  bool Send(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // Waits up to `limit` for bytes; false on timeout. Appends them to `in_`; sets closed() on EOF
  // or reset.
  bool ReadSome(std::chrono::milliseconds limit) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(limit.count())) <= 0) return false;
    char buf[16384];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) {
      closed_ = true;
    } else {
      in_.append(buf, static_cast<std::size_t>(n));
    }
    return true;
  }

  // The next response (status line, headers and Content-Length body), or status 0 when the
  // connection closed or `limit` passed first.
  struct Response {
    int status = 0;
    std::string head;
    std::string body;
  };
  Response Read(std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    const auto deadline = Clock::now() + limit;
    for (;;) {
      const auto end = in_.find("\r\n\r\n");
      if (end != std::string::npos) {
        Response r;
        r.head = in_.substr(0, end + 2);
        std::size_t length = 0;
        if (auto cl = Lower(r.head).find("content-length:"); cl != std::string::npos) {
          length = std::stoul(r.head.substr(cl + 15));
        }
        if (in_.size() >= end + 4 + length) {
          r.status = std::stoi(r.head.substr(9, 3));
          r.body = in_.substr(end + 4, length);
          in_.erase(0, end + 4 + length);
          return r;
        }
      }
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (closed_ || left.count() <= 0 || !ReadSome(left)) return {};
    }
  }

  // True when the server closes the connection within `limit` (any bytes before are kept).
  bool ClosedWithin(std::chrono::milliseconds limit) {
    const auto deadline = Clock::now() + limit;
    while (!closed_) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0 || !ReadSome(left)) return closed_;
    }
    return true;
  }

  static std::string Lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  bool closed_ = false;
  std::string in_;
};

std::string Get(const std::string& path) {
  return "GET " + path + " HTTP/1.1\r\nHost: t\r\n\r\n";
}

std::string Post(const std::string& path, const std::string& body) {
  return "POST " + path + " HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n" +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

std::string TransferBody(const std::string& gid) {
  return R"({"mode":"2pc","gid":")" + gid +
         R"(","branches":[{"participant":"pg","action":"transfer","payload":{"amount":"10"}},)"
         R"({"participant":"redis","action":"transfer","payload":{"amount":"10"}}]})";
}

class HttpFrontTest : public EngineTest {
 protected:
  void SetUp() override { Start(); }
  void TearDown() override {
    pg->prepare_gate.Open();
    server.reset();
    EngineTest::TearDown();
  }

  void Serve() {
    auto s = server::ApiServer::Start(*tm, options);
    ASSERT_TRUE(s.ok()) << s.status();
    server = std::move(*s);
  }
  std::uint16_t port() const { return server->port(); }

  server::ServerOptions options;
  std::unique_ptr<server::ApiServer> server;
};

TEST_F(HttpFrontTest, KeepAliveServesSeveralRequestsOnOneConnectionAlsoPipelined) {
  Serve();
  Conn c(port());
  ASSERT_TRUE(c.connected());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.Send(Get("/healthz")));
    EXPECT_EQ(c.Read().status, 200) << i;
  }
  ASSERT_TRUE(c.Send(Post("/v1/transactions", TransferBody("t1"))));
  const auto r = c.Read();
  EXPECT_EQ(r.status, 200) << r.head << r.body;
  EXPECT_NE(r.body.find("committed"), std::string::npos) << r.body;
  EXPECT_TRUE(
      Eventually([&] { return pg->committed_count() == 1 && redis->committed_count() == 1; }));
  // Two requests in one write: answered in order on the same connection.
  ASSERT_TRUE(c.Send(Get("/v1/transactions/t1") + Get("/v1/transactions/nope")));
  EXPECT_EQ(c.Read().status, 200);
  EXPECT_EQ(c.Read().status, 404);
  ASSERT_TRUE(c.Send(Get("/healthz")));
  EXPECT_EQ(c.Read().status, 200);
}

TEST_F(HttpFrontTest, SlowlorisIsCutOffAtTheReadDeadline) {
  options.read_timeout = 300ms;
  Serve();
  Conn c(port());
  ASSERT_TRUE(c.connected());
  const auto started = Clock::now();
  const std::string request = Get("/healthz");
  // One byte every 50 ms: the request would take ~1.7 s; the server gives it 300 ms.
  bool cut = false;
  for (char ch : request) {
    if (!c.Send(std::string(1, ch))) break;
    if (c.ReadSome(50ms)) {
      cut = true;
      break;
    }
  }
  ASSERT_TRUE(cut || c.ClosedWithin(2s)) << "the slow request was served";
  const auto r = c.Read(2s);
  EXPECT_EQ(r.status, 408) << r.head;  // bytes had arrived: answered, not just dropped
  EXPECT_TRUE(c.ClosedWithin(2s));
  EXPECT_LT(Clock::now() - started, 300ms + 1s);
  Conn ok(port());  // the server is fine
  ASSERT_TRUE(ok.Send(Get("/healthz")));
  EXPECT_EQ(ok.Read().status, 200);
}

TEST_F(HttpFrontTest, OversizedHeadersGet431AndClose) {
  options.max_header_bytes = 2048;
  Serve();
  Conn c(port());
  ASSERT_TRUE(
      c.Send("GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(4000, 'a') + "\r\n\r\n"));
  EXPECT_EQ(c.Read().status, 431);
  EXPECT_TRUE(c.ClosedWithin(3s));
}

TEST_F(HttpFrontTest, OversizedBodiesGet413AndCloseWithContentLengthOrChunked) {
  options.max_body_bytes = 1024;
  Serve();
  {
    Conn c(port());
    ASSERT_TRUE(c.Send(Post("/v1/transactions", std::string(5000, ' '))));
    const auto r = c.Read();
    EXPECT_EQ(r.status, 413) << r.body;
    EXPECT_NE(Conn::Lower(r.head).find("connection: close"), std::string::npos) << r.head;
    EXPECT_TRUE(c.ClosedWithin(3s));
  }
  {
    Conn c(port());
    std::string chunked =
        "POST /v1/transactions HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
        "Content-Type: application/json\r\n\r\n";
    for (int i = 0; i < 3; ++i) chunked += "200\r\n" + std::string(512, ' ') + "\r\n";
    chunked += "0\r\n\r\n";
    ASSERT_TRUE(c.Send(chunked));
    EXPECT_EQ(c.Read().status, 413);
    EXPECT_TRUE(c.ClosedWithin(3s));
  }
  EXPECT_EQ(pg->prepares(), 0);
}

TEST_F(HttpFrontTest, GarbageGets400AndCloseAndTheServerLivesOn) {
  Serve();
  for (const std::string& garbage :
       {std::string("\x16\x03\x01\x02", 4) + std::string(1, '\0') + "\x01 hello\r\n\r\n",
        std::string("GET / HTTX/1.1\r\n\r\n"), std::string("NOT HTTP AT ALL\r\n\r\n"),
        std::string("GET /healthz HTTP/1.1\r\nContent-Length: x\r\n\r\n")}) {
    Conn c(port());
    ASSERT_TRUE(c.Send(garbage));
    const auto r = c.Read(3s);
    EXPECT_EQ(r.status, 400) << r.head;
    EXPECT_TRUE(c.ClosedWithin(3s));
  }
  Conn ok(port());
  ASSERT_TRUE(ok.Send(Get("/healthz")));
  EXPECT_EQ(ok.Read().status, 200);
}

TEST_F(HttpFrontTest, IdleKeepAliveConnectionIsClosed) {
  options.idle_timeout = 200ms;
  Serve();
  Conn c(port());
  ASSERT_TRUE(c.Send(Get("/healthz")));
  EXPECT_EQ(c.Read().status, 200);
  const auto answered = Clock::now();
  EXPECT_TRUE(c.ClosedWithin(3s));
  EXPECT_LT(Clock::now() - answered, 200ms + 1s);
  EXPECT_GE(Clock::now() - answered, 150ms);
}

TEST_F(HttpFrontTest, MaxConnectionsClosesTheExtraOnesAndCountsThem) {
  options.max_connections = 2;
  Serve();
  auto a = std::make_unique<Conn>(port());
  Conn b(port());
  for (Conn* c : {a.get(), &b}) {  // both accepted and open
    ASSERT_TRUE(c->Send(Get("/healthz")));
    ASSERT_EQ(c->Read().status, 200);
  }
  {
    Conn extra(port());  // the kernel accepts; the server closes it at once
    EXPECT_TRUE(extra.ClosedWithin(3s));
  }
  ASSERT_TRUE(b.Send(Get("/metrics")));
  const auto m = b.Read();
  EXPECT_NE(m.body.find("txcoord_http_connections_refused_total 1"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("txcoord_http_connections 2"), std::string::npos);
  a.reset();  // a slot frees up once the server saw the close
  EXPECT_TRUE(Eventually([&] {
    Conn c(port());
    return c.Send(Get("/healthz")) && c.Read(2s).status == 200;
  }));
}

TEST_F(HttpFrontTest, FullWorkerQueueAnswers503WithRetryAfter) {
  options.max_threads = 1;
  options.max_queued = 1;
  Serve();
  pg->prepare_gate.Close();
  Conn busy(port()), queued(port()), extra(port());
  ASSERT_TRUE(busy.Send(Post("/v1/transactions", TransferBody("t1"))));
  ASSERT_TRUE(Eventually([&] { return pg->prepare_gate.waiting() == 1; }));
  ASSERT_TRUE(queued.Send(Post("/v1/transactions", TransferBody("t2"))));
  ASSERT_FALSE(queued.ReadSome(100ms));  // waits for the worker
  ASSERT_TRUE(extra.Send(Post("/v1/transactions", TransferBody("t3"))));
  const auto r = extra.Read();
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(Conn::Lower(r.head).find("retry-after: 1"), std::string::npos) << r.head;
  ASSERT_TRUE(extra.Send(Get("/healthz")));  // health is served on the I/O thread
  EXPECT_EQ(extra.Read().status, 200);
  pg->prepare_gate.Open();
  EXPECT_EQ(busy.Read().status, 200);
  EXPECT_EQ(queued.Read().status, 200);
}

TEST_F(HttpFrontTest, StopLetsRequestsInFlightFinish) {
  Serve();
  const auto p = port();
  pg->prepare_gate.Close();
  Conn c(p);
  ASSERT_TRUE(c.Send(Post("/v1/transactions", TransferBody("t1"))));
  ASSERT_TRUE(Eventually([&] { return pg->prepare_gate.waiting() == 1; }));
  auto stopped = std::async(std::launch::async, [&] { server->Stop(); });
  // Stop closes the listener first and then waits for the request.
  ASSERT_TRUE(Eventually([&] { return !Conn(p).connected(); }));
  EXPECT_EQ(stopped.wait_for(100ms), std::future_status::timeout);
  pg->prepare_gate.Open();
  const auto r = c.Read();
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("committed"), std::string::npos) << r.body;
  EXPECT_NE(Conn::Lower(r.head).find("connection: close"), std::string::npos) << r.head;
  EXPECT_EQ(stopped.wait_for(10s), std::future_status::ready);
  EXPECT_TRUE(c.ClosedWithin(3s));
}

}  // namespace
}  // namespace txcoord::testing
