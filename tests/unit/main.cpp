#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

// libsystemc's own main() refers to sc_main; unit tests never start the kernel.
extern "C" int sc_main(int, char**) { return 0; }
