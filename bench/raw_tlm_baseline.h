// The reference point for every figure the benchmark prints: a plain TLM-2.0
// initiator calling b_transport on a memory target, with no translation, no
// checks and no DMI: what a minimal SystemC model of "memory access" costs.
#pragma once
#include <cstdint>
#include <cstring>
#include <vector>

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>

namespace cocosim::bench {

class RawMemory : public sc_core::sc_module {
 public:
  tlm_utils::simple_target_socket<RawMemory> socket;
  RawMemory(sc_core::sc_module_name n, size_t size) : sc_module(n), socket("socket"), mem_(size) {
    socket.register_b_transport(this, &RawMemory::b_transport);
  }
  // A fresh zeroed buffer of `size` bytes (the memset baseline allocates its
  // memory inside the timed loop, as the simulated DRAM does on first touch).
  void reset(size_t size) { mem_ = std::vector<uint8_t>(size); }

 private:
  void b_transport(tlm::tlm_generic_payload& t, sc_core::sc_time& delay) {
    uint8_t* p = mem_.data() + t.get_address();
    if (t.is_read()) std::memcpy(t.get_data_ptr(), p, t.get_data_length());
    else std::memcpy(p, t.get_data_ptr(), t.get_data_length());
    delay += latency_;
    t.set_response_status(tlm::TLM_OK_RESPONSE);
  }
  std::vector<uint8_t> mem_;
  const sc_core::sc_time latency_{50, sc_core::SC_NS};
};

class RawInitiator : public sc_core::sc_module {
 public:
  tlm_utils::simple_initiator_socket<RawInitiator> socket;
  explicit RawInitiator(sc_core::sc_module_name n) : sc_module(n), socket("socket") {}

  // `count` 8-byte accesses walking `length` bytes with `stride`, as a sweep does.
  uint64_t sweep(uint64_t length, uint64_t stride, uint64_t count, bool write) {
    tlm::tlm_generic_payload t;
    uint64_t v = 0, sum = 0;
    sc_core::sc_time delay;
    t.set_data_ptr(reinterpret_cast<unsigned char*>(&v));
    t.set_data_length(8);
    t.set_streaming_width(8);
    t.set_command(write ? tlm::TLM_WRITE_COMMAND : tlm::TLM_READ_COMMAND);
    for (uint64_t i = 0; i < count; ++i) {
      t.set_address((i * stride) % length);
      t.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
      v = i;
      socket->b_transport(t, delay);
      sum += v;
    }
    return sum;
  }

  // `length` bytes set to `byte`, one 4 KiB write per b_transport, as a memset
  // page by page.
  void memset_pages(uint64_t length, uint8_t byte) {
    std::vector<uint8_t> page(4096, byte);
    tlm::tlm_generic_payload t;
    sc_core::sc_time delay;
    t.set_data_ptr(page.data());
    t.set_data_length(4096);
    t.set_streaming_width(4096);
    t.set_command(tlm::TLM_WRITE_COMMAND);
    for (uint64_t a = 0; a < length; a += 4096) {
      t.set_address(a);
      t.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
      socket->b_transport(t, delay);
    }
  }
};

}  // namespace cocosim::bench
