/* The compute loop (x86-64): sums 1..N in a register (N from `iterations`,
   which the host may overwrite before the run), stores the sum, and
   reports through the KVM selftests' ucall: GUEST_SYNC(1) with the sum
   stored; then twice it reads `sum` back into RSI and GUEST_SYNCs (2, 3), so
   the host can change the memory behind it in between; then GUEST_DONE. A ucall is `in %dx, %al` with DX = 0x1000
   (UCALL_PIO_PORT) and RDI = the address of a struct ucall
   {cmd, args[7], buffer[1024]}. */
#include "ucall.h"
	.set ITERATIONS, 1000000

	.section .text.entry, "ax"
	.globl guest_entry
guest_entry:
	lea	guest_stack_top(%rip), %rsp
	mov	iterations(%rip), %rcx
	xor	%ebx, %ebx
1:	add	%rcx, %rbx
	dec	%rcx
	jnz	1b
	.globl loop_done		/* for debuggers: the store of the sum */
loop_done:
	mov	%rbx, sum(%rip)
	lea	uc_sync(%rip), %rdi
	mov	$UCALL_PIO_PORT, %edx
	in	(%dx), %al
	mov	sum(%rip), %rsi		/* what the host left there */
	lea	uc_sync2(%rip), %rdi
	in	(%dx), %al
	mov	sum(%rip), %rsi
	lea	uc_sync3(%rip), %rdi
	in	(%dx), %al
	lea	uc_done(%rip), %rdi
	in	(%dx), %al
2:	hlt
	jmp	2b

	.data
	.balign 8
	.globl sum, iterations
sum:	.quad 0
iterations:
	.quad ITERATIONS
	GUEST_SYNC_STRUCT uc_sync, 1
	GUEST_SYNC_STRUCT uc_sync2, 2
	GUEST_SYNC_STRUCT uc_sync3, 3
	UCALL_STRUCT uc_done, UCALL_DONE
