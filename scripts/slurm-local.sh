#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for the tuner's Slurm tests and for trying the Slurm training
# service by hand: Debian 12's munge + slurmctld + slurmd + slurm-client (22.05), started directly (no
# systemd), as root. Accounting is off (no slurmdbd), so `sacct` has no data and the tuner works from the
# exit records its jobs write.
#
#   bash scripts/slurm-local.sh start    # install the packages if missing, write the config, start, wait
#   bash scripts/slurm-local.sh status   # exit 0 when sinfo answers and the node is up
#   bash scripts/slurm-local.sh stop     # stop the daemons (the config stays)
set -euo pipefail

state=/var/lib/vdsr-slurm-local        # spool, logs and pid files of this cluster
conf=/etc/slurm/slurm.conf
node=$(hostname -s)
cpus=$(nproc)
memory_mb=$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 9 / 10))

need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "slurm-local: needs root (it starts munged and the Slurm daemons)" >&2
    exit 2
  fi
}

install_packages() {
  local missing=()
  for p in munge slurmctld slurmd slurm-client; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    echo "slurm-local: installing ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

write_config() {
  mkdir -p "$state/ctld" "$state/d" /etc/slurm
  cat >"$conf.tmp" <<EOF
# Written by scripts/slurm-local.sh: a one-node cluster on $node.
ClusterName=vdsr-local
SlurmctldHost=$node
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/d
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/slurmctld.log
SlurmdLogFile=$state/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
ReturnToService=2
# Quick reaction for tests: a job's state is visible within a second or two.
SchedulerParameters=sched_interval=1
MessageTimeout=30
KillWait=5
MinJobAge=300
NodeName=$node CPUs=$cpus RealMemory=$memory_mb State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
# Never runs anything: jobs sent here wait with reason PartitionDown (the tuner's pendingTimeout test).
PartitionName=down Nodes=$node MaxTime=INFINITE State=DOWN
EOF
  mv "$conf.tmp" "$conf"
}

# A live process of that name (a daemon's exited parent can linger as a zombie under the same name).
running() { ps -C "$1" -o stat= 2>/dev/null | grep -qv '^Z'; }

up() {
  timeout 5 sinfo -h -o '%T' 2>/dev/null | grep -Eq '^(idle|mixed|allocated|completing)'
}

start() {
  need_root
  install_packages
  write_config
  if ! munge -n >/dev/null 2>&1; then
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge /etc/munge
    [ -s /etc/munge/munge.key ] || { dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 2>/dev/null; }
    chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
    runuser -u munge -- /usr/sbin/munged
  fi
  for _ in $(seq 60); do
    # Started inside the loop: a daemon of an earlier stop may still be shutting down on the first pass.
    running slurmctld || /usr/sbin/slurmctld
    running slurmd || /usr/sbin/slurmd
    if up; then
      echo "slurm-local: up ($node, $cpus CPUs, partition debug)"
      return 0
    fi
    # A node left DOWN by an earlier stop comes back on request.
    scontrol update NodeName="$node" State=RESUME >/dev/null 2>&1 || true
    sleep 1
  done
  echo "slurm-local: the cluster did not come up in 60 s; logs in $state" >&2
  tail -n 5 "$state/slurmctld.log" "$state/slurmd.log" >&2 || true
  exit 1
}

stop() {
  need_root
  # Jobs of this cluster end with it, so nothing it ran outlives a test run.
  if up; then scancel --full --quiet --user=root 2>/dev/null || true; fi
  for d in slurmd slurmctld; do
    pkill -x "$d" 2>/dev/null || true
  done
  for _ in $(seq 20); do
    running slurmd || running slurmctld || break
    sleep 0.5
  done
  pkill -x munged 2>/dev/null || true
  echo "slurm-local: stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status)
    if up; then sinfo; else echo "slurm-local: not running" >&2; exit 1; fi
    ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
