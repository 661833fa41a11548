/* Conversions at scale (x86-64, sw_protected VM): `scale_pages` pages from
   `scale_base` (both set by the host before the run; 10000 pages at 4 GiB
   by default) go private, shared and private again, one KVM_HC_MAP_GPA_RANGE
   VMCALL per page, and the guest touches every page after each pass:
     to private (GUEST_SYNC 1), touch (2), to shared (3), touch (4),
     to private (5), touch (6), GUEST_DONE.
   A touch reads the page's first 8 bytes, which must be 0 (a new private
   page; a shared page whose copy the VMM discarded on the way to private; a
   private page the VMM punched on the way to shared), and writes the page's
   index + 1 there. A failed hypercall or a page that is not 0 is
   GUEST_ASSERT: UCALL_ABORT with a message. */
#include "ucall.h"
	.set KVM_HC_MAP_GPA_RANGE, 12
	.set KVM_MAP_GPA_RANGE_ENCRYPTED, 0x10

	.section .text.entry, "ax"
	.globl guest_entry
guest_entry:
	lea	guest_stack_top(%rip), %rsp
	mov	scale_base(%rip), %r12
	mov	scale_pages(%rip), %r13
	mov	$KVM_MAP_GPA_RANGE_ENCRYPTED, %r14d
	call	convert_all
	UCALL	uc_sync1
	call	touch_all
	UCALL	uc_sync2
	xor	%r14d, %r14d
	call	convert_all
	UCALL	uc_sync3
	call	touch_all
	UCALL	uc_sync4
	mov	$KVM_MAP_GPA_RANGE_ENCRYPTED, %r14d
	call	convert_all
	UCALL	uc_sync5
	call	touch_all
	UCALL	uc_sync6
	UCALL	uc_done
halt:	hlt
	jmp	halt

	/* kvm_hypercall_map_gpa_range(page, 1, R14) for every page */
convert_all:
	xor	%ebp, %ebp
	mov	%r12, %r15
1:	mov	$KVM_HC_MAP_GPA_RANGE, %eax
	mov	%r15, %rbx
	mov	$1, %ecx
	mov	%r14, %rdx
	vmcall
	test	%rax, %rax
	jnz	map_failed
	add	$4096, %r15
	inc	%rbp
	cmp	%r13, %rbp
	jb	1b
	ret
map_failed:
	UCALL	uc_abort_map
	jmp	halt

	/* every page: its first 8 bytes are 0, then index + 1 */
touch_all:
	xor	%ebp, %ebp
	mov	%r12, %r15
1:	cmpq	$0, (%r15)
	jne	not_zero
	lea	1(%rbp), %rax
	mov	%rax, (%r15)
	add	$4096, %r15
	inc	%rbp
	cmp	%r13, %rbp
	jb	1b
	ret
not_zero:
	UCALL	uc_abort_data
	jmp	halt

	.data
	.balign 8
	.globl scale_base, scale_pages
scale_base:	.quad 0x100000000
scale_pages:	.quad 10000
	GUEST_SYNC_STRUCT uc_sync1, 1
	GUEST_SYNC_STRUCT uc_sync2, 2
	GUEST_SYNC_STRUCT uc_sync3, 3
	GUEST_SYNC_STRUCT uc_sync4, 4
	GUEST_SYNC_STRUCT uc_sync5, 5
	GUEST_SYNC_STRUCT uc_sync6, 6
	UCALL_STRUCT uc_done, UCALL_DONE
	GUEST_ASSERT_STRUCT uc_abort_map, "!ret: kvm_hypercall_map_gpa_range() failed"
	GUEST_ASSERT_STRUCT uc_abort_data, "a page touched after its conversion does not read 0"
