#!/usr/bin/env bash
# trace record on a real Linux 6.1 (Debian 12, ../../../shared/kernel-oracle): the sources this
# development machine lacks (soft-dirty here; Debian's 6.1 has no page idle tracking and no
# DAMON) and the fallback without PAGEMAP_SCAN. The VM has busybox only, so this copies the
# host's Python 3.11 (binary, libpython, the shared libraries of its extension modules, the
# standard library without tests and GUI), construct, and this checkout's ghostswap_cli into
# the VM's disk, then runs record_in_vm.py there. Takes about 3 minutes under TCG.
# usage: benchmarks/oracle/record-sources.sh [ORACLE_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
oracle=${1:-$root/../../shared/kernel-oracle}
[ -x "$oracle/run.sh" ] || oracle=/work/shared/kernel-oracle
py=$(python3 -c 'import sys; print(sys.base_prefix)')
ver=$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
files=$work/files
mkdir -p "$files/py/bin" "$files/py/lib/python$ver/site-packages"
cp "$py/bin/python$ver" "$files/py/bin/"
cp -L "$py/lib/libpython$ver.so.1.0" "$files/py/lib/"
for f in "$py/lib/python$ver/lib-dynload/"*.so; do ldd "$f"; done 2>/dev/null |
    awk '/=> \//{print $3}' | sort -u | grep -v -e 'libc\.so' -e 'ld-linux' |
    while read -r lib; do cp -L "$lib" "$files/py/lib/"; done
(cd "$py/lib" && tar cf - --exclude=site-packages --exclude=test --exclude=idlelib \
    --exclude=tkinter --exclude=turtledemo --exclude=ensurepip --exclude=lib2to3 \
    --exclude='config-*' --exclude=__pycache__ "python$ver") | tar xf - -C "$files/py/lib"
construct=$(python3 -c 'import construct, os; print(os.path.dirname(construct.__file__))')
cp -r "$construct" "$files/py/lib/python$ver/site-packages/"
(cd "$root" && git ls-files ghostswap_cli tests/trace/record_prog.py | tar cf - -T -) | tar xf - -C "$files"
cp "$here/record_in_vm.py" "$files/"
cat > "$work/vm.sh" <<VM
cd /mnt
export PYTHONHOME=/mnt/py LD_LIBRARY_PATH=/mnt/py/lib
/mnt/py/bin/python$ver /mnt/record_in_vm.py 2>&1 | grep -v '^{'
VM
"$oracle/run.sh" -q "$files" "$work/vm.sh"
