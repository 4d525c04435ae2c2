//! Socket addresses in the kernel's layout.

use std::mem;
use std::net::SocketAddr;

/// A socket address in the kernel's layout (`sockaddr_storage` plus its
/// length), as `bind`, `connect` and `accept` take it.
pub struct RawAddr {
    pub(crate) storage: libc::sockaddr_storage,
    pub(crate) len: libc::socklen_t,
}

impl std::fmt::Debug for RawAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawAddr").field("len", &self.len).finish()
    }
}

impl RawAddr {
    /// Pointer for system calls.
    pub fn as_ptr(&self) -> *const libc::sockaddr {
        (&self.storage as *const libc::sockaddr_storage).cast()
    }

    /// Length in bytes for system calls.
    pub fn len(&self) -> libc::socklen_t {
        self.len
    }

    /// `true` for an empty address (nothing written yet).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn empty() -> Self {
        Self {
            // SAFETY: all-zero bytes are a valid `sockaddr_storage`.
            storage: unsafe { mem::zeroed() },
            len: mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t,
        }
    }

    /// `addr` in the kernel's layout.
    pub fn from_socket_addr(addr: SocketAddr) -> Self {
        let mut raw = Self::empty();
        match addr {
            SocketAddr::V4(a) => {
                // Field by field on a zeroed value: the struct has more
                // fields on some systems (`sin_len`).
                // SAFETY: all-zero bytes are a valid `sockaddr_in`.
                let mut sin: libc::sockaddr_in = unsafe { mem::zeroed() };
                sin.sin_family = libc::AF_INET as libc::sa_family_t;
                sin.sin_port = a.port().to_be();
                sin.sin_addr.s_addr = u32::from_ne_bytes(a.ip().octets());
                // SAFETY: `sockaddr_storage` is larger than and aligned
                // for every socket address type.
                unsafe {
                    (&mut raw.storage as *mut libc::sockaddr_storage)
                        .cast::<libc::sockaddr_in>()
                        .write(sin)
                };
                raw.len = mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            }
            SocketAddr::V6(a) => {
                // SAFETY: all-zero bytes are a valid `sockaddr_in6`.
                let mut sin6: libc::sockaddr_in6 = unsafe { mem::zeroed() };
                sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                sin6.sin6_port = a.port().to_be();
                sin6.sin6_flowinfo = a.flowinfo();
                sin6.sin6_addr.s6_addr = a.ip().octets();
                sin6.sin6_scope_id = a.scope_id();
                // SAFETY: as above.
                unsafe {
                    (&mut raw.storage as *mut libc::sockaddr_storage)
                        .cast::<libc::sockaddr_in6>()
                        .write(sin6)
                };
                raw.len = mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
            }
        }
        raw
    }

    /// The address, if it is an IPv4 or IPv6 one.
    pub fn to_socket_addr(&self) -> Option<SocketAddr> {
        let storage = &self.storage as *const libc::sockaddr_storage;
        match i32::from(self.storage.ss_family) {
            libc::AF_INET => {
                // SAFETY: the family says the storage holds a `sockaddr_in`.
                let sin = unsafe { &*storage.cast::<libc::sockaddr_in>() };
                let ip = std::net::Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
                Some(SocketAddr::from((ip, u16::from_be(sin.sin_port))))
            }
            libc::AF_INET6 => {
                // SAFETY: the family says the storage holds a `sockaddr_in6`.
                let sin6 = unsafe { &*storage.cast::<libc::sockaddr_in6>() };
                let ip = std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                Some(SocketAddr::V6(std::net::SocketAddrV6::new(
                    ip,
                    u16::from_be(sin6.sin6_port),
                    sin6.sin6_flowinfo,
                    sin6.sin6_scope_id,
                )))
            }
            _ => None,
        }
    }
}
