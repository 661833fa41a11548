# gdb-multiarch against a TD on x86-tdx (td.yaml). Stopped before step 1: no vCPU yet.
show architecture
#= The target architecture is set to "auto" \(currently "i386:x86-64"\)
info registers rip
#= rip\s+0x0
break *4
continue
#= Thread \d+ hit Breakpoint 1, 0x0000000000000004 in
info threads
#= \* \d+\s+Thread 1 \(td vcpu0 \(program guest\)\) 0x0000000000000004
p $pc
#= = \(void \(\*\)\(\)\) 0x4
# rax: the second ACCEPT's status, TDX_PAGE_ALREADY_ACCEPTED with operand RCX.
info registers rax rbx
#= rax\s+0xb0a00000001\s+12137577578497
#= rbx\s+0x0\s+0
# The shared page, through KVM's shared EPT: what the VMM stored.
x/gx 0x20000
#= 0x20000:\s+0x0000000000abcdef
# The same page through the TD's shared alias (GPA bit 47).
x/gx 0x800000020000
#= 0x800000020000:\s+0x0000000000abcdef
# The private page the guest accepted and wrote: not a debug TD, so no.
x/gx 0x10000
#= Cannot access memory at address 0x10000
monitor page 0x10000
#= td gpa 0x10000:
#=   attribute: private
#=   sept: MAPPED
stepi
#= 0x0000000000000005 in
x/gx 0x20000
#= 0x20000:\s+0x0000000000001234
set {long}0x20000 = 0x77
x/gx 0x20000
#= 0x20000:\s+0x0000000000000077
delete
continue
#= exited normally
#! Remote connection closed
