// libFuzzer target: the Docker plugin's request path (docs/docker-plugin.md)
// — any bytes through the HTTP parser (manager/plugin/http.h) and, when they
// make a request, through the VolumeDriver (against the fakes of
// manager/plugin/fakes.h, a keeld that has one volume).  Properties: a
// complete request's body is within the limit, an error has a status and a
// reason; every answer is a JSON object, with "Err" a string on every
// VolumeDriver call; never a crash, a hang, a leak or undefined behaviour
// (built with ASan and UBSan).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "manager/plugin/fakes.h"
#include "manager/plugin/http.h"
#include "manager/plugin/volume_driver.h"

using keel::Result;
using keel::Status;
using nlohmann::json;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  keel::plugin::HttpLimits limits{4096, 4096};
  auto p = keel::plugin::ParseHttpRequest(text, limits);
  if (p.state == keel::plugin::ParseState::kError) {
    if (p.status < 400 || p.status > 599 || p.error.empty()) abort();
    return 0;
  }
  if (p.state == keel::plugin::ParseState::kIncomplete) return 0;
  if (p.request.body.size() > limits.max_body_bytes) abort();

  keel::plugin::FakeApi api;
  keel::plugin::FakeMounter mounter;
  keel::plugin::MemoryMountRefs refs;
  mounter.devices.insert("/dev/keel0");
  auto one = [](const json& a) -> Result<json> {
    if (a.value("name", "") != "db") return Status::Error(ENOENT, "no such volume");
    return json{{"name", "db"},
                {"device", "/dev/keel0"},
                {"state", "attached"},
                {"labels", {{"fs", "xfs"}}}};
  };
  for (const char* c : {"volume.attach", "volume.inspect", "volume.detach", "volume.delete"}) {
    api.handlers[c] = one;
  }
  api.handlers["volume.create"] = [](const json&) -> Result<json> { return json::object(); };
  api.handlers["volume.list"] = [](const json&) -> Result<json> {
    return json{{"volumes", {{{"name", "db"}}}}};
  };
  keel::plugin::VolumeDriver driver({}, &api, &mounter, &refs);
  std::string_view path = p.request.target;
  auto r = driver.Handle(path.substr(0, path.find('?')), p.request.body);
  if (!r.body.is_object()) abort();
  if (path.starts_with("/VolumeDriver.") && r.body.contains("Err") && !r.body["Err"].is_string()) {
    abort();
  }
  if (r.http_status == 200 && path.starts_with("/VolumeDriver.") &&
      path != "/VolumeDriver.Capabilities" && !r.body.contains("Err")) {
    abort();
  }
  return 0;
}
