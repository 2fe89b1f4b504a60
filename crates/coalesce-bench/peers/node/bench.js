'use strict';
// coalesce-bench's peer on Node: graphql/dataloader, the JavaScript reference, and the floor any
// JavaScript loader pays, on the bench's micro scenarios.
//
// The bench (src/peers.rs) starts this script and talks to it in JSON lines. First this prints
//   {"ready": {"runtime": "Node v20.20.2", "versions": {"graphql-dataloader": "2.2.3"}}}
// or, when its pinned package cannot be installed, {"skipped": "why"}. Then, for each request
//   {"peer": "graphql-dataloader" | "floor", "rounds": 200, "scenario": {"name": "frame", "keys": 1000}}
// it runs the rounds and answers
//   {"elapsed_ns": 123456, "rounds": 200, "ops_per_round": 1000, "batches": 200, "round_batches": [...]}
// (`round_batches`, the batch calls of each round, only when the scenario asks for its spread),
// or {"error": "why"} when a load answered a wrong value: a fast wrong answer is not a figure.
// By hand: echo '{"peer":"floor","rounds":100,"scenario":{"name":"frame","keys":1000}}' | node bench.js
//
// Every scenario mirrors its Rust twin in src/scenario/: a fresh loader per round, the same keys,
// every value checked, and only the part the Rust scenario times is timed.

const fs = require('fs');
const path = require('path');
const readline = require('readline');
const { spawnSync } = require('child_process');

const here = __dirname;
const pinned = require(path.join(here, 'package.json')).dependencies.dataloader;

// The installed dataloader's version, if there is one.
function installedVersion() {
  try {
    const manifest = path.join(here, 'node_modules', 'dataloader', 'package.json');
    return JSON.parse(fs.readFileSync(manifest, 'utf8')).version;
  } catch {
    return null;
  }
}

// Installs the pinned package into ./node_modules unless it is there already, so that a machine
// without network runs the peer once it has been installed; null, or why it could not.
function ensureInstalled() {
  if (installedVersion() === pinned) return null;
  // npm's output goes to stderr: stdout is the bench's channel.
  const npm = spawnSync(
    'npm',
    ['install', '--prefix', here, '--no-package-lock', '--no-audit', '--no-fund', '--ignore-scripts'],
    { stdio: ['ignore', process.stderr, process.stderr] },
  );
  const found = installedVersion();
  if (found === pinned) return null;
  const how = npm.error ? npm.error.message : `npm exited with status ${npm.status}`;
  return `could not install dataloader ${pinned} into ${path.join(here, 'node_modules')} (${how}; found ${found ?? 'none'})`;
}

// The value every key loads to, as the Rust dataset `Echo` has it.
const value = (key) => key + 1;

// The batch function every scenario gives its loader: it counts its calls and reads the rows for
// the keys as a map, the shape the Rust libraries are given; graphql/dataloader wants the values
// in the keys' order, so it lines them up, as its users do with a data source answering a map.
function echoBatch(counter) {
  return async (keys) => {
    counter.calls += 1;
    const rows = new Map(keys.map((key) => [key, value(key)]));
    return keys.map((key) => rows.get(key));
  };
}

// `first, first + 1, ...`, `count` of them.
const range = (first, count) => Array.from({ length: count }, (_, i) => first + i);

// How many of `values`, the answers for consecutive keys from `first`, are right.
const countCorrect = (first, values) => values.filter((v, i) => v === value(first + i)).length;

function expect(correct, wanted, what) {
  if (correct !== wanted) throw new Error(`${what}: ${correct} of ${wanted} loads answered right`);
}

// The scenarios, each a function of its parameters and a loader factory returning an async round.
// Rounds are timed together, not one by one: a clock read here costs about 80 ns, much more than
// Rust's, and three dependent loads take a couple of microseconds. A round that has set-up the
// Rust twin leaves untimed returns how long that took, to be taken off; the others return 0n.
const scenarios = {
  // Scenarios 1a and 2: distinct keys in one frame, each loaded by its own call.
  frame: ({ keys }, make) => {
    const all = range(0, keys);
    return async () => {
      const loader = make();
      const values = await Promise.all(all.map((key) => loader.load(key)));
      expect(countCorrect(0, values), keys, 'frame');
      return 0n;
    };
  },
  // Scenario 1b: the same keys in one loadMany.
  load_many: ({ keys }, make) => {
    const all = range(0, keys);
    return async () => {
      const loader = make();
      const values = await loader.loadMany(all);
      expect(countCorrect(0, values), keys, 'load_many');
      return 0n;
    };
  },
  // Scenario 3: a loaded key loaded again `hits` times, one after the other; the first load untimed.
  cache_hit: ({ hits }, make) => async () => {
    const key = 7;
    const start = process.hrtime.bigint();
    const loader = make();
    expect(countCorrect(key, [await loader.load(key)]), 1, 'cache_hit');
    const untimed = process.hrtime.bigint() - start;
    let correct = 0;
    for (let i = 0; i < hits; i++) {
      if ((await loader.load(key)) === value(key)) correct += 1;
    }
    expect(correct, hits, 'cache_hit');
    return untimed;
  },
  // Scenario 4: `levels` dependent loads, each of the key the one before loaded.
  chain: ({ levels }, make) => async () => {
    const loader = make();
    let key = 0;
    for (let i = 0; i < levels; i++) key = await loader.load(key);
    expect(key, levels, 'chain');
    return 0n;
  },
  // Scenario 5: `tasks` concurrent resolvers sharing one loader, each loading `keys` keys from
  // `task * stride`; on Node's one thread, where the Rust twin spawns tasks on two workers.
  tasks: ({ tasks, keys, stride }, make) => async () => {
    const loader = make();
    const counts = await Promise.all(
      range(0, tasks).map(async (task) => {
        const first = task * stride;
        return countCorrect(first, await Promise.all(range(first, keys).map((key) => loader.load(key))));
      }),
    );
    expect(
      counts.reduce((a, b) => a + b, 0),
      tasks * keys,
      'tasks',
    );
    return 0n;
  },
};

// Loads per round of a scenario.
const opsPerRound = (scenario) =>
  ({
    frame: scenario.keys,
    load_many: scenario.keys,
    cache_hit: scenario.hits,
    chain: 1,
    tasks: scenario.tasks * scenario.keys,
  })[scenario.name];

// The floor of `frame`: async functions that each await once and return the value a load would,
// through the same Promise.all, with no loader. No JavaScript loader could beat it.
function floorRound({ name, keys }) {
  if (name !== 'frame') throw new Error(`the floor has no scenario ${name}`);
  const all = range(0, keys);
  const once = async (key) => {
    await null;
    return value(key);
  };
  return async () => {
    const values = await Promise.all(all.map(once));
    expect(countCorrect(0, values), keys, 'floor');
    return 0n;
  };
}

// How long each peer and scenario runs untimed before its first figure: V8 compiles the hot paths
// with its optimizing tier only after some thousands of calls (three dependent loads measure 2.5x
// slower for the first 0.2 s), and a server that has been up for a minute runs optimized code.
const WARM_UP_NS = 500_000_000n;
const warmedUp = new Set();

async function measure(DataLoader, request) {
  const { peer, rounds, scenario } = request;
  const counter = { calls: 0 };
  let round;
  if (peer === 'floor') {
    round = floorRound(scenario);
  } else if (peer === 'graphql-dataloader') {
    const body = scenarios[scenario.name];
    if (!body) throw new Error(`no scenario ${scenario.name}`);
    const batch = echoBatch(counter);
    round = body(scenario, () => new DataLoader(batch));
  } else {
    throw new Error(`no peer ${peer} on Node`);
  }
  const what = JSON.stringify([peer, scenario]);
  if (!warmedUp.has(what)) {
    const until = process.hrtime.bigint() + WARM_UP_NS;
    while (process.hrtime.bigint() < until) await round();
    warmedUp.add(what);
    counter.calls = 0;
  }
  const roundBatches = [];
  let untimed = 0n;
  const start = process.hrtime.bigint();
  if (scenario.spread) {
    // Reading the count between rounds costs next to nothing; no clock is read.
    for (let i = 0; i < rounds; i++) {
      const before = counter.calls;
      untimed += await round();
      roundBatches.push(counter.calls - before);
    }
  } else {
    for (let i = 0; i < rounds; i++) untimed += await round();
  }
  const elapsed = process.hrtime.bigint() - start - untimed;
  const answer = { elapsed_ns: Number(elapsed), rounds, ops_per_round: opsPerRound(scenario), batches: counter.calls };
  if (scenario.spread) answer.round_batches = roundBatches;
  return answer;
}

async function main() {
  const why = ensureInstalled();
  if (why) {
    console.log(JSON.stringify({ skipped: why }));
    return;
  }
  const DataLoader = require(path.join(here, 'node_modules', 'dataloader'));
  console.log(
    JSON.stringify({ ready: { runtime: `Node ${process.version}`, versions: { 'graphql-dataloader': pinned } } }),
  );
  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (!line.trim()) continue;
    let answer;
    try {
      answer = await measure(DataLoader, JSON.parse(line));
    } catch (e) {
      answer = { error: String(e && e.message ? e.message : e) };
    }
    console.log(JSON.stringify(answer));
  }
}

main();
