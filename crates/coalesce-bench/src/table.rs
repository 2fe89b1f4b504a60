//! The comparison table: one row per scenario, one column per contender (the Rust libraries,
//! then the peers in other languages), its figures, its batch calls, coalesce's ratio to the best
//! peer and whether the target is met, as markdown.
//!
//! README's Performance table is this output, pasted; a test holds it to [`header`], so that a
//! table that lost its header or its separator fails the build rather than render as text.

use std::fmt::{self, Write};

use crate::library::Contender;
use crate::peers::{Foreign, Language};

/// What a row's figures measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Nanoseconds per load.
    NsPerLoad,
    /// Nanoseconds per request: latency.
    NsPerRequest,
    /// Requests per second: throughput.
    RequestsPerSecond,
    /// Allocations per load.
    AllocationsPerLoad,
    /// Allocations per request.
    AllocationsPerRequest,
    /// Instructions per load, counted by callgrind.
    InstructionsPerLoad,
    /// Instructions per request, counted by callgrind.
    InstructionsPerRequest,
}

impl Unit {
    /// The column heading's words for it.
    pub fn label(self) -> &'static str {
        match self {
            Unit::NsPerLoad => "time / load",
            Unit::NsPerRequest => "time / request",
            Unit::RequestsPerSecond => "requests / s",
            Unit::AllocationsPerLoad => "allocations / load",
            Unit::AllocationsPerRequest => "allocations / request",
            Unit::InstructionsPerLoad => "instructions / load",
            Unit::InstructionsPerRequest => "instructions / request",
        }
    }

    /// Throughput is better higher; time and allocations lower.
    pub fn higher_is_better(self) -> bool {
        self == Unit::RequestsPerSecond
    }

    /// `value` for a reader: times scaled to ns, µs or ms, three significant digits.
    pub fn format(self, value: f64) -> String {
        match self {
            Unit::NsPerLoad | Unit::NsPerRequest => {
                if value < 1e3 {
                    format!("{} ns", significant(value))
                } else if value < 1e6 {
                    format!("{} µs", significant(value / 1e3))
                } else {
                    format!("{} ms", significant(value / 1e6))
                }
            }
            Unit::RequestsPerSecond => format!("{}/s", significant(value)),
            Unit::AllocationsPerLoad | Unit::AllocationsPerRequest => format!("{value:.2}"),
            Unit::InstructionsPerLoad | Unit::InstructionsPerRequest => format!("{value:.0}"),
        }
    }

    /// How "better" and "worse" read in the ratio column.
    fn comparatives(self) -> (&'static str, &'static str) {
        match self {
            Unit::AllocationsPerLoad | Unit::AllocationsPerRequest => {
                ("fewer allocations", "more allocations")
            }
            Unit::InstructionsPerLoad | Unit::InstructionsPerRequest => {
                ("fewer instructions", "more instructions")
            }
            _ => ("faster", "slower"),
        }
    }
}

/// Three significant digits, without scientific notation.
fn significant(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

/// A column of figures: a Rust contender, or a peer in another language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    /// A Rust library with its settings.
    Rust(Contender),
    /// A DataLoader in another language, run by its script.
    Foreign(Foreign),
}

impl Column {
    /// coalesce's column, the one every other is compared with.
    pub const COALESCE: Column = Column::Rust(Contender::Coalesce);

    /// Every column, in the table's order: the Rust contenders, then the other languages.
    pub fn all() -> impl Iterator<Item = Column> {
        let rust = Contender::ALL.into_iter().map(Column::Rust);
        rust.chain(Foreign::ALL.into_iter().map(Column::Foreign))
    }
}

impl From<Contender> for Column {
    fn from(contender: Contender) -> Column {
        Column::Rust(contender)
    }
}

impl From<Foreign> for Column {
    fn from(peer: Foreign) -> Column {
        Column::Foreign(peer)
    }
}

impl fmt::Display for Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Column::Rust(contender) => contender.fmt(f),
            Column::Foreign(peer) => peer.fmt(f),
        }
    }
}

/// How a count that varies from round to round is spread over the rounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spread {
    /// The fewest in a round.
    pub min: u64,
    /// The median round's.
    pub median: u64,
    /// The most in a round.
    pub max: u64,
}

impl Spread {
    /// The spread of `counts`, one per round; `None` if there are none.
    ///
    /// ```
    /// use coalesce_bench::table::Spread;
    ///
    /// let spread = Spread::of(&[3, 1, 1, 15, 2]).unwrap();
    /// assert_eq!((spread.min, spread.median, spread.max), (1, 2, 15));
    /// ```
    pub fn of(counts: &[u64]) -> Option<Spread> {
        let mut sorted = counts.to_vec();
        sorted.sort_unstable();
        Some(Spread {
            min: *sorted.first()?,
            median: sorted[sorted.len() / 2],
            max: *sorted.last()?,
        })
    }
}

/// One figure: the value in the row's unit, and what the row counts per round, if anything.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cell {
    /// In the row's [`Unit`].
    pub value: f64,
    /// Batch calls (or SQL statements, see [`Row::counts`]) per round.
    pub count: Option<f64>,
    /// How the count is spread over the rounds, where the row reports it.
    pub spread: Option<Spread>,
}

/// A floor: what the same futures cost without a loader, in Rust or in another language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Floor {
    /// Rust futures that pend once and are woken by another, as waiting loads are: the fair
    /// floor, the one targets are set against.
    Woken,
    /// Rust futures ready at once: what the `join_all` costs without a single wait.
    Ready,
    /// The bare harness of another language, for its peers' columns.
    Foreign(Language),
}

impl fmt::Display for Floor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Floor::Woken => f.write_str("floor"),
            Floor::Ready => f.write_str("ready at once"),
            Floor::Foreign(language) => language.fmt(f),
        }
    }
}

/// What a row's coalesce figure is set against besides the peers.
#[derive(Clone, Debug, PartialEq)]
pub enum Baseline {
    /// The bare harness: the same futures without a loader, the least any loader can cost; the
    /// Rust floors first, then the other languages' that ran.
    Floor(Vec<(Floor, Cell)>),
    /// The same server answering without loaders, one statement per field: the N+1 problem.
    Naive(Cell),
}

impl Baseline {
    /// The figure of `floor`, if the row has it.
    pub fn floor(&self, floor: Floor) -> Option<Cell> {
        match self {
            Baseline::Floor(floors) => floors.iter().find(|(f, _)| *f == floor).map(|&(_, c)| c),
            Baseline::Naive(_) => None,
        }
    }
}

/// A goal for coalesce's figure in a row.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Target {
    /// Within `factor` times the fair floor ([`Floor::Woken`]), in at most `batches` batch calls
    /// per round.
    NearFloor {
        /// The most coalesce may cost, as a multiple of the floor.
        factor: f64,
        /// The most batch calls per round.
        batches: f64,
    },
    /// At most this much, in the row's unit.
    AtMost(f64),
    /// At least `factor` times the throughput of `peer`.
    Beats {
        /// The peer.
        peer: Column,
        /// The least multiple of its throughput.
        factor: f64,
    },
    /// At least as good as every peer in the row, with no more batch calls than any.
    AheadOfEveryPeer,
}

/// One scenario's figures.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// The scenario's number in the table, such as `1a`.
    pub id: &'static str,
    /// What the row measures, for a reader.
    pub scenario: String,
    /// What its figures measure.
    pub unit: Unit,
    /// What [`Cell::count`] counts, singular: `batch call` or `SQL statement`.
    pub counts: &'static str,
    /// The floors or the naive server, where the row has them.
    pub baseline: Option<Baseline>,
    /// The figure of each column that ran the scenario.
    pub cells: Vec<(Column, Cell)>,
    /// coalesce's goal in this row, if it has one.
    pub target: Option<Target>,
}

/// Whether a row met its target, and the figure that decided it.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// Met or missed.
    pub met: bool,
    /// The target and the figure, such as `≤ 30 ns: met (21.4 ns)`.
    pub text: String,
}

impl Row {
    /// `column`'s figure, if it ran this scenario.
    pub fn cell(&self, column: impl Into<Column>) -> Option<Cell> {
        let column = column.into();
        self.cells
            .iter()
            .find(|(c, _)| *c == column)
            .map(|&(_, cell)| cell)
    }

    /// Every figure but coalesce's, in either shape.
    fn peers(&self) -> impl Iterator<Item = &(Column, Cell)> {
        self.cells
            .iter()
            .filter(|(c, _)| !matches!(c, Column::Rust(r) if r.is_coalesce()))
    }

    /// How many times better `ours` is than `theirs` in this row's unit: above 1 when better.
    fn advantage(&self, ours: f64, theirs: f64) -> f64 {
        if self.unit.higher_is_better() {
            ours / theirs
        } else {
            theirs / ours
        }
    }

    /// The best figure of anyone but coalesce, and whose it is: the best peer, or the naive
    /// server in a row without peers.
    pub fn best_peer(&self) -> Option<(String, Cell)> {
        let (column, cell) = self.best()?;
        Some((
            column.map_or_else(|| "naive".to_string(), |c| c.to_string()),
            cell,
        ))
    }

    /// [`best_peer`](Self::best_peer), by column: `None` for the naive server.
    fn best(&self) -> Option<(Option<Column>, Cell)> {
        let better = |a: &Cell, b: &Cell| {
            let order = a.value.total_cmp(&b.value);
            if self.unit.higher_is_better() {
                order.reverse()
            } else {
                order
            }
        };
        match self.peers().min_by(|a, b| better(&a.1, &b.1)) {
            Some(&(peer, cell)) => Some((Some(peer), cell)),
            None => match self.baseline {
                Some(Baseline::Naive(cell)) => Some((None, cell)),
                _ => None,
            },
        }
    }

    /// coalesce against the best peer, such as `2.54× faster than dataloader 0.18`. Like is
    /// compared with like: against a peer in another language, whose batch functions answer in
    /// key order, the figure is coalesce's positional column where the row has one (and the
    /// ratio says so); against the Rust peers, which answer the same `HashMap`, the mapped one.
    pub fn ratio(&self) -> Option<String> {
        let (column, theirs) = self.best()?;
        let peer = column.map_or_else(|| "naive".to_string(), |c| c.to_string());
        let positional = match column {
            Some(Column::Foreign(_)) => self.cell(Contender::CoalescePositional),
            _ => None,
        };
        let (ours, shape) = match positional {
            Some(cell) => (cell.value, "positional: "),
            None => (self.cell(Column::COALESCE)?.value, ""),
        };
        let (better, worse) = self.unit.comparatives();
        let ours_better = if self.unit.higher_is_better() {
            ours >= theirs.value
        } else {
            ours <= theirs.value
        };
        let word = if ours_better { better } else { worse };
        let (high, low) = (ours.max(theirs.value), ours.min(theirs.value));
        if low == 0.0 {
            // No multiple of nothing: say both.
            let (ours, theirs) = (self.unit.format(ours), self.unit.format(theirs.value));
            return Some(format!("{shape}{ours} against {theirs} for {peer}"));
        }
        Some(format!("{shape}{:.2}× {word} than {peer}", high / low))
    }

    /// Whether coalesce met the row's target.
    pub fn verdict(&self) -> Option<Verdict> {
        let target = self.target?;
        let ours = self.cell(Column::COALESCE)?;
        let (met, goal, figure) = match target {
            Target::NearFloor { factor, batches } => {
                let floor = self.baseline.as_ref()?.floor(Floor::Woken)?;
                let times = ours.value / floor.value;
                let calls = ours.count.unwrap_or(0.0);
                (
                    times <= factor && calls <= batches,
                    format!("≤ {factor}× floor, {batches} {}", self.counts),
                    format!("{times:.2}× floor, {}", count(calls, self.counts)),
                )
            }
            Target::AtMost(limit) => (
                ours.value <= limit,
                format!("≤ {}", self.unit.format(limit)),
                self.unit.format(ours.value),
            ),
            Target::Beats { peer, factor } => {
                let theirs = self.cell(peer)?.value;
                let times = ours.value / theirs;
                (
                    times >= factor,
                    format!("≥ {factor}× {peer}"),
                    format!("{times:.1}×"),
                )
            }
            Target::AheadOfEveryPeer => {
                let (best, theirs) = self
                    .peers()
                    .min_by(|a, b| {
                        let a = self.advantage(ours.value, a.1.value);
                        a.total_cmp(&self.advantage(ours.value, b.1.value))
                    })
                    .copied()?;
                let times = self.advantage(ours.value, theirs.value);
                let calls = ours.count.unwrap_or(0.0);
                let fewer = self
                    .peers()
                    .filter(|(_, cell)| cell.count.is_some_and(|theirs| theirs < calls))
                    .map(|(peer, _)| peer.to_string())
                    .collect::<Vec<_>>();
                let mut figure = format!("{times:.2}× {best}, the closest");
                if !fewer.is_empty() {
                    write!(figure, "; fewer {}s: {}", self.counts, fewer.join(", "))
                        .expect("writing to a String");
                }
                (
                    times >= 1.0 && fewer.is_empty(),
                    format!("≥ every peer, no more {}s", self.counts),
                    figure,
                )
            }
        };
        let outcome = if met { "met" } else { "**missed**" };
        Some(Verdict {
            met,
            text: format!("{goal}: {outcome} ({figure})"),
        })
    }

    fn render(&self, cell: Cell) -> String {
        let value = self.unit.format(cell.value);
        match (cell.count, cell.spread) {
            (Some(n), Some(Spread { min, median, max })) => format!(
                "{value} ({}; per round: min {min}, median {median}, max {max})",
                count(n, self.counts)
            ),
            (Some(n), None) => format!("{value} ({})", count(n, self.counts)),
            (None, _) => value,
        }
    }
}

/// `n` of `what`, such as `1 batch call` or `38.5 batch calls`.
fn count(n: f64, what: &str) -> String {
    let number = if n.fract() == 0.0 {
        format!("{n:.0}")
    } else {
        format!("{n:.1}")
    };
    let plural = if n == 1.0 { "" } else { "s" };
    format!("{number} {what}{plural}")
}

/// The table's heading and its separator row, two lines: a column per contender in
/// [`Contender::ALL`]'s order, then one per peer in [`Foreign::ALL`]'s, whichever ran.
///
/// ```
/// let header = coalesce_bench::table::header();
/// let mut lines = header.lines();
/// assert!(lines.next().unwrap().starts_with("| # | scenario | unit | floor / naive | coalesce |"));
/// assert!(lines.next().unwrap().starts_with("|---|---|"));
/// ```
pub fn header() -> String {
    let mut out = String::from("| # | scenario | unit | floor / naive |");
    for column in Column::all() {
        write!(out, " {column} |").expect("writing to a String");
    }
    out.push_str(" coalesce vs best peer | target |\n|---|---|---|---|");
    out.push_str(&"---|".repeat(Column::all().count()));
    out.push_str("---|---|\n");
    out
}

/// The rows as one markdown table, under [`header`].
pub fn markdown(rows: &[Row]) -> String {
    let mut out = header();
    for row in rows {
        let baseline = match &row.baseline {
            Some(Baseline::Floor(floors)) => floors
                .iter()
                .map(|&(floor, cell)| format!("{floor} {}", row.render(cell)))
                .collect::<Vec<_>>()
                .join("; "),
            Some(Baseline::Naive(cell)) => format!("naive {}", row.render(*cell)),
            None => String::new(),
        };
        write!(
            out,
            "| {} | {} | {} | {baseline} |",
            row.id,
            row.scenario,
            row.unit.label()
        )
        .expect("writing to a String");
        for column in Column::all() {
            let cell = row.cell(column).map_or("–".into(), |c| row.render(c));
            write!(out, " {cell} |").expect("writing to a String");
        }
        let ratio = row.ratio().unwrap_or_default();
        let verdict = row.verdict().map(|v| v.text).unwrap_or_default();
        writeln!(out, " {ratio} | {verdict} |").expect("writing to a String");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(value: f64, count: f64) -> Cell {
        Cell {
            value,
            count: Some(count),
            spread: None,
        }
    }

    fn row(unit: Unit, coalesce: f64, peer: f64, target: Option<Target>) -> Row {
        Row {
            id: "0",
            scenario: "test".into(),
            unit,
            counts: "batch call",
            baseline: Some(Baseline::Floor(vec![(
                Floor::Woken,
                Cell {
                    value: 100.0,
                    count: None,
                    spread: None,
                },
            )])),
            cells: vec![
                (Column::COALESCE, cell(coalesce, 1.0)),
                (Contender::DATALOADER_DEFAULT.into(), cell(peer, 5.0)),
            ],
            target,
        }
    }

    #[test]
    fn times_compare_lower_is_better() {
        let faster = row(Unit::NsPerLoad, 150.0, 300.0, None);
        assert_eq!(
            faster.ratio().unwrap(),
            "2.00× faster than dataloader 0.18, 10 yields"
        );
        let slower = row(Unit::NsPerLoad, 300.0, 150.0, None);
        assert_eq!(
            slower.ratio().unwrap(),
            "2.00× slower than dataloader 0.18, 10 yields"
        );
    }

    #[test]
    fn throughput_compares_higher_is_better() {
        let row = row(Unit::RequestsPerSecond, 5000.0, 1000.0, None);
        assert_eq!(
            row.ratio().unwrap(),
            "5.00× faster than dataloader 0.18, 10 yields"
        );
    }

    #[test]
    fn the_best_peer_may_be_in_another_language() {
        let mut row = row(Unit::NsPerLoad, 150.0, 300.0, None);
        row.cells
            .push((Foreign::GraphqlDataloader.into(), cell(120.0, 1.0)));
        assert_eq!(
            row.ratio().unwrap(),
            "1.25× slower than graphql/dataloader (Node)"
        );
    }

    #[test]
    fn a_peer_in_another_language_is_compared_with_the_positional_column() {
        let mut row = row(Unit::NsPerLoad, 150.0, 300.0, None);
        row.cells
            .push((Contender::CoalescePositional.into(), cell(100.0, 1.0)));
        row.cells
            .push((Foreign::GraphqlDataloader.into(), cell(120.0, 1.0)));
        assert_eq!(
            row.ratio().unwrap(),
            "positional: 1.20× faster than graphql/dataloader (Node)"
        );
        // Against a Rust peer, answering the same `HashMap`, the mapped column still counts.
        row.cells.pop();
        assert_eq!(
            row.ratio().unwrap(),
            "2.00× faster than dataloader 0.18, 10 yields"
        );
    }

    #[test]
    fn nothing_is_no_multiple_of_something() {
        let row = row(Unit::AllocationsPerLoad, 0.0, 1.0, None);
        assert_eq!(
            row.ratio().unwrap(),
            "0.00 against 1.00 for dataloader 0.18, 10 yields"
        );
    }

    #[test]
    fn targets_say_met_or_missed_with_the_deciding_figure() {
        let near = Target::NearFloor {
            factor: 2.0,
            batches: 1.0,
        };
        let met = row(Unit::NsPerLoad, 150.0, 300.0, Some(near))
            .verdict()
            .unwrap();
        assert!(met.met);
        assert_eq!(
            met.text,
            "≤ 2× floor, 1 batch call: met (1.50× floor, 1 batch call)"
        );
        let missed = row(Unit::NsPerLoad, 41.0, 50.0, Some(Target::AtMost(30.0)))
            .verdict()
            .unwrap();
        assert!(!missed.met);
        assert_eq!(missed.text, "≤ 30.0 ns: **missed** (41.0 ns)");
    }

    #[test]
    fn ahead_of_every_peer_needs_the_best_figure_and_no_more_batch_calls() {
        let ahead = Some(Target::AheadOfEveryPeer);
        let met = row(Unit::RequestsPerSecond, 5000.0, 4000.0, ahead)
            .verdict()
            .unwrap();
        assert_eq!(
            met.text,
            "≥ every peer, no more batch calls: met (1.25× dataloader 0.18, 10 yields, the closest)"
        );

        let mut behind = row(Unit::RequestsPerSecond, 5000.0, 4000.0, ahead);
        behind.cells.push((
            Contender::Dataloader { yield_count: 1 }.into(),
            cell(5500.0, 1.0),
        ));
        let missed = behind.verdict().unwrap();
        assert!(!missed.met);
        assert_eq!(
            missed.text,
            "≥ every peer, no more batch calls: **missed** (0.91× dataloader 0.18, 1 yield, the closest)"
        );

        let mut fewer_calls = row(Unit::RequestsPerSecond, 5000.0, 4000.0, ahead);
        fewer_calls.cells[0].1.count = Some(6.0);
        let missed = fewer_calls.verdict().unwrap();
        assert!(!missed.met);
        assert!(
            missed
                .text
                .ends_with("; fewer batch calls: dataloader 0.18, 10 yields)"),
            "{}",
            missed.text
        );
    }

    #[test]
    fn a_row_shows_every_floor_and_the_spread_of_its_batch_calls() {
        let mut row = row(Unit::NsPerLoad, 150.0, 300.0, None);
        let floor = |value| Cell {
            value,
            count: None,
            spread: None,
        };
        row.baseline = Some(Baseline::Floor(vec![
            (Floor::Woken, floor(120.0)),
            (Floor::Ready, floor(57.0)),
            (Floor::Foreign(Language::Node), floor(110.0)),
        ]));
        row.cells[0].1 = Cell {
            value: 150.0,
            count: Some(1.5),
            spread: Some(Spread {
                min: 1,
                median: 1,
                max: 4,
            }),
        };
        let table = markdown(&[row]);
        let line = table.lines().nth(2).unwrap();
        assert!(
            line.starts_with(
                "| 0 | test | time / load | floor 120 ns; ready at once 57.0 ns; Node 110 ns | \
                 150 ns (1.5 batch calls; per round: min 1, median 1, max 4) | – | – | – | \
                 300 ns (5 batch calls) | – | – | – | – |"
            ),
            "{line}"
        );
        assert_eq!(
            line.matches('|').count(),
            table.lines().next().unwrap().matches('|').count()
        );
    }

    #[test]
    fn times_are_scaled_to_three_significant_digits() {
        assert_eq!(Unit::NsPerLoad.format(41.23), "41.2 ns");
        assert_eq!(Unit::NsPerLoad.format(2_280.0), "2.28 µs");
        assert_eq!(Unit::NsPerRequest.format(3_204_000.0), "3.20 ms");
        assert_eq!(Unit::RequestsPerSecond.format(15_296.4), "15296/s");
    }
}
