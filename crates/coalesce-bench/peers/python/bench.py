"""coalesce-bench's peers on Python: aiodataloader and Strawberry's DataLoader, and the floor any
asyncio loader pays, on the bench's micro scenarios.

The bench (src/peers.rs) starts this script and talks to it in JSON lines, as with the Node peer
(peers/node/bench.js): first {"ready": {"runtime": ..., "versions": {...}}} or {"skipped": "why"},
then one answer per request

    {"peer": "aiodataloader" | "strawberry" | "floor", "rounds": 200,
     "scenario": {"name": "frame", "keys": 1000}}
    -> {"elapsed_ns": ..., "rounds": 200, "ops_per_round": 1000, "batches": 200}

(with "round_batches" when the scenario asks for its spread), or {"error": "why"} when a load
answered a wrong value. By hand:

    echo '{"peer":"floor","rounds":20,"scenario":{"name":"frame","keys":1000}}' | python3 bench.py

The pinned packages (requirements.txt) are installed into ./packages on first use with pip, and
only then: once they are there the script runs offline. Every scenario mirrors its Rust twin in
src/scenario/: a fresh loader per round, the same keys, every value checked, the same part timed.
"""

import asyncio
import importlib.metadata
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PACKAGES = HERE / "packages"
REQUIREMENTS = HERE / "requirements.txt"
# The table's names for the peers, by distribution.
PEERS = {"aiodataloader": "aiodataloader", "strawberry-graphql": "strawberry"}


def pins():
    """The pinned distributions and their versions, from requirements.txt."""
    pinned = {}
    for line in REQUIREMENTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pinned[name.strip()] = version.strip()
    return pinned


def installed(name):
    """The version of `name` installed in ./packages, if any."""
    found = importlib.metadata.distributions(name=name, path=[str(PACKAGES)])
    return next((dist.version for dist in found), None)


def ensure_installed():
    """None once every pin is installed in ./packages, installing them if needed; else why not."""
    pinned = pins()
    if all(installed(name) == version for name, version in pinned.items()):
        return None
    # pip's output goes to stderr: stdout is the bench's channel.
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--no-warn-script-location", "--upgrade", "--target", str(PACKAGES),
         "-r", str(REQUIREMENTS)],
        stdout=sys.stderr,
        stderr=sys.stderr,
        check=False,
    )
    missing = [f"{name} {version}" for name, version in pinned.items()
               if installed(name) != version]
    if not missing:
        return None
    return (f"could not install {', '.join(missing)} into {PACKAGES} "
            f"(pip exited with status {pip.returncode})")


def value(key):
    """The value every key loads to, as the Rust dataset `Echo` has it."""
    return key + 1


class Counter:
    """Batch calls, over every loader a request's rounds build."""

    def __init__(self):
        self.calls = 0


def echo_batch(counter):
    """The batch function every loader gets: counts its calls and reads the rows for the keys as a
    map, the shape the Rust libraries are given; both Python loaders want the values in the keys'
    order, so it lines them up, as their users do with a data source answering a map."""

    async def batch(keys):
        counter.calls += 1
        rows = {key: value(key) for key in keys}
        return [rows.get(key) for key in keys]

    return batch


def count_correct(first, values):
    """How many of `values`, the answers for consecutive keys from `first`, are right."""
    return sum(1 for key, got in enumerate(values, first) if got == value(key))


def expect(correct, wanted, what):
    if correct != wanted:
        raise ValueError(f"{what}: {correct} of {wanted} loads answered right")


# The scenarios: each takes its parameters and a loader factory and returns an async round.
# Rounds are timed together, not one by one, as the clock costs more to read here than in Rust;
# a round with set-up its Rust twin leaves untimed returns how long that took, to be taken off.

def frame(params, make):
    """Scenarios 1a and 2: distinct keys in one frame, each loaded by its own call."""
    keys = range(params["keys"])

    async def round_():
        loader = make()
        values = await asyncio.gather(*[loader.load(key) for key in keys])
        expect(count_correct(0, values), len(keys), "frame")
        return 0

    return round_


def load_many(params, make):
    """Scenario 1b: the same keys in one load_many."""
    keys = list(range(params["keys"]))

    async def round_():
        loader = make()
        values = await loader.load_many(keys)
        expect(count_correct(0, values), len(keys), "load_many")
        return 0

    return round_


def cache_hit(params, make):
    """Scenario 3: a loaded key loaded again `hits` times, one after the other; the first load
    untimed."""
    hits = params["hits"]
    key = 7

    async def round_():
        start = time.perf_counter_ns()
        loader = make()
        expect(count_correct(key, [await loader.load(key)]), 1, "cache_hit")
        untimed = time.perf_counter_ns() - start
        correct = 0
        for _ in range(hits):
            if await loader.load(key) == value(key):
                correct += 1
        expect(correct, hits, "cache_hit")
        return untimed

    return round_


def chain(params, make):
    """Scenario 4: `levels` dependent loads, each of the key the one before loaded."""
    levels = params["levels"]

    async def round_():
        loader = make()
        key = 0
        for _ in range(levels):
            key = await loader.load(key)
        expect(key, levels, "chain")
        return 0

    return round_


def tasks(params, make):
    """Scenario 5: `tasks` tasks sharing one loader, each loading `keys` keys from
    `task * stride`; on the one thread of the event loop, where the Rust twin has two workers."""
    count, keys, stride = params["tasks"], params["keys"], params["stride"]

    async def round_():
        loader = make()

        async def task(first):
            values = await asyncio.gather(*[loader.load(key) for key in range(first, first + keys)])
            return count_correct(first, values)

        counts = await asyncio.gather(*[asyncio.create_task(task(t * stride))
                                        for t in range(count)])
        expect(sum(counts), count * keys, "tasks")
        return 0

    return round_


def floor(params, _make):
    """The floor of `frame`: a gather of trivial coroutines returning the value a load would, with
    no loader. No asyncio loader could beat it."""
    keys = range(params["keys"])

    async def trivial(key):
        return value(key)

    async def round_():
        values = await asyncio.gather(*[trivial(key) for key in keys])
        expect(count_correct(0, values), len(keys), "floor")
        return 0

    return round_


SCENARIOS = {"frame": frame, "load_many": load_many, "cache_hit": cache_hit, "chain": chain,
             "tasks": tasks}


def ops_per_round(scenario):
    """Loads per round of a scenario."""
    return {
        "frame": lambda s: s["keys"],
        "load_many": lambda s: s["keys"],
        "cache_hit": lambda s: s["hits"],
        "chain": lambda s: 1,
        "tasks": lambda s: s["tasks"] * s["keys"],
    }[scenario["name"]](scenario)


# How long each peer and scenario runs untimed before its first figure: CPython 3.11 specializes
# its hot bytecode after some calls, as a server that has been up for a minute has.
WARM_UP_NS = 200_000_000


class Peers:
    """The loaders, imported from ./packages, and which requests have been warmed up."""

    def __init__(self):
        sys.path.insert(0, str(PACKAGES))
        import aiodataloader
        import strawberry.dataloader

        self.loaders = {
            "aiodataloader": aiodataloader.DataLoader,
            "strawberry": strawberry.dataloader.DataLoader,
        }
        self.warmed_up = set()

    async def measure(self, request):
        peer, rounds, scenario = request["peer"], request["rounds"], request["scenario"]
        counter = Counter()
        if peer == "floor":
            if scenario["name"] != "frame":
                raise ValueError(f"the floor has no scenario {scenario['name']}")
            round_ = floor(scenario, None)
        elif peer in self.loaders:
            loader, batch = self.loaders[peer], echo_batch(counter)
            round_ = SCENARIOS[scenario["name"]](scenario, lambda: loader(batch))
        else:
            raise ValueError(f"no peer {peer} on Python")
        what = json.dumps([peer, scenario], sort_keys=True)
        if what not in self.warmed_up:
            until = time.perf_counter_ns() + WARM_UP_NS
            while time.perf_counter_ns() < until:
                await round_()
            self.warmed_up.add(what)
            counter.calls = 0
        spread = bool(scenario.get("spread"))
        round_batches = []
        untimed = 0
        start = time.perf_counter_ns()
        if spread:
            for _ in range(rounds):
                before = counter.calls
                untimed += await round_()
                round_batches.append(counter.calls - before)
        else:
            for _ in range(rounds):
                untimed += await round_()
        elapsed = time.perf_counter_ns() - start - untimed
        answer = {"elapsed_ns": elapsed, "rounds": rounds,
                  "ops_per_round": ops_per_round(scenario), "batches": counter.calls}
        if spread:
            answer["round_batches"] = round_batches
        return answer


def main():
    why = ensure_installed()
    if why:
        print(json.dumps({"skipped": why}), flush=True)
        return
    peers = Peers()
    versions = {PEERS[name]: version for name, version in pins().items()}
    runtime = f"{platform.python_implementation()} {platform.python_version()}"
    print(json.dumps({"ready": {"runtime": runtime, "versions": versions}}), flush=True)
    loop = asyncio.new_event_loop()
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            answer = loop.run_until_complete(peers.measure(json.loads(line)))
        except Exception as error:  # noqa: BLE001: any failure is the bench's to report
            answer = {"error": f"{type(error).__name__}: {error}"}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
