"""``python -m ghostswap_cli`` is the ``ghostswap`` command."""

from ghostswap_cli.cli import main

if __name__ == "__main__":
    main()
