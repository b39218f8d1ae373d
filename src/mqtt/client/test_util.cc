#include "mqtt/client/test_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "tests/support/testing.h"

namespace aiot::mqtt::testing {

using aiot::test_support::WaitFor;

namespace {

bool CanConnect(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

Mosquitto::Mosquitto(uint16_t port, std::string extra_config) : port_(port ? port : FreePort()) {
  char tmpl[] = "/tmp/aiot-mosquitto-XXXXXX";
  dir_ = ::mkdtemp(tmpl);
  // mosquitto started as root drops to the `mosquitto` user, which must write its log here.
  ::chmod(dir_.c_str(), 0777);
  std::ofstream conf(dir_ + "/mosquitto.conf");
  conf << "listener " << port_ << " 127.0.0.1\n"
       << "allow_anonymous true\n"
       << "persistence false\n"
       << "log_dest file " << dir_ << "/mosquitto.log\n"
       << extra_config << "\n";
}

Mosquitto::~Mosquitto() {
  Kill();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

bool Mosquitto::Available() { return ::access("/usr/sbin/mosquitto", X_OK) == 0; }

bool Mosquitto::Start() {
  const std::string conf = dir_ + "/mosquitto.conf";
  pid_ = ::fork();
  if (pid_ == 0) {
    ::execl("/usr/sbin/mosquitto", "mosquitto", "-c", conf.c_str(), static_cast<char*>(nullptr));
    std::_Exit(127);
  }
  if (pid_ < 0) return false;
  return WaitFor([this] {
           int status;
           if (::waitpid(pid_, &status, WNOHANG) == pid_) {
             pid_ = -1;
             return true;  // exited: fail below
           }
           return CanConnect(port_);
         }) &&
         pid_ > 0;
}

void Mosquitto::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

void Mosquitto::Stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  int status;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

IoThread::IoThread() : guard_(io_.get_executor()), thread_([this] { io_.run(); }) {}

IoThread::~IoThread() {
  guard_.reset();
  io_.stop();
  thread_.join();
}

}  // namespace aiot::mqtt::testing
