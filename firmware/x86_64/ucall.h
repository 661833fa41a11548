/* The KVM selftests' guest/host call (tools/testing/selftests/kvm/lib/x86/
   ucall.c, include/ucall_common.h) for the x86-64 guest images, one copy for
   all of them. A ucall is `in %dx, %al` with DX = UCALL_PIO_PORT and RDI the
   address of a struct ucall {cmd, args[7], buffer[1024], hva}; the host reads
   the struct from guest memory at the KVM_EXIT_IO. GUEST_SYNC(stage) is
   ucall(UCALL_SYNC, 2, "hello", stage): args[1] is the stage. Usable from
   assembly (.S, through the C preprocessor) and from freestanding C. */
#ifndef COCOSIM_FIRMWARE_X86_64_UCALL_H
#define COCOSIM_FIRMWARE_X86_64_UCALL_H

#define UCALL_PIO_PORT 0x1000
#define UCALL_NONE 0
#define UCALL_SYNC 1
#define UCALL_ABORT 2
#define UCALL_PRINTF 3
#define UCALL_DONE 4
#define UCALL_MAX_ARGS 7
#define UCALL_BUFFER_LEN 1024

#ifdef __ASSEMBLER__

/* UCALL_STRUCT name, cmd, a0 ... a6: a struct ucall in .data, 8-aligned. */
.macro UCALL_STRUCT name, cmd, a0=0, a1=0, a2=0, a3=0, a4=0, a5=0, a6=0
	.pushsection .data
	.balign 8
\name:
	.quad \cmd, \a0, \a1, \a2, \a3, \a4, \a5, \a6
	.fill UCALL_BUFFER_LEN, 1, 0
	.quad 0
	.popsection
.endm

/* GUEST_SYNC_STRUCT name, stage: the struct of GUEST_SYNC(stage). */
.macro GUEST_SYNC_STRUCT name, stage
	UCALL_STRUCT \name, UCALL_SYNC, 0, \stage
.endm

/* GUEST_ASSERT_STRUCT name, "message": a UCALL_ABORT with its message. */
.macro GUEST_ASSERT_STRUCT name, message
	.pushsection .data
	.balign 8
\name:
	.quad UCALL_ABORT, 0, 0, 0, 0, 0, 0, 0
9001:	.asciz "\message"
	.fill UCALL_BUFFER_LEN - (. - 9001b), 1, 0
	.quad 0
	.popsection
.endm

/* UCALL struct: the call itself (RDI, RDX and AL change). */
.macro UCALL struct
	lea	\struct(%rip), %rdi
	mov	$UCALL_PIO_PORT, %edx
	in	(%dx), %al
.endm

#else /* C */

struct ucall {
	unsigned long long cmd;
	unsigned long long args[UCALL_MAX_ARGS];
	char buffer[UCALL_BUFFER_LEN];
	unsigned long long hva; /* the host's pointer; the guest leaves it alone */
};

static inline void ucall_pio(struct ucall *uc)
{
	unsigned short port = UCALL_PIO_PORT;
	unsigned char al;
	__asm__ volatile("in %%dx, %%al" : "=a"(al) : "d"(port), "D"(uc) : "memory");
	(void)al;
}

#endif
#endif
