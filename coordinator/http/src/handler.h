#pragma once
// The API's request handler (internal): routing by method and path, auth, bodies, rendering.
// Transport-neutral: it works on HttpRequest/HttpResponse (message.h), not on sockets.
#include <functional>

#include "message.h"
#include "metrics.h"
#include "txcoord/core/status.h"
#include "txcoord/server/api_server.h"

namespace txcoord::server {

// Shared by every request; owned by the server, outlives every request it serves.
struct Context {
  coordinator::TransactionManager& manager;
  ServerOptions options;
  HttpCounters http;
};

// Called exactly once with the response.
using Reply = std::function<void(HttpResponse)>;

// Serves one request and hands the response to `done`. Today the manager's calls block, so this
// runs on the caller's thread (a worker) and calls `done` before it returns; an asynchronous
// engine may call `done` later from another thread. Never throws: a failure becomes a 5xx.
void HandleRequest(Context& ctx, HttpRequest request, const Reply& done);

// True for the routes that never block (/healthz, /readyz, /metrics): the front may serve them on
// its I/O thread, so health checks answer even when every worker is busy.
bool IsInlineRoute(const HttpRequest& request);

// An error response produced by the front itself (400, 408, 431, 503...), in the encoding the
// request asks for (JSON when `request` is null), counted under route "other". Retry-After: 1
// on 429 and 503. The connection is closed after it when `close`.
HttpResponse ErrorResponse(Context& ctx, const HttpRequest* request, int status, const Status& s,
                           bool close);

}  // namespace txcoord::server
