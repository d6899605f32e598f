#include "manager/plugin/http.h"

#include <cctype>
#include <charconv>
#include <cstdint>

namespace keel::plugin {
namespace {

HttpParse Error(int status, std::string why) {
  HttpParse p;
  p.state = ParseState::kError;
  p.status = status;
  p.error = std::move(why);
  return p;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// RFC 9110 token characters (method and header names).
bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (std::isalnum(c)) continue;
    if (std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

bool HasControl(std::string_view s) {
  for (unsigned char c : s) {
    if ((c < ' ' && c != '\t') || c == 0x7f) return true;
  }
  return false;
}

// Decodes a chunked body starting at `data`.  Returns kIncomplete until the
// last chunk and the trailers' end are there.
HttpParse DecodeChunked(std::string_view data, const HttpLimits& limits, std::string* body) {
  size_t pos = 0;
  for (;;) {
    size_t eol = data.find("\r\n", pos);
    if (eol == std::string_view::npos) {
      if (data.size() - pos > 64) return Error(400, "chunk size line too long");
      return HttpParse{};
    }
    std::string_view line = data.substr(pos, eol - pos);
    line = line.substr(0, line.find(';'));  // chunk extensions are ignored
    line = Trim(line);
    uint64_t size = 0;
    auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), size, 16);
    if (line.empty() || ec != std::errc() || end != line.data() + line.size()) {
      return Error(400, "bad chunk size");
    }
    pos = eol + 2;
    if (size == 0) {
      // Trailers (ignored) up to an empty line.
      for (;;) {
        size_t t = data.find("\r\n", pos);
        if (t == std::string_view::npos) {
          if (data.size() - pos > limits.max_header_bytes) return Error(431, "trailers too large");
          return HttpParse{};
        }
        if (t == pos) {
          HttpParse p;
          p.state = ParseState::kComplete;
          return p;
        }
        pos = t + 2;
      }
    }
    if (size > limits.max_body_bytes || body->size() + size > limits.max_body_bytes) {
      return Error(413, "body larger than " + std::to_string(limits.max_body_bytes) + " bytes");
    }
    if (data.size() - pos < size + 2) return HttpParse{};
    body->append(data.substr(pos, size));
    if (data.substr(pos + size, 2) != "\r\n") return Error(400, "chunk not followed by CRLF");
    pos += size + 2;
  }
}

}  // namespace

HttpParse ParseHttpRequest(std::string_view data, const HttpLimits& limits) {
  size_t head_end = data.find("\r\n\r\n");
  if (head_end == std::string_view::npos) {
    if (data.size() > limits.max_header_bytes) {
      return Error(
          431, "request header larger than " + std::to_string(limits.max_header_bytes) + " bytes");
    }
    return HttpParse{};
  }
  if (head_end > limits.max_header_bytes) {
    return Error(
        431, "request header larger than " + std::to_string(limits.max_header_bytes) + " bytes");
  }
  std::string_view head = data.substr(0, head_end);
  HttpRequest req;

  size_t eol = head.find("\r\n");
  std::string_view line = head.substr(0, eol);
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    return Error(400, "malformed request line");
  }
  req.method = std::string(line.substr(0, sp1));
  req.target = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
  req.version = std::string(line.substr(sp2 + 1));
  if (!IsToken(req.method)) return Error(400, "malformed method");
  if (req.target.empty() || req.target[0] != '/' || HasControl(req.target)) {
    return Error(400, "malformed request target");
  }
  if (req.version != "HTTP/1.1" && req.version != "HTTP/1.0") {
    return Error(505, "HTTP version not supported");
  }

  size_t pos = eol == std::string_view::npos ? head.size() : eol + 2;
  while (pos < head.size()) {
    size_t next = head.find("\r\n", pos);
    if (next == std::string_view::npos) next = head.size();
    std::string_view h = head.substr(pos, next - pos);
    pos = next + 2;
    size_t colon = h.find(':');
    if (colon == std::string_view::npos) return Error(400, "malformed header line");
    std::string_view name = h.substr(0, colon);
    std::string_view value = Trim(h.substr(colon + 1));
    if (!IsToken(name)) return Error(400, "malformed header name");
    if (HasControl(value)) return Error(400, "control character in a header value");
    req.headers[Lower(name)] = std::string(value);
  }

  std::string_view rest = data.substr(head_end + 4);
  auto te = req.headers.find("transfer-encoding");
  auto cl = req.headers.find("content-length");
  if (te != req.headers.end()) {
    if (cl != req.headers.end()) return Error(400, "both Content-Length and Transfer-Encoding");
    if (Lower(te->second) != "chunked") return Error(501, "transfer encoding not supported");
    HttpParse p = DecodeChunked(rest, limits, &req.body);
    if (p.state == ParseState::kComplete) p.request = std::move(req);
    return p;
  }
  uint64_t length = 0;
  if (cl != req.headers.end()) {
    const std::string& v = cl->second;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), length);
    if (v.empty() || ec != std::errc() || end != v.data() + v.size()) {
      return Error(400, "bad Content-Length");
    }
  }
  if (length > limits.max_body_bytes) {
    return Error(413, "body larger than " + std::to_string(limits.max_body_bytes) + " bytes");
  }
  if (rest.size() < length) return HttpParse{};
  req.body = std::string(rest.substr(0, length));
  HttpParse p;
  p.state = ParseState::kComplete;
  p.request = std::move(req);
  return p;
}

const char* HttpReason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Content Too Large";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

std::string HttpResponse(int status, std::string_view content_type, std::string_view body) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + HttpReason(status) + "\r\n";
  out += "Content-Type: " + std::string(content_type) + "\r\n";
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  out += "Connection: close\r\n\r\n";
  out += body;
  return out;
}

}  // namespace keel::plugin
