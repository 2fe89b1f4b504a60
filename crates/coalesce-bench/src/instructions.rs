//! Instructions per operation, counted by callgrind: rows 9a and 9b.
//!
//! Time per cache hit is tens of nanoseconds, and on a shared two-core machine a figure that
//! small moves with whatever else runs. The number of instructions does not: callgrind counts
//! them exactly, the same for the same binary and inputs whatever the machine is doing, so these
//! rows can be compared across runs and machines of one architecture, where the time rows can
//! only be compared within a run.
//!
//! Each figure is the difference between two runs of the comparison binary under callgrind (its
//! hidden `--count` mode runs one contender's operations and nothing else), one with
//! three times the operations of the other, divided by the difference in operations: the
//! runtime's start and every other fixed cost of a run cancel out, and what is left is the cost
//! of one more operation (for 9b, a request with its fresh loader), the scenario's own loop
//! included (the same for every library). The runs use a current-thread runtime: an idle second
//! worker looking for work would add instructions that vary from run to run. A run under
//! callgrind is some fifty times slower, so the counts are kept small.
//!
//! The rows are left out when `valgrind` is not installed.

use std::path::Path;
use std::process::Command;

use crate::library::Contender;
use crate::scenario::{self, CacheHit, Chain};

/// What one counting run does: `ops` operations of one kind, by one contender.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counted {
    /// Cache hits on a loaded key, in one round of scenario 3.
    CacheHit,
    /// Requests of three dependent loads, as in scenario 4: a round each.
    Chain,
}

impl Counted {
    /// Both, in the table's order.
    pub const ALL: [Counted; 2] = [Counted::CacheHit, Counted::Chain];

    /// The name on the command line of a counting run.
    pub fn id(self) -> &'static str {
        match self {
            Counted::CacheHit => "cache-hit",
            Counted::Chain => "chain",
        }
    }

    /// The kind named `id`.
    pub fn from_id(id: &str) -> Option<Counted> {
        Counted::ALL.into_iter().find(|c| c.id() == id)
    }

    /// Operations in the smaller of the two runs: enough that one operation's share of the
    /// difference is not rounding, few enough for callgrind.
    fn ops(self) -> u64 {
        match self {
            Counted::CacheHit => 2_000,
            Counted::Chain => 200,
        }
    }

    /// Runs `ops` operations with `contender`: what the counting process does.
    pub fn run(self, contender: Contender, ops: u64) {
        let rt = scenario::current_thread_runtime();
        let run = match self {
            Counted::CacheHit => contender.run(&CacheHit { hits: ops }, &rt, 1),
            Counted::Chain => contender.run(&Chain { levels: 3 }, &rt, ops),
        };
        assert_eq!(
            run.rounds * run.ops_per_round,
            ops,
            "{self:?} ran {ops} operations"
        );
    }
}

/// Whether callgrind can be run here.
pub fn available() -> bool {
    Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success())
}

/// Instructions per operation of `counted` with `contender`, from two runs under callgrind of
/// `exe`, the comparison binary; `None` if either run failed.
pub fn per_op(exe: &Path, counted: Counted, contender: Contender) -> Option<f64> {
    let ops = counted.ops();
    let few = instructions(exe, counted, contender, ops)?;
    let more = instructions(exe, counted, contender, 3 * ops)?;
    Some(more.checked_sub(few)? as f64 / (2 * ops) as f64)
}

/// The instructions a run of `ops` operations executed in all, as callgrind reports them.
fn instructions(exe: &Path, counted: Counted, contender: Contender, ops: u64) -> Option<u64> {
    let index = Contender::ALL.iter().position(|&c| c == contender)?;
    let out = Command::new("valgrind")
        .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
        .arg(exe)
        .args(["--count", counted.id()])
        .args(["--contender", &index.to_string()])
        .args(["--ops", &ops.to_string()])
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!(
            "coalesce-bench: counting {counted:?} for {contender} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    refs(&String::from_utf8_lossy(&out.stderr))
}

/// The total from callgrind's summary line, `==123== I   refs:      45,579,910`.
fn refs(report: &str) -> Option<u64> {
    let line = report.lines().find(|line| line.contains("I   refs:"))?;
    let total = line.rsplit(':').next()?.trim().replace(',', "");
    total.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callgrind_summary_total_is_read_without_separators() {
        let report = "==15095== Events    : Ir\n==15095== Collected : 353233251\n==15095== \n\
                      ==15095== I   refs:      353,233,251\n";
        assert_eq!(refs(report), Some(353_233_251));
        assert_eq!(refs("==1== no summary"), None);
    }

    #[test]
    fn counted_kinds_round_trip_through_their_ids() {
        for counted in Counted::ALL {
            assert_eq!(Counted::from_id(counted.id()), Some(counted));
        }
        assert_eq!(Counted::from_id("frame"), None);
    }
}
