"""Allow ``python -m service`` as well as the ``rankroom`` command."""

from service.cli import main

main()
