#include <csignal>
#include <iostream>

#include <Poco/Exception.h>

#include "server/app.h"

// The signals that stop the server are blocked before any thread starts, so that every
// thread inherits the mask: they stay pending until the main thread waits for them
// (ServerApplication::waitForTerminationRequest). Otherwise a SIGTERM that came while the
// server was starting (after it said it listens) ended the process at once, without the
// clean shutdown. The rest is POCO_SERVER_MAIN.
int main(int argc, char** argv) {
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGQUIT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  try {
    server::MeridianApp app;
    return app.run(argc, argv);
  } catch (Poco::Exception& e) {
    std::cerr << e.displayText() << std::endl;
    return Poco::Util::Application::EXIT_SOFTWARE;
  }
}
