//! The readiness backend's file work (RWF_NOWAIT on
//! the loop, the rest on the blocking pool): odd files, odd offsets,
//! dropped futures, reused numbers, partly cached files.

use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, mpsc};
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use kasync::io::{IoBuf, IoBufMut};
use kasync_host::fs::File;
use kasync_host::time::timeout;
use kasync_host::{Backend, Builder, Runtime};

fn rt(backend: Backend) -> Runtime {
    Builder::new().backend(backend).build().unwrap()
}

fn poll_rt() -> Runtime {
    rt(Backend::Poll)
}

fn dir_in(base: &str, name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(base).join(format!("kasync-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `f` on its own thread; `Err` if it has not returned in `limit`
/// (the thread is left behind).
fn within<T: Send + 'static>(
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let _ = tx.send(r);
    });
    match rx.recv_timeout(limit) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(p)) => std::panic::resume_unwind(p),
        Err(_) => Err(format!("did not finish within {limit:?}")),
    }
}

/// Offsets beyond `i64::MAX` (but not `u64::MAX`, "at the position") are
/// no file's: an error, on both backends, on ext4 and tmpfs.
#[test]
fn offsets_beyond_i64_max_are_errors() {
    for base in ["/tmp", "/dev/shm"] {
        let dir = dir_in(base, "bigoff");
        let path = dir.join("f");
        std::fs::write(&path, vec![5u8; 8192]).unwrap();
        for backend in [Backend::Uring, Backend::Poll] {
            let r = within(Duration::from_secs(20), {
                let path = path.clone();
                move || {
                    rt(backend).block_on(async {
                        let file = File::open_with(&path, libc::O_RDWR, 0).await.unwrap();
                        let mut out = Vec::new();
                        for at in [1u64 << 63, u64::MAX - 1, u64::MAX - 4096] {
                            let (n, buf) = file.read_at(Vec::with_capacity(64), at).await;
                            out.push(format!(
                                "read {at}: {:?} len {}",
                                n.map_err(|e| e.raw_os_error()),
                                buf.len()
                            ));
                            let (n, _) = file.write_at(vec![1u8; 8], at).await;
                            out.push(format!("write {at}: {:?}", n.map_err(|e| e.raw_os_error())));
                        }
                        file.close().await.unwrap();
                        out
                    })
                }
            })
            .unwrap();
            for line in &r {
                assert!(line.contains("Err(Some(22))"), "{base} {backend}: {r:#?}");
            }
        }
        assert_eq!(std::fs::read(&path).unwrap(), vec![5u8; 8192]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// A directory opened as a file: its reads fail with `EISDIR`, at an offset
/// and at the position, and nothing hangs.
#[test]
fn a_directory_read_is_eisdir() {
    let dir = dir_in("/tmp", "isdir");
    let r = within(Duration::from_secs(20), move || {
        poll_rt().block_on(async move {
            let file = File::open(&dir).await.unwrap();
            let (a, _) = file.read_at(Vec::with_capacity(64), 0).await;
            let (b, _) = file.read_at(Vec::with_capacity(64), u64::MAX).await;
            let s = file.sync_all().await;
            file.close().await.unwrap();
            std::fs::remove_dir_all(&dir).unwrap();
            (
                a.map_err(|e| e.raw_os_error()),
                b.map_err(|e| e.raw_os_error()),
                s.map_err(|e| e.raw_os_error()),
            )
        })
    })
    .unwrap();
    assert_eq!(r.0, Err(Some(libc::EISDIR)));
    assert_eq!(r.1, Err(Some(libc::EISDIR)));
    assert!(r.2.is_ok(), "{r:?}");
}

/// `/proc`, `/dev/zero` and a FIFO opened as files: read, no hang.
#[test]
fn proc_dev_zero_and_a_fifo_as_files() {
    let dir = dir_in("/tmp", "odd");
    let fifo = dir.join("fifo");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let r = within(Duration::from_secs(20), move || {
        poll_rt().block_on(async move {
            let status = File::open("/proc/self/status").await.unwrap();
            let data = status.read_to_end().await.unwrap();
            assert!(
                data.starts_with(b"Name:"),
                "{}",
                String::from_utf8_lossy(&data)
            );
            let (n, buf) = status.read_at(Vec::with_capacity(5), u64::MAX).await;
            assert_eq!((n.unwrap(), &buf[..]), (5, &b"Name:"[..]));
            let zero = File::open("/dev/zero").await.unwrap();
            let (n, buf) = zero.read_at(Vec::with_capacity(1 << 20), 0).await;
            assert_eq!(n.unwrap(), 1 << 20);
            assert!(buf.iter().all(|&b| b == 0));
            let (n, _) = zero.read_at(Vec::with_capacity(4096), u64::MAX).await;
            assert_eq!(n.unwrap(), 4096);
            // A FIFO, read and write ends through the runtime (O_RDWR: the
            // open does not wait).
            let f = File::open_with(&fifo, libc::O_RDWR, 0).await.unwrap();
            let nothing = timeout(
                Duration::from_millis(50),
                f.read_at(Vec::with_capacity(16), u64::MAX),
            )
            .await;
            assert!(nothing.is_err(), "nothing to read yet");
            let (w, _) = f.write_all_at(b"via fifo".to_vec(), u64::MAX).await;
            w.unwrap();
            let (n, buf) = f.read_at(Vec::with_capacity(16), u64::MAX).await;
            assert_eq!(&buf[..n.unwrap()], b"via fifo");
            f.close().await.unwrap();
            std::fs::remove_dir_all(&dir).unwrap();
        })
    });
    r.unwrap();
}

/// Memory regions handed out by [`Canary`], kept (never freed) so that
/// a write after the buffer was dropped stays visible.
static REGIONS: Mutex<Vec<(usize, usize)>> = Mutex::new(Vec::new());
static DROPPED: AtomicUsize = AtomicUsize::new(0);
const CANARY: u8 = 0xCC;

/// A read buffer that, when dropped, fills its memory with [`CANARY`]
/// and leaks it: a backend that writes into it after its operation
/// completed (or was dropped) leaves other bytes there.
struct Canary {
    ptr: *mut u8,
    cap: usize,
    init: usize,
}

impl Canary {
    fn new(cap: usize) -> Self {
        let ptr = Box::leak(vec![0u8; cap].into_boxed_slice()).as_mut_ptr();
        REGIONS.lock().unwrap().push((ptr as usize, cap));
        Self { ptr, cap, init: 0 }
    }
}

// SAFETY: `ptr` is a leaked allocation of `cap` bytes, never freed.
unsafe impl IoBuf for Canary {
    fn stable_ptr(&self) -> *const u8 {
        self.ptr
    }
    fn bytes_init(&self) -> usize {
        self.init
    }
    fn bytes_total(&self) -> usize {
        self.cap
    }
}

// SAFETY: as above.
unsafe impl IoBufMut for Canary {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.ptr
    }
    unsafe fn set_init(&mut self, n: usize) {
        self.init = self.init.max(n);
    }
}

impl Drop for Canary {
    fn drop(&mut self) {
        // SAFETY: our own leaked region.
        unsafe { std::ptr::write_bytes(self.ptr, CANARY, self.cap) };
        DROPPED.fetch_add(1, Ordering::SeqCst);
    }
}

/// Checks every region handed out is all canary (dropped, and not
/// written after).
fn regions_untouched() -> Result<(), String> {
    for &(ptr, cap) in REGIONS.lock().unwrap().iter() {
        // SAFETY: leaked regions, alive forever.
        let s = unsafe { std::slice::from_raw_parts(ptr as *const u8, cap) };
        if let Some(at) = s.iter().position(|&b| b != CANARY) {
            return Err(format!(
                "region {ptr:#x} byte {at} is {:#x} after its buffer was dropped",
                s[at]
            ));
        }
    }
    Ok(())
}

/// Reads of big chunks (slow enough to still run on the pool) dropped
/// after their first poll, on tmpfs (everything goes to the pool) and on
/// ext4 after the cache was dropped; the file closed and its number reused
/// by another file written meanwhile. The buffers are dropped only after
/// the pool finished with them, and the new file holds its own data.
#[test]
fn dropped_reads_never_touch_their_buffers_afterwards() {
    for base in ["/dev/shm", "/tmp"] {
        let dir = dir_in(base, "canary");
        let (old, new) = (dir.join("old"), dir.join("new"));
        std::fs::write(&old, vec![0x11u8; 16 << 20]).unwrap();
        {
            let f = std::fs::File::open(&old).unwrap();
            // SAFETY: plain calls on an open descriptor.
            unsafe {
                libc::fsync(f.as_raw_fd());
                libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED);
            }
        }
        let r = within(Duration::from_secs(30), {
            let (old, new) = (old.clone(), new.clone());
            move || {
                let rt = poll_rt();
                rt.block_on(async {
                    for round in 0..8 {
                        let file = File::open(&old).await.unwrap();
                        let fd = file.as_fd().as_raw_fd();
                        {
                            let waker = Waker::noop();
                            let mut cx = Context::from_waker(waker);
                            let mut reads: Vec<_> = (0..8u64)
                                .map(|i| {
                                    let at = if i % 2 == 0 {
                                        (i << 21) % (16 << 20)
                                    } else {
                                        u64::MAX
                                    };
                                    Box::pin(file.read_at(Canary::new(2 << 20), at))
                                })
                                .collect();
                            for read in &mut reads {
                                let _ = read.as_mut().poll(&mut cx);
                            }
                        }
                        file.close().await.unwrap();
                        let fresh = File::open_with(
                            &new,
                            libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC,
                            0o600,
                        )
                        .await
                        .unwrap();
                        if fresh.as_fd().as_raw_fd() != fd {
                            // Another test of this binary took the number.
                            eprintln!("round {round}: the number was not reused");
                        }
                        fresh
                            .write_all_at(vec![0x22u8; 1 << 20], 0)
                            .await
                            .0
                            .unwrap();
                        let (n, buf) = fresh.read_at(Vec::with_capacity(1 << 20), 0).await;
                        assert_eq!(n.unwrap(), 1 << 20);
                        assert!(
                            buf.iter().all(|&b| b == 0x22),
                            "round {round}: the new file's own bytes"
                        );
                        fresh.close().await.unwrap();
                    }
                });
                drop(rt);
            }
        });
        r.unwrap();
        std::thread::sleep(Duration::from_millis(300));
        regions_untouched().unwrap();
        assert_eq!(
            DROPPED.load(Ordering::SeqCst),
            REGIONS.lock().unwrap().len(),
            "every buffer dropped"
        );
        let data = std::fs::read(&old).unwrap();
        assert!(
            data.iter().all(|&b| b == 0x11),
            "{base}: the old file untouched"
        );
        assert!(std::fs::read(&new).unwrap().iter().all(|&b| b == 0x22));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// A file on ext4 whose second half is not cached: a read at an offset
/// across the boundary is whole (not short), reads at the position in one
/// batch come back in order and cover the file exactly, and a vectored
/// read is whole too.
#[test]
fn partly_cached_files_read_whole_and_in_order() {
    let dir = dir_in("/tmp", "partial");
    let path = dir.join("f");
    let len = 8usize << 20;
    let contents: Vec<u8> = (0..len)
        .map(|i| (i / 4096 % 251) as u8 ^ (i as u8))
        .collect();
    std::fs::write(&path, &contents).unwrap();
    let uncache = |path: &std::path::Path| {
        let f = std::fs::File::open(path).unwrap();
        // SAFETY: plain calls on an open descriptor.
        unsafe {
            libc::fsync(f.as_raw_fd());
            libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED);
        }
        // The first half back in the cache.
        let mut buf = vec![0u8; len / 2];
        std::os::unix::fs::FileExt::read_exact_at(&f, &mut buf, 0).unwrap();
    };
    let mut report = Vec::new();
    let rt = poll_rt();
    rt.block_on(async {
        // At an offset, across the boundary.
        uncache(&path);
        let file = File::open(&path).await.unwrap();
        let (n, buf) = file.read_at(Vec::with_capacity(len), 0).await;
        assert_eq!(
            n.unwrap(),
            len,
            "a positional read of a regular file is whole"
        );
        assert!(buf == contents);
        file.close().await.unwrap();

        // At the position, one read.
        uncache(&path);
        let file = File::open(&path).await.unwrap();
        let (n, _) = file.read_at(Vec::with_capacity(len), u64::MAX).await;
        report.push(format!(
            "one read at the position of {len} from a half-cached file: {}",
            n.unwrap()
        ));
        file.close().await.unwrap();

        // At the position, a batch of 64 KiB reads pushed together.
        uncache(&path);
        let file = File::open(&path).await.unwrap();
        let reads = (0..len / 65536).map(|_| file.read_at(Vec::with_capacity(65536), u64::MAX));
        let mut got = Vec::new();
        let mut short = 0;
        for (n, buf) in join_all(reads).await {
            let n = n.unwrap();
            if n < 65536 {
                short += 1;
            }
            got.extend_from_slice(&buf);
        }
        report.push(format!("batch: {short} short reads"));
        // Whatever is short is read on.
        loop {
            let (n, buf) = file.read_at(Vec::with_capacity(65536), u64::MAX).await;
            if n.unwrap() == 0 {
                break;
            }
            got.extend_from_slice(&buf);
        }
        assert_eq!(got.len(), len);
        assert!(got == contents, "reads at the position in push order");
        file.close().await.unwrap();

        // Vectored, at an offset, across the boundary.
        uncache(&path);
        let file = File::open(&path).await.unwrap();
        let bufs = vec![
            Vec::with_capacity(len / 2 - 100),
            Vec::with_capacity(len / 2 + 100),
        ];
        let (n, bufs) = kasync_host::Runtime::io(&rt)
            .submit(kasync_ops::ops::ReadvAt::new(
                file.as_fd().as_raw_fd(),
                bufs,
                0,
            ))
            .await;
        assert_eq!(n.unwrap(), len, "a vectored positional read is whole");
        assert!(bufs.concat() == contents);
        file.close().await.unwrap();
    });
    eprintln!("{report:#?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Writes at the position to an O_APPEND file on tmpfs (every write on the
/// pool) and on ext4 (writes refused there too), pushed in one batch with
/// reads at offsets and `fsync`s in between: in push order, none lost.
#[test]
fn append_writes_with_reads_and_syncs_in_between_keep_their_order() {
    for base in ["/dev/shm", "/tmp"] {
        let dir = dir_in(base, "append");
        let path = dir.join("f");
        std::fs::write(&path, b"").unwrap();
        poll_rt().block_on(async {
            let file = File::open_with(&path, libc::O_RDWR | libc::O_APPEND, 0)
                .await
                .unwrap();
            for round in 0..4u32 {
                let mut futs: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>> =
                    Vec::new();
                for i in 0..200u32 {
                    let n = round * 200 + i;
                    let file = &file;
                    futs.push(Box::pin(async move {
                        let (r, _) = file.write_all_at(n.to_be_bytes().to_vec(), u64::MAX).await;
                        r.unwrap();
                    }));
                    if i % 17 == 0 {
                        futs.push(Box::pin(async move {
                            let _ = file.read_at(Vec::with_capacity(64), (n as u64) * 2).await;
                        }));
                    }
                    if i % 31 == 0 {
                        futs.push(Box::pin(async move { file.sync_all().await.unwrap() }));
                    }
                }
                join_all(futs).await;
            }
            file.close().await.unwrap();
        });
        let data = std::fs::read(&path).unwrap();
        let seq: Vec<u32> = data
            .chunks(4)
            .map(|c| u32::from_be_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(seq, (0..800).collect::<Vec<_>>(), "{base}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// Many writes to the same offset, some dropped after one poll (those
/// queued are cancelled; the running one finishes), then a last one: the
/// file holds the last write, and everything completes.
#[test]
fn dropped_writes_to_one_offset_leave_the_last() {
    let dir = dir_in("/dev/shm", "sameoff");
    let path = dir.join("f");
    let r = within(Duration::from_secs(30), move || {
        poll_rt().block_on(async {
            let file = File::open_with(&path, libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC, 0o600)
                .await
                .unwrap();
            for round in 0..50u8 {
                {
                    let waker = Waker::noop();
                    let mut cx = Context::from_waker(waker);
                    let mut writes: Vec<_> = (0..16u8)
                        .map(|i| {
                            Box::pin(file.write_all_at(
                                vec![round.wrapping_mul(16).wrapping_add(i); 1 << 16],
                                0,
                            ))
                        })
                        .collect();
                    for w in &mut writes {
                        let _ = w.as_mut().poll(&mut cx);
                    }
                    // Drop every other one.
                    let mut keep = Vec::new();
                    for (i, w) in writes.into_iter().enumerate() {
                        if i % 2 == 1 {
                            keep.push(w);
                        }
                    }
                    for w in keep {
                        w.await.0.unwrap();
                    }
                }
                let last = vec![200u8.wrapping_add(round); 1 << 16];
                file.write_all_at(last.clone(), 0).await.0.unwrap();
                let (n, buf) = file.read_at(Vec::with_capacity(1 << 16), 0).await;
                assert_eq!(n.unwrap(), 1 << 16);
                assert!(buf == last, "round {round}: byte {}", buf[0]);
            }
            file.close().await.unwrap();
        });
        std::fs::remove_dir_all(&dir).unwrap();
    });
    r.unwrap();
}

/// A runtime dropped while many reads it stopped awaiting (after one
/// poll) are still queued or running on the pool returns once they are
/// done: quickly.
#[test]
fn a_runtime_dropped_with_reads_on_the_pool_returns() {
    let dir = dir_in("/dev/shm", "droprt");
    let path = dir.join("f");
    std::fs::write(&path, vec![3u8; 32 << 20]).unwrap();
    let r = within(Duration::from_secs(30), move || {
        let rt = poll_rt();
        rt.block_on(async {
            let file = File::open(&path).await.unwrap();
            let waker = Waker::noop();
            let mut cx = Context::from_waker(waker);
            for i in 0..64u64 {
                let mut read = Box::pin(file.read_at(
                    Vec::with_capacity(4 << 20),
                    if i % 3 == 0 { u64::MAX } else { i << 20 },
                ));
                let _ = read.as_mut().poll(&mut cx);
                let mut sync = Box::pin(file.sync_all());
                let _ = sync.as_mut().poll(&mut cx);
                // leaked or dropped
                if i % 4 == 0 {
                    std::mem::forget(read);
                }
            }
            // The file closed while some operations are still queued.
        });
        let t = Instant::now();
        drop(rt);
        let took = t.elapsed();
        std::fs::remove_dir_all(&dir).unwrap();
        took
    });
    let took = r.unwrap();
    assert!(took < Duration::from_secs(5), "the drop took {took:?}");
}

/// Rounds of: an O_APPEND file A gets a batch of writes at the position
/// and `fsync`s, some dropped after one poll, others leaked (forgotten);
/// A is closed while they are on the pool; B, opened next, gets A's
/// number and a batch of its own. A holds only A's bytes, each record
/// whole, the kept ones in push order; B holds exactly its own records.
#[test]
fn writes_never_land_in_the_file_that_reused_the_number() {
    for base in ["/dev/shm", "/tmp"] {
        reuse_rounds(base, "reuse", true);
    }
}

/// The same on four threads at once, each its own runtime and files: the
/// numbers one closes are taken by the others.
#[test]
fn writes_never_land_in_another_runtimes_file_that_reused_the_number() {
    let threads: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                let base = if t % 2 == 0 { "/dev/shm" } else { "/tmp" };
                reuse_rounds(base, &format!("reuse-t{t}"), false)
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

fn reuse_rounds(base: &str, name: &str, same_number: bool) {
    {
        let dir = dir_in(base, name);
        let (a, b) = (dir.join("a"), dir.join("b"));
        let base = base.to_owned();
        let r = within(Duration::from_secs(60), {
            let (a, b) = (a.clone(), b.clone());
            move || {
                let rt = poll_rt();
                rt.block_on(async {
                    let waker = Waker::noop();
                    let mut cx = Context::from_waker(waker);
                    for round in 0..40u32 {
                        let fa = File::open_with(
                            &a,
                            libc::O_WRONLY | libc::O_CREAT | libc::O_APPEND,
                            0o600,
                        )
                        .await
                        .unwrap();
                        let fd = fa.as_fd().as_raw_fd();
                        let mut kept = Vec::new();
                        for i in 0..24u32 {
                            let mut rec = vec![b'A'; 64];
                            rec[..8].copy_from_slice(&(round * 100 + i).to_be_bytes().repeat(2));
                            let mut w = Box::pin(fa.write_all_at(rec, u64::MAX));
                            let _ = w.as_mut().poll(&mut cx);
                            match i % 4 {
                                0 => drop(w),
                                1 => std::mem::forget(w),
                                _ => kept.push(w),
                            }
                            if i % 7 == 0 {
                                let mut s = Box::pin(fa.sync_all());
                                let _ = s.as_mut().poll(&mut cx);
                                if i % 2 == 0 {
                                    drop(s);
                                } else {
                                    std::mem::forget(s);
                                }
                            }
                        }
                        // Half of those kept are awaited, the rest dropped.
                        let rest = kept.split_off(kept.len() / 2);
                        for w in kept {
                            w.await.0.unwrap();
                        }
                        drop(rest);
                        drop(fa);
                        let fb = File::open_with(
                            &b,
                            libc::O_WRONLY | libc::O_CREAT | libc::O_APPEND,
                            0o600,
                        )
                        .await
                        .unwrap();
                        if same_number && fb.as_fd().as_raw_fd() != fd {
                            // Another test of this binary took the number.
                            eprintln!("round {round}: the number was not reused");
                        }
                        let writes = (0..16u32).map(|i| {
                            let mut rec = vec![b'B'; 64];
                            rec[..4].copy_from_slice(&(round * 16 + i).to_be_bytes());
                            fb.write_all_at(rec, u64::MAX)
                        });
                        for (r, _) in join_all(writes).await {
                            r.unwrap();
                        }
                        fb.close().await.unwrap();
                    }
                });
                drop(rt);
            }
        });
        r.unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let da = std::fs::read(&a).unwrap();
        let db = std::fs::read(&b).unwrap();
        assert_eq!(da.len() % 64, 0, "{base}: A's records whole");
        for (k, rec) in da.chunks(64).enumerate() {
            assert!(
                rec[8..].iter().all(|&c| c == b'A'),
                "{base}: A record {k} not A's: {rec:?}"
            );
        }
        let seq: Vec<u32> = db
            .chunks(64)
            .map(|rec| {
                assert!(
                    rec[4..].iter().all(|&c| c == b'B'),
                    "{base}: B record not B's: {rec:?}"
                );
                u32::from_be_bytes(rec[..4].try_into().unwrap())
            })
            .collect();
        assert_eq!(
            seq,
            (0..40 * 16).collect::<Vec<_>>(),
            "{base}: B holds its own records, in order"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// Odd offsets near the top: both backends answer alike (ext4, tmpfs).
#[test]
fn odd_offsets_answer_alike_on_both_backends() {
    for base in ["/tmp", "/dev/shm"] {
        let dir = dir_in(base, "oddoff");
        let mut answers = Vec::new();
        for backend in [Backend::Uring, Backend::Poll] {
            let path = dir.join(format!("f-{backend}"));
            std::fs::write(&path, vec![5u8; 8192]).unwrap();
            let out = rt(backend).block_on(async {
                let file = File::open_with(&path, libc::O_RDWR, 0).await.unwrap();
                let mut out = Vec::new();
                for at in [
                    i64::MAX as u64,
                    i64::MAX as u64 - 3,
                    (i64::MAX as u64) - 4095,
                    1 << 62,
                    8191,
                    8192,
                ] {
                    let (n, buf) = file.read_at(Vec::with_capacity(64), at).await;
                    out.push(format!(
                        "read {at}: {:?} {}",
                        n.map_err(|e| e.raw_os_error()),
                        buf.len()
                    ));
                    let (n, _) = file.write_at(vec![1u8; 8], at).await;
                    out.push(format!("write {at}: {:?}", n.map_err(|e| e.raw_os_error())));
                }
                out.push(format!("len {}", file.metadata().unwrap().len()));
                file.close().await.unwrap();
                out
            });
            answers.push(out);
        }
        assert_eq!(answers[0], answers[1], "{base}: io_uring, then readiness");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
