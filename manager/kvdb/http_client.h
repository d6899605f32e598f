// HttpClient: the little HTTP the etcd kvdb needs (POST of a JSON body,
// plain or streamed reply), behind an interface so the request encoding and
// reply decoding can be tested without a network.  CurlHttpClient is the
// real one (libcurl).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "manager/common/status.h"

namespace keel {

struct HttpResponse {
  long status = 0;  // HTTP status code
  std::string body;
};

class HttpClient {
 public:
  virtual ~HttpClient() = default;

  // POSTs `body` (JSON) to `url` and returns the whole reply, or a
  // transport error:
  //   ECONNREFUSED / EHOSTUNREACH: could not connect (nothing was sent, so
  //                                any request may be retried elsewhere);
  //   ETIMEDOUT: `timeout` passed (the request may have been applied);
  //   EIO:       the connection failed mid-way (likewise).
  virtual Result<HttpResponse> Post(const std::string& url, const std::string& body,
                                    std::chrono::milliseconds timeout) = 0;

  // POSTs `body` and hands the reply's bytes to `on_data` as they arrive,
  // until the server ends the reply, a transport error, `on_data` returns
  // false or `stop()` returns true (checked at least every 50 ms).  Returns
  // ok when the reply ended or was stopped; the HTTP status in `*status`.
  virtual Status Stream(const std::string& url, const std::string& body,
                        std::chrono::milliseconds connect_timeout,
                        const std::function<bool(std::string_view)>& on_data,
                        const std::function<bool()>& stop, long* status) = 0;
};

class CurlHttpClient : public HttpClient {
 public:
  // `headers`: extra request headers ("Name: value") sent with every
  // request, besides Content-Type: application/json.
  explicit CurlHttpClient(std::vector<std::string> headers = {});
  Result<HttpResponse> Post(const std::string& url, const std::string& body,
                            std::chrono::milliseconds timeout) override;
  Status Stream(const std::string& url, const std::string& body,
                std::chrono::milliseconds connect_timeout,
                const std::function<bool(std::string_view)>& on_data,
                const std::function<bool()>& stop, long* status) override;

 private:
  const std::vector<std::string> headers_;
};

}  // namespace keel
