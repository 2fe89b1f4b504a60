//! criterion benchmarks: scenarios 1 to 6, one benchmark per library, on the same harness as the
//! comparison binary. Criterion's statistics suit tracking one library across commits; the side
//! by side table comes from the binary. The HTTP scenario (7) is left to the binary, whose load
//! generator bounds it, and allocations (8) need its counting allocator, which is not installed
//! here so as not to touch these timings.
//!
//! One iteration is one round (a frame of loads, a request, or 1000 cache hits); the throughput
//! line gives loads per second. The `frame_rule` group runs coalesce alone, with its frame rule,
//! with `Schedule::TokioRounds` of one and two rounds (the driver yields through tokio's deferred
//! wakes, which do not wake the idle worker), and with `Schedule::Yields(0)`, which sends at the
//! first poll: the difference is what waiting out the frame costs (a `join_all` batches the same
//! either way, since `load` queues its key when called; under `Yields(0)` its loads find their
//! answers at their first poll, while under any schedule that yields each of them registers a
//! waker, is woken and is polled again). To profile one benchmark without criterion's analysis:
//! `cargo bench -p coalesce-bench --bench loaders -- --profile-time 10 'cache_hit/coalesce'`.

use std::time::Duration;

use coalesce_bench::Contender;
use coalesce_bench::graphql::{GraphqlQuery, SeedQuery};
use coalesce_bench::library::{Coalesce, Mapped};
use coalesce_bench::scenario::{self, CacheHit, Chain, JoinAll, LoadMany, Run, Scenario, Tasks};
use coalesce_loader::Schedule;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tokio::runtime::Runtime;

/// A floor's name in its group, and how it runs a number of rounds.
type Floor<'a> = (&'static str, &'a dyn Fn(u64) -> Run);

/// One group: `workload` with every contender, and its `floors` if it has them.
fn group<S: Scenario>(c: &mut Criterion, rt: &Runtime, name: &str, workload: &S, floors: &[Floor]) {
    let per_round = workload_ops(rt, workload);
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(per_round));
    for (floor, run) in floors {
        group.bench_function(*floor, |b| b.iter_custom(|rounds| run(rounds).elapsed));
    }
    for contender in Contender::ALL {
        group.bench_function(contender.id(), |b| {
            b.iter_custom(|rounds| contender.run(workload, rt, rounds).elapsed)
        });
    }
    group.finish();
}

/// Operations per round of `workload`, from one round of coalesce.
fn workload_ops<S: Scenario>(rt: &Runtime, workload: &S) -> u64 {
    Contender::Coalesce.run(workload, rt, 1).ops_per_round
}

fn loaders(c: &mut Criterion) {
    let rt = scenario::runtime();
    for keys in [1000, 100] {
        let woken = |rounds| scenario::woken_floor(&rt, keys, rounds);
        let ready = |rounds| scenario::ready_floor(&rt, keys, rounds);
        let floors: [Floor; 2] = [("floor", &woken), ("floor-ready", &ready)];
        group(
            c,
            &rt,
            &format!("join_all_{keys}"),
            &JoinAll { keys },
            &floors,
        );
    }
    group(c, &rt, "load_many_1000", &LoadMany { keys: 1000 }, &[]);
    group(c, &rt, "cache_hit", &CacheHit { hits: 1000 }, &[]);
    group(c, &rt, "chain_3", &Chain { levels: 3 }, &[]);
    let tasks = Tasks {
        tasks: 64,
        keys: 100,
        stride: 10,
    };
    group(c, &rt, "tasks_64x100", &tasks, &[]);
    for query in SeedQuery::ALL {
        let name = format!("graphql_{}", query.name());
        group(c, &rt, &name, &GraphqlQuery { query }, &[]);
    }
}

/// coalesce with the frame rule against coalesce sending at once, on the scenarios the frame
/// rule's executor trips weigh on.
fn frame_rule(c: &mut Criterion) {
    let rt = scenario::runtime();
    let mut group = c.benchmark_group("frame_rule");
    for (name, schedule) in [
        ("frame", Schedule::Frame),
        ("tokio-rounds-1", Schedule::TokioRounds(1)),
        ("tokio-rounds-2", Schedule::TokioRounds(2)),
        ("yields-0", Schedule::Yields(0)),
    ] {
        let coalesce = Coalesce {
            schedule,
            shape: Mapped,
        };
        for keys in [100, 1000] {
            group.bench_function(format!("join_all_{keys}/{name}"), |b| {
                b.iter_custom(|rounds| JoinAll { keys }.run(coalesce, &rt, rounds).elapsed)
            });
        }
        group.bench_function(format!("chain_3/{name}"), |b| {
            b.iter_custom(|rounds| Chain { levels: 3 }.run(coalesce, &rt, rounds).elapsed)
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = loaders, frame_rule
}
criterion_main!(benches);
