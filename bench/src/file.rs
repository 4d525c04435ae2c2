//! 4 KiB random reads over a page-cached file, at 1 and 32 in flight:
//! kasync against `fio` (io_uring and psync engines), `tokio::fs`, and a
//! plain `pread` loop — for cached reads a plain `pread` is the ceiling.

use std::fs::File as StdFile;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use kasync::io::sim::SimRng;
use kasync_host::fs::File;
use kasync_host::{Runtime, spawn};

use crate::harness::{Contender, Results, Run, compare};

const BLOCK: u64 = 4096;

/// Creates (once) and warms the test file of `size` bytes.
fn prepare(size: u64) -> std::io::Result<PathBuf> {
    let path = std::env::temp_dir().join(format!("kasync-bench-{size}"));
    if std::fs::metadata(&path).map(|m| m.len()).ok() != Some(size) {
        let mut f = StdFile::create(&path)?;
        let chunk: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
        for _ in 0..size / chunk.len() as u64 {
            f.write_all(&chunk)?;
        }
        f.sync_all()?;
    }
    // Read it all once: the benchmark measures the page cache, not the disk.
    let f = StdFile::open(&path)?;
    let mut buf = vec![0; 1 << 20];
    let mut off = 0;
    while f.read_at(&mut buf, off)? > 0 {
        off += buf.len() as u64;
    }
    Ok(path)
}

fn offsets(count: usize, size: u64) -> Vec<u64> {
    let mut rng = SimRng::new(42);
    (0..count)
        .map(|_| rng.below(size / BLOCK) * BLOCK)
        .collect()
}

fn kasync_reads(rt: &Runtime, path: &Path, offsets: &[u64], depth: usize) -> Run {
    rt.block_on(async {
        let file = std::rc::Rc::new(File::open(path).await.expect("open"));
        let per_task = offsets.len() / depth;
        let tasks: Vec<_> = offsets
            .chunks(per_task)
            .take(depth)
            .map(|chunk| {
                let (file, chunk) = (file.clone(), chunk.to_vec());
                spawn(async move {
                    let mut buf = Vec::with_capacity(BLOCK as usize);
                    for off in chunk {
                        buf.clear();
                        let (n, back) = file.read_at(buf, off).await;
                        assert_eq!(n.expect("read"), BLOCK as usize);
                        buf = back;
                    }
                })
                .expect("a task slot")
            })
            .collect();
        for t in tasks {
            t.await.expect("reader");
        }
    });
    Run::plain()
}

fn pread_loop(path: &Path, offsets: &[u64]) -> Run {
    let f = StdFile::open(path).expect("open");
    let mut buf = vec![0u8; BLOCK as usize];
    for &off in offsets {
        assert_eq!(f.read_at(&mut buf, off).expect("pread"), BLOCK as usize);
    }
    Run::plain()
}

fn tokio_reads(rt: &tokio::runtime::Runtime, path: &Path, offsets: &[u64], depth: usize) -> Run {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    rt.block_on(async {
        let per_task = offsets.len() / depth;
        let tasks: Vec<_> = offsets
            .chunks(per_task)
            .take(depth)
            .map(|chunk| {
                let (path, chunk) = (path.to_owned(), chunk.to_vec());
                tokio::spawn(async move {
                    let mut f = tokio::fs::File::open(path).await.expect("open");
                    let mut buf = vec![0u8; BLOCK as usize];
                    for off in chunk {
                        f.seek(std::io::SeekFrom::Start(off)).await.expect("seek");
                        f.read_exact(&mut buf).await.expect("read");
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("reader");
        }
    });
    Run::plain()
}

/// Runs fio; its own measured IOPS give the time per read.
fn fio(path: &Path, size: u64, reads: usize, depth: usize, engine: &str) -> Run {
    let out = Command::new("fio")
        .args([
            "--name=kasync",
            &format!("--filename={}", path.display()),
            "--rw=randread",
            "--bs=4k",
            &format!("--ioengine={engine}"),
            &format!("--iodepth={depth}"),
            "--invalidate=0",
            &format!("--size={size}"),
            &format!("--io_size={}", reads as u64 * BLOCK),
            "--minimal",
        ])
        .output()
        .expect("fio runs");
    let text = String::from_utf8_lossy(&out.stdout);
    // Terse format: field 8 (index 7) is the read IOPS.
    let iops: f64 = text
        .split(';')
        .nth(7)
        .and_then(|f| f.trim().parse().ok())
        .unwrap_or(0.0);
    let elapsed = if iops > 0.0 {
        Duration::from_secs_f64(reads as f64 / iops)
    } else {
        Duration::MAX
    };
    Run {
        elapsed: Some(elapsed),
        ..Run::default()
    }
}

fn have_fio() -> bool {
    Command::new("fio")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Random reads at 1 and 32 in flight; fio rows only where fio is installed.
pub fn run(reps: usize, size: u64, reads: usize) -> (Vec<Results>, Option<&'static str>) {
    let path = match prepare(size) {
        Ok(path) => path,
        Err(e) => {
            eprintln!("file benchmark skipped: cannot prepare the file: {e}");
            return (
                Vec::new(),
                Some("skipped: the test file could not be prepared"),
            );
        }
    };
    let offs = offsets(reads, size);
    let rt = kasync_host::Builder::new()
        .backend(kasync_host::Backend::Uring)
        .build()
        .expect("io_uring");
    // The same program on the readiness backend: a regular file is always
    // "ready", so each read is a `pread` on the loop's thread.
    let poll = kasync_host::Builder::new()
        .backend(kasync_host::Backend::Poll)
        .build()
        .expect("the readiness backend");
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    let fio_present = have_fio();
    let mut results = Vec::new();
    for depth in [1usize, 32] {
        let (path, offs, rt, poll, tokio) = (&path, &offs, &rt, &poll, &tokio);
        let mut contenders = vec![
            Contender {
                name: "kasync",
                run: Box::new(move || kasync_reads(rt, path, offs, depth)),
            },
            Contender {
                name: "kasync (epoll)",
                run: Box::new(move || kasync_reads(poll, path, offs, depth)),
            },
            Contender {
                name: "tokio::fs",
                run: Box::new(move || tokio_reads(tokio, path, offs, depth)),
            },
        ];
        if depth == 1 {
            contenders.push(Contender {
                name: "plain pread loop",
                run: Box::new(move || pread_loop(path, offs)),
            });
        }
        if fio_present {
            contenders.push(Contender {
                name: "fio io_uring",
                run: Box::new(move || fio(path, size, reads, depth, "io_uring")),
            });
            contenders.push(Contender {
                name: "fio psync",
                run: Box::new(move || fio(path, size, reads, 1, "psync")),
            });
        }
        results.push(compare(
            &format!("4 KiB random read, {depth} in flight"),
            reads,
            reps,
            None,
            contenders,
        ));
    }
    let note = (!fio_present)
        .then_some("fio is not installed (apt-get install fio): its rows are missing");
    (results, note)
}
