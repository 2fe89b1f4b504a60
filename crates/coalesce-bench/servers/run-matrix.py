#!/usr/bin/env python3
"""The server-level comparison: the coalesce demo (batched and --naive), a Node server (graphql-js +
graphql/dataloader + better-sqlite3, one process and two with node:cluster) and a Strawberry server
(on uvicorn, one worker and two), each serving the demo's two benchmark queries from one SQLite file
on tmpfs, measured by wrk at concurrency 1, 8 and 64, every response checked.

    python3 crates/coalesce-bench/servers/run-matrix.py [--duration 10] [--runs 2]
        [--servers demo,naive,node,node2,strawberry,strawberry2] [--queries messages,bands]
        [--concurrency 1,8,64] [--db /dev/shm/coalesce-matrix.db] [--demo BINARY]

On first use it installs what it needs: wrk (apt-get, when it runs as root), the Node server's
pinned packages (node/package.json, into node/node_modules) and the Python server's
(python/requirements.txt, into python/packages); and it builds the demo (`cargo build --release -p
coalesce-demo`, into $CARGO_TARGET_DIR or the workspace's target/), unless --demo names a binary.

Each server is started once per run and serves all its cells. In each cell its answer to the query
is compared, as data, with the demo's in-process answer (a GraphQL error is a failure), then wrk runs `--warmup` seconds unmeasured and `--duration`
seconds measured with one thread, and its Lua script (check.lua) compares every response body, byte
for byte, with the first checked one. A run with --runs 2 runs the cells forward, then in reverse
order; the table shows the range. Failures are counted and printed, and a cell with any shows them.
Prints markdown tables of requests/s, of the cores each server used (CPU seconds per second of
all its processes), and of requests per CPU second, and the load average.
"""

import argparse
import importlib.metadata
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORKSPACE = HERE.parents[2]
NODE = HERE / "node"
PYTHON = HERE / "python"
PYTHON_PACKAGES = PYTHON / "packages"

QUERIES = {
    "messages": "{ messages { id message poster { id name } } }",
    "bands": "{ bands { name albums { title } } }",
}
# The table's columns, in order, and how each server is started on (port, database file).
SERVERS = ["demo", "naive", "node", "node2", "strawberry", "strawberry2"]
HEADERS = {
    "demo": "coalesce demo",
    "naive": "naive (N+1)",
    "node": "Node",
    "node2": "Node x2",
    "strawberry": "Strawberry",
    "strawberry2": "Strawberry x2",
}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def say(*parts):
    print(*parts, file=sys.stderr, flush=True)


def built_demo():
    target = Path(os.environ.get("CARGO_TARGET_DIR", WORKSPACE / "target"))
    return target / "release" / "coalesce-demo"


def command(server, port, db, demo):
    """The command line, working directory and environment that start `server` (the demo from
    the binary `demo`)."""
    if server in ("demo", "naive"):
        line = [str(demo), "--addr", f"127.0.0.1:{port}", "--database", f"sqlite://{db}"]
        return line + (["--naive"] if server == "naive" else []), WORKSPACE, {}
    if server.startswith("node"):
        workers = "2" if server == "node2" else "1"
        line = ["node", "server.js", "--db", str(db), "--port", str(port), "--workers", workers]
        return line, NODE, {}
    workers = "2" if server == "strawberry2" else "1"
    line = [sys.executable, "-m", "uvicorn", "server:app", "--host", "127.0.0.1",
            "--port", str(port), "--workers", workers, "--log-level", "warning", "--no-access-log"]
    env = {"DB": str(db), "PYTHONPATH": f"{PYTHON_PACKAGES}{os.pathsep}{PYTHON}"}
    return line, PYTHON, env


def run(line, **kwargs):
    say("+", " ".join(str(part) for part in line))
    subprocess.run(line, check=True, **kwargs)


def ensure_installed(servers, build_demo):
    """Installs what the chosen servers and the load generator need, once."""
    if shutil.which("wrk") is None:
        if os.geteuid() != 0:
            sys.exit("run-matrix: wrk is missing: install it (Debian: apt-get install wrk)")
        run(["apt-get", "install", "-y", "wrk"], stdout=sys.stderr)
    if build_demo and {"demo", "naive"} & set(servers):
        run(["cargo", "build", "--release", "-p", "coalesce-demo"], cwd=WORKSPACE)
    if {"node", "node2"} & set(servers):
        pinned = json.loads((NODE / "package.json").read_text())["dependencies"]
        if any(installed_npm(name) != version for name, version in pinned.items()):
            run(["npm", "install", "--prefix", str(NODE), "--no-package-lock", "--no-audit",
                 "--no-fund"], stdout=sys.stderr)
    stale = [name for name, version in pip_pins() if installed_pip(name) != version]
    if stale and {"strawberry", "strawberry2"} & set(servers):
        run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "--no-warn-script-location", "--target", str(PYTHON_PACKAGES), "-r",
             str(PYTHON / "requirements.txt")], stdout=sys.stderr)


def installed_npm(name):
    try:
        return json.loads((NODE / "node_modules" / name / "package.json").read_text())["version"]
    except OSError:
        return None


def pip_pins():
    """The (distribution, version) pairs of python/requirements.txt."""
    lines = (line.split("#")[0].strip() for line in (PYTHON / "requirements.txt").read_text().splitlines())
    return [tuple(line.split("==")) for line in lines if line]


def installed_pip(name):
    found = importlib.metadata.distributions(name=name, path=[str(PYTHON_PACKAGES)])
    return next((dist.version for dist in found), None)


def versions():
    """What ran: the runtimes and every pinned package, as installed."""
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.split()[:2]
    pinned = json.loads((NODE / "package.json").read_text())["dependencies"]
    npm = ", ".join(f"{name} {installed_npm(name)}" for name in sorted(pinned))
    pip = ", ".join(f"{name} {installed_pip(name)}" for name, _ in pip_pins())
    python = sys.version.split()[0]
    return f"Node {node} ({npm}); CPython {python} ({pip}); {' '.join(wrk)}"


def post(port, query):
    """The raw body of one POST of `query`, and its status."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


class Server:
    """One server process (and its workers) on `port`, stopped on exit."""

    def __init__(self, name, port, db, demo):
        self.name = name
        self.port = port
        line, cwd, env = command(name, port, db, demo)
        self.process = subprocess.Popen(
            line, cwd=cwd, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{name} exited with status {self.process.returncode}")
            try:
                status, _ = post(port, "{ __typename }")
                if status == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{name} did not answer on port {port} within 60 s")
            time.sleep(0.2)

    def cpu_seconds(self):
        """User and system time of the server and every process under it so far."""
        total = 0
        pending = [self.process.pid]
        while pending:
            pid = pending.pop()
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
                for task in Path(f"/proc/{pid}/task").iterdir():
                    pending += [int(child) for child in (task / "children").read_text().split()]
            except (OSError, ValueError):
                continue
        return total / CLOCK_TICKS

    def stop(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def expected_body(server, query, reference):
    """The server's first answer to `query`, once its data is the reference's and it has no
    errors: every response of the measured seconds must be this body."""
    status, body = post(server.port, QUERIES[query])
    answer = json.loads(body)
    if status != 200 or answer.get("errors") or answer.get("data") != reference:
        raise RuntimeError(
            f"{server.name} answers {query} wrongly (HTTP {status}): {body[:500]!r}"
        )
    return body


def wrk(port, concurrency, seconds, files):
    """wrk's requests/s and check counts for one cell."""
    line = ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "--timeout", "10s",
            "-s", str(HERE / "check.lua"), f"http://127.0.0.1:{port}/graphql"]
    env = {**os.environ, "WRK_REQUEST": str(files[0]), "WRK_EXPECTED": str(files[1])}
    out = subprocess.run(line, env=env, capture_output=True, text=True, check=True).stdout
    rate = float(next(line for line in out.splitlines() if line.startswith("Requests/sec:")).split()[1])
    checked = next(line for line in out.splitlines() if line.startswith("checked:")).split()
    passed, failed = int(checked[1]), int(checked[3])
    samples = [line.strip() for line in out.splitlines() if line.startswith("  HTTP ")]
    # Requests that got no response (a timeout, a reset) never reach check.lua: wrk counts them.
    for line in out.splitlines():
        if line.strip().startswith("Socket errors:"):
            lost = [int(count.strip(",")) for count in line.split()[3::2]]
            if any(lost):
                failed += sum(lost)
                samples.append(line.strip())
    return rate, passed, failed, samples


def loadavg():
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def seed(db, demo):
    """Has the demo create and seed the SQLite file (in WAL mode), then checks each query on it
    in-process: the reference data every server must answer."""
    reference = {}
    for query, text in QUERIES.items():
        out = subprocess.run(
            [str(demo), "query", "--database", f"sqlite://{db}", text],
            capture_output=True, check=True,
        ).stdout
        answer = json.loads(out)
        if answer.get("errors"):
            sys.exit(f"run-matrix: the demo answers {query} with errors: {answer['errors']}")
        reference[query] = answer["data"]
    return reference


def matrix(args, reference, order, scratch):
    """One run over the cells, by server in `order`: {(server, query, concurrency): result}."""
    results = {}
    for index, name in enumerate(order):
        cells = [(q, c) for q in args.queries for c in args.concurrency]
        if order != args.servers:
            cells.reverse()
        server = Server(name, args.port + index, args.db, args.demo)
        try:
            for query, concurrency in cells:
                files = (scratch / f"{query}.request.json", scratch / f"{name}.{query}.expected")
                files[0].write_text(json.dumps({"query": QUERIES[query]}))
                files[1].write_bytes(expected_body(server, query, reference[query]))
                if args.warmup:
                    wrk(server.port, concurrency, args.warmup, files)
                load = loadavg()
                cpu = server.cpu_seconds()
                rate, passed, failed, samples = wrk(server.port, concurrency, args.duration, files)
                cores = (server.cpu_seconds() - cpu) / args.duration
                results[name, query, concurrency] = (rate, passed, failed, samples, cores, load)
                say(f"{name:12} {query:9} c={concurrency:<3} {rate:9.1f} req/s  "
                    f"{cores:.2f} cores  checked {passed} ok, {failed} failed  load {load}")
                for sample in samples:
                    say("   ", sample)
        finally:
            server.stop()
    return results


def spread(values, digits=0):
    low, high = min(values), max(values)
    text = lambda v: f"{v:,.{digits}f}".replace(",", " ")
    return text(low) if round(low, digits) == round(high, digits) else f"{text(low)}-{text(high)}"


def table(args, runs):
    rows = ["| query | concurrency | " + " | ".join(HEADERS[s] for s in args.servers) + " |",
            "|---|---|" + "---|" * len(args.servers)]
    cores = list(rows)
    efficiency = list(rows)
    failures = []
    for query in args.queries:
        for concurrency in args.concurrency:
            cells, used, per_cpu = [], [], []
            for server in args.servers:
                got = [run[server, query, concurrency] for run in runs]
                failed = sum(result[2] for result in got)
                cell = spread([result[0] for result in got])
                if failed:
                    cell += f" ({failed} failed)"
                    failures.append((server, query, concurrency, got))
                cells.append(cell)
                used.append(spread([result[4] for result in got], 2))
                per_cpu.append(spread([result[0] / max(result[4], 0.01) for result in got]))
            rows.append(f"| {query} | {concurrency} | " + " | ".join(cells) + " |")
            cores.append(f"| {query} | {concurrency} | " + " | ".join(used) + " |")
            efficiency.append(f"| {query} | {concurrency} | " + " | ".join(per_cpu) + " |")
    return rows, cores, efficiency, failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    listed = lambda kind: lambda text: [kind(part) for part in text.split(",")]
    parser.add_argument("--duration", type=int, default=10, help="measured seconds per cell")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured seconds before each")
    parser.add_argument("--runs", type=int, choices=(1, 2), default=2,
                        help="2: forward, then reverse order")
    parser.add_argument("--servers", type=listed(str), default=SERVERS)
    parser.add_argument("--queries", type=listed(str), default=list(QUERIES))
    parser.add_argument("--concurrency", type=listed(int), default=[1, 8, 64])
    parser.add_argument("--db", type=Path, default=Path("/dev/shm/coalesce-matrix.db"))
    parser.add_argument("--port", type=int, default=8100, help="the first server's port")
    parser.add_argument("--demo", type=Path, help="a coalesce-demo binary to run instead of "
                        "building one (a copy stays the same while the tree is rebuilt)")
    args = parser.parse_args()
    unknown = set(args.servers) - set(SERVERS) | set(args.queries) - set(QUERIES)
    if unknown:
        parser.error(f"unknown: {', '.join(sorted(unknown))}")

    ensure_installed(args.servers, build_demo=args.demo is None)
    args.demo = (args.demo or built_demo()).resolve()
    reference = seed(args.db, args.demo)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load_before = loadavg()
    runs = []
    with tempfile.TemporaryDirectory() as scratch:
        for index in range(args.runs):
            order = args.servers if index == 0 else list(reversed(args.servers))
            say(f"run-matrix: run {index + 1} of {args.runs}: {', '.join(order)}")
            runs.append(matrix(args, reference, order, Path(scratch)))
    loads = [result[5] for run in runs for result in run.values()]
    one_minute = [float(load.split()[0]) for load in loads]
    rows, cores, efficiency, failures = table(args, runs)
    print(f"Requests/s ({started}, {os.cpu_count()}-core machine, wrk -t1 {args.duration} s per "
          f"cell after {args.warmup} s unmeasured, {args.runs} run(s): forward"
          f"{' and reverse' if args.runs == 2 else ''} order; every response checked):\n")
    print("\n".join(rows))
    print("\nCores the server used (CPU seconds per second, all its processes):\n")
    print("\n".join(cores))
    print("\nRequests per CPU second of the server (requests/s over cores used): what a server "
          "makes of the CPU it gets, which on a loaded machine is less than it would take:\n")
    print("\n".join(efficiency))
    print(f"\nLoad average (1, 5, 15 min): {load_before} before; 1-minute "
          f"{min(one_minute):.2f}-{max(one_minute):.2f} at the cells' starts; {loadavg()} after.")
    print(f"Versions: {versions()}.")
    print(f"Failed responses: {sum(r[2] for run in runs for r in run.values())}.")
    for server, query, concurrency, got in failures:
        print(f"- {server} {query} c={concurrency}:")
        for result in got:
            for sample in result[3]:
                print(f"  {sample}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
