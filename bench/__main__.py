"""`make bench`: the upload benchmark, resumable (tus) uploads, the end-to-end pipeline benchmark, finalize,
the RAW path, hostile input, colour management's cost, the preview lanes."""

from __future__ import annotations

import sys

from bench import colour, finalize, hostile, lanes, pipeline, raw, tus, upload
from bench.common import command_line


def main() -> None:
    args = command_line(__doc__, "smoke run with a few images").parse_args()
    missed: list[str] = []
    for bench in (upload, tus, pipeline, finalize, raw, hostile, colour, lanes):
        missed += bench.run(quick=args.quick).get("missed", [])
    if missed:
        print("make bench: targets missed:\n  " + "\n  ".join(missed), file=sys.stderr)
        sys.exit(1)
    print("make bench: every target met")


if __name__ == "__main__":
    main()
