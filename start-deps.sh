#!/usr/bin/env bash
# Starts MongoDB (127.0.0.1:27017) and Kafka (127.0.0.1:9092) and returns once both accept connections.
#
#   ./start-deps.sh          start (harmless when they already run)
#   ./start-deps.sh stop     stop only what this script started
#   ./start-deps.sh status
#
# With a working Docker engine it runs the `mongo` and `kafka` services of docker-compose.yaml; without one,
# the embedded servers of tools/devstack (SecantusDB and Tansu, installed from PyPI into .venv).
# WFA_DEPS=embedded forces the embedded servers even where Docker works.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

HOST=127.0.0.1
MONGO_PORT=27017
KAFKA_PORT=9092
TIMEOUT=${START_DEPS_TIMEOUT:-180}
STATE_DIR=.devstack
# The compose services this script started, one per line: `stop` stops these and nothing else.
COMPOSE_RECORD=$STATE_DIR/compose-services
DEVSTACK=.venv/bin/wfa-devstack

log() { echo "start-deps: $*" >&2; }

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

both_open() { port_open "$MONGO_PORT" && port_open "$KAFKA_PORT"; }

compose() {
    if docker compose version >/dev/null 2>&1; then
        docker compose "$@"
    else
        docker-compose "$@"
    fi
}

docker_usable() {
    [[ "${WFA_DEPS:-auto}" != embedded ]] || return 1
    command -v docker >/dev/null 2>&1 || return 1
    # A stopped Docker Desktop can make `docker info` hang; `timeout` is missing on some Macs.
    if command -v timeout >/dev/null 2>&1; then
        timeout 20 docker info >/dev/null 2>&1 || return 1
    else
        docker info >/dev/null 2>&1 || return 1
    fi
    docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null 2>&1
}

wait_for_ports() {
    local deadline=$((SECONDS + TIMEOUT))
    until both_open; do
        if ((SECONDS >= deadline)); then
            log "MongoDB ($MONGO_PORT) and Kafka ($KAFKA_PORT) not both accepting after ${TIMEOUT}s"
            return 1
        fi
        sleep 0.5
    done
}

start_with_docker() {
    local missing=() running service
    port_open "$MONGO_PORT" || missing+=(mongo)
    port_open "$KAFKA_PORT" || missing+=(kafka)
    running=$(compose ps --services --status running 2>/dev/null || true)
    mkdir -p "$STATE_DIR"
    for service in "${missing[@]}"; do
        if ! grep -qx "$service" <<<"$running" && ! grep -qsx "$service" "$COMPOSE_RECORD"; then
            echo "$service" >>"$COMPOSE_RECORD"
        fi
    done
    log "docker compose up -d --wait ${missing[*]}"
    # --wait also waits for the healthchecks, which initiate MongoDB's replica set; older composes lack it.
    if ! compose up -d --wait --wait-timeout "$TIMEOUT" "${missing[@]}"; then
        log "compose could not wait for the healthchecks; waiting for the ports instead"
        compose up -d "${missing[@]}"
    fi
    wait_for_ports
}

start_embedded() {
    if [[ ! -x $DEVSTACK ]]; then
        log ".venv is missing: running make install"
        make install
    fi
    "$DEVSTACK" up --host "$HOST" --mongo-port "$MONGO_PORT" --kafka-port "$KAFKA_PORT" --timeout "$TIMEOUT"
}

start() {
    if both_open; then
        log "MongoDB ($HOST:$MONGO_PORT) and Kafka ($HOST:$KAFKA_PORT) already accept connections"
        return 0
    fi
    local started=$SECONDS
    if docker_usable; then
        start_with_docker
    else
        start_embedded
    fi
    log "MongoDB on $HOST:$MONGO_PORT and Kafka on $HOST:$KAFKA_PORT are up ($((SECONDS - started))s)"
}

stop() {
    local services=()
    if [[ -s $COMPOSE_RECORD ]]; then
        mapfile -t services <"$COMPOSE_RECORD"
        log "docker compose stop ${services[*]}"
        compose stop "${services[@]}"
        rm -f "$COMPOSE_RECORD"
    fi
    if compgen -G "$STATE_DIR/*.pid" >/dev/null && [[ -x $DEVSTACK ]]; then
        "$DEVSTACK" down --host "$HOST" --mongo-port "$MONGO_PORT" --kafka-port "$KAFKA_PORT"
    elif ((${#services[@]} == 0)); then
        log "nothing to stop: start-deps.sh did not start anything that still runs"
    fi
}

status() {
    local name port
    for name in mongo:$MONGO_PORT kafka:$KAFKA_PORT; do
        port=${name#*:}
        if port_open "$port"; then log "${name%%:*} accepts connections on $HOST:$port"; else log "${name%%:*} is down ($HOST:$port)"; fi
    done
    [[ -s $COMPOSE_RECORD ]] && log "started with docker compose: $(paste -sd' ' "$COMPOSE_RECORD")"
    compgen -G "$STATE_DIR/*.pid" >/dev/null && log "embedded servers started by devstack: $(cd "$STATE_DIR" && echo *.pid)"
    both_open
}

case "${1:-start}" in
    start | up) start ;;
    stop | down) stop ;;
    status) status ;;
    *)
        echo "usage: $0 [start|stop|status]" >&2
        exit 2
        ;;
esac
