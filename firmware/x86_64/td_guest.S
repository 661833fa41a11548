/* A TD guest booting from its measured image (configs/isa-td-guest.yaml):
   the VMM loads this ELF into a host mapping and hands it to
   KVM_TDX_INIT_MEM_REGION (TDH.MEM.PAGE.ADD plus TDH.MR.EXTEND of every
   page); everything it uses before its #VE handler runs (code, GDT, IDT,
   stack, ucall structs) is in the image, so it is private, accepted and
   measured.
     1. lgdt and a far return to the 64-bit code segment (IRETQ reloads CS
        from the GDT), the #VE (20), #MC (18) and #UD (6) gates written at
        run time,
        lidt; GUEST_SYNC(1).
     2. Stores to LAZY_PAGES private pages at LAZY_BASE that were never
        added or accepted: each first touch is an EPT violation the TDX
        module turns into a #VE (ATTRIBUTES.SEPT_VE_DISABLE clear). The
        handler does what Linux's tdx_handle_virt_exception and the TDVF do
        for an unaccepted page: TDG.VP.VEINFO.GET (exit reason 48, EPT
        violation; the GPA in R9), TDG.MEM.PAGE.ACCEPT of that 4 KiB page,
        IRETQ, and the store runs again. GUEST_SYNC(2) with RBX = #VEs taken.
     3. TDG.VP.VMCALL<MapGPA> of the first lazy page with the shared bit
        (KVM_EXIT_HYPERCALL to the VMM, which converts it), the page written
        through the shared alias, GUEST_SYNC(3): the host reads it; MapGPA
        back to private and TDG.MEM.PAGE.ACCEPT, which zeroes it.
     4. TDG.MR.REPORT into a TDREPORT_STRUCT; GUEST_SYNC(4) with MRTD's 48
        bytes in R8 ... R13 (little-endian quadwords); GUEST_DONE.
   A failed check is GUEST_ASSERT: UCALL_ABORT with the message.
   On a VM that is not a TD (configs/isa-x86-exceptions.yaml) the first
   TDCALL is #UD: its handler reports GUEST_SYNC(6) with the TDCALL's RIP in
   RSI. triple_entry loads an IDT of limit 0 and executes ud2: #UD, #GP,
   #DF, #GP: a triple fault, KVM_EXIT_SHUTDOWN.
   mc_entry (configs/isa-td-machine-check.yaml): the same boot, a store to
   MC_TARGET (a #VE and a lazy accept), GUEST_SYNC(10); the host writes that
   line with KeyID 0; the load that follows consumes the poison (#MC). */
	.set UCALL_PIO_PORT, 0x1000
	.set SHARED_BIT, 0x800000000000		/* GPA bit 47 (GPAW 0) */
	.set LAZY_BASE, 0x200000
	.set LAZY_PAGES, 4
	.set MC_TARGET, 0x204000		/* a private page mc_entry accepts lazily */
	.set TDG_VP_VMCALL, 0
	.set TDG_VP_VEINFO_GET, 3
	.set TDG_MR_REPORT, 4
	.set TDG_MEM_PAGE_ACCEPT, 6
	.set TDVMCALL_MAP_GPA, 0x10001
	.set EXIT_REASON_EPT_VIOLATION, 48
	.set TDREPORT_MRTD, 528			/* TDINFO_STRUCT.MRTD in TDREPORT_STRUCT */

	.macro TDCALL
	.byte	0x66, 0x0f, 0x01, 0xcc
	.endm

	/* GUEST_ASSERT: UCALL_ABORT with `msg` when the flags say `cond` is false */
	.macro ASSERT_JCC jcc, msg
	\jcc	.Lok\@
	.pushsection .data
	.balign	8
.Labort\@:
	.quad	2, 0, 0, 0, 0, 0, 0, 0
	.asciz	"\msg"
	.popsection
	lea	.Labort\@(%rip), %rdi
	call	ucall
	jmp	halt
.Lok\@:
	.endm

	.macro UCALL cmd, stage
	.pushsection .data
	.balign	8
.Lucall\@:
	.quad	\cmd, 0, \stage, 0, 0, 0, 0, 0
	.popsection
	lea	.Lucall\@(%rip), %rdi
	call	ucall
	.endm

	.section .text.entry, "ax"
	.globl guest_entry
guest_entry:
	lea	stack_top(%rip), %rsp
	call	boot
	UCALL	1, 1

	/* 2. Lazy accept through #VE */
	mov	$LAZY_BASE, %r12
	mov	$LAZY_PAGES, %r13d
1:	mov	%r12, (%r12)
	cmp	%r12, (%r12)
	ASSERT_JCC je, "td_guest: a lazily accepted page lost its store"
	add	$4096, %r12
	dec	%r13d
	jnz	1b
	mov	ve_count(%rip), %rbx
	UCALL	1, 2

	/* 3. To shared, written through the shared alias, back to private */
	movabs	$(SHARED_BIT | LAZY_BASE), %r12
	call	map_gpa
	movabs	$(SHARED_BIT | LAZY_BASE), %rdi
	movabs	$0x5a5a5a5a5a5a5a5a, %rax
	mov	$512, %ecx
	rep stosq
	UCALL	1, 3
	mov	$LAZY_BASE, %r12
	call	map_gpa
	mov	$LAZY_BASE, %ecx
	mov	$TDG_MEM_PAGE_ACCEPT, %eax
	TDCALL
	test	%rax, %rax
	ASSERT_JCC jz, "td_guest: TDG.MEM.PAGE.ACCEPT after MapGPA to private failed"
	cmpq	$0, LAZY_BASE
	ASSERT_JCC je, "td_guest: the page accepted again is not zeroed"

	/* 4. The measurement */
	lea	tdreport(%rip), %rcx
	lea	reportdata(%rip), %rdx
	xor	%r8d, %r8d
	mov	$TDG_MR_REPORT, %eax
	TDCALL
	test	%rax, %rax
	ASSERT_JCC jz, "td_guest: TDG.MR.REPORT failed"
	lea	tdreport+TDREPORT_MRTD(%rip), %rsi
	mov	(%rsi), %r8
	mov	8(%rsi), %r9
	mov	16(%rsi), %r10
	mov	24(%rsi), %r11
	mov	32(%rsi), %r12
	mov	40(%rsi), %r13
	UCALL	1, 4
	UCALL	4, 0
halt:	hlt
	jmp	halt

	.globl mc_entry
mc_entry:
	lea	stack_top(%rip), %rsp
	call	boot
	movq	$0x5eed, MC_TARGET	/* lazily accepted through #VE */
	UCALL	1, 10
	mov	MC_TARGET, %rax		/* the host wrote this line with KeyID 0 */
	UCALL	1, 11
	jmp	halt

	.globl triple_entry
triple_entry:
	lea	stack_top(%rip), %rsp
	call	boot
	lidt	no_idtr(%rip)		/* limit 0: no gate is usable */
	ud2				/* #UD -> #GP -> #DF -> #GP: triple fault */
	jmp	halt

/* GDT, CS reload, the #VE, #MC and #UD gates, IDT */
boot:
	lgdt	gdtr(%rip)
	pushq	$0x08
	lea	1f(%rip), %rax
	pushq	%rax
	lretq
1:	lea	ve_handler(%rip), %rax
	mov	$20, %esi
	call	set_gate
	lea	mc_handler(%rip), %rax
	mov	$18, %esi
	call	set_gate
	lea	ud_handler(%rip), %rax
	mov	$6, %esi
	call	set_gate
	lidt	idtr(%rip)
	ret

/* A 64-bit interrupt gate for vector ESI to the handler at RAX */
set_gate:
	lea	idt(%rip), %rdi
	shl	$4, %esi
	add	%rsi, %rdi
	mov	%ax, (%rdi)
	movw	$0x08, 2(%rdi)
	movw	$0x8e00, 4(%rdi)	/* present, DPL 0, type 0xE, IST 0 */
	shr	$16, %rax
	mov	%ax, 6(%rdi)
	shr	$16, %rax
	mov	%eax, 8(%rdi)
	movl	$0, 12(%rdi)
	ret

/* TDG.VP.VMCALL<MapGPA>(R12, one page): checks TDCALL's and the TDVMCALL's status */
map_gpa:
	mov	$0x3c00, %ecx		/* R10 ... R13 go to the VMM */
	xor	%r10d, %r10d		/* a GHCI TDVMCALL */
	mov	$TDVMCALL_MAP_GPA, %r11d
	mov	$4096, %r13d
	mov	$TDG_VP_VMCALL, %eax
	TDCALL
	test	%rax, %rax
	ASSERT_JCC jz, "td_guest: TDG.VP.VMCALL failed"
	test	%r10, %r10
	ASSERT_JCC jz, "td_guest: MapGPA was refused"
	ret

/* The selftests' ucall: `in` from UCALL_PIO_PORT, RDI = struct ucall */
ucall:
	mov	$UCALL_PIO_PORT, %edx
	in	(%dx), %al
	ret

/* #VE: an unaccepted private page. Lazy accept, as the TDVF does. */
ve_handler:
	push	%rax
	push	%rcx
	push	%rdx
	push	%rdi
	push	%r8
	push	%r9
	push	%r10
	push	%r11
	mov	$TDG_VP_VEINFO_GET, %eax
	TDCALL
	test	%rax, %rax
	ASSERT_JCC jz, "td_guest: #VE without VE info"
	cmp	$EXIT_REASON_EPT_VIOLATION, %ecx
	ASSERT_JCC je, "td_guest: a #VE that is not an EPT violation"
	mov	%r9, %rcx
	and	$-4096, %rcx		/* the page, level 0 (4 KiB) */
	mov	$TDG_MEM_PAGE_ACCEPT, %eax
	TDCALL
	test	%rax, %rax
	ASSERT_JCC jz, "td_guest: TDG.MEM.PAGE.ACCEPT in the #VE handler failed"
	incq	ve_count(%rip)
	pop	%r11
	pop	%r10
	pop	%r9
	pop	%r8
	pop	%rdi
	pop	%rdx
	pop	%rcx
	pop	%rax
	iretq

/* #UD (TDCALL outside a TD): GUEST_SYNC(6) with RSI = the faulting RIP;
   the guest stops there */
ud_handler:
	mov	(%rsp), %rsi
	UCALL	1, 6
	jmp	halt

/* #MC: reported as GUEST_SYNC(18); the guest stops there */
mc_handler:
	UCALL	1, 18
	jmp	halt

	.data
	.balign	8
gdt:	.quad	0
	.quad	0x00af9a000000ffff	/* 0x08: 64-bit code, DPL 0 */
	.quad	0x00cf92000000ffff	/* 0x10: data */
gdt_end:
	.balign	8
gdtr:	.word	gdt_end - gdt - 1
	.quad	gdt
	.balign	8
idtr:	.word	256 * 16 - 1
	.quad	idt
	.balign	8
no_idtr:
	.word	0
	.quad	idt
	.balign	8
ve_count:
	.quad	0

	.bss
	.balign	4096
idt:	.space	256 * 16
	.balign	1024
tdreport:
	.space	1024
	.balign	64
reportdata:
	.space	64
	.balign	4096
	.space	0x4000
stack_top:
