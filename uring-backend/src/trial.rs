//! Asking the kernel for real: the features an opcode probe cannot see
//! (they reuse older opcodes) are tried once per process on a small ring
//! of their own, and the answers are kept.
//!
//! A kernel that lacks a flag refuses the entry with `EINVAL` (the
//! request's preparation checks its flags); one that has it arms the
//! operation, which is then cancelled. Each trial is set up so that the
//! first completion comes at once either way (a connection is already
//! waiting, a byte already sent), so no trial waits on anything but the
//! kernel's answer.

use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use io_uring::{IoUring, cqueue, opcode, squeue, types};
use kasync_ops::{BufRing, DriverId};

use crate::features::{Feature, Features};

/// The features found by trial (a subset of [`TRIED`]), tried on first
/// use. A machine where even the trial ring cannot be made is taken to
/// have none of them: the fallbacks work everywhere.
pub(crate) fn tried() -> Features {
    static FOUND: OnceLock<Features> = OnceLock::new();
    *FOUND.get_or_init(|| try_all().map_or(Features::NONE, |found| found.and(TRIED)))
}

/// What the trials decide.
pub(crate) const TRIED: Features = Features::NONE
    .with(Feature::SparseFiles)
    .with(Feature::MultishotAccept)
    .with(Feature::BufferRings)
    .with(Feature::MultishotRecv);

/// Runs every trial on a fresh ring.
pub(crate) fn try_all() -> io::Result<Features> {
    let mut ring = IoUring::new(8)?;
    let mut found = Features::NONE;
    if sparse_files(&ring)? {
        found = found.with(Feature::SparseFiles);
    }
    if multishot_accept(&mut ring)? {
        found = found.with(Feature::MultishotAccept);
    }
    if let Some(recv) = buffer_ring_and_multishot_recv(&mut ring)? {
        found = found.with(Feature::BufferRings);
        if recv {
            found = found.with(Feature::MultishotRecv);
        }
    }
    Ok(found)
}

/// `IORING_RSRC_REGISTER_SPARSE`: a sparse file table of one entry.
fn sparse_files(ring: &IoUring) -> io::Result<bool> {
    match ring.submitter().register_files_sparse(1) {
        Ok(()) => {
            ring.submitter().unregister_files()?;
            Ok(true)
        }
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(false),
        Err(e) => Err(e),
    }
}

const TRIAL: u64 = 1;
const CANCEL: u64 = 2;
/// The provided-buffer group of the receive trial (the driver's is
/// `kasync_ops::GROUP`; the trial ring is separate anyway).
const TRIAL_GROUP: u16 = 0x7ff0;

/// A multishot accept on a listening Unix socket with a connection
/// already queued.
fn multishot_accept(ring: &mut IoUring) -> io::Result<bool> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "kasync-trial-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let addr = SocketAddr::from_abstract_name(name.as_bytes())?;
    let listener = UnixListener::bind_addr(&addr)?;
    let _client = UnixStream::connect_addr(&addr)?;
    let entry = opcode::AcceptMulti::new(types::Fd(listener.as_raw_fd()))
        .flags(libc::SOCK_CLOEXEC)
        .build();
    // Each accepted connection is a descriptor of ours to close.
    let answer = run(ring, entry, |cqe| {
        if cqe.result() >= 0 {
            // SAFETY: a non-negative accept result is a new descriptor
            // that nothing else owns.
            drop(unsafe { OwnedFd::from_raw_fd(cqe.result() as RawFd) });
        }
    })?;
    Ok(answer != -libc::EINVAL)
}

/// Registers a one-buffer provided-buffer ring (`None`: the kernel has no
/// buffer rings) and tries a multishot receive from it on a socket pair
/// with one byte already sent.
fn buffer_ring_and_multishot_recv(ring: &mut IoUring) -> io::Result<Option<bool>> {
    let buffers = BufRing::new(1, 64, DriverId::next())?;
    let (addr, entries) = buffers.registration();
    // SAFETY: the ring memory is page-aligned and holds `entries` entries;
    // it stays alive until the kernel is done with it: the registration is
    // undone below after the receive's last completion, and if the trial
    // fails half-way the memory is leaked instead of freed.
    match unsafe {
        ring.submitter()
            .register_buf_ring_with_flags(addr, entries, TRIAL_GROUP, 0)
    } {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => return Ok(None),
        Err(e) => return Err(e),
    }
    let (ours, mut peer) = UnixStream::pair()?;
    peer.write_all(b"?")?;
    let entry = opcode::RecvMulti::new(types::Fd(ours.as_raw_fd()), TRIAL_GROUP).build();
    let answer = match run(ring, entry, |_| {}) {
        Ok(answer) => answer,
        Err(e) => {
            // The receive may still be armed on the buffer.
            std::mem::forget(buffers);
            return Err(e);
        }
    };
    ring.submitter().unregister_buf_ring(TRIAL_GROUP)?;
    Ok(Some(answer != -libc::EINVAL))
}

/// Submits `entry` (which refers to no memory of ours) and waits for its
/// first completion; if the kernel armed it (more completions to come),
/// cancels it and waits for its last completion and the cancel's. Every
/// completion of the trial goes through `each`. The first result is the
/// answer.
fn run(
    ring: &mut IoUring,
    entry: squeue::Entry,
    mut each: impl FnMut(&cqueue::Entry),
) -> io::Result<i32> {
    push(ring, &entry.user_data(TRIAL))?;
    let mut answer = None;
    let mut armed = true;
    let mut cancelled = false;
    let mut cancel_pending = false;
    while armed || cancel_pending {
        ring.submit_and_wait(1)?;
        for cqe in ring.completion() {
            match cqe.user_data() {
                TRIAL => {
                    each(&cqe);
                    answer.get_or_insert(cqe.result());
                    armed = cqueue::more(cqe.flags());
                }
                CANCEL => cancel_pending = false,
                _ => {}
            }
        }
        if armed && !cancelled && answer.is_some() {
            push(
                ring,
                &opcode::AsyncCancel::new(TRIAL).build().user_data(CANCEL),
            )?;
            cancelled = true;
            cancel_pending = true;
        }
    }
    Ok(answer.expect("the loop ends only after the trial's last completion"))
}

fn push(ring: &mut IoUring, entry: &squeue::Entry) -> io::Result<()> {
    // SAFETY: the trials' entries refer to no memory of ours but the
    // provided-buffer ring, which stays registered and alive until the
    // entry's last completion has been seen.
    unsafe { ring.submission().push(entry) }
        .map_err(|_| io::Error::other("the trial ring's submission queue is full"))
}
