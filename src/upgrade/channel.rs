//! The hand-over channel between the old and the new process: one end each of a
//! `SOCK_SEQPACKET` socketpair, so every message keeps its boundaries, each a short text and up
//! to [`MAX_FDS`] descriptors passed with `SCM_RIGHTS` (the kernel installs duplicates of them in
//! the receiver; both processes then hold the same open sockets).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// Descriptors per message, below the kernel's `SCM_MAX_FD` (253); more go in more messages.
pub const MAX_FDS: usize = 200;
/// The largest text a message carries.
const MAX_TEXT: usize = 64 * 1024;

/// One end of the channel.
pub struct Channel {
    fd: OwnedFd,
}

/// A received message.
pub struct Message {
    /// Its text.
    pub text: Vec<u8>,
    /// The descriptors it carried, close-on-exec.
    pub fds: Vec<OwnedFd>,
}

impl Channel {
    /// A connected pair, both ends close-on-exec (the child's end is made inheritable only in
    /// the child, between fork and exec).
    pub fn pair() -> io::Result<(Channel, Channel)> {
        let mut fds = [0 as RawFd; 2];
        // SAFETY: socketpair(2) writes two descriptors into the array on this stack frame.
        if unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0, fds.as_mut_ptr()) }
            != 0
        {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: socketpair succeeded, so both descriptors are open and owned by nobody else.
        let (first, second) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        Ok((Channel { fd: first }, Channel { fd: second }))
    }

    /// The channel on a descriptor this process inherited.
    pub fn from_fd(fd: OwnedFd) -> Channel {
        Channel { fd }
    }

    /// Sends `text` with `fds` (at most [`MAX_FDS`]).
    pub fn send(&self, text: &[u8], fds: &[BorrowedFd<'_>]) -> io::Result<()> {
        assert!(fds.len() <= MAX_FDS && text.len() <= MAX_TEXT, "a hand-over message within the limits");
        let raw: Vec<RawFd> = fds.iter().map(AsRawFd::as_raw_fd).collect();
        let payload = std::mem::size_of_val(raw.as_slice()) as u32;
        // SAFETY: CMSG_SPACE only computes a size.
        let mut control = vec![0u8; unsafe { libc::CMSG_SPACE(payload) } as usize];
        let mut iov = libc::iovec { iov_base: text.as_ptr() as *mut libc::c_void, iov_len: text.len() };
        // SAFETY: msghdr is plain data; the fields set below point at `iov` and `control`, which
        // outlive the sendmsg call.
        let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
        header.msg_iov = &mut iov;
        header.msg_iovlen = 1;
        if !raw.is_empty() {
            header.msg_control = control.as_mut_ptr().cast();
            header.msg_controllen = control.len() as _;
            // SAFETY: `control` is CMSG_SPACE(payload) bytes, room for one header and `raw`;
            // CMSG_FIRSTHDR returns its start, and CMSG_DATA the payload inside it.
            unsafe {
                let cmsg = libc::CMSG_FIRSTHDR(&header);
                (*cmsg).cmsg_level = libc::SOL_SOCKET;
                (*cmsg).cmsg_type = libc::SCM_RIGHTS;
                (*cmsg).cmsg_len = libc::CMSG_LEN(payload) as _;
                std::ptr::copy_nonoverlapping(raw.as_ptr(), libc::CMSG_DATA(cmsg).cast::<RawFd>(), raw.len());
            }
        }
        // SAFETY: sendmsg(2) reads the header, the text and the control data set up above.
        let sent = unsafe { libc::sendmsg(self.fd.as_raw_fd(), &header, libc::MSG_NOSIGNAL) };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Waits up to `timeout` for a message: `Ok(None)` when the other end closed (or exited),
    /// `ErrorKind::TimedOut` when none came.
    pub fn receive(&self, timeout: Duration) -> io::Result<Option<Message>> {
        let mut waiting = libc::pollfd { fd: self.fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        let millis = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        // SAFETY: poll(2) on one pollfd on this stack frame.
        match unsafe { libc::poll(&mut waiting, 1, millis) } {
            0 => return Err(io::Error::new(io::ErrorKind::TimedOut, "no message")),
            ready if ready < 0 => return Err(io::Error::last_os_error()),
            _ => {}
        }
        let mut text = vec![0u8; MAX_TEXT];
        // SAFETY: CMSG_SPACE only computes a size.
        let mut control =
            vec![0u8; unsafe { libc::CMSG_SPACE((MAX_FDS * std::mem::size_of::<RawFd>()) as u32) } as usize];
        let mut iov = libc::iovec { iov_base: text.as_mut_ptr().cast(), iov_len: text.len() };
        // SAFETY: msghdr is plain data; it points at `iov` and `control`, which outlive the call.
        let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
        header.msg_iov = &mut iov;
        header.msg_iovlen = 1;
        header.msg_control = control.as_mut_ptr().cast();
        header.msg_controllen = control.len() as _;
        // SAFETY: recvmsg(2) writes at most the buffers' sizes into `text` and `control`.
        let received = unsafe { libc::recvmsg(self.fd.as_raw_fd(), &mut header, libc::MSG_CMSG_CLOEXEC) };
        if received < 0 {
            let error = io::Error::last_os_error();
            // A peer that exits with messages unread resets the connection rather than closing it.
            if error.kind() == io::ErrorKind::ConnectionReset {
                return Ok(None);
            }
            return Err(error);
        }
        let mut fds = Vec::new();
        // SAFETY: the kernel filled `control` (msg_controllen bytes) with well-formed cmsg
        // headers; CMSG_FIRSTHDR/NXTHDR walk them within it, and each SCM_RIGHTS payload is an
        // array of descriptors now open in this process and owned by nobody else.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&header);
            while !cmsg.is_null() {
                if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                    let bytes = (*cmsg).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                    let data = libc::CMSG_DATA(cmsg).cast::<RawFd>();
                    for index in 0..bytes / std::mem::size_of::<RawFd>() {
                        fds.push(OwnedFd::from_raw_fd(std::ptr::read_unaligned(data.add(index))));
                    }
                }
                cmsg = libc::CMSG_NXTHDR(&header, cmsg);
            }
        }
        if header.msg_flags & (libc::MSG_CTRUNC | libc::MSG_TRUNC) != 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "a hand-over message was cut short"));
        }
        if received == 0 && fds.is_empty() {
            return Ok(None);
        }
        text.truncate(received as usize);
        Ok(Some(Message { text, fds }))
    }
}

impl AsRawFd for Channel {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn descriptors_cross_with_their_message() {
        let (old, new) = Channel::pair().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        old.send(b"first", &[listener.as_fd()]).unwrap();
        old.send(b"second", &[]).unwrap();
        drop(old);
        let first = new.receive(Duration::from_secs(5)).unwrap().unwrap();
        assert_eq!(first.text, b"first");
        assert_eq!(first.fds.len(), 1);
        // The same socket: it has the same address, and a connection queued on it is accepted
        // through the received descriptor.
        let received = std::net::TcpListener::from(first.fds.into_iter().next().unwrap());
        assert_eq!(received.local_addr().unwrap(), address);
        let _client = std::net::TcpStream::connect(address).unwrap();
        drop(listener);
        received.accept().unwrap();
        let second = new.receive(Duration::from_secs(5)).unwrap().unwrap();
        assert_eq!((second.text.as_slice(), second.fds.len()), (&b"second"[..], 0));
        assert!(new.receive(Duration::from_secs(5)).unwrap().is_none(), "the other end closed");
    }
}
