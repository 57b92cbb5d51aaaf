#include "worker_pool.h"

#include <pthread.h>

namespace txcoord::coordinator::internal {

WorkerPool::WorkerPool(std::size_t threads) {
  workers_.reserve(threads);
  for (std::size_t i = 0; i < threads; ++i) workers_.push_back(std::make_unique<Worker>());
  for (auto& w : workers_) {
    w->thread = std::thread([this, &self = *w] { Loop(self); });
    ::pthread_setname_np(w->thread.native_handle(), "txc-worker");
  }
}

WorkerPool::~WorkerPool() {
  Join();
}

void WorkerPool::Post(std::function<void()> task) {
  Worker* wake = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (joined_) return;
    queue_.push_back(std::move(task));
    if (!idle_.empty()) {
      wake = idle_.back();
      idle_.pop_back();
      wake->woken = true;
    }
  }
  // Workers live until Join: notifying after the unlock is safe (at worst a spurious wake-up).
  if (wake != nullptr) wake->cv.notify_one();
}

void WorkerPool::Loop(Worker& self) {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    if (!queue_.empty()) {
      std::function<void()> task = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      task();
      task = nullptr;  // its captures die outside the lock
      lock.lock();
      continue;
    }
    if (stopping_) return;
    self.woken = false;
    idle_.push_back(&self);
    self.cv.wait(lock, [&] { return self.woken; });
  }
}

void WorkerPool::Join() {
  std::vector<Worker*> wake;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    wake.swap(idle_);
    for (Worker* w : wake) w->woken = true;
  }
  for (Worker* w : wake) w->cv.notify_one();
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
  }
  std::deque<std::function<void()>> dropped;  // posted after the last worker left
  std::lock_guard<std::mutex> lock(mu_);
  joined_ = true;
  dropped.swap(queue_);
}

}  // namespace txcoord::coordinator::internal
