#!/usr/bin/env bash
# Builds the demo kernel, boots it under QEMU (software emulation, serial on
# stdout) and checks its self-test: exit status from isa-debug-exit, and the
# serial transcript. Exits non-zero on any failure, a panic, or a hang.
#
#   kernel/run.sh            # build, boot, check
set -euo pipefail
cd "$(dirname "$0")"

fail() { echo "kernel: FAIL: $*" >&2; exit 1; }

command -v qemu-system-x86_64 >/dev/null || fail "qemu-system-x86_64 is missing (apt-get install qemu-system-x86)"
command -v objcopy >/dev/null || fail "objcopy is missing (apt-get install binutils)"
command -v nm >/dev/null || fail "nm is missing (apt-get install binutils)"

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

log=$work/serial.log
set +e
timeout 60 qemu-system-x86_64 -accel tcg -kernel "$bin" \
    -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
    -serial stdio -display none -monitor none -no-reboot | tee "$log"
status=${PIPESTATUS[0]}
set -e

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
echo "kernel: self-test passed under QEMU (exit 33), transcript checked"
