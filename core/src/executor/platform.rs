//! The two things the executor needs from the machine it runs on: a way to
//! sleep when there is nothing to do, and a way to end that sleep from any
//! other context.

use super::shared::Shared;

/// How the run loop idles and how it is woken up.
///
/// # The idle contract
///
/// The run loop calls [`park`](Platform::park) when it found no ready work.
/// A wake can land between that check and the moment the platform really
/// sleeps — from an interrupt handler or another thread. `park` must
/// therefore re-check [`Idle::is_idle`] *after* arming its wake-up
/// mechanism, and [`pend`](Platform::pend) must make a sleep that is armed
/// but not yet entered return at once. Then no wake is ever lost:
///
/// * **Kernel** (`hlt`): disable interrupts, re-check, then `sti; hlt` as one
///   instruction pair (x86 `enable_and_hlt`), so an interrupt that arrives
///   after the check still ends the `hlt`. `pend` can do nothing: the
///   interrupt that called the waker already woke the CPU.
/// * **Threads**: remember the parked thread, re-check, `thread::park()`;
///   `pend` unparks it (an unpark before the park makes the park return).
///   See [`ThreadPlatform`](crate::executor::ThreadPlatform).
/// * **io_uring**: keep an eventfd read armed in the ring, re-check, wait for
///   a completion; `pend` writes the eventfd.
///
/// The executor calls `pend` only while the run loop is inside `park`: it
/// flags that in the ready queue's summary word before calling `park`, and
/// the wake that makes the first work visible to the sleeping run loop
/// reads the flag in the same atomic operation, so a busy run loop costs
/// wakers nothing — important where `pend` is a system call (an eventfd
/// write). A `pend` can still arrive just after
/// `park` returned; the next `park` may then return at once, which is
/// harmless.
///
/// Between the platform's arming and its `Idle::is_idle` check, and between
/// `pend`'s enqueue and its own signal, the platform needs its own ordering
/// (a `SeqCst` fence, or a read-modify-write on one location as
/// [`ThreadPlatform`](crate::executor::ThreadPlatform) does).
///
/// `pend` is called from wakers, i.e. from interrupt handlers and foreign
/// threads: it must be lock-free, must not allocate and must not panic.
///
/// # Example: an x86 kernel
///
/// ```
/// use kasync::executor::{Idle, Platform};
/// # mod interrupts { // stand-ins for `x86_64::instructions::interrupts`
/// #     pub fn disable() {}
/// #     pub fn enable() {}
/// #     pub fn enable_and_hlt() {}
/// # }
///
/// struct Hlt;
/// impl Platform for Hlt {
///     fn pend(&self) {} // the waking interrupt already ended `hlt`
///     fn park(&self, idle: &Idle<'_>) {
///         interrupts::disable();
///         if idle.is_idle() {
///             interrupts::enable_and_hlt(); // atomic: no wake slips in between
///         } else {
///             interrupts::enable();
///         }
///     }
/// }
/// ```
pub trait Platform: Sync {
    /// Ends a current or imminent [`park`](Platform::park). Called from any
    /// context; must be lock-free, allocation-free and must not panic.
    fn pend(&self);

    /// Sleeps until [`pend`](Platform::pend) is called or something else
    /// makes work ready; returns at once if `idle.is_idle()` is `false`
    /// after the wake-up mechanism is armed. Spurious returns are allowed.
    fn park(&self, idle: &Idle<'_>);
}

/// A platform for executors that are only ever driven by
/// [`Runner::tick`](crate::executor::Runner::tick) from code that polls
/// anyway (a game loop, a test): `pend` does nothing, `park` spins once.
#[derive(Debug, Default, Clone, Copy)]
pub struct Spin;

impl Platform for Spin {
    fn pend(&self) {}
    fn park(&self, _idle: &Idle<'_>) {
        core::hint::spin_loop();
    }
}

/// What [`Platform::park`] may ask the run loop: is there still nothing to do?
pub struct Idle<'a> {
    shared: Option<&'a Shared>,
}

impl<'a> Idle<'a> {
    pub(crate) fn new(shared: &'a Shared) -> Self {
        Self {
            shared: Some(shared),
        }
    }

    /// An `Idle` outside any run loop, which is always idle: for parking a
    /// backend when no executor is involved (such as a reactor's shutdown).
    pub const fn detached() -> Idle<'static> {
        Idle { shared: None }
    }

    /// `true` when no task and no `block_on` future is ready to run, i.e.
    /// sleeping now cannot lose a wake that already happened.
    pub fn is_idle(&self) -> bool {
        self.shared.is_none_or(|shared| shared.ready.is_empty())
    }
}
