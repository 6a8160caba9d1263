# shellcheck shell=bash
# Shared helpers for the bash scripts in scripts/. Source it; it defines functions only.

say() { printf '%s\n' "$*"; }
die() { printf '%s: error: %s\n' "${0##*/}" "$*" >&2; exit 1; }

require_root() {
    [[ $(id -u) -eq 0 ]] || die "must run as root (it uses apt-get and chroot)"
}

# Install the Debian packages that are not installed yet. apt-get update runs at most once per process,
# and only when something is missing, so a machine that has everything stays fast and offline-safe.
_APT_UPDATED=0
ensure_packages() {
    local missing=() pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$pkg")
    done
    ((${#missing[@]})) || return 0
    require_root
    say "installing Debian packages: ${missing[*]}"
    if ((!_APT_UPDATED)); then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        _APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}
