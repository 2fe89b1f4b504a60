//! Which batch waits for which: what keeps loaders that load from loaders from hanging.
//!
//! A batch function may load from any loader, its own included. Such a load is made while the
//! batch's future is being polled, so it is attributed to that batch: the *awaiting* batch, the
//! innermost batch future this thread is polling, which [`driving`] marks. Each such load adds an
//! edge `awaiting → target` to one process-wide wait-for graph, and its waiter removes the edge
//! when it is answered or dropped.
//!
//! Two rules follow from the graph:
//!
//! - **Cycles fail instead of hanging.** A load whose edge would close a cycle (the target
//!   batch, or a batch it waits for, waits for the awaiting batch) can never be answered: every
//!   batch on the cycle waits for the next. That load fails with
//!   [`LoadError::Cycle`](crate::LoadError::Cycle) instead, naming the batches; its batch function
//!   decides what to answer, its batch completes, and the others on the cycle follow. Cycles are
//!   found across loaders, tasks and threads, not only on one thread's stack: the edge is checked
//!   and added under one lock, so two threads cannot each add half of a cycle unseen.
//! - **A batch awaited by a running batch never waits for a permit** (see
//!   [`Builder::max_concurrent_batches`](crate::Builder::max_concurrent_batches)): it runs on the
//!   permit of the batch that waits for it. Permit waits then only ever wait for running batches,
//!   which only wait for batches that never wait for permits, so no cycle can pass through a
//!   permit. The scheduler applies this rule; this module only says who is awaited.
//!
//! Batches of one loader can wait for each other without any key-level cycle: with
//! `max_batch_size(2)`, `{4, 3}` and `{8, 2}` where `k` needs `k / 2` wait for each other although
//! the keys form a chain. That is still a cycle of batches, and still fails one load rather than
//! hanging both; loading those keys again succeeds.
//!
//! A load *created* inside a batch function counts as awaited by that batch even if it is handed
//! to another task: such a load can be reported as closing a cycle that does not really exist.
//!
//! The rejected alternative, detecting only what is on the current thread's stack, misses cycles
//! between batches driven by different requests, which is how they occur in servers.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::fmt::Write;
use std::sync::{Arc, Mutex, MutexGuard};

thread_local! {
    /// The batch whose batch future this thread is polling right now (the innermost, when one
    /// batch future polls another's), by id. The batches around it are kept on the call stack,
    /// by [`driving`]: a `Cell` of a `Copy` value needs no destructor, so reading it is a plain
    /// thread-local load, on the path of every load that is not memoized.
    static DRIVING: Cell<Option<u64>> = const { Cell::new(None) };
}

/// The process-wide wait-for graph; empty unless batch functions load.
static GRAPH: Mutex<Graph> = Mutex::new(Graph { edges: None });

/// Runs `poll` as the poll of batch `id`'s future: loads made inside are attributed to it.
pub(crate) fn driving<T>(id: u64, poll: impl FnOnce() -> T) -> T {
    /// Restores the batch polled around this one, even if `poll` panics (the scheduler catches
    /// batch panics and goes on).
    struct Restore(Option<u64>);
    impl Drop for Restore {
        fn drop(&mut self) {
            DRIVING.set(self.0);
        }
    }
    let _restore = Restore(DRIVING.replace(Some(id)));
    poll()
}

/// The batch whose batch function is running on this thread, if any: the awaiting batch of a
/// load made now.
pub(crate) fn awaiting() -> Option<u64> {
    DRIVING.get()
}

/// An edge of the wait-for graph, held by the waiter it stands for and removed with it.
pub(crate) struct Edge {
    from: u64,
    to: u64,
    /// How many loads of the waiter the edge stands for (a `load_many` joins a batch with
    /// several keys).
    count: u32,
}

impl Edge {
    /// Takes over `other`, an edge along the same pair for another load of the same waiter.
    pub(crate) fn absorb(&mut self, mut other: Edge) {
        debug_assert_eq!((self.from, self.to), (other.from, other.to));
        self.count += std::mem::take(&mut other.count);
    }
}

impl Drop for Edge {
    fn drop(&mut self) {
        if self.count > 0 {
            lock().remove(self.from, self.to, self.count);
        }
    }
}

/// Records that batch `from` waits for batch `to` (of loader `to_loader`), unless that closes a
/// cycle: then the error names the batches on it, starting and ending at `from`.
pub(crate) fn wait_for(from: u64, to: u64, to_loader: &Arc<str>) -> Result<Edge, Arc<str>> {
    let mut graph = lock();
    if let Some(mut path) = graph.path(to, from) {
        path[0].1 = Some(Arc::clone(to_loader));
        let mut described = String::new();
        for (i, (id, loader)) in std::iter::once((from, None)).chain(path).enumerate() {
            if i > 0 {
                described.push_str(" waits for ");
            }
            match loader {
                Some(loader) => write!(described, "batch {id} of `{loader}`"),
                None => write!(described, "batch {id}"),
            }
            .expect("writing to a String");
        }
        return Err(described.into());
    }
    graph.add(from, to, to_loader);
    Ok(Edge { from, to, count: 1 })
}

fn lock() -> MutexGuard<'static, Graph> {
    // Every step leaves the graph consistent; a panic elsewhere carries no information here.
    GRAPH
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

struct Graph {
    /// For each awaiting batch, the batches it waits for. `None` until the first edge, so that
    /// the static needs no allocation.
    edges: Option<HashMap<u64, Vec<Target>>>,
}

/// A batch some batch waits for: (its id, its loader's name, how many loads wait on it).
type Target = (u64, Arc<str>, u32);

impl Graph {
    fn add(&mut self, from: u64, to: u64, to_loader: &Arc<str>) {
        let targets = self
            .edges
            .get_or_insert_with(HashMap::new)
            .entry(from)
            .or_default();
        match targets.iter_mut().find(|(t, _, _)| *t == to) {
            Some((_, _, count)) => *count += 1,
            None => targets.push((to, Arc::clone(to_loader), 1)),
        }
    }

    fn remove(&mut self, from: u64, to: u64, count: u32) {
        let Some(edges) = self.edges.as_mut() else {
            return;
        };
        let Some(targets) = edges.get_mut(&from) else {
            return;
        };
        if let Some(i) = targets.iter().position(|(t, _, _)| *t == to) {
            targets[i].2 = targets[i].2.saturating_sub(count);
            if targets[i].2 == 0 {
                targets.swap_remove(i);
            }
        }
        if targets.is_empty() {
            edges.remove(&from);
        }
    }

    /// A path of edges from `start` to `goal`, as the batches it reaches with their loaders'
    /// names (`start` itself first, unnamed unless it is reached again), if there is one.
    fn path(&self, start: u64, goal: u64) -> Option<Vec<(u64, Option<Arc<str>>)>> {
        if start == goal {
            return Some(vec![(start, None)]);
        }
        let edges = self.edges.as_ref()?;
        // Depth-first, remembering each batch's predecessor to rebuild the path.
        let mut came_from: HashMap<u64, (u64, Arc<str>)> = HashMap::new();
        let mut seen = HashSet::from([start]);
        let mut stack = vec![start];
        while let Some(node) = stack.pop() {
            for (next, loader, _) in edges.get(&node).into_iter().flatten() {
                if !seen.insert(*next) {
                    continue;
                }
                came_from.insert(*next, (node, Arc::clone(loader)));
                if *next == goal {
                    let mut path = Vec::new();
                    let mut at = goal;
                    while let Some((prev, loader)) = came_from.remove(&at) {
                        path.push((at, Some(loader)));
                        at = prev;
                    }
                    path.push((start, None));
                    path.reverse();
                    return Some(path);
                }
                stack.push(*next);
            }
        }
        None
    }
}
