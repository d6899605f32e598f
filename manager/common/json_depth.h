// How deeply a JSON text nests, counted before it is parsed: every parser
// of untrusted JSON in keeld (API requests, bus messages, records read from
// etcd) refuses deep nesting first, so that nlohmann's recursion is bounded
// by a limit of ours and not by the input.
#pragma once

#include <string_view>

namespace keel {

// The deepest nesting of [ and { outside strings in `text`; stops counting
// once past `limit` (so the result is at most limit + 1).  Malformed text is
// counted as well as it can be: the parser refuses it afterwards.
int JsonDepth(std::string_view text, int limit);

}  // namespace keel
