#!/bin/bash
# healthcheck.sh — the container's HEALTHCHECK: GET /healthz on the
# operators' listener, with the bearer token when serve requires one.
# Uses bash's /dev/tcp: the image has no curl. Exit 0 healthy, 1 not.
#   PLEDGED_ADMIN_PORT        the operators' port (8081)
#   PLEDGED_ADMIN_TOKEN_FILE  the token serve was given with
#                             --admin-token-file (/run/secrets/admin_token);
#                             no header when it is absent
#   PLEDGED_HEALTH_PATH       /healthz; /readyz for `serve --read-only`,
#                             whose /healthz is always 503
port=${PLEDGED_ADMIN_PORT:-8081}
token_file=${PLEDGED_ADMIN_TOKEN_FILE:-/run/secrets/admin_token}
path=${PLEDGED_HEALTH_PATH:-/healthz}
auth=
if [ -r "$token_file" ]; then
	# serve takes the file's first line without its line end, CRLF too
	auth="Authorization: Bearer $(head -n 1 "$token_file" | tr -d '\r')"$'\r\n'
fi
exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
printf 'GET %s HTTP/1.0\r\n%s\r\n' "$path" "$auth" >&3
head -n 1 <&3 | grep -q ' 200 '
