#!/usr/bin/env bash
# Everything Drover needs on a fresh Debian 12 machine with Node 20, as root. Idempotent: each step
# checks before it acts, so running it again is fast and changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
# Turborepo reports usage to Vercel by default; nothing here may talk to anything beyond this machine.
export TURBO_TELEMETRY_DISABLED=1

APT_PACKAGES=(nats-server libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86
  iproute2 ipmitool busybox-static lz4 ca-certificates openssl chromium qemu-utils)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # --no-install-recommends: libvirt-daemon-system would bring systemd (ARCHITECTURE.md, "The lab").
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The QEMU driver refuses to start without these (ARCHITECTURE.md, "The lab").
getent group kvm >/dev/null || groupadd --system kvm
getent group libvirt-qemu >/dev/null || groupadd --system libvirt-qemu
id -u libvirt-qemu >/dev/null 2>&1 || useradd --system --no-create-home -g libvirt-qemu -G kvm libvirt-qemu

# npm ci only when the lock file changed since the last install.
stamp=node_modules/.drover-lock-sha
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
  echo "setup: npm ci"
  # --prefer-offline: packages already in npm's cache are not asked about again (2 min to 1 here).
  npm ci --no-audit --no-fund --loglevel=error --prefer-offline
  echo "$want" >"$stamp"
fi

# The lab's tiny guest (Debian cloud kernel + busybox initramfs), built once into
# ${DROVER_LAB_CACHE:-/var/cache/drover-lab} so that the first lab test does not pay the download.
node --import tsx packages/lab/src/prepare-main.ts >/dev/null

# Compiled builds (dist/, e.g. drover-agent without a TypeScript loader). Each build does nothing
# when its output is newer than its sources; a stale or missing build is never run (bin falls back).
npx turbo run build --output-logs=errors-only >/dev/null
