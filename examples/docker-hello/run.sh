#!/usr/bin/env bash
# One command from a fresh clone: set up (scripts/setup: Docker engine, busybox,
# venv with Bakehouse and its plugins), build the base image locally
# (examples/docker-base), build this example on top of it, and run it.
set -euo pipefail
cd "$(dirname "$0")/../.."

bash scripts/setup
say() { printf '\n==> %s\n' "$*"; }

say "building the base image (examples/docker-base)"
.venv/bin/bakehouse build examples/docker-base

say "building the example image (examples/docker-hello)"
.venv/bin/bakehouse build examples/docker-hello

say "running it: docker run --rm bakehouse-example/hello:latest"
docker run --rm bakehouse-example/hello:latest

cat <<'TXT'

Serve its web page on http://localhost:8080 :
  docker run --rm -p 8080:8080 bakehouse-example/hello:latest "httpd -f -v -p 8080 -h /srv/www"
Remove the images again:
  docker rmi bakehouse-example/hello:latest bakehouse-example/busybox:latest
TXT
