#include "txcoord/core/thread_name.h"

#include <pthread.h>

#include <string>

namespace txcoord {

void NameThisThread(std::string_view name) {
  const std::string kept(name.substr(0, 15));  // the kernel's limit, 16 bytes with the NUL
  ::pthread_setname_np(::pthread_self(), kept.c_str());
}

void NameThisThreadOnce(std::string_view name) {
  thread_local bool named = false;
  if (named) return;
  named = true;
  NameThisThread(name);
}

}  // namespace txcoord
