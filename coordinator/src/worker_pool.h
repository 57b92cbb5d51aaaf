#pragma once
// Internal: the engine's worker threads — blocking participant calls, and a few background jobs.
// Each Post wakes at most one idle worker, the one that went idle last (its stack and cache are
// still warm), and none while every worker is busy (a busy one takes the task next). Chosen over
// boost::asio::thread_pool, whose waiters wake in FIFO order (spreading a light load over every
// thread) and which wakes a second thread whenever a worker leaves another task queued.
// Thread-safety: Post and Join may be called from any thread, also from a task.
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace txcoord::coordinator::internal {

class WorkerPool {
 public:
  explicit WorkerPool(std::size_t threads);
  ~WorkerPool();  // Join()
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Runs `task` on a worker thread. Tasks posted once Join returned are dropped, never run.
  void Post(std::function<void()> task);
  // Stops the workers once the queue is empty — tasks already queued and those the running ones
  // post still run — and joins them. Idempotent; not from a task.
  void Join();

 private:
  struct Worker {
    std::condition_variable cv;
    bool woken = false;  // under mu_: set by whoever takes it off idle_
    std::thread thread;
  };
  void Loop(Worker& self);

  std::mutex mu_;
  std::deque<std::function<void()>> queue_;
  std::vector<Worker*> idle_;  // waiting for a task; the back one went idle last
  bool stopping_ = false;
  bool joined_ = false;
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace txcoord::coordinator::internal
