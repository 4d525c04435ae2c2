//! Many loopback connections at once, for capacity tests and benchmarks:
//! the soft descriptor limit raised to the hard one, and clients spread
//! over several loopback source addresses (127.0.0.2, 127.0.0.3, …) so
//! that no single source runs out of ephemeral ports.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::os::fd::FromRawFd;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit and returns it; an
/// error that says why if the hard limit is below `needed`.
// `rlim_t` is 32 bits wide on some targets: the conversions are not
// useless there.
#[allow(clippy::useless_conversion)]
pub fn raise_descriptor_limit(needed: u64) -> Result<u64, String> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid out-parameter.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(format!("getrlimit: {}", io::Error::last_os_error()));
    }
    if u64::from(limit.rlim_max) < needed {
        return Err(format!(
            "the hard RLIMIT_NOFILE is {}, {needed} descriptors are needed",
            limit.rlim_max
        ));
    }
    limit.rlim_cur = limit.rlim_max;
    // SAFETY: `limit` is a valid in-parameter.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
        return Err(format!("setrlimit: {}", io::Error::last_os_error()));
    }
    Ok(u64::from(limit.rlim_cur))
}

/// The loopback source address for client number `i` of a crowd spread
/// over `sources` addresses: 127.0.0.2 onwards.
pub fn source_for(i: usize, sources: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, 2 + (i % usize::from(sources.max(1))) as u8)
}

/// A blocking TCP connection to the IPv4 `server` from `source` (any
/// port).
pub fn connect_from(source: Ipv4Addr, server: SocketAddr) -> io::Result<TcpStream> {
    let SocketAddr::V4(server) = server else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "connect_from connects to IPv4 servers only",
        ));
    };
    // SAFETY: plain socket creation; the descriptor is owned below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor nobody else owns.
    let stream = unsafe { TcpStream::from_raw_fd(fd) };
    let raw = |addr: SocketAddrV4| libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: addr.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*addr.ip()).to_be(),
        },
        sin_zero: [0; 8],
    };
    let len = size_of::<libc::sockaddr_in>() as libc::socklen_t;
    let (local, server) = (raw(SocketAddrV4::new(source, 0)), raw(server));
    // SAFETY: `local` and `server` are valid `sockaddr_in`s of `len` bytes,
    // and `fd` is an open socket.
    unsafe {
        if libc::bind(fd, (&raw const local).cast(), len) != 0
            || libc::connect(fd, (&raw const server).cast(), len) != 0
        {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(stream)
}
