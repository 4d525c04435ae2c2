//! The readiness backend's file work under a low descriptor limit: the
//! operations waiting on one file share one duplicate of its descriptor
//! (one each took 600 descriptors, ran out, and the rest ran out of
//! order on the loop). Its own process: it lowers the process's limit.

use std::time::Duration;

use futures_util::future::{join, join_all};
use kasync_host::fs::File;
use kasync_host::{Backend, Builder};

#[test]
fn queued_writes_share_a_descriptor_and_keep_their_order() {
    let dir = std::env::temp_dir().join(format!("kasync-fds-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (path, other) = (dir.join("f"), dir.join("other"));
    std::fs::write(&other, b"x").unwrap();
    let limit = libc::rlimit {
        rlim_cur: 256,
        rlim_max: libc::RLIM_INFINITY,
    };
    let mut old = limit;
    // SAFETY: plain calls on live `rlimit`s.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut old), 0);
        let limit = libc::rlimit {
            rlim_max: old.rlim_max,
            ..limit
        };
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
    }
    let rt = Builder::new().backend(Backend::Poll).build().unwrap();
    rt.block_on(async {
        let file = File::create(&path).await.unwrap();
        let writes = (0..600u16).map(|i| file.write_all_at(i.to_be_bytes().to_vec(), u64::MAX));
        let open_other = async {
            kasync_host::sleep(Duration::ZERO).await;
            File::open(&other).await.map(drop)
        };
        // Behind an `fsync`, so that they all queue for the pool (else
        // the page cache takes them at once).
        let (synced, (results, opened)) =
            join(file.sync_all(), join(join_all(writes), open_other)).await;
        synced.unwrap();
        for (r, _) in results {
            r.unwrap();
        }
        opened.expect("descriptors left for another file meanwhile");
        file.close().await.unwrap();
    });
    let data = std::fs::read(&path).unwrap();
    let seq: Vec<u16> = data
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    assert_eq!(
        seq,
        (0..600).collect::<Vec<_>>(),
        "writes at the current position reordered"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
