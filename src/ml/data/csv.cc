#include "ml/data/csv.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "base/errc.h"

namespace aiot::ml {
int CsvTable::Column(std::string_view name) const {
  for (size_t i = 0; i < header.size(); ++i) {
    if (header[i] == name) return static_cast<int>(i);
  }
  return -1;
}

Result<CsvTable> ParseCsv(std::string_view text) {
  if (text.size() >= 3 && static_cast<unsigned char>(text[0]) == 0xEF &&
      static_cast<unsigned char>(text[1]) == 0xBB && static_cast<unsigned char>(text[2]) == 0xBF) {
    text.remove_prefix(3);
  }
  CsvTable table;
  std::vector<std::string> record;
  std::string cell;
  size_t i = 0;
  size_t line = 1;  // line of the file where the current record starts
  bool have_header = false;
  while (i < text.size()) {
    size_t record_line = line;
    record.clear();
    // A blank line (only a line end) is skipped.
    if (text[i] == '\n' || (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n')) {
      i += text[i] == '\r' ? 2 : 1;
      ++line;
      continue;
    }
    bool end_of_record = false;
    while (!end_of_record) {
      cell.clear();
      if (i < text.size() && text[i] == '"') {
        ++i;
        bool closed = false;
        while (i < text.size()) {
          char c = text[i];
          if (c == '"') {
            if (i + 1 < text.size() && text[i + 1] == '"') {
              cell.push_back('"');
              i += 2;
              continue;
            }
            ++i;
            closed = true;
            break;
          }
          if (c == '\n') ++line;
          cell.push_back(c);
          ++i;
        }
        if (!closed) {
          return Status(errc::parse_error, "line " + std::to_string(record_line) + ", column " +
                                               std::to_string(record.size() + 1) +
                                               ": unterminated quoted field");
        }
        if (i < text.size() && text[i] != ',' && text[i] != '\n' && text[i] != '\r') {
          return Status(errc::parse_error, "line " + std::to_string(line) + ", column " +
                                               std::to_string(record.size() + 1) +
                                               ": unexpected character after closing quote");
        }
      } else {
        while (i < text.size() && text[i] != ',' && text[i] != '\n' && text[i] != '\r') {
          if (text[i] == '"') {
            return Status(errc::parse_error, "line " + std::to_string(line) + ", column " +
                                                 std::to_string(record.size() + 1) +
                                                 ": quote inside an unquoted field");
          }
          cell.push_back(text[i++]);
        }
      }
      record.push_back(cell);
      if (i >= text.size()) {
        end_of_record = true;
      } else if (text[i] == ',') {
        ++i;
      } else if (text[i] == '\r') {
        if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
        ++i;
        ++line;
        end_of_record = true;
      } else {  // '\n'
        ++i;
        ++line;
        end_of_record = true;
      }
    }
    if (!have_header) {
      table.header = record;
      have_header = true;
      continue;
    }
    if (record.size() != table.header.size()) {
      return Status(errc::parse_error, "line " + std::to_string(record_line) + ": expected " +
                                           std::to_string(table.header.size()) + " fields, found " +
                                           std::to_string(record.size()));
    }
    table.rows.push_back(record);
  }
  if (!have_header) {
    return Status(errc::parse_error, "empty CSV: no header");
  }
  return table;
}

Result<CsvTable> ReadCsvFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status(errc::not_found, "cannot open " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  auto r = ParseCsv(ss.str());
  if (!r.ok()) return r.status().Prefix(path);
  return r;
}

bool ParseNumber(std::string_view cell, double* out) {
  while (!cell.empty() && (cell.front() == ' ' || cell.front() == '\t')) cell.remove_prefix(1);
  while (!cell.empty() && (cell.back() == ' ' || cell.back() == '\t')) cell.remove_suffix(1);
  if (cell.empty()) return false;
  if (cell.front() == '+') cell.remove_prefix(1);
  double v = 0;
  auto [ptr, ec] = std::from_chars(cell.data(), cell.data() + cell.size(), v);
  if (ec != std::errc() || ptr != cell.data() + cell.size() || !std::isfinite(v)) return false;
  *out = v;
  return true;
}

std::string CsvEscape(std::string_view cell) {
  if (cell.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(cell);
  std::string s = "\"";
  for (char c : cell) {
    if (c == '"') s.push_back('"');
    s.push_back(c);
  }
  s.push_back('"');
  return s;
}

}  // namespace aiot::ml
