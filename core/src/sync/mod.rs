//! Coordination between tasks — and from interrupt handlers to tasks —
//! without an allocator.
//!
//! | type | what it is | from an interrupt handler |
//! |---|---|---|
//! | [`Channel<T, N>`](Channel) | bounded MPMC queue | `try_send`, `try_recv` |
//! | [`Signal<T>`](Signal) | latest value wins | `signal` |
//! | [`Mutex<T>`](Mutex) | async mutex, FIFO | — |
//! | [`Semaphore`] | counting semaphore, FIFO | `release` |
//! | [`PubSub<T, N, SUBS>`](PubSub) | broadcast with a stated policy for slow subscribers | — |
//!
//! Every constructor is a `const fn`, so each of these is a plain
//! `static`. Waiting tasks are kept in their own futures, linked into an
//! intrusive list (the way the op table keeps the operations waiting for a
//! slot): no allocation, and no limit on how many tasks wait.
//!
//! # Contexts
//!
//! The operations in the last column never wait for another context and
//! never allocate or panic: they either do their work with atomic
//! operations, or find the waiter list busy and leave a request in its
//! lock word that the context holding it serves before letting go. Waiting
//! (`send`, `recv`, `wait`, `lock`, `acquire`, `publish`, `next_message`)
//! and the other `try_` operations happen in tasks, which may spin for the
//! few instructions another thread's task holds a list — never on an
//! interrupt handler, since those only ever leave requests.
//!
//! # Dropped futures
//!
//! A waiting future that is dropped takes its waiter out of the list; if
//! it had already been handed what it waited for (a permit, the mutex, the
//! news of a value), that goes on to the next waiter. Wakers are woken,
//! and replaced wakers dropped, only after the list is released, so a
//! panicking waker cannot leave a list locked.
//!
//! ```
//! use kasync::sync::{Channel, Mutex};
//!
//! static JOBS: Channel<u32, 4> = Channel::new();
//! static DONE: Mutex<u32> = Mutex::new(0);
//!
//! async fn worker() {
//!     let job = JOBS.recv().await;
//!     *DONE.lock().await += job;
//! }
//! # JOBS.try_send(5).unwrap();
//! # futures_util::FutureExt::now_or_never(worker()).unwrap();
//! # assert_eq!(*DONE.try_lock().unwrap(), 5);
//! ```

mod channel;
mod mutex;
mod pubsub;
mod semaphore;
mod signal;
mod spin;
mod wait_queue;

pub use channel::{Channel, Recv, Send};
pub use mutex::{Lock, Mutex, MutexGuard};
pub use pubsub::{NextMessage, PubSub, Publish, Subscriber, SubscribersFull, WaitResult};
pub use semaphore::{Acquire, Permit, Semaphore};
pub use signal::{Signal, Wait};
