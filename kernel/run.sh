#!/usr/bin/env bash
# Builds the demo kernel, makes a disk image the kernel can check, boots the
# kernel under QEMU (KVM when /dev/kvm works, software emulation otherwise;
# serial on stdout) with the image on a virtio-blk-pci device, and checks
# its self-test: exit status from isa-debug-exit, the serial transcript,
# and — after QEMU exits — the sectors the kernel wrote, in the image. Then
# boots once without a disk: the kernel must say so and fail, not hang.
# Exits non-zero on any failure, a panic, or a hang.
#
#   kernel/run.sh            # build, boot, check
set -euo pipefail
cd "$(dirname "$0")"

fail() { echo "kernel: FAIL: $*" >&2; exit 1; }

command -v qemu-system-x86_64 >/dev/null || fail "qemu-system-x86_64 is missing (apt-get install qemu-system-x86)"
command -v objcopy >/dev/null || fail "objcopy is missing (apt-get install binutils)"
command -v nm >/dev/null || fail "nm is missing (apt-get install binutils)"
command -v python3 >/dev/null || fail "python3 is missing (apt-get install python3)"

cargo build --release --quiet
target_dir=${CARGO_TARGET_DIR:-target}
elf=$target_dir/x86_64-unknown-none/release/kasync-kernel
[ -f "$elf" ] || fail "no kernel image at $elf after the build"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bin=$work/kasync-kernel.bin
objcopy -O binary "$elf" "$bin"

# No heap: no allocator symbol is linked, and no dependency enables `alloc`.
symbols=$(nm -C "$elf") || fail "nm cannot read $elf"
if grep -E '__rust_alloc|__rust_dealloc|__rdl_alloc|alloc::alloc::' <<<"$symbols"; then
    fail "the kernel links an allocator"
fi
if cargo tree -e normal,features --prefix none | grep -E 'feature "(alloc|std)"'; then
    fail "a dependency of the kernel enables alloc or std"
fi
echo "kernel: no allocator linked, no dependency enables alloc/std"

# The disk image (layout in src/disk_test.rs): 12 Ki sectors that each
# carry their number, a pattern and an FNV-1a 64 checksum, then 4 Ki
# scratch sectors of zeros for the kernel to write.
img=$work/disk.img
python3 - "$img" <<'PY'
import struct, sys
def fnv(b):
    h = 0xcbf29ce484222325
    for x in b:
        h = ((h ^ x) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h
with open(sys.argv[1], "wb") as f:
    for s in range(12 * 1024):
        body = struct.pack("<Q", s) + bytes((s * 131 + i) & 0xFF for i in range(8, 504))
        f.write(body + struct.pack("<Q", fnv(body)))
    f.write(bytes(4 * 1024 * 512))
PY

# KVM when it is hardware virtualisation that works here, else software
# emulation (TCG). KVM built on PVM (kvm_pvm: page-table-based, no VMX/SVM,
# as on some nested cloud VMs) emulates much of a bare-metal guest: the
# self-test ran ~500x slower there than under TCG, so auto skips it.
accel=${KASYNC_QEMU_ACCEL:-auto}
why=
if [ "$accel" = auto ]; then
    accel=tcg
    if [ ! -w /dev/kvm ]; then
        why="no usable /dev/kvm"
    elif [ -d /sys/module/kvm_pvm ] || ! grep -qwE 'vmx|svm' /proc/cpuinfo; then
        why="KVM here is software (PVM, no VMX/SVM): slower than TCG for this kernel"
    elif timeout 5 qemu-system-x86_64 -accel kvm -machine none -display none \
            -monitor none -serial none -S -daemonize -pidfile "$work/kvm.pid" >/dev/null 2>&1; then
        kill "$(cat "$work/kvm.pid")" 2>/dev/null || true
        accel=kvm
    else
        why="QEMU cannot start a KVM guest"
    fi
fi
case $accel in
    kvm | tcg) ;;
    *) fail "KASYNC_QEMU_ACCEL is '$accel'; use auto, kvm or tcg" ;;
esac
[ -z "$why" ] || echo "kernel: $why; using TCG"
echo "kernel: booting with -accel $accel"

boot() { # boot LOG [QEMU ARGS...]: the exit status of QEMU
    local log=$1; shift
    set +e
    timeout 60 qemu-system-x86_64 -accel "$accel" -kernel "$bin" \
        -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
        -serial stdio -display none -monitor none -no-reboot "$@" | tee "$log"
    local status=${PIPESTATUS[0]}
    set -e
    return "$status"
}

log=$work/serial.log
status=0
boot "$log" -drive "file=$img,format=raw,if=none,id=disk,cache=writeback" \
    -device virtio-blk-pci,drive=disk || status=$?

case $status in
    33) ;;
    124) fail "the kernel did not finish within 60 s" ;;
    35) fail "the kernel reported a failed self-test" ;;
    *) fail "QEMU exited with status $status" ;;
esac

# The transcript: every ticker line in order, every key decoded, the summary.
for line in 1 2 3 4 5; do
    grep -q "^tick line $line at " "$log" || fail "tick line $line missing"
done
order=$(grep -o '^tick line [0-9]' "$log" | awk '{print $3}' | tr -d '\n')
[ "$order" = "12345" ] || fail "tick lines out of order: $order"
keys=$(grep -c "^key: " "$log")
[ "$keys" -eq 12 ] || fail "expected 12 decoded keys, saw $keys"
grep -q '24/24 scancodes arrived, 0 dropped; typed "kasync runs\\n"' "$log" || fail "not every scancode arrived"
grep -q '^timeout fired at ' "$log" || fail "the timeout task did not report"
grep -q '^line: 12 keys through a kasync::sync::Channel' "$log" || fail "the line task did not get every key through the channel"
grep -q '^signal: the latest scancode from the interrupt is 0x9c' "$log" || fail "the interrupt's Signal did not hold the last key's release"
grep -q '^SELFTEST PASS' "$log" || fail "no SELFTEST PASS line"

# The disk: reads verified at both depths, the deep one faster; writes,
# cancelled reads whose buffers waited for the device, the end.
grep -q '^virtio-blk: PCI ' "$log" || fail "the kernel did not find the virtio-blk device"
shallow=$(sed -n 's/^disk: depth 1: .* \([0-9][0-9]*\) requests\/s.*/\1/p' "$log")
deep=$(sed -n 's/^disk: depth 16: .* \([0-9][0-9]*\) requests\/s.*/\1/p' "$log")
[ -n "$shallow" ] && [ -n "$deep" ] || fail "no verified reads at depth 1 and 16"
[ "$deep" -gt "$shallow" ] || fail "depth 16 ($deep requests/s) is not faster than depth 1 ($shallow): the requests did not run concurrently"
echo "kernel: reads verified at depth 1 ($shallow requests/s) and depth 16 ($deep requests/s, $(awk "BEGIN{printf \"%.2f\", $deep/$shallow}")x)"
grep -q '^disk: wrote 256 sectors from 12288 on, flushed, read them back verified' "$log" || fail "the writes were not read back"
grep -q '^cancel: 16 reads dropped in flight; 16 buffers stay with the device' "$log" || fail "cancelled reads did not keep their buffers"
grep -q '^cancel: 16 cancelled requests completed later and gave their buffers back; 32 new reads verified' "$log" || fail "cancelled requests did not complete, or later reads failed"
grep -q '^disk: a read at sector 16384 (past the end) failed with EINVAL' "$log" || fail "a read past the end was not an error"

# The writes reached the image.
python3 - "$img" <<'PY' || fail "the sectors the kernel wrote are not in the image"
import struct, sys
def fnv(b):
    h = 0xcbf29ce484222325
    for x in b:
        h = ((h ^ x) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h
data = open(sys.argv[1], "rb").read()
for s in range(12288, 12288 + 256):
    sector = data[s * 512:(s + 1) * 512]
    body = struct.pack("<Q", s) + b"kasync-write" + bytes((s * 7 + i) & 0xFF for i in range(20, 504))
    if sector != body + struct.pack("<Q", fnv(body)):
        sys.exit(f"sector {s} is not what the kernel wrote")
if any(data[(12288 + 256) * 512:]):
    sys.exit("the kernel wrote past what it meant to")
print("kernel: the 256 sectors the kernel wrote are in the image, nothing else changed")
PY
echo "kernel: self-test passed under QEMU (exit 33), transcript and image checked"

# Without a disk: a clear line and a failed self-test, not a hang.
nodisk=$work/nodisk.log
status=0
boot "$nodisk" >/dev/null || status=$?
[ "$status" -eq 35 ] || fail "without a disk QEMU exited with $status, not the failed self-test's 35"
grep -q '^SELFTEST FAIL: virtio-blk: no virtio block device on the PCI bus' "$nodisk" || fail "without a disk the kernel did not say so"
echo "kernel: without a disk it says so and fails (exit 35)"
