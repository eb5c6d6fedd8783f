//! Synthetic sample series on a deterministic clock, for the detector's tests and the detection
//! benchmark: a leak at a given rate, and the clean patterns a leak detector must not flag
//! (steady churn, sawtooth, bursts, a one-time step), plus a leak hidden under a sawtooth and a
//! leak that stops.
//!
//! Every series is a pure function of its parameters and a seed (a xorshift generator, so no
//! dependency), and time is a sample counter times the interval: a test that "waits two
//! minutes" runs in microseconds and never reads a clock.

use super::detect::{DetectConfig, Detector};
use super::source::SourceError;
use super::{Resource, Sample, State};

/// xorshift64*: small, fast, good enough for noise, and reproducible from a seed.
#[derive(Clone, Debug)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator from `seed` (any value; 0 is remapped).
    pub fn new(seed: u64) -> Self {
        // Mix the seed so that consecutive seeds give unrelated sequences.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        XorShift((z ^ (z >> 31)).max(1))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Approximately standard normal (Irwin–Hall: the sum of 12 uniforms, minus 6).
    pub fn normal(&mut self) -> f64 {
        (0..12).map(|_| self.unit()).sum::<f64>() - 6.0
    }
}

/// The shape of a series, on top of its base level.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Pattern {
    /// Flat (only noise).
    Steady,
    /// Grows steadily by `per_min` per minute from `Stream::leak_from`.
    Leak {
        /// Growth per minute.
        per_min: f64,
    },
    /// Rises linearly by `amplitude` over each `period_s`, then drops back (a buffer filled and
    /// flushed, a garbage-collected heap). The phase is random.
    Sawtooth {
        /// Seconds per cycle.
        period_s: f64,
        /// Height of the teeth.
        amplitude: f64,
    },
    /// Random bursts: about `per_min` a minute, each lasting 1 s to `max_len_s`, adding up to
    /// `height` (a random fraction of it) while they last.
    Bursty {
        /// Bursts started per minute, on average.
        per_min: f64,
        /// The largest burst.
        height: f64,
        /// The longest burst, in seconds.
        max_len_s: f64,
    },
    /// Steps up by `size` at `at_s`, over `ramp_s` seconds, then stays flat (a cache warming up).
    Step {
        /// When the step starts (seconds from the first sample).
        at_s: f64,
        /// Its height.
        size: f64,
        /// How long it takes to climb (0: at once).
        ramp_s: f64,
    },
    /// A leak of `per_min` under a sawtooth of `period_s` and `amplitude`.
    LeakUnderSawtooth {
        /// Growth per minute.
        per_min: f64,
        /// Seconds per cycle.
        period_s: f64,
        /// Height of the teeth.
        amplitude: f64,
    },
    /// A leak of `per_min` from `Stream::leak_from` until `stop_s`, flat afterwards.
    LeakThenStop {
        /// Growth per minute.
        per_min: f64,
        /// When the growth stops (seconds from the first sample).
        stop_s: f64,
    },
}

/// Noise added to every sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Noise {
    /// None: deterministic code.
    None,
    /// Churn: uniform in `[0, amplitude)` on top of the level (allocations in flight are never
    /// negative: the level is the floor).
    Churn(f64),
    /// Symmetric: normal with this standard deviation.
    Gaussian(f64),
}

/// A synthetic series: a pattern on a base level, with noise, sampled every `interval_ms`.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Stream {
    /// The shape.
    pub pattern: Pattern,
    /// The level it starts from.
    pub base: f64,
    /// The noise.
    pub noise: Noise,
    /// Milliseconds between samples.
    pub interval_ms: u64,
    /// The first sample's time (Unix ms).
    pub start_ms: u64,
    /// Leaks start this many seconds after the first sample.
    pub leak_from_s: f64,
    /// Round values to integers (threads, fds).
    pub discrete: bool,
    /// The noise seed.
    pub seed: u64,
}

impl Stream {
    /// `pattern` on a 50 MiB base, no noise, one sample a second from an arbitrary fixed date.
    pub fn new(pattern: Pattern) -> Self {
        Stream {
            pattern,
            base: 50.0 * 1024.0 * 1024.0,
            noise: Noise::None,
            interval_ms: 1000,
            start_ms: 1_700_000_000_000,
            leak_from_s: 0.0,
            discrete: false,
            seed: 1,
        }
    }

    /// With this base level.
    pub fn base(mut self, base: f64) -> Self {
        self.base = base;
        self
    }

    /// With this noise.
    pub fn noise(mut self, noise: Noise) -> Self {
        self.noise = noise;
        self
    }

    /// With this sampling interval.
    pub fn interval_ms(mut self, interval_ms: u64) -> Self {
        self.interval_ms = interval_ms.max(1);
        self
    }

    /// With leaks starting this many seconds in.
    pub fn leak_from(mut self, seconds: f64) -> Self {
        self.leak_from_s = seconds;
        self
    }

    /// With integer values (threads, fds).
    pub fn discrete(mut self) -> Self {
        self.discrete = true;
        self
    }

    /// With this noise seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The series, `(unix_ms, value)`, endless.
    pub fn iter(&self) -> Values {
        let mut rng = XorShift::new(self.seed);
        let phase = rng.unit();
        Values {
            stream: self.clone(),
            rng,
            phase,
            index: 0,
            bursts: [(0.0, 0.0); 8],
        }
    }

    /// The first `n` samples as [`Sample`]s with `resource` set.
    pub fn samples(&self, resource: Resource, n: usize) -> Vec<Sample> {
        self.iter()
            .take(n)
            .map(|(unix_ms, v)| as_sample(resource, unix_ms, v))
            .collect()
    }
}

/// A sample with only `resource` set.
fn as_sample(resource: Resource, unix_ms: u64, value: f64) -> Sample {
    let mut sample = Sample {
        unix_ms,
        ..Sample::default()
    };
    match resource {
        Resource::Heap => sample.heap_bytes = Some(value as u64),
        Resource::Rss => sample.rss_bytes = Some(value as u64),
        Resource::Threads => sample.threads = Some(value as u32),
        Resource::Fds => sample.fds = Some(value as u32),
        _ => {}
    }
    sample
}

/// The values of a [`Stream`].
#[derive(Clone, Debug)]
pub struct Values {
    stream: Stream,
    rng: XorShift,
    phase: f64,
    index: u64,
    /// Bursts in progress: (end time in seconds, height).
    bursts: [(f64, f64); 8],
}

impl Values {
    fn level(&mut self, t: f64) -> f64 {
        let s = &self.stream;
        let leak =
            |per_min: f64, until: f64| per_min * (t.min(until) - s.leak_from_s).max(0.0) / 60.0;
        let tooth =
            |period: f64, amplitude: f64, phase: f64| amplitude * ((t / period + phase).fract());
        match s.pattern {
            Pattern::Steady => 0.0,
            Pattern::Leak { per_min } => leak(per_min, f64::INFINITY),
            Pattern::Sawtooth {
                period_s,
                amplitude,
            } => tooth(period_s, amplitude, self.phase),
            Pattern::Bursty {
                per_min,
                height,
                max_len_s,
            } => {
                let dt = s.interval_ms as f64 / 1000.0;
                if self.rng.unit() < per_min / 60.0 * dt {
                    if let Some(slot) = self.bursts.iter_mut().find(|b| b.0 <= t) {
                        let len = 1.0 + self.rng.unit() * (max_len_s - 1.0).max(0.0);
                        *slot = (t + len, height * (0.2 + 0.8 * self.rng.unit()));
                    }
                }
                self.bursts.iter().filter(|b| b.0 > t).map(|b| b.1).sum()
            }
            Pattern::Step { at_s, size, ramp_s } => {
                if ramp_s <= 0.0 {
                    if t >= at_s {
                        size
                    } else {
                        0.0
                    }
                } else {
                    size * ((t - at_s) / ramp_s).clamp(0.0, 1.0)
                }
            }
            Pattern::LeakUnderSawtooth {
                per_min,
                period_s,
                amplitude,
            } => leak(per_min, f64::INFINITY) + tooth(period_s, amplitude, self.phase),
            Pattern::LeakThenStop { per_min, stop_s } => leak(per_min, stop_s),
        }
    }
}

impl Iterator for Values {
    type Item = (u64, f64);

    fn next(&mut self) -> Option<(u64, f64)> {
        let elapsed_ms = self.index * self.stream.interval_ms;
        self.index += 1;
        let t = elapsed_ms as f64 / 1000.0;
        let level = self.stream.base + self.level(t);
        let noise = match self.stream.noise {
            Noise::None => 0.0,
            Noise::Churn(a) => a * self.rng.unit(),
            Noise::Gaussian(sigma) => sigma * self.rng.normal(),
        };
        let mut value = (level + noise).max(0.0);
        if self.stream.discrete {
            value = value.round();
        }
        Some((self.stream.start_ms + elapsed_ms, value))
    }
}

/// What a detector did on a stream.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct Outcome {
    /// Seconds (on the stream's clock, from the first sample) to the first `leaking` state.
    pub first_leaking_s: Option<f64>,
    /// Transitions into `leaking` (alert episodes).
    pub leaking_episodes: u32,
    /// Transitions into `suspected`.
    pub suspected: u32,
    /// Seconds to the first return to `ok` after `leaking`.
    pub resolved_s: Option<f64>,
    /// The state after the last sample.
    pub final_state: Option<State>,
    /// Growth per second reported after the last sample.
    pub final_growth_per_sec: f64,
}

/// Runs a fresh detector for `resource` over the first `seconds` of `stream`.
pub fn drive(stream: &Stream, resource: Resource, config: &DetectConfig, seconds: f64) -> Outcome {
    let mut detector = Detector::new(resource, config);
    let n = (seconds * 1000.0 / stream.interval_ms as f64).ceil() as usize + 1;
    let mut outcome = Outcome::default();
    for (unix_ms, value) in stream.iter().take(n) {
        let Some(change) = detector.observe(unix_ms, value) else {
            continue;
        };
        let at = (change.at_unix_ms - stream.start_ms) as f64 / 1000.0;
        match change.to {
            State::Leaking => {
                outcome.leaking_episodes += 1;
                outcome.first_leaking_s.get_or_insert(at);
            }
            State::Suspected => outcome.suspected += 1,
            State::Ok if change.from == State::Leaking => {
                outcome.resolved_s.get_or_insert(at);
            }
            State::Ok => {}
        }
    }
    outcome.final_state = Some(detector.state());
    outcome.final_growth_per_sec = detector.growth_per_sec();
    outcome
}

/// A [`Source`](super::source::Source) replaying a stream on its own clock, for tests and
/// demos of the whole monitor: each call returns the stream's next sample, whatever the
/// monitor's time, so a monitor sampling every millisecond replays simulated minutes in
/// milliseconds.
#[derive(Debug)]
pub struct StreamSource {
    values: Values,
    resource: Resource,
    pid: u32,
    remaining: Option<u64>,
}

impl StreamSource {
    /// Replays `stream` as `resource` of a process called `pid`.
    pub fn new(stream: Stream, resource: Resource, pid: u32) -> Self {
        StreamSource {
            values: stream.iter(),
            resource,
            pid,
            remaining: None,
        }
    }

    /// Ends (with the error `the stream ended`) after `samples` samples.
    pub fn ending_after(mut self, samples: u64) -> Self {
        self.remaining = Some(samples);
        self
    }
}

impl super::source::Source for StreamSource {
    fn sample(&mut self, _now_unix_ms: u64) -> Sample {
        if let Some(left) = &mut self.remaining {
            *left = left.saturating_sub(1);
        }
        let (unix_ms, value) = self.values.next().expect("streams are endless");
        as_sample(self.resource, unix_ms, value)
    }

    fn pid(&self) -> u32 {
        self.pid
    }

    fn check(&mut self) -> Result<(), SourceError> {
        match self.remaining {
            Some(0) => Err(SourceError::Ended("the stream ended".into())),
            _ => Ok(()),
        }
    }
}
