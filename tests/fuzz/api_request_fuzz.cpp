// libFuzzer target: keeld's API request parser (manager/api/request.h) must
// turn any bytes into a Request or an ApiError with a non-empty code and
// message, and every reply it leads to must be valid JSON — never a crash,
// a hang, a leak or undefined behaviour (built with ASan and UBSan).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string_view>

#include "manager/api/request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto r = keel::ParseRequest(text);
  std::string reply;
  if (auto* e = std::get_if<keel::ApiError>(&r)) {
    if (e->code.empty() || e->message.empty()) abort();
    reply = keel::ErrorReply(*e);
  } else {
    const keel::Request& q = std::get<keel::Request>(r);
    if (q.command == keel::Command::kVolumeCreate &&
        (q.size == 0 || q.size % q.block_size != 0 || q.name.empty())) {
      abort();
    }
    reply = keel::OkReply({{"name", q.name}});
  }
  if (nlohmann::json::parse(reply, nullptr, false).is_discarded()) abort();
  return 0;
}
