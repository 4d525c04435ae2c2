#!/usr/bin/env bash
# Runs kasync's host, end-to-end and io_uring-backend test binaries on an
# older Linux than the build machine's: Debian 12's cloud kernel (Linux
# 6.1), booted under QEMU with a busybox initramfs that holds the release
# test binaries. Every binary must pass exactly the tests it lists here.
#
#   .ci/old-linux/run.sh            fetch the kernel (apt), build, boot, check
#   KASYNC_OLD_KERNEL=FILE .../run.sh   boot FILE (a bzImage) instead
#
# QEMU runs under TCG: KVM on nested VMs like CI's fails on this kernel
# ("emulation failure"), and TCG boots it in seconds.
set -euo pipefail
cd "$(dirname "$0")/../.."
here=.ci/old-linux
work=target/old-linux
mkdir -p "$work"

# A static busybox (the initramfs has no libraries for it) with `ip`.
static_busybox() {
    local b
    b=$(command -v busybox) || return 1
    local applets
    applets=$("$b" --list) || return 1
    [[ $(ldd "$b" 2>&1) == *"not a dynamic executable"* && $'\n'$applets$'\n' == *$'\nip\n'* ]]
}
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
static_busybox || need+=(busybox-static)
command -v cpio >/dev/null || need+=(cpio)
command -v python3 >/dev/null || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq
    apt-get install -y -qq "${need[@]}"
fi
static_busybox || { echo "old-linux: no static busybox with ip (install busybox-static)" >&2; exit 1; }
busybox=$(command -v busybox)

# The kernel: Debian 12's linux-image-*-cloud-amd64, unpacked once.
kernel=${KASYNC_OLD_KERNEL:-}
if [ -z "$kernel" ]; then
    kernel=$(ls "$work"/kernel/boot/vmlinuz-6.1.* 2>/dev/null | head -1 || true)
    if [ -z "$kernel" ]; then
        pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
            awk '/Depends: linux-image-6\.1\./ && !found {print $2; found = 1}')
        if [ -z "$pkg" ]; then
            apt-get update -qq
            pkg=$(apt-cache depends linux-image-cloud-amd64 |
                awk '/Depends: linux-image-6\.1\./ && !found {print $2; found = 1}')
        fi
        if [ -z "$pkg" ]; then
            echo "old-linux: apt offers no Linux 6.1 cloud kernel (is this Debian 12?); set KASYNC_OLD_KERNEL" >&2
            exit 1
        fi
        rm -rf "$work/deb" "$work/kernel" && mkdir -p "$work/deb"
        (cd "$work/deb" && apt-get download "$pkg" 2>/dev/null)
        dpkg-deb -x "$work"/deb/*.deb "$work/kernel"
        kernel=$(ls "$work"/kernel/boot/vmlinuz-6.1.* | head -1)
    fi
fi
echo "old-linux: kernel $kernel"

# The test binaries, release-built, and what each lists on this machine.
cargo test --release -p host -p tests -p uring-backend --no-run --message-format=json \
    > "$work/build.json"
python3 - "$work/build.json" > "$work/tests.list" <<'PY'
import json, os, sys
seen = set()
for line in open(sys.argv[1]):
    msg = json.loads(line)
    exe = msg.get("executable")
    if msg.get("reason") != "compiler-artifact" or not exe or not msg["profile"]["test"]:
        continue
    if exe in seen:
        continue
    seen.add(exe)
    pkg = os.path.dirname(msg["manifest_path"])
    name = msg["package_id"].split("#")[0].rsplit("/", 1)[-1] + ":" + msg["target"]["name"]
    print(name, pkg, exe)
PY
host_bin=$(pwd)/target/release/host

root=$work/root
rm -rf "$root" && mkdir -p "$root"/{bin,proc,sys,dev,tmp,etc}
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
    [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done
printf '127.0.0.1 localhost\n::1 localhost\n' > "$root/etc/hosts"
printf 'root:x:0:0:root:/tmp:/bin/sh\n' > "$root/etc/passwd"
cp "$here/init" "$root/init"
echo "$host_bin" > "$root/host.path"
: > "$root/tests.list"
total=0
declare -A listed
while read -r name dir exe; do
    count=$("$exe" --list --format terse 2>/dev/null | grep -c ': test$' || true)
    listed[$name]=$count
    total=$((total + count))
    mkdir -p "$root$dir"
    echo "$name $dir $exe" >> "$root/tests.list"
done < "$work/tests.list"
# Binaries at the paths they were built at (the CLI tests run the `host`
# binary by its build path), with the shared libraries they load.
for exe in $(awk '{print $3}' "$work/tests.list") "$host_bin"; do
    cp --parents "$exe" "$root"
    for lib in $(ldd "$exe" | grep -Eo '/[^ ]+'); do
        [ -e "$root$lib" ] || cp --parents -L "$lib" "$root"
    done
done
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/initrd.gz"
echo "old-linux: $(wc -l < "$work/tests.list") test binaries, $total tests; initramfs $(du -h "$work/initrd.gz" | cut -f1)"

log=$work/serial.log
started=$SECONDS
timeout "${KASYNC_OLD_LINUX_TIMEOUT:-1800}" qemu-system-x86_64 \
    -accel tcg -cpu max -smp 2 -m 4096 \
    -kernel "$kernel" -initrd "$work/initrd.gz" \
    -append "console=ttyS0 panic=-1 quiet" \
    -nographic -no-reboot -monitor none -serial stdio < /dev/null > "$log" 2>&1 || true
echo "old-linux: the guest ran for $((SECONDS - started))s"

grep -aq '@@kernel' "$log" || { tail -40 "$log"; echo "old-linux: the guest did not boot" >&2; exit 1; }
grep -ao '@@kernel.*' "$log" | tr -d '\r'
bad=0
passed_all=0
while read -r name dir exe; do
    line=$(grep -a "^@@result $name " "$log" | tr -d '\r' || true)
    if [ -z "$line" ]; then
        echo "old-linux: $name did not finish in the guest" >&2
        bad=1
        continue
    fi
    read -r _ _ passed failed status <<< "$line"
    passed_all=$((passed_all + passed))
    if [ "$status" != 0 ] || [ "$failed" != 0 ] || [ "$passed" != "${listed[$name]}" ]; then
        echo "old-linux: $name: $passed passed, $failed failed (exit $status); ${listed[$name]} listed here" >&2
        bad=1
    fi
done < "$work/tests.list"
host_status=$(grep -ao '@@host [0-9]*' "$log" | awk '{print $2}')
sed -n '/^== machine/,/^backend:/p' <(tr -d '\r' < "$log")
if [ "$host_status" != 0 ] || ! grep -aq '^tour passed' "$log"; then
    echo "old-linux: the host command failed in the guest (status ${host_status:-none})" >&2
    bad=1
fi
if [ "$bad" != 0 ]; then
    echo "old-linux: FAILED; the guest's output is in $log" >&2
    exit 1
fi
echo "old-linux: every binary passed in the guest: $passed_all tests, as many as this machine lists; the host tour passed"
