#!/usr/bin/env bash
# Builds the Cortex-M4 firmware, boots it under QEMU (mps2-an386, software
# emulation), feeds its UART from here, and checks its self-test: the exit
# status from semihosting and the UART transcript. Exits non-zero on any
# failure, a panic, or a hang.
#
#   firmware/run.sh            # build, boot, check
set -euo pipefail
cd "$(dirname "$0")"

fail() { echo "firmware: FAIL: $*" >&2; exit 1; }

command -v qemu-system-arm >/dev/null || fail "qemu-system-arm is missing (apt-get install qemu-system-arm)"

cargo build --release --quiet
elf=target/thumbv7em-none-eabihf/release/kasync-firmware

# No heap: no allocator symbol is linked, and no dependency enables `alloc`.
if nm -C "$elf" | grep -E '__rust_alloc|__rust_dealloc|__rdl_alloc|alloc::alloc::'; then
    fail "the firmware links an allocator"
fi
if cargo tree -e features --prefix none | grep -E 'feature "(alloc|std)"'; then
    fail "a dependency of the firmware enables alloc or std"
fi
echo "firmware: no allocator linked, no dependency enables alloc/std"

# The UART's input: bytes 0, 1, …, 199 (selftest::SENT), written to QEMU's
# serial port from outside; each reaches the firmware as a receive interrupt.
sent=200
input=target/uart-input.bin
: > "$input"
for ((i = 0; i < sent; i++)); do
    printf "\\$(printf '%03o' "$i")" >> "$input"
done
[ "$(wc -c < "$input")" -eq "$sent" ] || fail "could not write $sent input bytes"

log=target/uart.log
set +e
timeout 60 qemu-system-arm -cpu cortex-m4 -machine mps2-an386 \
    -display none -monitor none -serial stdio \
    -semihosting-config enable=on,target=native \
    -kernel "$elf" < "$input" | tee "$log"
status=${PIPESTATUS[0]}
set -e

case $status in
    0) ;;
    124) fail "the firmware did not finish within 60 s" ;;
    1) fail "the firmware reported a failed self-test" ;;
    *) fail "QEMU exited with status $status" ;;
esac

# The transcript: every ticker line in order and on time, every byte sent
# received or counted as dropped (some dropped: the reader fell behind on
# purpose), every kick nested, the workers served, the core asleep in wfi.
for line in 1 2 3 4 5; do
    grep -q "^tick line $line at +[0-9]* ticks (due +$((line * 25)))" "$log" || fail "tick line $line missing"
done
order=$(grep -o '^tick line [0-9]' "$log" | awk '{print $3}' | tr -d '\n')
[ "$order" = "12345" ] || fail "tick lines out of order: $order"
grep -q '^clock: 5 sleeps in order across the 32-bit wrap' "$log" || fail "the clock did not cross its 32-bit wrap"
read -r accounted received dropped < <(sed -n 's|^uart: \([0-9]*\)/[0-9]* bytes: \([0-9]*\) received in order, \([0-9]*\) dropped$|\1 \2 \3|p' "$log")
[ -n "${accounted:-}" ] || fail "no uart summary line"
[ "$accounted" -eq "$sent" ] && [ $((received + dropped)) -eq "$sent" ] \
    || fail "bytes lost: $received received + $dropped dropped of $sent sent"
[ "$dropped" -gt 0 ] || fail "no byte was dropped although the reader fell behind"
kicks=$((sent / 8))
read -r nested ran kick_received kick_dropped < <(sed -n "s|^kick: \([0-9]*\)/\([0-9]*\) kick interrupts ran nested in the UART's; \([0-9]*\) events received through a kasync::sync::Channel, \([0-9]*\) dropped$|\1 \2 \3 \4|p" "$log")
[ -n "${ran:-}" ] || fail "no kick summary line"
[ "$ran" -eq "$kicks" ] && [ "$nested" -eq "$kicks" ] || fail "expected $kicks kick interrupts, all nested: $nested/$ran"
[ $((kick_received + kick_dropped)) -eq "$kicks" ] || fail "kick events lost: $kick_received received + $kick_dropped dropped of $kicks"
grep -q '^workers: 36 tasks each took a permit' "$log" || fail "the workers were not all served"
sleeps=$(sed -n 's/^idle: the core slept in wfi \([0-9]*\) times.*/\1/p' "$log")
[ "${sleeps:-0}" -gt 0 ] || fail "the core never slept in wfi"
grep -q '^SELFTEST PASS' "$log" || fail "no SELFTEST PASS line"
echo "firmware: self-test passed under QEMU (semihosting exit 0), transcript checked: $received received + $dropped dropped of $sent bytes, $kicks nested kicks, $sleeps wfi sleeps"
