//! `cat` and `cp` through io_uring.

use std::io::{self, Write};
use std::path::Path;

use crate::fs::{self, File};

/// Writes the files' contents to `out`, one after the other, reading in
/// 64 KiB chunks through the ring. The error names the file that failed.
pub async fn cat(paths: &[impl AsRef<Path>], out: &mut impl Write) -> io::Result<u64> {
    let mut total = 0;
    for path in paths {
        let path = path.as_ref();
        let named = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
        let file = File::open(path).await.map_err(named)?;
        let mut offset = 0u64;
        let mut buf = Vec::with_capacity(64 * 1024);
        loop {
            buf.clear();
            let (n, back) = file.read_at(buf, offset).await;
            buf = back;
            match n.map_err(named)? {
                0 => break,
                n => {
                    out.write_all(&buf[..n])?;
                    offset += n as u64;
                }
            }
        }
        total += offset;
    }
    out.flush()?;
    Ok(total)
}

/// Copies `src` to `dst`; the error names the file that failed.
pub async fn cp(src: &Path, dst: &Path) -> io::Result<u64> {
    fs::copy(src, dst).await.map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cp {} {}: {e}", src.display(), dst.display()),
        )
    })
}
