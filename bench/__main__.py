"""`make bench`: the upload benchmark, the end-to-end pipeline benchmark, finalize, the RAW path."""

from __future__ import annotations

import argparse

from bench import finalize, pipeline, raw, upload


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke run with a few images")
    args = parser.parse_args()
    upload.run(quick=args.quick)
    pipeline.run(quick=args.quick)
    finalize.run(quick=args.quick)
    raw.run(quick=args.quick)


if __name__ == "__main__":
    main()
