//! Reference leaks: `Rc` and `Arc` cycles that keep themselves alive, callbacks registered on
//! an event bus and never removed, `Box::leak` and `mem::forget`. The twins break the cycle with
//! a `Weak`, remove the callback, or drop what they allocated.

use super::{Body, Case, Kind, Params, Ranges};
use std::cell::RefCell;
use std::hint::black_box;
use std::rc::{Rc, Weak};
use std::sync::{Arc, Mutex, Weak as WeakArc};

/// 16 B to 4 KiB per node, callback or block.
const SIZES: Ranges = Ranges {
    size: 16..=4096,
    ..Ranges::FIXED
};

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case::leak(
            "rc_cycle",
            Kind::Cycles,
            "rc_weak_back_edge",
            "links a parent and a child `Rc` to each other (each holds `size` bytes) and drops both handles",
            SIZES,
            rc_cycle,
        ),
        Case::clean(
            "rc_weak_back_edge",
            Kind::Cycles,
            "links a parent and a child `Rc` (each holds `size` bytes), the child's edge back a `Weak`, and drops both",
            SIZES,
            rc_weak_back_edge,
        ),
        Case::leak(
            "arc_cycle",
            Kind::Cycles,
            "arc_weak_back_edge",
            "links two `Arc<Mutex<..>>` nodes to each other (each holds `size` bytes) and drops both handles",
            SIZES,
            arc_cycle,
        ),
        Case::clean(
            "arc_weak_back_edge",
            Kind::Cycles,
            "links two `Arc<Mutex<..>>` nodes, the edge back a `Weak`, and drops both handles",
            SIZES,
            arc_weak_back_edge,
        ),
        Case::leak(
            "callback_never_removed",
            Kind::Listeners,
            "callback_removed",
            "registers a callback holding `size` bytes on an event bus per call, emits an event, and never unregisters it",
            SIZES,
            callback_never_removed,
        ),
        Case::clean(
            "callback_removed",
            Kind::Listeners,
            "registers a callback holding `size` bytes on an event bus per call, emits an event and unregisters it",
            SIZES,
            callback_removed,
        ),
        Case::leak(
            "box_leaked",
            Kind::Forgotten,
            "box_dropped",
            "allocates a boxed slice of `size` bytes per call and `Box::leak`s it",
            SIZES,
            box_leaked,
        ),
        Case::clean(
            "box_dropped",
            Kind::Forgotten,
            "allocates a boxed slice of `size` bytes per call, reads it and drops it",
            SIZES,
            box_dropped,
        ),
        Case::leak(
            "vec_forgotten",
            Kind::Forgotten,
            "vec_dropped",
            "fills a vector of `size` bytes per call and `mem::forget`s it",
            SIZES,
            vec_forgotten,
        ),
        Case::clean(
            "vec_dropped",
            Kind::Forgotten,
            "fills a vector of `size` bytes per call, reads it and drops it",
            SIZES,
            vec_dropped,
        ),
    ]
}

/// A node of an `Rc` graph.
struct Node {
    payload: Vec<u8>,
    strong: RefCell<Option<Rc<Node>>>,
    weak: RefCell<Weak<Node>>,
}

impl Node {
    fn new(size: usize) -> Rc<Node> {
        Rc::new(Node {
            payload: vec![1u8; size],
            strong: RefCell::new(None),
            weak: RefCell::new(Weak::new()),
        })
    }
}

fn rc_cycle(p: &Params) -> Body {
    let size = p.size;
    Box::new(move || {
        let (parent, child) = (Node::new(size), Node::new(size));
        *parent.strong.borrow_mut() = Some(child.clone());
        *child.strong.borrow_mut() = Some(parent.clone());
        black_box(parent.payload.len() + child.payload.len());
    })
}

fn rc_weak_back_edge(p: &Params) -> Body {
    let size = p.size;
    Box::new(move || {
        let (parent, child) = (Node::new(size), Node::new(size));
        *parent.strong.borrow_mut() = Some(child.clone());
        *child.weak.borrow_mut() = Rc::downgrade(&parent);
        black_box(parent.payload.len() + child.payload.len());
    })
}

/// A node of an `Arc` graph, shareable between threads.
#[derive(Default)]
struct SharedNode {
    payload: Vec<u8>,
    strong: Option<Arc<Mutex<SharedNode>>>,
    weak: WeakArc<Mutex<SharedNode>>,
}

fn shared(size: usize) -> Arc<Mutex<SharedNode>> {
    Arc::new(Mutex::new(SharedNode {
        payload: vec![2u8; size],
        ..SharedNode::default()
    }))
}

fn lock(node: &Mutex<SharedNode>) -> std::sync::MutexGuard<'_, SharedNode> {
    node.lock().unwrap_or_else(|e| e.into_inner())
}

fn arc_cycle(p: &Params) -> Body {
    let size = p.size;
    Box::new(move || {
        let (a, b) = (shared(size), shared(size));
        lock(&a).strong = Some(b.clone());
        lock(&b).strong = Some(a.clone());
        black_box(lock(&a).payload.len() + lock(&b).payload.len());
    })
}

fn arc_weak_back_edge(p: &Params) -> Body {
    let size = p.size;
    Box::new(move || {
        let (a, b) = (shared(size), shared(size));
        lock(&a).strong = Some(b.clone());
        lock(&b).weak = Arc::downgrade(&a);
        black_box(lock(&a).payload.len() + lock(&b).payload.len());
    })
}

type Callback = Box<dyn FnMut(&str) -> usize + Send>;

/// Callbacks by registration id; `emit` calls every one.
#[derive(Default)]
struct EventBus {
    next_id: u64,
    callbacks: Vec<(u64, Callback)>,
}

impl EventBus {
    fn subscribe(&mut self, callback: Callback) -> u64 {
        self.next_id += 1;
        self.callbacks.push((self.next_id, callback));
        self.next_id
    }

    fn unsubscribe(&mut self, id: u64) {
        self.callbacks.retain(|(each, _)| *each != id);
    }

    fn emit(&mut self, event: &str) -> usize {
        self.callbacks.iter_mut().map(|(_, f)| f(event)).sum()
    }
}

/// A callback that keeps `size` bytes of state, as a listener keeps its buffers.
fn listener(size: usize) -> Callback {
    let mut seen = vec![0u8; size];
    Box::new(move |event| {
        seen[0] = seen[0].wrapping_add(1);
        event.len() + seen.len()
    })
}

fn callback_never_removed(p: &Params) -> Body {
    let size = p.size;
    let mut bus = EventBus::default();
    Box::new(move || {
        bus.subscribe(listener(size));
        black_box(bus.emit("tick"));
    })
}

fn callback_removed(p: &Params) -> Body {
    let size = p.size;
    let mut bus = EventBus::default();
    Box::new(move || {
        let id = bus.subscribe(listener(size));
        black_box(bus.emit("tick"));
        bus.unsubscribe(id);
    })
}

fn box_leaked(p: &Params) -> Body {
    let size = p.size;
    Box::new(move || {
        let leaked: &mut [u8] = Box::leak(vec![4u8; size].into_boxed_slice());
        black_box(leaked);
    })
}

fn box_dropped(p: &Params) -> Body {
    let size = p.size;
    Box::new(move || {
        let boxed = black_box(vec![4u8; size].into_boxed_slice());
        black_box(boxed.len());
    })
}

fn vec_forgotten(p: &Params) -> Body {
    let size = p.size;
    Box::new(move || {
        let v = black_box(vec![5u8; size]);
        std::mem::forget(v);
    })
}

fn vec_dropped(p: &Params) -> Body {
    let size = p.size;
    Box::new(move || {
        let v = black_box(vec![5u8; size]);
        black_box(v.len());
    })
}
