# Sourced by per-request.sh and ab.sh: the gateway both measure, one API in front of one web
# function that answers a fixed body, written once so that both measure the same set-up.
#
#   write_web_gateway DIR GATEWAY_PORT FUNCTION_PORT BACKEND_BIN
#
# writes DIR/gateway.toml (listening on 127.0.0.1:GATEWAY_PORT, `GET /release/hello`) and the
# function's DIR/fn/scf_bootstrap, which runs BACKEND_BIN (scfgate-bench-backend) on
# FUNCTION_PORT, a fixed port so that nginx can be pointed at the same process.
write_web_gateway() {
    local dir=$1 gateway_port=$2 function_port=$3 backend_bin=$4
    mkdir -p "$dir/fn"
    printf '#!/bin/sh\nexec "%s" "127.0.0.1:$PORT" plain 1\n' "$backend_bin" >"$dir/fn/scf_bootstrap"
    chmod 755 "$dir/fn/scf_bootstrap"
    cat >"$dir/gateway.toml" <<TOML
[gateway]
listen = ["127.0.0.1:$gateway_port"]

[[service]]
id = "service-perreq01"
name = "per-request"
stages = ["release"]

[[service.api]]
name = "hello"
path = "/hello"
method = "GET"
function = { name = "fixed" }

[[function]]
name = "fixed"
runtime = "web"
code = "$dir/fn"
port = $function_port
memory_limit_in_mb = 1024
TOML
}

# A free loopback port.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
