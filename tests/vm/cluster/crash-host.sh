# Host side of cluster/crash.sh: wait until all guests are up and connected,
# kill the last one, tell the others.
for i in $(seq "$nodes"); do vm_wait_file "$i" ready 300; done
vm_kill "$nodes"
for i in $(seq $((nodes - 1))); do vm_signal "$i" crashed; done
