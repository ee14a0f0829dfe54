#!/usr/bin/env bash
# HTTPS side by side: wrk against nginx and scfgate terminating TLS with the same self-signed
# certificate (RSA 2048, TLS 1.3 as wrk's OpenSSL negotiates it), both proxying to the same
# fixed-reply backend over keep-alive. Prints wrk's summary for each and the req/s ratio.
# Environment: DURATION (default 5s), CONNECTIONS (default 64), WORKERS (default 1).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-5s}
CONNECTIONS=${CONNECTIONS:-64}
WORKERS=${WORKERS:-1}
command -v wrk >/dev/null && command -v nginx >/dev/null || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx-light >/dev/null
}
[ -x target/release/scfgate ] || cargo build --release --bins
work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT INT TERM
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost -keyout "$work/localhost.key" -out "$work/localhost.crt" 2>/dev/null
target/release/scfgate-bench-backend 127.0.0.1:19100 integrated 1 2>/dev/null & pids+=($!)
mkdir -p "$work/nginx/logs"
cat > "$work/nginx/nginx.conf" <<NGINX
worker_processes $WORKERS; daemon off; pid nginx.pid; error_log logs/error.log warn;
events { worker_connections 4096; use epoll; multi_accept on; }
http { access_log off; keepalive_requests 1000000;
  upstream fn { server 127.0.0.1:19100; keepalive 64; }
  server { listen 127.0.0.1:19443 ssl reuseport backlog=4096;
    ssl_certificate $work/localhost.crt; ssl_certificate_key $work/localhost.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / { proxy_pass http://fn; proxy_http_version 1.1; proxy_set_header Connection ""; } } }
NGINX
nginx -p "$work/nginx" -c nginx.conf & pids+=($!)
cat > "$work/scfgate.toml" <<TOML
[gateway]
listen = ["127.0.0.1:19080"]
tls_listen = ["127.0.0.1:19444"]
[[service]]
id = "service-https"
name = "https"
[[service.api]]
name = "event"
path = "/event"
method = "ANY"
function = { name = "fast" }
integrated_response = true
[[function]]
name = "fast"
runtime = "remote"
invoke_url = "http://127.0.0.1:19100/invoke"
[[certificate]]
hosts = ["localhost"]
cert = "$work/localhost.crt"
key = "$work/localhost.key"
TOML
target/release/scfgate --config "$work/scfgate.toml" --workers "$WORKERS" 2>"$work/scfgate.log" & pids+=($!)
sleep 1.5
declare -A rate
for target in nginx:19443 scfgate:19444; do
  name=${target%%:*}; port=${target##*:}
  curl -sk -o /dev/null "https://localhost:$port/release/event"
  wrk -t1 -c"$CONNECTIONS" -d1s "https://localhost:$port/release/event" >/dev/null
  echo "== $name (https://localhost:$port, $WORKERS worker(s), $CONNECTIONS connections, $DURATION)"
  out=$(wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency "https://localhost:$port/release/event")
  echo "$out" | grep -E "Latency|50%|99%|Requests/sec|Non-2xx|Socket errors"
  rate[$name]=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
done
echo "scfgate/nginx over HTTPS: $(python3 -c "print(round(${rate[scfgate]}/${rate[nginx]}, 2))")"
