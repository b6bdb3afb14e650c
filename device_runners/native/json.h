// A small JSON reader and writer for the runner contract.
//
// The ExecuTorch wheel ships no JSON library, and the runner only needs to read one small request
// and write one result, so this is a strict RFC 8259 parser (objects, arrays, numbers, strings
// with every escape including surrogate pairs, true/false/null) and a writer that round-trips
// doubles exactly. Header-only so the Android and host builds compile the same file.
//
// Numbers are held as double, as JSON itself does not distinguish integers; callers that need an
// integer check `is_integer()`. Objects keep their keys in insertion order so the result reads in
// the order it was built.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace harness::json {

class ParseError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class Type { Null, Bool, Number, String, Array, Object };

class Value {
 public:
  Value() = default;  // null
  Value(std::nullptr_t) {}
  Value(bool b) : type_(Type::Bool), bool_(b) {}
  // Any arithmetic type except bool: without the template, size_t or long would be ambiguous
  // between the bool and double constructors.
  template <typename T,
            std::enable_if_t<std::is_arithmetic_v<T> && !std::is_same_v<T, bool>, int> = 0>
  Value(T number) : type_(Type::Number), number_(static_cast<double>(number)) {}
  Value(std::string s) : type_(Type::String), string_(std::move(s)) {}
  Value(const char* s) : type_(Type::String), string_(s) {}

  static Value array() {
    Value v;
    v.type_ = Type::Array;
    return v;
  }
  static Value object() {
    Value v;
    v.type_ = Type::Object;
    return v;
  }
  template <typename T>
  static Value array_of(const std::vector<T>& items) {
    Value v = array();
    for (const T& item : items) v.push_back(Value(item));
    return v;
  }

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::Null; }
  bool is_bool() const { return type_ == Type::Bool; }
  bool is_number() const { return type_ == Type::Number; }
  bool is_string() const { return type_ == Type::String; }
  bool is_array() const { return type_ == Type::Array; }
  bool is_object() const { return type_ == Type::Object; }
  // JSON Schema's notion of an integer: a number with no fractional part (so 2.0 counts).
  bool is_integer() const {
    return type_ == Type::Number && std::isfinite(number_) && std::floor(number_) == number_;
  }

  bool as_bool() const { return bool_; }
  double as_number() const { return number_; }
  const std::string& as_string() const { return string_; }
  // Array elements, or an object's values (parallel to keys()).
  const std::vector<Value>& items() const { return items_; }
  const std::vector<std::string>& keys() const { return keys_; }

  // The member named `key`, or nullptr. Duplicate keys resolve to the last one, as in Python.
  const Value* find(const std::string& key) const {
    for (size_t i = keys_.size(); i-- > 0;) {
      if (keys_[i] == key) return &items_[i];
    }
    return nullptr;
  }

  void push_back(Value v) { items_.push_back(std::move(v)); }

  // Sets (or replaces) an object member and returns it.
  Value& set(const std::string& key, Value v) {
    for (size_t i = 0; i < keys_.size(); ++i) {
      if (keys_[i] == key) {
        items_[i] = std::move(v);
        return items_[i];
      }
    }
    keys_.push_back(key);
    items_.push_back(std::move(v));
    return items_.back();
  }

 private:
  Type type_ = Type::Null;
  bool bool_ = false;
  double number_ = 0.0;
  std::string string_;
  // std::vector allows an incomplete element type since C++17, so a Value can hold Values.
  // Objects use two parallel vectors rather than a map to keep insertion order.
  std::vector<Value> items_;
  std::vector<std::string> keys_;
};

namespace detail {

class Parser {
 public:
  explicit Parser(const std::string& text) : text_(text) {}

  Value parse_document() {
    skip_whitespace();
    Value v = parse_value(0);
    skip_whitespace();
    if (pos_ != text_.size()) fail("unexpected text after the JSON value");
    return v;
  }

 private:
  // Deep enough for any request; bounded so a hostile file cannot overflow the stack.
  static constexpr int kMaxDepth = 128;

  [[noreturn]] void fail(const std::string& what) const {
    size_t line = 1, column = 1;
    for (size_t i = 0; i < pos_ && i < text_.size(); ++i) {
      if (text_[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    throw ParseError("line " + std::to_string(line) + " column " + std::to_string(column) + ": " +
                     what);
  }

  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return at_end() ? '\0' : text_[pos_]; }

  void skip_whitespace() {
    while (!at_end()) {
      const char c = text_[pos_];
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
      ++pos_;
    }
  }

  void expect_literal(const char* literal) {
    for (const char* p = literal; *p; ++p, ++pos_) {
      if (peek() != *p) fail(std::string("invalid literal, expected '") + literal + "'");
    }
  }

  Value parse_value(int depth) {
    if (depth > kMaxDepth) fail("nesting is deeper than " + std::to_string(kMaxDepth));
    switch (peek()) {
      case '{':
        return parse_object(depth);
      case '[':
        return parse_array(depth);
      case '"':
        return Value(parse_string());
      case 't':
        expect_literal("true");
        return Value(true);
      case 'f':
        expect_literal("false");
        return Value(false);
      case 'n':
        expect_literal("null");
        return Value();
      default:
        if (peek() == '-' || (peek() >= '0' && peek() <= '9')) return parse_number();
        if (at_end()) fail("unexpected end of input, expected a value");
        fail(std::string("unexpected character '") + peek() + "', expected a value");
    }
  }

  Value parse_object(int depth) {
    Value object = Value::object();
    ++pos_;  // '{'
    skip_whitespace();
    if (peek() == '}') {
      ++pos_;
      return object;
    }
    while (true) {
      skip_whitespace();
      if (peek() != '"') fail("expected a string key");
      std::string key = parse_string();
      skip_whitespace();
      if (peek() != ':') fail("expected ':' after an object key");
      ++pos_;
      skip_whitespace();
      object.set(key, parse_value(depth + 1));
      skip_whitespace();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() == '}') {
        ++pos_;
        return object;
      }
      fail("expected ',' or '}' in an object");
    }
  }

  Value parse_array(int depth) {
    Value array = Value::array();
    ++pos_;  // '['
    skip_whitespace();
    if (peek() == ']') {
      ++pos_;
      return array;
    }
    while (true) {
      skip_whitespace();
      array.push_back(parse_value(depth + 1));
      skip_whitespace();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() == ']') {
        ++pos_;
        return array;
      }
      fail("expected ',' or ']' in an array");
    }
  }

  static bool is_digit(char c) { return c >= '0' && c <= '9'; }

  Value parse_number() {
    // Validate the exact JSON grammar first (strtod alone would accept "0x1p3", "inf", "1.").
    const size_t start = pos_;
    if (peek() == '-') ++pos_;
    if (peek() == '0') {
      ++pos_;
    } else if (is_digit(peek())) {
      while (is_digit(peek())) ++pos_;
    } else {
      fail("invalid number");
    }
    if (peek() == '.') {
      ++pos_;
      if (!is_digit(peek())) fail("invalid number: digits must follow '.'");
      while (is_digit(peek())) ++pos_;
    }
    if (peek() == 'e' || peek() == 'E') {
      ++pos_;
      if (peek() == '+' || peek() == '-') ++pos_;
      if (!is_digit(peek())) fail("invalid number: digits must follow the exponent");
      while (is_digit(peek())) ++pos_;
    }
    // strtod reads the C locale's decimal point; this program never calls setlocale.
    const std::string lexeme = text_.substr(start, pos_ - start);
    const double number = std::strtod(lexeme.c_str(), nullptr);
    if (!std::isfinite(number)) fail("number out of range: " + lexeme);
    return Value(number);
  }

  unsigned parse_hex4() {
    unsigned code = 0;
    for (int i = 0; i < 4; ++i, ++pos_) {
      const char c = peek();
      code <<= 4;
      if (c >= '0' && c <= '9') {
        code |= static_cast<unsigned>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        code |= static_cast<unsigned>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        code |= static_cast<unsigned>(c - 'A' + 10);
      } else {
        fail("invalid \\u escape: expected 4 hex digits");
      }
    }
    return code;
  }

  static void append_utf8(std::string& out, unsigned code) {
    if (code < 0x80) {
      out += static_cast<char>(code);
    } else if (code < 0x800) {
      out += static_cast<char>(0xC0 | (code >> 6));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else if (code < 0x10000) {
      out += static_cast<char>(0xE0 | (code >> 12));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (code >> 18));
      out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    }
  }

  std::string parse_string() {
    ++pos_;  // opening quote
    std::string out;
    while (true) {
      if (at_end()) fail("unterminated string");
      const char c = text_[pos_];
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (static_cast<unsigned char>(c) < 0x20) fail("control character in a string");
      if (c != '\\') {
        out += c;  // UTF-8 bytes pass through unchanged
        ++pos_;
        continue;
      }
      ++pos_;  // backslash
      const char escape = peek();
      ++pos_;
      switch (escape) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          unsigned code = parse_hex4();
          if (code >= 0xD800 && code <= 0xDBFF) {
            // A high surrogate must be followed by an escaped low surrogate (Python's
            // json.dumps writes characters outside the BMP this way).
            if (peek() != '\\' || pos_ + 1 >= text_.size() || text_[pos_ + 1] != 'u') {
              fail("unpaired UTF-16 surrogate in a \\u escape");
            }
            pos_ += 2;
            const unsigned low = parse_hex4();
            if (low < 0xDC00 || low > 0xDFFF) fail("unpaired UTF-16 surrogate in a \\u escape");
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
          } else if (code >= 0xDC00 && code <= 0xDFFF) {
            fail("unpaired UTF-16 surrogate in a \\u escape");
          }
          append_utf8(out, code);
          break;
        }
        default:
          --pos_;
          fail("invalid escape in a string");
      }
    }
  }

  const std::string& text_;
  size_t pos_ = 0;
};

inline void write_string(std::string& out, const std::string& s) {
  out += '"';
  for (const char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof(escaped), "\\u%04x", static_cast<unsigned>(c));
          out += escaped;
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

inline void write_number(std::string& out, double number) {
  if (!std::isfinite(number)) {
    out += "null";  // JSON has no NaN or infinity
    return;
  }
  char buffer[32];
  // Integral values below 2^53 are exact in a double: write them without a fraction so that
  // Python reads counts (iterations, kB) back as int.
  if (std::floor(number) == number && std::fabs(number) < 9007199254740992.0) {
    std::snprintf(buffer, sizeof(buffer), "%lld", static_cast<long long>(number));
    out += buffer;
    return;
  }
  // The shortest "%.*g" that reads back as the same double: exact, without 17-digit noise.
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buffer, sizeof(buffer), "%.*g", precision, number);
    if (std::strtod(buffer, nullptr) == number) break;
  }
  out += buffer;
}

inline void write_value(std::string& out, const Value& v) {
  switch (v.type()) {
    case Type::Null: out += "null"; break;
    case Type::Bool: out += v.as_bool() ? "true" : "false"; break;
    case Type::Number: write_number(out, v.as_number()); break;
    case Type::String: write_string(out, v.as_string()); break;
    case Type::Array:
      out += '[';
      for (size_t i = 0; i < v.items().size(); ++i) {
        if (i) out += ", ";
        write_value(out, v.items()[i]);
      }
      out += ']';
      break;
    case Type::Object:
      out += '{';
      for (size_t i = 0; i < v.keys().size(); ++i) {
        if (i) out += ", ";
        write_string(out, v.keys()[i]);
        out += ": ";
        write_value(out, v.items()[i]);
      }
      out += '}';
      break;
  }
}

}  // namespace detail

// Parses a whole document; throws ParseError naming the line and column of the first problem.
inline Value parse(const std::string& text) { return detail::Parser(text).parse_document(); }

// Serialises on one line, with ", " and ": " separators like Python's json.dumps.
inline std::string dump(const Value& value) {
  std::string out;
  detail::write_value(out, value);
  return out;
}

}  // namespace harness::json
