// Internal: JsonOut, the compact JSON writer of the naming server's answers and data file. It
// never uses RapidJSON's internal stack (see naming_json.cc).
//
// Thread-safety: one JsonOut per thread; no shared state.
#ifndef DUBBO_NAMING_SERVER_SRC_JSON_OUT_H_
#define DUBBO_NAMING_SERVER_SRC_JSON_OUT_H_

#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>

#include "instance_store.h"

namespace dubbo::naming_server {

// Appends compact JSON to a string. Commas are placed automatically; the caller balances
// Begin/End and puts a Key before each member value.
class JsonOut {
 public:
  void BeginObject() { Open('{'); }
  void EndObject() { Close('}'); }
  void BeginArray() { Open('['); }
  void EndArray() { Close(']'); }
  void Key(std::string_view key) {
    Separate();
    Quote(key);
    out_ += ':';
    after_key_ = true;
  }
  void String(std::string_view s) {
    Separate();
    Quote(s);
  }
  void Int(int64_t v) {
    Separate();
    out_ += std::to_string(v);
  }
  void Bool(bool v) {
    Separate();
    out_ += v ? "true" : "false";
  }
  // As Jackson writes a double: Double.toString(), non-finite values quoted.
  void Double(double v) {
    if (!std::isfinite(v)) return String(JavaDoubleToString(v));
    Separate();
    out_ += JavaDoubleToString(v);
  }
  void Metadata(const naming_server::Metadata& metadata) {
    BeginObject();
    for (const auto& [key, value] : metadata) {
      Key(key);
      String(value);
    }
    EndObject();
  }
  std::string Take() { return std::move(out_); }

 private:
  void Open(char c) {
    Separate();
    out_ += c;
    first_ = true;
  }
  void Close(char c) {
    out_ += c;
    first_ = false;
  }
  void Separate() {
    if (after_key_) {
      after_key_ = false;
    } else if (!first_) {
      out_ += ',';
    }
    first_ = false;
  }
  // Escapes '"', '\\' and control characters; other bytes are copied as they are (no UTF-8
  // validation, like RapidJSON's default Writer).
  void Quote(std::string_view s) {
    static constexpr std::string_view kShort = "\b\f\n\r\t";
    static constexpr std::string_view kShortEscape = "bfnrt";
    static constexpr char kHex[] = "0123456789ABCDEF";
    out_ += '"';
    for (char ch : s) {
      const auto c = static_cast<unsigned char>(ch);
      if (c == '"' || c == '\\') {
        out_ += '\\';
        out_ += ch;
      } else if (c >= 0x20) {
        out_ += ch;
      } else if (const size_t i = kShort.find(ch); i != std::string_view::npos) {
        out_ += '\\';
        out_ += kShortEscape[i];
      } else {
        out_ += "\\u00";
        out_ += kHex[c >> 4];
        out_ += kHex[c & 0xf];
      }
    }
    out_ += '"';
  }

  std::string out_;
  bool first_ = true;
  bool after_key_ = false;
};

}  // namespace dubbo::naming_server

#endif  // DUBBO_NAMING_SERVER_SRC_JSON_OUT_H_
