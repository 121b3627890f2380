#!/usr/bin/env bash
# The seed tutorial's steps ("How to build a Flask app with WSGI and Nginx") as a plain shell
# script, the baseline that `make bench` times a fresh converge against. Run as root on a fresh
# Ubuntu host with our app's files in APP_DIR:  seed-baseline.sh APP_DIR
#
# It follows the tutorial, made non-interactive, with only what it takes to end up serving:
# - the app is ours (files/app, which has wsgi.py), not the tutorial's dead-API one;
# - gunicorn runs from a systemd unit (3 sync workers, unix socket, `-m 007`) instead of a shell;
#   the socket is in a runtime directory nginx can reach (the tutorial's home directory is 0750
#   on Ubuntu) and its group is nginx's, as `-m 007` gives only owner and group access;
# - the distribution's default site is unlinked, or it would answer instead of ours;
# - nginx is reloaded rather than restarted; UFW allows SSH before `ufw --force enable`.
set -euo pipefail

app_src=${1:?usage: seed-baseline.sh APP_DIR}
readonly APP_USER=movieapp
readonly APP_HOME=/home/$APP_USER
readonly SOCKET=/run/$APP_USER/app.sock
export DEBIAN_FRONTEND=noninteractive

# 1. Packages (the tutorial's list, plus ufw for its last step).
apt-get update -q
apt-get install -y -q python3-pip python3-dev python3-venv nginx ufw

# 2-3. A user, a virtual environment and the Python dependencies, unpinned as in the tutorial.
id "$APP_USER" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$APP_USER"
cp -r "$app_src/." "$APP_HOME/"
chown -R "$APP_USER:$APP_USER" "$APP_HOME"
su "$APP_USER" -c "python3 -m venv $APP_HOME/env && $APP_HOME/env/bin/pip3 install -q flask gunicorn requests"

# 4. Gunicorn: 3 workers on a unix socket, as the tutorial starts it, under systemd.
cat >/etc/systemd/system/movieapp.service <<EOF
[Unit]
Description=Gunicorn serving the movie quote app (seed tutorial)
After=network.target

[Service]
User=$APP_USER
Group=www-data
WorkingDirectory=$APP_HOME
RuntimeDirectory=$APP_USER
ExecStart=$APP_HOME/env/bin/gunicorn --workers 3 --bind unix:$SOCKET -m 007 wsgi:app

[Install]
WantedBy=multi-user.target
EOF
systemctl daemon-reload
systemctl enable --now movieapp.service

# 5. The nginx server block, linked into sites-enabled, tested, then loaded.
cat >/etc/nginx/sites-available/app <<EOF
server {
    listen 80;

    location / {
        include proxy_params;
        proxy_pass http://unix:$SOCKET;
    }
}
EOF
ln -sf /etc/nginx/sites-available/app /etc/nginx/sites-enabled/app
rm -f /etc/nginx/sites-enabled/default
nginx -t
systemctl reload nginx

# 6. The firewall: SSH first, so enabling it cannot lock anyone out, then the web ports.
ufw allow OpenSSH
ufw allow 'Nginx Full'
ufw --force enable

# The page must be served through nginx, or the timing means nothing.
for _ in $(seq 30); do
	if curl -sf http://127.0.0.1/ | grep -q 'QUOTE:'; then
		echo "seed-baseline: the quote page is served"
		exit 0
	fi
	sleep 0.5
done
echo "seed-baseline: the quote page is not served" >&2
exit 1
