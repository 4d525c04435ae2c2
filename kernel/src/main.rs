//! A small x86_64 kernel that runs kasync's core as its async runtime, with
//! real interrupts and no heap at all.
//!
//! * Boot: multiboot (QEMU `-kernel`), 32→64-bit trampoline (`boot`).
//! * Interrupts: IDT with assembly entry stubs (`idt`), 8259 PIC and PIT at
//!   1 kHz (`pic`), PS/2 keyboard (`keyboard`).
//! * Disk: a virtio block device found on the PCI bus (`pci`, `disk`),
//!   driven by kasync's `virtio-blk` driver — the core's completion trait
//!   over DMA, completions reaped when its interrupt ends the run loop's
//!   halt.
//! * Runtime: a static kasync `Executor`, a `Reactor` over the disk
//!   driver (idling with the race-free `cli; check; sti; hlt`) whose
//!   timers read the PIT's tick count, and an `IrqQueue` filled by the
//!   keyboard interrupt.
//! * Self-test: tasks decode typed keys (handing them on through a
//!   `kasync::sync::Channel` to a task that assembles the line, while the
//!   keyboard interrupt also sets a `Signal` with the latest scancode),
//!   print on a timer, await timeouts; then the disk test (`disk_test`):
//!   verified reads at depth 1 and 16, writes, a flush, reads dropped in
//!   flight, a read past the end. The result goes out on COM1 and through
//!   QEMU's `isa-debug-exit`.
#![no_std]
#![no_main]

mod boot;
mod cpu;
mod disk;
mod disk_test;
mod exit;
mod idt;
mod keyboard;
mod pci;
mod pic;
mod serial;

use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
use core::panic::PanicInfo;
use core::pin::Pin;
use core::sync::atomic::{AtomicU64, Ordering};
use core::time::Duration;

use kasync::executor::{Executor, Idle, Platform};
use kasync::io::{Handle, Reactor};
use kasync::sync::Channel;
use kasync::time::Clock;

use exit::{Status, exit};
use pic::{TICKS, Ticks};

/// Idles the CPU: `cli`, check for work, then `sti; hlt` as one step, so an
/// interrupt that makes work ready after the check still ends the `hlt`.
struct Hlt;

/// Times the run loop really halted the CPU.
static HALTS: AtomicU64 = AtomicU64::new(0);

impl Platform for Hlt {
    fn pend(&self) {
        // Wakes come from interrupt handlers here, and the interrupt itself
        // already ended the `hlt`.
    }

    fn park(&self, idle: &Idle<'_>) {
        cpu::disable_interrupts();
        if idle.is_idle() {
            HALTS.fetch_add(1, Ordering::Relaxed);
            cpu::enable_interrupts_and_halt();
        } else {
            cpu::enable_interrupts();
        }
    }
}

/// A value only the run loop touches — never an interrupt handler — on
/// the kernel's single CPU.
struct RunLoopOnly<T>(T);

// SAFETY: the kernel runs on one CPU, and the wrapped reactor is used only
// by the run loop (kmain and the tasks it polls); interrupt handlers touch
// the tick counter and the scancode queue, which are atomics.
unsafe impl<T> Sync for RunLoopOnly<T> {}

/// Tasks the kernel holds at once, and bytes for each.
const TASKS: usize = 48;
const TASK_BYTES: usize = 1024;
static EXECUTOR: Executor<Hlt, TASKS, TASK_BYTES> = Executor::new(Hlt);
/// The executor's runner.
type Runner = kasync::Runner<Hlt, TASKS, TASK_BYTES>;
/// Operations in flight at once (disk requests, and ones dropped that the
/// device still holds), and bytes for each.
const OPS: usize = 64;
const OP_BYTES: usize = 64;
type KernelReactor = Reactor<disk::Driver, &'static Ticks, OPS, OP_BYTES>;
/// Where the reactor is set up, once the disk is found.
static REACTOR: RunLoopOnly<UnsafeCell<MaybeUninit<KernelReactor>>> =
    RunLoopOnly(UnsafeCell::new(MaybeUninit::uninit()));
type Io = Handle<'static, disk::Driver, &'static Ticks, OPS, OP_BYTES>;

/// What the self-test types on its own keyboard.
const TYPED: &str = "kasync runs\n";
/// Sleeps the ticker task performs, and their spacing in ticks.
const TICKER_LINES: u64 = 5;
const TICKER_EVERY: u64 = 25;

#[unsafe(no_mangle)]
extern "C" fn kmain() -> ! {
    serial::init();
    println!(
        "kasync-kernel: booted, {} KiB static task storage, no heap",
        size_of_val(&EXECUTOR) / 1024
    );
    idt::init();
    pic::init();
    let driver = match disk::init() {
        Ok((driver, found)) => {
            let f = found.at;
            println!(
                "virtio-blk: PCI {:02x}:{:02x}.{}, I/O ports {:#x}, IRQ {}, queue of {} ({} requests at once), {} sectors ({} MiB), flush {}",
                f.bus,
                f.device,
                f.function,
                found.ports,
                found.irq,
                driver.queue_size(),
                driver.max_in_flight(),
                driver.capacity(),
                driver.capacity() / 2048,
                if driver.has_flush() { "yes" } else { "no" }
            );
            driver
        }
        Err(disk::NoDisk::Absent) => fail(
            "virtio-blk: no virtio block device on the PCI bus (boot with -drive file=IMG,format=raw,if=none,id=d -device virtio-blk-pci,drive=d)",
        ),
        Err(disk::NoDisk::Unusable(why)) => {
            println!("virtio-blk: the device cannot be used: {why}");
            fail("no usable disk")
        }
        Err(disk::NoDisk::Setup(e)) => {
            println!("virtio-blk: set-up failed: {e}");
            fail("no usable disk")
        }
    };
    keyboard::init();
    pic::start_timer();
    println!(
        "kasync-kernel: IDT loaded, PIC mask {:#010b}, PIT at {} Hz",
        pic::mask(),
        pic::TICK_HZ
    );
    cpu::enable_interrupts();

    let runner = match EXECUTOR.runner() {
        Ok(runner) => runner,
        Err(_) => fail("executor already running"),
    };
    // SAFETY: `kmain` runs once, and this is the only reference ever made
    // to the reactor's place.
    let place = unsafe { &mut *REACTOR.0.get() };
    let reactor: Pin<&'static KernelReactor> =
        Pin::static_ref(Reactor::init(place, driver, &TICKS));
    let io = reactor.handle();
    let outcome = runner.block_on_with(&*reactor, async {
        io.timeout(Duration::from_secs(30), async {
            let summary = self_test(&runner, io).await?;
            disk_test::run(&runner, io).await?;
            Ok(summary)
        })
        .await
    });
    match outcome {
        Ok(Ok(summary)) => {
            println!(
                "selftest: {} sleeps completed in order; {}/{} scancodes arrived, {} dropped; typed {:?}; timeout fired at +{} ticks",
                summary.sleeps,
                summary.scancodes,
                2 * TYPED.len(),
                keyboard::SCANCODES.dropped(),
                summary.typed(),
                summary.timeout_at
            );
            let ticks = TICKS.now();
            let stats = reactor.with_driver(|d| d.stats());
            println!(
                "selftest: {} ticks, the CPU halted {} times while idle; the disk raised {} interrupts for {} requests ({} notifications)",
                ticks,
                HALTS.load(Ordering::Relaxed) + disk::HALTS.load(Ordering::Relaxed),
                disk::INTERRUPTS.load(Ordering::Relaxed),
                stats.completed,
                stats.notifies
            );
            println!("SELFTEST PASS");
            exit(Status::Success)
        }
        Ok(Err(why)) => fail(why),
        Err(_) => {
            // What the disk did, so a stuck device can be told from a
            // stuck kernel.
            let s = reactor.with_driver(|d| d.stats());
            println!(
                "disk: {} requests submitted, {} completed, {} waited for queue room, {} bogus entries; {} notifications, {} interrupts; {} halts, {} ticks",
                s.submitted,
                s.completed,
                s.queue_full,
                s.bogus,
                s.notifies,
                disk::INTERRUPTS.load(Ordering::Relaxed),
                HALTS.load(Ordering::Relaxed) + disk::HALTS.load(Ordering::Relaxed),
                TICKS.now()
            );
            fail("self-test did not finish within 30 s")
        }
    }
}

/// What the self-test saw.
struct Summary {
    sleeps: u64,
    scancodes: usize,
    typed: [u8; 32],
    typed_len: usize,
    timeout_at: u64,
}

impl Summary {
    fn typed(&self) -> &str {
        core::str::from_utf8(&self.typed[..self.typed_len]).unwrap_or("<invalid>")
    }
}

/// Decoded keys, from the keyboard task to the line task.
static KEYS: Channel<u8, 4> = Channel::new();

async fn self_test(runner: &Runner, io: Io) -> Result<Summary, &'static str> {
    let keys = runner
        .spawn_local(keyboard_task())
        .map_err(|_| "cannot spawn the keyboard task")?;
    let line = runner
        .spawn_local(line_task())
        .map_err(|_| "cannot spawn the line task")?;
    let ticker = runner
        .spawn_local(kasync_selftest::ticker(
            io,
            TICKER_LINES,
            TICKER_EVERY,
            print,
        ))
        .map_err(|_| "cannot spawn the ticker task")?;
    let timeouts = runner
        .spawn_local(kasync_selftest::timeouts(io, print))
        .map_err(|_| "cannot spawn the timeout task")?;

    // Type on our own keyboard: each byte arrives as a real IRQ 1.
    for key in TYPED.chars() {
        let code = keyboard::make_code(key).ok_or("a key the table does not know")?;
        keyboard::type_scancode(code);
        io.sleep(Duration::from_millis(2)).await;
        keyboard::type_scancode(code | 0x80); // release
        io.sleep(Duration::from_millis(2)).await;
    }

    let scancodes = keys.await.map_err(|_| "keyboard task failed")?;
    let (typed, typed_len) = line.await.map_err(|_| "line task failed")?;
    // The interrupt's latest scancode: the release of the last key typed.
    let last = keyboard::LATEST
        .try_take()
        .ok_or("the keyboard interrupt signalled nothing")?;
    let expected = keyboard::make_code(TYPED.chars().last().unwrap_or('\n')).unwrap_or(0) | 0x80;
    if last != expected {
        return Err("the latest scancode signalled is not the last key's release");
    }
    println!("signal: the latest scancode from the interrupt is {last:#04x}");
    let sleeps = ticker.await.map_err(|_| "ticker task failed")??;
    let timeout_at = timeouts.await.map_err(|_| "timeout task failed")??;
    let summary = Summary {
        sleeps,
        scancodes,
        typed,
        typed_len,
        timeout_at,
    };
    if summary.typed() != TYPED {
        return Err("the decoded keys differ from what was typed");
    }
    Ok(summary)
}

/// Decodes scancodes from the keyboard interrupt until every typed key and
/// its release arrived; hands each key to the line task (waiting when the
/// channel is full: the line task is slower on purpose).
async fn keyboard_task() -> usize {
    let mut scancodes = 0;
    while scancodes < 2 * TYPED.len() {
        let scancode = keyboard::SCANCODES.recv().await;
        scancodes += 1;
        if let Some(key) = keyboard::decode(scancode) {
            println!("key: {key:?} (scancode {scancode:#04x})");
            KEYS.send(key as u8).await;
        }
    }
    scancodes
}

/// Assembles the typed line from the keys the keyboard task sends, until
/// its newline.
async fn line_task() -> ([u8; 32], usize) {
    let mut typed = [0u8; 32];
    let mut len = 0;
    loop {
        let key = KEYS.recv().await;
        if len < typed.len() {
            typed[len] = key;
            len += 1;
        }
        if key == b'\n' {
            println!("line: {len} keys through a kasync::sync::Channel");
            return (typed, len);
        }
    }
}

/// Prints a line on COM1 for the shared checks.
fn print(line: core::fmt::Arguments<'_>) {
    println!("{line}");
}

fn fail(why: &str) -> ! {
    println!("SELFTEST FAIL: {why}");
    exit(Status::Failure)
}

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    cpu::disable_interrupts();
    println!("SELFTEST FAIL: panic: {info}");
    exit(Status::Failure)
}
