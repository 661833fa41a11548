/* The KVM selftests' ucall on x86-64 (tools/testing/selftests/kvm/lib/x86/
   ucall.c), one copy for every x86-64 image: `in %dx, %al` with DX =
   UCALL_PIO_PORT and RDI the address of a struct ucall (ucall_common.h); the
   host reads the struct from guest memory at the KVM_EXIT_IO. */
#ifndef COCOSIM_FIRMWARE_X86_64_UCALL_H
#define COCOSIM_FIRMWARE_X86_64_UCALL_H

#include "ucall_common.h"

#define UCALL_PIO_PORT 0x1000

#ifdef __ASSEMBLER__

/* UCALL struct: the call itself (RDI, RDX and AL change). */
.macro UCALL struct
	lea	\struct(%rip), %rdi
	mov	$UCALL_PIO_PORT, %edx
	in	(%dx), %al
.endm

#else /* C */

static inline void ucall_pio(struct ucall *uc)
{
	unsigned short port = UCALL_PIO_PORT;
	unsigned char al;
	__asm__ volatile("in %%dx, %%al" : "=a"(al) : "d"(port), "D"(uc) : "memory");
	(void)al;
}

#endif
#endif
