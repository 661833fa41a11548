# gdb-multiarch against configs/two-vcpus-shootdown.yaml: one breakpoint, two
# vCPUs that reach it in different KVM_RUN steps. Continuing from the first
# hit steps its vCPU over the breakpoint, and that vCPU's op ends its run
# (its program is done), so the step ends at the next scenario step.
break *2
continue
#= Thread (\d+) hit Breakpoint 1, 0x0000000000000002 in
info threads
#= \* \d+\s+Thread 2 \(vm0 vcpu1 \(program reader\)\) 0x0000000000000002
#=   \d+\s+Thread 1 \(vm0 vcpu0 \(program writer\)\) 0x0000000000000002
continue
#= hit Breakpoint 1, 0x0000000000000002 in
info threads
#=   \d+\s+Thread 2 \(vm0 vcpu1 \(program reader\)\) 0x0000000000000003
#= \* \d+\s+Thread 1 \(vm0 vcpu0 \(program writer\)\) 0x0000000000000002
x/gx 0x100000000
#= 0x100000000:\s+0x0000000000001111
stepi
x/gx 0x100000000
#= 0x100000000:\s+0x0000000000002222
continue
#= exited normally
