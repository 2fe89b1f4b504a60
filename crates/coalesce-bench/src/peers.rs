//! The peers in other languages: graphql/dataloader on Node, aiodataloader and Strawberry's
//! DataLoader on Python, on the same micro scenarios, in the same run, as columns of the same
//! table; and each language's own floor beside the Rust ones.
//!
//! Each language has a script under `peers/` (`node/bench.js`, `python/bench.py`) that installs
//! its pinned packages on first use into a git-ignored folder beside it (`npm install --prefix`,
//! `pip install --target`), and then runs offline. The bench starts it when its interpreter
//! (`node`, `python3`) is on `PATH`, and asks it for one sample at a time, in JSON lines, taking
//! turns with the Rust contenders as they take turns with each other: a slow patch of the
//! machine falls on every column. A language whose interpreter is missing, or whose packages
//! cannot be installed, leaves its columns empty, with a note saying why ([`Peers::notes`]).
//!
//! The scripts time what the Rust scenarios time, with a fresh loader per round, the same keys
//! and the same batch function answering a map (lined up with the keys where the library wants
//! a list, as its users would), and check every value; a wrong value stops the run.
//!
//! ```no_run
//! use coalesce_bench::peers::{Foreign, Peers};
//! use serde_json::json;
//!
//! let peers = Peers::start();
//! for note in peers.notes() {
//!     println!("{note}");
//! }
//! if peers.runs(Foreign::GraphqlDataloader) {
//!     let frame = json!({ "name": "frame", "keys": 1000 });
//!     let run = peers.run(Foreign::GraphqlDataloader.into(), &frame, 200);
//!     println!("{:.0} ns per load", run.ns_per_op());
//! }
//! ```

use std::cell::RefCell;
use std::fmt;
use std::io::{self, BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::scenario::Run;

/// A language the peers are written in, and the interpreter that runs its script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Language {
    /// JavaScript on Node.
    Node,
    /// CPython, with asyncio's own event loop.
    Python,
}

impl Language {
    /// Both, in the table's order.
    pub const ALL: [Language; 2] = [Language::Node, Language::Python];

    /// The interpreter looked for on `PATH`.
    pub fn program(self) -> &'static str {
        match self {
            Language::Node => "node",
            Language::Python => "python3",
        }
    }

    /// The script that runs this language's peers.
    pub fn script(self) -> &'static str {
        match self {
            Language::Node => concat!(env!("CARGO_MANIFEST_DIR"), "/peers/node/bench.js"),
            Language::Python => concat!(env!("CARGO_MANIFEST_DIR"), "/peers/python/bench.py"),
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Language::Node => "Node",
            Language::Python => "Python",
        })
    }
}

/// A DataLoader in another language: a column of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Foreign {
    /// graphql/dataloader (npm `dataloader`), the reference implementation.
    GraphqlDataloader,
    /// aiodataloader, its port to asyncio.
    Aiodataloader,
    /// Strawberry's `strawberry.dataloader.DataLoader`.
    Strawberry,
}

impl Foreign {
    /// Every one, in the table's order.
    pub const ALL: [Foreign; 3] = [
        Foreign::GraphqlDataloader,
        Foreign::Aiodataloader,
        Foreign::Strawberry,
    ];

    /// The language its script is in.
    pub fn language(self) -> Language {
        match self {
            Foreign::GraphqlDataloader => Language::Node,
            Foreign::Aiodataloader | Foreign::Strawberry => Language::Python,
        }
    }

    /// Its name in the scripts' requests and their `versions`.
    fn id(self) -> &'static str {
        match self {
            Foreign::GraphqlDataloader => "graphql-dataloader",
            Foreign::Aiodataloader => "aiodataloader",
            Foreign::Strawberry => "strawberry",
        }
    }

    /// Its package's name, for the notes that give the version that ran.
    fn package(self) -> &'static str {
        match self {
            Foreign::GraphqlDataloader => "graphql/dataloader",
            Foreign::Aiodataloader => "aiodataloader",
            Foreign::Strawberry => "strawberry-graphql",
        }
    }
}

/// Its column heading. Without a version: the pinned version is the script's to say, in the
/// notes, so that the heading stays what README's table checks it against.
impl fmt::Display for Foreign {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Foreign::GraphqlDataloader => "graphql/dataloader",
            Foreign::Aiodataloader => "aiodataloader",
            Foreign::Strawberry => "Strawberry",
        };
        write!(f, "{name} ({})", self.language())
    }
}

/// What a script runs: one of its loaders, or its language's floor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject {
    /// A loader.
    Peer(Foreign),
    /// The language's bare harness for a frame: JavaScript's `Promise.all` of async functions
    /// that await once, Python's `asyncio.gather` of trivial coroutines.
    Floor(Language),
}

impl Subject {
    fn language(self) -> Language {
        match self {
            Subject::Peer(peer) => peer.language(),
            Subject::Floor(language) => language,
        }
    }

    fn id(self) -> &'static str {
        match self {
            Subject::Peer(peer) => peer.id(),
            Subject::Floor(_) => "floor",
        }
    }
}

impl From<Foreign> for Subject {
    fn from(peer: Foreign) -> Subject {
        Subject::Peer(peer)
    }
}

/// One language's script, running, waiting for requests.
struct Script {
    language: Language,
    child: Child,
    requests: ChildStdin,
    answers: BufReader<ChildStdout>,
}

impl Script {
    /// Starts `language`'s script and reads its first line: the script, and what it said it
    /// runs; or why it does not run, for the notes.
    fn start(language: Language) -> Result<(Script, String), String> {
        let mut child = Command::new(language.program())
            .arg(language.script())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            // The installers' messages, and any trace, reach the terminal.
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => format!("`{}` is not on PATH", language.program()),
                _ => format!("`{}` did not start: {e}", language.program()),
            })?;
        let requests = child.stdin.take().expect("a piped stdin");
        let answers = BufReader::new(child.stdout.take().expect("a piped stdout"));
        let mut script = Script {
            language,
            child,
            requests,
            answers,
        };
        let hello = script
            .read()
            .map_err(|e| format!("{} gave no answer ({e})", language.script()))?;
        if let Some(why) = hello["skipped"].as_str() {
            return Err(why.to_string());
        }
        let ready = &hello["ready"];
        let runtime = ready["runtime"].as_str().unwrap_or("?");
        let versions: Vec<String> = Foreign::ALL
            .into_iter()
            .filter(|peer| peer.language() == language)
            .map(|peer| {
                let version = ready["versions"][peer.id()].as_str().unwrap_or("?");
                format!("{} {version}", peer.package())
            })
            .collect();
        Ok((script, format!("{} on {runtime}", versions.join(" and "))))
    }

    /// The next line the script wrote, as JSON.
    fn read(&mut self) -> Result<Value, String> {
        let mut line = String::new();
        match self.answers.read_line(&mut line) {
            Ok(0) => Err("it exited".into()),
            Ok(_) => serde_json::from_str(&line).map_err(|e| format!("not JSON ({e}): {line}")),
            Err(e) => Err(e.to_string()),
        }
    }

    /// `rounds` rounds of `scenario` with `subject`, or why the script could not run them.
    fn run(&mut self, subject: Subject, scenario: &Value, rounds: u64) -> Result<Run, String> {
        let request = json!({ "peer": subject.id(), "rounds": rounds, "scenario": scenario });
        writeln!(self.requests, "{request}")
            .and_then(|()| self.requests.flush())
            .map_err(|e| format!("the script stopped reading ({e})"))?;
        let answer = self.read()?;
        if let Some(why) = answer["error"].as_str() {
            return Err(why.to_string());
        }
        let number = |field: &str| {
            answer[field]
                .as_u64()
                .ok_or_else(|| format!("no `{field}` in {answer}"))
        };
        let round_batches = match answer.get("round_batches") {
            None => Vec::new(),
            Some(counts) => counts
                .as_array()
                .and_then(|counts| counts.iter().map(Value::as_u64).collect())
                .ok_or_else(|| format!("`round_batches` is not a list of counts in {answer}"))?,
        };
        Ok(Run {
            elapsed: Duration::from_nanos(number("elapsed_ns")?),
            allocations: 0,
            rounds: number("rounds")?,
            ops_per_round: number("ops_per_round")?,
            batches: number("batches")?,
            round_batches,
        })
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        // A script holds nothing worth finishing, and one may be mid-sample when a run panics:
        // stopped, not waited for until it reads the end of its input.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The peers' scripts that started, and notes on what each language ran or why it did not.
pub struct Peers {
    scripts: Vec<RefCell<Script>>,
    notes: Vec<String>,
}

impl Peers {
    /// No peers in other languages: their columns stay empty.
    pub fn none() -> Peers {
        Peers {
            scripts: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Starts every language's script whose interpreter is on `PATH`, installing its pinned
    /// packages first if they are not installed yet.
    pub fn start() -> Peers {
        let mut peers = Peers::none();
        for language in Language::ALL {
            match Script::start(language) {
                Ok((script, ran)) => {
                    peers.scripts.push(RefCell::new(script));
                    peers.notes.push(ran);
                }
                Err(why) => peers.notes.push(format!(
                    "{language} peers skipped, their columns empty: {why}"
                )),
            }
        }
        peers
    }

    /// What ran, with its versions and runtime, and what was skipped and why: one line per
    /// language that was tried.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Whether `peer`'s script is running.
    pub fn runs(&self, peer: Foreign) -> bool {
        self.script(peer.language()).is_some()
    }

    /// Whether `language`'s script is running, and with it its floor.
    pub fn speaks(&self, language: Language) -> bool {
        self.script(language).is_some()
    }

    fn script(&self, language: Language) -> Option<&RefCell<Script>> {
        self.scripts
            .iter()
            .find(|script| script.borrow().language == language)
    }

    /// `rounds` rounds of `scenario` (a [`Scenario::portable`](crate::scenario::Scenario::portable)
    /// description) with `subject`, as a [`Run`] without allocation counts.
    ///
    /// Panics if the subject's script is not running, or answered wrong values, or no answer:
    /// a figure from it would not be the scenario's.
    pub fn run(&self, subject: Subject, scenario: &Value, rounds: u64) -> Run {
        let language = subject.language();
        let script = self
            .script(language)
            .unwrap_or_else(|| panic!("the {language} peers are not running"));
        let run = script.borrow_mut().run(subject, scenario, rounds);
        run.unwrap_or_else(|why| panic!("{subject:?} on {scenario}: {why}"))
    }
}
