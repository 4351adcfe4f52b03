#!/usr/bin/env bash
# Kafka for the tests: Apache Kafka 4.4.0 in KRaft mode as plain JVM processes, jars from Maven Central (no Docker).
#
#   install                 downloads the broker jars with Maven into .cache/kafka/libs (pom: scripts/brokers/kafka/pom.xml);
#                           reused while its marker matches the pom. Installs maven + a JRE with apt-get if missing.
#   ensure                  a Kafka broker answers at $KAFKA_BROKERS (default 127.0.0.1:9092): prints it. Otherwise starts
#                           the standard test node 0 (install first if needed), waits for it (<= $KAFKA_WAIT_S, 60 s) and
#                           prints 127.0.0.1:9092. Node 0 keeps running after the tests, for reuse; `stop 0` stops it.
#   start N                 starts single node N (0..9) or finds it running; prints its address. Waits for readiness.
#   kill N                  kill -9 of node N; its data stays.
#   restart N               stops node N (gracefully, if running) and starts it again on the same data.
#   stop N                  SIGTERM, waits <= $KAFKA_STOP_WAIT_S (30 s), then SIGKILL: nothing of node N keeps running.
#   wipe N                  stop N, then delete its folder.
#   url N                   prints node N's address.
#   cluster-start NAME      a 3-node KRaft cluster (ids 1..3, RF 3, min.insync 2) with data in .cache/kafka/cluster-NAME;
#                           prints 127.0.0.1:19092,127.0.0.1:19093,127.0.0.1:19094. Only one cluster runs at a time.
#   cluster-kill NAME ID    kill -9 of cluster node ID (1..3).
#   cluster-restart NAME ID stops node ID (gracefully, if running), starts it again on the same data and waits for it.
#   cluster-stop NAME       stops the 3 nodes (SIGTERM, then SIGKILL after the wait): nothing of the cluster keeps running.
#   cluster-wipe NAME       cluster-stop, then delete its folder.
#
# Ports (all on 127.0.0.1):  node 0 (standard)   PLAINTEXT 9092        CONTROLLER 9093
#                            node N = 1..9       PLAINTEXT 29090+N     CONTROLLER 29190+N
#                            cluster node 1..3   PLAINTEXT 19091+ID    CONTROLLER 19191+ID   (19092-19094 / 19192-19194)
# Each node lives in one folder (.cache/kafka/nN or .cache/kafka/cluster-NAME/nID; $KAFKA_CACHE_DIR overrides .cache/kafka):
# server.properties, log4j2.properties, data/, kafka.log (this run; kafka.log.1 the previous one), format.log, pid.
# Its java command line carries -Dreliable.mq.node=kafka-nN (cluster: kafka-cluster-NAME-ID): `pgrep -f` finds it.
# Nodes 1..9 and the cluster use broker.session.timeout.ms=3000 (heartbeat 500): after a kill -9 the broker comes back
# about 3 s sooner than with the default 9 s that node 0 keeps.
# Heaps: $KAFKA_HEAP_OPTS (-Xms256m -Xmx512m) for single nodes, $KAFKA_CLUSTER_HEAP_OPTS (-Xms256m -Xmx256m) per cluster node.
# $KAFKA_MAVEN_REPO sets Maven's local repository (default ~/.m2/repository). Verified recipe: shared/brokers.md section 1.
set -euo pipefail
umask 022

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TEMPLATES="$ROOT/scripts/brokers/kafka"
CACHE="${KAFKA_CACHE_DIR:-$ROOT/.cache/kafka}"
LIBS="$CACHE/libs"
DEFAULT_BROKERS='127.0.0.1:9092'
WAIT_S="${KAFKA_WAIT_S:-60}"
STOP_WAIT_S="${KAFKA_STOP_WAIT_S:-30}"
SINGLE_HEAP="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
CLUSTER_HEAP="${KAFKA_CLUSTER_HEAP_OPTS:--Xms256m -Xmx256m}"
READY_LINE='Kafka Server started'

log() { printf 'kafka.sh: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
now_ms() { local t="${EPOCHREALTIME/./}"; echo $((t / 1000)); }

# kafka_answers HOST PORT: true when the peer answers a Kafka ApiVersions v0 request (correlation id 1, client id "rmq")
# with a response carrying that correlation id and error 0 (or 35, UNSUPPORTED_VERSION: still a Kafka broker), within 3 s.
kafka_answers() {
  local bytes
  bytes="$(timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1" && printf "\x00\x00\x00\x0d\x00\x12\x00\x00\x00\x00\x00\x01\x00\x03rmq" >&3 && head -c 10 <&3' "$1" "$2" 2>/dev/null \
    | od -An -tx1 | tr -d ' \n')" || true
  [[ "$bytes" =~ ^[0-9a-f]{8}00000001(0000|0023)$ ]]
}

port_open() { timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null; }

need_root() { [[ "$(id -u)" == 0 ]] || die "$1 needs root"; }

# ---- install ---------------------------------------------------------------------------------------------------------
ensure_tools() {
  command -v java >/dev/null && command -v mvn >/dev/null && return 0
  need_root 'installing maven and a JRE (java or mvn is missing)'
  command -v apt-get >/dev/null || die 'java or mvn is missing and there is no apt-get to install them'
  log 'java or mvn is missing: apt-get install -y maven openjdk-17-jre-headless'
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || die 'apt-get update failed'
  apt-get install -y -qq --no-install-recommends maven openjdk-17-jre-headless >/dev/null || die 'apt-get install failed'
  command -v java >/dev/null && command -v mvn >/dev/null || die 'maven and openjdk-17-jre-headless installed, but java or mvn is still missing'
}

pom_sum() { sha256sum "$TEMPLATES/pom.xml" | cut -d' ' -f1; }

cmd_install() {
  local marker="$LIBS/.installed" sum; sum="$(pom_sum)"
  [[ -f "$marker" && "$(cat "$marker")" == "$sum" ]] && return 0
  mkdir -p "$CACHE/locks"
  exec 8>"$CACHE/locks/install.lock"
  flock -w 300 8 || die "another kafka.sh holds $CACHE/locks/install.lock"
  if [[ -f "$marker" && "$(cat "$marker")" == "$sum" ]]; then exec 8>&-; return 0; fi # installed while we waited
  ensure_tools
  local start; start="$(now_ms)"
  local build="$CACHE/build" tmp="$CACHE/libs.tmp"
  rm -rf "$build" "$tmp"; mkdir -p "$build"
  cp "$TEMPLATES/pom.xml" "$build/pom.xml" # Maven runs in the cache: nothing (target/) is written next to the template
  local repo=(); [[ -n "${KAFKA_MAVEN_REPO:-}" ]] && repo=("-Dmaven.repo.local=$KAFKA_MAVEN_REPO")
  log "downloading the Kafka jars with Maven into $LIBS"
  (cd "$build" && mvn -q -B "${repo[@]}" -f pom.xml dependency:copy-dependencies -DoutputDirectory="$tmp" >"$build/mvn.log" 2>&1) \
    || die "mvn dependency:copy-dependencies failed: $(tail -n 20 "$build/mvn.log")"
  compgen -G "$tmp/kafka_2.13-*.jar" >/dev/null || die "Maven finished but $tmp has no kafka_2.13 jar"
  rm -rf "$LIBS"; mv "$tmp" "$LIBS"
  echo "$sum" >"$marker"
  rm -rf "$build"
  log "installed $(find "$LIBS" -name '*.jar' | wc -l) jars ($(du -sh "$LIBS" | cut -f1)) in $(($(now_ms) - start)) ms"
  exec 8>&-
}

# ---- one node --------------------------------------------------------------------------------------------------------
# A node is described by globals set by single_vars or cluster_vars:
#   KEY (command-line marker), D (folder), NODE_ID, PORT, CPORT, VOTERS, EXTRA_PROPS (lines), HEAP, CID_FILE (shared
#   cluster id; empty for a single node), ADDR (127.0.0.1:PORT).
single_vars() { # N
  [[ "${1:-}" =~ ^[0-9]$ ]] || die "node number must be 0..9, got '${1:-}'"
  N="$1"; KEY="kafka-n$N"; D="$CACHE/n$N"; NODE_ID="$N"; CID_FILE=''; HEAP="$SINGLE_HEAP"
  if ((N == 0)); then PORT=9092; CPORT=9093; else PORT=$((29090 + N)); CPORT=$((29190 + N)); fi
  ADDR="127.0.0.1:$PORT"; VOTERS="$N@127.0.0.1:$CPORT"
  EXTRA_PROPS='offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1'
  # After a kill -9 the restarted broker cannot register until the controller expires its old session
  # (DUPLICATE_BROKER_REGISTRATION): 9 s by default. The fault-test nodes use 3 s; node 0, shared and long-lived, keeps 9 s.
  ((N == 0)) || EXTRA_PROPS+='
broker.session.timeout.ms=3000
broker.heartbeat.interval.ms=500'
}

cluster_name() { # NAME
  [[ "${1:-}" =~ ^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$ ]] || die "cluster name must match [A-Za-z0-9][A-Za-z0-9_-]*, got '${1:-}'"
  CNAME="$1"; CDIR="$CACHE/cluster-$CNAME"
  CLUSTER_ADDRS='127.0.0.1:19092,127.0.0.1:19093,127.0.0.1:19094'
}

cluster_vars() { # ID (after cluster_name)
  [[ "${1:-}" =~ ^[1-3]$ ]] || die "cluster node id must be 1..3, got '${1:-}'"
  NODE_ID="$1"; KEY="kafka-cluster-$CNAME-$NODE_ID"; D="$CDIR/n$NODE_ID"; CID_FILE="$CDIR/cluster.id"; HEAP="$CLUSTER_HEAP"
  PORT=$((19091 + NODE_ID)); CPORT=$((19191 + NODE_ID)); ADDR="127.0.0.1:$PORT"
  VOTERS='1@127.0.0.1:19192,2@127.0.0.1:19193,3@127.0.0.1:19194'
  EXTRA_PROPS='offsets.topic.replication.factor=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
min.insync.replicas=2
default.replication.factor=3
broker.session.timeout.ms=3000
broker.heartbeat.interval.ms=500'
}

lock() { # NAME: one start/stop/kill per node (or per cluster) at a time; fd 9 is closed for the JVMs
  mkdir -p "$CACHE/locks"
  exec 9>"$CACHE/locks/$1.lock"
  flock -w 180 9 || die "another kafka.sh holds $CACHE/locks/$1.lock"
}

alive() { # a zombie (killed, not yet reaped) counts as dead
  [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null || return 1
  local stat; stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  [[ "${stat##*) }" != Z* ]]
}

marker_re() { printf -- '-Dreliable\\.mq\\.node=%s( |$)' "$1"; }
# PIDs of the node's processes: the pid file's (if it is still the node) and whatever carries the marker.
node_pids() {
  local p=''
  [[ -s "$D/pid" ]] && p="$(tr -dc '0-9' <"$D/pid")"
  { if alive "$p" && tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -Eq -- "$(marker_re "$KEY")"; then echo "$p"; fi
    pgrep -f -- "$(marker_re "$KEY")" || true; } | sort -un
}

new_cluster_id() { # base64url of 16 random bytes (a Kafka Uuid), not starting with '-'
  local id
  while :; do
    id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    [[ "$id" != -* ]] && { echo "$id"; return; }
  done
}

write_config() {
  mkdir -p "$D/data"
  sed -e "s|@NODE_ID@|$NODE_ID|g" -e "s|@VOTERS@|$VOTERS|g" -e "s|@PORT@|$PORT|g" -e "s|@CONTROLLER_PORT@|$CPORT|g" \
    -e "s|@DATA_DIR@|$D/data|g" "$TEMPLATES/server.properties.in" >"$D/server.properties.tmp"
  printf '%s\n' "$EXTRA_PROPS" >>"$D/server.properties.tmp"
  mv "$D/server.properties.tmp" "$D/server.properties"
  cp "$TEMPLATES/log4j2.properties" "$D/log4j2.properties"
}

format_if_needed() {
  [[ -f "$D/data/meta.properties" ]] && return 0
  local cid
  if [[ -n "$CID_FILE" ]]; then
    [[ -s "$CID_FILE" ]] || new_cluster_id >"$CID_FILE"
    cid="$(cat "$CID_FILE")"
  else
    cid="$(new_cluster_id)"
  fi
  (cd "$D" && java -Xmx128m -Dlog4j2.configurationFile="$D/log4j2.properties" -cp "$LIBS/*" kafka.tools.StorageTool format \
    -t "$cid" -c "$D/server.properties" >"$D/format.log" 2>&1 8>&- 9>&-) \
    || die "formatting $KEY failed: $(tail -n 5 "$D/format.log")"
}

# launch: starts the JVM in its own session and returns at once (see wait_ready). The caller holds the lock.
launch() {
  write_config
  format_if_needed
  spawn
}

spawn() {
  [[ -f "$D/kafka.log" ]] && mv -f "$D/kafka.log" "$D/kafka.log.1"
  rm -f "$D/pid"
  # bash writes its own pid, then execs java in place: the pid file names the JVM. No fd of ours (locks, the caller's
  # pipes) stays open in it.
  # shellcheck disable=SC2016 # expanded by the inner bash
  # The subshell only changes folder and exits at once; `&` applies to the setsid command alone.
  (
    cd "$D" || exit 1
    setsid nohup bash -c 'echo $$ >"$0/pid"; exec "$@"' "$D" \
      java "-Dreliable.mq.node=$KEY" $HEAP -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError \
      -Djava.awt.headless=true -Dlog4j2.configurationFile="$D/log4j2.properties" -cp "$LIBS/*" \
      kafka.Kafka "$D/server.properties" </dev/null >"$D/kafka.log" 2>&1 &
  ) 8>&- 9>&-
  local deadline=$((SECONDS + 5))
  until [[ -s "$D/pid" ]]; do ((SECONDS < deadline)) || die "$KEY: no pid file after 5 s"; sleep 0.02; done
}

wait_ready() { # SECONDS: until the log says "Kafka Server started" and the port answers ApiVersions
  local deadline=$((SECONDS + $1)) pid; pid="$(tr -dc '0-9' <"$D/pid")"
  until grep -q "$READY_LINE" "$D/kafka.log" 2>/dev/null && kafka_answers 127.0.0.1 "$PORT"; do
    alive "$pid" || die "$KEY (pid $pid) exited while starting: $(tail -n 15 "$D/kafka.log" 2>/dev/null)"
    ((SECONDS < deadline)) || die "$KEY (pid $pid) not ready within $1 s (log: $D/kafka.log)"
    sleep 0.1
  done
}

# start_node: prints nothing; returns 0 when the node is running and ready (started now or already).
start_node() {
  local pids start
  mapfile -t pids < <(node_pids)
  if ((${#pids[@]})); then
    if [[ -s "$D/pid" ]] && grep -q "$READY_LINE" "$D/kafka.log" 2>/dev/null && kafka_answers 127.0.0.1 "$PORT"; then return 0; fi
    [[ -s "$D/pid" ]] || die "$KEY runs (pids ${pids[*]}) but its pid file is gone; stop it first"
    wait_ready "$WAIT_S"; return 0 # booting (started by an earlier call): wait for it
  fi
  port_open 127.0.0.1 "$PORT" && die "port $PORT is taken by something else than $KEY"
  port_open 127.0.0.1 "$CPORT" && die "port $CPORT is taken by something else than $KEY"
  cmd_install
  start="$(now_ms)"
  launch
  wait_ready "$WAIT_S"
  log "$KEY ready on $ADDR (pid $(cat "$D/pid")) after $(($(now_ms) - start)) ms"
}

wait_gone() { # SECONDS PIDS...: true when all are gone in time
  local deadline=$((SECONDS + $1)) p; shift
  for p in "$@"; do
    while alive "$p"; do ((SECONDS < deadline)) || return 1; sleep 0.05; done
  done
}

kill9_node() {
  local pids; mapfile -t pids < <(node_pids)
  if ((${#pids[@]} == 0)); then log "$KEY is not running"; rm -f "$D/pid"; return 0; fi
  kill -9 "${pids[@]}" 2>/dev/null || true
  wait_gone 10 "${pids[@]}" || die "$KEY (pids ${pids[*]}) survived kill -9"
  rm -f "$D/pid"
  log "$KEY killed (kill -9 of ${pids[*]})"
}

# stop_nodes: SIGTERM to every node given by the callback's globals, one wait, then SIGKILL of what is left.
# Args: a list of "setter arg" pairs evaluated to set the node globals (single_vars N / cluster_vars ID).
stop_nodes() {
  local setter="$1"; shift
  local all=() keys=() dirs=() id pids start; start="$(now_ms)"
  for id in "$@"; do
    "$setter" "$id"; mapfile -t pids < <(node_pids)
    keys+=("$KEY"); dirs+=("$D")
    ((${#pids[@]})) || continue
    all+=("${pids[@]}")
    kill -TERM "${pids[@]}" 2>/dev/null || true
  done
  if ((${#all[@]} == 0)); then log "${keys[*]}: not running"; else
    if ! wait_gone "$STOP_WAIT_S" "${all[@]}"; then
      log "${keys[*]}: still running after ${STOP_WAIT_S} s of SIGTERM; kill -9"
      kill -9 "${all[@]}" 2>/dev/null || true
      wait_gone 10 "${all[@]}" || die "processes ${all[*]} survived kill -9"
    fi
    log "${keys[*]} stopped in $(($(now_ms) - start)) ms"
  fi
  for id in "$@"; do "$setter" "$id"; rm -f "$D/pid"; [[ -z "$(node_pids)" ]] || die "$KEY still has processes: $(node_pids | tr '\n' ' ')"; done
}

# ---- commands --------------------------------------------------------------------------------------------------------
cmd_ensure() {
  local brokers="${KAFKA_BROKERS:-$DEFAULT_BROKERS}" b host port
  IFS=',' read -ra list <<<"$brokers"
  for b in "${list[@]}"; do
    b="${b// /}"; host="${b%:*}"; port="${b##*:}"
    [[ -n "$host" && "$port" =~ ^[0-9]+$ ]] || die "cannot parse '$b' in KAFKA_BROKERS='$brokers' (expected host:port,...)"
    if kafka_answers "$host" "$port"; then echo "$brokers"; return 0; fi
  done
  case "${brokers// /}" in
    127.0.0.1:9092|localhost:9092) ;;
    *) die "no Kafka broker answers at $brokers; only the standard node (127.0.0.1:9092) can be started here" ;;
  esac
  log "no Kafka broker answers at $brokers: starting the standard test node 0"
  single_vars 0; lock "n0"; start_node
  echo "$brokers"
}

cluster_running_names() { # names of clusters with a live node
  pgrep -af -- '-Dreliable\.mq\.node=kafka-cluster-' 2>/dev/null | grep -oE -- '-Dreliable\.mq\.node=kafka-cluster-[A-Za-z0-9_-]+-[1-3]( |$)' \
    | sed -E 's/^-Dreliable\.mq\.node=kafka-cluster-//; s/-[1-3] ?$//' | sort -u || true
}

cmd_cluster_start() {
  local other start id pids ready=()
  for other in $(cluster_running_names); do
    [[ "$other" == "$CNAME" ]] || die "cluster '$other' is running on the cluster ports; cluster-stop $other first"
  done
  cmd_install
  start="$(now_ms)"
  mkdir -p "$CDIR"
  local todo=() formats=() p
  for id in 1 2 3; do
    cluster_vars "$id"; mapfile -t pids < <(node_pids)
    if ((${#pids[@]})); then ready+=("$id"); continue; fi
    port_open 127.0.0.1 "$PORT" && die "port $PORT is taken by something else than $KEY"
    port_open 127.0.0.1 "$CPORT" && die "port $CPORT is taken by something else than $KEY"
    todo+=("$id")
  done
  [[ ! -s "$CDIR/cluster.id" ]] && new_cluster_id >"$CDIR/cluster.id"
  for id in "${todo[@]}"; do cluster_vars "$id"; write_config; format_if_needed & formats+=("$!"); done # in parallel
  for p in "${formats[@]}"; do wait "$p" || exit 1; done # format_if_needed has said why
  # Start all before waiting: a node is ready only once a quorum of controllers runs.
  for id in "${todo[@]}"; do cluster_vars "$id"; spawn; done
  local deadline=$((SECONDS + WAIT_S))
  for id in 1 2 3; do cluster_vars "$id"; wait_ready $((deadline - SECONDS > 5 ? deadline - SECONDS : 5)); done
  log "cluster $CNAME ready on $CLUSTER_ADDRS after $(($(now_ms) - start)) ms${ready[*]:+ (already running: ${ready[*]})}"
  echo "$CLUSTER_ADDRS"
}

cmd_cluster_restart() { # ID
  local start
  stop_nodes cluster_vars "$1"
  cluster_vars "$1"; [[ -d "$D/data" ]] || die "$KEY has no data in $D (cluster-start $CNAME first)"
  start="$(now_ms)"; launch; wait_ready "$WAIT_S"
  log "$KEY ready on $ADDR (pid $(cat "$D/pid")) after $(($(now_ms) - start)) ms"
}

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}" >&2; exit 2; }

cmd="${1:-}"
case "$cmd" in
  install) cmd_install ;;
  ensure) cmd_ensure ;;
  url) single_vars "${2:-}"; echo "$ADDR" ;;
  start) single_vars "${2:-}"; lock "n$N"; start_node; echo "$ADDR" ;;
  kill) single_vars "${2:-}"; lock "n$N"; kill9_node ;;
  stop) single_vars "${2:-}"; lock "n$N"; stop_nodes single_vars "$N" ;;
  restart) single_vars "${2:-}"; lock "n$N"; stop_nodes single_vars "$N"; start_node; echo "$ADDR" ;;
  wipe) single_vars "${2:-}"; lock "n$N"; stop_nodes single_vars "$N"; rm -rf "$D"; log "$D removed" ;;
  cluster-start) cluster_name "${2:-}"; lock cluster; cmd_cluster_start ;;
  cluster-kill) cluster_name "${2:-}"; cluster_vars "${3:-}"; lock cluster; kill9_node ;;
  cluster-restart) cluster_name "${2:-}"; cluster_vars "${3:-}"; lock cluster; cmd_cluster_restart "$3" ;;
  cluster-stop) cluster_name "${2:-}"; lock cluster; stop_nodes cluster_vars 1 2 3 ;;
  cluster-wipe) cluster_name "${2:-}"; lock cluster; stop_nodes cluster_vars 1 2 3; rm -rf "$CDIR"; log "$CDIR removed" ;;
  *) usage ;;
esac
