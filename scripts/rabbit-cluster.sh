#!/usr/bin/env bash
# A local RabbitMQ cluster of extra nodes, beside (never touching) the default node.
#
#   scripts/rabbit-cluster.sh start DIR [NODES] [BASE_PORT]   start NODES (default 3) nodes and join them
#   scripts/rabbit-cluster.sh kill  DIR N                      SIGKILL node N (1-based)
#   scripts/rabbit-cluster.sh revive DIR N                     start node N again (it rejoins by itself)
#   scripts/rabbit-cluster.sh kill-all DIR / revive-all DIR    the whole cluster down / up again
#   scripts/rabbit-cluster.sh stop  DIR                        stop every node and remove DIR
#   scripts/rabbit-cluster.sh urls  DIR                        the comma-separated AMQP URL list
#   scripts/rabbit-cluster.sh prometheus-urls DIR              the nodes' Prometheus endpoints, comma-separated
#   scripts/rabbit-cluster.sh ctl   DIR N ARGS...              rabbitmqctl ARGS against node N
#
# Node i is `prophoto-<tag>-i@localhost` with AMQP port BASE_PORT+i-1, distribution port
# BASE_PORT+100+i-1 and Prometheus port BASE_PORT+200+i-1 (BASE_PORT defaults to 5701). Each
# node has its own config file, data and log directory under DIR, its own HOME with an Erlang
# cookie of its own (so it can never join the default node's cluster), one plugin
# (rabbitmq_prometheus, for the queue monitor's consumer and unacked counts), and runs as the
# `rabbitmq` user when started by root. The default node's files (/etc/rabbitmq, /var/lib/rabbitmq) are not read.
set -euo pipefail

cmd=${1:?usage: $0 start|kill|revive|stop|urls DIR ...}
dir=${2:?usage: $0 $cmd DIR}
RABBIT_SBIN=${RABBIT_SBIN:-/usr/lib/rabbitmq/bin}
[ -x "$RABBIT_SBIN/rabbitmq-server" ] || RABBIT_SBIN=$(dirname "$(command -v rabbitmq-server)")

as_owner() {  # run a command as the user that owns DIR's nodes
  if [ "$(id -u)" = 0 ] && id rabbitmq >/dev/null 2>&1; then
    runuser -u rabbitmq -- env "$@"
  else
    env "$@"
  fi
}

node_env() {  # the environment of node $1
  local i=$1 tag base
  tag=$(cat "$dir/tag"); base=$(cat "$dir/base_port")
  local home="$dir/node$i"
  echo HOME="$home" \
    RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf" \
    RABBITMQ_NODENAME="prophoto-$tag-$i@localhost" \
    RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
    RABBITMQ_NODE_PORT=$((base + i - 1)) \
    RABBITMQ_DIST_PORT=$((base + 100 + i - 1)) \
    RABBITMQ_CONFIG_FILE="$home/rabbitmq.conf" \
    RABBITMQ_ADVANCED_CONFIG_FILE="$home/advanced.config" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$home/enabled_plugins" \
    RABBITMQ_MNESIA_BASE="$home/mnesia" \
    RABBITMQ_LOG_BASE="$home/log" \
    RABBITMQ_PID_FILE="$home/pid" \
    ERL_EPMD_ADDRESS=127.0.0.1
}

ctl() {  # ctl I ARGS...: rabbitmqctl against node I
  local i=$1; shift
  # shellcheck disable=SC2046
  as_owner $(node_env "$i") "$RABBIT_SBIN/rabbitmqctl" -n "prophoto-$(cat "$dir/tag")-$i@localhost" "$@"
}

start_node() {
  local i=$1
  # with the hard open-files limit, not the soft 1024: RabbitMQ 3.10 counts every queue's files
  # against it (a `prophoto dev` run added about 135 on the node leading its queues), and once that count
  # reaches the limit its acceptors stop taking connections: the port stays open and a client
  # never gets Connection.Start. Test sessions declare many topologies on one cluster.
  # shellcheck disable=SC2046
  as_owner $(node_env "$i") sh -c 'ulimit -n "$(ulimit -Hn)"; exec "$0" "$@"' \
    "$RABBIT_SBIN/rabbitmq-server" >"$dir/node$i/log/stdout" 2>&1 &
}

await_node() {
  local i=$1
  timeout 120 bash -c "until [ -s '$dir/node$i/pid' ]; do sleep 0.2; done" || true
  ctl "$i" wait --timeout 120 "$dir/node$i/pid" >/dev/null
  ctl "$i" await_startup --timeout 120 >/dev/null
}

nodes() { cat "$dir/nodes"; }

case "$cmd" in
start)
  count=${3:-3}
  base=${4:-5701}
  if [ -e "$dir/nodes" ]; then echo "$dir already holds a cluster; stop it first" >&2; exit 1; fi
  mkdir -p "$dir"
  echo "$count" >"$dir/nodes"
  echo "$base" >"$dir/base_port"
  head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/tag"
  : >"$dir/rabbitmq-env.conf"  # not /etc/rabbitmq/rabbitmq-env.conf: that names the default node
  cookie=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr 'a-f' 'A-F')
  for i in $(seq 1 "$count"); do
    home="$dir/node$i"
    mkdir -p "$home/log" "$home/mnesia"
    {
      printf 'listeners.tcp.local = 127.0.0.1:%d\nloopback_users = none\n' $((base + i - 1))
      printf 'prometheus.tcp.ip = 127.0.0.1\nprometheus.tcp.port = %d\n' $((base + 200 + i - 1))
      # the nodes find each other at boot: no stop_app/join_cluster round trips
      echo 'cluster_formation.peer_discovery_backend = classic_config'
      for j in $(seq 1 "$count"); do
        echo "cluster_formation.classic_config.nodes.$j = prophoto-$(cat "$dir/tag")-$j@localhost"
      done
    } >"$home/rabbitmq.conf"
    # a killed node must not take minutes to be noticed by the others
    echo '[{kernel, [{net_ticktime, 10}]}].' >"$home/advanced.config"
    echo '[rabbitmq_prometheus].' >"$home/enabled_plugins"
    printf '%s' "$cookie" >"$home/.erlang.cookie"
    chmod 400 "$home/.erlang.cookie"
  done
  if [ "$(id -u)" = 0 ] && id rabbitmq >/dev/null 2>&1; then
    chmod 755 "$dir"; chown -R rabbitmq:rabbitmq "$dir"
  fi
  for i in $(seq 1 "$count"); do start_node "$i"; done
  await_node 1
  ctl 1 await_online_nodes "$count" --timeout 120 >/dev/null
  "$0" urls "$dir"
  ;;
kill)
  i=${3:?node number}
  pid=$(cat "$dir/node$i/pid")
  kill -9 "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  ;;
revive)
  i=${3:?node number}
  rm -f "$dir/node$i/pid"
  start_node "$i"
  await_node "$i"
  ;;
ctl)
  i=${3:?node number}; shift 3
  ctl "$i" "$@"
  ;;
kill-all)
  for i in $(seq 1 "$(nodes)"); do
    pid=$(cat "$dir/node$i/pid" 2>/dev/null || true)
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
  done
  for i in $(seq 1 "$(nodes)"); do
    pid=$(cat "$dir/node$i/pid" 2>/dev/null || true)
    while [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  done
  ;;
revive-all)
  # together: each node waits at boot for the peers it was clustered with
  for i in $(seq 1 "$(nodes)"); do rm -f "$dir/node$i/pid"; start_node "$i"; done
  for i in $(seq 1 "$(nodes)"); do await_node "$i"; done
  ;;
urls)
  base=$(cat "$dir/base_port")
  urls=""
  for i in $(seq 1 "$(nodes)"); do urls="$urls${urls:+,}amqp://guest:guest@127.0.0.1:$((base + i - 1))/"; done
  echo "$urls"
  ;;
prometheus-urls)
  base=$(cat "$dir/base_port")
  urls=""
  for i in $(seq 1 "$(nodes)"); do urls="$urls${urls:+,}http://127.0.0.1:$((base + 200 + i - 1))"; done
  echo "$urls"
  ;;
stop)
  [ -e "$dir/nodes" ] || { rm -rf "$dir"; exit 0; }
  for i in $(seq 1 "$(nodes)"); do
    pid=$(cat "$dir/node$i/pid" 2>/dev/null || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill -9 "$pid" 2>/dev/null || true  # data is thrown away anyway; a clean stop waits on the others
    fi
  done
  sleep 0.5
  rm -rf "$dir"
  ;;
*)
  echo "unknown command $cmd" >&2; exit 2
  ;;
esac
