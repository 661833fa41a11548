/* The compute loop (AArch64), the same program as x86_64/compute_loop.S:
   sums 1..N (N from `iterations`) into x2, stores the sum, GUEST_SYNC(1);
   twice loads `sum` into x4 and GUEST_SYNCs (2, 3); GUEST_DONE. A ucall on
   arm64 is what the KVM selftests do (lib/arm64/ucall.c): a 64-bit store of
   the struct ucall's address to the ucall MMIO address, a GPA without
   memslot that the host chose (here UCALL_MMIO, which the scenario names
   with the program's `ucall_mmio:`). */
#include "ucall.h"

	.section .text.entry, "ax"
	.globl guest_entry
guest_entry:
	ldr	x0, =guest_stack_top
	mov	sp, x0
	adr	x1, iterations
	ldr	x1, [x1]
	mov	x2, #0
1:	add	x2, x2, x1
	subs	x1, x1, #1
	b.ne	1b
	.globl loop_done		/* for debuggers: the store of the sum */
loop_done:
	adr	x3, sum
	str	x2, [x3]
	adr	x0, uc_sync
	bl	ucall
	ldr	x4, [x3]		/* what the host left there */
	adr	x0, uc_sync2
	bl	ucall
	ldr	x4, [x3]
	adr	x0, uc_sync3
	bl	ucall
	adr	x0, uc_done
	bl	ucall
2:	wfi
	b	2b

	UCALL_ROUTINE

	.data
	.balign 8
	.globl sum, iterations
sum:	.quad 0
iterations:
	.quad 1000000
	GUEST_SYNC_STRUCT uc_sync, 1
	GUEST_SYNC_STRUCT uc_sync2, 2
	GUEST_SYNC_STRUCT uc_sync3, 3
	UCALL_STRUCT uc_done, UCALL_DONE
