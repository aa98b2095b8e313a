// Thread set-up shared by the region's and the server's threads.
#pragma once

namespace region {

// Names the calling thread for top -H, perf and debuggers (the kernel keeps 15 characters).
void NameThread(const char* name);

}  // namespace region
