/* The KVM selftests' struct ucall (tools/testing/selftests/kvm/include/
   ucall_common.h) for every guest image, whatever its architecture: cmd,
   args[7], buffer[1024], then the host's pointer. GUEST_SYNC(stage) is
   ucall(UCALL_SYNC, 2, "hello", stage): args[1] is the stage. How the guest
   hands the struct to the host is the architecture's (x86_64/ucall.h: port
   I/O; aarch64/ucall.h: an MMIO store). Usable from assembly (.S, through the
   C preprocessor) and from freestanding C. */
#ifndef COCOSIM_FIRMWARE_UCALL_COMMON_H
#define COCOSIM_FIRMWARE_UCALL_COMMON_H

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

#else /* C */

struct ucall {
	unsigned long long cmd;
	unsigned long long args[UCALL_MAX_ARGS];
	char buffer[UCALL_BUFFER_LEN];
	unsigned long long hva; /* the host's pointer; the guest leaves it alone */
};

#endif
#endif
