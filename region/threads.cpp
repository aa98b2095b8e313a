#include "region/threads.h"

#include <cstring>

#include <pthread.h>

namespace region {

void NameThread(const char* name) {
  char shortened[16] = {};
  std::strncpy(shortened, name, sizeof shortened - 1);
  pthread_setname_np(pthread_self(), shortened);
}

}  // namespace region
