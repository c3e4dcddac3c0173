"""`python -m edge` is the same as the `retail-edge` console script."""

from edge.cli import main

if __name__ == "__main__":
    main()
