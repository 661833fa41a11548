/* The KVM selftests' ucall on arm64 (tools/testing/selftests/kvm/lib/arm64/
   ucall.c), one copy for every AArch64 image: a 64-bit store of the struct
   ucall's address (ucall_common.h) to the ucall MMIO address, a GPA without
   memslot that the host chose; these images use UCALL_MMIO, which their
   scenarios name with the program's `ucall_mmio:`. */
#ifndef COCOSIM_FIRMWARE_AARCH64_UCALL_H
#define COCOSIM_FIRMWARE_AARCH64_UCALL_H

#include "ucall_common.h"

#define UCALL_MMIO 0x10000000

#ifdef __ASSEMBLER__

/* UCALL_ROUTINE: `ucall`, called with x0 = the struct (x9 changes). */
.macro UCALL_ROUTINE
ucall:
	ldr	x9, =UCALL_MMIO
	str	x0, [x9]
	ret
	.ltorg
.endm

#endif
#endif
