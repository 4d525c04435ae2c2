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
command -v nm >/dev/null || fail "nm is missing (apt-get install binutils)"

cargo build --release --quiet
target_dir=${CARGO_TARGET_DIR:-target}
elf=$target_dir/thumbv7em-none-eabihf/release/kasync-firmware
[ -f "$elf" ] || fail "no firmware image at $elf after the build"

# No heap: no allocator symbol is linked, and no dependency enables `alloc`.
symbols=$(nm -C "$elf") || fail "nm cannot read $elf"
if grep -E '__rust_alloc|__rust_dealloc|__rdl_alloc|alloc::alloc::' <<<"$symbols"; then
    fail "the firmware links an allocator"
fi
if cargo tree -e normal,features --prefix none | grep -E 'feature "(alloc|std)"'; then
    fail "a dependency of the firmware enables alloc or std"
fi
echo "firmware: no allocator linked, no dependency enables alloc/std"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The README's firmware example compiles for the board: its block, after
# what it leaves out (readme/prelude.rs), as a crate of its own.
example=$work/readme-example
mkdir -p "$example/src"
here=$(pwd -P)
for file in Cargo.toml build.rs; do
    sed "s|@FIRMWARE@|$here|g" "readme/$file.in" > "$example/$file"
done
cp Cargo.lock "$example/"
{
    sed "s|@FIRMWARE@|$here|g" readme/prelude.rs
    sed -n '/^## Embedding kasync in firmware/,/^## Benchmarks/p' ../README.md \
        | sed -n '/^```rust,ignore$/,/^```$/p' | sed '1d;$d'
} > "$example/src/main.rs"
grep -q 'block_on_with' "$example/src/main.rs" || fail "no firmware example found in README.md"
CARGO_TARGET_DIR=$target_dir/readme-example cargo build --release --quiet \
    --manifest-path "$example/Cargo.toml" --target thumbv7em-none-eabihf \
    || fail "the README's firmware example does not build"
echo "firmware: the README's example builds for thumbv7em-none-eabihf"

# What the self-test expects, from its source (one place for the numbers).
constant() {
    local value
    value=$(sed -n "s/^pub const $1: u32 = \([0-9]*\);$/\1/p" "$2")
    [ -n "$value" ] || fail "cannot read $1 from $2"
    echo "$value"
}
first=$(constant FIRST_BURST src/selftest.rs)
sent=$(constant SENT src/selftest.rs)
workers=$(constant WORKERS src/selftest.rs)
kick_every=$(constant KICK_EVERY src/uart.rs)
kicks=$((sent / kick_every))

log=$work/uart.log
: > "$log"

# The UART's input, bytes 0, 1, …, sent - 1, written to QEMU's serial port
# from here; each reaches the firmware as a receive interrupt. The first
# burst at once; the rest only once the firmware says it waits for it (it
# has stopped SysTick by then, so only these bytes can wake it).
bytes() {
    local i
    for ((i = $1; i < $2; i++)); do
        printf "\\$(printf '%03o' "$i")"
    done
}
feed() {
    bytes 0 "$first"
    local tries
    for ((tries = 0; tries < 300; tries++)); do
        grep -q '^uart: waiting for the rest' "$log" && break
        sleep 0.1
    done
    bytes "$first" "$sent"
}

set +e
feed | timeout 40 qemu-system-arm -cpu cortex-m4 -machine mps2-an386 \
    -display none -monitor none -serial stdio \
    -semihosting-config enable=on,target=native \
    -kernel "$elf" | tee "$log"
status=${PIPESTATUS[1]}
set -e

case $status in
    0) ;;
    124) fail "the firmware did not finish within 40 s (a hang with SysTick stopped cannot be timed out from inside)" ;;
    3) fail "the firmware reported a failed self-test" ;;
    *) fail "QEMU exited with status $status (QEMU's own error, or a lock-up: see above)" ;;
esac

# The transcript: every ticker line in order, every byte sent taken by the
# interrupt and received or counted as dropped (some dropped: the reader
# fell behind on purpose), the second burst woke the reader with no tick,
# every kick nested, the workers served, the run loop in wfi.
for ((line = 1; line <= 5; line++)); do
    grep -q "^tick line $line at +[0-9]* ticks (due +$((line * 25)))" "$log" || fail "tick line $line missing"
done
order=$(grep -o '^tick line [0-9]' "$log" | awk '{print $3}' | tr -d '\n')
[ "$order" = "12345" ] || fail "tick lines out of order: $order"
grep -q '^clock: 5 sleeps in order across the 32-bit wrap' "$log" || fail "the clock did not cross its 32-bit wrap"
grep -q "^workers: $workers tasks each took a permit" "$log" || fail "the workers were not all served"
read -r accounted received dropped woken < <(sed -n 's|^uart: \([0-9]*\)/[0-9]* bytes: \([0-9]*\) received in order, \([0-9]*\) dropped; the second burst woke the reader \([0-9]*\) times.*|\1 \2 \3 \4|p' "$log")
[ -n "${woken:-}" ] || fail "no uart summary line"
[ "$accounted" -eq "$sent" ] && [ $((received + dropped)) -eq "$sent" ] \
    || fail "bytes lost: $received received + $dropped dropped of $sent sent"
[ "$dropped" -gt 0 ] || fail "no byte was dropped although the reader fell behind"
[ "$woken" -gt 0 ] || fail "the second burst never woke the reader"
grep -q "^uart: the receive interrupt took $sent bytes, the UART overran 0 times" "$log" \
    || fail "the receive interrupt did not take exactly the $sent bytes sent"
read -r nested ran at_once kick_received kick_dropped < <(sed -n "s|^kick: \([0-9]*\)/\([0-9]*\) kick interrupts ran nested in the UART's, \([0-9]*\) before raise() returned; \([0-9]*\) events received through a kasync::sync::Channel, \([0-9]*\) dropped$|\1 \2 \3 \4 \5|p" "$log")
[ -n "${ran:-}" ] || fail "no kick summary line"
[ "$ran" -eq "$kicks" ] && [ "$nested" -eq "$kicks" ] && [ "$at_once" -eq "$kicks" ] \
    || fail "expected $kicks kick interrupts, all nested and at once: $nested nested, $at_once at once, of $ran"
[ $((kick_received + kick_dropped)) -eq "$kicks" ] || fail "kick events lost: $kick_received received + $kick_dropped dropped of $kicks"
sleeps=$(sed -n 's/^idle: the run loop went to wfi \([0-9]*\) times.*/\1/p' "$log")
[ "${sleeps:-0}" -gt 0 ] || fail "the run loop never went to wfi"
grep -q '^SELFTEST PASS' "$log" || fail "no SELFTEST PASS line"
echo "firmware: self-test passed under QEMU (semihosting exit 0), transcript checked: $received received + $dropped dropped of $sent bytes (the second burst woke the reader $woken times with SysTick stopped), $kicks nested kicks, $sleeps wfi sleeps"
