"""``python -m ingest [PATH] [--collection NAME] [--dry-run] [--reset]`` (what ``make ingest`` runs).

Exit codes: 0 every file indexed (or unchanged), 2 some files failed but the rest were indexed,
1 nothing could be done (bad path, unwritable or incompatible index).
"""

from __future__ import annotations

import argparse
import sys

EPILOG = """examples:
  python -m ingest                         # the configured corpus (settings.yaml: corpus_dir)
  python -m ingest ~/company-docs --collection handbooks
  python -m ingest --dry-run               # show what would be added, updated, deleted
  python -m ingest --reset                 # rebuild the collection from scratch (also a damaged index)
  python -m ingest --allow-mass-delete     # delete the documents of a folder that was emptied
  RAG_INDEX_DIR=/tmp/idx python -m ingest  # any setting can be overridden with RAG_*
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ingest",
        description="Index a folder of documents into the local Chroma index.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("path", nargs="?", help="folder to index (default: corpus_dir)")
    parser.add_argument("--collection", help="collection name (default: collection setting)")
    parser.add_argument("--dry-run", action="store_true", help="report what would change, change nothing")
    parser.add_argument("--reset", action="store_true", help="drop the collection and index everything again")
    parser.add_argument(
        "--allow-mass-delete",
        action="store_true",
        help="delete more than max_delete_share of the indexed documents when their files are gone",
    )
    parser.add_argument("--settings", help="settings file (default: ./settings.yaml)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    from ingest.sync import sync_folder
    from rag.core.errors import RagError
    from rag.core.schema import printable
    from rag.core.settings import SettingsError, load_settings

    overrides = {"collection": args.collection} if args.collection else {}
    try:
        settings = load_settings(args.settings, **overrides)
        report = sync_folder(
            settings,
            args.path,
            dry_run=args.dry_run,
            reset=args.reset,
            allow_mass_delete=args.allow_mass_delete,
            progress=not args.quiet and sys.stderr.isatty(),
        )
    except (RagError, SettingsError, FileNotFoundError) as error:
        print(f"error: {printable(str(error))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: run again to finish; it leaves no duplicates or orphans", file=sys.stderr)
        return 130
    where = settings.chroma_url if settings.store_mode == "server" else str(settings.index_dir)
    print(f"collection {settings.collection!r} in {printable(where)}")
    print(report.summary())
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
