//! The comparison table: one row per scenario, one column per contender, its figures, its
//! batch calls, coalesce's ratio to the best peer and whether the target is met, as markdown.

use std::fmt::Write;

use crate::library::Contender;

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
        }
    }

    /// How "better" and "worse" read in the ratio column.
    fn comparatives(self) -> (&'static str, &'static str) {
        match self {
            Unit::AllocationsPerLoad | Unit::AllocationsPerRequest => {
                ("fewer allocations", "more allocations")
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

/// One figure: the value in the row's unit, and what the row counts per round, if anything.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cell {
    /// In the row's [`Unit`].
    pub value: f64,
    /// Batch calls (or SQL statements, see [`Row::counts`]) per round.
    pub count: Option<f64>,
}

/// What a row's coalesce figure is set against besides the peers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Baseline {
    /// The bare harness: the same futures without a loader, the least any loader can cost.
    Floor(Cell),
    /// The same server answering without loaders, one statement per field: the N+1 problem.
    Naive(Cell),
}

/// A goal for coalesce's figure in a row.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Target {
    /// Within `factor` times the floor, in at most `batches` batch calls per round.
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
        peer: Contender,
        /// The least multiple of its throughput.
        factor: f64,
    },
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
    /// The floor or the naive server, where the row has one.
    pub baseline: Option<Baseline>,
    /// The figure of each contender that ran the scenario.
    pub cells: Vec<(Contender, Cell)>,
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
    /// `contender`'s figure, if it ran this scenario.
    pub fn cell(&self, contender: Contender) -> Option<Cell> {
        self.cells
            .iter()
            .find(|(c, _)| *c == contender)
            .map(|&(_, cell)| cell)
    }

    /// The best figure of anyone but coalesce, and whose it is: the best peer, or the naive
    /// server in a row without peers.
    pub fn best_peer(&self) -> Option<(String, Cell)> {
        let better = |a: &Cell, b: &Cell| {
            let order = a.value.total_cmp(&b.value);
            if self.unit.higher_is_better() {
                order.reverse()
            } else {
                order
            }
        };
        let peers = self.cells.iter().filter(|(c, _)| *c != Contender::Coalesce);
        match peers.min_by(|a, b| better(&a.1, &b.1)) {
            Some((peer, cell)) => Some((peer.to_string(), *cell)),
            None => match self.baseline {
                Some(Baseline::Naive(cell)) => Some(("naive".to_string(), cell)),
                _ => None,
            },
        }
    }

    /// coalesce against the best peer, such as `2.54× faster than dataloader 0.18`.
    pub fn ratio(&self) -> Option<String> {
        let ours = self.cell(Contender::Coalesce)?.value;
        let (peer, theirs) = self.best_peer()?;
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
            return Some(format!("{ours} against {theirs} for {peer}"));
        }
        Some(format!("{:.2}× {word} than {peer}", high / low))
    }

    /// Whether coalesce met the row's target.
    pub fn verdict(&self) -> Option<Verdict> {
        let target = self.target?;
        let ours = self.cell(Contender::Coalesce)?;
        let (met, goal, figure) = match target {
            Target::NearFloor { factor, batches } => {
                let Some(Baseline::Floor(floor)) = self.baseline else {
                    return None;
                };
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
        };
        let outcome = if met { "met" } else { "**missed**" };
        Some(Verdict {
            met,
            text: format!("{goal}: {outcome} ({figure})"),
        })
    }

    fn render(&self, cell: Cell) -> String {
        let value = self.unit.format(cell.value);
        match cell.count {
            Some(n) => format!("{value} ({})", count(n, self.counts)),
            None => value,
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

/// The rows as one markdown table, with a column per contender in [`Contender::ALL`]'s order.
pub fn markdown(rows: &[Row]) -> String {
    let mut out = String::from("| # | scenario | unit | floor / naive |");
    for contender in Contender::ALL {
        write!(out, " {contender} |").expect("writing to a String");
    }
    out.push_str(" coalesce vs best peer | target |\n|---|---|---|---|");
    out.push_str(&"---|".repeat(Contender::ALL.len()));
    out.push_str("---|---|\n");
    for row in rows {
        let baseline = match row.baseline {
            Some(Baseline::Floor(cell)) => format!("floor {}", row.render(cell)),
            Some(Baseline::Naive(cell)) => format!("naive {}", row.render(cell)),
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
        for contender in Contender::ALL {
            let cell = row.cell(contender).map_or("–".into(), |c| row.render(c));
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

    fn row(unit: Unit, coalesce: f64, peer: f64, target: Option<Target>) -> Row {
        Row {
            id: "0",
            scenario: "test".into(),
            unit,
            counts: "batch call",
            baseline: Some(Baseline::Floor(Cell {
                value: 100.0,
                count: None,
            })),
            cells: vec![
                (
                    Contender::Coalesce,
                    Cell {
                        value: coalesce,
                        count: Some(1.0),
                    },
                ),
                (
                    Contender::Dataloader,
                    Cell {
                        value: peer,
                        count: Some(5.0),
                    },
                ),
            ],
            target,
        }
    }

    #[test]
    fn times_compare_lower_is_better() {
        let faster = row(Unit::NsPerLoad, 150.0, 300.0, None);
        assert_eq!(faster.ratio().unwrap(), "2.00× faster than dataloader 0.18");
        let slower = row(Unit::NsPerLoad, 300.0, 150.0, None);
        assert_eq!(slower.ratio().unwrap(), "2.00× slower than dataloader 0.18");
    }

    #[test]
    fn throughput_compares_higher_is_better() {
        let row = row(Unit::RequestsPerSecond, 5000.0, 1000.0, None);
        assert_eq!(row.ratio().unwrap(), "5.00× faster than dataloader 0.18");
    }

    #[test]
    fn nothing_is_no_multiple_of_something() {
        let row = row(Unit::AllocationsPerLoad, 0.0, 1.0, None);
        assert_eq!(
            row.ratio().unwrap(),
            "0.00 against 1.00 for dataloader 0.18"
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
    fn times_are_scaled_to_three_significant_digits() {
        assert_eq!(Unit::NsPerLoad.format(41.23), "41.2 ns");
        assert_eq!(Unit::NsPerLoad.format(2_280.0), "2.28 µs");
        assert_eq!(Unit::NsPerRequest.format(3_204_000.0), "3.20 ms");
        assert_eq!(Unit::RequestsPerSecond.format(15_296.4), "15296/s");
    }
}
