/* The memory sweep (x86-64): 8-byte loads every `sweep_stride` bytes over
   [sweep_base, sweep_base + sweep_length), which the host sets before the
   run, summed into RBX; then GUEST_SYNC(1); the same sweep again (the pages
   are in stage 2 by now), GUEST_SYNC(2); then GUEST_DONE. The benchmark's
   memory traffic (cocosim_bench isa: the second pass is the one measured). */
#include "ucall.h"

	.section .text.entry, "ax"
	.globl guest_entry
guest_entry:
	lea	guest_stack_top(%rip), %rsp
	call	sweep
	UCALL uc_sync
	call	sweep
	UCALL uc_sync2
	UCALL uc_done
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
	GUEST_SYNC_STRUCT uc_sync, 1
	GUEST_SYNC_STRUCT uc_sync2, 2
	UCALL_STRUCT uc_done, UCALL_DONE
