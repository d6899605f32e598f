// The little HTTP/1.1 that Docker's plugin protocol needs: requests parsed
// from a byte buffer (request line, headers, a body by Content-Length or
// chunked transfer encoding), responses rendered.  Pure: no sockets, so it
// is unit-tested and fuzzed (tests/fuzz/http_request.cpp).
//
// Docker (and dvdcli) POST one JSON body per request to paths like
// /VolumeDriver.Mount; every response here closes the connection.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>

namespace keel::plugin {

struct HttpRequest {
  std::string method;   // "POST"
  std::string target;   // "/VolumeDriver.Create"
  std::string version;  // "HTTP/1.1"
  // Header names lower-cased; a repeated header keeps its last value.
  std::map<std::string, std::string> headers;
  std::string body;
};

enum class ParseState { kIncomplete, kComplete, kError };

struct HttpParse {
  ParseState state = ParseState::kIncomplete;
  HttpRequest request;  // when kComplete
  int status = 0;       // when kError: the HTTP status to answer (400, 413, 501, 505)
  std::string error;    // when kError: why, for the response and the log
};

struct HttpLimits {
  size_t max_header_bytes = 16384;
  size_t max_body_bytes = 1 << 20;
};

// Parses the request at the start of `data` (the bytes received so far).
// kIncomplete: more bytes are needed (and none of the limits is passed
// yet); kComplete: one whole request; kError: it can never be one.
HttpParse ParseHttpRequest(std::string_view data, const HttpLimits& limits = {});

// "HTTP/1.1 200 OK" with Content-Type, Content-Length and
// "Connection: close", then `body`.
std::string HttpResponse(int status, std::string_view content_type, std::string_view body);

// "OK", "Bad Request", ... for the status codes used here.
const char* HttpReason(int status);

}  // namespace keel::plugin
