//! The start-up trials: an answer is kept only when the kernel gave one,
//! and nothing another process does can make a trial fail.
//!
//! One test per binary: the trials run once per process.

use std::os::fd::{FromRawFd, OwnedFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener};

use kasync_uring::features::try_now;
use kasync_uring::{Config, Feature, Features, UringDriver};

const TRIED: [Feature; 4] = [
    Feature::SparseFiles,
    Feature::MultishotAccept,
    Feature::BufferRings,
    Feature::MultishotRecv,
];

fn tried(features: Features) -> Features {
    TRIED
        .into_iter()
        .filter(|f| features.contains(*f))
        .collect()
}

/// The first ring of the process is made while descriptors are short (the
/// trials' sockets cannot be made); a ring made afterwards, with
/// descriptors to spare, gets every feature the kernel has. Meanwhile
/// another socket holds the abstract name an older trial used: the trial
/// names no socket, so nothing can take its address.
#[test]
fn a_trial_that_could_not_be_made_is_made_again_and_names_nothing() {
    let kernel = try_now();
    if tried(kernel).is_empty() {
        eprintln!("this kernel has none of the tried features: nothing to lose");
    }
    let name = format!("kasync-trial-{}-0", std::process::id());
    let _squatter =
        UnixListener::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap()).unwrap();
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain rlimit calls on local structs.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut old) };
    let low = libc::rlimit {
        rlim_cur: 256.min(old.rlim_cur),
        rlim_max: old.rlim_max,
    };
    // SAFETY: as above.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &low) }, 0);
    let mut fillers = Vec::new();
    loop {
        // SAFETY: a dup of stdin; checked, and owned below.
        let fd = unsafe { libc::dup(0) };
        if fd < 0 {
            break;
        }
        // SAFETY: a fresh descriptor.
        fillers.push(unsafe { OwnedFd::from_raw_fd(fd) });
    }
    // Room for the ring and its eventfd, not for the trials' sockets too.
    fillers.truncate(fillers.len().saturating_sub(3));
    let starved = UringDriver::new(&Config::default());
    drop(fillers);
    // SAFETY: restores the limit.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &old) };
    if let Ok(starved) = &starved {
        // Whatever it got, it claims nothing the kernel lacks.
        assert_eq!(
            tried(starved.features()).minus(tried(kernel)),
            Features::NONE
        );
    }
    let later = UringDriver::new(&Config::default()).expect("io_uring is needed");
    assert_eq!(
        tried(later.features()),
        tried(kernel),
        "a ring made with descriptors to spare gets what the kernel has"
    );
}
