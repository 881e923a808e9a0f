#!/usr/bin/env bash
# A one-node SLURM cluster on this Debian machine, for the workflow's SLURM test (tests/test_slurm.py).
#   tests/slurm/cluster.sh start STATE_DIR   install (apt) what is missing, write slurm.conf, start
#                                             munged, slurmctld and slurmd, wait for the node
#   tests/slurm/cluster.sh stop STATE_DIR    stop the daemons this script started, by their PID files,
#                                             and remove the slurm.conf it wrote
# Needs root (apt-get, daemons). The config goes to /etc/slurm/slurm.conf, where srun inside a job
# looks for it (a foreign file there is refused, not overwritten); STATE_DIR holds the rest.
# The settings are the ones a one-node cluster run as root needs (issue 28): munge authentication,
# no cgroups, no accounting daemon (so job status comes from squeue, not sacct), MinJobAge above
# the executor plugin's longest gap between status checks.
set -euo pipefail
action=${1:?start or stop}
state=$(mkdir -p "${2:?state dir}" && cd "$2" && pwd)
conf=/etc/slurm/slurm.conf
MARK="# written by brainteacher's tests/slurm/cluster.sh"

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...: poll until COMMAND succeeds
    local limit=$1 what=$2
    shift 2
    for _ in $(seq "$limit"); do
        if "$@" > /dev/null 2>&1; then return 0; fi
        sleep 1
    done
    echo "cluster.sh: $what did not come up in ${limit} s" >&2
    return 1
}

start() {
    if ! command -v slurmctld > /dev/null || ! command -v munged > /dev/null; then
        apt-get update -q > /dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurmctld slurmd slurm-client munge > /dev/null
    fi
    mkdir -p "$state/ctld" "$state/d" /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    if [ ! -s /etc/munge/munge.key ]; then
        mkdir -p /etc/munge
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
        chown munge:munge /etc/munge/munge.key
        chmod 400 /etc/munge/munge.key
    fi
    if ! munge -n > /dev/null 2>&1; then
        runuser -u munge -- /usr/sbin/munged 2> "$state/munged.log"
        wait_for 20 munged munge -n
        cp /run/munge/munged.pid "$state/munged.pid"
    fi
    # The node as slurmd sees it, less 512 MB of memory for the system.
    read -r cpus mem < <(slurmd -C | awk '/^NodeName/ {for (i = 1; i <= NF; i++) {split($i, kv, "="); v[kv[1]] = kv[2]}; print v["CPUs"], v["RealMemory"]}')
    if [ -s "$conf" ] && ! grep -qF "$MARK" "$conf"; then
        echo "cluster.sh: $conf exists and is not ours; not touching it" >&2
        return 1
    fi
    mkdir -p /etc/slurm
    cat > "$conf" <<CONF
$MARK
ClusterName=brainteacher
SlurmctldHost=localhost
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MinJobAge=300
ReturnToService=2
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/d
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/slurmctld.log
SlurmdLogFile=$state/slurmd.log
NodeName=localhost CPUs=$cpus RealMemory=$((mem - 512)) State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
    slurmctld -f "$conf"
    wait_for 30 slurmctld scontrol ping
    slurmd -f "$conf" -N localhost
    wait_for 60 "the node" bash -c "sinfo -h -N -o %T | grep -qE '^(idle|mixed|allocated)'"
    echo "cluster.sh: one node up ($cpus CPUs, $((mem - 512)) MB), configured in $conf"
}

stop() {
    for daemon in slurmd slurmctld munged; do
        if [ -s "$state/$daemon.pid" ]; then
            kill "$(cat "$state/$daemon.pid")" 2> /dev/null || true
            rm -f "$state/$daemon.pid"
        fi
    done
    # Left behind, the config points every SLURM client at the stopped controller: snakemake's SLURM
    # plugin runs `scontrol show config` whenever snakemake starts, and that waits 9 s for an answer.
    if [ -s "$conf" ] && grep -qF "$MARK" "$conf"; then
        rm -f "$conf"
    fi
}

"$action"
