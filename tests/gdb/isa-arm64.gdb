# gdb-multiarch against real AArch64 guest code (isa-arm64.yaml): the vCPU
# runs firmware/aarch64/compute_loop.S; gdb reads its symbols from the image.
file @FIRMWARE@/compute_loop_arm64.elf
break *guest_entry
continue
#= Thread \d+ hit Breakpoint 1, 0x0000000000100000 in guest_entry \(\)
info registers pc
#= pc\s+0x100000\s+0x100000 <guest_entry>
info threads
#= \* \d+\s+Thread 1 \(vm0 vcpu0 \(ELF program compute\)\) 0x0000000000100000 in guest_entry \(\)
#=   \d+\s+Thread 2 \(vm1 vcpu0 \(program scripted\)\)
stepi
#= 0x0000000000100004 in guest_entry \(\)
stepi
info registers sp
#= sp\s+0x107000\s+0x107000
break *loop_done
continue
#= Thread \d+ hit Breakpoint 2, 0x0000000000100020 in loop_done \(\)
# The sum of 1..1000000 in x2, the counter spent.
info registers x2 x1
#= x2\s+0x746a5a2920\s+500000500000
#= x1\s+0x0\s+0
x/gx &sum
#= 0x101000:\s+0x0000000000000000
set $x2 = 42
stepi
#= 0x0000000000100024 in loop_done \(\)
stepi
#= 0x0000000000100028 in loop_done \(\)
# The store the guest just made, of gdb's value.
x/gx &sum
#= 0x101000:\s+0x000000000000002a
p $pc
#= = \(void \(\*\)\(\)\) 0x100028 <loop_done\+8>
delete
continue
#= exited normally
#! Remote connection closed
