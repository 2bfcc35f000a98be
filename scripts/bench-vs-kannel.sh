#!/bin/bash
# Outpost's Kannel-compatible sendsms against Kannel itself, side by side on the shared bench rig
# (../shared/bench, see its README.md): HTTP GET /cgi-bin/sendsms -> SMPP submit_sm to the rig's sink,
# without and with delivery receipts (dlr-mask=3, dlr-url called back). Results go to docs/benchmarks.md
# by hand; raw JSONL stays under $BENCH_WORK/results.
#
# Usage: scripts/bench-vs-kannel.sh [COUNT] [PAIRS] [CONCURRENCY]      (defaults 20000 3 50)
# Env:   BENCH       path to the rig (default: ../shared/bench next to this checkout)
#        BENCH_WORK  the rig's work directory (default /tmp/outpost-bench)
#        CARGO_TARGET_DIR  where the release build goes (default target/)
#        WINDOW      the Outpost link's SMPP window (default 10, Kannel's max-pending-submits in the rig)
#        VARIANTS    which runs: any of "dlr0 dlr1 dlr0-norcpt" (default all three)
#        PORT        Outpost's HTTP port on 127.0.0.1 (default 13113)
# Every load is bounded by the rig (message count, MAX_S, SINK_WAIT, DLR_WAIT); Outpost is stopped on exit.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=${BENCH:-$ROOT/../shared/bench}
export BENCH_WORK=${BENCH_WORK:-/tmp/outpost-bench}
COUNT=${1:-20000} PAIRS=${2:-3} CONC=${3:-50}
WINDOW=${WINDOW:-10} PORT=${PORT:-13113}
VARIANTS=${VARIANTS:-"dlr0 dlr1 dlr0-norcpt"}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET/release/outpost
WORK=$BENCH_WORK/outpost
say() { echo "[bench-vs-kannel] $*"; }

say "release build"
(cd "$ROOT" && cargo build --release -p outpost)
say "rig setup (Jasmin skipped)"
SKIP_JASMIN=1 "$BENCH/setup.sh"

# Outpost as the rig expects a gateway: one SMPP transceiver to the sink (bench/bench), no modems, no
# signature (the sink reads the text unchanged), numbers taken as written (the rig sends 4917xxxxxxx).
write_config() { # RECEIPTS
  mkdir -p "$WORK"
  cat > "$WORK/outpost.toml" <<EOF
[service]
data_dir = "$WORK/data"
listen = "127.0.0.1:$PORT"
log = "warn"
shutdown_grace = "5s"

[accept]
strict_numbers = false

[[smpp]]
id = "sink"
host = "127.0.0.1"
port = 2775
system_id = "bench"
password = "bench"
window = $WINDOW
receipts = $1
EOF
}

PID=
stop_outpost() {
  if [ -n "$PID" ] && kill -0 "$PID" 2> /dev/null; then
    kill "$PID"
    for _ in $(seq 1 50); do kill -0 "$PID" 2> /dev/null || break; sleep 0.2; done
  fi
  PID=
}
trap stop_outpost EXIT

start_outpost() { # RECEIPTS
  stop_outpost
  rm -rf "$WORK"
  write_config "$1"
  "$BIN" check-config --config "$WORK/outpost.toml"
  KEY=$("$BIN" key add bench --config "$WORK/outpost.toml" | sed -n 's/^api key: //p')
  "$BIN" run --config "$WORK/outpost.toml" > "$WORK/outpost.log" 2>&1 &
  PID=$!
  for _ in $(seq 1 100); do
    curl -s -o /dev/null "http://127.0.0.1:$PORT/healthz" && return 0
    sleep 0.1
  done
  echo "outpost did not start; see $WORK/outpost.log" >&2
  exit 1
}

URL="http://127.0.0.1:$PORT/cgi-bin/sendsms?username=bench&password=KEY&from=12345&to={to}&text={text}"
run() { # LABEL DLR
  local tpl=${URL/KEY/$KEY}
  [ "$2" = 1 ] && tpl="$tpl&dlr-mask=3&dlr-url={dlr_url}"
  say "compare.sh $1: $COUNT messages, $PAIRS pairs, concurrency $CONC, window $WINDOW"
  "$BENCH/compare.sh" "$1" "$tpl" "$2" "$COUNT" "$CONC" "$PAIRS" "outpost=$PID"
}

for v in $VARIANTS; do
  case $v in
    # Outpost's default: every submit asks for a receipt (billing counts delivered parts), so even
    # without dlr-url the sink sends receipts and Outpost records them.
    dlr0) start_outpost true; run "outpost-w$WINDOW-dlr0" 0 ;;
    dlr1) start_outpost true; run "outpost-w$WINDOW-dlr1" 1 ;;
    # Like Kannel without dlr-mask: no receipts asked for at all.
    dlr0-norcpt) start_outpost false; run "outpost-w$WINDOW-dlr0-norcpt" 0 ;;
    *) echo "unknown variant $v" >&2; exit 2 ;;
  esac
done
say "raw results: $BENCH_WORK/results/compare-outpost-*.jsonl"
