// Test support: seeds for randomised tests. MERIDIAN_SEED=<n> replays one seed; otherwise
// a fresh base seed is drawn and printed so that any failure can be replayed.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <random>
#include <string>

namespace testsupport {

struct SeedPlan {
  uint64_t first = 0;
  uint64_t count = 0;
};

// `count` seeds starting at a random base, or exactly the one in $MERIDIAN_SEED.
inline SeedPlan Seeds(const std::string& test, uint64_t count) {
  if (const char* env = std::getenv("MERIDIAN_SEED")) {
    return {std::strtoull(env, nullptr, 10), 1};
  }
  const uint64_t base = (uint64_t{std::random_device{}()} << 32) ^ std::random_device{}();
  std::cout << test << ": seeds " << base << " .. " << base + count - 1
            << " (replay one with MERIDIAN_SEED=<seed>)" << std::endl;
  return {base, count};
}

}  // namespace testsupport
