#!/usr/bin/env bash
# A real single-node Slurm cluster on localhost, for testing the submitit launcher.
#
#   scripts/slurm_cluster.sh start    # install (first time), configure and start it
#   scripts/slurm_cluster.sh status   # sinfo
#   scripts/slurm_cluster.sh stop     # stop only the daemons this script started
#
# Debian's slurm 22.05 with munge for authentication and slurmdbd on a private MariaDB for
# accounting: submitit polls job states with sacct, and without accounting a job Slurm kills
# never reports back. No cgroups in containers: linuxproc process tracking, no task plugin.
# Everything lives in $SLURM_HOME (default /tmp/digit-slurm) and listens on loopback only.
set -euo pipefail

SLURM_HOME=${SLURM_HOME:-/tmp/digit-slurm}
PIDS="$SLURM_HOME/pids"
HOST=$(hostname -s)

need_packages() {
  local missing=()
  for cmd in munged slurmctld slurmd sbatch sacct slurmdbd mariadbd; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "slurm: installing Debian packages (missing: ${missing[*]})"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends \
    munge slurmctld slurmd slurm-client slurmdbd mariadb-server >/dev/null
}

write_config() {
  mkdir -p "$SLURM_HOME"/{state,spool,log,db,run,mysql} "$PIDS"
  rm -f "$SLURM_HOME"/run/*.pid "$SLURM_HOME"/mysql/*.pid  # left by daemons killed earlier
  chown -R mysql:mysql "$SLURM_HOME/db" "$SLURM_HOME/mysql"
  local node
  node=$(slurmd -C | head -1 | sed "s/NodeName=[^ ]*/NodeName=$HOST/")
  cat > "$SLURM_HOME/slurm.conf" <<CONF
ClusterName=digit
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
StateSaveLocation=$SLURM_HOME/state
SlurmdSpoolDir=$SLURM_HOME/spool
SlurmctldPidFile=$SLURM_HOME/run/slurmctld.pid
SlurmdPidFile=$SLURM_HOME/run/slurmd.pid
SlurmctldLogFile=$SLURM_HOME/log/slurmctld.log
SlurmdLogFile=$SLURM_HOME/log/slurmd.log
MailProg=/bin/true
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF
  cat > "$SLURM_HOME/slurmdbd.conf" <<CONF
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=3307
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
PidFile=$SLURM_HOME/run/slurmdbd.pid
LogFile=$SLURM_HOME/log/slurmdbd.log
CONF
  chmod 600 "$SLURM_HOME/slurmdbd.conf"
}

wait_for() {  # wait_for SECONDS COMMAND...
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -ge $deadline ] && { echo "slurm: timed out waiting for: $*" >&2; return 1; }
    sleep 0.5
  done
}

up() {
  [ -f "$SLURM_HOME/slurm.conf" ] && SLURM_CONF="$SLURM_HOME/slurm.conf" scontrol ping 2>/dev/null |
    grep -q UP && SLURM_CONF="$SLURM_HOME/slurm.conf" sinfo -h -o %T 2>/dev/null | grep -qE 'idle|mixed|alloc'
}

start() {
  if up; then  # a second start (another checkout, a rerun) reuses the running cluster
    echo "slurm: already up (export SLURM_CONF=$SLURM_HOME/slurm.conf)"
    return 0
  fi
  need_packages
  write_config
  export SLURM_CONF="$SLURM_HOME/slurm.conf"
  mkdir -p /run/munge && chown munge:munge /run/munge
  [ -f /etc/munge/munge.key ] || { mungekey --create 2>/dev/null || create-munge-key -f; }
  chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
  if ! munge -n >/dev/null 2>&1; then  # no usable munged yet: start ours
    runuser -u munge -- munged --force
    wait_for 10 munge -n
    pgrep -x munged > "$PIDS/munged"
  fi
  if [ ! -d "$SLURM_HOME/db/mysql" ]; then
    mariadb-install-db --user=mysql --datadir="$SLURM_HOME/db" --auth-root-authentication-method=normal >/dev/null
  fi
  local sock="$SLURM_HOME/mysql/mysqld.sock"
  mariadbd --user=mysql --datadir="$SLURM_HOME/db" --bind-address=127.0.0.1 --port=3307 \
    --socket="$sock" --pid-file="$SLURM_HOME/mysql/mysqld.pid" \
    >"$SLURM_HOME/log/mariadb.log" 2>&1 &
  echo $! > "$PIDS/mariadbd"
  wait_for 30 mariadb-admin --socket="$sock" ping
  # A loopback-only database on a throwaway data dir: the password guards nothing real.
  mariadb --socket="$sock" -e "CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY
    'slurm'; GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"
  slurmdbd  # reads slurmdbd.conf from the folder of $SLURM_CONF
  wait_for 30 test -s "$SLURM_HOME/run/slurmdbd.pid"
  cp "$SLURM_HOME/run/slurmdbd.pid" "$PIDS/slurmdbd"
  wait_for 30 sacctmgr -i show cluster
  sacctmgr -i add cluster digit >/dev/null 2>&1 || true
  slurmctld -f "$SLURM_CONF"
  wait_for 30 scontrol ping
  cp "$SLURM_HOME/run/slurmctld.pid" "$PIDS/slurmctld"
  slurmd -f "$SLURM_CONF"
  wait_for 30 test -s "$SLURM_HOME/run/slurmd.pid"
  cp "$SLURM_HOME/run/slurmd.pid" "$PIDS/slurmd"
  # a job saved mid-completion by an earlier stop keeps the node "completing" until slurmd
  # answers the controller's resent terminate (about a minute)
  wait_for 150 sh -c "sinfo -h -o %T | grep -qE 'idle|mixed'"
  echo "slurm: up (export SLURM_CONF=$SLURM_CONF)"
  sinfo
}

stop() {
  # let cancelled jobs finish completing first: a daemon killed mid-completion leaves the job
  # in the saved state, and the node "completing" at the next start
  if [ -f "$PIDS/slurmctld" ]; then
    export SLURM_CONF="$SLURM_HOME/slurm.conf"
    scancel --full --state=PENDING,RUNNING 2>/dev/null || true
    wait_for 60 sh -c '[ -z "$(squeue -h 2>/dev/null)" ]' || true
  fi
  for name in slurmd slurmctld slurmdbd mariadbd munged; do
    if [ -f "$PIDS/$name" ]; then
      # shellcheck disable=SC2046 # a file may list several pids (munged forks)
      kill $(cat "$PIDS/$name") 2>/dev/null || true
      rm -f "$PIDS/$name"
    fi
  done
  echo "slurm: stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) SLURM_CONF="$SLURM_HOME/slurm.conf" sinfo ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
