#include "ml/data/csv.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "base/errc.h"
#include "base/file.h"

namespace aiot::ml {
namespace {

// RFC 4180 records from text, tracking the line of the file for error messages.
class CsvParser {
 public:
  explicit CsvParser(std::string_view text) : text_(text) {}

  Result<CsvTable> Parse() {
    CsvTable table;
    std::vector<std::string> record;
    bool have_header = false;
    while (i_ < text_.size()) {
      if (SkipBlankLine()) continue;
      const size_t record_line = line_;
      record.clear();
      if (Status st = ParseRecord(&record); !st.ok()) return st;
      if (!have_header) {
        table.header = record;
        have_header = true;
        continue;
      }
      if (record.size() != table.header.size()) {
        return Status(errc::parse_error, "line " + std::to_string(record_line) + ": expected " +
                                             std::to_string(table.header.size()) +
                                             " fields, found " + std::to_string(record.size()));
      }
      table.rows.push_back(record);
    }
    if (!have_header) return Status(errc::parse_error, "empty CSV: no header");
    return table;
  }

 private:
  static Status Error(size_t line, size_t column, const char* what) {
    return Status(errc::parse_error, "line " + std::to_string(line) + ", column " +
                                         std::to_string(column) + ": " + what);
  }

  bool AtFieldEnd() const {
    return i_ >= text_.size() || text_[i_] == ',' || text_[i_] == '\n' || text_[i_] == '\r';
  }

  // Skips a line holding only a line end (LF or CRLF).
  bool SkipBlankLine() {
    if (text_[i_] == '\n' ||
        (text_[i_] == '\r' && i_ + 1 < text_.size() && text_[i_ + 1] == '\n')) {
      i_ += text_[i_] == '\r' ? 2 : 1;
      ++line_;
      return true;
    }
    return false;
  }

  // One record's cells, consuming its line end.
  Status ParseRecord(std::vector<std::string>* record) {
    const size_t record_line = line_;
    std::string cell;
    while (true) {
      cell.clear();
      const size_t column = record->size() + 1;
      Status st = i_ < text_.size() && text_[i_] == '"' ? ParseQuoted(record_line, column, &cell)
                                                        : ParseUnquoted(column, &cell);
      if (!st.ok()) return st;
      record->push_back(cell);
      if (i_ >= text_.size()) return Status::Ok();
      if (text_[i_] == ',') {
        ++i_;
        continue;
      }
      if (text_[i_] == '\r' && i_ + 1 < text_.size() && text_[i_ + 1] == '\n') ++i_;
      ++i_;
      ++line_;
      return Status::Ok();
    }
  }

  // A quoted cell: "" is a quote; separators and line breaks are part of the cell.
  Status ParseQuoted(size_t record_line, size_t column, std::string* cell) {
    ++i_;
    bool closed = false;
    while (i_ < text_.size()) {
      const char c = text_[i_];
      if (c == '"') {
        if (i_ + 1 < text_.size() && text_[i_ + 1] == '"') {
          cell->push_back('"');
          i_ += 2;
          continue;
        }
        ++i_;
        closed = true;
        break;
      }
      if (c == '\n') ++line_;
      cell->push_back(c);
      ++i_;
    }
    if (!closed) return Error(record_line, column, "unterminated quoted field");
    if (!AtFieldEnd()) return Error(line_, column, "unexpected character after closing quote");
    return Status::Ok();
  }

  Status ParseUnquoted(size_t column, std::string* cell) {
    while (!AtFieldEnd()) {
      if (text_[i_] == '"') return Error(line_, column, "quote inside an unquoted field");
      cell->push_back(text_[i_++]);
    }
    return Status::Ok();
  }

  std::string_view text_;
  size_t i_ = 0;
  size_t line_ = 1;  // line of the file at i_
};

}  // namespace

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
  return CsvParser(text).Parse();
}

Result<CsvTable> ReadCsvFile(const std::string& path) {
  auto text = ReadWholeFile(path);
  if (!text.ok()) return text.status();
  auto r = ParseCsv(*text);
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

}  // namespace aiot::ml
