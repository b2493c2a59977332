#!/usr/bin/env bash
# `make up` runs this first: on first use it writes .env (git-ignored) with a
# random value for every credential docker-compose.yml reads. An existing .env
# keeps its values, so the secrets survive `make down` / `make up`; a variable it
# lacks (one a newer docker-compose.yml reads) is appended with a fresh value.
set -euo pipefail
target="${1:-.env}"
secret() { python3 -c 'import secrets; print(secrets.token_urlsafe(32))'; }
umask 077
if [[ ! -e "$target" ]]; then
  cat >"$target" <<HEAD
# Written by scripts/make-env.sh on $(date -u +%Y-%m-%dT%H:%MZ). Keep it private; never commit it.
# Tokens: "token=user_id" pairs, comma-separated. Add users here, then: docker compose up -d
# MINIO_APP_*: the services' own MinIO user, limited to the two buckets (deploy/minio/prophoto-buckets.json)
HEAD
  written="wrote $target with random secrets (operator token: PROPHOTO_ADMIN_TOKENS in it)"
fi
added=()
add() {  # NAME VALUE, unless the file already sets NAME
  if ! grep -q "^$1=" "$target"; then
    if [[ -s "$target" && -n "$(tail -c1 "$target")" ]]; then echo >>"$target"; fi
    printf '%s=%s\n' "$1" "$2" >>"$target"
    added+=("$1")
  fi
}
add PROPHOTO_API_TOKENS "$(secret)=photographer"
add PROPHOTO_ADMIN_TOKENS "$(secret)=operator"
add RABBITMQ_USER prophoto
add RABBITMQ_PASSWORD "$(secret)"
add POSTGRES_USER prophoto
add POSTGRES_PASSWORD "$(secret)"
add MINIO_ROOT_USER prophoto
add MINIO_ROOT_PASSWORD "$(secret)"
add MINIO_APP_USER prophoto-app
add MINIO_APP_PASSWORD "$(secret)"
add GRAFANA_ADMIN_PASSWORD "$(secret)"
if [[ -n "${written:-}" ]]; then
  echo "$written"
elif (( ${#added[@]} )); then
  echo "added to $target: ${added[*]}"
fi
