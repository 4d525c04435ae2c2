//! Feature detection and the fallbacks, against the running kernel: what
//! the driver says it has must be what the kernel does, and a feature
//! pretended missing must behave as a kernel without it.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
use std::time::{Duration, Instant};

use kasync::io::{Completion, Driver, OpId};
use kasync_ops::{Call, Target, flags};
use kasync_uring::{Config, Feature, Features, SetupError, UringDriver, probe};

fn driver(without: Features) -> UringDriver {
    UringDriver::new(&Config {
        without,
        ..Config::default()
    })
    .expect("io_uring is needed for these tests")
}

/// Submits `call` as operation `id` and collects its completions until
/// one without `MORE` (or until `enough` have come, for a multishot
/// operation that stays armed).
fn run(driver: &mut UringDriver, id: u64, call: Call, enough: usize) -> Vec<Completion> {
    assert!(driver.push(OpId::from_u64(id), || call));
    collect(driver, id, enough)
}

fn collect(driver: &mut UringDriver, id: u64, enough: usize) -> Vec<Completion> {
    let mut got = Vec::new();
    let start = Instant::now();
    loop {
        driver.flush();
        driver.reap(|op, completion| {
            if op.to_u64() == id {
                got.push(completion);
            }
        });
        let done = got.last().is_some_and(|c| !flags::more(c.flags));
        if done || got.len() >= enough {
            return got;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no completion for op {id}: {got:?}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn listener_with(connections: usize) -> (UnixListener, Vec<UnixStream>) {
    let name = format!(
        "kasync-features-test-{}-{:?}",
        std::process::id(),
        Instant::now()
    );
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let listener = UnixListener::bind_addr(&addr).unwrap();
    let clients = (0..connections)
        .map(|_| UnixStream::connect_addr(&addr).unwrap())
        .collect();
    (listener, clients)
}

fn close_accepted(completions: &[Completion]) {
    for c in completions.iter().filter(|c| c.result >= 0) {
        // SAFETY: a non-negative accept result is a new descriptor that
        // nothing else owns.
        drop(unsafe { OwnedFd::from_raw_fd(c.result) });
    }
}

fn cancel(driver: &mut UringDriver, id: u64) {
    assert!(driver.push_cancel(OpId::from_u64(id)));
    collect(driver, id, usize::MAX);
}

/// Whatever the trial decided about multishot accept, the kernel answers
/// the same way: two queued connections come out of one armed accept, or
/// the kernel refuses the flag outright.
#[test]
fn multishot_accept_is_what_the_trial_said() {
    let mut driver = driver(Features::NONE);
    let (listener, _clients) = listener_with(2);
    let got = run(
        &mut driver,
        1,
        Call::AcceptMulti {
            fd: listener.as_raw_fd(),
        },
        2,
    );
    close_accepted(&got);
    if driver.features().contains(Feature::MultishotAccept) {
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(
            got.iter().all(|c| c.result >= 0 && flags::more(c.flags)),
            "{got:?}"
        );
        cancel(&mut driver, 1);
    } else {
        eprintln!("this kernel lacks multishot-accept: checking that it refuses it");
        assert_eq!(got, [Completion::new(-libc::EINVAL)]);
    }
}

/// The same for buffer rings and multishot receive.
#[test]
fn multishot_recv_is_what_the_trial_said() {
    let mut driver = driver(Features::NONE);
    let ring = match driver.register_buf_ring(4, 64) {
        Ok(ring) => {
            assert!(driver.features().contains(Feature::BufferRings));
            ring
        }
        Err(e) => {
            assert!(!driver.features().contains(Feature::BufferRings), "{e}");
            assert_eq!(e.kind(), std::io::ErrorKind::Unsupported);
            eprintln!("this kernel lacks buffer-rings ({e}): nothing more to check");
            return;
        }
    };
    let (ours, mut peer) = UnixStream::pair().unwrap();
    peer.write_all(b"one").unwrap();
    let got = run(
        &mut driver,
        2,
        Call::RecvMulti {
            fd: ours.as_raw_fd(),
            ring,
        },
        1,
    );
    if driver.features().contains(Feature::MultishotRecv) {
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].result, 3);
        assert!(flags::more(got[0].flags));
        assert!(flags::buffer(got[0].flags).is_some(), "a provided buffer");
        cancel(&mut driver, 2);
    } else {
        eprintln!("this kernel lacks multishot-recv: checking that it refuses it");
        assert_eq!(got, [Completion::new(-libc::EINVAL)]);
    }
}

/// A driver told to lack the multishot features refuses them as a
/// kernel without them does, and cannot register buffer rings.
#[test]
fn pretended_missing_multishot_is_refused_like_an_old_kernel() {
    let without: Features = "linux-5.15".parse().unwrap();
    let mut driver = driver(without);
    for feature in [
        Feature::MultishotAccept,
        Feature::MultishotRecv,
        Feature::BufferRings,
        Feature::SparseFiles,
        Feature::RegisteredRing,
        Feature::SingleIssuer,
        Feature::DeferTaskrun,
        Feature::CoopTaskrun,
        Feature::NoSqarray,
    ] {
        assert!(!driver.features().contains(feature), "{feature}");
    }
    assert!(driver.features().contains(Feature::Base));
    let flags = driver.flags();
    assert!(
        !flags.registered_ring
            && !flags.single_issuer
            && !flags.defer_taskrun
            && !flags.coop_taskrun
            && !flags.no_sqarray,
        "{flags}"
    );
    let (listener, _clients) = listener_with(1);
    let got = run(
        &mut driver,
        3,
        Call::AcceptMulti {
            fd: listener.as_raw_fd(),
        },
        usize::MAX,
    );
    assert_eq!(got, [Completion::new(-libc::EINVAL)]);
    let e = driver.register_buf_ring(4, 64).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::Unsupported);
    assert!(e.to_string().contains("5.19"), "{e}");
    // A plain accept still works: that is the fallback.
    // SAFETY: `sockaddr_storage` is plain integers; all zeroes is valid.
    let mut addr: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let got = run(
        &mut driver,
        4,
        Call::Accept {
            fd: listener.as_raw_fd(),
            addr: (&raw mut addr).cast(),
            len: &raw mut len,
        },
        usize::MAX,
    );
    close_accepted(&got);
    assert!(got.len() == 1 && got[0].result >= 0, "{got:?}");
}

/// Without `IORING_OP_SHUTDOWN` the driver shuts the socket down itself:
/// the peer sees the end of the stream, and a bad descriptor is the same
/// error the kernel would give.
#[test]
fn shutdown_without_the_opcode_runs_on_the_rings_thread() {
    for without in [Features::NONE, Features::NONE.with(Feature::Shutdown)] {
        let mut driver = driver(without);
        let (ours, mut peer) = UnixStream::pair().unwrap();
        let got = run(
            &mut driver,
            5,
            Call::Shutdown {
                fd: ours.as_raw_fd(),
                how: libc::SHUT_WR,
            },
            usize::MAX,
        );
        assert_eq!(got, [Completion::new(0)], "without {without}");
        let mut rest = Vec::new();
        peer.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
        let got = run(
            &mut driver,
            6,
            Call::Shutdown {
                fd: -1,
                how: libc::SHUT_RDWR,
            },
            usize::MAX,
        );
        assert_eq!(got, [Completion::new(-libc::EBADF)], "without {without}");
    }
}

/// Without sparse file tables the table is registered full of empty
/// entries, and registered descriptors work the same.
#[test]
fn registered_files_without_sparse_tables() {
    for without in [Features::NONE, Features::NONE.with(Feature::SparseFiles)] {
        let mut driver = driver(without);
        let (ours, mut peer) = UnixStream::pair().unwrap();
        let fixed = driver.register_file(ours.as_raw_fd()).unwrap();
        let got = run(
            &mut driver,
            7,
            Call::Write {
                fd: Target::Fixed(fixed),
                buf: b"hello".as_ptr(),
                len: 5,
                offset: u64::MAX,
            },
            usize::MAX,
        );
        assert_eq!(got, [Completion::new(5)], "without {without}");
        let mut buf = [0; 5];
        peer.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"hello");
        driver.unregister_file(fixed).unwrap();
    }
}

/// A driver told it is older than the minimum is refused with a message
/// that says so, and the probe reports it as unusable.
#[test]
fn below_the_minimum_is_refused_with_the_reason() {
    let without: Features = "linux-5.6".parse().unwrap();
    let config = Config {
        without,
        ..Config::default()
    };
    let e = UringDriver::new(&config).unwrap_err();
    assert!(matches!(e, SetupError::PretendedTooOld), "{e}");
    assert!(e.to_string().contains("5.10"), "{e}");
    let report = probe(&config).unwrap();
    assert!(!report.usable());
    assert!(report.lacks().any(|f| f == Feature::Base));
}

/// The probe's report is the driver's: the same features with the same
/// config.
#[test]
fn the_probe_reports_what_a_driver_gets() {
    for without in [Features::NONE, "linux-6.0".parse().unwrap()] {
        let config = Config {
            without,
            ..Config::default()
        };
        let report = probe(&config).unwrap();
        let driver = UringDriver::new(&config).unwrap();
        assert_eq!(report.features, driver.features(), "without {without}");
        assert_eq!(report.pretended, without);
        assert!(report.lacks().all(|f| !driver.features().contains(f)));
    }
}

#[test]
fn a_full_release_is_the_same_kernel_as_its_major_minor() {
    let like_5_15 = Features::newer_than(5, 15);
    for word in ["linux-5.15.3", "5.15.0-91-generic", "linux-6.1.0-18-amd64"] {
        let expected = if word.contains("6.1") {
            Features::newer_than(6, 1)
        } else {
            like_5_15
        };
        match word.parse::<Features>() {
            Ok(set) => assert_eq!(set, expected, "{word}"),
            Err(e) => panic!("{word:?} (a `uname -r` release) is refused: {e}"),
        }
    }
}

#[test]
fn a_version_past_255_is_not_called_not_a_version() {
    match "linux-256.0".parse::<Features>() {
        Ok(set) => assert!(set.is_empty(), "Linux 256.0 lacks nothing: {set}"),
        Err(e) => {
            let e = e.to_string();
            assert!(
                !e.contains("is not a Linux version"),
                "linux-256.0 is refused as \"not a Linux version\": {e}"
            );
        }
    }
}

#[test]
fn flags_not_asked_for_are_not_features_the_kernel_lacks() {
    let all = UringDriver::new(&Config::default()).unwrap().features();
    let config = Config {
        single_issuer: false,
        defer_taskrun: false,
        coop_taskrun: false,
        no_sqarray: false,
        ..Config::default()
    };
    assert_eq!(config.without, Features::NONE);
    let driver = UringDriver::new(&config).unwrap();
    let report = probe(&config).unwrap();
    let lacks: Features = report.lacks().collect();
    eprintln!(
        "default ring: {all}\nflags off:   {}\nprobe lacks: {lacks}",
        driver.features()
    );
    for feature in [
        Feature::CoopTaskrun,
        Feature::SingleIssuer,
        Feature::DeferTaskrun,
        Feature::NoSqarray,
    ] {
        if !all.contains(feature) {
            continue; // the kernel really lacks it
        }
        assert!(
            !lacks.contains(feature),
            "probe says the kernel lacks {feature} (Linux {:?}), which it has; \
             the config only did not ask for it, and `without` is empty",
            feature.since()
        );
    }
}
