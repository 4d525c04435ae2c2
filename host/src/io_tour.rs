//! The I/O part of the tour: a file written and read back, echo round
//! trips over loopback, a timer — all through the runtime's backend.

use std::fmt;
use std::io;
use std::time::{Duration, Instant};

use crate::fs::File;
use crate::net::{TcpListener, TcpStream};
use crate::{Backend, Runtime, apps, spawn};

/// What the I/O tour observed.
#[derive(Debug, Clone)]
pub struct IoTourReport {
    /// The backend it ran on.
    pub backend: Backend,
    /// Bytes written to a temporary file and read back identical.
    pub file_bytes: usize,
    /// Echo round trips over loopback.
    pub echo_round_trips: usize,
    /// How long a 10 ms sleep took.
    pub slept: Duration,
    /// System calls the driver made to submit or wait
    /// (`io_uring_enter`, `epoll_wait`) per completed operation.
    pub enters_per_op: f64,
    /// System calls made for the operations themselves per completed
    /// operation (0 on io_uring: the kernel makes them).
    pub calls_per_op: f64,
}

impl fmt::Display for IoTourReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "file:         {} bytes written and read back through {}",
            self.file_bytes,
            backend_name(self.backend)
        )?;
        writeln!(
            f,
            "echo:         {} round trips over loopback",
            self.echo_round_trips
        )?;
        writeln!(f, "timer:        a 10 ms sleep took {:.1?}", self.slept)?;
        match self.backend {
            Backend::Poll => write!(
                f,
                "syscalls:     {:.2} epoll_wait and {:.2} calls per operation",
                self.enters_per_op, self.calls_per_op
            ),
            _ => write!(
                f,
                "syscalls:     {:.2} io_uring_enter per operation",
                self.enters_per_op
            ),
        }
    }
}

/// How the report names a backend.
///
/// ```
/// use kasync_host::{Backend, io_tour::backend_name};
/// assert_eq!(backend_name(Backend::Poll), "the readiness backend (epoll)");
/// ```
pub fn backend_name(backend: Backend) -> &'static str {
    match backend {
        Backend::Poll => "the readiness backend (epoll)",
        _ => "io_uring",
    }
}

/// Runs the I/O tour on `rt`.
///
/// ```
/// let rt = kasync_host::Runtime::new()?;
/// let report = kasync_host::io_tour::run(&rt)?;
/// println!("{report:?}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn run(rt: &Runtime) -> io::Result<IoTourReport> {
    let before = rt.driver_stats();
    let report = rt.block_on(async {
        // A file, written and read back.
        let path = std::env::temp_dir().join(format!("kasync-tour-{}", std::process::id()));
        let data: Vec<u8> = (0..256 * 1024).map(|i| (i % 251) as u8).collect();
        let file = File::create(&path).await?;
        let (written, data) = file.write_all_at(data, 0).await;
        written?;
        file.sync_all().await?;
        file.close().await?;
        let back = File::open(&path).await?.read_to_end().await?;
        std::fs::remove_file(&path)?;
        if back != data {
            return Err(io::Error::other(
                "the file read back differs from what was written",
            ));
        }

        // Echo round trips over loopback.
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let server = spawn(async move {
            let (stream, _) = listener.accept().await?;
            apps::echo_connection(stream).await;
            Ok::<_, io::Error>(())
        })
        .map_err(io::Error::other)?;
        let client = TcpStream::connect(addr).await?;
        let rounds = 1_000;
        let mut buf = Vec::with_capacity(64);
        for round in 0..rounds {
            let message = format!("round {round}\n").into_bytes();
            let (sent, message) = client.write_all(message).await;
            sent?;
            let mut got = 0;
            while got < message.len() {
                buf.clear();
                let (n, back) = client.read(buf).await;
                buf = back;
                let n = n?;
                if n == 0 || buf[..n] != message[got..got + n] {
                    return Err(io::Error::other("the echo differs from what was sent"));
                }
                got += n;
            }
        }
        client.shutdown_write().await?;
        server.await.map_err(io::Error::other)??;

        // A timer.
        let start = Instant::now();
        crate::sleep(Duration::from_millis(10)).await;
        Ok(IoTourReport {
            file_bytes: data.len(),
            echo_round_trips: rounds,
            slept: start.elapsed(),
            backend: Backend::Auto,
            enters_per_op: 0.0,
            calls_per_op: 0.0,
        })
    })?;
    let after = rt.driver_stats();
    let ops = (after.completions - before.completions).max(1);
    Ok(IoTourReport {
        backend: rt.backend(),
        enters_per_op: (after.enters - before.enters) as f64 / ops as f64,
        calls_per_op: (after.calls - before.calls) as f64 / ops as f64,
        ..report
    })
}
