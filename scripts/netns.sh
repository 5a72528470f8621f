# netns.sh - simulated hosts for tests/multihost.sh and scripts/bench_wire.sh
# (source it; needs root).  Each host is a network namespace with one veth
# into a bridge that lives in a namespace of its own; addresses NET.11,
# NET.12, ... exist only inside the namespaces, so no traffic leaves them.
# mpirun runs in the head namespace "hd" and starts its daemons through an
# ssh replacement that enters the host's namespace with its own hostname
# (unshare --uts, so that shared-memory segments do not collide).
#   pre=PREFIX net=A.B.C     namespace names and the /24, set before sourcing
#   netns_hosts              the host names: hd (the head) h1 h2 h3
#   netns_setup              bridge, hosts, addresses; status 1 on failure
#   netns_teardown           kill every process in the namespaces, delete them
#   netns_rsh FILE           write the ssh replacement (plm_rsh_agent) to FILE
#   netns_head CMD...        run CMD in the head namespace, hostname hd
netns_hosts=(hd h1 h2 h3)

netns_setup() {
  ip netns add "${pre}br" && ip -n "${pre}br" link add br0 type bridge \
    && ip -n "${pre}br" link set br0 up && ip -n "${pre}br" link set lo up || return 1
  local i=1 h
  for h in "${netns_hosts[@]}"; do
    ip netns add "$pre$h" || return 1
    ip -n "${pre}br" link add "v-$h" type veth peer name eth0 netns "$pre$h" || return 1
    ip -n "${pre}br" link set "v-$h" master br0 up || return 1
    ip -n "$pre$h" addr add "$net.$((10 + i))/24" dev eth0 || return 1
    ip -n "$pre$h" link set eth0 up && ip -n "$pre$h" link set lo up || return 1
    i=$((i + 1))
  done
}

netns_teardown() {
  local ns p
  for ns in br "${netns_hosts[@]}"; do
    ip netns list | grep -qw "$pre$ns" || continue
    for p in $(ip netns pids "$pre$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
  done
  sleep 0.2
  for ns in br "${netns_hosts[@]}"; do ip netns del "$pre$ns" 2>/dev/null; done
  return 0
}

# The ssh replacement: rsh [options] HOST COMMAND...
netns_rsh() {
  cat >"$1" <<RSH
#!/bin/sh
while [ "\${1#-}" != "\$1" ]; do shift; done
host=\$1; shift
exec ip netns exec "$pre\$host" unshare --uts sh -c 'hostname "\$0"; exec sh -c "\$1"' "\$host" "\$*"
RSH
  chmod +x "$1"
}

netns_head() {
  ip netns exec "${pre}hd" unshare --uts sh -c 'hostname hd; exec "$@"' sh "$@"
}
