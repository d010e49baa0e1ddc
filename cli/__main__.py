"""`python -m cli`: the `studio` command line."""

from cli.main import main

if __name__ == "__main__":  # pragma: no cover
    main()
