#!/usr/bin/env bash
# `make up` runs this first: on first use it writes .env (git-ignored) with a
# random value for every credential docker-compose.yml reads. An existing .env
# is left alone, so the secrets survive `make down` / `make up`.
set -euo pipefail
target="${1:-.env}"
if [[ -e "$target" ]]; then
  exit 0
fi
secret() { python3 -c 'import secrets; print(secrets.token_urlsafe(32))'; }
umask 077
cat >"$target" <<ENV
# Written by scripts/make-env.sh on $(date -u +%Y-%m-%dT%H:%MZ). Keep it private; never commit it.
# Tokens: "token=user_id" pairs, comma-separated. Add users here, then: docker compose up -d
PROPHOTO_API_TOKENS=$(secret)=photographer
PROPHOTO_ADMIN_TOKENS=$(secret)=operator
RABBITMQ_USER=prophoto
RABBITMQ_PASSWORD=$(secret)
POSTGRES_USER=prophoto
POSTGRES_PASSWORD=$(secret)
MINIO_ROOT_USER=prophoto
MINIO_ROOT_PASSWORD=$(secret)
GRAFANA_ADMIN_PASSWORD=$(secret)
ENV
echo "wrote $target with random secrets (operator token: PROPHOTO_ADMIN_TOKENS in it)"
