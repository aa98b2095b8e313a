#include "tests/support/process.h"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace testsupport {

std::string MeridianBinary() {
  if (const char* env = std::getenv("MERIDIAN_BINARY")) return env;
  return MERIDIAN_BINARY;
}

TempDir::TempDir(const std::string& prefix) {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/" + prefix + "-XXXXXX";
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  if (!mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed for " + pattern);
  path_ = buf.data();
}

TempDir::~TempDir() {
  if (keep_) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

namespace {
std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

std::unique_ptr<ServerProcess> ServerProcess::Start(std::vector<std::string> args, const std::string& log_prefix,
                                                    std::chrono::milliseconds timeout,
                                                    const std::vector<std::string>& env) {
  bool has_listen = false;
  for (const auto& a : args) has_listen |= a.rfind("--listen=", 0) == 0;
  if (!has_listen) args.push_back("--listen=127.0.0.1:0");
  std::unique_ptr<ServerProcess> proc(new ServerProcess());
  proc->log_prefix_ = log_prefix;
  const std::string out_path = log_prefix + ".out";
  const std::string err_path = log_prefix + ".err";
  const std::string binary = MeridianBinary();

  std::vector<std::string> argv_store = {binary};
  argv_store.insert(argv_store.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_store) argv.push_back(a.data());
  argv.push_back(nullptr);
  // The environment, with `env` replacing variables of the same name (built before fork).
  std::vector<std::string> env_store;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string var(*e);
    const std::string name = var.substr(0, var.find('='));
    bool replaced = false;
    for (const auto& extra : env) replaced |= extra.rfind(name + "=", 0) == 0;
    if (!replaced) env_store.push_back(var);
  }
  env_store.insert(env_store.end(), env.begin(), env.end());
  std::vector<char*> envp;
  for (auto& e : env_store) envp.push_back(e.data());
  envp.push_back(nullptr);

  std::remove(out_path.c_str());  // never read a previous run's URL
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    const int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (out < 0 || err < 0) _exit(127);
    dup2(out, STDOUT_FILENO);
    dup2(err, STDERR_FILENO);
    const int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    execve(binary.c_str(), argv.data(), envp.data());
    _exit(127);
  }
  proc->pid_ = pid;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const std::string marker = " listening on ";
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string out = ReadFile(out_path);
    if (auto at = out.find(marker); at != std::string::npos) {
      const auto end = out.find('\n', at);
      if (end != std::string::npos) {
        proc->url_ = out.substr(at + marker.size(), end - at - marker.size());
        return proc;
      }
    }
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      proc->pid_ = -1;
      throw std::runtime_error("meridian exited before listening (status " + std::to_string(status) +
                               "): " + ReadFile(err_path));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  proc->Kill();
  throw std::runtime_error("meridian did not report its URL in time: " + ReadFile(err_path));
}

ServerProcess::~ServerProcess() {
  if (running()) Kill();
}

void ServerProcess::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

int ServerProcess::Terminate(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  const int status = WaitForExit(timeout);
  if (status < 0) Kill();
  return status;
}

int ServerProcess::WaitForExit(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return -1;
}

std::string ServerProcess::Stderr() const { return ReadFile(log_prefix_ + ".err"); }

}  // namespace testsupport
