#include <doctest/doctest.h>

#include <string>

#include "op_table.h"
#include "scenario/schema.h"

using namespace cocosim;

TEST_CASE("op table: every operation the schema accepts has a handler") {
  for (const OpSpec& spec : step_specs()) {
    CAPTURE(spec.name);
    if (spec.unavailable.empty()) CHECK(op_handler(spec.name) != nullptr);
    else CHECK(op_handler(spec.name) == nullptr);  // refused by the validator, never run
  }
}

TEST_CASE("op table: every handler runs an operation the schema accepts, once") {
  for (const OpHandler& h : op_handlers()) {
    CAPTURE(std::string(h.op));
    const OpSpec* spec = step_spec(h.op);
    REQUIRE(spec != nullptr);
    CHECK(spec->unavailable.empty());
    CHECK(op_handler(h.op) == &h);
    CHECK(bool(h.run));
    CHECK((h.oom_signal != 0) != (h.oom_errno != 0));  // one way to fail when DRAM runs out
  }
}
