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
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::{IoUring, cqueue, opcode, squeue, types};
use kasync_ops::{BufRing, DriverId};

use crate::features::{Feature, Features};

/// The features found by trial (a subset of [`TRIED`]). Each answer the
/// kernel gave is kept for the rest of the process; a trial that could not
/// be made (no descriptor or memory to spare just then) counts as absent
/// for this ring — the fallbacks work everywhere — and is made again for
/// the next.
pub(crate) fn tried() -> Features {
    /// Bits of the features the kernel answered about, and of those it has.
    static ANSWERED: AtomicU16 = AtomicU16::new(0);
    static FOUND: AtomicU16 = AtomicU16::new(0);
    let answered = Features::from_bits(ANSWERED.load(Ordering::Acquire));
    let found = Features::from_bits(FOUND.load(Ordering::Acquire)).and(answered);
    if answered == TRIED {
        return found;
    }
    let (asked, has) = try_all(TRIED.minus(answered));
    // Found first: a reader that sees a feature answered sees its answer.
    FOUND.fetch_or(has.bits(), Ordering::Release);
    ANSWERED.fetch_or(asked.bits(), Ordering::Release);
    found.or(has)
}

/// What the trials decide.
pub(crate) const TRIED: Features = Features::NONE
    .with(Feature::SparseFiles)
    .with(Feature::MultishotAccept)
    .with(Feature::BufferRings)
    .with(Feature::MultishotRecv);

/// Tries the features of `wanted` on a fresh ring, now: which the kernel
/// answered about, and which of those it has.
pub(crate) fn try_all(wanted: Features) -> (Features, Features) {
    let mut answered = Features::NONE;
    let mut has = Features::NONE;
    let Ok(mut ring) = IoUring::new(8) else {
        return (answered, has);
    };
    let mut note = |feature, answer: io::Result<bool>| {
        if let Ok(yes) = answer {
            answered = answered.with(feature);
            if yes {
                has = has.with(feature);
            }
        }
    };
    if wanted.contains(Feature::SparseFiles) {
        note(Feature::SparseFiles, sparse_files(&ring));
    }
    if wanted.contains(Feature::MultishotAccept) {
        note(Feature::MultishotAccept, multishot_accept(&mut ring));
    }
    if wanted.contains(Feature::BufferRings) || wanted.contains(Feature::MultishotRecv) {
        match buffer_ring_and_multishot_recv(&mut ring) {
            Ok(None) => {
                // No buffer rings: kasync's multishot receives need them.
                note(Feature::BufferRings, Ok(false));
                note(Feature::MultishotRecv, Ok(false));
            }
            Ok(Some(recv)) => {
                note(Feature::BufferRings, Ok(true));
                note(Feature::MultishotRecv, Ok(recv));
            }
            Err(_) => {}
        }
    }
    (answered, has)
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

/// A socket of `libc::socket`'s, owned.
fn socket(kind: i32) -> io::Result<OwnedFd> {
    // SAFETY: plain system call; the result is checked.
    let fd = unsafe { libc::socket(libc::AF_UNIX, kind | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn check(result: libc::c_int) -> io::Result<()> {
    if result < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// A listening Unix socket with an address the kernel picked (autobind:
/// an abstract name no other socket holds, so no other process can make
/// the trial fail) and a connection already queued on it.
fn listener_with_a_connection() -> io::Result<(OwnedFd, OwnedFd)> {
    let listener = socket(libc::SOCK_STREAM)?;
    // SAFETY: `sockaddr_un` is plain integers; all zeroes is valid.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let family = size_of::<libc::sa_family_t>() as libc::socklen_t;
    // SAFETY: `addr` is a live `sockaddr_un`; a length of just the family
    // asks the kernel to pick an abstract name (autobind).
    check(unsafe { libc::bind(listener.as_raw_fd(), (&raw const addr).cast(), family) })?;
    // SAFETY: listening on a bound socket we own.
    check(unsafe { libc::listen(listener.as_raw_fd(), 1) })?;
    let mut len = size_of::<libc::sockaddr_un>() as libc::socklen_t;
    // SAFETY: writes at most `len` bytes into `addr`, which has room.
    check(unsafe { libc::getsockname(listener.as_raw_fd(), (&raw mut addr).cast(), &mut len) })?;
    let client = socket(libc::SOCK_STREAM)?;
    // SAFETY: connects to the `len` bytes of address the kernel gave.
    check(unsafe { libc::connect(client.as_raw_fd(), (&raw const addr).cast(), len) })?;
    Ok((listener, client))
}

/// A multishot accept on a listening Unix socket with a connection
/// already queued.
fn multishot_accept(ring: &mut IoUring) -> io::Result<bool> {
    let (listener, _client) = listener_with_a_connection()?;
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
    // Everything that can fail is made before the registration.
    let (ours, mut peer) = UnixStream::pair()?;
    peer.write_all(b"?")?;
    let buffers = BufRing::new(1, 64, DriverId::next())?;
    let (addr, entries) = buffers.registration();
    // SAFETY: the ring memory is page-aligned and holds `entries` entries;
    // it stays alive until the kernel is done with it: the registration is
    // undone below after the receive's last completion, and on any failure
    // after this point the memory is leaked instead of freed.
    match unsafe {
        ring.submitter()
            .register_buf_ring_with_flags(addr, entries, TRIAL_GROUP, 0)
    } {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => return Ok(None),
        Err(e) => return Err(e),
    }
    let entry = opcode::RecvMulti::new(types::Fd(ours.as_raw_fd()), TRIAL_GROUP).build();
    let answer = run(ring, entry, |_| {}).and_then(|answer| {
        ring.submitter()
            .unregister_buf_ring(TRIAL_GROUP)
            .map(|()| answer)
    });
    match answer {
        Ok(answer) => Ok(Some(answer != -libc::EINVAL)),
        Err(e) => {
            // The kernel may still hold the buffer ring.
            std::mem::forget(buffers);
            Err(e)
        }
    }
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
        match ring.submit_and_wait(1) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
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
