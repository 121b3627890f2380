#!/usr/bin/env bash
# B: the seed tutorial's configuration beside ours in the sandbox host, on the same release and
# virtualenv: the tutorial's gunicorn command line under a plain unit (3 sync workers on a unix
# socket, `-m 007`) and its nginx server block, answering for the name SEED_HOST.
# Run as root inside the sandbox host by bench/bench.py:  seed_side.sh up|down SEED_HOST
set -euo pipefail

action=${1:?usage: seed_side.sh up|down SEED_HOST}
seed_host=${2:?usage: seed_side.sh up|down SEED_HOST}
readonly UNIT=/etc/systemd/system/seed-bench.service
readonly SITE=/etc/nginx/sites-available/seed-bench
readonly SOCKET=/run/seed-bench/app.sock

up() {
	cat >"$UNIT" <<-EOF
		[Unit]
		Description=The seed tutorial's gunicorn command line (make bench)
		[Service]
		User=quote-app
		Group=www-data
		WorkingDirectory=/opt/quote-app/current
		EnvironmentFile=/opt/quote-app/current/app.env
		RuntimeDirectory=seed-bench
		ExecStart=/opt/quote-app/current/venv/bin/gunicorn --workers 3 --bind unix:$SOCKET -m 007 wsgi:app
	EOF
	# The stock nginx.conf logs every request unbuffered and gzips any size: said again here, so
	# that tuning our nginx.conf does not tune the seed's server block too.
	cat >"$SITE" <<-EOF
		server {
		    listen 80;
		    server_name $seed_host;
		    access_log /var/log/nginx/access.log;
		    gzip on;
		    gzip_min_length 20;

		    location / {
		        include proxy_params;
		        proxy_pass http://unix:$SOCKET;
		    }
		}
	EOF
	ln -sf "$SITE" /etc/nginx/sites-enabled/seed-bench
	systemctl daemon-reload
	systemctl restart seed-bench.service
	nginx -t -q
	systemctl reload nginx
	for _ in $(seq 40); do
		if curl -sf -o /dev/null -H "Host: $seed_host" http://127.0.0.1/; then
			return 0
		fi
		sleep 0.25
	done
	echo "the seed configuration does not answer" >&2
	journalctl -u seed-bench.service -n 20 --no-pager >&2 || true
	return 1
}

down() {
	systemctl stop seed-bench.service || true
	rm -f "$UNIT" /etc/nginx/sites-enabled/seed-bench "$SITE"
	systemctl daemon-reload
	if nginx -t -q; then
		systemctl reload nginx
	fi
}

case $action in
up) up ;;
down) down ;;
*)
	echo "usage: seed_side.sh up|down SEED_HOST" >&2
	exit 2
	;;
esac
