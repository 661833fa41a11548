/* An MMIO round trip: a 4-byte load from a GPA without memslot (MMIO_GPA)
   is KVM_EXIT_MMIO (read, 4 bytes) and completes with what the VMM put in
   kvm_run.mmio.data; the guest adds 1 and stores it 8 bytes further, which is
   KVM_EXIT_MMIO (write) with those bytes; then GUEST_DONE with the value in
   RBX. */
#include "ucall.h"
	.set MMIO_GPA, 0xd0000000

	.section .text.entry, "ax"
	.globl guest_entry
guest_entry:
	lea	guest_stack_top(%rip), %rsp
	mov	$MMIO_GPA, %esi
	mov	(%rsi), %ebx		/* the device register */
	add	$1, %ebx
	mov	%ebx, 8(%rsi)		/* ... and its neighbour */
	lea	uc_done(%rip), %rdi
	mov	$UCALL_PIO_PORT, %edx
	in	(%dx), %al
1:	hlt
	jmp	1b

	UCALL_STRUCT uc_done, UCALL_DONE
