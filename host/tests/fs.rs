//! Files over the real kernel: copying, offsets, errors.

use std::io::ErrorKind;
use std::path::PathBuf;

use kasync_host::Runtime;
use kasync_host::fs::File;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kasync-fs-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn write_and_read_at_odd_offsets() {
    let dir = scratch("offsets");
    let path = dir.join("f");
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let file = File::create(&path).await.unwrap();
        let (r, _) = file.write_all_at(b"0123456789".to_vec(), 0).await;
        r.unwrap();
        let (r, _) = file.write_all_at(b"abc".to_vec(), 7).await;
        r.unwrap();
        let (r, _) = file.write_all_at(b"Z".to_vec(), 13).await; // leaves a hole
        r.unwrap();
        file.sync_all().await.unwrap();
        assert_eq!(file.metadata().unwrap().len(), 14);
        file.close().await.unwrap();

        let file = File::open(&path).await.unwrap();
        let (n, buf) = file.read_at(Vec::with_capacity(5), 3).await;
        assert_eq!(n.unwrap(), 5);
        assert_eq!(&buf, b"3456a");
        assert_eq!(file.read_to_end().await.unwrap(), b"0123456abc\0\0\0Z");
        let (n, _) = file.read_at(Vec::with_capacity(8), 100).await;
        assert_eq!(n.unwrap(), 0, "reading past the end is end-of-file");
    });
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn missing_file_and_directory_errors() {
    let dir = scratch("errors");
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let err = File::open(dir.join("does-not-exist")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        // A directory opens, but reading it fails with EISDIR.
        let d = File::open(&dir).await.unwrap();
        let (r, _) = d.read_at(Vec::with_capacity(16), 0).await;
        assert_eq!(r.unwrap_err().raw_os_error(), Some(libc::EISDIR));
        let err = File::open("bad\0path").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    });
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn copy_a_large_file_checksums_equal() {
    let dir = scratch("copy");
    let (src, dst) = (dir.join("src"), dir.join("dst"));
    let size: usize = 64 << 20;
    let data: Vec<u8> = (0..size).map(|i| (i * 31 + i / 4093) as u8).collect();
    std::fs::write(&src, &data).unwrap();
    let rt = Runtime::new().unwrap();
    let copied = rt.block_on(kasync_host::fs::copy(&src, &dst)).unwrap();
    assert_eq!(copied, size as u64);
    assert!(std::fs::read(&dst).unwrap() == data, "copy differs");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn registered_buffers_and_files() {
    let dir = scratch("fixed");
    let path = dir.join("f");
    let data: Vec<u8> = (0..20_000u32).map(|i| (i % 241) as u8).collect();
    std::fs::write(&path, &data).unwrap();
    let rt = Runtime::new().unwrap();
    let pool = rt.register_buffers(4, 8192).unwrap();
    rt.block_on(async {
        let file = File::open(&path).await.unwrap();
        // A registered buffer, a plain descriptor.
        let (n, buf) = file.read_fixed_at(pool.take().unwrap(), 100).await;
        assert_eq!(n.unwrap(), 8192);
        assert_eq!(buf.as_slice(), &data[100..100 + 8192]);
        // A registered descriptor, with plain and registered buffers.
        let fixed = file.register().unwrap();
        let (n, plain) = fixed.read_at(Vec::with_capacity(10), 19_995).await;
        assert_eq!(n.unwrap(), 5);
        assert_eq!(&plain, &data[19_995..]);
        // A full buffer is refused (a read appends), and left as it was.
        let (n, mut buf) = fixed.read_fixed_at(buf, 0).await;
        assert_eq!(n.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
        assert_eq!(buf.as_slice(), &data[100..100 + 8192]);
        buf.clear();
        let (n, buf) = fixed.read_fixed_at(buf, 0).await;
        assert_eq!(n.unwrap(), 8192);
        assert_eq!(buf.as_slice(), &data[..8192]);
        drop(buf);
        assert_eq!(pool.available(), 4);
    });
    // The ring (and its registration) is reused by the next runtime.
    drop(rt);
    let rt = Runtime::new().unwrap();
    assert!(std::ptr::eq(rt.register_buffers(4, 8192).unwrap(), pool));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A registration dropped outside `block_on` is still given back: the
/// ring's file table (1024 entries) would otherwise fill up, and the kernel
/// would keep every such file open.
#[test]
fn a_registration_dropped_outside_block_on_frees_its_entry() {
    let dir = scratch("unregister");
    let path = dir.join("f");
    std::fs::write(&path, b"kasync").unwrap();
    let rt = Runtime::new().unwrap();
    let file = rt.block_on(File::open(&path)).unwrap();
    for round in 0..1100 {
        let registered = rt
            .block_on(async { file.register() })
            .unwrap_or_else(|e| panic!("registration {round}: {e}"));
        drop(registered);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A registered index names a file in one ring only: used inside another
/// runtime, whose table holds another file at the same index, the
/// operation fails instead of reading that other file.
#[test]
fn a_registration_is_refused_by_another_runtime() {
    let dir = scratch("other-ring");
    let (ours, theirs) = (dir.join("ours"), dir.join("theirs"));
    std::fs::write(&ours, b"ours").unwrap();
    std::fs::write(&theirs, b"theirs").unwrap();
    let a = Runtime::new().unwrap();
    let b = Runtime::new().unwrap();
    let our_file = a.block_on(File::open(&ours)).unwrap();
    let their_file = b.block_on(File::open(&theirs)).unwrap();
    let registered = a.block_on(async { our_file.register() }).unwrap();
    let their_registration = b.block_on(async { their_file.register() }).unwrap();
    let (read, buf) = b.block_on(registered.read_at(Vec::with_capacity(16), 0));
    let error = read.expect_err("another ring's registration");
    assert!(
        error.to_string().contains("another runtime"),
        "unexpected error: {error}"
    );
    assert!(buf.is_empty(), "nothing was read, the buffer came back");
    // In its own runtime it reads its own file.
    let (read, buf) = a.block_on(registered.read_at(Vec::with_capacity(16), 0));
    assert_eq!(read.unwrap(), 4);
    assert_eq!(buf, b"ours");
    drop((registered, their_registration));
    std::fs::remove_dir_all(&dir).unwrap();
}
