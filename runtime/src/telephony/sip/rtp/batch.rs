//! Many datagrams per system call: `recvmmsg` drains a socket into a batch of buffers and
//! `sendmmsg` sends a tick's packets of a shared socket at once. At 2,000 two-way calls a
//! call per datagram is 200,000 system calls a second; batched, the pacer makes about two per
//! socket per millisecond. Elsewhere than Linux the same API loops over `recv_from`/`send_to`.

use std::io;
use std::net::{SocketAddr, UdpSocket};

/// The largest datagram kept: an Ethernet MTU (RTP of 20 ms G.711 is 172 bytes).
pub const DATAGRAM: usize = 1500;

/// Buffers for up to `capacity` received datagrams, reused for every read (the system call's
/// headers too: their pointers are set again before each read, nothing is allocated).
pub struct RecvBatch {
    buffers: Vec<[u8; DATAGRAM]>,
    lengths: Vec<usize>,
    sources: Vec<Option<SocketAddr>>,
    filled: usize,
    #[cfg(target_os = "linux")]
    names: Vec<libc::sockaddr_storage>,
    #[cfg(target_os = "linux")]
    iovecs: Vec<libc::iovec>,
    #[cfg(target_os = "linux")]
    headers: Vec<libc::mmsghdr>,
}

impl RecvBatch {
    pub fn new(capacity: usize) -> RecvBatch {
        let capacity = capacity.max(1);
        RecvBatch {
            buffers: vec![[0; DATAGRAM]; capacity],
            lengths: vec![0; capacity],
            sources: vec![None; capacity],
            filled: 0,
            // SAFETY: sockaddr_storage is plain data; all zeroes is a valid (AF_UNSPEC) value.
            #[cfg(target_os = "linux")]
            names: vec![unsafe { std::mem::zeroed() }; capacity],
            #[cfg(target_os = "linux")]
            iovecs: (0..capacity).map(|_| libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 }).collect(),
            // SAFETY: mmsghdr is plain data; null pointers until a read sets them.
            #[cfg(target_os = "linux")]
            headers: (0..capacity).map(|_| unsafe { std::mem::zeroed() }).collect(),
        }
    }

    /// Reads what the socket holds, up to the batch's capacity, without waiting: the number of
    /// datagrams read (0 when none was waiting). ICMP port-unreachable errors are skipped.
    pub fn recv(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        self.filled = 0;
        loop {
            match self.recv_once(socket) {
                Ok(n) => {
                    self.filled = n;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(0),
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => continue,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    #[cfg(target_os = "linux")]
    fn recv_once(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        use std::os::fd::AsRawFd;
        let capacity = self.buffers.len();
        for i in 0..capacity {
            self.iovecs[i] = libc::iovec { iov_base: self.buffers[i].as_mut_ptr().cast(), iov_len: DATAGRAM };
            let header = &mut self.headers[i];
            header.msg_len = 0;
            header.msg_hdr.msg_name = (&mut self.names[i] as *mut libc::sockaddr_storage).cast();
            header.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            header.msg_hdr.msg_iov = &mut self.iovecs[i];
            header.msg_hdr.msg_iovlen = 1;
        }
        let headers = &mut self.headers;
        // SAFETY: every header points at a live buffer, iovec and address of this batch.
        let n = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                headers.as_mut_ptr(),
                capacity as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        for (i, header) in headers.iter().take(n).enumerate() {
            self.lengths[i] = (header.msg_len as usize).min(DATAGRAM);
            self.sources[i] = socket_addr(&self.names[i], header.msg_hdr.msg_namelen);
        }
        Ok(n)
    }

    #[cfg(not(target_os = "linux"))]
    fn recv_once(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        socket.set_nonblocking(true)?;
        let mut n = 0;
        while n < self.buffers.len() {
            match socket.recv_from(&mut self.buffers[n]) {
                Ok((len, from)) => {
                    self.lengths[n] = len;
                    self.sources[n] = Some(from);
                    n += 1;
                }
                Err(e) if n > 0 && e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }

    /// Reads the socket until it is empty, handing each non-empty batch to `each` (a read
    /// error ends it like an empty socket: the next tick reads again).
    pub fn read_dry(&mut self, socket: &UdpSocket, mut each: impl FnMut(&RecvBatch)) {
        loop {
            let n = self.recv(socket).unwrap_or(0);
            if n == 0 {
                return;
            }
            each(self);
            if n < self.buffers.len() {
                return;
            }
        }
    }

    /// The datagrams of the last read, with where each came from.
    pub fn datagrams(&self) -> impl Iterator<Item = (&[u8], Option<SocketAddr>)> {
        (0..self.filled).map(|i| (&self.buffers[i][..self.lengths[i]], self.sources[i]))
    }
}

#[cfg(target_os = "linux")]
fn socket_addr(name: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV6};
    let len = len as usize;
    match name.ss_family as libc::c_int {
        libc::AF_INET if len >= std::mem::size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family and length say the kernel wrote a sockaddr_in here.
            let v4 = unsafe { &*(name as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(SocketAddr::from((Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr)), u16::from_be(v4.sin_port))))
        }
        libc::AF_INET6 if len >= std::mem::size_of::<libc::sockaddr_in6>() => {
            // SAFETY: the family and length say the kernel wrote a sockaddr_in6 here.
            let v6 = unsafe { &*(name as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let ip = Ipv6Addr::from(v6.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(ip, u16::from_be(v6.sin6_port), v6.sin6_flowinfo, v6.sin6_scope_id)))
        }
        _ => None,
    }
}

/// A tick's packets for one socket, sent with as few system calls as the kernel allows.
#[derive(Default)]
pub struct SendBatch {
    /// Every packet's bytes, one after another.
    bytes: Vec<u8>,
    /// Each packet's end in `bytes`, and its destination.
    packets: Vec<(usize, SocketAddr)>,
}

impl SendBatch {
    /// Adds the packet `write` appends to the batch's own buffer (nothing allocated once the
    /// batch has grown to a tick's size), to the address it returns; None adds nothing.
    pub fn push(&mut self, write: impl FnOnce(&mut Vec<u8>) -> Option<SocketAddr>) {
        let start = self.bytes.len();
        match write(&mut self.bytes) {
            Some(to) => self.packets.push((self.bytes.len(), to)),
            None => self.bytes.truncate(start),
        }
    }

    pub fn len(&self) -> usize {
        self.packets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }

    /// Sends every packet and empties the batch: how many left. A full socket buffer drops
    /// the rest, as the network would; the pacer never waits.
    pub fn send(&mut self, socket: &UdpSocket) -> usize {
        let sent = self.send_all(socket);
        self.bytes.clear();
        self.packets.clear();
        sent
    }

    #[cfg(target_os = "linux")]
    fn send_all(&mut self, socket: &UdpSocket) -> usize {
        use std::os::fd::AsRawFd;
        let addresses: Vec<socket2::SockAddr> = self.packets.iter().map(|(_, to)| (*to).into()).collect();
        let mut iovecs = Vec::with_capacity(self.packets.len());
        let mut start = 0;
        for (end, _) in &self.packets {
            iovecs.push(libc::iovec { iov_base: self.bytes[start..].as_mut_ptr().cast(), iov_len: end - start });
            start = *end;
        }
        // SAFETY: mmsghdr is plain data; the pointers set below outlive the call.
        let mut headers: Vec<libc::mmsghdr> = (0..iovecs.len()).map(|_| unsafe { std::mem::zeroed() }).collect();
        for (i, header) in headers.iter_mut().enumerate() {
            header.msg_hdr.msg_name = addresses[i].as_ptr() as *mut libc::c_void;
            header.msg_hdr.msg_namelen = addresses[i].len();
            header.msg_hdr.msg_iov = &mut iovecs[i];
            header.msg_hdr.msg_iovlen = 1;
        }
        let mut sent = 0;
        while sent < headers.len() {
            let rest = &mut headers[sent..];
            // SAFETY: every header points at a live address and iovec over `self.bytes`.
            let n = unsafe {
                libc::sendmmsg(socket.as_raw_fd(), rest.as_mut_ptr(), rest.len() as libc::c_uint, libc::MSG_DONTWAIT)
            };
            if n > 0 {
                sent += n as usize;
                continue;
            }
            if n == 0 {
                break;
            }
            let error = io::Error::last_os_error();
            match error.kind() {
                io::ErrorKind::Interrupted => continue,
                // A far end's ICMP error reported on this send: that packet is lost, go on.
                io::ErrorKind::ConnectionRefused => sent += 1,
                // Full buffer (or anything else): the rest of this tick is dropped.
                _ => break,
            }
        }
        sent
    }

    #[cfg(not(target_os = "linux"))]
    fn send_all(&mut self, socket: &UdpSocket) -> usize {
        let mut start = 0;
        let mut sent = 0;
        for (end, to) in &self.packets {
            if socket.send_to(&self.bytes[start..*end], to).is_ok() {
                sent += 1;
            }
            start = *end;
        }
        sent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bound() -> UdpSocket {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_nonblocking(true).unwrap();
        socket
    }

    #[test]
    fn a_batch_sent_arrives_whole_and_in_order_with_its_sources() {
        let (ours, a, b) = (bound(), bound(), bound());
        let mut out = SendBatch::default();
        for i in 0..40u8 {
            let to = if i % 2 == 0 { a.local_addr().unwrap() } else { b.local_addr().unwrap() };
            out.push(|bytes| {
                bytes.extend_from_slice(&[i; 172][..100 + i as usize]);
                Some(to)
            });
        }
        assert_eq!(out.len(), 40);
        assert_eq!(out.send(&ours), 40);
        assert!(out.is_empty());
        let mut batch = RecvBatch::new(8);
        let mut got = Vec::new();
        for socket in [&a, &b] {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            let mut from_this = 0;
            while from_this < 20 && std::time::Instant::now() < deadline {
                let n = batch.recv(socket).unwrap();
                assert!(n <= 8, "never more than the batch holds");
                for (datagram, source) in batch.datagrams() {
                    assert_eq!(source, Some(ours.local_addr().unwrap()));
                    got.push((datagram[0], datagram.len()));
                    from_this += 1;
                }
            }
        }
        let evens: Vec<_> = got.iter().take(20).map(|(i, _)| *i).collect();
        assert_eq!(evens, (0..40).step_by(2).collect::<Vec<u8>>());
        assert!(got.iter().all(|(i, len)| *len == 100 + *i as usize));
        assert_eq!(batch.recv(&a).unwrap(), 0, "nothing left: no wait, no error");
    }
}
