/* The memory sweep (x86-64): 8-byte loads every `sweep_stride` bytes over
   [sweep_base, sweep_base + sweep_length), which the host sets before the
   run, summed into RBX; then GUEST_SYNC(1) and GUEST_DONE. The benchmark's
   memory traffic (cocosim_bench isa). */
#include "ucall.h"

	.section .text.entry, "ax"
	.globl guest_entry
guest_entry:
	lea	guest_stack_top(%rip), %rsp
	mov	sweep_base(%rip), %rax
	mov	sweep_length(%rip), %rcx
	add	%rax, %rcx
	mov	sweep_stride(%rip), %rsi
	xor	%ebx, %ebx
1:	add	(%rax), %rbx
	add	%rsi, %rax
	cmp	%rcx, %rax
	jb	1b
	lea	uc_sync(%rip), %rdi
	mov	$UCALL_PIO_PORT, %edx
	in	(%dx), %al
	lea	uc_done(%rip), %rdi
	in	(%dx), %al
2:	hlt
	jmp	2b

	.data
	.balign 8
	.globl sweep_base, sweep_length, sweep_stride
sweep_base:	.quad 0x1000000
sweep_length:	.quad 0x1000000
sweep_stride:	.quad 64
	GUEST_SYNC_STRUCT uc_sync, 1
	UCALL_STRUCT uc_done, UCALL_DONE
