#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

// Sans-I/O parsing of request targets: the part of request handling after Beast's parser and
// before the router. Shared by the server and the fuzz target.
namespace aiot::net {

// Splits an origin-form ("/a/b?x=1") or absolute-form ("http://host/a/b?x=1") target into its
// path and query (without '?'). Returns false for anything else (asterisk-form, authority-form,
// empty, control characters, a fragment).
bool SplitTarget(std::string_view target, std::string_view& path, std::string_view& query);

// Percent-decodes `in` into `out` (appending). With `plus_as_space`, '+' becomes ' ' (query
// strings). Returns false on a malformed escape or a decoded NUL.
bool PercentDecode(std::string_view in, std::string& out, bool plus_as_space);

// Parses "a=1&b=x%20y&c" into decoded pairs (appending; "c" gets an empty value). Returns false on
// a malformed escape.
bool ParseQuery(std::string_view query, std::vector<std::pair<std::string, std::string>>& out);

}  // namespace aiot::net
