//! [`copy`]: one file's bytes into another through the ring, the way `cp`
//! does it — never onto itself, the destination untouched until the source
//! is known to be readable, holes kept.

use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::File;

/// Bytes per read and write.
const CHUNK: usize = 256 * 1024;

/// Copies `src` to `dst` and returns the copy's length in bytes.
///
/// * `dst` naming a directory copies into it, under `src`'s file name.
/// * A copy of a file onto itself — the same path, a symbolic or a hard
///   link — is refused (`InvalidInput`) before `dst` is opened for
///   writing; so is a directory as `src` (`IsADirectory`). `dst` is
///   truncated only once `src` is open and known to be a file or a stream.
/// * Holes in a regular file stay holes (found with `SEEK_DATA` and
///   `SEEK_HOLE`; on file systems without them every byte is copied). A
///   stream (a pipe, a device) — or a file whose size says nothing, like
///   those in `/proc` — is copied until its end. A destination that is not
///   a regular file (`/dev/null`, a pipe) is written in order, without
///   truncating or seeking it.
/// * `dst` is created with `src`'s permission bits (not its set-ID bits)
///   if it does not exist; a
///   dangling symbolic link as `dst` is refused, not written through.
///
/// ```
/// # kasync_host::Runtime::new().unwrap().block_on(async {
/// let dir = std::env::temp_dir();
/// let (src, dst) = (dir.join(format!("kasync-doc-src-{}", std::process::id())), dir.join(format!("kasync-doc-dst-{}", std::process::id())));
/// std::fs::write(&src, "copied through the ring")?;
/// let bytes = kasync_host::fs::copy(&src, &dst).await?;
/// assert_eq!(bytes, 23);
/// assert_eq!(std::fs::read(&dst)?, std::fs::read(&src)?);
/// # std::fs::remove_file(&src)?; std::fs::remove_file(&dst)?;
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub async fn copy(src: impl AsRef<Path>, dst: impl AsRef<Path>) -> io::Result<u64> {
    let src = src.as_ref();
    let from = File::open(src).await?;
    let meta = from.metadata()?;
    if meta.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::IsADirectory,
            format!("{} is a directory", src.display()),
        ));
    }
    let dst = target(src, dst.as_ref())?;
    if std::fs::metadata(&dst).is_ok_and(|d| same_file(&d, &meta)) {
        return Err(same_file_error(src, &dst));
    }
    if std::fs::symlink_metadata(&dst).is_ok_and(|l| l.is_symlink()) && !dst.exists() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} is a dangling symbolic link: not writing through it",
                dst.display()
            ),
        ));
    }
    // The permission bits only: like `cp`, no set-user-ID, set-group-ID
    // or sticky bit on a new copy.
    let to = File::open_with(&dst, libc::O_WRONLY | libc::O_CREAT, meta.mode() & 0o777).await?;
    // A link made between the check above and the open: still refused,
    // still before anything was written.
    let to_meta = to.metadata()?;
    if same_file(&to_meta, &meta) {
        return Err(same_file_error(src, &dst));
    }
    let len = if !to_meta.is_file() {
        // A device or a pipe: in order, no truncation, no offsets.
        copy_stream(&from, &to, None).await?
    } else {
        to.set_len(0)?;
        if meta.is_file() && meta.len() > 0 {
            copy_sparse(&from, &to, meta.len()).await?
        } else {
            // A stream, or a file that does not know its size (`/proc`).
            copy_stream(&from, &to, Some(0)).await?
        }
    };
    to.close().await?;
    Ok(len)
}

/// Where a copy of `src` to `dst` goes: into `dst` if it is a directory.
fn target(src: &Path, dst: &Path) -> io::Result<PathBuf> {
    if !dst.is_dir() {
        return Ok(dst.to_path_buf());
    }
    let name = src.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} has no file name to copy into a directory",
                src.display()
            ),
        )
    })?;
    Ok(dst.join(name))
}

fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    a.dev() == b.dev() && a.ino() == b.ino()
}

fn same_file_error(src: &Path, dst: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "{} and {} are the same file (nothing was copied)",
            src.display(),
            dst.display()
        ),
    )
}

/// The next data region of `file` at or after `from`: `(start, end)`, or
/// `None` past the last one. Without `SEEK_DATA` support, everything from
/// `from` to `len` is data.
fn next_data(file: &File, from: u64, len: u64) -> io::Result<Option<(u64, u64)>> {
    let fd = file.as_fd().as_raw_fd();
    let at = i64::try_from(from).map_err(|_| io::ErrorKind::InvalidInput)?;
    // SAFETY: plain `lseek` calls on a descriptor we hold open.
    let start = unsafe { libc::lseek(fd, at, libc::SEEK_DATA) };
    if start < 0 {
        return match io::Error::last_os_error().raw_os_error() {
            Some(libc::ENXIO) => Ok(None), // no data after `from`
            Some(libc::EINVAL | libc::EOPNOTSUPP) if from < len => Ok(Some((from, len))),
            Some(libc::EINVAL | libc::EOPNOTSUPP) => Ok(None),
            _ => Err(io::Error::last_os_error()),
        };
    }
    // SAFETY: as above.
    let end = unsafe { libc::lseek(fd, start, libc::SEEK_HOLE) };
    if end < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Some((
        start as u64,
        (end as u64).min(len).max(start as u64),
    )))
}

/// Copies the data regions of a regular file of `len` bytes and leaves its
/// holes as holes; returns the copy's length: `len`, or where the file
/// ended if it was shorter than it said (a file in `/sys`, a file that
/// shrank meanwhile).
async fn copy_sparse(from: &File, to: &File, len: u64) -> io::Result<u64> {
    let mut buf = Vec::with_capacity(CHUNK);
    let mut pos = 0;
    let mut len = len;
    while let Some((start, end)) = next_data(from, pos, len)? {
        let mut offset = start;
        while offset < end {
            buf.clear();
            let want = (end - offset).min(CHUNK as u64) as usize;
            buf.reserve_exact(want);
            let (n, back) = from.read_at(buf, offset).await;
            buf = back;
            let n = n?;
            if n == 0 {
                // It ends here, sooner than it said.
                len = offset;
                break;
            }
            buf.truncate(n.min(want));
            let (written, back) = to.write_all_at(buf, offset).await;
            written?;
            buf = back;
            offset += n.min(want) as u64;
        }
        pos = end.max(start + 1);
        if pos >= len {
            break;
        }
        if offset < end {
            break; // ended early (above)
        }
    }
    // The length, and with it a hole at the end — no longer than the file
    // is now, if it shrank meanwhile.
    let len = len.min(from.metadata()?.len());
    to.set_len(len)?;
    Ok(len)
}

/// Copies `from` from its current position until its end; returns the
/// bytes copied. They are written at offsets from `to_start` on, or in
/// order at `to`'s current position (`None`: a pipe, a device).
async fn copy_stream(from: &File, to: &File, to_start: Option<u64>) -> io::Result<u64> {
    let mut buf = Vec::with_capacity(CHUNK);
    let mut copied = 0;
    loop {
        buf.clear();
        let (n, back) = from.read_at(buf, u64::MAX).await;
        buf = back;
        if n? == 0 {
            return Ok(copied);
        }
        let at = to_start.map_or(u64::MAX, |start| start + copied);
        let (written, back) = to.write_all_at(buf, at).await;
        written?;
        buf = back;
        copied += buf.len() as u64;
    }
}
