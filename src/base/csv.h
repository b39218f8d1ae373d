#pragma once

#include <string>
#include <string_view>

// CSV output (RFC 4180): every module that writes CSV quotes its cells here, so exports, query
// results and scored files follow one rule. Reading CSV is ml/data/csv.h's job.
namespace aiot {

// Appends `cell` to `out`, in double quotes (inner quotes doubled) when it holds a comma, a quote
// or a line break, as is otherwise.
inline void AppendCsvCell(std::string& out, std::string_view cell) {
  if (cell.find_first_of(",\"\r\n") == std::string_view::npos) {
    out.append(cell);
    return;
  }
  out += '"';
  for (char c : cell) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

// The cell as it is written to a CSV file.
inline std::string CsvCell(std::string_view cell) {
  std::string out;
  AppendCsvCell(out, cell);
  return out;
}

}  // namespace aiot
