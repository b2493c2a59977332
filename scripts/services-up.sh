#!/usr/bin/env bash
# Make sure the local RabbitMQ and PostgreSQL answer; start them when they do not.
set -uo pipefail
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# The AMQP handshake itself: a node whose acceptors are stuck (file handles
# exhausted) keeps its port open and still answers rabbitmqctl, but never sends
# Connection.Start (a frame of type 1) to a client's protocol header.
amqp_answers() {
  timeout 15 bash -c 'exec 3<>/dev/tcp/127.0.0.1/5672; printf "AMQP\x00\x00\x09\x01" >&3; head -c 1 <&3' 2>/dev/null \
    | od -An -tx1 | grep -q 01
}

# Debian's `rabbitmq-server` starts the node through `su rabbitmq`, which gives
# it 1024 open files: a test suite's connections plus a few hundred quorum
# queues exhaust that, and the node wedges with its port open. Start it with
# the hard limit instead.
start_rabbit() {
  if [ "$(id -u)" -eq 0 ] && id rabbitmq >/dev/null 2>&1 && [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]; then
    runuser -u rabbitmq -- sh -c 'ulimit -n "$(ulimit -Hn)"; cd /var/lib/rabbitmq;
      HOME=/var/lib/rabbitmq exec /usr/lib/rabbitmq/bin/rabbitmq-server -detached' || true
  else
    rabbitmq-server -detached || true
  fi
}

# Only the default node is stopped when it is wedged: test clusters run
# other nodes on this machine, which must survive this script.
stop_default_rabbit() {
  timeout 30 rabbitmqctl stop >/dev/null 2>&1 && ! port_open 5672 && return
  local pid
  pid=$(ss -ltnpH 'sport = :5672' 2>/dev/null | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
}

if ! port_open 5432; then
  echo "starting PostgreSQL"
  if command -v pg_ctlcluster >/dev/null; then
    for v in $(ls /etc/postgresql 2>/dev/null); do
      pg_ctlcluster --skip-systemctl-redirect "$v" main start || true
    done
  fi
fi
if ! port_open 5672; then
  echo "starting RabbitMQ"
  command -v rabbitmq-server >/dev/null && start_rabbit
fi
for i in $(seq 1 60); do
  if port_open 5432 && port_open 5672; then
    # RabbitMQ opens the port before it accepts connections; a wedged node
    # keeps the port open and answers nothing, so it is restarted
    if command -v rabbitmqctl >/dev/null && ! { timeout 90 rabbitmqctl await_startup >/dev/null 2>&1 && amqp_answers; }; then
      echo "RabbitMQ does not answer; restarting it"
      stop_default_rabbit
      sleep 3
      start_rabbit
      for j in $(seq 1 60); do port_open 5672 && break; sleep 1; done
      timeout 120 rabbitmqctl await_startup >/dev/null 2>&1 && amqp_answers || { echo "RabbitMQ did not start" >&2; exit 1; }
    fi
    exit 0
  fi
  sleep 1
done
port_open 5432 || echo "PostgreSQL is not answering on 127.0.0.1:5432" >&2
port_open 5672 || echo "RabbitMQ is not answering on 127.0.0.1:5672" >&2
exit 1
