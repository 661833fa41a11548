/* The guest half of the KVM selftest private_mem_conversions_test
   (tools/testing/selftests/kvm/x86/private_mem_conversions_test.c), for one
   range, GUEST_STAGE(0, PAGE_SIZE), on a sw_protected VM whose data page is
   at BASE_DATA_GPA (4 GiB) in a guest_memfd memslot:
     memset shared def_p (0xaa), GUEST_SYNC(1): the host sees it, writes init_p (0xcc);
     check init_p; memset p1 (0x11) shared; kvm_hypercall_map_gpa_range(gpa,
     1, KVM_MAP_GPA_RANGE_ENCRYPTED); memset p2 (0x22) private; GUEST_SYNC(2):
     the host still sees p1 (its shared copy); check p2;
     map_gpa_range(gpa, 1, 0) back to shared; memset p3 (0x33); GUEST_SYNC(3):
     the host sees p3 and writes p4 (0x44); check p4; GUEST_DONE.
   A hypercall is VMCALL with RAX = KVM_HC_MAP_GPA_RANGE (12), RBX the GPA,
   RCX the page count, RDX the attributes; its result comes back in RAX. A
   mismatch or a failed hypercall is GUEST_ASSERT: UCALL_ABORT with the
   message in the ucall's buffer. */
	.set UCALL_PIO_PORT, 0x1000
	.set UCALL_SYNC, 1
	.set UCALL_ABORT, 2
	.set UCALL_DONE, 4
	.set KVM_HC_MAP_GPA_RANGE, 12
	.set KVM_MAP_GPA_RANGE_ENCRYPTED, 0x10
	.set BASE_DATA_GPA, 0x100000000

	.section .text.entry, "ax"
	.globl guest_entry
guest_entry:
	lea	guest_stack_top(%rip), %rsp
	movabs	$BASE_DATA_GPA, %r12
	movabs	$0xaaaaaaaaaaaaaaaa, %rax	/* def_p: memory is shared by default */
	call	fill
	lea	uc_sync1(%rip), %rdi
	call	ucall
	movabs	$0xcccccccccccccccc, %rax	/* init_p, written by the host */
	call	check
	movabs	$0x1111111111111111, %rax	/* p1, in the shared copy */
	call	fill
	mov	$KVM_MAP_GPA_RANGE_ENCRYPTED, %edx	/* guest_map_private() */
	call	map_gpa_range
	movabs	$0x2222222222222222, %rax	/* p2, in the private copy */
	call	fill
	lea	uc_sync2(%rip), %rdi
	call	ucall
	movabs	$0x2222222222222222, %rax
	call	check
	xor	%edx, %edx			/* guest_map_shared() */
	call	map_gpa_range
	movabs	$0x3333333333333333, %rax	/* p3 */
	call	fill
	lea	uc_sync3(%rip), %rdi
	call	ucall
	movabs	$0x4444444444444444, %rax	/* p4, written by the host */
	call	check
	lea	uc_done(%rip), %rdi
	call	ucall
halt:	hlt
	jmp	halt

fill:					/* the page at R12 := RAX */
	mov	%r12, %rdi
	mov	$512, %ecx
	rep stosq
	ret

check:					/* the page at R12 == RAX, else GUEST_ASSERT */
	mov	%r12, %rsi
	mov	$512, %ecx
1:	cmp	(%rsi), %rax
	jne	mismatch
	add	$8, %rsi
	dec	%ecx
	jnz	1b
	ret
mismatch:
	lea	uc_abort_data(%rip), %rdi
	call	ucall
	jmp	halt

map_gpa_range:				/* the page at R12 with attributes RDX */
	mov	$KVM_HC_MAP_GPA_RANGE, %eax
	mov	%r12, %rbx
	mov	$1, %ecx
	vmcall
	test	%rax, %rax
	jz	1f
	lea	uc_abort_map(%rip), %rdi
	call	ucall
	jmp	halt
1:	ret

ucall:					/* struct ucall at RDI */
	mov	$UCALL_PIO_PORT, %edx
	in	(%dx), %al
	ret

	.data
	.balign 8
uc_sync1:				/* ucall(UCALL_SYNC, 2, "hello", stage) */
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
uc_abort_data:
	.quad UCALL_ABORT, 0, 0, 0, 0, 0, 0, 0
1:	.asciz "memcmp_g: the page does not hold the expected pattern"
	.fill 1024 - (. - 1b), 1, 0
	.quad 0
uc_abort_map:
	.quad UCALL_ABORT, 0, 0, 0, 0, 0, 0, 0
1:	.asciz "kvm_hypercall_map_gpa_range: the hypercall failed"
	.fill 1024 - (. - 1b), 1, 0
	.quad 0
