/* The memory sweep (x86-64): 8-byte loads every `sweep_stride` bytes over
   [sweep_base, sweep_base + sweep_length), which the host sets before the
   run, summed into RBX; then GUEST_SYNC(1); the same sweep again (the pages
   are in stage 2 by now), GUEST_SYNC(2); then GUEST_DONE. The benchmark's
   memory traffic (cocosim_bench isa: the second pass is the one measured). */
	.set UCALL_PIO_PORT, 0x1000
	.set UCALL_SYNC, 1
	.set UCALL_DONE, 4

	.section .text.entry, "ax"
	.globl guest_entry
guest_entry:
	lea	guest_stack_top(%rip), %rsp
	call	sweep
	lea	uc_sync(%rip), %rdi
	mov	$UCALL_PIO_PORT, %edx
	in	(%dx), %al
	call	sweep
	lea	uc_sync2(%rip), %rdi
	mov	$UCALL_PIO_PORT, %edx
	in	(%dx), %al
	lea	uc_done(%rip), %rdi
	in	(%dx), %al
2:	hlt
	jmp	2b

sweep:
	mov	sweep_base(%rip), %rax
	mov	sweep_length(%rip), %rcx
	add	%rax, %rcx
	mov	sweep_stride(%rip), %rsi
	xor	%ebx, %ebx
1:	add	(%rax), %rbx
	add	%rsi, %rax
	cmp	%rcx, %rax
	jb	1b
	ret

	.data
	.balign 8
	.globl sweep_base, sweep_length, sweep_stride
sweep_base:	.quad 0x1000000
sweep_length:	.quad 0x1000000
sweep_stride:	.quad 64
uc_sync:
	.quad UCALL_SYNC, 0, 1, 0, 0, 0, 0, 0
	.fill 1024, 1, 0
	.quad 0
uc_sync2:
	.quad UCALL_SYNC, 0, 2, 0, 0, 0, 0, 0
	.fill 1024, 1, 0
	.quad 0
uc_done:
	.quad UCALL_DONE, 0, 0, 0, 0, 0, 0, 0
	.fill 1024, 1, 0
	.quad 0
