//! The instruction rows, end to end: the comparison binary's counting mode, run under callgrind.

use std::path::Path;

use coalesce_bench::Contender;
use coalesce_bench::instructions::{self, Counted};

const EXE: &str = env!("CARGO_BIN_EXE_coalesce-bench");

#[test]
fn counting_mode_runs_the_operations_and_exits_cleanly() {
    for counted in Counted::ALL {
        let status = std::process::Command::new(EXE)
            .args(["--count", counted.id(), "--contender", "0", "--ops", "5"])
            .status()
            .unwrap();
        assert!(status.success(), "{counted:?}");
    }
}

#[test]
#[ignore = "needs valgrind (.ci/run runs it)"]
fn callgrind_counts_a_plausible_and_repeatable_cost_per_operation() {
    assert!(instructions::available(), "valgrind is not installed");
    let exe = Path::new(EXE);
    let hit = instructions::per_op(exe, Counted::CacheHit, Contender::Coalesce).unwrap();
    // A lock, a hash, a probe and the harness's loop: a few hundred instructions in a release
    // build, some thousands in the debug build that tests run.
    assert!(
        (50.0..20_000.0).contains(&hit),
        "{hit} instructions per hit"
    );
    let again = instructions::per_op(exe, Counted::CacheHit, Contender::Coalesce).unwrap();
    assert!((hit - again).abs() <= hit * 0.01, "{hit} then {again}");
    let chain = instructions::per_op(exe, Counted::Chain, Contender::Coalesce).unwrap();
    assert!(
        (2_000.0..1_000_000.0).contains(&chain),
        "{chain} per request"
    );
}
