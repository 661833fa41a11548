/* Loads and stores to an IPA without memslot (MMIO_ADDR) whose data abort
   has no valid instruction syndrome (ESR_EL2.ISV 0), and one that has:
     stage 1: stp x6, x7, [x5]       a pair (ISV 0)
     stage 2: ldp x0, x1, [x8], #16  a pair with post-index writeback (ISV 0)
     stage 3: str w6, [x5]           one register (ISV 1): KVM_EXIT_MMIO
   then GUEST_DONE. On a protected VM KVM injects a data abort for stages 1
   and 2 (kvm_inject_dabt: ESR_EL1 EC 0x25, IL, FSC 0x10 external abort;
   FAR_EL1 the address, ELR_EL1 the instruction); the handler at VBAR_EL1 +
   0x200 keeps x0, x1 and x8 as the handler found them in x23, x24, x25
   (the instruction must have left them unchanged), reports x10 ESR_EL1,
   x11 FAR_EL1, x12 ELR_EL1 with GUEST_SYNC(stage) and returns past the
   instruction. On another VM KVM_RUN fails with ENOSYS, or returns
   KVM_EXIT_ARM_NISV when the VMM enabled KVM_CAP_ARM_NISV_TO_USER, each time
   at the stp (the instruction runs again at the next entry).
   `guest_entry_str` makes the stage-3 store first. Ucalls are stores to
   UCALL_MMIO as in compute_loop.S. */
	.set UCALL_MMIO, 0x10000000
	.set MMIO_ADDR, 0x30000000
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
	ldr	x5, =MMIO_ADDR
	mov	x6, #0x1111
	mov	x7, #0x2222

	mov	x20, #1
	.globl stp_insn
stp_insn:
	stp	x6, x7, [x5]

	mov	x20, #2
	mov	x0, #0xaaaa
	mov	x1, #0xbbbb
	mov	x8, x5
	.globl ldp_insn
ldp_insn:
	ldp	x0, x1, [x8], #16

	.globl guest_entry_str
guest_entry_str:
	ldr	x5, =MMIO_ADDR
	mov	x6, #0x1111
	mov	x20, #3
	.globl str_insn
str_insn:
	str	w6, [x5]
	adr	x0, uc_done
	bl	ucall
1:	wfi
	b	1b

ucall:
	ldr	x9, =UCALL_MMIO
	str	x0, [x9]
	ret

/* The synchronous exception from the current EL with SP_EL1. */
sync_handler:
	mov	x23, x0
	mov	x24, x1
	mov	x25, x8
	mrs	x10, esr_el1
	mrs	x11, far_el1
	mrs	x12, elr_el1
	mov	x13, x30
	adr	x0, uc_sync
	str	x20, [x0, #16]		/* args[1]: the stage */
	bl	ucall
	add	x12, x12, #4		/* past the faulting instruction */
	msr	elr_el1, x12
	mov	x30, x13
	mov	x0, x23
	mov	x1, x24
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
