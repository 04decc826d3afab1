#!/usr/bin/env bash
# Installs what the lab and the tests need on a fresh Debian/Ubuntu machine (as root):
# OpenSSH server, sudo, zip/unzip, util-linux (unshare/nsenter), iproute2, tmux (the terminal tests),
# zsh (the completion test);
# then the npm packages.
set -euo pipefail
cd "$(dirname "$0")/../.."

need=()
for pair in sshd:openssh-server ssh-keygen:openssh-client sudo:sudo zip:zip unzip:unzip nsenter:util-linux unshare:util-linux ip:iproute2 ss:iproute2 timeout:coreutils openssl:openssl pgrep:procps tmux:tmux zsh:zsh; do
  cmd=${pair%%:*}; pkg=${pair#*:}
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || need+=("$pkg")
done
# GNU time (the shell's `time` keyword hides it from command -v): the chatty-installer test measures peak RSS.
[ -x /usr/bin/time ] || need+=(time)
if ((${#need[@]})); then
  if [ "$(id -u)" != 0 ]; then echo "missing packages (${need[*]}): run as root or install them" >&2; exit 1; fi
  echo "installing: ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${need[@]}" | sort -u) >/dev/null
fi
if [ ! -d node_modules/@oclif/core ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund >&2
fi
