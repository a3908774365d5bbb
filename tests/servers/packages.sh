# shellcheck shell=bash
# Sourced by tests/run.sh and the server scripts: install missing Debian packages (root only).
# A temporary policy-rc.d (when the system has none) keeps packaged services (slapd, samba,
# nginx) from starting on their standard ports during the install.
ensure_pkgs() {
  [[ $(id -u) == 0 ]] || { echo "missing packages; as root: apt-get install -y --no-install-recommends $*" >&2; exit 1; }
  local made_policy=
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; made_policy=1
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT      # never leave it behind, even if apt fails
  fi
  echo "installing Debian packages: $*" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" > /dev/null
  if [[ -n $made_policy ]]; then rm -f /usr/sbin/policy-rc.d; trap - EXIT; fi
}
