# Sourced by compare.sh and per-request.sh: the nginx reverse proxy both measure scfgate against,
# written once so that every script measures the same nginx.
#
#   write_nginx_conf DIR WORKERS LISTEN_PORT UPSTREAM_PORT UPSTREAM_KEEPALIVE
#
# writes DIR/nginx.conf (pid, logs and temp files under DIR): WORKERS workers, logs off, HTTP/1.1
# to 127.0.0.1:UPSTREAM_PORT with UPSTREAM_KEEPALIVE idle connections kept per worker.
write_nginx_conf() {
    local dir=$1 workers=$2 listen_port=$3 upstream_port=$4 keepalive=$5
    mkdir -p "$dir"
    cat >"$dir/nginx.conf" <<EOF
worker_processes $workers;
daemon off;
master_process on;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 8192; use epoll; multi_accept on; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    upstream backend {
        server 127.0.0.1:$upstream_port;
        keepalive $keepalive;
    }
    server {
        listen 127.0.0.1:$listen_port reuseport backlog=4096;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
}
