// KeeldApi: the plugin's KeelApi over keeld's own API socket (an ApiClient,
// manager/api/api_client.h).  Going through the socket serializes plugin
// requests with every other client's, one at a time on keeld's main loop,
// and never nests one volume operation inside another.
#pragma once

#include <string>

#include "manager/api/api_client.h"
#include "manager/plugin/volume_driver.h"

namespace keel::plugin {

class KeeldApi : public KeelApi {
 public:
  explicit KeeldApi(ApiClient* client) : client_(client) {}
  Result<nlohmann::json> Call(const std::string& command, const nlohmann::json& args) override;

 private:
  ApiClient* client_;
};

// The errno for an API error code ("not_found": ENOENT, ...).
int ErrnoForApiCode(const std::string& code);

}  // namespace keel::plugin
