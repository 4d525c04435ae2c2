//! Cortex-M4 firmware that runs kasync's core as its async runtime, with
//! real interrupts and no heap, on QEMU's `mps2-an386` board.
//!
//! * Start-up: cortex-m-rt (vector table, reset, `.data`/`.bss`); the
//!   device's vectors in [`vectors`].
//! * Interrupts, three priorities: the [`kick`] line (highest), SysTick
//!   ([`clock`], 1 kHz, a 64-bit count in two 32-bit halves), the UART's
//!   receive interrupt ([`uart`], lowest) — which raises the kick line, so
//!   interrupts really nest.
//! * Runtime: a static kasync `Executor` that idles with the race-free
//!   `cpsid; check; wfi; cpsie` ([`idle`]), a `Reactor` over `NoIo` whose
//!   timers read SysTick's count, an `IrqQueue` filled by the UART and
//!   `kasync::sync` primitives signalled from interrupts.
//! * Self-test ([`selftest`]): the result goes out on the UART and through
//!   semihosting's exit status ([`semihosting`]).
#![no_std]
#![no_main]

mod clock;
mod idle;
mod kick;
mod selftest;
mod semihosting;
mod uart;
mod vectors;

use core::panic::PanicInfo;
use core::pin::Pin;
use core::time::Duration;

use cortex_m::peripheral::scb::SystemHandler;
use cortex_m::peripheral::{NVIC, Peripherals};
use cortex_m_rt::{ExceptionFrame, entry, exception};
use kasync::executor::Executor;
use kasync::io::{Handle, NoIo, Reactor};

use clock::{CLOCK, SysTicks};
use idle::Wfi;
use vectors::Irq;

/// Priorities (lower number = more urgent; the M4 here keeps the top bits).
const PRIORITY_KICK: u8 = 0x40;
const PRIORITY_SYSTICK: u8 = 0x80;
const PRIORITY_UART: u8 = 0xC0;

/// Task slots: the self-test's workers fill more than one 32-bit word of
/// the executor's ready bitmap.
const TASKS: usize = 48;
/// Bytes a task's future may take in its slot.
const TASK_BYTES: usize = 256;

static WFI: Wfi = Wfi;
static EXECUTOR: Executor<Wfi, TASKS, TASK_BYTES> = Executor::new(Wfi);
type Runner = kasync::Runner<Wfi, TASKS, TASK_BYTES>;

/// One op slot is plenty: the firmware does no I/O through the reactor,
/// only timers.
type FirmwareReactor = Reactor<NoIo<'static, Wfi>, &'static SysTicks, 1, 8>;
type Io = Handle<'static, NoIo<'static, Wfi>, &'static SysTicks, 1, 8>;

/// A value only the run loop touches — never an interrupt handler.
struct RunLoopOnly<T>(T);

// SAFETY: the core has one CPU, and the wrapped reactor is used only by the
// run loop (`main` and the tasks it polls); interrupt handlers touch the
// clock, the queues and the sync primitives, which are made for that.
unsafe impl<T> Sync for RunLoopOnly<T> {}

static REACTOR: RunLoopOnly<FirmwareReactor> = RunLoopOnly(Reactor::new(NoIo::new(&WFI), &CLOCK));

#[entry]
fn main() -> ! {
    let Some(mut cp) = Peripherals::take() else {
        fail("the core peripherals were already taken")
    };
    uart::init();
    println!(
        "kasync-firmware: booted on a Cortex-M4, {} KiB static task storage, no heap",
        size_of_val(&EXECUTOR) / 1024
    );
    // SAFETY: priorities are set before any of the lines is unmasked or
    // started, and nothing relies on a priority except as designed here:
    // the kick line preempts the UART's handler, SysTick sits between.
    unsafe {
        cp.SCB
            .set_priority(SystemHandler::SysTick, PRIORITY_SYSTICK);
        cp.NVIC.set_priority(Irq::Kick, PRIORITY_KICK);
        cp.NVIC.set_priority(Irq::Uart0Rx, PRIORITY_UART);
    }
    // SAFETY: the handlers of both lines are in the vector table and their
    // shared state (queues, atomics, sync primitives) is interrupt-safe.
    unsafe {
        NVIC::unmask(Irq::Kick);
        NVIC::unmask(Irq::Uart0Rx);
    }
    clock::start(&mut cp.SYST);
    println!(
        "kasync-firmware: priorities kick {PRIORITY_KICK:#04x} > SysTick {PRIORITY_SYSTICK:#04x} > UART receive {PRIORITY_UART:#04x}, SysTick at {} Hz",
        clock::TICK_HZ
    );

    let runner = match EXECUTOR.runner() {
        Ok(runner) => runner,
        Err(_) => fail("executor already running"),
    };
    let reactor: Pin<&'static FirmwareReactor> = Pin::static_ref(&REACTOR.0);
    let io = reactor.handle();
    let outcome = runner.block_on_with(&*reactor, async {
        io.timeout(
            Duration::from_secs(10),
            selftest::run(&runner, io, &mut cp.SYST),
        )
        .await
    });
    match outcome {
        Ok(Ok(())) => {
            println!("SELFTEST PASS");
            semihosting::exit(0)
        }
        Ok(Err(why)) => fail(why),
        Err(_) => {
            selftest::report_stuck();
            fail("self-test did not finish within 10 s of SysTick time")
        }
    }
}

/// 1 kHz: the clock's tick, and the self-test's permits.
#[exception]
fn SysTick() {
    CLOCK.tick();
    selftest::on_tick();
}

fn fail(why: &str) -> ! {
    println!("SELFTEST FAIL: {why}");
    semihosting::exit(semihosting::FAILED)
}

#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    // Printing from a handler is fine here: nothing runs after it.
    println!("SELFTEST FAIL: hard fault at pc {:#010x}", frame.pc());
    semihosting::exit(semihosting::FAILED)
}

#[exception]
unsafe fn DefaultHandler(irqn: i16) {
    println!("SELFTEST FAIL: unexpected exception or interrupt {irqn}");
    semihosting::exit(semihosting::FAILED)
}

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    cortex_m::interrupt::disable();
    println!("SELFTEST FAIL: panic: {info}");
    semihosting::exit(semihosting::FAILED)
}
