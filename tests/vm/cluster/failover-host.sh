# Host side of cluster/failover.sh: once every guest's keeld sees three
# nodes up and guest 3 has written its volume, kill guest 3 outright (its
# qemu, no shutdown) and tell the survivors.
for i in $(seq "$nodes"); do vm_wait_file "$i" ready 600; done
vm_wait_file 3 written 600
vm_kill 3
for i in 1 2; do vm_signal "$i" crashed; done
