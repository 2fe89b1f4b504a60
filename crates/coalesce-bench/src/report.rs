//! The comparison run: every scenario, every contender, in one process, as rows.
//!
//! Contenders take turns sample by sample, so that a slow patch of the machine (a compile in
//! another terminal, frequency scaling) falls on all of them rather than on one; each figure is
//! the median sample.

use std::time::Duration;

use coalesce_demo::Mode;
use tokio::runtime::Runtime;

use crate::alloc;
use crate::graphql::{GraphqlQuery, SeedQuery};
use crate::http::{self, HttpDemo};
use crate::library::Contender;
use crate::scenario::{self, CacheHit, Chain, JoinAll, LoadMany, Run, Scenario, Tasks};
use crate::table::{Baseline, Cell, Row, Target, Unit};

/// How long to measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// The fewest rounds per sample: a round is one frame of loads, one request, or 1000 cache
    /// hits. Also the number of requests per sample over HTTP.
    pub rounds: u64,
    /// The least time a sample should take: a contender whose rounds are quick runs more of
    /// them (up to 1000 times `rounds`), so that a 2 µs request is not timed over a fraction of
    /// a millisecond, at the mercy of one preemption.
    pub min_sample: Duration,
    /// Samples per contender and scenario, of which the median is reported.
    pub samples: usize,
}

impl Config {
    /// The full run: at least 200 rounds, as the peers' reference figures, and 50 ms per
    /// sample; 7 samples.
    pub const FULL: Config = Config {
        rounds: 200,
        min_sample: Duration::from_millis(50),
        samples: 7,
    };

    /// `--quick`: the same table from fewer rounds, in well under a minute on two cores.
    pub const QUICK: Config = Config {
        rounds: 20,
        min_sample: Duration::from_millis(5),
        samples: 3,
    };

    /// Rounds per sample for a contender whose warm-up `run` took what it took per round.
    fn rounds_after(&self, warm_up: &Run) -> u64 {
        let per_round = warm_up.elapsed.as_nanos() / u128::from(warm_up.rounds.max(1));
        let to_fill = self.min_sample.as_nanos() / per_round.max(1);
        u64::try_from(to_fill)
            .unwrap_or(u64::MAX)
            .clamp(self.rounds, self.rounds * 1000)
    }
}

/// 1000 keys per frame: scenario 1.
const WIDE: u64 = 1000;
/// 100 keys per frame: scenario 2.
const NARROW: u64 = 100;
/// Cache hits per round: scenario 3.
const HITS: u64 = 1000;

/// Runs every scenario and returns the table's rows, in the table's order. The allocation rows
/// are left out unless [`alloc::CountingAllocator`] is the global allocator.
pub fn run(config: Config) -> Vec<Row> {
    let rt = scenario::runtime();
    let bench = Bench { rt: &rt, config };
    let mut rows = vec![
        bench.frame_row(
            "1a",
            "1000 distinct keys in one frame (`join_all` of `load`)",
            WIDE,
        ),
        bench.row(
            "1b",
            "1000 distinct keys in one `load_many`",
            Unit::NsPerLoad,
            &LoadMany { keys: WIDE },
            None,
        ),
        bench.frame_row(
            "2",
            "100 distinct keys in one frame (`join_all` of `load`)",
            NARROW,
        ),
        bench.row(
            "3",
            "cache hit on a loaded key",
            Unit::NsPerLoad,
            &CacheHit { hits: HITS },
            Some(Target::AtMost(30.0)),
        ),
        bench.row(
            "4",
            "three dependent loads, one key each",
            Unit::NsPerRequest,
            &Chain { levels: 3 },
            Some(Target::AtMost(2_000.0)),
        ),
        bench.row(
            "5",
            "64 tasks × 100 overlapping keys, 2 workers",
            Unit::NsPerLoad,
            &Tasks {
                tasks: 64,
                keys: 100,
                stride: 10,
            },
            None,
        ),
    ];
    for (id, query) in ["6a", "6b"].into_iter().zip(SeedQuery::ALL) {
        rows.push(bench.row(
            id,
            &format!(
                "GraphQL `{}` in-memory, concurrency 1: `{}`",
                query.name(),
                query.document()
            ),
            Unit::RequestsPerSecond,
            &GraphqlQuery { query },
            Some(Target::Beats {
                peer: Contender::ASYNC_GRAPHQL_DEFAULT,
                factor: 5.0,
            }),
        ));
    }
    let demo = HttpDemo::start(&rt);
    for (id, query) in ["7a", "7b"].into_iter().zip(SeedQuery::ALL) {
        rows.push(bench.http_row(id, &demo, query));
    }
    drop(demo);
    if alloc::installed() {
        rows.push(bench.allocation_row(
            "8a",
            "allocations: 1000 keys, `join_all` (1a)",
            Unit::AllocationsPerLoad,
            &JoinAll { keys: WIDE },
            Some(WIDE),
        ));
        rows.push(bench.allocation_row(
            "8b",
            "allocations: 1000 keys, `load_many` (1b)",
            Unit::AllocationsPerLoad,
            &LoadMany { keys: WIDE },
            None,
        ));
        rows.push(bench.allocation_row(
            "8c",
            "allocations: cache hit (3)",
            Unit::AllocationsPerLoad,
            &CacheHit { hits: HITS },
            None,
        ));
        rows.push(bench.allocation_row(
            "8d",
            "allocations: three dependent loads (4)",
            Unit::AllocationsPerRequest,
            &Chain { levels: 3 },
            None,
        ));
    }
    rows
}

/// A run's runtime and settings.
struct Bench<'rt> {
    rt: &'rt Runtime,
    config: Config,
}

impl Bench<'_> {
    /// A row of every contender's figure for `scenario`.
    fn row<S: Scenario>(
        &self,
        id: &'static str,
        scenario: &str,
        unit: Unit,
        workload: &S,
        target: Option<Target>,
    ) -> Row {
        let (runs, _) = self.compare(workload, None);
        contenders_row(id, scenario, unit, runs, target)
    }

    /// A `join_all` row, with its floor: the same `join_all` of futures that only yield once,
    /// sampled in turn with the contenders.
    fn frame_row(&self, id: &'static str, scenario: &str, keys: u64) -> Row {
        let floor = |rounds| scenario::bare_join_all(self.rt, keys, rounds);
        let (runs, floor) = self.compare(&JoinAll { keys }, Some(&floor));
        let target = Target::NearFloor {
            factor: 2.0,
            batches: 1.0,
        };
        let mut row = contenders_row(id, scenario, Unit::NsPerLoad, runs, Some(target));
        row.baseline = floor.map(|floor| {
            Baseline::Floor(Cell {
                value: floor.ns_per_op(),
                count: None,
            })
        });
        row
    }

    /// The demo server batched (coalesce's column) against itself naive, on one query.
    fn http_row(&self, id: &'static str, demo: &HttpDemo, query: SeedQuery) -> Row {
        let rounds = self.config.rounds;
        let mut naive = Vec::new();
        let mut batched = Vec::new();
        demo.run(self.rt, Mode::Naive, query, rounds / 10 + 1);
        demo.run(self.rt, Mode::Batched, query, rounds / 10 + 1);
        for _ in 0..self.config.samples {
            naive.push(demo.run(self.rt, Mode::Naive, query, rounds));
            batched.push(demo.run(self.rt, Mode::Batched, query, rounds));
        }
        let unit = Unit::RequestsPerSecond;
        Row {
            id,
            scenario: format!(
                "HTTP + SQLite `{}`, batched vs naive (N+1), concurrency {}",
                query.name(),
                http::CONCURRENCY
            ),
            unit,
            counts: "SQL statement",
            baseline: Some(Baseline::Naive(cell(unit, &median(naive)))),
            cells: vec![(Contender::Coalesce, cell(unit, &median(batched)))],
            target: None,
        }
    }

    /// Allocations per operation (`unit`) of every contender on `scenario`, and of the bare
    /// `join_all` of `floor` futures if given.
    fn allocation_row<S: Scenario>(
        &self,
        id: &'static str,
        scenario: &str,
        unit: Unit,
        workload: &S,
        floor: Option<u64>,
    ) -> Row {
        // Few rounds: the count does not vary from round to round as time does.
        let rounds = self.config.rounds.min(20);
        let per_op = |run: Run| Cell {
            value: run.allocations_per_op(),
            count: None,
        };
        let cells = Contender::ALL
            .into_iter()
            .map(|contender| {
                contender.run(workload, self.rt, 1);
                let run = alloc::counting(|| contender.run(workload, self.rt, rounds));
                (contender, per_op(run))
            })
            .collect();
        let baseline = floor.map(|futures| {
            let run = alloc::counting(|| scenario::bare_join_all(self.rt, futures, rounds));
            Baseline::Floor(per_op(run))
        });
        Row {
            id,
            scenario: scenario.to_string(),
            unit,
            counts: "batch call",
            baseline,
            cells,
            target: None,
        }
    }

    /// Every contender's median run of `workload`, and the median run of `floor` if given,
    /// after a warm-up, taking turns sample by sample.
    fn compare<S: Scenario>(
        &self,
        workload: &S,
        floor: Option<&dyn Fn(u64) -> Run>,
    ) -> (Vec<(Contender, Run)>, Option<Run>) {
        let rounds = self.config.rounds;
        let mut measures: Vec<Box<dyn Fn(u64) -> Run + '_>> = Contender::ALL
            .into_iter()
            .map(|contender| {
                Box::new(move |rounds| contender.run(workload, self.rt, rounds)) as Box<_>
            })
            .collect();
        measures.extend(floor.map(|floor| Box::new(floor) as Box<_>));
        let sized: Vec<u64> = measures
            .iter()
            .map(|measure| self.config.rounds_after(&measure(rounds / 10 + 1)))
            .collect();
        let mut runs: Vec<Vec<Run>> = vec![Vec::new(); measures.len()];
        for _ in 0..self.config.samples {
            for ((measure, &rounds), runs) in measures.iter().zip(&sized).zip(&mut runs) {
                runs.push(measure(rounds));
            }
        }
        let mut medians = runs.into_iter().map(median);
        let contenders = Contender::ALL.into_iter().zip(medians.by_ref()).collect();
        (contenders, medians.next())
    }
}

/// A row of the contenders' `runs` of one scenario.
fn contenders_row(
    id: &'static str,
    scenario: &str,
    unit: Unit,
    runs: Vec<(Contender, Run)>,
    target: Option<Target>,
) -> Row {
    Row {
        id,
        scenario: scenario.to_string(),
        unit,
        counts: "batch call",
        baseline: None,
        cells: runs
            .into_iter()
            .map(|(contender, run)| (contender, cell(unit, &run)))
            .collect(),
        target,
    }
}

/// The run with the median time per operation.
fn median(mut runs: Vec<Run>) -> Run {
    runs.sort_by(|a, b| a.ns_per_op().total_cmp(&b.ns_per_op()));
    runs[runs.len() / 2]
}

/// `run`'s figure in `unit`, with its batch calls (or statements) per round.
fn cell(unit: Unit, run: &Run) -> Cell {
    let value = match unit {
        Unit::RequestsPerSecond => 1e9 / run.ns_per_op(),
        Unit::AllocationsPerLoad | Unit::AllocationsPerRequest => run.allocations_per_op(),
        Unit::NsPerLoad | Unit::NsPerRequest => run.ns_per_op(),
    };
    Cell {
        value,
        count: Some(run.batches_per_round()),
    }
}
