# gdb-multiarch against a protected VM on arm64-pkvm (pkvm.yaml).
show architecture
#= The target architecture is set to "auto" \(currently "aarch64"\)
info registers pc
#= pc\s+0x0
break *4
continue
#= Thread \d+ hit Breakpoint 1, 0x0000000000000004 in
# x0: what the hvc FEATURES op returned.
info registers x0 x1 sp pc cpsr
#= x0\s+0x1d\s+29
#= x1\s+0x0\s+0
#= pc\s+0x4\s+0x4
#= cpsr\s+0x0
# The page the guest shared: readable.
x/gx 0x100001000
#= 0x100001000:\s+0x0000000000abcdef
# The page the guest owns at EL2: refused.
x/gx 0x100000000
#= Cannot access memory at address 0x100000000
monitor page 0x100000000
#= pvm gpa 0x100000000:
#=   guest_state: OWNED
stepi
#= 0x0000000000000005 in
x/gx 0x100001000
#= 0x100001000:\s+0x0000000000001234
monitor stats
#= platform\.kvm\.pkvm_donations 2
# The rest of the KVM_RUN step, then the run stops before the next step.
monitor step
#= running step 6 \(KVM_RUN\)
#= stopped before step 7 \(inspect\)
monitor nonsense
#= unknown monitor command 'nonsense'
continue
#= exited normally
