#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace aiot::ml {

// A CSV table held as text cells. The first record is the header.
struct CsvTable {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;  // every row has header.size() cells

  // Index of the column named `name`, or -1.
  int Column(std::string_view name) const;
};

// Parses RFC 4180 CSV: a header record, quoted fields (with "" escapes and embedded separators or
// line breaks), an optional UTF-8 byte order mark, LF or CRLF line ends, blank lines ignored.
// A row with the wrong number of fields is an error. On error returns errc::parse_error with a
// message naming the row (1-based line of the file) and column.
Result<CsvTable> ParseCsv(std::string_view text);
// Reads and parses a file: errc::not_found ("cannot open PATH") or ParseCsv's error, its message
// prefixed with the path.
Result<CsvTable> ReadCsvFile(const std::string& path);

// Parses a whole cell as a finite number (leading/trailing blanks allowed). False on empty or
// non-numeric text.
bool ParseNumber(std::string_view cell, double* out);

}  // namespace aiot::ml
