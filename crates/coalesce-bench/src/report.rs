//! The comparison run: every scenario, every contender, in one process (and the peers in other
//! languages in their scripts' processes, [`crate::peers`]), as rows.
//!
//! Contenders take turns sample by sample, so that a slow patch of the machine (a compile in
//! another terminal, frequency scaling) falls on all of them rather than on one; each figure is
//! the median sample. The order of the turns is shuffled for every sample (from a fixed seed, so
//! a run is repeatable), because a contender is not measured alone: what ran just before it
//! leaves the machine in a state. On the 2-core virtual machine of the README's figures, every
//! contender ran the GraphQL scenario 20 to 45% faster right after async-graphql's 1 ms delay,
//! which leaves the workers idle, than after a contender that kept them busy; in a fixed order,
//! the contender listed after it would have had that head start in every sample.

use std::path::Path;
use std::time::Duration;

use coalesce_demo::Mode;
use tokio::runtime::Runtime;

use crate::alloc;
use crate::graphql::{GraphqlQuery, SeedQuery};
use crate::http::{self, HttpDemo};
use crate::instructions::{self, Counted};
use crate::library::Contender;
use crate::peers::{Foreign, Language, Peers, Subject};
use crate::scenario::{self, CacheHit, Chain, JoinAll, LoadMany, Run, Scenario, Tasks};
use crate::table::{Baseline, Cell, Column, Floor, Row, Spread, Target, Unit};

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
    /// Where `rounds` gives way: a contender whose `rounds` rounds would take longer runs as many
    /// as fill this (at least one). Only the slowest peers in other languages come near it (64
    /// tasks of 100 loads take tens of milliseconds a round in Python), which would otherwise
    /// take minutes for a figure that is steady in a second.
    pub max_sample: Duration,
    /// Samples per contender and scenario, of which the median is reported.
    pub samples: usize,
}

impl Config {
    /// The full run: at least 200 rounds, as the peers' reference figures, and 50 ms per
    /// sample, at most 0.5 s; 7 samples.
    pub const FULL: Config = Config {
        rounds: 200,
        min_sample: Duration::from_millis(50),
        max_sample: Duration::from_millis(500),
        samples: 7,
    };

    /// `--quick`: the same table from fewer rounds, in about a minute on two cores.
    pub const QUICK: Config = Config {
        rounds: 20,
        min_sample: Duration::from_millis(5),
        max_sample: Duration::from_millis(50),
        samples: 3,
    };

    /// Rounds per sample for a contender whose warm-up `run` took what it took per round.
    fn rounds_after(&self, warm_up: &Run) -> u64 {
        let per_round = warm_up.elapsed.as_nanos() / u128::from(warm_up.rounds.max(1));
        let to_fill =
            |time: Duration| u64::try_from(time.as_nanos() / per_round.max(1)).unwrap_or(u64::MAX);
        let fewest = self.rounds.min(to_fill(self.max_sample)).max(1);
        to_fill(self.min_sample).clamp(fewest, self.rounds * 1000)
    }
}

/// The seed of the orders in which the contenders take their turns, one shuffle per sample.
const SHUFFLE_SEED: u64 = 0x5eed;

/// 1000 keys per frame: scenario 1.
const WIDE: u64 = 1000;
/// 100 keys per frame: scenario 2.
const NARROW: u64 = 100;
/// Cache hits per round: scenario 3.
const HITS: u64 = 1000;

/// Runs every scenario and returns the table's rows, in the table's order, with the columns of
/// the `peers` in other languages that are running. The allocation rows are left out unless
/// [`alloc::CountingAllocator`] is the global allocator.
pub fn run(config: Config, peers: &Peers) -> Vec<Row> {
    let rt = scenario::runtime();
    let current_thread = scenario::current_thread_runtime();
    let bench = Bench {
        rt: &rt,
        config,
        peers,
    };
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
            Some(Target::AtMost(25.0)),
        ),
        bench.row(
            "4",
            "three dependent loads, one key each",
            Unit::NsPerRequest,
            &Chain { levels: 3 },
            Some(Target::AtMost(1_200.0)),
        ),
        Bench {
            rt: &current_thread,
            ..bench
        }
        .row(
            "4b",
            "three dependent loads, one key each, current-thread runtime",
            Unit::NsPerRequest,
            &Chain { levels: 3 },
            Some(Target::AtMost(1_000.0)),
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
            Some(Target::AheadOfEveryPeer),
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
            None,
        ));
        rows.push(bench.allocation_row(
            "8b",
            "allocations: 1000 keys, `load_many` (1b)",
            Unit::AllocationsPerLoad,
            &LoadMany { keys: WIDE },
            None,
            None,
        ));
        rows.push(bench.allocation_row(
            "8c",
            "allocations: cache hit (3)",
            Unit::AllocationsPerLoad,
            &CacheHit { hits: HITS },
            None,
            Some(Target::AtMost(0.0)),
        ));
        rows.push(bench.allocation_row(
            "8d",
            "allocations: three dependent loads (4)",
            Unit::AllocationsPerRequest,
            &Chain { levels: 3 },
            None,
            Some(Target::AtMost(12.0)),
        ));
    }
    rows
}

/// The instruction rows, 9a and 9b, counted by running `exe` (the comparison binary, which
/// counts an operation with `--count`) under callgrind; none when valgrind is not installed.
pub fn instruction_rows(exe: &Path) -> Vec<Row> {
    if !instructions::available() {
        return Vec::new();
    }
    vec![
        instruction_row(
            exe,
            "9a",
            "instructions: cache hit (3), by callgrind",
            Unit::InstructionsPerLoad,
            Counted::CacheHit,
        ),
        instruction_row(
            exe,
            "9b",
            "instructions: three dependent loads (4), by callgrind",
            Unit::InstructionsPerRequest,
            Counted::Chain,
        ),
    ]
}

/// Instructions per operation (`unit`) of every Rust contender on `counted`; a contender whose
/// count failed is left out.
fn instruction_row(
    exe: &Path,
    id: &'static str,
    scenario: &str,
    unit: Unit,
    counted: Counted,
) -> Row {
    let cells = Contender::ALL
        .into_iter()
        .filter_map(|contender| {
            let value = instructions::per_op(exe, counted, contender)?;
            let cell = Cell {
                value,
                count: None,
                spread: None,
            };
            Some((contender.into(), cell))
        })
        .collect();
    plain_row(id, scenario, unit, cells, None)
}

/// A run's runtime, settings and peers in other languages.
struct Bench<'a> {
    rt: &'a Runtime,
    config: Config,
    peers: &'a Peers,
}

/// Who a measure measured: a column, or a floor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Measured {
    Column(Column),
    Floor(Floor),
}

/// One measure's samples, summed up: the median sample, and the spread of its batch calls over
/// every round of every sample, where the scenario notes them per round.
struct Summary {
    measured: Measured,
    median: Run,
    spread: Option<Spread>,
}

impl Summary {
    fn of(measured: Measured, runs: Vec<Run>) -> Summary {
        let counts: Vec<u64> = runs
            .iter()
            .flat_map(|run| run.round_batches.clone())
            .collect();
        Summary {
            measured,
            spread: Spread::of(&counts),
            median: median(runs),
        }
    }

    /// The figure in `unit`, with its batch calls per round and their spread.
    fn cell(&self, unit: Unit) -> Cell {
        Cell {
            spread: self.spread,
            ..cell(unit, &self.median)
        }
    }
}

/// A measure of one column or floor: `rounds` rounds of the scenario.
type Measure<'a> = Box<dyn Fn(u64) -> Run + 'a>;

impl Bench<'_> {
    /// A row of every column's figure for `scenario`.
    fn row<S: Scenario>(
        &self,
        id: &'static str,
        scenario: &str,
        unit: Unit,
        workload: &S,
        target: Option<Target>,
    ) -> Row {
        let summaries = self.compare(workload, None);
        contenders_row(id, scenario, unit, &summaries, target)
    }

    /// A `join_all` row, with its floors: the same `join_all` of futures that wait once and are
    /// woken, and of futures ready at once, and the other languages' own, sampled in turn with
    /// the contenders.
    fn frame_row(&self, id: &'static str, scenario: &str, keys: u64) -> Row {
        let summaries = self.compare(&JoinAll { keys }, Some(keys));
        let target = Target::NearFloor {
            factor: 1.3,
            batches: 1.0,
        };
        let mut row = contenders_row(id, scenario, Unit::NsPerLoad, &summaries, Some(target));
        let floors = summaries
            .iter()
            .filter_map(|summary| match summary.measured {
                Measured::Floor(floor) => Some((
                    floor,
                    Cell {
                        count: None,
                        ..summary.cell(Unit::NsPerLoad)
                    },
                )),
                Measured::Column(_) => None,
            })
            .collect();
        row.baseline = Some(Baseline::Floor(floors));
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
            cells: vec![(Column::COALESCE, cell(unit, &median(batched)))],
            target: None,
        }
    }

    /// Allocations per operation (`unit`) of every Rust contender on `scenario`, and of the
    /// Rust floors of `floor` futures if given.
    fn allocation_row<S: Scenario>(
        &self,
        id: &'static str,
        scenario: &str,
        unit: Unit,
        workload: &S,
        floor: Option<u64>,
        target: Option<Target>,
    ) -> Row {
        // Few rounds: the count does not vary from round to round as time does.
        let rounds = self.config.rounds.min(20);
        let per_op = |run: Run| Cell {
            value: run.allocations_per_op(),
            count: None,
            spread: None,
        };
        let cells = Contender::ALL
            .into_iter()
            .map(|contender| {
                contender.run(workload, self.rt, 1);
                let run = alloc::counting(|| contender.run(workload, self.rt, rounds));
                (contender.into(), per_op(run))
            })
            .collect();
        let baseline = floor.map(|futures| {
            let woken = alloc::counting(|| scenario::woken_floor(self.rt, futures, rounds));
            let ready = alloc::counting(|| scenario::ready_floor(self.rt, futures, rounds));
            Baseline::Floor(vec![
                (Floor::Woken, per_op(woken)),
                (Floor::Ready, per_op(ready)),
            ])
        });
        Row {
            id,
            scenario: scenario.to_string(),
            unit,
            counts: "batch call",
            baseline,
            cells,
            target,
        }
    }

    /// Every column's samples of `workload`, summed up: the Rust contenders', the peers' in other
    /// languages if it has a [portable](Scenario::portable) form, and with `floor` keys, every
    /// floor's; after a warm-up, taking turns sample by sample.
    fn compare<S: Scenario>(&self, workload: &S, floor: Option<u64>) -> Vec<Summary> {
        let portable = workload.portable();
        let mut measures: Vec<(Measured, Measure<'_>)> = Vec::new();
        for contender in Contender::ALL {
            let measure = move |rounds| contender.run(workload, self.rt, rounds);
            measures.push((Measured::Column(contender.into()), Box::new(measure)));
        }
        let foreign = portable.as_ref().into_iter().flat_map(|scenario| {
            Foreign::ALL
                .into_iter()
                .filter(|&peer| self.peers.runs(peer))
                .map(move |peer| (peer, scenario))
        });
        for (peer, scenario) in foreign {
            let measure = move |rounds| self.peers.run(peer.into(), scenario, rounds);
            measures.push((Measured::Column(peer.into()), Box::new(measure)));
        }
        if let Some(keys) = floor {
            let woken = move |rounds| scenario::woken_floor(self.rt, keys, rounds);
            let ready = move |rounds| scenario::ready_floor(self.rt, keys, rounds);
            measures.push((Measured::Floor(Floor::Woken), Box::new(woken)));
            measures.push((Measured::Floor(Floor::Ready), Box::new(ready)));
            if let Some(scenario) = &portable {
                for language in Language::ALL.into_iter().filter(|&l| self.peers.speaks(l)) {
                    let subject = Subject::Floor(language);
                    let measure = move |rounds| self.peers.run(subject, scenario, rounds);
                    measures.push((Measured::Floor(Floor::Foreign(language)), Box::new(measure)));
                }
            }
        }

        let rounds = self.config.rounds;
        let sized: Vec<u64> = measures
            .iter()
            .map(|(_, measure)| self.config.rounds_after(&measure(rounds / 10 + 1)))
            .collect();
        let mut runs: Vec<Vec<Run>> = vec![Vec::new(); measures.len()];
        let mut order: Vec<usize> = (0..measures.len()).collect();
        let mut shuffle = fastrand::Rng::with_seed(SHUFFLE_SEED);
        for _ in 0..self.config.samples {
            shuffle.shuffle(&mut order);
            for &i in &order {
                runs[i].push(measures[i].1(sized[i]));
            }
        }
        let summaries: Vec<Summary> = measures
            .into_iter()
            .zip(runs)
            .map(|((measured, _), runs)| Summary::of(measured, runs))
            .collect();
        // The scripts size their scenarios from the same description: a figure per load over a
        // different number of loads would be no comparison.
        let ops = summaries[0].median.ops_per_round;
        for summary in &summaries {
            assert_eq!(
                summary.median.ops_per_round, ops,
                "{:?} ran another workload than {:?}",
                summary.measured, summaries[0].measured
            );
        }
        summaries
    }
}

/// A row of the columns' figures in `summaries` (floors left out) of one scenario.
fn contenders_row(
    id: &'static str,
    scenario: &str,
    unit: Unit,
    summaries: &[Summary],
    target: Option<Target>,
) -> Row {
    let cells = summaries
        .iter()
        .filter_map(|summary| match summary.measured {
            Measured::Column(column) => Some((column, summary.cell(unit))),
            Measured::Floor(_) => None,
        })
        .collect();
    plain_row(id, scenario, unit, cells, target)
}

/// A row of `cells`, with no baseline, counting batch calls.
fn plain_row(
    id: &'static str,
    scenario: &str,
    unit: Unit,
    cells: Vec<(Column, Cell)>,
    target: Option<Target>,
) -> Row {
    Row {
        id,
        scenario: scenario.to_string(),
        unit,
        counts: "batch call",
        baseline: None,
        cells,
        target,
    }
}

/// The run with the median time per operation.
fn median(mut runs: Vec<Run>) -> Run {
    runs.sort_by(|a, b| a.ns_per_op().total_cmp(&b.ns_per_op()));
    runs.swap_remove(runs.len() / 2)
}

/// `run`'s figure in `unit`, with its batch calls (or statements) per round.
fn cell(unit: Unit, run: &Run) -> Cell {
    let value = match unit {
        Unit::RequestsPerSecond => 1e9 / run.ns_per_op(),
        Unit::AllocationsPerLoad | Unit::AllocationsPerRequest => run.allocations_per_op(),
        Unit::NsPerLoad | Unit::NsPerRequest => run.ns_per_op(),
        Unit::InstructionsPerLoad | Unit::InstructionsPerRequest => {
            unreachable!("instructions are counted by callgrind, not by a timed run")
        }
    };
    Cell {
        value,
        count: Some(run.batches_per_round()),
        spread: None,
    }
}
