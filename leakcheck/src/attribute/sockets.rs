//! What a `socket:[inode]` is: protocol, local and remote address and state, from the kernel's
//! socket tables in `/proc/self/net/{tcp,tcp6,udp,udp6,unix}`.

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
    pub fn describe(&self) -> String {
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
