/* Synchronous exceptions taken at EL1 (AArch64): the guest installs a
   vector table at VBAR_EL1, then provokes
     stage 1: an undefined instruction (UDF #0): the CPU takes it at EL1
              itself, ESR_EL1 EC 0x00 (unknown reason) with IL;
     stage 2: a branch to 0x20000000, an IPA without memslot: KVM cannot
              fetch from it and injects a prefetch abort (kvm_inject_pabt:
              ESR_EL1 EC 0x21, IL, external abort; FAR_EL1 the address);
   and reports each from its handler with GUEST_SYNC(stage): x10 ESR_EL1,
   x11 FAR_EL1, x12 ELR_EL1, x14 DAIF, x15 SPSR_EL1, x16 CurrentEL at the
   handler. The handler then returns past the faulting instruction (to the
   link register for the abort on a branch target) with ERET. Stage 3
   checks what survived: x19 kept, x21 = 1 if ERET restored the Z flag,
   x22 the number of exceptions taken. GUEST_DONE.
   `guest_entry_novec` provokes stage 1 without installing vectors
   (VBAR_EL1 stays 0). Ucalls are stores to UCALL_MMIO as in compute_loop.S. */
	.set UCALL_MMIO, 0x10000000
	.set NO_MEMSLOT, 0x20000000
	.set UCALL_SYNC, 1
	.set UCALL_DONE, 4

	.section .text.entry, "ax"
	.globl guest_entry
guest_entry:
	ldr	x0, =guest_stack_top
	mov	sp, x0
	adr	x0, vectors
	msr	vbar_el1, x0
	isb
	mov	x19, #0x1234
	mov	x22, #0

	mov	x20, #1
	cmp	x0, x0			/* Z and C set: SPSR_EL1 must carry them */
	.globl undefined_insn
undefined_insn:
	udf	#0

	mov	x20, #2
	ldr	x5, =NO_MEMSLOT
	.globl branch_to_nowhere
branch_to_nowhere:
	blr	x5

	cmp	x0, x0
	mov	x20, #3
	udf	#1
	cset	x21, eq			/* Z survived the exception and ERET */
	adr	x0, uc_sync
	str	x20, [x0, #16]
	bl	ucall
	adr	x0, uc_done
	bl	ucall
1:	wfi
	b	1b

	.globl guest_entry_novec
guest_entry_novec:
	ldr	x0, =guest_stack_top
	mov	sp, x0
	mov	x20, #1
	.globl undefined_novec
undefined_novec:
	udf	#0
	b	.

ucall:
	ldr	x9, =UCALL_MMIO
	str	x0, [x9]
	ret

/* The synchronous exception from the current EL with SP_EL1. */
sync_handler:
	mrs	x10, esr_el1
	mrs	x11, far_el1
	mrs	x12, elr_el1
	mrs	x14, daif
	mrs	x15, spsr_el1
	mrs	x16, currentel
	mov	x13, x30		/* the interrupted code's link register */
	add	x22, x22, #1
	cmp	x20, #3			/* stage 3 only checks the return */
	b.eq	2f
	adr	x0, uc_sync
	str	x20, [x0, #16]		/* args[1]: the stage */
	bl	ucall
2:	lsr	x17, x10, #26		/* EC */
	cmp	x17, #0x21		/* instruction abort: return to the caller */
	b.eq	3f
	add	x12, x12, #4		/* otherwise past the faulting instruction */
	b	4f
3:	mov	x12, x13
4:	msr	elr_el1, x12
	mov	x30, x13
	eret
	.ltorg

	.balign 2048
	.globl vectors
vectors:
	.rept 4			/* current EL with SP_EL0 */
	b	.
	.balign 0x80
	.endr
	b	sync_handler		/* VBAR_EL1 + 0x200 */
	.balign 0x80
	.rept 11
	b	.
	.balign 0x80
	.endr

	.data
	.balign 8
uc_sync:				/* ucall(UCALL_SYNC, 2, "hello", stage) */
	.quad UCALL_SYNC, 0, 0, 0, 0, 0, 0, 0
	.fill 1024, 1, 0
	.quad 0
uc_done:
	.quad UCALL_DONE, 0, 0, 0, 0, 0, 0, 0
	.fill 1024, 1, 0
	.quad 0
