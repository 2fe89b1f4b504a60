//! The peers in other languages, through their scripts: each runs every micro scenario the Rust
//! side describes, with the batch calls its design implies, and refuses what it cannot run.

use std::panic::{AssertUnwindSafe, catch_unwind};

use coalesce_bench::peers::{Foreign, Language, Peers, Subject};
use coalesce_bench::scenario::{CacheHit, Chain, JoinAll, LoadMany, Scenario, Tasks};

#[test]
#[ignore = "needs node and python3 on PATH, and their pinned packages (the scripts install them \
            from the npm and PyPI registries on first use)"]
fn every_peer_runs_the_micro_scenarios_with_one_batch_per_frame_and_per_level() {
    let peers = Peers::start();
    for peer in Foreign::ALL {
        assert!(
            peers.runs(peer),
            "{peer} did not start: {:?}",
            peers.notes()
        );
    }
    let tasks = Tasks {
        tasks: 64,
        keys: 100,
        stride: 10,
    };
    // (scenario, loads per round, batch calls per round): the rows of the micro scenarios.
    let scenarios = [
        (JoinAll { keys: 1000 }.portable(), 1000, 1),
        (LoadMany { keys: 1000 }.portable(), 1000, 1),
        (JoinAll { keys: 100 }.portable(), 100, 1),
        (CacheHit { hits: 1000 }.portable(), 1000, 1),
        (Chain { levels: 3 }.portable(), 1, 3),
        (tasks.portable(), 6400, 1),
    ];
    for peer in Foreign::ALL {
        for (scenario, ops, batches) in &scenarios {
            let scenario = scenario.as_ref().expect("a micro scenario is portable");
            let run = peers.run(peer.into(), scenario, 3);
            assert_eq!(
                (run.rounds, run.ops_per_round, run.batches),
                (3, *ops, 3 * batches),
                "{peer} on {scenario}"
            );
            assert!(run.elapsed.as_nanos() > 0, "{peer} on {scenario}");
        }
        // One thread, one frame: every task's keys in the round's one batch.
        let run = peers.run(peer.into(), &tasks.portable().unwrap(), 3);
        assert_eq!(run.round_batches, [1, 1, 1], "{peer}");
    }
    for language in Language::ALL {
        let frame = JoinAll { keys: 100 }.portable().unwrap();
        let run = peers.run(Subject::Floor(language), &frame, 2);
        assert_eq!((run.rounds, run.ops_per_round, run.batches), (2, 100, 0));

        let chain = Chain { levels: 3 }.portable().unwrap();
        let refused = catch_unwind(AssertUnwindSafe(|| {
            peers.run(Subject::Floor(language), &chain, 1)
        }));
        let panic = refused.expect_err("the floor is only a frame's");
        let message = panic.downcast_ref::<String>().expect("a formatted message");
        assert!(
            message.contains("the floor has no scenario chain"),
            "{message}"
        );
    }
}
