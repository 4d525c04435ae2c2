//! Thread-per-core: one runtime (one ring, one executor) per thread,
//! sharing nothing; listeners bound with `SO_REUSEPORT` let the kernel
//! spread connections across the threads.

use std::future::Future;
use std::io;
use std::thread;

use crate::Runtime;

/// Runs `make(index)` on `threads` threads, each on its own [`Runtime`],
/// and returns their outputs in thread order. A thread whose runtime cannot
/// start (io_uring unavailable) or whose task panics makes this an error.
///
/// ```
/// use kasync_host::per_core;
///
/// // Each thread runs its own runtime; the results come back in order.
/// let squares = per_core(2, |i| async move { i * i })?;
/// assert_eq!(squares, [0, 1]);
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// A server on every core: each thread binds its own listener to the same
/// port, and the kernel spreads the connections (this one serves forever):
///
/// ```no_run
/// use kasync_host::{apps, net::TcpListener, per_core};
///
/// per_core(2, |_| async {
///     let listener = TcpListener::bind_reuseport("127.0.0.1:7000")?;
///     apps::serve_echo(listener).await
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn per_core<F, Fut, T>(threads: usize, make: F) -> io::Result<Vec<T>>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = T>,
    T: Send + 'static,
{
    let make = std::sync::Arc::new(make);
    let handles: Vec<_> = (0..threads.max(1))
        .map(|index| {
            let make = make.clone();
            thread::Builder::new()
                .name(format!("kasync-{index}"))
                .spawn(move || -> io::Result<T> {
                    let rt = Runtime::new().map_err(io::Error::other)?;
                    Ok(rt.block_on(make(index)))
                })
        })
        .collect::<io::Result<_>>()?;
    handles
        .into_iter()
        .map(|h| {
            h.join()
                .map_err(|_| io::Error::other("a runtime thread panicked"))?
        })
        .collect()
}
