//! The self-test: tasks fed by interrupts, checked and reported on the UART.
//!
//! * uart, first burst: `run.sh` writes [`FIRST_BURST`] bytes `0, 1, …`
//!   into QEMU's serial input. The reader waits until the receive interrupt
//!   had to drop a byte (its [`IrqQueue`](kasync::IrqQueue) is full — a
//!   reader that fell behind), then drains: every byte is received in order
//!   or counted as dropped.
//! * uart, second burst: SysTick is stopped, the reader says on the UART
//!   that it waits, and only then does `run.sh` send the rest. Nothing but
//!   the UART's interrupts can wake the core now: the reader must be woken
//!   by them out of `wfi`, byte after byte, to the last.
//! * kick: every 8th byte the receive interrupt raises the higher-priority
//!   kick interrupt, which preempts it at once and sends its sequence
//!   number through a `kasync::sync::Channel`; every kick is received or
//!   counted, every one ran nested and before `raise` returned.
//! * workers: 36 tasks (more than one 32-bit word of ready bits) wait on a
//!   `kasync::sync::Semaphore` that the SysTick interrupt releases one
//!   permit per tick.
//! * ticker: five sleeps of 25 ticks, across the 32-bit wrap of SysTick's
//!   count; timeouts fire and do not fire.
//!
//! `run.sh` reads [`FIRST_BURST`], [`SENT`], [`KICK_EVERY`](crate::uart::KICK_EVERY)
//! and [`WORKERS`] from this source: keep their `pub const` lines simple.

use core::future::poll_fn;
use core::sync::atomic::{AtomicU32, Ordering};
use core::time::Duration;

use cortex_m::peripheral::SYST;
use kasync::JoinHandle;
use kasync::sync::{Semaphore, Signal};
use kasync::time::Clock;

use crate::clock::{self, CLOCK};
use crate::idle::SLEEPS;
use crate::uart::{self, KICK_EVERY};
use crate::{Io, Runner, kick, println};

/// Bytes `run.sh` writes to the UART at first: `0, 1, …, FIRST_BURST - 1`.
pub const FIRST_BURST: u32 = 100;
/// Bytes it writes in all: the second burst is `FIRST_BURST, …, SENT - 1`.
pub const SENT: u32 = 200;
/// Kick interrupts the receive interrupt raises for them.
const KICKS: u32 = SENT / KICK_EVERY;
/// Worker tasks.
pub const WORKERS: u32 = 36;
const TICKER_LINES: u64 = 5;
const TICKER_EVERY: u64 = 25;

const _: () = assert!(
    FIRST_BURST as usize > uart::QUEUE,
    "the first burst must overflow the receive queue"
);
const _: () = assert!(
    SENT > FIRST_BURST && SENT <= 256,
    "bytes are 0..SENT, one byte each"
);

/// Permits for the workers, released from the SysTick interrupt.
static WORK: Semaphore = Semaphore::new(0);
/// Permits SysTick still has to release (only SysTick writes it).
static PERMITS_LEFT: AtomicU32 = AtomicU32::new(WORKERS);
/// Workers that got their permit.
static GRANTED: AtomicU32 = AtomicU32::new(0);
/// From the reader to `run`: the first burst is accounted for.
static FIRST_DRAINED: Signal<()> = Signal::new();
/// From `run` to the reader: SysTick is stopped, ask for the rest.
static SECOND_BURST: Signal<()> = Signal::new();
/// Bytes the reader received so far (for the report when stuck).
static RECEIVED_SO_FAR: AtomicU32 = AtomicU32::new(0);

/// Called by the SysTick exception on every tick.
pub fn on_tick() {
    let left = PERMITS_LEFT.load(Ordering::Relaxed);
    if left > 0 {
        PERMITS_LEFT.store(left - 1, Ordering::Relaxed);
        WORK.release(1);
    }
}

/// Runs the self-test; `Err` says what failed.
pub async fn run(runner: &Runner, io: Io, syst: &mut SYST) -> Result<(), &'static str> {
    let ticker = spawn(
        runner,
        kasync_selftest::ticker(io, TICKER_LINES, TICKER_EVERY, print),
    )?;
    let timeouts = spawn(runner, kasync_selftest::timeouts(io, print))?;
    let reader = spawn(runner, uart_task())?;
    let kicks = spawn(runner, kick_task())?;
    let mut workers: [Option<JoinHandle<u32>>; WORKERS as usize] =
        [const { None }; WORKERS as usize];
    for (id, worker) in workers.iter_mut().enumerate() {
        *worker = Some(spawn(runner, worker_task(id as u32))?);
    }

    let sleeps = ticker.await.map_err(|_| "the ticker task failed")??;
    timeouts.await.map_err(|_| "the timeout task failed")??;
    let now = CLOCK.now();
    if now <= u64::from(u32::MAX) {
        return Err("the clock did not cross its 32-bit wrap");
    }
    println!(
        "clock: {sleeps} sleeps in order across the 32-bit wrap of SysTick's count, now at tick {now:#x}"
    );

    let mut finished = 0;
    for worker in &mut workers {
        if let Some(worker) = worker.take() {
            worker.await.map_err(|_| "a worker failed")?;
            finished += 1;
        }
    }
    let granted = GRANTED.load(Ordering::Relaxed);
    println!(
        "workers: {finished} tasks each took a permit the SysTick interrupt released through a kasync::sync::Semaphore ({granted} granted, {} left over)",
        WORK.available_permits()
    );
    if finished != WORKERS || granted != WORKERS || WORK.available_permits() != 0 {
        return Err("the workers did not get exactly one permit each");
    }

    // The second burst, tickless: only the UART's interrupts (and the kick
    // they raise) can wake the core until the reader is done.
    FIRST_DRAINED.wait().await;
    syst.disable_counter();
    // A tick that was already due is taken here, not after the reading.
    cortex_m::asm::dsb();
    cortex_m::asm::isb();
    let ticks_before = CLOCK.now();
    let sleeps_before = SLEEPS.load(Ordering::Relaxed);
    SECOND_BURST.signal(());
    let report = reader.await.map_err(|_| "the uart task failed")??;
    let tickless_sleeps = SLEEPS.load(Ordering::Relaxed) - sleeps_before;
    let ticked = CLOCK.now() - ticks_before;
    syst.enable_counter();
    println!(
        "uart: {}/{SENT} bytes: {} received in order, {} dropped; the second burst woke the reader {} times out of {tickless_sleeps} wfi sleeps with SysTick stopped ({ticked} ticks)",
        report.received + report.dropped,
        report.received,
        report.dropped,
        report.woken_in_second
    );
    if ticked != 0 {
        return Err("SysTick ticked while it was stopped");
    }
    if report.woken_in_second == 0 || tickless_sleeps == 0 {
        return Err("the second burst never had to wake the reader out of wfi");
    }
    // Anything after the last byte would be a byte never sent.
    io.sleep(Duration::from_millis(20)).await;
    let taken = uart::TAKEN.load(Ordering::Relaxed);
    let overruns = uart::OVERRUNS.load(Ordering::Relaxed);
    println!("uart: the receive interrupt took {taken} bytes, the UART overran {overruns} times");
    if taken != SENT || !uart::RECEIVED.is_empty() {
        return Err("more bytes arrived than were sent");
    }
    if overruns != 0 {
        return Err("the UART lost bytes to overruns");
    }

    let kicked = kicks.await.map_err(|_| "the kick task failed")??;
    let ran = kick::RAN.load(Ordering::Relaxed);
    let nested = kick::NESTED.load(Ordering::Relaxed);
    let at_once = kick::AT_ONCE.load(Ordering::Relaxed);
    println!(
        "kick: {nested}/{ran} kick interrupts ran nested in the UART's, {at_once} before raise() returned; {kicked} events received through a kasync::sync::Channel, {} dropped",
        kick::DROPPED.load(Ordering::Relaxed)
    );
    if ran != KICKS || nested != ran || at_once != ran {
        return Err("the kick interrupt did not preempt the UART's at once, once per 8 bytes");
    }

    let ticks = CLOCK.now();
    let sleeps = SLEEPS.load(Ordering::Relaxed);
    let interrupts = ticks - u64::from(clock::START) + u64::from(taken) + u64::from(ran);
    println!("idle: the run loop went to wfi {sleeps} times; {interrupts} interrupts were taken");
    if sleeps == 0 || u64::from(sleeps) > interrupts {
        return Err("the run loop did not sleep in wfi, or slept more often than it was woken");
    }
    Ok(())
}

/// Prints where the self-test stood when its time ran out.
pub fn report_stuck() {
    println!(
        "stuck: the UART interrupt took {} of {SENT} bytes (first burst {FIRST_BURST}), the reader received {}, the queue dropped {}; {} of {KICKS} kicks ran; {} of {WORKERS} workers granted",
        uart::TAKEN.load(Ordering::Relaxed),
        RECEIVED_SO_FAR.load(Ordering::Relaxed),
        uart::RECEIVED.dropped(),
        kick::RAN.load(Ordering::Relaxed),
        GRANTED.load(Ordering::Relaxed)
    );
}

fn spawn<F>(runner: &Runner, task: F) -> Result<JoinHandle<F::Output>, &'static str>
where
    F: Future + 'static,
    F::Output: 'static,
{
    runner
        .spawn_local(task)
        .map_err(|_| "cannot spawn a task: the executor is full")
}

/// What the reader saw.
struct UartReport {
    received: u32,
    dropped: u32,
    /// Bytes of the second burst the reader had to wait for (woken by the
    /// receive interrupt).
    woken_in_second: u32,
}

/// The receiving end: checks order, counts what it had to wait for.
struct Reader {
    received: u32,
    last: Option<u8>,
    woken: u32,
}

impl Reader {
    /// Receives until `total` bytes are received or counted as dropped.
    async fn until(&mut self, total: u32) -> Result<(), &'static str> {
        loop {
            // A drop happens only while the queue is full, so the bytes
            // still queued are received before it can be missed here.
            let dropped = uart::RECEIVED.dropped() as u32;
            match (self.received + dropped).cmp(&total) {
                core::cmp::Ordering::Equal => return Ok(()),
                core::cmp::Ordering::Greater => return Err("more bytes arrived than were sent"),
                core::cmp::Ordering::Less => {}
            }
            let mut waited = false;
            let byte = poll_fn(|cx| {
                let next = uart::RECEIVED.poll_recv(cx);
                waited |= next.is_pending();
                next
            })
            .await;
            if waited {
                self.woken += 1;
            }
            if self.last.is_some_and(|last| byte <= last) || u32::from(byte) >= SENT {
                return Err("a byte arrived out of order, twice, or was never sent");
            }
            self.last = Some(byte);
            self.received += 1;
            RECEIVED_SO_FAR.store(self.received, Ordering::Relaxed);
        }
    }
}

/// The UART's reader: falls behind on the first burst, then waits for the
/// second with SysTick stopped.
async fn uart_task() -> Result<UartReport, &'static str> {
    let dropped_then = uart::OVERFLOWED.wait().await;
    println!(
        "uart: the reader fell behind: the interrupt's queue of {} was full and {dropped_then} byte(s) dropped",
        uart::QUEUE
    );
    let mut reader = Reader {
        received: 0,
        last: None,
        woken: 0,
    };
    reader.until(FIRST_BURST).await?;
    FIRST_DRAINED.signal(());
    SECOND_BURST.wait().await;
    // run.sh sends the second burst when it reads this line.
    println!("uart: waiting for the rest, SysTick stopped");
    let woken_before = reader.woken;
    reader.until(SENT).await?;
    Ok(UartReport {
        received: reader.received,
        dropped: uart::RECEIVED.dropped() as u32,
        woken_in_second: reader.woken - woken_before,
    })
}

/// Receives the kick interrupt's events until every kick was received or
/// counted as dropped; returns how many were received.
async fn kick_task() -> Result<u32, &'static str> {
    let mut received = 0u32;
    let mut last = 0;
    while received + kick::DROPPED.load(Ordering::Relaxed) < KICKS {
        let seq = kick::EVENTS.recv().await;
        if seq <= last {
            return Err("kick events arrived out of order");
        }
        last = seq;
        received += 1;
    }
    Ok(received)
}

async fn worker_task(id: u32) -> u32 {
    WORK.acquire(1).await.forget();
    GRANTED.fetch_add(1, Ordering::Relaxed);
    id
}

/// Prints a line on the UART for the shared checks.
fn print(line: core::fmt::Arguments<'_>) {
    println!("{line}");
}
