"""Peak memory of reading the largest revisions the limits allow (prints figures and a verdict).

The GitOps container is limited to 384 MiB (manifests/gitops/gitops.yaml); an OOM kill while
parsing restarts it into the same revision, in a loop, with no error recorded anywhere. So the
limits of ``reloader.gitops.reading`` (bytes per file and per revision) and
``reloader.core.manifests`` (values, objects, depth) must keep the worst revision they let
through under 60% of it, 230 MiB of process RSS, the interpreter and the whole reloader
package included. For each case this writes the largest revision of one shape that the limits
allow (they are read from the modules, so the cases follow them), reads it with
``read_tree_sync`` in a fresh process, and prints that process's peak RSS (``ru_maxrss``).

Shapes: one maximal file of many small documents; one maximal document of tiny keys, of empty
containers, of short strings, or nested as deep as allowed; many small files; files of long
strings of 4-byte characters (a Python string is as wide as its widest character); and the
values limit spent first, then the rest of the bytes in such strings. YAML and JSON.

Usage: .venv/bin/python -m bench.parse_memory [--case NAME ...] [--list]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reloader.core import manifests
from reloader.gitops import reading

LIMIT_MIB = 384
BUDGET_MIB = 0.6 * LIMIT_MIB
ASTRAL = "\U0001f600"  # one such character makes its whole Python string 4 bytes a character
WIDE = "a" * 4000 + ASTRAL


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def cost_of(path: str, text: str) -> tuple[int, int]:
    """The values and objects of a revision's budget that ``text`` takes."""
    budget = manifests.revision_budget()
    budget.values = budget.objects = 10**9
    manifests.load_documents(path, text, budget=budget)
    return 10**9 - budget.values, 10**9 - budget.objects


@dataclass(frozen=True)
class Shape:
    """A file: ``head``, then numbered ``unit``s, then ``tail``; "{i}" is a unit's number and
    "{n}" the file's (so that names stay distinct and the revision valid)."""

    suffix: str
    head: str
    unit: str
    tail: str = ""

    def text(self, file: int, first: int, count: int) -> str:
        units = "".join(self.unit.replace("{i}", str(i)) for i in range(first, first + count))
        return (self.head + units + self.tail).replace("{n}", str(file))

    def costs(self) -> tuple[int, int, int, int]:
        """Values and objects of the head and tail, then of each unit."""
        path = f"x{self.suffix}"
        values, objects = cost_of(path, self.text(0, 0, 1))
        values2, objects2 = cost_of(path, self.text(0, 0, 2))
        return (
            values - (values2 - values),
            objects - (objects2 - objects),
            values2 - values,
            (objects2 - objects),
        )


@dataclass
class Left:
    """What the revision may still hold."""

    bytes: int
    values: int
    objects: int


def largest(shape: Shape, left: Left, *, file: int, first: int, size: int) -> tuple[str, int]:
    """The largest file of ``shape`` within ``size`` bytes and what is ``left``; its units."""
    fixed_values, fixed_objects, values, objects = shape.costs()
    unit_bytes = len(shape.text(file, 10**6, 1).encode()) - len(shape.text(file, 0, 0).encode())
    count = min(
        (min(size, left.bytes) - len(shape.text(file, 0, 0).encode())) // unit_bytes,
        (left.values - fixed_values) // max(values, 1),
        (left.objects - fixed_objects) // objects if objects else 10**9,
    )
    text = shape.text(file, first, max(count, 0))
    while count > 0 and len(text.encode()) > min(size, left.bytes):  # numbers grew longer
        count -= max(1, count // 100)
        text = shape.text(file, first, count)
    left.bytes -= len(text.encode())
    left.values -= fixed_values + values * max(count, 0)
    left.objects -= fixed_objects + objects * max(count, 0)
    return text, count


def revision(
    directory: Path, shapes: list[Shape], *, file_bytes: int = 0, files: int = 10**9
) -> None:
    """Files of each shape in turn, each as large as allowed, until a limit is reached."""
    left = Left(
        reading.MAX_REVISION_BYTES, manifests.MAX_REVISION_VALUES, manifests.MAX_REVISION_OBJECTS
    )
    number, unit = 0, 0
    for k, shape in enumerate(shapes):
        kept = RESERVED if k < len(shapes) - 1 else 0  # for the shapes after this one
        left.values -= kept
        while number < files:
            size = file_bytes or reading.MAX_FILE_BYTES
            text, count = largest(shape, left, file=number, first=unit, size=size)
            if count <= 0:  # not one more unit fits: on to the next shape
                break
            (directory / f"m{number:06d}{shape.suffix}").write_text(text, encoding="utf-8")
            number, unit = number + 1, unit + count
        left.values += kept


def _nested(depth: int, *, json_syntax: bool) -> str:
    """A chain of single-key mappings in single-item sequences, ``depth`` levels deep."""
    return ('{"a":[' if json_syntax else "{a: [") * (depth // 2) + "]}" * (depth // 2)


CM = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: f{n}}\n"
CM_JSON = '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"f{n}"}'
DEPTH = manifests.MAX_DEPTH - 3  # under the document's mapping and a sequence in it
SMALL = "--- {apiVersion: v1, kind: ConfigMap, metadata: {name: c{i}}}\n"
SMALL_JSON = '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c{i}"}},'
LAST_JSON = '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"f{n}"}}]}'
RESERVED = 20_000  # values the first of several shapes leaves to the others

YAML_EMPTY = Shape(".yaml", CM + "d: [", "{},[],", "{}]\n")
YAML_WIDE = Shape(".yaml", CM + "data:\n", f"  k{{i}}: {WIDE}\n")
JSON_EMPTY = Shape(".json", CM_JSON + ',"d":[', "{},[],", "{}]}")
JSON_WIDE = Shape(".json", CM_JSON + ',"data":{', f'"k{{i}}":"{WIDE}",', '"z":""}}')


@dataclass(frozen=True)
class Case:
    name: str
    about: str
    shapes: list[Shape]
    file_bytes: int = 0
    files: int = 10**9


def cases() -> list[Case]:
    """The largest revisions of each shape that the current limits allow."""
    return [
        Case(
            "yaml-one-file-small-documents",
            "one maximal file of small ConfigMaps, a document each",
            [Shape(".yaml", "", SMALL)],
            files=1,
        ),
        Case(
            "yaml-one-file-invalid-documents",
            "one maximal file of tiny documents, three problems each",
            [Shape(".yaml", "", "--- {k: {i}}\n")],
            files=1,
        ),
        Case(
            "yaml-one-document-tiny-keys",
            "one maximal document: a mapping of short distinct keys",
            [Shape(".yaml", CM + "data:\n", "  k{i}: 1\n")],
            files=1,
        ),
        Case(
            "yaml-one-document-empty-containers",
            "one maximal document: a flow sequence of {} and []",
            [YAML_EMPTY],
            files=1,
        ),
        Case(
            "yaml-one-document-short-strings",
            "one maximal document: a flow sequence of two-letter strings",
            [Shape(".yaml", CM + "d: [", "ab,", "ab]\n")],
            files=1,
        ),
        Case(
            "yaml-one-document-nested",
            f"one maximal document: chains of mappings and sequences {DEPTH} deep",
            [Shape(".yaml", CM + "d: [", _nested(DEPTH, json_syntax=False) + ",", "{}]\n")],
            files=1,
        ),
        Case(
            "yaml-many-small-files",
            "4 KiB files of small ConfigMaps up to a limit",
            [Shape(".yaml", "", SMALL)],
            file_bytes=4096,
        ),
        Case(
            "yaml-files-wide-strings",
            "maximal files of 4000-character strings of 4-byte characters",
            [YAML_WIDE],
        ),
        Case(
            "yaml-values-then-wide-strings",
            "the values limit spent on empty containers, the bytes left on wide strings",
            [YAML_EMPTY, YAML_WIDE],
        ),
        Case(
            "yaml-objects-then-wide-strings",
            "the objects or values limit spent on small ConfigMaps, the bytes left on wide strings",
            [Shape(".yaml", "", SMALL), YAML_WIDE],
        ),
        Case(
            "yaml-values-then-json-wide-strings",
            "the values limit spent in YAML, the bytes left on wide strings in JSON files",
            [YAML_EMPTY, JSON_WIDE],
        ),
        Case(
            "json-one-document-empty-containers",
            "one maximal JSON object holding an array of {} and []",
            [JSON_EMPTY],
            files=1,
        ),
        Case(
            "json-one-document-tiny-keys",
            "one maximal JSON object of short distinct keys",
            [Shape(".json", CM_JSON + ',"d":{', '"k{i}":1,', '"z":1}}')],
            files=1,
        ),
        Case(
            "json-one-document-nested",
            f"one maximal JSON object: chains of objects and arrays {DEPTH} deep",
            [Shape(".json", CM_JSON + ',"d":[', _nested(DEPTH, json_syntax=True) + ",", "{}]}")],
            files=1,
        ),
        Case(
            "json-many-small-files",
            "4 KiB JSON Lists of small ConfigMaps up to a limit",
            [Shape(".json", '{"apiVersion":"v1","kind":"List","items":[', SMALL_JSON, LAST_JSON)],
            file_bytes=4096,
        ),
        Case(
            "json-objects-then-wide-strings",
            "the objects or values limit spent on JSON Lists, the bytes left on wide strings",
            [
                Shape(".json", '{"apiVersion":"v1","kind":"List","items":[', SMALL_JSON, LAST_JSON),
                JSON_WIDE,
            ],
        ),
        Case(
            "json-files-wide-strings",
            "maximal JSON files of 4000-character strings of 4-byte characters",
            [JSON_WIDE],
        ),
        Case(
            "json-values-then-wide-strings",
            "the values limit spent on empty containers, the bytes left on wide strings",
            [JSON_EMPTY, JSON_WIDE],
        ),
    ]


def read(directory: Path) -> dict[str, Any]:
    """In a fresh process: import what ``reloader run`` imports, then read the revision."""
    try:
        import reloader.cli.running  # noqa: PLC0415 - its memory is the baseline
    except Exception as error:
        say(f"  (reloader.cli.running did not import: {error!r}; using reloader.gitops.syncing)")
        import reloader.gitops.syncing  # noqa: F401, PLC0415
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.monotonic()
    found, problems = reading.read_tree_sync(directory)
    seconds = time.monotonic() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "baseline_mib": round(baseline, 1),
        "peak_mib": round(peak, 1),
        "hwm_mib": round(_high_water_mark() / 1024, 1),
        "seconds": round(seconds, 2),
        "manifests": len(found),
        "problems": len(problems),
        "first_problem": str(problems[0])[:150] if problems else "",
    }


def _high_water_mark() -> int:
    """VmHWM in KiB: the peak RSS of this process's memory alone (Linux), to cross-check."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def _run(*args: str) -> str:
    command = [sys.executable, "-m", "bench.parse_memory", *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    sys.stderr.write(done.stderr)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)}: the process failed ({done.returncode})")
    return done.stdout


def measure(case: Case, root: Path) -> dict[str, Any]:
    """Write the case's revision, then read it, each in a process of its own: on Linux a new
    process's ru_maxrss starts at its parent's, so this one must never hold a revision."""
    directory = root / case.name
    directory.mkdir()
    say(f"{case.name}: writing {case.about}")
    _run("--write", case.name, str(directory))
    paths = [path for path in directory.iterdir() if path.is_file()]
    size = sum(path.stat().st_size for path in paths)
    say(f"{case.name}: {len(paths)} files, {size:,} bytes; reading them in a fresh process")
    result: dict[str, Any] = {"case": case.name, "files": len(paths), "bytes": size}
    result.update(json.loads(_run("--read", str(directory))))
    result["verdict"] = "ok" if result["peak_mib"] < BUDGET_MIB else "OVER"
    shutil.rmtree(directory)
    say(
        f"{case.name}: peak {result['peak_mib']} MiB (baseline {result['baseline_mib']}), "
        f"{result['seconds']} s, {result['manifests']} manifests, {result['problems']} problems"
    )
    return result


def report(results: list[dict[str, Any]]) -> None:
    print(
        f"limits: {reading.MAX_FILE_BYTES:,} bytes a file, {reading.MAX_REVISION_BYTES:,} a "
        f"revision; {manifests.MAX_REVISION_VALUES:,} values, "
        f"{manifests.MAX_REVISION_OBJECTS:,} objects, depth {manifests.MAX_DEPTH}"
    )
    print(f"budget: {BUDGET_MIB:.0f} MiB of peak RSS (60% of {LIMIT_MIB} MiB)\n")
    header = (
        f"{'case':36} {'files':>6} {'MiB':>5} {'peak MiB':>9} {'VmHWM':>6} {'s':>5} {'objects':>7}"
    )
    print(header + "  verdict")
    for r in results:
        print(
            f"{r['case']:36} {r['files']:>6} {r['bytes'] / 2**20:>5.1f} {r['peak_mib']:>9.1f} "
            f"{r['hwm_mib']:>6.1f} {r['seconds']:>5.2f} {r['manifests']:>7}  {r['verdict']}"
        )
        if r["first_problem"]:
            print(f"{'':8}{r['problems']} problems, the first: {r['first_problem']}")
    worst = max(results, key=lambda r: r["peak_mib"])
    verdict = "under" if worst["peak_mib"] < BUDGET_MIB else "OVER"
    print(
        f"\nworst: {worst['case']}, {worst['peak_mib']} MiB: {verdict} the {BUDGET_MIB:.0f} MiB "
        f"budget (the process with reloader imported starts at {worst['baseline_mib']} MiB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--case", action="append", help="run only this case (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("--write", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--read", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write is not None:
        [case] = [case for case in cases() if case.name == args.write[0]]
        revision(Path(args.write[1]), case.shapes, file_bytes=case.file_bytes, files=case.files)
        return
    if args.read is not None:
        print(json.dumps(read(args.read)))
        return
    chosen = [case for case in cases() if not args.case or case.name in args.case]
    if args.list or not chosen:
        for case in cases():
            print(f"{case.name}: {case.about}")
        return
    say(f"{len(chosen)} cases, each written to a temporary directory and read by a new process")
    with tempfile.TemporaryDirectory(prefix="parse-memory-") as root:
        results = [measure(case, Path(root)) for case in chosen]
    report(results)
    if any(r["verdict"] != "ok" for r in results):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
