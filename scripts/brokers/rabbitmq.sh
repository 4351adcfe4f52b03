#!/usr/bin/env bash
# RabbitMQ for the tests (Debian's rabbitmq-server package, run as root).
#
#   ensure          a broker answers AMQP at $RMQ_URL (default amqp://guest:guest@127.0.0.1:5672), or install
#                   rabbitmq-server if missing, start the system node and wait for it (<= $RMQ_WAIT_S, 60 s). Prints the URL.
#   node-start N    an extra single node rN@localhost (N = 1..9): AMQP 127.0.0.1:5680+N, dist port 25680+N, its own config,
#                   mnesia and logs in .cache/rabbitmq/rN ($RMQ_NODES_DIR overrides .cache/rabbitmq). Prints its URL.
#                   Already running: just prints the URL.
#   node-kill N     kill -9 of the node's beam and its children (erl_child_setup, inet_gethost); the data stays.
#   node-restart N  stop (gracefully, if running) then start on the same data.
#   node-stop N     graceful stop, then kill -9 of whatever is left: nothing of rN keeps running.
#   node-wipe N     node-stop, then delete its folder.
#   node-url N      prints amqp://guest:guest@127.0.0.1:5680+N.
#
# The system node (rabbit@localhost, 5672) is never stopped or changed here. Verified recipe: shared/brokers.md section 4.
set -euo pipefail
umask 022

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DEFAULT_URL='amqp://guest:guest@127.0.0.1:5672'
WAIT_S="${RMQ_WAIT_S:-60}"
RMQ_LIB=/usr/lib/rabbitmq/bin

log() { printf 'rabbitmq.sh: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# amqp_answers HOST PORT: true when the peer answers the AMQP 0-9-1 header with a Connection.Start frame
# (frame type 1 on channel 0, class 10, method 10), within 3 s.
amqp_answers() {
  local bytes
  bytes="$(timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1" && printf "AMQP\x00\x00\x09\x01" >&3 && head -c 11 <&3' "$1" "$2" 2>/dev/null \
    | od -An -tx1 | tr -d ' \n')" || true
  [[ "$bytes" =~ ^010000[0-9a-f]{8}000a000a$ ]]
}

port_open() { timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null; }

# parse_url URL: sets HOST and PORT (amqp 5672, amqps 5671 by default).
parse_url() {
  local re='^(amqps?)://([^@/]*@)?(\[[^]]*\]|[^:/?]+)(:([0-9]+))?(/.*)?$'
  [[ "$1" =~ $re ]] || die "cannot parse RMQ_URL '$1' (expected amqp://user:pass@host:port/vhost)"
  HOST="${BASH_REMATCH[3]}"; HOST="${HOST#[}"; HOST="${HOST%]}"
  PORT="${BASH_REMATCH[5]:-}"
  if [[ -z "$PORT" ]]; then if [[ "${BASH_REMATCH[1]}" == amqps ]]; then PORT=5671; else PORT=5672; fi; fi
}

need_root() { [[ "$(id -u)" == 0 ]] || die "$1 needs root (it installs packages or runs nodes as the rabbitmq user)"; }

install_if_missing() {
  [[ -x "$RMQ_LIB/rabbitmq-server" ]] && return 0
  need_root 'installing rabbitmq-server'
  command -v apt-get >/dev/null || die 'rabbitmq-server is not installed and there is no apt-get to install it'
  log 'rabbitmq-server is not installed: apt-get install -y rabbitmq-server'
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || die 'apt-get update failed'
  apt-get install -y -qq --no-install-recommends rabbitmq-server >/dev/null || die 'apt-get install rabbitmq-server failed'
  [[ -x "$RMQ_LIB/rabbitmq-server" ]] || die "rabbitmq-server installed but $RMQ_LIB/rabbitmq-server is missing"
}

wait_amqp() { # HOST PORT SECONDS [PID]: polls until the broker answers; gives up early if PID dies.
  local deadline=$((SECONDS + $3))
  while ! amqp_answers "$1" "$2"; do
    if [[ -n "${4:-}" ]] && ! kill -0 "$4" 2>/dev/null; then return 1; fi
    ((SECONDS < deadline)) || return 1
    sleep 0.5
  done
}

cmd_ensure() {
  local url="${RMQ_URL:-$DEFAULT_URL}" start_s=$SECONDS
  parse_url "$url"
  if amqp_answers "$HOST" "$PORT"; then echo "$url"; return 0; fi
  case "$HOST" in
    127.*|localhost|::1) ;;
    *) die "no AMQP broker answers at $HOST:$PORT, and that is not this machine, so nothing can be started for it" ;;
  esac
  if [[ "$PORT" != 5672 ]] && amqp_answers 127.0.0.1 5672; then
    die "no AMQP broker answers at $HOST:$PORT; the machine's RabbitMQ runs on 5672 (is RMQ_URL right?)"
  fi
  log "no AMQP broker answers at $HOST:$PORT: starting the machine's RabbitMQ service"
  install_if_missing
  need_root 'starting the RabbitMQ service'
  if amqp_answers "$HOST" "$PORT"; then echo "$url"; return 0; fi # the package's postinst may have started it
  if [[ -x /etc/init.d/rabbitmq-server ]] && command -v service >/dev/null; then
    # The init script waits for the node itself (up to 600 s): bound it, then poll the port below.
    timeout "$WAIT_S" service rabbitmq-server start >/dev/null 2>&1 || log 'service rabbitmq-server start did not report success; polling the port'
  else
    /usr/sbin/rabbitmq-server -detached >/dev/null 2>&1 || log 'rabbitmq-server -detached did not report success; polling the port'
  fi
  wait_amqp "$HOST" "$PORT" $((WAIT_S - (SECONDS - start_s) > 5 ? WAIT_S - (SECONDS - start_s) : 5)) \
    || die "RabbitMQ did not accept AMQP at $HOST:$PORT within ${WAIT_S} s (see /var/log/rabbitmq/; the system node listens where /etc/rabbitmq/rabbitmq.conf says)"
  log "RabbitMQ answers at $HOST:$PORT after $((SECONDS - start_s)) s"
  echo "$url"
}

# ---- extra nodes -----------------------------------------------------------------------------------------------------
node_vars() { # N
  [[ "${1:-}" =~ ^[1-9]$ ]] || die "node number must be 1..9, got '${1:-}'"
  N="$1"; NODE="r$N@localhost"; AMQP_PORT=$((5680 + N)); DIST_PORT=$((25680 + N))
  NODES_DIR="${RMQ_NODES_DIR:-$ROOT/.cache/rabbitmq}"; D="$NODES_DIR/r$N"
  URL="amqp://guest:guest@127.0.0.1:$AMQP_PORT"
}

lock_node() { # one start/stop/kill of rN at a time; fd 9 is closed for the node itself (see start)
  mkdir -p "$NODES_DIR"
  exec 9>"$NODES_DIR/r$N.lock"
  flock -w 120 9 || die "another rabbitmq.sh holds $NODES_DIR/r$N.lock"
}

pid_from_file() { local p=''; [[ -s "$D/pid" ]] && p="$(tr -dc '0-9' <"$D/pid")"; echo "$p"; }
alive() { # a zombie (killed, not yet reaped by its parent) counts as dead
  [[ -n "$1" ]] && kill -0 "$1" 2>/dev/null || return 1
  local stat; stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  [[ "${stat##*) }" != Z* ]]
}
descendants() { local c; for c in $(pgrep -P "$1" || true); do echo "$c"; descendants "$c"; done; }
# Beam processes of rN, wherever started from (the pid file may be gone: the node deletes it while stopping). RabbitMQ 3.10
# names the node at run time, so its command line only shows the tag added at start; the environment always has the name.
node_beams() {
  local p
  for p in $(pgrep -x beam.smp || true); do
    tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "RABBITMQ_NODENAME=$NODE" && echo "$p"
  done
  return 0
}

kill9_tree() { # PIDs...: kill -9 each with its descendants (read first), wait until gone (<= 10 s)
  local all=() p
  for p in $(printf '%s\n' "$@" | sort -un); do alive "$p" || continue; all+=("$p"); mapfile -t -O "${#all[@]}" all < <(descendants "$p"); done
  ((${#all[@]})) || return 0
  kill -9 "${all[@]}" 2>/dev/null || true
  local deadline=$((SECONDS + 10))
  for p in "${all[@]}"; do while alive "$p" && ((SECONDS < deadline)); do sleep 0.05; done; done
  for p in "${all[@]}"; do alive "$p" && die "process $p of $NODE survived kill -9"; done
  return 0
}

cmd_node_start() {
  local pid start_s=$SECONDS
  pid="$(pid_from_file)"
  if alive "$pid" && amqp_answers 127.0.0.1 "$AMQP_PORT"; then echo "$URL"; return 0; fi
  if alive "$pid"; then # booting (another caller) or stuck: wait for it
    wait_amqp 127.0.0.1 "$AMQP_PORT" "$WAIT_S" "$pid" && { echo "$URL"; return 0; }
    die "$NODE (pid $pid) is running but does not accept AMQP on $AMQP_PORT; try node-stop $N (logs: $D/log)"
  fi
  [[ -z "$(node_beams)" ]] || die "a beam for $NODE runs from another folder than $D (pids: $(node_beams | tr '\n' ' ')); stop it first"
  port_open 127.0.0.1 "$AMQP_PORT" && die "port $AMQP_PORT is taken by something else than $NODE"
  install_if_missing
  need_root "starting $NODE"
  rm -f "$D/pid"
  mkdir -p "$D/mnesia" "$D/log"
  printf 'listeners.tcp.local = 127.0.0.1:%s\n' "$AMQP_PORT" >"$D/rabbitmq.conf"
  echo '[].' >"$D/enabled_plugins"
  chown -R rabbitmq:rabbitmq "$D"
  runuser -u rabbitmq -- test -w "$D" || die "the rabbitmq user cannot write $D (a parent folder is not traversable?); set RMQ_NODES_DIR"
  # The node reads /etc/rabbitmq/rabbitmq-env.conf too (epmd and dist on 127.0.0.1); its own config file keeps it off 5672.
  # `-reliable_mq_node rN@localhost` is an inert user flag that puts the name on the command line (`pgrep -f rN@localhost`).
  (cd "$D" && runuser -u rabbitmq -- env RABBITMQ_NODENAME="$NODE" RABBITMQ_NODE_PORT="$AMQP_PORT" RABBITMQ_DIST_PORT="$DIST_PORT" \
    RABBITMQ_CONFIG_FILE="$D/rabbitmq.conf" RABBITMQ_MNESIA_BASE="$D/mnesia" RABBITMQ_LOG_BASE="$D/log" \
    RABBITMQ_PID_FILE="$D/pid" RABBITMQ_ENABLED_PLUGINS_FILE="$D/enabled_plugins" \
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-reliable_mq_node $NODE" \
    "$RMQ_LIB/rabbitmq-server" -detached >"$D/log/startup.log" 2>&1 9>&-) \
    || die "rabbitmq-server -detached for $NODE failed: $(tail -n 5 "$D/log/startup.log" 2>/dev/null)"
  timeout "$WAIT_S" /usr/sbin/rabbitmqctl -q -n "$NODE" wait "$D/pid" >/dev/null 2>&1 9>&- \
    || die "$NODE did not boot within ${WAIT_S} s (logs: $D/log)"
  pid="$(pid_from_file)"
  wait_amqp 127.0.0.1 "$AMQP_PORT" 15 "$pid" || die "$NODE booted but does not accept AMQP on $AMQP_PORT (logs: $D/log)"
  log "$NODE accepts AMQP on $AMQP_PORT (pid $pid) after $((SECONDS - start_s)) s"
  echo "$URL"
}

cmd_node_kill() {
  local pid; pid="$(pid_from_file)"
  local pids=(); alive "$pid" && pids+=("$pid")
  mapfile -t -O "${#pids[@]}" pids < <(node_beams)
  if ((${#pids[@]} == 0)); then log "$NODE is not running"; rm -f "$D/pid"; return 0; fi
  mapfile -t pids < <(printf '%s\n' "${pids[@]}" | sort -un)
  kill9_tree "${pids[@]}"
  rm -f "$D/pid"
  log "$NODE killed (kill -9 of beam ${pids[*]} and its children)"
}

cmd_node_stop() {
  local pid; pid="$(pid_from_file)"
  if alive "$pid"; then
    # `rabbitmqctl stop PIDFILE` returns once the OS process has exited.
    timeout 30 /usr/sbin/rabbitmqctl -q -n "$NODE" stop "$D/pid" >/dev/null 2>&1 9>&- || log "graceful stop of $NODE failed or timed out; killing it"
  fi
  local left=(); alive "$pid" && left+=("$pid")
  mapfile -t -O "${#left[@]}" left < <(node_beams)
  ((${#left[@]} == 0)) || kill9_tree "${left[@]}"
  rm -f "$D/pid"
  [[ -z "$(node_beams)" ]] || die "$NODE still has processes: $(node_beams | tr '\n' ' ')"
  log "$NODE stopped"
}

usage() { sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

cmd="${1:-}"
case "$cmd" in
  ensure) cmd_ensure ;;
  node-url) node_vars "${2:-}"; echo "$URL" ;;
  node-start) node_vars "${2:-}"; lock_node; cmd_node_start ;;
  node-kill) node_vars "${2:-}"; lock_node; cmd_node_kill ;;
  node-stop) node_vars "${2:-}"; lock_node; cmd_node_stop ;;
  node-restart) node_vars "${2:-}"; lock_node; cmd_node_stop; cmd_node_start ;;
  node-wipe) node_vars "${2:-}"; lock_node; cmd_node_stop; rm -rf "$D"; log "$D removed" ;;
  *) usage ;;
esac
