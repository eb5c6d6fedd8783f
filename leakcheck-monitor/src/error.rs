//! The monitor's errors: each names what it was about (the URL, the process) and keeps the
//! cause, so that a log line or the CLI can say what went wrong and what to do.

use std::fmt;
use std::io;
use std::net::SocketAddr;

/// Why an alert could not be delivered, or a webhook sink could not be set up.
#[derive(Debug)]
#[non_exhaustive]
pub enum AlertError {
    /// The URL is not one the built-in client posts to.
    Url {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        problem: UrlProblem,
    },
    /// The receiver's host name did not resolve, or resolved to no address.
    Resolve {
        /// The URL posted to.
        url: String,
        /// Its host.
        host: String,
        /// The resolver's error (`NotFound` for a name with no address).
        source: io::Error,
    },
    /// No address of the receiver accepted the connection.
    Connect {
        /// The URL posted to.
        url: String,
        /// The last address tried.
        addr: SocketAddr,
        /// Why it refused.
        source: io::Error,
    },
    /// The connection broke or timed out while sending or reading the answer.
    Io {
        /// The URL posted to.
        url: String,
        /// The error.
        source: io::Error,
    },
    /// The receiver answered something that is not HTTP.
    NotHttp {
        /// The URL posted to.
        url: String,
        /// The first line of its answer.
        status_line: String,
    },
    /// The receiver answered with a status other than 2xx.
    Rejected {
        /// The URL posted to.
        url: String,
        /// The status line, e.g. `HTTP/1.1 400 Bad Request`.
        status_line: String,
        /// The first 300 characters of the answer's body.
        body: String,
    },
    /// The alert line could not be written (a [`LogSink`](crate::alert::LogSink)'s writer).
    Write(io::Error),
}

/// What is wrong with a webhook URL.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UrlProblem {
    /// `https://`: the built-in client has no TLS stack.
    Https,
    /// Not an `http://` URL at all.
    NotHttp,
    /// A `[` before an IPv6 host is not closed.
    UnclosedBracket,
    /// The port is not a number from 0 to 65535.
    BadPort(String),
    /// No host between `http://` and the path.
    NoHost,
}

impl fmt::Display for AlertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AlertError::Url { url, problem } => match problem {
                UrlProblem::Https => write!(
                    f,
                    "{url}: https is not supported by the built-in webhook client (no TLS stack \
                     in your binary); reach the receiver over http on loopback or the cluster \
                     network"
                ),
                UrlProblem::NotHttp => write!(f, "{url}: not an http:// URL"),
                UrlProblem::UnclosedBracket => write!(f, "{url}: unclosed [ in the host"),
                UrlProblem::BadPort(port) => write!(f, "{url}: bad port {port:?}"),
                UrlProblem::NoHost => write!(f, "{url}: no host"),
            },
            AlertError::Resolve { url, host, source } => {
                write!(f, "{url}: cannot resolve {host}: {source}")
            }
            AlertError::Connect { url, addr, source } => {
                write!(f, "{url}: cannot connect to {addr}: {source}")
            }
            AlertError::Io { url, source } => write!(f, "{url}: {source}"),
            AlertError::NotHttp { url, status_line } => {
                write!(f, "{url}: not an HTTP response: {status_line:?}")
            }
            AlertError::Rejected {
                url,
                status_line,
                body,
            } => write!(f, "{url} answered {status_line}: {body}"),
            AlertError::Write(source) => write!(f, "cannot write the alert line: {source}"),
        }
    }
}

impl std::error::Error for AlertError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AlertError::Resolve { source, .. }
            | AlertError::Connect { source, .. }
            | AlertError::Io { source, .. }
            | AlertError::Write(source) => Some(source),
            _ => None,
        }
    }
}

/// Why a [`Source`](crate::source::Source) cannot be sampled any more; the monitor stops on it
/// and reports it through [`MonitorHandle::error`](crate::sampler::MonitorHandle::error).
#[derive(Debug)]
#[non_exhaustive]
pub enum SourceError {
    /// The watched process exited (or its pid now belongs to another process).
    Exited {
        /// The pid that was watched.
        pid: u32,
    },
    /// A source of your own ended, for the reason given.
    Ended(Box<dyn std::error::Error + Send + Sync>),
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceError::Exited { pid } => write!(f, "process {pid} exited"),
            SourceError::Ended(reason) => write!(f, "{reason}"),
        }
    }
}

impl std::error::Error for SourceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SourceError::Ended(reason) => Some(reason.as_ref()),
            SourceError::Exited { .. } => None,
        }
    }
}
