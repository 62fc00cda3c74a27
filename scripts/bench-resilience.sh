#!/usr/bin/env bash
# What resilience costs: the side-by-side harness (../shared/bench) run twice in one go, once on
# its plain route and once with the same route carrying a retry policy, a circuit breaker and
# outlier detection. Compare Rampart's rps/nginx and cpu/nginx between the two runs.
#
#   cargo build --release && scripts/bench-resilience.sh      # env is passed to the harness
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${RAMPART_BIN:-$root/target/release/rampart}
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 2; }
harness=${BENCH_HARNESS:-$root/../shared/bench/run.sh}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A wrapper that adds the policies to the harness's generated config before running Rampart.
cat > "$work/rampart" <<WRAP
#!/usr/bin/env bash
if [ "\$1" = run ] || [ "\$1" = validate ]; then
  dir=\$( [ "\$1" = run ] && echo "\$3" || echo "\$2" )
  f="\$dir/bench.yaml"
  if [ -f "\$f" ] && ! grep -q retries "\$f"; then
    python3 - "\$f" <<'PY'
import re, sys
p = sys.argv[1]
s = open(p).read()
s = s.replace("    route:\n", "    retries: {attempts: 2, perTryTimeout: 2s, retryOn: \"5xx,reset,connect-failure\"}\n    timeout: 10s\n    route:\n", 1)
host = re.search(r"host: (backend\.bench\.internal)", s).group(1)
s += f"""---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: bench-policy, namespace: default}}
spec:
  host: {host}
  trafficPolicy:
    connectionPool:
      tcp: {{maxConnections: 1000}}
      http: {{http1MaxPendingRequests: 1000, http2MaxRequests: 1000, maxRetries: 100}}
    outlierDetection: {{consecutive5xxErrors: 5, interval: 10s, baseEjectionTime: 30s}}
"""
open(p, "w").write(s)
PY
  fi
fi
exec "$bin" "\$@"
WRAP
chmod +x "$work/rampart"

export BENCH_TARGETS=${BENCH_TARGETS:-"nginx rampart"}
export BENCH_SCENARIOS=${BENCH_SCENARIOS:-keepalive}
echo "== plain route" >&2
RAMPART_BIN=$bin "$harness" | tee "$work/plain.txt"
echo "== route with retries, circuit breaker, outlier detection" >&2
RAMPART_BIN=$work/rampart "$harness" | tee "$work/resilient.txt"
ratio() { awk '$1=="keepalive" && $2=="rampart" {print $7}' "$1"; }
echo "rampart rps/nginx: plain $(ratio "$work/plain.txt"), resilient $(ratio "$work/resilient.txt")"
