#!/usr/bin/env bash
# TEST STAND-IN for k3s-uninstall.sh (gwfleet test lab only). Removes the stand-in cluster
# the stand-in deploy_gateway installed, logging to /var/log/gwlab-uninstall.log.
# Fault /etc/gwlab/faults/uninstall-fail: fail with exit 1.
set -u
if [ "$(id -u)" != "0" ]; then
  echo "k3s-uninstall.sh: must be run as root" >&2
  exit 1
fi
log=/var/log/gwlab-uninstall.log
echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) k3s-uninstall.sh started (args: $*)" >> "$log"
if [ -e /etc/gwlab/faults/uninstall-fail ]; then
  echo "k3s-uninstall.sh: simulated failure" >&2
  echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) failed (fault)" >> "$log"
  exit 1
fi
echo "+ systemctl stop k3s (stand-in)"
dir="$(cd "$(dirname "$0")" && pwd)"
rm -rf /var/lib/gwlab-k3s /etc/rancher
for d in /usr/local/bin /usr/bin; do rm -f "$d/kubectl" "$d/k3s"; done
rm -f "$dir/k3s-uninstall.sh" /usr/local/bin/k3s-uninstall.sh /usr/bin/k3s-uninstall.sh
echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) k3s removed" >> "$log"
echo "k3s uninstalled (stand-in)"
exit 0
