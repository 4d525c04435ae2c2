//! `cat` and `cp` through io_uring, behaving like the tools people know.

use std::io::{self, Write};
use std::path::Path;

use kasync_ops::ops::ReadAt;

use crate::fs::{self, File};
use crate::io;

/// What [`cat`] did.
#[derive(Debug, Default)]
pub struct CatReport {
    /// Bytes written to the output.
    pub bytes: u64,
    /// The files that could not be read, each error naming its file; `cat`
    /// went on with the next one.
    pub failed: Vec<io::Error>,
}

/// Writes the files' contents to `out`, one after the other, reading in
/// 64 KiB chunks through the ring; `-` is standard input. A file that
/// cannot be read is reported in the result and skipped (as `cat` does);
/// an error writing `out` (a closed pipe, a full disk) ends it.
///
/// ```
/// # kasync_host::Runtime::new().unwrap().block_on(async {
/// let path = std::env::temp_dir().join(format!("kasync-doc-cat-{}", std::process::id()));
/// std::fs::write(&path, "cat me\n")?;
/// let mut out = Vec::new();
/// let report = kasync_host::apps::cat(&[path.as_path(), "/no/such/file".as_ref()], &mut out).await?;
/// assert_eq!(out, b"cat me\n");
/// assert_eq!(report.failed.len(), 1); // the missing file, reported and skipped
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub async fn cat(paths: &[impl AsRef<Path>], out: &mut impl Write) -> io::Result<CatReport> {
    let mut report = CatReport::default();
    for path in paths {
        let path = path.as_ref();
        let named = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
        let copied = if path == Path::new("-") {
            copy_out(StdIn, out).await
        } else {
            match File::open(path).await {
                Ok(file) => copy_out(&file, out).await,
                Err(e) => Err(Failure::Input(e)),
            }
        };
        match copied {
            Ok(n) => report.bytes += n,
            Err(Failure::Input(e)) => report.failed.push(named(e)),
            Err(Failure::Output(e)) => return Err(e),
        }
    }
    out.flush()?;
    Ok(report)
}

/// Which side of a copy failed.
enum Failure {
    Input(io::Error),
    Output(io::Error),
}

/// Something `cat` reads from through the ring.
trait Source {
    /// Reads into `buf` at `offset` (files) or at the current position
    /// (standard input).
    async fn read(&self, buf: Vec<u8>, offset: u64) -> (io::Result<usize>, Vec<u8>);
}

impl Source for &File {
    async fn read(&self, buf: Vec<u8>, offset: u64) -> (io::Result<usize>, Vec<u8>) {
        self.read_at(buf, offset).await
    }
}

/// Standard input (descriptor 0, not closed by us).
struct StdIn;

impl Source for StdIn {
    async fn read(&self, buf: Vec<u8>, _offset: u64) -> (io::Result<usize>, Vec<u8>) {
        io().submit(ReadAt {
            fd: libc::STDIN_FILENO.into(),
            buf,
            offset: u64::MAX,
        })
        .await
    }
}

/// Copies `source` to `out` until its end.
async fn copy_out(source: impl Source, out: &mut impl Write) -> Result<u64, Failure> {
    let mut offset = 0u64;
    let mut buf = Vec::with_capacity(64 * 1024);
    loop {
        buf.clear();
        let (n, back) = source.read(buf, offset).await;
        buf = back;
        match n.map_err(Failure::Input)? {
            0 => return Ok(offset),
            n => {
                out.write_all(&buf[..n]).map_err(Failure::Output)?;
                offset += n as u64;
            }
        }
    }
}

/// Copies `src` to `dst` (see [`fs::copy`]); the error names both.
///
/// ```
/// # kasync_host::Runtime::new().unwrap().block_on(async {
/// let missing = std::path::Path::new("/no/such/file");
/// let error = kasync_host::apps::cp(missing, "/tmp/x".as_ref()).await.unwrap_err();
/// assert!(error.to_string().contains("/no/such/file"), "{error}");
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub async fn cp(src: &Path, dst: &Path) -> io::Result<u64> {
    fs::copy(src, dst).await.map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cp {} {}: {e}", src.display(), dst.display()),
        )
    })
}
