# gdb-multiarch against real x86-64 guest code (isa-x86.yaml): the vCPU runs
# firmware/x86_64/compute_loop.S; gdb reads its symbols from the built image.
file @FIRMWARE@/compute_loop.elf
break *guest_entry
continue
#= Thread \d+ hit Breakpoint 1, 0x0000000000100000 in guest_entry \(\)
info registers rip
#= rip\s+0x100000\s+0x100000 <guest_entry>
info threads
#= \* \d+\s+Thread 1 \(vm0 vcpu0 \(ELF program compute\)\) 0x0000000000100000 in guest_entry \(\)
#=   \d+\s+Thread 2 \(vm1 vcpu0 \(program scripted\)\)
stepi
#= 0x0000000000100007 in guest_entry \(\)
info registers rsp
#= rsp\s+0x107000\s+0x107000
break *loop_done
continue
#= Thread \d+ hit Breakpoint 2, 0x0000000000100018 in loop_done \(\)
# The sum of 1..1000000 in RBX, the counter spent.
info registers rbx rcx
#= rbx\s+0x746a5a2920\s+500000500000
#= rcx\s+0x0\s+0
# Before the store: sum is still 0 in guest memory.
x/gx &sum
#= 0x101000:\s+0x0000000000000000
set $rbx = 42
stepi
#= 0x000000000010001f in loop_done \(\)
# The store the guest just made, of gdb's value.
x/gx &sum
#= 0x101000:\s+0x000000000000002a
p $pc
#= = \(void \(\*\)\(\)\) 0x10001f <loop_done\+7>
# x87 and SSE registers are not the executor's: refused.
set $xmm0.uint128 = 1
#= Could not write register "xmm0"
delete
continue
#= exited normally
#! Remote connection closed
