// keel-wirepeer: a diagnostic and hostile client of the replica target's wire
// protocol (docs/wire-protocol.md).  It connects to a replica target (started
// with `keelsetup listen`) as an attached node would, and runs scenarios:
// a valid handshake, a write read back, and malformed or out-of-place
// messages that the target must answer by closing the connection — never by
// acknowledging them.
//
// Exit status: 0 every scenario behaved as the protocol requires, 1 one did
// not (or the target could not be reached), 2 usage.
#include <fcntl.h>
#include <linux/keel.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "manager/common/size.h"
#include "manager/kernel/kernel_client.h"
#include "tests/tools/wire_peer.h"

namespace keel::wirepeer {
namespace {

Result<std::vector<uint8_t>> HexBytes(const std::string& hex) {
  std::string digits;
  for (char c : hex) {
    if (isspace(static_cast<unsigned char>(c))) continue;
    if (!isxdigit(static_cast<unsigned char>(c)))
      return Status::Error(EINVAL, "--secret-hex holds a character that is not a hex digit");
    digits += c;
  }
  if (digits.size() % 2) return Status::Error(EINVAL, "--secret-hex has an odd number of digits");
  std::vector<uint8_t> out;
  for (size_t i = 0; i < digits.size(); i += 2)
    out.push_back(static_cast<uint8_t>(std::stoi(digits.substr(i, 2), nullptr, 16)));
  return out;
}

Result<std::vector<uint8_t>> FileBytes(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    return Status::Error(e, "cannot read " + path + ": " + strerror(e));
  }
  std::vector<uint8_t> out;
  uint8_t buf[256];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0 && out.size() <= KEEL_SECRET_MAX)
    out.insert(out.end(), buf, buf + n);
  close(fd);
  return out;
}

// Scenarios that never authenticate, so they work without the secret.
bool NeedsSecret(const std::string& name) {
  return name != "bad-magic" && name != "truncated-header" && name != "garbage";
}

int Usage(const std::string& why) {
  std::cerr << "keel-wirepeer: " << why << "\n";
  return 2;
}

}  // namespace
}  // namespace keel::wirepeer

int main(int argc, char** argv) {
  using namespace keel;
  using namespace keel::wirepeer;

  std::string scenario_help;
  for (const auto& [name, what] : Scenarios()) {
    std::string pad(name.size() < 18 ? 18 - name.size() : 1, ' ');
    scenario_help += "  " + name + pad + what + "\n";
  }
  CLI::App app{
      "keel-wirepeer - a diagnostic and hostile client of a keel replica target.\n"
      "Connects to the target a node runs for a volume ('keelsetup listen') and checks how it\n"
      "treats a correct initiator and malformed or out-of-place messages.",
      "keel-wirepeer"};
  app.footer("Scenarios (run in the order given; 'all' is every one):\n" + scenario_help +
             "\n"
             "A hostile scenario passes when the target closes the connection (a REFUSE before\n"
             "closing is fine; for beyond-end, bad-digest and stale-epoch's WRITE an ACK with\n"
             "an error status also passes).  A success ACK, a WELCOME or any other answer fails "
             "it, and so does a\n"
             "target that keeps the connection open for --timeout without answering.\n"
             "stale-epoch connects with epoch 0, so the target's epoch must be at least 1.\n"
             "Side effects on a live target: each completed handshake replaces the target's\n"
             "current connection (a real attached node reconnects), and an --epoch above the\n"
             "target's is adopted by it (persisted), which fences initiators of a lower epoch.\n"
             "write-read and bad-digest write 4 KiB at --offset: use a volume whose data does\n"
             "not matter.  Put 'handshake' last to check the target still serves after the\n"
             "hostile scenarios.\n"
             "\n"
             "Output: one line per scenario, 'PASS name: detail' or 'FAIL name: detail'; with\n"
             "--json one object per line: {\"name\", \"outcome\": \"pass\"|\"fail\", \"detail\"}.\n"
             "Exit status: 0 every scenario passed, 1 one failed, 2 usage error.\n"
             "\n"
             "Example:\n"
             "  keel-wirepeer --addr 10.214.0.2 --port 7800 --uuid $U --size 1G \\\n"
             "      --secret-file /etc/keel/secret --epoch 3 handshake write-read bad-mac all\n");

  PeerConfig cfg;
  std::string uuid, size, secret_hex, secret_file;
  uint32_t timeout_ms = 5000;
  bool json = false;
  std::vector<std::string> scenarios;
  app.add_option("--addr", cfg.addr, "The target's IPv4 or IPv6 address")->required();
  app.add_option("--port", cfg.port, "The target's TCP port")
      ->required()
      ->check(CLI::Range(1, 65535));
  app.add_option("--uuid", uuid, "The volume's UUID (as in keelsetup status)")->required();
  app.add_option("--size", size, "The volume's size: bytes, or 1G, 512M")->required();
  app.add_option("--block-size", cfg.block_size, "The volume's block size")
      ->check(CLI::IsMember({512, 4096}))
      ->capture_default_str();
  app.add_option("--secret-hex", secret_hex, "The cluster secret as hex digits");
  app.add_option("--secret-file", secret_file, "A file whose bytes are the cluster secret");
  app.add_option("--epoch", cfg.epoch, "Our epoch, sent in HELLO and every request")
      ->capture_default_str();
  app.add_option("--offset", cfg.offset, "Byte offset for write-read and bad-digest")
      ->capture_default_str();
  app.add_option("--garbage-bytes", cfg.garbage_bytes, "How many random bytes 'garbage' sends")
      ->check(CLI::Range(1, 1 << 24))
      ->capture_default_str();
  app.add_option("--timeout", timeout_ms, "Milliseconds to wait for each answer or close")
      ->check(CLI::Range(1, 600000))
      ->capture_default_str();
  app.add_flag("--json", json, "One JSON object per scenario");
  app.add_option("SCENARIO", scenarios, "Scenarios to run")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  auto addr = ParseAddress(cfg.addr);
  if (!addr.ok()) return Usage(addr.status().message());
  auto u = Uuid::Parse(uuid);
  if (!u.ok()) return Usage(u.status().message());
  cfg.uuid = *u;
  auto sz = ParseSize(size);
  if (!sz.ok()) return Usage(sz.status().message());
  cfg.size = *sz;
  cfg.timeout = std::chrono::milliseconds(timeout_ms);
  if (!secret_hex.empty() && !secret_file.empty())
    return Usage("--secret-hex and --secret-file exclude each other");
  if (!secret_hex.empty() || !secret_file.empty()) {
    auto s = secret_hex.empty() ? FileBytes(secret_file) : HexBytes(secret_hex);
    if (!s.ok()) return Usage(s.status().message());
    cfg.secret = *s;
    // Not refused outside 16..64 bytes: a wrong length is a way to test too.
  }

  std::vector<std::string> run;
  for (const auto& s : scenarios) {
    if (s == "all") {
      for (const auto& [name, what] : Scenarios()) run.push_back(name);
      continue;
    }
    bool known = false;
    for (const auto& [name, what] : Scenarios()) known |= name == s;
    if (!known) return Usage("unknown scenario '" + s + "' (see --help)");
    run.push_back(s);
  }
  for (const auto& s : run) {
    if (NeedsSecret(s) && cfg.secret.empty())
      return Usage("scenario '" + s + "' needs the secret: --secret-hex or --secret-file");
  }

  bool all_pass = true;
  for (const auto& name : run) {
    ScenarioResult r = RunScenario(name, cfg);
    all_pass &= r.pass;
    if (json) {
      std::cout << nlohmann::json{{"name", r.name},
                                  {"outcome", r.pass ? "pass" : "fail"},
                                  {"detail", r.detail}}
                       .dump()
                << "\n"
                << std::flush;
    } else {
      std::cout << (r.pass ? "PASS " : "FAIL ") << r.name << ": " << r.detail << "\n" << std::flush;
    }
  }
  return all_pass ? 0 : 1;
}
