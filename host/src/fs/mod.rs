//! Files over io_uring, with owned buffers.

use std::io;
use std::mem::ManuallyDrop;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd};
use std::path::Path;

use kasync::io::{IoBuf, IoBufMut};
use kasync_ops::ops::{Close, Fsync, OpenAt, ReadAt, ReadFixedAt, WriteAt, WriteFixedAt};
use kasync_ops::{FixedBuf, FixedFd};

use crate::buf::write_all;
use crate::descriptor::Descriptor;
use crate::runtime::{Io, io, try_io};

mod copy;

pub use copy::copy;

/// Reads the whole file at `path` (tokio's `fs::read`).
///
/// ```
/// # kasync_host::Runtime::new().unwrap().block_on(async {
/// # let path = std::env::temp_dir().join(format!("kasync-doc-read-{}", std::process::id()));
/// kasync_host::fs::write(&path, [1u8, 2, 3]).await?;
/// assert_eq!(kasync_host::fs::read(&path).await?, [1, 2, 3]);
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub async fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    let file = File::open(path).await?;
    let data = file.read_to_end().await?;
    file.close().await?;
    Ok(data)
}

/// Reads the whole file at `path` as UTF-8 text (tokio's
/// `fs::read_to_string`); bytes that are not UTF-8 are an `InvalidData`
/// error that names the file.
///
/// ```
/// # kasync_host::Runtime::new().unwrap().block_on(async {
/// # let path = std::env::temp_dir().join(format!("kasync-doc-text-{}", std::process::id()));
/// kasync_host::fs::write(&path, "some text").await?;
/// assert_eq!(kasync_host::fs::read_to_string(&path).await?, "some text");
/// kasync_host::fs::write(&path, [0xffu8, 0xfe]).await?;
/// let bad = kasync_host::fs::read_to_string(&path).await.unwrap_err();
/// assert_eq!(bad.kind(), std::io::ErrorKind::InvalidData);
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub async fn read_to_string(path: impl AsRef<Path>) -> io::Result<String> {
    let path = path.as_ref();
    String::from_utf8(read(path).await?).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is not UTF-8 text: {e}", path.display()),
        )
    })
}

/// Writes `contents` to the file at `path`, creating it or truncating it
/// first (tokio's `fs::write`). Takes owned bytes or anything it can copy
/// from (`&str`, `&[u8]`, arrays).
///
/// ```
/// # kasync_host::Runtime::new().unwrap().block_on(async {
/// # let path = std::env::temp_dir().join(format!("kasync-doc-write-{}", std::process::id()));
/// kasync_host::fs::write(&path, "first, longer").await?;
/// kasync_host::fs::write(&path, String::from("second")).await?;
/// assert_eq!(std::fs::read_to_string(&path)?, "second");
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub async fn write(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> io::Result<()> {
    let file = File::create(path).await?;
    let (result, _) = file.write_all_at(contents.as_ref().to_vec(), 0).await;
    result?;
    file.close().await
}

/// An open file. Reads and writes name their offset; buffers are taken and
/// given back with the result.
#[derive(Debug)]
pub struct File {
    fd: Descriptor,
}

impl File {
    /// Opens `path` for reading.
    ///
    /// ```
    /// use kasync_host::fs::File;
    /// # kasync_host::Runtime::new().unwrap().block_on(async {
    /// let file = File::open("/etc/hostname").await;
    /// # drop(file);
    /// let missing = File::open("/no/such/file").await.unwrap_err();
    /// assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn open(path: impl AsRef<Path>) -> io::Result<File> {
        Self::open_with(path.as_ref(), libc::O_RDONLY, 0).await
    }

    /// Creates (or truncates) `path` for writing, mode 0644.
    ///
    /// ```
    /// use kasync_host::fs::File;
    /// # kasync_host::Runtime::new().unwrap().block_on(async {
    /// let path = std::env::temp_dir().join(format!("kasync-doc-create-{}", std::process::id()));
    /// let file = File::create(&path).await?;
    /// file.write_all_at("written through the ring\n", 0).await.0?;
    /// file.close().await?;
    /// assert_eq!(std::fs::read_to_string(&path)?, "written through the ring\n");
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn create(path: impl AsRef<Path>) -> io::Result<File> {
        Self::open_with(
            path.as_ref(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC,
            0o644,
        )
        .await
    }

    /// Opens `path` with `open(2)` flags and mode.
    ///
    /// ```
    /// use kasync_host::fs::File;
    /// # kasync_host::Runtime::new().unwrap().block_on(async {
    /// let path = std::env::temp_dir().join(format!("kasync-doc-append-{}", std::process::id()));
    /// let log = File::open_with(&path, libc::O_WRONLY | libc::O_CREAT | libc::O_APPEND, 0o600).await?;
    /// log.write_all_at("one\n", u64::MAX).await.0?; // u64::MAX: at the end
    /// log.write_all_at("two\n", u64::MAX).await.0?;
    /// assert_eq!(std::fs::read_to_string(&path)?, "one\ntwo\n");
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn open_with(path: &Path, flags: i32, mode: u32) -> io::Result<File> {
        let fd = io().submit(OpenAt::new(path, flags, mode)?).await?;
        Ok(File { fd: fd.into() })
    }

    /// Reads into `buf` at `offset`, appending after the bytes it holds up
    /// to its capacity; `Ok(0)` at end of file. No spare capacity is
    /// `InvalidInput` (see [`Socket::read`](crate::net::Socket::read)).
    ///
    /// ```
    /// # kasync_host::Runtime::new().unwrap().block_on(async {
    /// # let path = std::env::temp_dir().join(format!("kasync-doc-read-{}", std::process::id()));
    /// # std::fs::write(&path, "0123456789")?;
    /// let file = kasync_host::fs::File::open(&path).await?;
    /// let (n, buf) = file.read_at(Vec::with_capacity(4), 3).await;
    /// assert_eq!(&buf[..n?], b"3456");
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn read_at<B: IoBufMut>(&self, buf: B, offset: u64) -> (io::Result<usize>, B) {
        io().submit(ReadAt {
            fd: (self.fd.as_raw_fd()).into(),
            buf,
            offset,
        })
        .await
    }

    /// Writes `buf`'s bytes at `offset`; may write only part of them.
    ///
    /// ```
    /// # kasync_host::Runtime::new().unwrap().block_on(async {
    /// # let path = std::env::temp_dir().join(format!("kasync-doc-write-{}", std::process::id()));
    /// let file = kasync_host::fs::File::create(&path).await?;
    /// let (n, _) = file.write_at("abc", 10).await; // a hole before it
    /// assert_eq!(n?, 3);
    /// assert_eq!(file.metadata()?.len(), 13);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn write_at<B: IoBuf>(&self, buf: B, offset: u64) -> (io::Result<usize>, B) {
        io().submit(WriteAt {
            fd: (self.fd.as_raw_fd()).into(),
            buf,
            offset,
        })
        .await
    }

    /// Writes all of `buf`'s bytes at `offset` (`u64::MAX`: at the current
    /// position, for pipes and files opened for appending); gives the
    /// buffer back in any case. An offset beyond `i64::MAX` (no file has
    /// one) is `InvalidInput`.
    ///
    /// (See [`create`](Self::create) for an example.)
    pub async fn write_all_at<B: IoBuf>(&self, buf: B, offset: u64) -> (io::Result<()>, B) {
        if offset != u64::MAX && offset > i64::MAX as u64 {
            let error = io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("file offset {offset} is beyond the largest a file can have"),
            );
            return (Err(error), buf);
        }
        let fd = self.fd.as_raw_fd();
        write_all(buf, |tail, done| {
            // `done` ≤ the buffer's length: no overflow past `i64::MAX`.
            let at = if offset == u64::MAX {
                u64::MAX
            } else {
                offset + done
            };
            io().submit(WriteAt {
                fd: fd.into(),
                buf: tail,
                offset: at,
            })
        })
        .await
    }

    /// Reads the whole file from offset 0.
    ///
    /// ```
    /// # kasync_host::Runtime::new().unwrap().block_on(async {
    /// # let path = std::env::temp_dir().join(format!("kasync-doc-all-{}", std::process::id()));
    /// # std::fs::write(&path, vec![7u8; 100_000])?;
    /// let data = kasync_host::fs::File::open(&path).await?.read_to_end().await?;
    /// assert_eq!(data.len(), 100_000);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn read_to_end(&self) -> io::Result<Vec<u8>> {
        let mut data = Vec::new();
        let mut chunk = Vec::with_capacity(64 * 1024);
        loop {
            chunk.clear();
            let (result, back) = self.read_at(chunk, data.len() as u64).await;
            chunk = back;
            match result? {
                0 => return Ok(data),
                _ => data.extend_from_slice(&chunk),
            }
        }
    }

    /// Reads into a registered buffer at `offset` (see
    /// [`Runtime::register_buffers`](crate::Runtime::register_buffers)).
    ///
    /// ```
    /// let rt = kasync_host::Runtime::new()?;
    /// let pool = rt.register_buffers(2, 4096)?;
    /// rt.block_on(async {
    /// # let path = std::env::temp_dir().join(format!("kasync-doc-fixed-{}", std::process::id()));
    /// # std::fs::write(&path, "registered")?;
    ///     let file = kasync_host::fs::File::open(&path).await?;
    ///     let (n, buf) = file.read_fixed_at(pool.take().expect("a free buffer"), 0).await;
    ///     assert_eq!(&buf.as_slice()[..n?], b"registered");
    /// # std::fs::remove_file(&path)?;
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn read_fixed_at(&self, buf: FixedBuf, offset: u64) -> (io::Result<usize>, FixedBuf) {
        io().submit(ReadFixedAt {
            fd: self.fd.as_raw_fd().into(),
            buf,
            offset,
        })
        .await
    }

    /// Writes a registered buffer's data at `offset`.
    ///
    /// ```
    /// let rt = kasync_host::Runtime::new()?;
    /// let pool = rt.register_buffers(2, 4096)?;
    /// rt.block_on(async {
    /// # let path = std::env::temp_dir().join(format!("kasync-doc-wfixed-{}", std::process::id()));
    ///     let file = kasync_host::fs::File::create(&path).await?;
    ///     let mut buf = pool.take().expect("a free buffer");
    ///     buf.extend_from_slice(b"from a registered buffer");
    ///     let (n, _buf) = file.write_fixed_at(buf, 0).await;
    ///     assert_eq!(n?, 24);
    /// # std::fs::remove_file(&path)?;
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn write_fixed_at(
        &self,
        buf: FixedBuf,
        offset: u64,
    ) -> (io::Result<usize>, FixedBuf) {
        io().submit(WriteFixedAt {
            fd: self.fd.as_raw_fd().into(),
            buf,
            offset,
        })
        .await
    }

    /// Registers the file with the current runtime's ring, so operations
    /// through the returned handle skip the descriptor lookup. The handle
    /// works inside that runtime's [`block_on`](crate::Runtime::block_on)
    /// (elsewhere its operations fail with an error) and unregisters the
    /// file when dropped, inside or outside `block_on`.
    ///
    /// # Panics
    /// Outside [`Runtime::block_on`](crate::Runtime::block_on).
    ///
    /// ```
    /// # kasync_host::Runtime::new().unwrap().block_on(async {
    /// # let path = std::env::temp_dir().join(format!("kasync-doc-reg-{}", std::process::id()));
    /// # std::fs::write(&path, "hot file")?;
    /// let file = kasync_host::fs::File::open(&path).await?;
    /// let registered = file.register()?;
    /// let (n, buf) = registered.read_at(Vec::with_capacity(8), 0).await;
    /// assert_eq!(&buf[..n?], b"hot file");
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn register(&self) -> io::Result<RegisteredFile<'_>> {
        let ring = io();
        let fixed = ring
            .reactor()
            .with_driver(|d| d.register_file(self.fd.as_raw_fd()))?;
        Ok(RegisteredFile {
            _file: self,
            ring,
            fixed,
        })
    }

    /// Flushes data and metadata to storage.
    ///
    /// ```
    /// # kasync_host::Runtime::new().unwrap().block_on(async {
    /// # let path = std::env::temp_dir().join(format!("kasync-doc-sync-{}", std::process::id()));
    /// let file = kasync_host::fs::File::create(&path).await?;
    /// file.write_all_at("durable", 0).await.0?;
    /// file.sync_all().await?; // on storage now
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn sync_all(&self) -> io::Result<()> {
        io().submit(Fsync {
            fd: self.fd.as_raw_fd(),
        })
        .await
    }

    /// The file's metadata.
    ///
    /// (See [`write_at`](Self::write_at) for an example.)
    pub fn metadata(&self) -> io::Result<std::fs::Metadata> {
        // SAFETY: the std value borrows our descriptor for the call and is
        // never dropped, so it does not close it.
        let file = ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(self.fd.as_raw_fd()) });
        file.metadata()
    }

    /// Truncates or extends the file to `len` bytes (`ftruncate`; the
    /// extension is a hole).
    ///
    /// ```
    /// # kasync_host::Runtime::new().unwrap().block_on(async {
    /// # let path = std::env::temp_dir().join(format!("kasync-doc-len-{}", std::process::id()));
    /// let file = kasync_host::fs::File::create(&path).await?;
    /// file.set_len(1 << 20)?;
    /// assert_eq!(file.metadata()?.len(), 1 << 20);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn set_len(&self, len: u64) -> io::Result<()> {
        // SAFETY: as in `metadata`: borrowed for the call, never dropped.
        let file = ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(self.fd.as_raw_fd()) });
        file.set_len(len)
    }

    /// Closes the file through the ring, reporting errors (dropping a
    /// `File` closes it too, silently).
    ///
    /// (See [`create`](Self::create) for an example.)
    pub async fn close(self) -> io::Result<()> {
        io().submit(Close::new(self.fd.into_owned())).await
    }
}

/// A [`File`] registered in a ring's file table (see [`File::register`]).
///
/// A registration belongs to one ring: the handle is neither `Send` nor
/// `Sync`, and used inside another runtime's `block_on` its operations fail
/// (the index would name another file there).
#[derive(Debug)]
pub struct RegisteredFile<'f> {
    _file: &'f File,
    /// The ring whose table holds the file.
    ring: Io,
    fixed: FixedFd,
}

impl RegisteredFile<'_> {
    /// The registering ring, if it is the current runtime's.
    fn ring(&self) -> io::Result<Io> {
        match try_io() {
            Some(current) if std::ptr::eq(&*current.reactor(), &*self.ring.reactor()) => {
                Ok(self.ring)
            }
            Some(_) => Err(io::Error::other(
                "this file was registered with another runtime's ring: register it again in this runtime",
            )),
            None => Err(io::Error::other(
                "no kasync runtime is running on this thread: use the registered file inside Runtime::block_on",
            )),
        }
    }

    /// Reads into `buf` at `offset` through the registered descriptor
    /// (appending, as [`File::read_at`]). See [`File::register`] for an
    /// example.
    pub async fn read_at<B: IoBufMut>(&self, buf: B, offset: u64) -> (io::Result<usize>, B) {
        let ring = match self.ring() {
            Ok(ring) => ring,
            Err(e) => return (Err(e), buf),
        };
        ring.submit(ReadAt {
            fd: self.fixed.into(),
            buf,
            offset,
        })
        .await
    }

    /// Writes `buf`'s bytes at `offset` through the registered descriptor.
    ///
    /// ```
    /// # kasync_host::Runtime::new().unwrap().block_on(async {
    /// # let path = std::env::temp_dir().join(format!("kasync-doc-regw-{}", std::process::id()));
    /// let file = kasync_host::fs::File::create(&path).await?;
    /// let registered = file.register()?;
    /// let (n, _) = registered.write_at("fast path", 0).await;
    /// assert_eq!(n?, 9);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn write_at<B: IoBuf>(&self, buf: B, offset: u64) -> (io::Result<usize>, B) {
        let ring = match self.ring() {
            Ok(ring) => ring,
            Err(e) => return (Err(e), buf),
        };
        ring.submit(WriteAt {
            fd: self.fixed.into(),
            buf,
            offset,
        })
        .await
    }

    /// Reads into a registered buffer: both registrations at once.
    ///
    /// ```
    /// let rt = kasync_host::Runtime::new()?;
    /// let pool = rt.register_buffers(2, 4096)?;
    /// rt.block_on(async {
    /// # let path = std::env::temp_dir().join(format!("kasync-doc-both-{}", std::process::id()));
    /// # std::fs::write(&path, "both")?;
    ///     let file = kasync_host::fs::File::open(&path).await?;
    ///     let registered = file.register()?;
    ///     let (n, buf) = registered.read_fixed_at(pool.take().expect("free"), 0).await;
    ///     assert_eq!(&buf.as_slice()[..n?], b"both");
    /// # std::fs::remove_file(&path)?;
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn read_fixed_at(&self, buf: FixedBuf, offset: u64) -> (io::Result<usize>, FixedBuf) {
        let ring = match self.ring() {
            Ok(ring) => ring,
            Err(e) => return (Err(e), buf),
        };
        ring.submit(ReadFixedAt {
            fd: self.fixed.into(),
            buf,
            offset,
        })
        .await
    }
}

impl Drop for RegisteredFile<'_> {
    fn drop(&mut self) {
        // Through the registering ring, which outlives every runtime (a
        // dropped runtime's ring waits for the next one on this thread):
        // the kernel would otherwise keep the file open in its table. The
        // handle is not `Send`, so this runs on the ring's thread, and not
        // while the ring reaps (no operation owns a registration).
        let _ = self
            .ring
            .reactor()
            .with_driver(|d| d.unregister_file(self.fixed));
    }
}

impl AsFd for File {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
