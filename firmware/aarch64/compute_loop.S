/* The compute loop (AArch64), the same program as x86_64/compute_loop.S:
   sums 1..N (N from `iterations`) into x2, stores the sum, GUEST_SYNC(1);
   twice loads `sum` into x4 and GUEST_SYNCs (2, 3); GUEST_DONE. A ucall on
   arm64 is what the KVM selftests do (lib/arm64/ucall.c): a 64-bit store of
   the struct ucall's address to the ucall MMIO address, a GPA without
   memslot that the host chose (here UCALL_MMIO, which the scenario names
   with the program's `ucall_mmio:`). */
	.set UCALL_MMIO, 0x10000000
	.set UCALL_SYNC, 1
	.set UCALL_DONE, 4

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

ucall:
	ldr	x9, =UCALL_MMIO
	str	x0, [x9]
	ret
	.ltorg

	.data
	.balign 8
	.globl sum, iterations
sum:	.quad 0
iterations:
	.quad 1000000
uc_sync:				/* ucall(UCALL_SYNC, 2, "hello", 1) */
	.quad UCALL_SYNC, 0, 1, 0, 0, 0, 0, 0
	.fill 1024, 1, 0
	.quad 0
uc_sync2:
	.quad UCALL_SYNC, 0, 2, 0, 0, 0, 0, 0
	.fill 1024, 1, 0
	.quad 0
uc_sync3:
	.quad UCALL_SYNC, 0, 3, 0, 0, 0, 0, 0
	.fill 1024, 1, 0
	.quad 0
uc_done:
	.quad UCALL_DONE, 0, 0, 0, 0, 0, 0, 0
	.fill 1024, 1, 0
	.quad 0
