//! What a `socket:[inode]` is: protocol, local and remote address and state, from the kernel's
//! socket tables in `/proc/self/net/{tcp,tcp6,udp,udp6,unix}`.

use crate::{FdInfo, FdKind};
use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

/// A socket found in the kernel's tables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Socket {
    /// `tcp`, `tcp6`, `udp`, `udp6` or `unix`.
    pub protocol: &'static str,
    /// Local address (`ip:port`, or the path of a unix socket; may be empty).
    pub local: String,
    /// Remote address, for connected sockets.
    pub remote: Option<String>,
    /// TCP state (`listening`, `established`, ...), when the protocol has one.
    pub state: Option<&'static str>,
}

impl Socket {
    /// One line, e.g. `tcp 127.0.0.1:41234 (listening)`.
    pub(crate) fn describe(&self) -> String {
        let mut s = format!("{} {}", self.protocol, self.local);
        if let Some(remote) = &self.remote {
            s += &format!(" -> {remote}");
        }
        if let Some(state) = self.state {
            s += &format!(" ({state})");
        }
        s
    }
}

/// Reads the socket tables of this process's network namespace, by inode.
pub(crate) fn table() -> HashMap<u64, Socket> {
    let mut sockets = HashMap::new();
    for (file, protocol) in [
        ("tcp", "tcp"),
        ("tcp6", "tcp6"),
        ("udp", "udp"),
        ("udp6", "udp6"),
    ] {
        if let Ok(text) = std::fs::read_to_string(format!("/proc/self/net/{file}")) {
            sockets.extend(parse_inet(&text, protocol));
        }
    }
    if let Ok(text) = std::fs::read_to_string("/proc/self/net/unix") {
        sockets.extend(parse_unix(&text));
    }
    sockets
}

/// The inode in a `socket:[inode]` link target.
pub(crate) fn inode_of(target: &str) -> Option<u64> {
    target
        .strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// Parses `/proc/net/{tcp,tcp6,udp,udp6}`:
/// `sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...`
fn parse_inet(text: &str, protocol: &'static str) -> Vec<(u64, Socket)> {
    let tcp = protocol.starts_with("tcp");
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local = parse_address(fields.get(1)?)?;
            let remote = parse_address(fields.get(2)?)?;
            let state = u8::from_str_radix(fields.get(3)?, 16).ok()?;
            let inode: u64 = fields.get(9)?.parse().ok()?;
            let connected = !remote.ip().is_unspecified() || remote.port() != 0;
            Some((
                inode,
                Socket {
                    protocol,
                    local: local.to_string(),
                    remote: connected.then(|| remote.to_string()),
                    state: if tcp { Some(tcp_state(state)) } else { None },
                },
            ))
        })
        .collect()
}

/// Parses an address as the kernel prints it: `0100007F:1F90` (IPv4: the address's 32-bit word
/// as a native-endian number) or 32 hex digits (IPv6: four such words), then the port.
fn parse_address(field: &str) -> Option<SocketAddr> {
    let (ip, port) = field.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |s: &str| u32::from_str_radix(s, 16).ok().map(u32::to_ne_bytes);
    match ip.len() {
        8 => Some(SocketAddr::new(Ipv4Addr::from(word(ip)?).into(), port)),
        32 => {
            let mut bytes = [0u8; 16];
            for (i, chunk) in bytes.chunks_mut(4).enumerate() {
                chunk.copy_from_slice(&word(ip.get(i * 8..i * 8 + 8)?)?);
            }
            Some(SocketAddr::new(Ipv6Addr::from(bytes).into(), port))
        }
        _ => None,
    }
}

fn tcp_state(code: u8) -> &'static str {
    match code {
        0x01 => "established",
        0x02 => "syn sent",
        0x03 => "syn received",
        0x04 => "fin wait 1",
        0x05 => "fin wait 2",
        0x06 => "time wait",
        0x07 => "closed",
        0x08 => "close wait",
        0x09 => "last ack",
        0x0A => "listening",
        0x0B => "closing",
        _ => "unknown state",
    }
}

/// Parses `/proc/net/unix`: `Num RefCount Protocol Flags Type St Inode [Path]`.
fn parse_unix(text: &str) -> Vec<(u64, Socket)> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let inode: u64 = fields.get(6)?.parse().ok()?;
            let path = fields.get(7).copied().unwrap_or("(unnamed)");
            let kind = match fields.get(4).copied() {
                Some("0001") => "stream",
                Some("0002") => "dgram",
                Some("0005") => "seqpacket",
                _ => "",
            };
            Some((
                inode,
                Socket {
                    protocol: "unix",
                    local: format!("{path} {kind}").trim_end().to_owned(),
                    remote: None,
                    state: None,
                },
            ))
        })
        .collect()
}

/// Adds what each socket is (protocol, addresses, state) to the fds that are sockets, e.g.
/// `tcp 127.0.0.1:8080 (listening)` in [`FdInfo::detail`]. Reads the kernel's socket tables once.
pub fn describe_sockets(fds: &mut [FdInfo]) {
    if !fds.iter().any(|f| f.kind == FdKind::Socket) {
        return;
    }
    let table = table();
    for fd in fds.iter_mut().filter(|f| f.kind == FdKind::Socket) {
        if let Some(socket) = inode_of(&fd.target).and_then(|inode| table.get(&inode)) {
            fd.detail = Some(socket.describe());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tcp_listeners_and_connections() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   \
            0: 0100007F:A0F1 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 23906 1 0000000000000000 100 0 0 10 0\n   \
            1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 23913 1 0000000000000000 20 4 30 10 -1\n";
        let sockets: HashMap<u64, Socket> = parse_inet(text, "tcp").into_iter().collect();
        assert_eq!(
            sockets[&23906].describe(),
            "tcp 127.0.0.1:41201 (listening)"
        );
        assert_eq!(
            sockets[&23913].describe(),
            "tcp 127.0.0.1:8080 -> 127.0.0.1:50000 (established)"
        );
    }

    #[test]
    fn parses_ipv6_and_udp() {
        let text = "header\n   0: 00000000000000000000000001000000:0035 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 777 2 0000000000000000 0\n";
        let sockets = parse_inet(text, "udp6");
        assert_eq!(sockets[0].0, 777);
        assert_eq!(sockets[0].1.describe(), "udp6 [::1]:53");
    }

    #[test]
    fn parses_unix_sockets() {
        let text = "Num       RefCount Protocol Flags    Type St Inode Path\n\
            0000000000000000: 00000002 00000000 00010000 0001 01 4242 /run/app.sock\n\
            0000000000000000: 00000003 00000000 00000000 0001 03 4243\n";
        let sockets: HashMap<u64, Socket> = parse_unix(text).into_iter().collect();
        assert_eq!(sockets[&4242].describe(), "unix /run/app.sock stream");
        assert_eq!(sockets[&4243].describe(), "unix (unnamed) stream");
    }

    #[test]
    fn garbage_is_skipped_not_a_panic() {
        assert!(parse_inet("header\nnot a socket line\n0: zz:zz", "tcp").is_empty());
        assert!(parse_unix("header\n: : :").is_empty());
        assert_eq!(inode_of("socket:[123]"), Some(123));
        assert_eq!(inode_of("pipe:[123]"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn finds_a_real_listener() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let found = table()
            .into_values()
            .any(|s| s.local == format!("127.0.0.1:{port}") && s.state == Some("listening"));
        assert!(found);
    }
}

/// Property tests: the socket-table parsers on arbitrary and near-valid input.
#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{SocketAddrV4, SocketAddrV6};

    /// An address as the kernel prints it (`%08X` per 32-bit word in native order, `%04X` port).
    fn kernel_address(addr: SocketAddr) -> String {
        let words: Vec<String> = match addr.ip() {
            std::net::IpAddr::V4(ip) => vec![format!("{:08X}", u32::from_ne_bytes(ip.octets()))],
            std::net::IpAddr::V6(ip) => ip
                .octets()
                .chunks(4)
                .map(|c| format!("{:08X}", u32::from_ne_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
        };
        format!("{}:{:04X}", words.concat(), addr.port())
    }

    fn any_address() -> impl Strategy<Value = SocketAddr> {
        prop_oneof![
            any::<SocketAddrV4>().prop_map(SocketAddr::V4),
            any::<SocketAddrV6>().prop_map(|a| SocketAddr::new((*a.ip()).into(), a.port())),
        ]
    }

    /// One line of `/proc/net/tcp` with these fields.
    fn inet_line(i: usize, local: SocketAddr, remote: SocketAddr, st: u8, inode: u64) -> String {
        format!(
            "{i:4}: {} {} {st:02X} 00000000:00000000 00:00000000 00000000  1000        0 {inode} 1 \
             0000000000000000 100 0 0 10 0",
            kernel_address(local),
            kernel_address(remote)
        )
    }

    const HEADER: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode";

    proptest! {
        #[test]
        fn addresses_round_trip(addr in any_address()) {
            prop_assert_eq!(parse_address(&kernel_address(addr)), Some(addr));
        }

        #[test]
        fn address_parser_never_panics(field in "\\PC{0,48}") {
            let _ = parse_address(&field);
        }

        #[test]
        fn address_parser_takes_hex_of_the_right_length_only(ip in "[0-9A-Fa-f+-]{0,40}", port in "[0-9A-Fa-f+-]{0,6}") {
            if let Some(addr) = parse_address(&format!("{ip}:{port}")) {
                prop_assert!(ip.len() == 8 || ip.len() == 32);
                prop_assert_eq!(addr.is_ipv4(), ip.len() == 8);
            }
        }

        #[test]
        fn inet_tables_read_back(
            sockets in proptest::collection::vec((any_address(), any_address(), 1u8..=0x0B, any::<u64>()), 0..12),
        ) {
            let mut text = format!("{HEADER}\n");
            for (i, (local, remote, st, inode)) in sockets.iter().enumerate() {
                text += &inet_line(i, *local, *remote, *st, *inode);
                text.push('\n');
            }
            let parsed = parse_inet(&text, "tcp");
            prop_assert_eq!(parsed.len(), sockets.len());
            for ((inode, socket), (local, _, st, expected_inode)) in parsed.iter().zip(&sockets) {
                prop_assert_eq!(inode, expected_inode);
                prop_assert_eq!(&socket.local, &local.to_string());
                prop_assert_eq!(socket.state, Some(tcp_state(*st)));
                prop_assert_ne!(socket.state, Some("unknown state"));
            }
        }

        #[test]
        fn inet_tables_survive_mutation(
            local in any_address(),
            remote in any_address(),
            inode in any::<u64>(),
            cut in 0usize..200,
            flips in proptest::collection::vec((0usize..200, any::<char>()), 0..4),
        ) {
            let mut line: Vec<char> = inet_line(0, local, remote, 0x0A, inode).chars().collect();
            for (at, c) in flips {
                let at = at % line.len();
                line[at] = c;
            }
            line.truncate(cut);
            let line: String = line.into_iter().collect();
            for protocol in ["tcp", "udp6"] {
                // At most the one socket of the line, and only with an inode that parsed.
                let parsed = parse_inet(&format!("{HEADER}\n{line}\n"), protocol);
                prop_assert!(parsed.len() <= 1);
                prop_assert!(parsed.iter().all(|(_, s)| s.protocol == protocol));
            }
        }

        #[test]
        fn socket_tables_never_panic_on_text(text in "\\PC{0,300}", lines in proptest::collection::vec("[0-9A-F: ]{0,120}", 0..6)) {
            let _ = parse_inet(&text, "tcp6");
            let _ = parse_unix(&text);
            let joined = lines.join("\n");
            let _ = parse_inet(&joined, "udp");
            let _ = parse_unix(&joined);
        }

        #[test]
        fn unix_tables_read_back(
            sockets in proptest::collection::vec((any::<u64>(), proptest::option::of("/[a-z0-9/._-]{1,30}"), 0usize..4), 0..12),
        ) {
            let mut text = String::from("Num       RefCount Protocol Flags    Type St Inode Path\n");
            let types = ["0001", "0002", "0005", "0009"];
            for (inode, path, kind) in &sockets {
                text += &format!(
                    "0000000000000000: 00000002 00000000 00010000 {} 01 {inode} {}\n",
                    types[*kind],
                    path.as_deref().unwrap_or("")
                );
            }
            let parsed = parse_unix(&text);
            prop_assert_eq!(parsed.len(), sockets.len());
            for ((inode, socket), (expected, path, _)) in parsed.iter().zip(&sockets) {
                prop_assert_eq!(inode, expected);
                let shown = path.as_deref().unwrap_or("(unnamed)");
                prop_assert!(socket.local.starts_with(shown), "{} vs {}", socket.local, shown);
            }
        }

        #[test]
        fn inodes_read_back_and_nothing_else_does(inode in any::<u64>(), target in "\\PC{0,40}") {
            prop_assert_eq!(inode_of(&format!("socket:[{inode}]")), Some(inode));
            if let Some(found) = inode_of(&target) {
                prop_assert!(target.starts_with("socket:[") && target.ends_with(']'));
                prop_assert!(target.contains(&found.to_string()));
            }
        }
    }
}
