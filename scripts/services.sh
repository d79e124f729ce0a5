# Starts what peer-outreach needs on this machine if it is not running already:
# PostgreSQL (the system cluster) and the tansu Kafka-protocol broker with SQLite storage.
# Sourced by scripts/demo and scripts/test; safe to run again and again.

TANSU_VERSION=0.6.0
KAFKA_PORT=9092
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE_DIR="$REPO_ROOT/.tansu"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for_port() {
    local port=$1 what=$2
    for _ in $(seq 1 150); do
        port_open "$port" && return 0
        sleep 0.2
    done
    echo "$what did not start listening on port $port" >&2
    return 1
}

ensure_postgres() {
    if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
        return 0
    fi
    say "starting PostgreSQL"
    local version
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    pg_ctlcluster --skip-systemctl-redirect "$version" main start
    for _ in $(seq 1 60); do
        pg_isready -q -h 127.0.0.1 -p 5432 && return 0
        sleep 0.5
    done
    echo "PostgreSQL did not become ready" >&2
    return 1
}

tansu_binary() {
    if command -v tansu >/dev/null 2>&1; then
        command -v tansu
    elif [ -x "$HOME/.cargo/bin/tansu" ]; then
        echo "$HOME/.cargo/bin/tansu"
    fi
}

ensure_tansu() {
    if port_open "$KAFKA_PORT"; then
        return 0
    fi
    local tansu
    tansu=$(tansu_binary)
    if [ -z "$tansu" ]; then
        say "installing the tansu broker $TANSU_VERSION (once; about 15 minutes)"
        cargo install "tansu@$TANSU_VERSION" --locked --features libsql
        tansu=$(tansu_binary)
    fi
    mkdir -p "$STATE_DIR"
    say "starting tansu on 127.0.0.1:$KAFKA_PORT (SQLite storage in .tansu/)"
    # The SQLite path is relative to the working directory; keep it inside the repository.
    (cd "$REPO_ROOT" && nohup "$tansu" broker \
        --listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
        --advertised-listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
        --storage-engine "sqlite://.tansu/tansu.db" \
        >"$STATE_DIR/broker.log" 2>&1 &)
    wait_for_port "$KAFKA_PORT" "tansu"
    # tansu 0.6 scans every stored header for each record it fetches (its header table has no
    # index), so a store that grows across test runs slows every fetch; see the README.
    python3 -c 'import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=30)
db.execute("create index if not exists header_record on header (topition, offset_id)")
db.commit()' "$STATE_DIR/tansu.db"
}
