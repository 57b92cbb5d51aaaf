#include "txcoord/core/thread_name.h"

#include <pthread.h>

#include <string>

namespace txcoord {

namespace {

void Name(pthread_t t, std::string_view name) {
  const std::string kept(name.substr(0, 15));  // the kernel's limit, 16 bytes with the NUL
  ::pthread_setname_np(t, kept.c_str());
}

}  // namespace

void NameThisThread(std::string_view name) {
  Name(::pthread_self(), name);
}

void NameThread(std::thread& t, std::string_view name) {
  Name(t.native_handle(), name);
}

void NameThisThreadOnce(std::string_view name) {
  thread_local bool named = false;
  if (named) return;
  named = true;
  NameThisThread(name);
}

}  // namespace txcoord
