#include "gdb/rsp_codec.h"

namespace cocosim::gdb {

namespace {

int hex_digit(uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

const char kHex[] = "0123456789abcdef";

}  // namespace

std::optional<RspEvent> RspDecoder::feed(uint8_t c) {
  switch (state_) {
    case State::Idle:
      if (c == '$') {
        state_ = State::Body;
        raw_.clear();
        too_long_ = false;
        sum_ = 0;
        return std::nullopt;
      }
      if (c == '+') return RspEvent{RspEvent::Kind::Ack, {}};
      if (c == '-') return RspEvent{RspEvent::Kind::Nack, {}};
      if (c == 0x03) return RspEvent{RspEvent::Kind::Interrupt, {}};
      return std::nullopt;  // noise between packets is ignored, as gdbserver does
    case State::Body:
      if (c == '#') {
        state_ = State::Check1;
        return std::nullopt;
      }
      if (c == '$') {  // a new packet starts: the unfinished one is dropped
        raw_.clear();
        too_long_ = false;
        sum_ = 0;
        return std::nullopt;
      }
      sum_ = uint8_t(sum_ + c);
      // RLE can only make the body longer: the raw bytes are bounded by the limit too.
      if (raw_.size() < max_) raw_.push_back(char(c));
      else too_long_ = true;
      return std::nullopt;
    case State::Check1: {
      const int d = hex_digit(c);
      check_bad_ = d < 0;
      check_ = d < 0 ? 0 : d << 4;
      state_ = State::Check2;
      return std::nullopt;
    }
    case State::Check2: {
      const int d = hex_digit(c);
      check_bad_ = check_bad_ || d < 0;
      check_ |= d < 0 ? 0 : d;
      state_ = State::Idle;
      return finish();
    }
  }
  return std::nullopt;
}

std::optional<RspEvent> RspDecoder::finish() {
  if (check_bad_ || check_ != sum_) {
    raw_.clear();
    return RspEvent{RspEvent::Kind::BadChecksum, {}};
  }
  if (too_long_) {
    raw_.clear();
    return RspEvent{RspEvent::Kind::Oversized, {}};
  }
  auto body = expand_rle(raw_);
  raw_.clear();
  if (!body) return RspEvent{RspEvent::Kind::Malformed, {}};
  if (body->size() > max_) return RspEvent{RspEvent::Kind::Oversized, {}};
  return RspEvent{RspEvent::Kind::Packet, std::move(*body)};
}

std::string frame_packet(const std::string& payload) {
  uint8_t sum = 0;
  for (unsigned char c : payload) sum = uint8_t(sum + c);
  std::string out;
  out.reserve(payload.size() + 4);
  out += '$';
  out += payload;
  out += '#';
  out += kHex[sum >> 4];
  out += kHex[sum & 15];
  return out;
}

std::string escape_binary(const uint8_t* data, size_t len) {
  std::string out;
  out.reserve(len);
  for (size_t i = 0; i < len; ++i) {
    const uint8_t c = data[i];
    if (c == '#' || c == '$' || c == '}' || c == '*') {
      out += '}';
      out += char(c ^ 0x20);
    } else {
      out += char(c);
    }
  }
  return out;
}

std::optional<std::vector<uint8_t>> unescape_binary(const std::string& s) {
  std::vector<uint8_t> out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '}') {
      out.push_back(uint8_t(s[i]));
      continue;
    }
    if (++i == s.size()) return std::nullopt;
    out.push_back(uint8_t(s[i]) ^ 0x20);
  }
  return out;
}

std::optional<std::string> expand_rle(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '*') {
      out += s[i];
      continue;
    }
    // `*` repeats the byte before it; the count byte is printable and
    // neither `#` nor `$` (gdb manual), so n - 29 is between 3 and 97.
    if (out.empty() || i + 1 == s.size()) return std::nullopt;
    const uint8_t n = uint8_t(s[++i]);
    if (n < 32 || n > 126 || n == '#' || n == '$') return std::nullopt;
    out.append(size_t(n - 29), out.back());
  }
  return out;
}

std::string to_hex(const uint8_t* data, size_t len) {
  std::string out;
  out.reserve(2 * len);
  for (size_t i = 0; i < len; ++i) {
    out += kHex[data[i] >> 4];
    out += kHex[data[i] & 15];
  }
  return out;
}

std::string to_hex(const std::string& s) {
  return to_hex(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

std::optional<std::vector<uint8_t>> from_hex(const std::string& s) {
  if (s.size() % 2) return std::nullopt;
  std::vector<uint8_t> out(s.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    const int hi = hex_digit(uint8_t(s[2 * i])), lo = hex_digit(uint8_t(s[2 * i + 1]));
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = uint8_t(hi << 4 | lo);
  }
  return out;
}

std::optional<uint64_t> parse_hex_u64(const std::string& s) {
  if (s.empty() || s.size() > 16) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    const int d = hex_digit(uint8_t(c));
    if (d < 0) return std::nullopt;
    v = v << 4 | uint64_t(d);
  }
  return v;
}

}  // namespace cocosim::gdb
