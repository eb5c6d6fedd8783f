//! The hard cases. Leaks that are easy to miss: a single small block per call, a leak every few
//! calls only, a small leak under a large sawtooth, growth that only shows when a vector's
//! capacity doubles. And clean code that looks like a leak to a naive checker: a bounded cache
//! filling up, a table built on first use, sawtooth and oscillating buffers, a thread pool
//! started on first use, detached threads that finish a moment later, output written every call.

use super::{spawn, Body, Case, Kind, Params, Ranges};
use std::collections::{HashMap, VecDeque};
use std::hint::black_box;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case::leak(
            "tiny_box_leaked",
            Kind::Forgotten,
            "tiny_box_dropped",
            "`Box::leak`s a single block of 1 to 8 bytes per call",
            Ranges {
                size: 1..=8,
                ..Ranges::FIXED
            },
            tiny_box_leaked,
        )
        .hard(),
        Case::clean(
            "tiny_box_dropped",
            Kind::Forgotten,
            "allocates a single block of 1 to 8 bytes per call and drops it",
            Ranges {
                size: 1..=8,
                ..Ranges::FIXED
            },
            tiny_box_dropped,
        )
        .hard(),
        Case::leak(
            "map_grows_every_few_calls",
            Kind::Maps,
            "bounded_cache",
            "inserts an entry of `size` bytes under a new key every `every` calls only, and never removes it",
            Ranges {
                size: 16..=4096,
                every: 2..=6,
                ..Ranges::FIXED
            },
            map_grows_every_few_calls,
        )
        .hard(),
        Case::clean(
            "bounded_cache",
            Kind::Maps,
            "caches an entry of `size` bytes per call under a new key, evicting the oldest beyond `count` (2 to 12) entries",
            Ranges {
                size: 16..=4096,
                count: 2..=12,
                ..Ranges::FIXED
            },
            bounded_cache,
        )
        .hard(),
        Case::clean(
            "table_built_on_first_use",
            Kind::Maps,
            "looks up a table of `count` × 64 entries that the first call builds (a lazy static)",
            Ranges {
                count: 1..=16,
                ..Ranges::FIXED
            },
            table_built_on_first_use,
        )
        .hard(),
        Case::leak(
            "leak_under_sawtooth",
            Kind::Vecs,
            "sawtooth_batch",
            "batches an event of `size` bytes per call, flushes the batch every `every` calls, and keeps a small record of every event forever",
            SAWTOOTH,
            leak_under_sawtooth,
        )
        .hard(),
        Case::clean(
            "sawtooth_batch",
            Kind::Vecs,
            "batches an event of `size` bytes per call and flushes the batch every `every` calls",
            SAWTOOTH,
            sawtooth_batch,
        )
        .hard(),
        Case::leak(
            "vec_capacity_doubling",
            Kind::Vecs,
            "vec_reused",
            "pushes `count` (1 to 4) u64s per call onto a vector: live bytes only move when its capacity doubles",
            Ranges {
                count: 1..=4,
                ..Ranges::FIXED
            },
            vec_capacity_doubling,
        )
        .hard(),
        Case::clean(
            "vec_reused",
            Kind::Vecs,
            "pushes `count` (1 to 4) u64s per call onto a vector, sums it and clears it (its capacity stays)",
            Ranges {
                count: 1..=4,
                ..Ranges::FIXED
            },
            vec_reused,
        )
        .hard(),
        Case::clean(
            "oscillating_buffer",
            Kind::Vecs,
            "resizes a scratch buffer between `size` bytes and 64 KiB on alternate calls, shrinking it to fit",
            Ranges {
                size: 16..=4096,
                ..Ranges::FIXED
            },
            oscillating_buffer,
        )
        .hard(),
        Case::clean(
            "output_every_call",
            Kind::Strings,
            "prints a line of `size` bytes to stdout every call",
            Ranges {
                size: 16..=256,
                ..Ranges::FIXED
            },
            output_every_call,
        )
        .hard(),
        Case::clean(
            "thread_pool_started_on_first_use",
            Kind::Threads,
            "sends a job to a pool of `count` (1 to 4) worker threads that the first call starts, and waits for its result",
            Ranges {
                size: 16..=4096,
                count: 1..=4,
                ..Ranges::FIXED
            },
            thread_pool_started_on_first_use,
        )
        .hard(),
        Case::clean(
            "detached_thread_finishing_late",
            Kind::Threads,
            "spawns a thread per call that is never joined and ends `delay_ms` (1 to 50) ms later",
            Ranges {
                size: 16..=4096,
                delay_ms: 1..=50,
                ..Ranges::FIXED
            },
            detached_thread_finishing_late,
        )
        .hard(),
    ]
}

/// Events of 64 B to 4 KiB, flushed every 2 to 6 calls.
const SAWTOOTH: Ranges = Ranges {
    size: 64..=4096,
    every: 2..=6,
    ..Ranges::FIXED
};

fn tiny_box_leaked(p: &Params) -> Body {
    let size = p.size;
    Box::new(move || {
        let leaked: &mut [u8] = Box::leak(vec![9u8; size].into_boxed_slice());
        black_box(leaked);
    })
}

fn tiny_box_dropped(p: &Params) -> Body {
    let size = p.size;
    Box::new(move || {
        let boxed = black_box(vec![9u8; size].into_boxed_slice());
        black_box(boxed.len());
    })
}

fn map_grows_every_few_calls(p: &Params) -> Body {
    let (size, every) = (p.size, p.every as u64);
    let mut map: HashMap<u64, Vec<u8>> = HashMap::new();
    let mut call = 0u64;
    Box::new(move || {
        call += 1;
        if call % every == 0 {
            map.insert(call, vec![call as u8; size]);
        }
    })
}

fn bounded_cache(p: &Params) -> Body {
    let (size, capacity) = (p.size, p.count);
    let mut entries: HashMap<u64, Vec<u8>> = HashMap::with_capacity(capacity + 1);
    let mut order: VecDeque<u64> = VecDeque::with_capacity(capacity + 1);
    let mut key = 0u64;
    Box::new(move || {
        key += 1;
        entries.insert(key, vec![key as u8; size]);
        order.push_back(key);
        if order.len() > capacity {
            let oldest = order.pop_front().expect("over capacity");
            entries.remove(&oldest);
        }
    })
}

fn table_built_on_first_use(p: &Params) -> Body {
    let entries = p.count as u32 * 64;
    let table: OnceLock<HashMap<u32, String>> = OnceLock::new();
    let mut call = 0u32;
    Box::new(move || {
        let table = table.get_or_init(|| (0..entries).map(|i| (i, format!("entry {i}"))).collect());
        call += 1;
        black_box(table.get(&(call % entries)));
    })
}

/// An event: its number, padded to `size` bytes.
fn event(n: u64, size: usize) -> String {
    let mut event = format!("event {n} ");
    event.extend(std::iter::repeat_n('.', size.saturating_sub(event.len())));
    event
}

fn leak_under_sawtooth(p: &Params) -> Body {
    let (size, every) = (p.size, p.every);
    let mut batch: Vec<String> = Vec::new();
    let mut archive: Vec<Box<u64>> = Vec::new();
    let mut n = 0u64;
    Box::new(move || {
        n += 1;
        batch.push(event(n, size));
        // The leak: a boxed record of each event, kept forever (one small block per call).
        archive.push(Box::new(n));
        if batch.len() == every {
            batch = Vec::new();
        }
    })
}

fn sawtooth_batch(p: &Params) -> Body {
    let (size, every) = (p.size, p.every);
    let mut batch: Vec<String> = Vec::new();
    let mut n = 0u64;
    Box::new(move || {
        n += 1;
        batch.push(event(n, size));
        if batch.len() == every {
            batch = Vec::new();
        }
    })
}

fn vec_capacity_doubling(p: &Params) -> Body {
    let count = p.count as u64;
    let mut values: Vec<u64> = Vec::new();
    Box::new(move || {
        for i in 0..count {
            values.push(i);
        }
    })
}

fn vec_reused(p: &Params) -> Body {
    let count = p.count as u64;
    let mut values: Vec<u64> = Vec::new();
    Box::new(move || {
        for i in 0..count {
            values.push(i);
        }
        black_box(values.iter().sum::<u64>());
        values.clear();
    })
}

fn oscillating_buffer(p: &Params) -> Body {
    let small = p.size;
    let mut scratch: Vec<u8> = Vec::new();
    let mut big = false;
    Box::new(move || {
        big = !big;
        scratch.resize(if big { 64 * 1024 } else { small }, 0);
        scratch.shrink_to_fit();
        black_box(scratch.len());
    })
}

fn output_every_call(p: &Params) -> Body {
    let message = "o".repeat(p.size);
    let mut n = 0u64;
    Box::new(move || {
        n += 1;
        println!("line {n}: {message}");
    })
}

/// A pool of worker threads fed through one channel; results come back through another, so that
/// no per-job channel is freed on a worker thread after the caller has moved on.
struct Pool {
    jobs: Option<Sender<u64>>,
    results: Receiver<u64>,
    workers: Vec<JoinHandle<()>>,
}

impl Pool {
    fn start(workers: usize, size: usize) -> Pool {
        let (jobs, queue) = channel::<u64>();
        let (done, results) = channel::<u64>();
        let queue = Arc::new(Mutex::new(queue));
        let workers = (0..workers)
            .map(|_| {
                let (queue, done) = (queue.clone(), done.clone());
                spawn("sim-pool-worker", move || loop {
                    let job = queue.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    let Ok(n) = job else { break };
                    let scratch = vec![n as u8; size];
                    let _ = done.send(scratch.iter().map(|&b| u64::from(b)).sum());
                })
            })
            .collect();
        Pool {
            jobs: Some(jobs),
            results,
            workers,
        }
    }

    fn run(&self, n: u64) -> u64 {
        let jobs = self.jobs.as_ref().expect("the pool is running");
        jobs.send(n).expect("a worker is alive");
        self.results.recv().expect("a worker answers")
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Closing the queue ends the workers.
        self.jobs = None;
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

fn thread_pool_started_on_first_use(p: &Params) -> Body {
    let (workers, size) = (p.count, p.size);
    let mut pool: Option<Pool> = None;
    let mut n = 0u64;
    Box::new(move || {
        n += 1;
        let pool = pool.get_or_insert_with(|| Pool::start(workers, size));
        black_box(pool.run(n));
    })
}

fn detached_thread_finishing_late(p: &Params) -> Body {
    let (size, delay) = (p.size, Duration::from_millis(p.delay_ms));
    Box::new(move || {
        let data = vec![1u8; size];
        // The handle is dropped: nobody waits for the thread, which ends a moment later.
        drop(spawn("sim-late", move || {
            std::thread::sleep(delay);
            data.iter().map(|&b| u64::from(b)).sum::<u64>()
        }));
    })
}
