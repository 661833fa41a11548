// The framing layer of gdb's Remote Serial Protocol (gdb manual, "Overview"
// of the remote protocol): `$payload#cs` packets with a two-digit modulo-256
// checksum, `+`/`-` acknowledgements, the interrupt byte 0x03, run-length
// encoding (`X*n`: X repeated n - 29 more times) and the `}` escape of binary
// data. Plain bytes in, events out: no sockets, no SystemC.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace cocosim::gdb {

// What a byte stream from gdb holds, one item at a time.
struct RspEvent {
  enum class Kind {
    Packet,     // a whole packet with a good checksum: `payload` (RLE expanded)
    Ack,        // `+`
    Nack,       // `-`: resend the last packet
    Interrupt,  // 0x03 outside a packet (Ctrl-C)
    BadChecksum,  // a packet whose checksum does not match (or is not hex): nack it
    Oversized,  // a packet longer than the limit, checksum good: answer with an error
    Malformed,  // checksum good but the run-length encoding is invalid
  };
  Kind kind;
  std::string payload;
};

class RspDecoder {
 public:
  // Payloads longer than this (after RLE expansion) are reported as Oversized.
  explicit RspDecoder(size_t max_payload) : max_(max_payload) {}
  // Feeds one byte; an event when it completes one.
  std::optional<RspEvent> feed(uint8_t byte);
  // Whether a packet is partly received.
  bool in_packet() const { return state_ != State::Idle; }

 private:
  enum class State { Idle, Body, Check1, Check2 };
  std::optional<RspEvent> finish();

  size_t max_;
  State state_ = State::Idle;
  std::string raw_;  // the body as sent (before RLE expansion), up to the limit
  bool too_long_ = false;
  uint8_t sum_ = 0;
  int check_ = 0;  // the received checksum's digits
  bool check_bad_ = false;
};

// `$payload#cs`: the payload must already be escaped where it carries binary data.
std::string frame_packet(const std::string& payload);
// The `}` escape of binary data: `#`, `$`, `}` and `*` become `}` and the byte ^ 0x20.
std::string escape_binary(const uint8_t* data, size_t len);
// The reverse; nullopt when the data ends inside an escape.
std::optional<std::vector<uint8_t>> unescape_binary(const std::string& s);
// Run-length decoding of a packet body; nullopt when a `*` has no byte before
// it, no count after it, or a count out of range.
std::optional<std::string> expand_rle(const std::string& s);

// Hex helpers: bytes in memory order, two lower-case digits each.
std::string to_hex(const uint8_t* data, size_t len);
std::string to_hex(const std::string& s);
std::optional<std::vector<uint8_t>> from_hex(const std::string& s);
// A big-endian hex number as the protocol writes addresses and lengths (at
// most 16 digits); nullopt when empty, too long or not hex.
std::optional<uint64_t> parse_hex_u64(const std::string& s);

}  // namespace cocosim::gdb
