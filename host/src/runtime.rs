//! The runtime: kasync's executor and reactor on one io_uring — or on
//! readiness where io_uring is unavailable — one per thread.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::time::{Duration, Instant};

use kasync::chunk::Growth;
use kasync::executor::{Drive, Executor, Idle, JoinHandle, Rejected, Runner, SpawnError};
use kasync::io::{Handle, Reactor};

use crate::backend::{Backend, Config, HostDriver, HostPlatform, SetupError};
use crate::chunk_memory::GlobalChunks;
use kasync::time::Clock;
use kasync_ops::DriverFailure;
#[cfg(target_os = "linux")]
use kasync_uring::Flags;

/// Task slots a runtime keeps inline; more are added on demand in chunks
/// of [`CHUNK_SLOTS`], up to [`Builder::max_tasks`].
pub const TASKS: usize = 256;
/// Bytes per task slot; larger futures are boxed by [`spawn`].
pub const TASK_BYTES: usize = 640;
/// Operation slots a runtime keeps inline; more are added on demand in
/// chunks of [`CHUNK_SLOTS`], up to [`Builder::max_operations`].
pub const OPS: usize = 256;
/// Bytes per operation slot: the largest operation the host submits fits
/// (`SendTo`/`RecvFrom`, 240 bytes; an idle connection's multishot receive
/// is 56).
pub const OP_BYTES: usize = 256;
/// Slots per chunk when the task or operation table grows.
pub const CHUNK_SLOTS: usize = 256;
/// The most tasks one runtime can hold (the ready queue's size).
pub const MAX_TASKS: usize = 262_144;
/// The most operations one runtime can have in flight, unless
/// [`Builder::max_operations`] sets fewer.
pub const MAX_OPERATIONS: usize = 1 << 20;
/// Receive buffers a runtime registers for multishot receives
/// ([`Socket::recv_multi`](crate::net::Socket::recv_multi)) unless
/// [`Runtime::register_recv_buffers`] chose others first.
pub const RECV_BUFFERS: u16 = 512;
/// Bytes per receive buffer (see [`RECV_BUFFERS`]).
pub const RECV_BUFFER_BYTES: usize = 4096;

/// Microseconds since the runtime's clock started.
#[derive(Debug, Clone, Copy)]
pub struct MonotonicClock {
    start: Instant,
}

impl MonotonicClock {
    fn new() -> Self {
        Self {
            start: Instant::now(),
        }
    }
}

impl MonotonicClock {
    /// The tick at `instant`, rounded up (a deadline is never early); 0 for
    /// an instant before the clock started.
    pub fn tick_at(&self, instant: Instant) -> u64 {
        let since = instant.saturating_duration_since(self.start);
        u64::try_from(since.as_nanos().div_ceil(1_000)).unwrap_or(u64::MAX)
    }

    /// The instant of `tick`.
    pub fn instant_at(&self, tick: u64) -> Instant {
        self.start + Duration::from_micros(tick)
    }
}

impl Clock for MonotonicClock {
    fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX)
    }
    fn ticks_per_second(&self) -> u64 {
        1_000_000
    }
}

type HostExecutor = Executor<HostPlatform, TASKS, TASK_BYTES>;
type HostRunner = Runner<HostPlatform, TASKS, TASK_BYTES>;
type HostReactor = Reactor<HostDriver, MonotonicClock, OPS, OP_BYTES>;
/// The handle tasks submit operations and start timers with.
pub type Io = Handle<'static, HostDriver, MonotonicClock, OPS, OP_BYTES>;

/// An executor and a reactor that live for the rest of the program:
/// wakers and in-flight operations point into them, so their memory is
/// never freed — a runtime that is dropped hands its core back for the next
/// runtime on this thread instead.
struct Core {
    executor: HostExecutor,
    reactor: HostReactor,
    /// How its ring was set up and its tables grow: a spare core serves
    /// only a runtime that asks for the same.
    settings: Settings,
    /// Spawners waiting for a free task slot ([`spawn_when_free`]).
    slot_waiters: SlotWaiters,
}

/// What a [`Core`] is built with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Settings {
    backend: Backend,
    config: Config,
    max_tasks: usize,
    max_operations: usize,
}

thread_local! {
    /// Cores of dropped runtimes, ready for reuse on this thread.
    static SPARE: RefCell<Vec<&'static Core>> = const { RefCell::new(Vec::new()) };
    /// The runtime whose `block_on` is running on this thread.
    static CURRENT: Cell<Option<(&'static Core, *const HostRunner)>> = const { Cell::new(None) };
}

/// Settings for a [`Runtime`]: the ring's size and setup flags, and the
/// most tasks and operations it may hold.
///
/// Tasks and operations live in tables that grow on demand: [`TASKS`] task
/// slots of [`TASK_BYTES`] and [`OPS`] operation slots of [`OP_BYTES`]
/// inline, then chunks of [`CHUNK_SLOTS`] slots that never move, up to
/// [`MAX_TASKS`] tasks and [`MAX_OPERATIONS`] operations per runtime —
/// in practice the descriptor limit comes first. Larger futures are boxed
/// by [`spawn`]. [`max_tasks`](Builder::max_tasks) and
/// [`max_operations`](Builder::max_operations) set a lower ceiling; at a
/// ceiling a spawn is an error value ([`SpawnError::Full`], or wait with
/// [`spawn_when_free`]) and an operation waits for a free slot — never a
/// panic.
///
/// A panic in a spawned task is the task's business, as in tokio: the
/// default panic hook prints its message once, the task's [`JoinHandle`]
/// yields [`JoinError::Panicked`](kasync::JoinError::Panicked), and the
/// runtime and every other task go on.
/// [`abort_on_task_panic`](Builder::abort_on_task_panic) makes such a
/// panic end the process instead. A panic in the future given to
/// [`Runtime::block_on`] propagates to its caller either way.
#[derive(Debug, Clone, Copy)]
pub struct Builder {
    backend: Backend,
    config: Config,
    max_tasks: usize,
    max_operations: usize,
    abort_on_task_panic: bool,
}

impl Default for Builder {
    fn default() -> Self {
        Self {
            backend: Backend::Auto,
            config: Config::default(),
            max_tasks: MAX_TASKS,
            max_operations: MAX_OPERATIONS,
            abort_on_task_panic: false,
        }
    }
}

impl Builder {
    /// Default settings: 256 ring entries, all setup flags tried, tables
    /// that grow up to [`MAX_TASKS`] and [`MAX_OPERATIONS`].
    ///
    /// ```
    /// let rt = kasync_host::Builder::new().ring_entries(64).build()?;
    /// assert_eq!(rt.block_on(async { 1 + 1 }), 2);
    /// # Ok::<(), kasync_host::SetupError>(())
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// The most tasks the runtime holds at once (unfinished tasks and
    /// finished ones whose handle still waits), from 1 to [`MAX_TASKS`].
    /// At the limit [`spawn`] fails with [`SpawnError::Full`], and
    /// [`spawn_when_free`] waits for a slot.
    ///
    /// ```
    /// use kasync::SpawnError;
    ///
    /// let rt = kasync_host::Builder::new().max_tasks(2).build()?;
    /// rt.block_on(async {
    ///     let a = kasync_host::spawn(async { 1 }).unwrap();
    ///     let b = kasync_host::spawn(async { 2 }).unwrap();
    ///     assert_eq!(kasync_host::spawn(async { 3 }).unwrap_err(), SpawnError::Full);
    ///     assert_eq!(a.await.unwrap() + b.await.unwrap(), 3);
    ///     // Slots came free: this one is spawned.
    ///     let c = kasync_host::spawn_when_free(async { 3 }).await.unwrap();
    ///     assert_eq!(c.await.unwrap(), 3);
    /// });
    /// # Ok::<(), kasync_host::SetupError>(())
    /// ```
    pub fn max_tasks(mut self, max: usize) -> Self {
        self.max_tasks = max;
        self
    }

    /// The most operations (I/O in flight, including the receive each
    /// idle connection keeps pending) the runtime holds at once, from 1 to
    /// [`MAX_OPERATIONS`]. At the limit a submission waits for a free slot
    /// (its future stays pending), first come first served.
    ///
    /// A hard ceiling like this can stall tasks that need more operations
    /// at once than are left — an echo connection holds its receive and,
    /// while it echoes, a send; a server holds its accept. Leave room (two
    /// or three per connection, plus the listeners), or bound connections
    /// with [`max_tasks`](Self::max_tasks) instead, whose limit waits where
    /// the server accepts.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let rt = kasync_host::Builder::new().max_operations(1).build()?;
    /// rt.block_on(async {
    ///     // Two timers of the backend, one operation slot: the second
    ///     // waits for the first to finish, then runs.
    ///     let io = kasync_host::io();
    ///     let a = io.submit(kasync_ops::ops::Timeout::new(Duration::from_millis(1)));
    ///     let b = io.submit(kasync_ops::ops::Timeout::new(Duration::from_millis(1)));
    ///     let (a, b) = futures_util::future::join(a, b).await;
    ///     assert!(a.is_ok() && b.is_ok());
    /// });
    /// # Ok::<(), kasync_host::SetupError>(())
    /// ```
    pub fn max_operations(mut self, max: usize) -> Self {
        self.max_operations = max;
        self
    }

    /// The backend: [`Backend::Auto`] (the default) uses io_uring when it
    /// works here and readiness otherwise, and follows the environment
    /// variable `KASYNC_BACKEND` (`uring`, `poll`, `auto`) when it is set;
    /// [`Backend::Uring`] and [`Backend::Poll`] force one, whatever the
    /// environment says.
    ///
    /// ```
    /// use kasync_host::{Backend, Builder};
    ///
    /// let rt = Builder::new().backend(Backend::Poll).build()?;
    /// assert_eq!(rt.backend(), Backend::Poll);
    /// let n = rt.block_on(async {
    ///     let (a, b) = kasync_host::net::UnixStream::pair()?;
    ///     a.write_all(b"ready?".to_vec()).await.0?;
    ///     let (n, _) = b.read(Vec::with_capacity(16)).await;
    ///     n
    /// })?;
    /// assert_eq!(n, 6);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// Submission-ring entries (io_uring).
    ///
    /// ```
    /// let rt = kasync_host::Builder::new().ring_entries(1024).build()?;
    /// # drop(rt);
    /// // Not a power of two, or beyond what io_uring takes: an error that says so.
    /// # #[cfg(target_os = "linux")]
    /// assert!(kasync_host::Builder::new()
    ///     .backend(kasync_host::Backend::Uring)
    ///     .ring_entries(0)
    ///     .build()
    ///     .is_err());
    /// # Ok::<(), kasync_host::SetupError>(())
    /// ```
    pub fn ring_entries(mut self, entries: u32) -> Self {
        self.config.entries = entries;
        self
    }

    /// The io_uring setup flags to try (each falls back if refused).
    /// `IORING_SETUP_NO_SQARRAY` is always tried (it changes nothing but
    /// the kernel's cost per submission).
    ///
    /// ```
    /// // No DEFER_TASKRUN: completions are processed as they arrive.
    /// let rt = kasync_host::Builder::new().setup_flags(true, false, true).build()?;
    /// if let Some(flags) = rt.flags() {
    ///     println!("io_uring with {flags:?}");
    /// }
    /// # Ok::<(), kasync_host::SetupError>(())
    /// ```
    pub fn setup_flags(
        mut self,
        single_issuer: bool,
        defer_taskrun: bool,
        coop_taskrun: bool,
    ) -> Self {
        self.config.single_issuer = single_issuer;
        self.config.defer_taskrun = defer_taskrun;
        self.config.coop_taskrun = coop_taskrun;
        self
    }

    /// Makes io_uring behave as if the kernel lacked `features` (added to
    /// those the environment variable
    /// [`KASYNC_URING_WITHOUT`](kasync_uring::WITHOUT_VARIABLE) names), so
    /// that a program can be tried on the fallbacks an older kernel runs
    /// (see the [feature table](kasync_uring::features)). Pretending to
    /// lack [`Feature::Base`](kasync_uring::Feature::Base) makes
    /// [`Backend::Auto`] choose the readiness backend, as on a kernel
    /// older than Linux 5.10.
    ///
    /// ```
    /// use kasync_host::Features;
    ///
    /// let like_5_15: Features = "linux-5.15".parse().unwrap();
    /// let rt = kasync_host::Builder::new().io_uring_without(like_5_15).build()?;
    /// if let Some(features) = rt.io_uring_features() {
    ///     assert!(!features.contains(kasync_host::Feature::MultishotAccept));
    /// }
    /// # Ok::<(), kasync_host::SetupError>(())
    /// ```
    #[cfg(target_os = "linux")]
    pub fn io_uring_without(mut self, features: kasync_uring::Features) -> Self {
        self.config.without = self.config.without.or(features);
        self
    }

    /// `true`: a panic in a spawned task aborts the process (after the
    /// panic hook printed it), for programs that prefer to crash and be
    /// restarted. `false` (the default): the task ends as panicked and
    /// everything else goes on.
    ///
    /// ```
    /// let rt = kasync_host::Builder::new().abort_on_task_panic(false).build()?;
    /// rt.block_on(async {
    ///     let task = kasync_host::spawn(async { panic!("this task fails") }).unwrap();
    ///     assert!(task.await.is_err()); // reported, and the runtime goes on
    /// });
    /// # Ok::<(), kasync_host::SetupError>(())
    /// ```
    pub fn abort_on_task_panic(mut self, abort: bool) -> Self {
        self.abort_on_task_panic = abort;
        self
    }

    /// Creates the runtime. Fails with an explanation when the backend it
    /// asks for cannot be used on this machine (with [`Backend::Auto`]:
    /// only if neither can).
    ///
    /// ```
    /// match kasync_host::Builder::new().max_tasks(0).build() {
    ///     Err(e) => assert!(e.to_string().contains("max_tasks")),
    ///     Ok(_) => unreachable!("0 tasks is refused"),
    /// }
    /// ```
    pub fn build(self) -> Result<Runtime, SetupError> {
        if !(1..=MAX_TASKS).contains(&self.max_tasks) {
            return Err(SetupError::BadConfig(format!(
                "max_tasks is {}, but must be between 1 and {MAX_TASKS}",
                self.max_tasks
            )));
        }
        if !(1..=MAX_OPERATIONS).contains(&self.max_operations) {
            return Err(SetupError::BadConfig(format!(
                "max_operations is {}, but must be between 1 and {MAX_OPERATIONS}",
                self.max_operations
            )));
        }
        let backend = match self.backend {
            Backend::Auto => Backend::from_env()?.unwrap_or(Backend::Auto),
            forced => forced,
        };
        #[cfg(target_os = "linux")]
        let config = Config {
            without: self
                .config
                .without
                .or(kasync_uring::Features::from_env().map_err(SetupError::BadConfig)?),
            ..self.config
        };
        #[cfg(not(target_os = "linux"))]
        let config = self.config;
        let settings = Settings {
            backend,
            config,
            max_tasks: self.max_tasks,
            max_operations: self.max_operations,
        };
        let spare = SPARE.with(|spare| {
            let mut spare = spare.borrow_mut();
            let same = spare.iter().rposition(|core| core.settings == settings)?;
            Some(spare.remove(same))
        });
        let core = match spare {
            Some(core) => core,
            None => {
                let (driver, platform, fallback) = HostDriver::new(backend, &config)?;
                if let Some(why) = fallback {
                    report_fallback(&why);
                }
                // Built in place: the core is too large for a stack.
                let mut place = Box::<Core>::new_uninit();
                let core = place.as_mut_ptr();
                let tasks = Growth::new(&GlobalChunks)
                    .chunk_slots(CHUNK_SLOTS)
                    .max_slots(self.max_tasks);
                let operations = Growth::new(&GlobalChunks)
                    .chunk_slots(CHUNK_SLOTS)
                    .max_slots(self.max_operations);
                // SAFETY: every field is initialised in place: the
                // executor and the reactor through `MaybeUninit` views of
                // their own memory, the settings by a raw write; nothing
                // reads the core before `assume_init`.
                let core = unsafe {
                    let executor = HostExecutor::init_growing(
                        &mut *(&raw mut (*core).executor).cast(),
                        platform,
                        tasks,
                    );
                    if executor.is_err() {
                        // As for any allocation that fails in std.
                        std::alloc::handle_alloc_error(std::alloc::Layout::new::<[usize; 4096]>());
                    }
                    HostReactor::init_growing(
                        &mut *(&raw mut (*core).reactor).cast(),
                        driver,
                        MonotonicClock::new(),
                        operations,
                    );
                    (&raw mut (*core).settings).write(settings);
                    (&raw mut (*core).slot_waiters).write(SlotWaiters::default());
                    place.assume_init()
                };
                Box::leak(core)
            }
        };
        let runner = core.executor.runner().expect("a spare core has no runner");
        // Waiters of a runtime that used this core before are gone.
        core.slot_waiters.clear();
        Ok(Runtime {
            core,
            runner: ManuallyDrop::new(runner),
            abort_on_task_panic: self.abort_on_task_panic,
            _not_send: PhantomData,
        })
    }
}

/// A single-threaded runtime on io_uring (or readiness, see
/// [`Builder::backend`]): run futures with
/// [`block_on`](Runtime::block_on), spawn tasks with [`spawn`], do I/O with
/// [`crate::net`] and [`crate::fs`], wait with [`crate::time`].
///
/// ```
/// let rt = kasync_host::Runtime::new()?;
/// let answer = rt.block_on(async {
///     let task = kasync_host::spawn(async { 6 * 7 }).unwrap();
///     task.await.unwrap()
/// });
/// assert_eq!(answer, 42);
/// # Ok::<(), kasync_host::SetupError>(())
/// ```
///
/// Dropping the runtime cancels its tasks and every operation in flight,
/// waits for all their completions (so no buffer is released while the
/// kernel may still write it), and closes the descriptors they produced.
pub struct Runtime {
    core: &'static Core,
    runner: ManuallyDrop<HostRunner>,
    abort_on_task_panic: bool,
    _not_send: PhantomData<*const ()>,
}

impl Runtime {
    /// A runtime with default settings (see [`Builder`]).
    ///
    /// ```
    /// let rt = kasync_host::Runtime::new()?;
    /// println!("running on {}", rt.backend());
    /// # Ok::<(), kasync_host::SetupError>(())
    /// ```
    pub fn new() -> Result<Self, SetupError> {
        Builder::new().build()
    }

    /// The backend this runtime runs on ([`Backend::Uring`] or
    /// [`Backend::Poll`]).
    ///
    /// ```
    /// use kasync_host::{Backend, Runtime};
    ///
    /// let rt = Runtime::new()?;
    /// assert!(matches!(rt.backend(), Backend::Uring | Backend::Poll));
    /// # Ok::<(), kasync_host::SetupError>(())
    /// ```
    pub fn backend(&self) -> Backend {
        self.core.reactor.with_driver(HostDriver::backend)
    }

    /// The io_uring setup flags the kernel accepted (`None` on the
    /// readiness backend). Linux only.
    #[cfg(target_os = "linux")]
    pub fn flags(&self) -> Option<Flags> {
        self.core.reactor.with_driver(|d| d.flags())
    }

    /// The io_uring features this runtime's ring uses (`None` on the
    /// readiness backend): what the kernel has, less what
    /// [`Builder::io_uring_without`] or `KASYNC_URING_WITHOUT` pretend is
    /// missing, and less setup flags [`Builder::setup_flags`] turned off
    /// (so a feature missing here is not always missing from the kernel:
    /// `kasync_uring::probe` tells the two apart). Linux only.
    ///
    /// ```
    /// let rt = kasync_host::Runtime::new()?;
    /// if let Some(features) = rt.io_uring_features() {
    ///     for lacking in kasync_host::Features::ALL.minus(features).iter() {
    ///         println!("no {lacking}: {}", lacking.fallback());
    ///     }
    /// }
    /// # Ok::<(), kasync_host::SetupError>(())
    /// ```
    #[cfg(target_os = "linux")]
    pub fn io_uring_features(&self) -> Option<kasync_uring::Features> {
        self.core.reactor.with_driver(|d| d.features())
    }

    /// Counters of the driver (system calls, completions, …).
    ///
    /// ```
    /// let rt = kasync_host::Runtime::new()?;
    /// rt.block_on(kasync_host::sleep(std::time::Duration::from_millis(1)));
    /// let stats = rt.driver_stats();
    /// println!("{} system calls into the driver so far", stats.enters);
    /// # Ok::<(), kasync_host::SetupError>(())
    /// ```
    pub fn driver_stats(&self) -> kasync_ops::DriverStats {
        self.core.reactor.with_driver(|d| d.stats())
    }

    /// Registers `count` buffers of `size` bytes with this runtime's ring
    /// (once per ring; a runtime that reuses a ring gets its buffers back),
    /// for [`File::read_fixed_at`](crate::fs::File::read_fixed_at) and
    /// friends.
    ///
    /// ```
    /// let rt = kasync_host::Runtime::new()?;
    /// let pool = rt.register_buffers(4, 4096)?;
    /// let mut buf = pool.take().expect("a free buffer");
    /// buf.extend_from_slice(b"registered");
    /// assert_eq!(buf.as_slice(), b"registered");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn register_buffers(
        &self,
        count: u16,
        size: usize,
    ) -> std::io::Result<&'static kasync_ops::FixedBufPool> {
        self.core.reactor.with_driver(|d| match d.fixed_buffers() {
            Some(pool) if pool.buffer_size() >= size => Ok(pool),
            Some(_) => Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "this ring already has registered buffers of a smaller size",
            )),
            None => d.register_buffers(count, size),
        })
    }

    /// Registers `count` receive buffers of `size` bytes (`count` a power
    /// of two up to 32768) for this runtime's multishot receives
    /// ([`Socket::recv_multi`](crate::net::Socket::recv_multi)), instead of
    /// the [`RECV_BUFFERS`] × [`RECV_BUFFER_BYTES`] registered on first
    /// use. Once per ring: a runtime that reuses a ring gets its buffers
    /// back, and asking again for buffers of a different shape is an error.
    ///
    /// On a kernel without provided-buffer rings (before Linux 5.19) this
    /// is an `Unsupported` error and `recv_multi` reads into buffers of its
    /// own: the same bytes, without the shared pool.
    ///
    /// ```
    /// let rt = kasync_host::Runtime::new()?;
    /// match rt.register_recv_buffers(64, 2048) {
    ///     Ok(ring) => assert_eq!((ring.buffers(), ring.buffer_size()), (64, 2048)),
    ///     Err(e) if e.kind() == std::io::ErrorKind::Unsupported => println!("{e}"),
    ///     Err(e) => return Err(e.into()),
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn register_recv_buffers(
        &self,
        count: u16,
        size: usize,
    ) -> std::io::Result<&'static kasync_ops::BufRing> {
        self.core.reactor.with_driver(|d| match d.buf_ring() {
            Some(ring) if ring.buffers() == usize::from(count) && ring.buffer_size() == size => {
                Ok(ring)
            }
            Some(_) => Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "this ring already has receive buffers of another count or size",
            )),
            None => d.register_buf_ring(count, size),
        })
    }

    /// The I/O and timer handle of this runtime.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let rt = kasync_host::Runtime::new()?;
    /// let io = rt.io();
    /// let late = rt.block_on(io.timeout(Duration::from_millis(1), std::future::pending::<()>()));
    /// assert!(late.is_err(), "the timeout fired");
    /// # Ok::<(), kasync_host::SetupError>(())
    /// ```
    pub fn io(&self) -> Io {
        Pin::static_ref(&self.core.reactor).handle()
    }

    /// Runs `future` to completion, running spawned tasks meanwhile.
    ///
    /// # Panics
    /// If called inside another `block_on` on this thread.
    ///
    /// ```
    /// let rt = kasync_host::Runtime::new()?;
    /// let sum = rt.block_on(async {
    ///     let tasks: Vec<_> = (1..=4).map(|i| kasync_host::spawn(async move { i }).unwrap()).collect();
    ///     let mut sum = 0;
    ///     for t in tasks {
    ///         sum += t.await.unwrap();
    ///     }
    ///     sum
    /// });
    /// assert_eq!(sum, 10);
    /// # Ok::<(), kasync_host::SetupError>(())
    /// ```
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        struct Restore(Option<(&'static Core, *const HostRunner)>);
        impl Drop for Restore {
            fn drop(&mut self) {
                CURRENT.with(|c| c.set(self.0));
            }
        }
        let runner: &HostRunner = &self.runner;
        let previous = CURRENT.with(|c| c.replace(Some((self.core, runner as *const HostRunner))));
        assert!(
            previous.is_none(),
            "block_on cannot be nested on one thread"
        );
        let _restore = Restore(previous);
        let mut future = std::pin::pin!(future);
        let root_panicked = Cell::new(false);
        loop {
            let root = Root {
                future: future.as_mut(),
                panicked: &root_panicked,
            };
            // One `catch_unwind` per `block_on`, none per loop turn: a panic
            // of user code — a task's poll, or what the reactor's turn and
            // park run on the tasks' behalf (wakers, `orphaned`, `release`,
            // the drop of an abandoned operation, a retried `build`) —
            // unwinds out of the run loop after the executor and the
            // reactor settled their state; the loop is simply entered
            // again. `AssertUnwindSafe`: nothing else is observed after the
            // unwind, and the root future is only polled again if its own
            // poll did not panic.
            let drive = HostDrive {
                reactor: &self.core.reactor,
                executor: &self.core.executor,
                waiters: &self.core.slot_waiters,
            };
            let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.runner.block_on_with(&drive, root)
            }));
            match run {
                Ok(output) => return output,
                // The panic hook printed it; the root's and the backend's
                // own failures are the caller's.
                Err(payload) if root_panicked.get() || payload.is::<DriverFailure>() => {
                    std::panic::resume_unwind(payload)
                }
                Err(_) if self.abort_on_task_panic => std::process::abort(),
                Err(_) => {}
            }
        }
    }
}

/// The reactor, plus the wake-up of spawners waiting for a free task slot
/// ([`spawn_when_free`]) whenever a slot became free — checked on every
/// loop turn and before every park (so a slot freed by the last task to
/// run does not leave its waiters asleep).
struct HostDrive<'a> {
    reactor: &'a HostReactor,
    executor: &'a HostExecutor,
    waiters: &'a SlotWaiters,
}

impl HostDrive<'_> {
    fn wake_slot_waiters(&self) {
        if self.waiters.any.get() {
            self.waiters.wake_if_freed(self.executor.freed_slots());
        }
    }
}

impl Drive for HostDrive<'_> {
    fn turn(&self) {
        self.reactor.turn();
        self.wake_slot_waiters();
    }

    fn park(&self, idle: &Idle<'_>) {
        // A woken waiter makes the loop busy: the park then returns at once.
        self.wake_slot_waiters();
        self.reactor.park(idle);
    }
}

/// Spawners waiting for a free task slot of one runtime. Each waiter has
/// one entry until the list is drained (its ticket names it), so a waiter
/// polled again does not add another.
#[derive(Default)]
struct SlotWaiters {
    /// `wakers` is not empty (checked every loop turn without a borrow).
    any: Cell<bool>,
    /// `Executor::freed_slots` when they were last woken.
    seen: Cell<usize>,
    /// Bumped every time the list is drained.
    epoch: Cell<u64>,
    wakers: RefCell<Vec<std::task::Waker>>,
}

/// A waiter's place in [`SlotWaiters`]: the epoch and index of its entry.
type Ticket = Option<(u64, usize)>;

impl SlotWaiters {
    fn wait(&self, waker: &std::task::Waker, ticket: &mut Ticket) {
        let mut wakers = self.wakers.borrow_mut();
        match *ticket {
            Some((epoch, i)) if epoch == self.epoch.get() && i < wakers.len() => {
                if !wakers[i].will_wake(waker) {
                    wakers[i] = waker.clone();
                }
            }
            _ => {
                *ticket = Some((self.epoch.get(), wakers.len()));
                wakers.push(waker.clone());
            }
        }
        self.any.set(true);
    }

    /// Wakes every waiter if a slot was freed since they were last woken.
    fn wake_if_freed(&self, freed: usize) {
        if self.seen.replace(freed) == freed {
            return;
        }
        let wakers = std::mem::take(&mut *self.wakers.borrow_mut());
        self.epoch.set(self.epoch.get() + 1);
        self.any.set(false);
        wakers.into_iter().for_each(std::task::Waker::wake);
    }

    /// Forgets every waiter (of a runtime that is gone).
    fn clear(&self) {
        drop(std::mem::take(&mut *self.wakers.borrow_mut()));
        self.epoch.set(self.epoch.get() + 1);
        self.any.set(false);
    }
}

/// The future given to [`Runtime::block_on`], which notes whether a panic
/// came out of its own poll.
struct Root<'a, F> {
    future: Pin<&'a mut F>,
    panicked: &'a Cell<bool>,
}

impl<F: Future> Future for Root<'_, F> {
    type Output = F::Output;

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        /// Marks the root as panicked if dropped by an unwind.
        struct Mark<'a>(&'a Cell<bool>);
        impl Drop for Mark<'_> {
            fn drop(&mut self) {
                self.0.set(true);
            }
        }
        let mark = Mark(self.panicked);
        let poll = self.future.as_mut().poll(cx);
        std::mem::forget(mark);
        poll
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // Cancel and drop every task first (dropping their operations
        // orphans them: buffers stay until the kernel is done), then wait
        // for the kernel to finish with every operation, then keep the core
        // for the next runtime on this thread. A task whose drop panics is
        // the task's business here too: the others are dropped all the
        // same, and the shutdown still waits for the kernel.
        // `AssertUnwindSafe`: the executor and the reactor settle their
        // state before running user code.
        let runner = &mut self.runner;
        let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            // SAFETY: the runner is not used after this line (also if the
            // drop unwinds: the runtime is being dropped).
            unsafe { ManuallyDrop::drop(runner) }
        }));
        if dropped.is_err() && self.abort_on_task_panic {
            std::process::abort();
        }
        // User code run by the shutdown (wakers, `orphaned`) may panic; the
        // reactor stays consistent, so try again. A shutdown that keeps
        // failing leaves the core out of the spare list (it is never freed
        // either way: the kernel may still hold its operations).
        for attempt in 1..=3 {
            let reactor = &self.core.reactor;
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| reactor.shutdown())) {
                Ok(()) => {
                    SPARE.with(|spare| spare.borrow_mut().push(self.core));
                    return;
                }
                Err(payload) if attempt == 3 => std::panic::resume_unwind(payload),
                Err(_) => {}
            }
        }
    }
}

/// Runs `f` with the current runtime's core and runner.
///
/// # Panics
/// Outside [`Runtime::block_on`].
fn with_current<R>(f: impl FnOnce(&'static Core, &HostRunner) -> R) -> R {
    let (core, runner) = CURRENT
        .with(Cell::get)
        .expect("no kasync runtime is running on this thread: call this inside Runtime::block_on");
    // SAFETY: `runner` points at the `Runtime` whose `block_on` is running
    // on this thread (it is reset before that call returns), and the
    // reference does not outlive `f`.
    f(core, unsafe { &*runner })
}

/// The current runtime's I/O and timer handle.
///
/// # Panics
/// Outside [`Runtime::block_on`].
///
/// ```
/// use std::time::Duration;
///
/// kasync_host::Runtime::new()?.block_on(async {
///     let io = kasync_host::io();
///     io.sleep(Duration::from_millis(1)).await;
///     assert!(io.timeout(Duration::from_millis(1), std::future::pending::<()>()).await.is_err());
/// });
/// # Ok::<(), kasync_host::SetupError>(())
/// ```
pub fn io() -> Io {
    with_current(|core, _| Pin::static_ref(&core.reactor).handle())
}

/// The current runtime's receive buffers, registered with the defaults on
/// first use.
///
/// # Panics
/// Outside [`Runtime::block_on`].
pub(crate) fn recv_buffers() -> std::io::Result<&'static kasync_ops::BufRing> {
    io().reactor().with_driver(|d| match d.buf_ring() {
        Some(ring) => Ok(ring),
        None => d.register_buf_ring(RECV_BUFFERS, RECV_BUFFER_BYTES),
    })
}

/// `true` if the current runtime's driver runs multishot accepts.
///
/// # Panics
/// Outside [`Runtime::block_on`].
pub(crate) fn multishot_accept() -> bool {
    io().reactor().with_driver(|d| d.multishot_accept())
}

/// `true` if the current runtime's driver runs multishot receives.
///
/// # Panics
/// Outside [`Runtime::block_on`].
pub(crate) fn multishot_recv() -> bool {
    io().reactor().with_driver(|d| d.multishot_recv())
}

/// The current runtime's handle, or `None` outside
/// [`Runtime::block_on`].
pub(crate) fn try_io() -> Option<Io> {
    CURRENT
        .with(Cell::get)
        .map(|(core, _)| Pin::static_ref(&core.reactor).handle())
}

/// Spawns a task on the current runtime. Futures larger than a task slot
/// are boxed. A runtime at its [`max_tasks`](Builder::max_tasks) is
/// [`SpawnError::Full`] (use [`spawn_when_free`] to wait for a slot
/// instead); with no memory for more slots, [`SpawnError::OutOfMemory`].
///
/// # Panics
/// Outside [`Runtime::block_on`].
///
/// ```
/// kasync_host::Runtime::new()?.block_on(async {
///     let task = kasync_host::spawn(async { "done" }).expect("a free task slot");
///     assert_eq!(task.await.unwrap(), "done");
///     // Dropping a handle detaches the task: it runs on.
///     drop(kasync_host::spawn(async {}).unwrap());
/// });
/// # Ok::<(), kasync_host::SetupError>(())
/// ```
pub fn spawn<F>(future: F) -> Result<JoinHandle<F::Output>, SpawnError>
where
    F: Future + 'static,
    F::Output: 'static,
{
    try_spawn(Spawnable::new(future)).map_err(|rejected| rejected.error)
}

/// Spawns a task that nobody joins (tokio's `tokio::spawn(…);` with the
/// handle ignored): [`spawn`] without a [`JoinHandle`], and a little
/// cheaper — a task without a handle whose output needs no drop is freed
/// the moment it finishes. The `Result` is only the spawn's: a runtime at
/// its [`max_tasks`](Builder::max_tasks) is [`SpawnError::Full`] (or wait
/// with [`spawn_when_free`]).
///
/// # Panics
/// Outside [`Runtime::block_on`].
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
///
/// kasync_host::Runtime::new()?.block_on(async {
///     let done = Rc::new(Cell::new(false));
///     let seen = done.clone();
///     kasync_host::spawn_detached(async move { seen.set(true) }).expect("a free slot");
///     kasync_host::time::sleep(std::time::Duration::from_millis(1)).await;
///     assert!(done.get());
/// });
/// # Ok::<(), kasync_host::SetupError>(())
/// ```
pub fn spawn_detached<F>(future: F) -> Result<(), SpawnError>
where
    F: Future + 'static,
    F::Output: 'static,
{
    with_current(|_, runner| match Spawnable::new(future) {
        Spawnable::Inline(f) => runner
            .spawn_local_detached_or_return(f)
            .map_err(|r| r.error),
        Spawnable::Boxed(f) => runner
            .spawn_local_detached_or_return(f)
            .map_err(|r| r.error),
    })
}

/// Spawns a task on the current runtime, waiting while every task slot is
/// taken ([`Builder::max_tasks`] reached, or no memory for more): the
/// back-pressure a server applies instead of dropping a connection. The
/// wait ends when a slot becomes free: a task finishes with no handle, or a
/// finished task's [`JoinHandle`] is awaited or dropped (a slot freed by
/// dropping a handle on another thread is noticed at the runtime's next
/// wake-up).
///
/// Fails only for what waiting cannot fix: an output larger than a task
/// slot ([`SpawnError::TooLarge`]).
///
/// # Panics
/// Outside [`Runtime::block_on`].
///
/// ```
/// let rt = kasync_host::Builder::new().max_tasks(1).build()?;
/// rt.block_on(async {
///     let first = kasync_host::spawn(kasync_host::sleep(std::time::Duration::from_millis(2))).unwrap();
///     drop(first); // detached: it still holds the only slot while it sleeps
///     // Waits until the sleeper finishes, then runs.
///     let second = kasync_host::spawn_when_free(async { 2 }).await.unwrap();
///     assert_eq!(second.await.unwrap(), 2);
/// });
/// # Ok::<(), kasync_host::SetupError>(())
/// ```
pub async fn spawn_when_free<F>(future: F) -> Result<JoinHandle<F::Output>, SpawnError>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let mut future = Some(Spawnable::new(future));
    let mut ticket: Ticket = None;
    std::future::poll_fn(move |cx| {
        let spawnable = future.take().expect("polled after completion");
        match try_spawn(spawnable) {
            Ok(handle) => std::task::Poll::Ready(Ok(handle)),
            Err(Rejected {
                error: SpawnError::Full | SpawnError::OutOfMemory,
                future: back,
            }) => {
                future = Some(back);
                with_current(|core, _| core.slot_waiters.wait(cx.waker(), &mut ticket));
                std::task::Poll::Pending
            }
            Err(rejected) => std::task::Poll::Ready(Err(rejected.error)),
        }
    })
    .await
}

/// A future to spawn: in place if it fits a task slot, else boxed.
enum Spawnable<F: Future> {
    Inline(F),
    Boxed(Pin<Box<F>>),
}

impl<F: Future> Spawnable<F> {
    fn new(future: F) -> Self {
        if std::mem::size_of::<F>() <= TASK_BYTES && std::mem::align_of::<F>() <= 16 {
            Spawnable::Inline(future)
        } else {
            Spawnable::Boxed(Box::pin(future))
        }
    }
}

/// Spawns `future` on the current runtime, handing it back if no slot is
/// free.
fn try_spawn<F>(future: Spawnable<F>) -> Result<JoinHandle<F::Output>, Rejected<Spawnable<F>>>
where
    F: Future + 'static,
    F::Output: 'static,
{
    with_current(|_, runner| match future {
        Spawnable::Inline(f) => runner.spawn_local_or_return(f).map_err(|r| Rejected {
            error: r.error,
            future: Spawnable::Inline(r.future),
        }),
        Spawnable::Boxed(f) => runner.spawn_local_or_return(f).map_err(|r| Rejected {
            error: r.error,
            future: Spawnable::Boxed(r.future),
        }),
    })
}

/// Says once per process, on stderr, why a runtime runs on readiness
/// instead of io_uring.
fn report_fallback(why: &str) {
    static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !SAID.swap(true, std::sync::atomic::Ordering::Relaxed) {
        eprintln!(
            "kasync: using the readiness backend (epoll), because {why} \
             (set KASYNC_BACKEND=poll to choose it and silence this)"
        );
    }
}
