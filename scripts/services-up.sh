#!/usr/bin/env bash
# Make sure the local RabbitMQ and PostgreSQL answer; start them when they do not.
set -uo pipefail
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

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
  command -v rabbitmq-server >/dev/null && rabbitmq-server -detached || true
fi
for i in $(seq 1 60); do
  if port_open 5432 && port_open 5672; then
    # RabbitMQ opens the port before it accepts connections; a wedged node
    # keeps the port open and answers nothing, so it is restarted
    if command -v rabbitmqctl >/dev/null && ! timeout 90 rabbitmqctl await_startup >/dev/null 2>&1; then
      echo "RabbitMQ does not answer; restarting it"
      timeout 30 rabbitmqctl stop >/dev/null 2>&1 || pkill -9 -f beam.smp || true
      sleep 3
      rabbitmq-server -detached || true
      for j in $(seq 1 60); do port_open 5672 && break; sleep 1; done
      timeout 120 rabbitmqctl await_startup >/dev/null 2>&1 || { echo "RabbitMQ did not start" >&2; exit 1; }
    fi
    exit 0
  fi
  sleep 1
done
port_open 5432 || echo "PostgreSQL is not answering on 127.0.0.1:5432" >&2
port_open 5672 || echo "RabbitMQ is not answering on 127.0.0.1:5672" >&2
exit 1
