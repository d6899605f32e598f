#include "manager/kvdb/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <mutex>

namespace keel {
namespace {

// A member that does not take a connection within this long is taken as
// down, even when the request's own timeout is longer.
constexpr int64_t kConnectTimeoutMs = 1000;

// curl_global_init is not thread-safe; do it once for the process.
void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct EasyDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using Easy = std::unique_ptr<CURL, EasyDeleter>;
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

int ErrnoOf(CURLcode rc) {
  switch (rc) {
    case CURLE_COULDNT_CONNECT:
      return ECONNREFUSED;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      return EHOSTUNREACH;
    case CURLE_OPERATION_TIMEDOUT:
      return ETIMEDOUT;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return EINVAL;
    default:
      return EIO;
  }
}

Status CurlError(const std::string& url, CURLcode rc, const char* detail) {
  std::string msg = "http: POST " + url + ": " + curl_easy_strerror(rc);
  if (detail && *detail) msg += std::string(" (") + detail + ")";
  return Status::Error(ErrnoOf(rc), msg);
}

size_t AppendBody(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

struct StreamCtx {
  const std::function<bool(std::string_view)>* on_data;
  bool stopped = false;
};

size_t StreamBody(char* data, size_t size, size_t n, void* user) {
  auto* ctx = static_cast<StreamCtx*>(user);
  if (!(*ctx->on_data)(std::string_view(data, size * n))) {
    ctx->stopped = true;
    return 0;  // makes curl abort the transfer
  }
  return size * n;
}

// The settings both kinds of request share.
Easy NewEasy(const std::string& url, const std::string& body, curl_slist* headers, char* errbuf) {
  Easy c(curl_easy_init());
  if (!c) return c;
  curl_easy_setopt(c.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(c.get(), CURLOPT_POST, 1L);
  curl_easy_setopt(c.get(), CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(c.get(), CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(c.get(), CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c.get(), CURLOPT_ERRORBUFFER, errbuf);
  // No signals: timeouts must not use SIGALRM in a threaded daemon.
  curl_easy_setopt(c.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c.get(), CURLOPT_PROTOCOLS_STR, "http,https");
  return c;
}

}  // namespace

CurlHttpClient::CurlHttpClient(std::vector<std::string> headers) : headers_(std::move(headers)) {
  GlobalInit();
}

Result<HttpResponse> CurlHttpClient::Post(const std::string& url, const std::string& body,
                                          std::chrono::milliseconds timeout) {
  char errbuf[CURL_ERROR_SIZE] = {0};
  Slist headers(curl_slist_append(nullptr, "Content-Type: application/json"));
  // Appends in place to a non-empty list.
  for (const std::string& h : headers_) curl_slist_append(headers.get(), h.c_str());
  Easy c = NewEasy(url, body, headers.get(), errbuf);
  if (!c) return Status::Error(ENOMEM, "http: curl_easy_init failed");
  HttpResponse resp;
  curl_easy_setopt(c.get(), CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(c.get(), CURLOPT_WRITEDATA, &resp.body);
  curl_easy_setopt(c.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(c.get(), CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(std::min<int64_t>(timeout.count(), kConnectTimeoutMs)));
  CURLcode rc = curl_easy_perform(c.get());
  if (rc == CURLE_OPERATION_TIMEDOUT) {
    // A timeout before the connection was up means nothing was sent: as
    // safe to retry elsewhere as a refused connection.
    curl_off_t connected = 0;
    curl_easy_getinfo(c.get(), CURLINFO_CONNECT_TIME_T, &connected);
    if (connected == 0) {
      return Status::Error(
          EHOSTUNREACH, "http: POST " + url + ": could not connect within " +
                            std::to_string(std::min<int64_t>(timeout.count(), kConnectTimeoutMs)) +
                            " ms");
    }
  }
  if (rc != CURLE_OK) return CurlError(url, rc, errbuf);
  curl_easy_getinfo(c.get(), CURLINFO_RESPONSE_CODE, &resp.status);
  return resp;
}

Status CurlHttpClient::Stream(const std::string& url, const std::string& body,
                              std::chrono::milliseconds connect_timeout,
                              const std::function<bool(std::string_view)>& on_data,
                              const std::function<bool()>& stop, long* status) {
  char errbuf[CURL_ERROR_SIZE] = {0};
  Slist headers(curl_slist_append(nullptr, "Content-Type: application/json"));
  // Appends in place to a non-empty list.
  for (const std::string& h : headers_) curl_slist_append(headers.get(), h.c_str());
  Easy c = NewEasy(url, body, headers.get(), errbuf);
  if (!c) return Status::Error(ENOMEM, "http: curl_easy_init failed");
  StreamCtx ctx{&on_data};
  curl_easy_setopt(c.get(), CURLOPT_WRITEFUNCTION, StreamBody);
  curl_easy_setopt(c.get(), CURLOPT_WRITEDATA, &ctx);
  curl_easy_setopt(c.get(), CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(connect_timeout.count()));
  // A multi handle, so the loop can look at stop() while the stream is
  // idle (a watch may see no event for hours).
  CURLM* m = curl_multi_init();
  if (!m) return Status::Error(ENOMEM, "http: curl_multi_init failed");
  curl_multi_add_handle(m, c.get());
  Status result;
  for (;;) {
    int running = 0;
    CURLMcode mc = curl_multi_perform(m, &running);
    if (mc != CURLM_OK) {
      result = Status::Error(EIO, "http: POST " + url + ": " + curl_multi_strerror(mc));
      break;
    }
    if (running == 0) {
      int left = 0;
      CURLMsg* msg = curl_multi_info_read(m, &left);
      CURLcode rc = msg && msg->msg == CURLMSG_DONE ? msg->data.result : CURLE_OK;
      if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && ctx.stopped)) {
        result = CurlError(url, rc, errbuf);
      }
      break;
    }
    if (stop()) break;
    mc = curl_multi_poll(m, nullptr, 0, 50, nullptr);
    if (mc != CURLM_OK) {
      result = Status::Error(EIO, "http: POST " + url + ": " + curl_multi_strerror(mc));
      break;
    }
  }
  if (status) curl_easy_getinfo(c.get(), CURLINFO_RESPONSE_CODE, status);
  curl_multi_remove_handle(m, c.get());
  curl_multi_cleanup(m);
  return result;
}

}  // namespace keel
