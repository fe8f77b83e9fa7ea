#!/usr/bin/env bash
# A cluster of N hosts on this machine, for tests that must cross real hosts (root only).
# Each host is a network namespace plus a UTS namespace (its own hostname, lagoon-hK, and
# its own address 10.77.0.(K+1) on the bridge lagoon-br0, which has 10.77.0.254 in the
# root namespace), plus a launch host, lagoon-head (10.77.0.253), where mpirun runs. Open MPI starts its daemons in a host through an agent that enters the
# host's namespaces with nsenter (no ssh), so the ranks of different hosts see different
# hostnames, different MPI_COMM_TYPE_SHARED communicators, and talk TCP over the bridge.
# Traffic stays on the private subnet, between addresses made here.
#
#   scripts/cluster.sh up N          make hosts lagoon-h0 .. lagoon-h(N-1) (clears an earlier run first)
#   scripts/cluster.sh run [--hosts K] ARGS...
#                                    mpirun ARGS across the hosts (the first K; -npernode R
#                                    puts R ranks on each), LAGOON_* forwarded; exit 77 when
#                                    no cluster is up
#   scripts/cluster.sh exec H CMD... CMD inside host H's namespaces
#   scripts/cluster.sh hosts         the hosts that are up, one a line
#   scripts/cluster.sh link H up|down  cut or restore host H's link (fault tests)
#   scripts/cluster.sh kill H        SIGKILL every process of host H
#   scripts/cluster.sh down          remove every host, the bridge, the /etc/hosts lines and
#                                    what killed jobs left in /dev/shm and /tmp
#   scripts/cluster.sh slurm-up      munged and slurmctld here, one slurmd per host (Debian's
#                                    slurm-wlm), a generated slurm.conf; prints the line
#                                    export SLURM_CONF=... for sbatch, srun and sinfo
#   scripts/cluster.sh slurm-down    stops them (down does too)
#   scripts/cluster.sh check         exit 0 if this machine lets us make hosts (else 77, why on stderr)
set -euo pipefail

state=/run/lagoon-cluster
bridge=lagoon-br0
subnet=10.77.0.0/24
root_ip=10.77.0.254
mark="# lagoon-cluster"

die() { echo "cluster.sh: $*" >&2; exit 1; }
host_name() { echo "lagoon-h$1"; }
host_ip() { echo "10.77.0.$(($1 + 1))"; }
head=lagoon-head  # the launch host: mpirun runs here, as on a cluster's login node
head_ip=10.77.0.253
hosts() { [ -f "$state/hosts" ] && cat "$state/hosts" || true; }
in_host() {  # in_host H CMD...: run CMD in host H's namespaces
  local h="$1"; shift
  nsenter --net="/run/netns/$h" --uts="$state/uts/$h" "$@"
}

check() {
  [ "$(id -u)" -eq 0 ] || { echo "cluster.sh: needs root (network namespaces)" >&2; return 77; }
  for tool in ip nsenter unshare; do
    command -v "$tool" >/dev/null || { echo "cluster.sh: needs $tool (iproute2, util-linux)" >&2; return 77; }
  done
  local probe=lagoon-probe$$
  if ! ip netns add "$probe" 2>/dev/null; then
    echo "cluster.sh: this machine does not allow network namespaces (ip netns add failed)" >&2
    return 77
  fi
  local ok=0
  ip link add "lgn-p$$" type veth peer name "lgn-q$$" 2>/dev/null && ip link del "lgn-p$$" || ok=1
  ip netns del "$probe"
  [ "$ok" -eq 0 ] || { echo "cluster.sh: this machine does not allow veth links" >&2; return 77; }
}

down() {
  slurm_down
  for h in $(hosts) $(ip netns list 2>/dev/null | awk '/^lagoon-(h[0-9]+|head)/{print $1}'); do
    for pid in $(ip netns pids "$h" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
  done
  pkill -9 -f "$state/agent" 2>/dev/null || true
  sleep 0.2
  for h in $(ip netns list 2>/dev/null | awk '/^lagoon-(h[0-9]+|head)/{print $1}'); do ip netns del "$h" 2>/dev/null || true; done
  for l in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | awk -F@ '/^lgn-/{print $1}'); do
    ip link del "$l" 2>/dev/null || true
  done
  ip link del "$bridge" 2>/dev/null || true
  if [ -d "$state/uts" ]; then
    for f in "$state"/uts/*; do [ -e "$f" ] && umount "$f" 2>/dev/null || true; done
    umount "$state/uts" 2>/dev/null || true
  fi
  if grep -q "$mark" /etc/hosts 2>/dev/null; then
    grep -v "$mark" /etc/hosts > /etc/hosts.lagoon-tmp || true
    cat /etc/hosts.lagoon-tmp > /etc/hosts && rm -f /etc/hosts.lagoon-tmp
  fi
  # What killed jobs leave: Open MPI's session directories and shared-memory segments of
  # the hosts (their names carry the hostname), and lagoon's segments.
  rm -rf /tmp/ompi.lagoon-h* /dev/shm/vader_segment.lagoon-h* 2>/dev/null || true
  rm -rf "$state"
}

make_host() {  # make_host NAME IP LINK: a namespace pair with its end of a veth on the bridge
  local h="$1" ip="$2" link="$3"
  ip netns add "$h"
  touch "$state/uts/$h"
  unshare --uts="$state/uts/$h" hostname "$h"
  ip link add "$link" type veth peer name "$link-in"
  ip link set "$link" master "$bridge" up
  ip link set "$link-in" netns "$h"
  ip -n "$h" link set "$link-in" name eth0
  ip -n "$h" addr add "$ip/24" dev eth0
  ip -n "$h" link set eth0 up
  ip -n "$h" link set lo up
  # A lost peer is declared after ~30 s instead of ~15 min (the kernel's default retries),
  # on every host, the launch host too (mpirun waits for a lost host's daemon that long).
  in_host "$h" sysctl -qw net.ipv4.tcp_retries2=5
  echo "$ip $h $mark" >> /etc/hosts
}

up() {
  local n="${1:-}"
  [[ "$n" =~ ^[1-9][0-9]?$ ]] && [ "$n" -le 32 ] || die "up N: N from 1 to 32"
  check || exit $?
  down
  mkdir -p "$state/uts"
  mount --bind "$state/uts" "$state/uts"
  mount --make-private "$state/uts"
  ip link add "$bridge" type bridge
  ip addr add "$root_ip/24" dev "$bridge"
  ip link set "$bridge" up
  [ -z "$(tail -c1 /etc/hosts)" ] || echo >> /etc/hosts
  for ((k = 0; k < n; ++k)); do
    make_host "$(host_name "$k")" "$(host_ip "$k")" "lgn-$k"
    echo "$(host_name "$k")" >> "$state/hosts"
    echo "$(host_name "$k") slots=64" >> "$state/hostfile"
  done
  make_host "$head" "$head_ip" lgn-head
  echo "$root_ip $(hostname) $mark" >> /etc/hosts
  # The launch agent Open MPI calls instead of ssh: AGENT [options] HOST CMD...
  cat > "$state/agent" <<EOF
#!/bin/sh
while [ "\${1#-}" != "\$1" ]; do shift; done
host="\$1"; shift
exec nsenter --net="/run/netns/\$host" --uts="$state/uts/\$host" /bin/sh -c "\$*"
EOF
  chmod +x "$state/agent"
  for h in $(hosts); do
    in_host "$h" hostname | grep -qx "$h" || die "host $h has the wrong hostname"
  done
  # Every host reaches the root namespace's end of the bridge (bash's /dev/tcp: no ping
  # needed; a refused connection proves the route as well as an accepted one).
  for h in $(hosts); do
    in_host "$h" timeout 3 bash -c "exec 3<>/dev/tcp/$root_ip/9 || [ \$? -eq 1 ]" 2>/dev/null ||
      die "host $h cannot reach $root_ip"
  done
  echo "cluster.sh: $n hosts up: $(hosts | tr '\n' ' ')"
}

run() {
  if [ ! -f "$state/hostfile" ]; then
    echo "cluster.sh: no cluster is up (scripts/cluster.sh up N); skipped" >&2
    exit 77
  fi
  local hostfile="$state/hostfile"
  if [ "${1:-}" = "--hosts" ]; then
    head -n "$2" "$state/hostfile" > "$state/hostfile.$2"
    hostfile="$state/hostfile.$2"
    shift 2
  fi
  # The hosts share this machine's cores, but each host's daemon believes it has them
  # all: it would bind the first rank of every host to core 0, and let waiting ranks
  # spin without yielding (so a node's service thread waits a scheduler period for a
  # core: 1-8 ms per request instead of ~20 us). So: no binding, and yield when idle,
  # as Open MPI does by itself on one oversubscribed node.
  local flags=(--hostfile "$hostfile" --mca plm_rsh_agent "$state/agent"
               --mca oob_tcp_if_include "$subnet" --mca btl_tcp_if_include "$subnet"
               --mca btl self,vader,tcp --oversubscribe --bind-to none --mca mpi_yield_when_idle 1)
  [ "$(id -u)" -ne 0 ] || flags+=(--allow-run-as-root)
  for name in $(compgen -e | grep '^LAGOON_' || true); do flags+=(-x "$name"); done
  exec nsenter --net="/run/netns/$head" --uts="$state/uts/$head" mpirun "${flags[@]}" "$@"
}

# ---- Slurm on the hosts: munged and slurmctld in the root namespace, a slurmd per host ----
slurm_dir="$state/slurm"

slurm_down() {
  pkill -f "slurmd -f $slurm_dir" 2>/dev/null || true
  pkill -f "slurmctld -f $slurm_dir" 2>/dev/null || true
  sleep 0.3
  pkill -9 -f "slurmd -f $slurm_dir" 2>/dev/null || true
  pkill -9 -f "slurmctld -f $slurm_dir" 2>/dev/null || true
  pkill -9 slurmstepd 2>/dev/null || true
  if [ -f "$slurm_dir/munged.pid" ]; then kill "$(cat "$slurm_dir/munged.pid")" 2>/dev/null || true; fi
}

slurm_up() {
  [ -f "$state/hosts" ] || { echo "cluster.sh: no cluster is up (scripts/cluster.sh up N); skipped" >&2; exit 77; }
  local tool
  for tool in slurmctld slurmd munged sbatch sinfo; do
    command -v "$tool" >/dev/null ||
      { echo "cluster.sh: needs $tool (apt-get install slurmctld slurmd slurm-client munge); skipped" >&2; exit 77; }
  done
  slurm_down
  rm -rf "$slurm_dir"
  mkdir -p "$slurm_dir/ctld"
  # munge: one key and one daemon; the hosts reach its socket through the shared file system.
  if [ ! -s /etc/munge/munge.key ]; then
    mkdir -p /etc/munge
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 2>/dev/null
  fi
  chown munge:munge /etc/munge/munge.key 2>/dev/null || true
  chmod 600 /etc/munge/munge.key
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge 2>/dev/null || true
  if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    runuser -u munge -- munged 2>/dev/null || munged --force
    local i
    for i in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
  fi
  munge -n 2>/dev/null | unmunge >/dev/null 2>&1 || die "munged does not answer"
  local conf="$slurm_dir/slurm.conf" cpus nodes="" k=0 h
  cpus=$(nproc)
  # Per-host paths carry %n (the node's name): the hosts share one file system. TmpFS
  # too, or the pmix plugin's /tmp/spmix_appdir_* of two hosts collide.
  {
    echo "# Generated by scripts/cluster.sh slurm-up: the hosts of this machine's test cluster."
    echo "ClusterName=lagoon"
    echo "SlurmctldHost=$(hostname)($root_ip)"
    echo "SlurmUser=root"
    echo "SlurmdUser=root"
    echo "AuthType=auth/munge"
    echo "CredType=cred/munge"
    echo "StateSaveLocation=$slurm_dir/ctld"
    echo "SlurmctldPidFile=$slurm_dir/slurmctld.pid"
    echo "SlurmctldLogFile=$slurm_dir/slurmctld.log"
    echo "SlurmdSpoolDir=$slurm_dir/spool-%n"
    echo "SlurmdPidFile=$slurm_dir/slurmd-%n.pid"
    echo "SlurmdLogFile=$slurm_dir/slurmd-%n.log"
    echo "TmpFS=$slurm_dir/tmp-%n"
    echo "ProctrackType=proctrack/linuxproc"
    echo "TaskPlugin=task/none"
    echo "MpiDefault=none"
    echo "ReturnToService=2"
    echo "SchedulerType=sched/builtin"
    echo "SelectType=select/cons_tres"
    echo "SelectTypeParameters=CR_Core"
    echo "SlurmdTimeout=30"
    echo "KillWait=5"
    echo "InactiveLimit=0"
    echo "MinJobAge=300"
    echo "JobAcctGatherType=jobacct_gather/none"
    echo "AccountingStorageType=accounting_storage/none"
    for h in $(hosts); do
      echo "NodeName=$h NodeAddr=$(host_ip "$k") CPUs=$cpus State=UNKNOWN"
      k=$((k + 1))
      nodes="${nodes:+$nodes,}$h"
    done
    echo "PartitionName=lagoon Nodes=$nodes Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE"
  } > "$conf"
  for h in $(hosts); do mkdir -p "$slurm_dir/spool-$h" "$slurm_dir/tmp-$h"; done
  slurmctld -f "$conf" || die "slurmctld did not start (see $slurm_dir/slurmctld.log)"
  for h in $(hosts); do in_host "$h" slurmd -f "$conf" -N "$h" || die "slurmd on $h did not start"; done
  export SLURM_CONF="$conf"
  local i
  for i in $(seq 150); do
    [ -n "$(sinfo -h -N -o '%t' 2>/dev/null)" ] && [ -z "$(sinfo -h -N -o '%t' 2>/dev/null | grep -v idle)" ] && break
    sleep 0.2
  done
  sinfo -N -o "%N %t %c" >&2 || true
  [ -z "$(sinfo -h -N -o '%t' 2>/dev/null | grep -v idle)" ] || die "not every slurmd came up (see $slurm_dir/*.log)"
  echo "export SLURM_CONF=$conf"
}

cmd="${1:-}"
shift || true
case "$cmd" in
  up) up "$@" ;;
  down) down ;;
  run) run "$@" ;;
  exec) [ $# -ge 2 ] || die "exec H CMD..."; h="$1"; shift; in_host "$h" "$@" ;;
  hosts) hosts ;;
  link)
    [ $# -eq 2 ] || die "link H up|down"
    k="${1#lagoon-h}"; ip link set "lgn-$k" "$2" ;;
  kill)
    [ $# -eq 1 ] || die "kill H"
    for pid in $(ip netns pids "$1"); do kill -9 "$pid" 2>/dev/null || true; done ;;
  check) check ;;
  slurm-up) slurm_up ;;
  slurm-down) slurm_down ;;
  *) sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
