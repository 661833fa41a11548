/* A pKVM protected-VM guest calling EL2 with HVC #0 (SMCCC, function ID in
   x0, argument in x1, result in x0; Documentation/virt/kvm/arm/hypercalls.rst):
   probes FEATURES into x19 and HYP_MEMINFO (the hypervisor's page size)
   into x20; writes 0x5ec2e7 to its private page at BUF, shares it with
   MEM_SHARE (x22 the result), GUEST_SYNC(1) so the host reads the page in
   place and writes its own value; loads what the host wrote into x23, takes
   the page back with MEM_UNSHARE (x24 the result), loads it again into x25
   (the data stays in place), GUEST_DONE. A failed share or unshare is
   GUEST_ASSERT: UCALL_ABORT with a message. A ucall is a store of the
   struct ucall's address to UCALL_MMIO (lib/arm64/ucall.c). */
#include "ucall.h"
	.set FEATURES, 0x86000000	/* ARM_SMCCC_VENDOR_HYP_KVM_FEATURES_FUNC_ID */
	.set HYP_MEMINFO, 0xc6000002
	.set MEM_SHARE, 0xc6000003
	.set MEM_UNSHARE, 0xc6000004
	.set BUF, 0x100000000

	.section .text.entry, "ax"
	.globl guest_entry
guest_entry:
	ldr	x0, =guest_stack_top
	mov	sp, x0
	ldr	x0, =FEATURES
	mov	x1, #0
	hvc	#0
	mov	x19, x0
	ldr	x0, =HYP_MEMINFO
	hvc	#0
	mov	x20, x0
	ldr	x21, =BUF
	ldr	x2, =0x5ec2e7
	str	x2, [x21]		/* the guest's own (private) page */
	ldr	x0, =MEM_SHARE
	mov	x1, x21
	hvc	#0
	mov	x22, x0
	cbnz	x0, fail
	adr	x0, uc_sync
	bl	ucall
	ldr	x23, [x21]		/* what the host wrote, in place */
	ldr	x0, =MEM_UNSHARE
	mov	x1, x21
	hvc	#0
	mov	x24, x0
	cbnz	x0, fail
	ldr	x25, [x21]		/* private again, the data unchanged */
	adr	x0, uc_done
	bl	ucall
halt:	wfi
	b	halt
fail:
	adr	x0, uc_abort
	bl	ucall
	b	halt

	UCALL_ROUTINE

	.data
	.balign 8
	GUEST_SYNC_STRUCT uc_sync, 1
	UCALL_STRUCT uc_done, UCALL_DONE
	GUEST_ASSERT_STRUCT uc_abort, "MEM_SHARE / MEM_UNSHARE failed"
