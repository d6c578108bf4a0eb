# Sourced by every example: run ghostswap (installed, or from this checkout) in a throwaway
# directory with its own state directory, so an example never touches your simulated kernel.
set -euo pipefail

if command -v ghostswap >/dev/null 2>&1; then
    gs() { ghostswap "$@"; }
else
    gs() { python3 -m ghostswap_cli "$@"; }
fi
# print the command as a user would type it, then run it
run() { printf '\n$ ghostswap %s\n' "$*"; gs "$@"; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export GHOSTSWAP_STATE="$work/state"   # a throwaway simulated kernel
cd "$work"
