#include "manager/plugin/http.h"

#include <doctest/doctest.h>

namespace keel::plugin {
namespace {

const char kCreate[] =
    "POST /VolumeDriver.Create HTTP/1.1\r\n"
    "Host: plugin\r\n"
    "Content-Type: application/vnd.docker.plugins.v1.2+json\r\n"
    "Content-Length: 14\r\n"
    "\r\n"
    "{\"Name\":\"db\"}\n";

TEST_CASE("http: a whole request, and every prefix of it is incomplete") {
  std::string req = kCreate;
  for (size_t i = 0; i < req.size(); i++) {
    CAPTURE(i);
    CHECK(ParseHttpRequest(req.substr(0, i)).state == ParseState::kIncomplete);
  }
  HttpParse p = ParseHttpRequest(req);
  REQUIRE(p.state == ParseState::kComplete);
  CHECK(p.request.method == "POST");
  CHECK(p.request.target == "/VolumeDriver.Create");
  CHECK(p.request.version == "HTTP/1.1");
  CHECK(p.request.headers["content-type"] == "application/vnd.docker.plugins.v1.2+json");
  CHECK(p.request.body == "{\"Name\":\"db\"}\n");
}

TEST_CASE("http: no body, and a chunked body") {
  HttpParse p = ParseHttpRequest("POST /Plugin.Activate HTTP/1.1\r\nHost: x\r\n\r\n");
  REQUIRE(p.state == ParseState::kComplete);
  CHECK(p.request.body.empty());
  std::string chunked =
      "POST /VolumeDriver.List HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\n{\"a\":\r\n3;ext=1\r\n12}\r\n0\r\nX-Trailer: y\r\n\r\n";
  for (size_t i = 0; i < chunked.size(); i++) {
    CAPTURE(i);
    CHECK(ParseHttpRequest(chunked.substr(0, i)).state == ParseState::kIncomplete);
  }
  p = ParseHttpRequest(chunked);
  REQUIRE(p.state == ParseState::kComplete);
  CHECK(p.request.body == "{\"a\":12}");
}

TEST_CASE("http: malformed requests get the right status and reason") {
  struct Case {
    std::string text;
    int status;
    std::string error;
  } cases[] = {
      {"GARBAGE\r\n\r\n", 400, "malformed request line"},
      {"POST  /x HTTP/1.1\r\n\r\n", 400, "malformed request line"},
      {"POST x HTTP/1.1\r\n\r\n", 400, "malformed request target"},
      {"P(ST /x HTTP/1.1\r\n\r\n", 400, "malformed method"},
      {"POST /x HTTP/2.0\r\n\r\n", 505, "HTTP version not supported"},
      {"POST /x HTTP/1.1\r\nNoColon\r\n\r\n", 400, "malformed header line"},
      {"POST /x HTTP/1.1\r\nBad Name: 1\r\n\r\n", 400, "malformed header name"},
      {"POST /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400, "bad Content-Length"},
      {"POST /x HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", 400, "bad Content-Length"},
      {"POST /x HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", 400,
       "bad Content-Length"},
      {"POST /x HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
       "both Content-Length and Transfer-Encoding"},
      {"POST /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501,
       "transfer encoding not supported"},
      {"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400, "bad chunk size"},
      {"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY", 400,
       "chunk not followed by CRLF"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    HttpParse p = ParseHttpRequest(c.text);
    CHECK(p.state == ParseState::kError);
    CHECK(p.status == c.status);
    CHECK(p.error == c.error);
  }
}

TEST_CASE("http: limits on the header and the body") {
  HttpLimits small{64, 16};
  HttpParse p =
      ParseHttpRequest(std::string("POST /x HTTP/1.1\r\nX: ") + std::string(100, 'a'), small);
  CHECK(p.state == ParseState::kError);
  CHECK(p.status == 431);
  p = ParseHttpRequest("POST /x HTTP/1.1\r\nContent-Length: 17\r\n\r\n", small);
  CHECK(p.state == ParseState::kError);
  CHECK(p.status == 413);
  CHECK(p.error == "body larger than 16 bytes");
  p = ParseHttpRequest(
      "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n9\r\n123456789\r\n9\r\n", small);
  CHECK(p.state == ParseState::kError);
  CHECK(p.status == 413);
}

TEST_CASE("http: a response closes the connection and says its length") {
  CHECK(HttpResponse(200, "application/json", "{}") ==
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
        "Connection: close\r\n\r\n{}");
  CHECK(HttpResponse(404, "text/plain", "").starts_with("HTTP/1.1 404 Not Found\r\n"));
  CHECK(std::string(HttpReason(413)) == "Content Too Large");
}

}  // namespace
}  // namespace keel::plugin
