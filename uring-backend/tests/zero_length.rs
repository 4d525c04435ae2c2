//! Zero-length calls (only custom operations make them: the host's reads
//! refuse empty buffers). A zero-length read completes with 0 at once (a
//! NOP entry: some kernels' io_uring would wait on an empty pipe); a
//! zero-length receive is the kernel's — on a datagram socket recv(2) of
//! 0 bytes takes the next datagram, as the readiness backend's call does.

use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use kasync::io::{Driver, OpId};
use kasync_ops::{Call, flags};
use kasync_uring::{Config, UringDriver};

fn pair() -> (UdpSocket, UdpSocket) {
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    b.connect(a.local_addr().unwrap()).unwrap();
    a.connect(b.local_addr().unwrap()).unwrap();
    (a, b)
}

fn queued(socket: &UdpSocket) -> bool {
    socket.set_nonblocking(true).unwrap();
    let mut byte = [0u8; 16];
    let r = socket.peek(&mut byte).is_ok();
    socket.set_nonblocking(false).unwrap();
    r
}

#[test]
fn a_zero_length_recv_on_a_datagram_socket_takes_the_datagram() {
    // What the kernel does.
    let (a, b) = pair();
    b.send(b"first").unwrap();
    std::thread::sleep(Duration::from_millis(10));
    // SAFETY: a zero-length recv names no memory.
    let r = unsafe { libc::recv(a.as_raw_fd(), std::ptr::null_mut(), 0, 0) };
    assert_eq!(r, 0);
    assert!(!queued(&a), "recv(2) of 0 bytes consumed the datagram");

    // What the driver does.
    let (a, b) = pair();
    b.send(b"first").unwrap();
    std::thread::sleep(Duration::from_millis(10));
    let mut driver = UringDriver::new(&Config::default()).unwrap();
    let mut byte = 0u8;
    assert!(driver.push(OpId::from_u64(7), || Call::Recv {
        fd: a.as_raw_fd(),
        buf: &mut byte,
        len: 0,
        flags: 0,
    }));
    let start = Instant::now();
    let mut got = None;
    while got.is_none() && start.elapsed() < Duration::from_secs(5) {
        driver.flush();
        driver.reap(|_, c| got = Some(c));
        std::thread::sleep(Duration::from_millis(1));
    }
    let got = got.expect("a completion");
    assert!(!flags::more(got.flags));
    assert_eq!(got.result, 0);
    assert!(
        !queued(&a),
        "the zero-length Call::Recv completed with 0 but left the datagram queued: \
         a NOP, not recv(2)"
    );
}
