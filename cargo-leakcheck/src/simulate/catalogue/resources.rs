//! Resource leaks: files and pipes forgotten open, listening sockets forgotten, accepted
//! connections kept in a pool that only grows. The twins do the same work and close what they
//! opened.
//!
//! Sockets only use the loopback interface.

use super::{Body, Case, Kind, Params, Ranges};
use std::fs::File;
use std::hint::black_box;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;

/// One to three fds per call.
const FDS: Ranges = Ranges {
    count: 1..=3,
    ..Ranges::FIXED
};

/// Up to 4 KiB read or sent per call, small enough for a pipe's or a socket's buffer.
const IO: Ranges = Ranges {
    size: 1..=4096,
    count: 1..=3,
    ..Ranges::FIXED
};

pub(super) fn cases() -> Vec<Case> {
    let mut cases = vec![
        Case::leak(
            "file_forgotten",
            Kind::Fds,
            "file_read_and_closed",
            "opens `count` files per call and forgets them (`mem::forget` of the `File`)",
            FDS,
            file_forgotten,
        ),
        Case::clean(
            "file_read_and_closed",
            Kind::Fds,
            "opens `count` files per call, reads `size` bytes from each and closes them",
            IO,
            file_read_and_closed,
        ),
        Case::leak(
            "listener_forgotten",
            Kind::Sockets,
            "listener_dropped",
            "binds `count` TCP listeners on 127.0.0.1 per call and forgets them",
            FDS,
            listener_forgotten,
        ),
        Case::clean(
            "listener_dropped",
            Kind::Sockets,
            "binds `count` TCP listeners on 127.0.0.1 per call, reads their address and drops them",
            FDS,
            listener_dropped,
        ),
        Case::leak(
            "connections_kept_in_pool",
            Kind::Sockets,
            "connection_served_and_closed",
            "accepts `count` loopback connections per call, exchanges `size` bytes and keeps the server side in a pool that only grows",
            IO,
            connections_kept_in_pool,
        ),
        Case::clean(
            "connection_served_and_closed",
            Kind::Sockets,
            "accepts `count` loopback connections per call, exchanges `size` bytes and closes both ends",
            IO,
            connection_served_and_closed,
        ),
    ];
    #[cfg(unix)]
    cases.extend([
        Case::leak(
            "pipe_forgotten",
            Kind::Fds,
            "pipe_closed",
            "creates `count` pipes per call, sends `size` bytes through each and forgets both ends",
            IO,
            pipe::forgotten,
        ),
        Case::clean(
            "pipe_closed",
            Kind::Fds,
            "creates `count` pipes per call, sends `size` bytes through each and closes both ends",
            IO,
            pipe::closed,
        ),
    ]);
    cases
}

/// A file every platform has: the running executable.
fn some_file() -> PathBuf {
    std::env::current_exe().expect("the path of the running executable")
}

fn file_forgotten(p: &Params) -> Body {
    let (count, path) = (p.count, some_file());
    Box::new(move || {
        for _ in 0..count {
            std::mem::forget(File::open(&path).expect("open the executable"));
        }
    })
}

fn file_read_and_closed(p: &Params) -> Body {
    let (count, path) = (p.count, some_file());
    let mut buffer = vec![0u8; p.size];
    Box::new(move || {
        for _ in 0..count {
            let mut file = File::open(&path).expect("open the executable");
            black_box(file.read(&mut buffer).expect("read the executable"));
        }
    })
}

fn listener_forgotten(p: &Params) -> Body {
    let count = p.count;
    Box::new(move || {
        for _ in 0..count {
            std::mem::forget(TcpListener::bind("127.0.0.1:0").expect("bind on loopback"));
        }
    })
}

fn listener_dropped(p: &Params) -> Body {
    let count = p.count;
    Box::new(move || {
        for _ in 0..count {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind on loopback");
            black_box(listener.local_addr().expect("a bound address"));
        }
    })
}

/// A listener bound before the first call and the payload each connection carries.
struct Server {
    listener: TcpListener,
    addr: SocketAddr,
    payload: Vec<u8>,
    received: Vec<u8>,
}

impl Server {
    fn new(size: usize) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind on loopback");
        let addr = listener.local_addr().expect("a bound address");
        Server {
            listener,
            addr,
            payload: vec![7u8; size],
            received: vec![0u8; size],
        }
    }

    /// Connects to the listener, accepts, and sends the payload from the client to the server
    /// side. Returns the server side; the client side is closed.
    fn serve_one(&mut self) -> TcpStream {
        let mut client = TcpStream::connect(self.addr).expect("connect on loopback");
        let (mut server, _) = self.listener.accept().expect("accept on loopback");
        client.write_all(&self.payload).expect("send the payload");
        server
            .read_exact(&mut self.received)
            .expect("receive the payload");
        server
    }
}

fn connections_kept_in_pool(p: &Params) -> Body {
    let count = p.count;
    let mut server = Server::new(p.size);
    let mut pool: Vec<TcpStream> = Vec::new();
    Box::new(move || {
        for _ in 0..count {
            pool.push(server.serve_one());
        }
    })
}

fn connection_served_and_closed(p: &Params) -> Body {
    let count = p.count;
    let mut server = Server::new(p.size);
    Box::new(move || {
        for _ in 0..count {
            drop(server.serve_one());
        }
    })
}

/// Pipes come from `libc::pipe`: `std::io::pipe` is newer than this crate's minimum Rust.
#[cfg(unix)]
mod pipe {
    use super::{black_box, Body, File, Params, Read, Write};
    use std::os::fd::{FromRawFd, OwnedFd};

    /// A new pipe: (read end, write end).
    fn pipe() -> (File, File) {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors `pipe` writes.
        let rc = unsafe { libc::pipe(fds.as_mut_ptr()) };
        assert_eq!(rc, 0, "pipe: {}", std::io::Error::last_os_error());
        // SAFETY: both descriptors were just opened and are owned by nothing else.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        (File::from(read), File::from(write))
    }

    /// Sends `payload` through a new pipe (it fits in the pipe's buffer) and returns both ends.
    fn send_through(payload: &[u8], received: &mut [u8]) -> (File, File) {
        let (mut read, mut write) = pipe();
        write.write_all(payload).expect("write into the pipe");
        read.read_exact(received).expect("read from the pipe");
        black_box(&received);
        (read, write)
    }

    pub(super) fn forgotten(p: &Params) -> Body {
        let (count, payload, mut received) = (p.count, vec![3u8; p.size], vec![0u8; p.size]);
        Box::new(move || {
            for _ in 0..count {
                std::mem::forget(send_through(&payload, &mut received));
            }
        })
    }

    pub(super) fn closed(p: &Params) -> Body {
        let (count, payload, mut received) = (p.count, vec![3u8; p.size], vec![0u8; p.size]);
        Box::new(move || {
            for _ in 0..count {
                drop(send_through(&payload, &mut received));
            }
        })
    }
}
