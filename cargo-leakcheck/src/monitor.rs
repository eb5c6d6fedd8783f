//! `cargo leakcheck monitor`: watches a process that has no leakcheck inside — one it starts
//! (`-- CMD ARGS…`) or one already running (`--pid PID`) — through `/proc` (RSS, threads, fds;
//! the heap of another process cannot be counted), with the same trend detection, HTTP
//! endpoints and alerts as the embedded monitor.
//!
//! Started with a command, it exits when the command exits, with its exit code (128 + the
//! signal number when a signal ended it), so it can wrap a service in a unit file or a container
//! entry point. With `--pid`, it exits 0 when the process is gone.
//!
//! Everything but one step is independent of how the monitor core samples: arguments, starting
//! the command, the server, waiting, the exit code. [`watch`] is the one place that asks the
//! core ([`Monitor::watch`] on an [`OtherProcess`]) to watch a pid.

use crate::{BadValue, CliError, LeakcheckExitCode};
use leakcheck_monitor::alert::WebhookSink;
use leakcheck_monitor::sampler::{Monitor, MonitorConfig};
use leakcheck_monitor::serve::{Server, ServerConfig, View};
use leakcheck_monitor::source::OtherProcess;
use leakcheck_monitor::{State, Status};
use std::ffi::OsString;
use std::net::IpAddr;
use std::process::{Child, Command, ExitStatus};
use std::sync::Arc;
use std::time::Duration;

/// The environment variable holding the bearer token the endpoint requires, if any. A variable
/// rather than a flag: command lines are visible to every user of the host in `/proc`.
pub const TOKEN_VAR: &str = "LEAKCHECK_MONITOR_TOKEN";

/// The text after `--help`.
const AFTER_HELP: &str = "\
Endpoints: /metrics (Prometheus), /api/status, /api/samples, /dashboard, /debug/pprof/heap (a service that embeds the monitor; not for --pid or a command: another process's allocator cannot be sampled).
The address is printed on stderr as `leakcheck monitor: serving http://ADDR/dashboard` once the \
endpoint listens (with --port 0, the port picked).

Set LEAKCHECK_MONITOR_TOKEN to require `Authorization: Bearer TOKEN` (open the dashboard as \
/dashboard#token=TOKEN).

Exit codes: with a command, the command's exit code (128 + N when signal N ended it); with \
--pid, 0 when the process is gone; 2 on a usage or I/O error (the port is taken, the command \
cannot be started, no such pid).";

/// Arguments of `monitor`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = AFTER_HELP)]
pub struct MonitorArgs {
    /// The port of the HTTP endpoint; 0 picks a free one.
    #[arg(long, value_name = "PORT")]
    pub port: u16,
    /// The address to listen on. Loopback by default: expose it on purpose, not by accident.
    #[arg(long, value_name = "ADDR", default_value = leakcheck_monitor::serve::DEFAULT_BIND)]
    pub bind: IpAddr,
    /// Time between samples, as `500ms`, `2s`, `1m` (default: the monitor's).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub interval: Option<Duration>,
    /// How far back trend detection looks: the longest sawtooth period that is not a leak, and
    /// about how long a leak takes to be flagged (default: the monitor's, 60s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub window: Option<Duration>,
    /// POSTs each alert (firing and resolved) as JSON to this URL. Repeatable.
    #[arg(long, value_name = "URL")]
    pub webhook: Vec<String>,
    /// Sends alerts to this Alertmanager (its base URL; alerts go to `/api/v2/alerts`).
    /// Repeatable.
    #[arg(long, value_name = "URL")]
    pub alertmanager: Vec<String>,
    /// Watches this running process.
    #[arg(long, value_name = "PID", conflicts_with = "command")]
    pub pid: Option<u32>,
    /// Starts this command and watches it; the monitor exits with it.
    #[arg(last = true, value_name = "CMD", required_unless_present = "pid")]
    pub command: Vec<OsString>,
}

/// Parses `500ms`, `2s`, `1.5s`, `1m`, `1h`.
pub fn parse_duration(text: &str) -> Result<Duration, BadValue> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| BadValue::new(text, "has no unit: write it as 500ms, 2s, 1m or 1h"))?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| BadValue::new(text, "is not a duration such as 500ms, 2s, 1m or 1h"))?;
    let seconds = match unit {
        "ms" => number / 1000.0,
        "s" => number,
        "m" | "min" => number * 60.0,
        "h" => number * 3600.0,
        _ => return Err(BadValue::new(unit, "is not a unit: use ms, s, m or h")),
    };
    if !(0.001..=86_400.0).contains(&seconds) {
        return Err(BadValue::new(text, "is out of range: 1ms to 24h"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// A process being watched: the view the endpoint serves, and how to stop watching.
pub struct Watch {
    /// What the endpoint serves.
    pub view: Arc<dyn View>,
    /// Stops the sampler (and flushes alerts).
    pub stop: Box<dyn FnOnce() + Send>,
}

/// Asks the monitor core to watch `pid` with the interval, window and alert sinks of `args`;
/// alerts are also logged on stderr.
pub fn watch(pid: u32, args: &MonitorArgs) -> Result<Watch, CliError> {
    let source = OtherProcess::new(pid).map_err(|source| CliError::Watch { pid, source })?;
    let mut config = MonitorConfig::new().log_alerts();
    if let Some(interval) = args.interval {
        config = config.interval(interval);
    }
    if let Some(window) = args.window {
        config = config.window(window);
    }
    for url in &args.webhook {
        let sink = WebhookSink::json(url).map_err(|source| CliError::Webhook {
            flag: "--webhook",
            source,
        })?;
        config = config.sink(sink);
    }
    // Alertmanager links an alert to where it came from: the dashboard, when its address is
    // known before binding (not with --port 0).
    let dashboard = (args.port != 0).then(|| {
        format!(
            "http://{}/dashboard",
            std::net::SocketAddr::new(args.bind, args.port)
        )
    });
    for url in &args.alertmanager {
        let mut sink = WebhookSink::alertmanager(url).map_err(|source| CliError::Webhook {
            flag: "--alertmanager",
            source,
        })?;
        sink.generator_url.clone_from(&dashboard);
        config = config.sink(sink);
    }
    let monitor = Monitor::watch(Box::new(source), config)
        .map_err(|source| CliError::Watch { pid, source })?;
    Ok(Watch {
        view: Arc::new(monitor.handle()),
        stop: Box::new(move || monitor.stop()),
    })
}

/// Runs `monitor`.
pub fn run(args: &MonitorArgs) -> Result<i32, CliError> {
    let token = match std::env::var(TOKEN_VAR) {
        Ok(t) if t.trim().is_empty() => {
            return Err(CliError::Env {
                name: TOKEN_VAR,
                problem: "is set but empty: unset it, or set it to the token to require",
            })
        }
        Ok(t) => Some(t.trim().to_owned()),
        Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(_)) => {
            return Err(CliError::Env {
                name: TOKEN_VAR,
                problem: "is not valid UTF-8: a token is sent in an HTTP header, use ASCII",
            })
        }
    };
    let mut config = ServerConfig::default();
    config.bearer_token = token;

    let mut child = None;
    let pid = match (&args.pid, args.command.split_first()) {
        (Some(pid), _) => {
            if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                return Err(CliError::NoSuchProcess { pid: *pid });
            }
            *pid
        }
        (None, Some((program, rest))) => {
            let spawned =
                Command::new(program)
                    .args(rest)
                    .spawn()
                    .map_err(|source| CliError::Spawn {
                        program: program.to_string_lossy().into_owned(),
                        source,
                    })?;
            // Ctrl-C in a terminal reaches the whole foreground group: the command decides what
            // it means, and the monitor stays to report its exit code. Set after the spawn, so
            // the command keeps the default disposition.
            ignore_interrupt();
            let pid = spawned.id();
            child = Some(spawned);
            pid
        }
        (None, None) => {
            return Err(CliError::Usage {
                problem: "give --pid PID or -- CMD ARGS…",
            })
        }
    };

    // From here on a started command must not outlive a failure to watch it.
    let started = watch(pid, args).and_then(|watch| {
        match Server::bind_with((args.bind, args.port), Arc::clone(&watch.view), config) {
            Ok(server) => Ok((server, watch)),
            Err(e) => {
                (watch.stop)();
                Err(CliError::Listen {
                    addr: std::net::SocketAddr::new(args.bind, args.port),
                    source: e,
                })
            }
        }
    });
    let (server, watch) = match started {
        Ok(started) => started,
        Err(e) => {
            if let Some(mut child) = child {
                let _ = child.kill();
                let _ = child.wait();
            }
            return Err(e);
        }
    };
    eprintln!(
        "leakcheck monitor: watching pid {pid}; serving http://{}/dashboard (also /metrics, \
         /api/status, /api/samples)",
        server.local_addr()
    );

    let code = match child {
        Some(child) => wait_child(child, &args.command[0])?,
        None => {
            wait_gone(pid);
            LeakcheckExitCode::OK
        }
    };
    let last = summary(&watch.view.status());
    server.stop();
    (watch.stop)();
    if args.pid.is_some() {
        eprintln!("leakcheck monitor: pid {pid} is gone; {last}");
    } else {
        eprintln!("leakcheck monitor: the command exited ({code}); {last}");
    }
    Ok(code)
}

/// Waits for the command and turns its end into an exit code.
fn wait_child(mut child: Child, program: &std::ffi::OsStr) -> Result<i32, CliError> {
    let status = child.wait().map_err(|source| CliError::Wait {
        program: program.to_string_lossy().into_owned(),
        source,
    })?;
    Ok(exit_code(status))
}

/// The exit code that reports `status`: its own, or 128 + the signal that ended it (the shell's
/// convention).
pub fn exit_code(status: ExitStatus) -> i32 {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt as _;
        if let Some(signal) = status.signal() {
            return 128 + signal;
        }
    }
    status.code().unwrap_or(LeakcheckExitCode::ERROR)
}

/// A one-line verdict for the last message.
fn summary(status: &Status) -> String {
    let flagged: Vec<String> = status
        .resources
        .iter()
        .filter(|r| r.state != State::Ok)
        .map(|r| format!("{} {:?}", r.resource, r.state).to_lowercase())
        .collect();
    if flagged.is_empty() {
        format!("no leak suspected after {} samples", status.samples_taken)
    } else {
        format!(
            "{} after {} samples",
            flagged.join(", "),
            status.samples_taken
        )
    }
}

/// Ignores SIGINT in this process (see [`run`]).
fn ignore_interrupt() {
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to SIG_IGN installs no handler and touches no
    // memory of ours.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
    }
}

/// Returns when process `pid` (not our child) has exited: a pidfd becomes readable then
/// (Linux 5.3+). Without pidfds, checks `/proc/PID` once a second.
fn wait_gone(pid: u32) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
        if fd >= 0 {
            let fd = fd as libc::c_int;
            let mut poll = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            let exited = loop {
                // SAFETY: one valid pollfd, no timeout.
                let n = unsafe { libc::poll(&mut poll, 1, -1) };
                if n > 0 {
                    break true;
                }
                if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
                    break false;
                }
            };
            // SAFETY: `fd` is ours and closed once.
            unsafe { libc::close(fd) };
            if exited {
                return;
            }
        }
    }
    let proc_dir = format!("/proc/{pid}");
    while std::path::Path::new(&proc_dir).exists() {
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_need_a_unit_and_a_sane_range() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        let problem = |text| parse_duration(text).unwrap_err().to_string();
        assert!(problem("2").contains("no unit"));
        assert!(problem("2d").contains("`d` is not a unit"));
        assert!(problem("0s").contains("out of range"));
        assert!(parse_duration("x1s").is_err());
    }
}
