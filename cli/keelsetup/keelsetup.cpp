// keelsetup: the low-level tool that speaks netlink to keel.ko directly, for
// tests and operators (as drbdsetup is to DRBD).  keeld is the normal way to
// drive the module; keelsetup changes nothing keeld would not know about
// except when you ask it to.
//
// Exit status: 0 success, 1 the module or the system refused, 2 usage error.
#include <linux/keel.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "manager/kernel/netlink_client.h"

namespace keel {
namespace {

constexpr int kExitError = 1;

std::vector<std::string> FeatureNames(uint64_t mask) {
  std::vector<std::string> names;
  if (mask & KEEL_FEATURE_EVENTS) names.emplace_back("events");
  uint64_t known = KEEL_FEATURE_EVENTS;
  for (int bit = 0; bit < 64; ++bit)
    if ((mask & ~known) & (1ULL << bit)) names.push_back("bit" + std::to_string(bit));
  return names;
}

int Fail(const Status& s, bool json) {
  if (json) {
    nlohmann::json j = {{"error", {{"code", s.code()}, {"message", s.message()}}}};
    std::cout << j.dump(2) << "\n";
  }
  std::cerr << "keelsetup: " << s.message() << "\n";
  return kExitError;
}

int CmdInfo(bool json) {
  auto client = NetlinkKernelClient::Connect();
  if (!client.ok()) return Fail(client.status(), json);
  auto info = (*client)->GetInfo();
  if (!info.ok()) return Fail(info.status(), json);
  std::string features;
  for (const auto& f : FeatureNames(info->features)) features += (features.empty() ? "" : ",") + f;
  if (json) {
    nlohmann::json j = {
        {"version", info->version},
        {"api_version", info->api_version},
        {"features", FeatureNames(info->features)},
        {"features_mask", info->features},
        {"kernel_release", info->kernel_release},
        {"keelsetup_version", KEEL_VERSION},
    };
    std::cout << j.dump(2) << "\n";
  } else {
    std::printf("module version:   %s\n", info->version.c_str());
    std::printf("netlink api:      %u (keelsetup speaks %d)\n", info->api_version,
                KEEL_GENL_VERSION);
    std::printf("features:         %s\n", features.empty() ? "-" : features.c_str());
    std::printf("kernel:           %s\n", info->kernel_release.c_str());
    std::printf("keelsetup:        %s\n", KEEL_VERSION);
  }
  return 0;
}

}  // namespace
}  // namespace keel

int main(int argc, char** argv) {
  CLI::App app{
      "keelsetup - talk to the keel kernel module (keel.ko) directly over generic netlink.\n"
      "Low-level tool for tests and operators; keeld and keelctl are the normal interface.\n"
      "Needs root (CAP_SYS_ADMIN) and the module loaded (modprobe keel).",
      "keelsetup"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("keelsetup ") + KEEL_VERSION);
  app.footer(
      "Examples:\n"
      "  keelsetup info              module version, netlink API and features\n"
      "  keelsetup info --json       the same as JSON\n"
      "\nExit status: 0 success, 1 the module or system refused, 2 usage error.");

  bool json = false;
  auto* info = app.add_subcommand("info", "Show the loaded module's version, API and features");
  info->add_flag("--json", json, "Print JSON instead of text");
  info->footer(
      "Prints the version and netlink API version of the loaded keel.ko, the features it\n"
      "supports and the kernel it runs in.  Example: keelsetup info --json");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (info->parsed()) return keel::CmdInfo(json);
  return 2;
}
