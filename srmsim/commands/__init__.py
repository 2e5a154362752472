"""Sub-commands of the ``srmsim`` CLI; each module defines ``register(subparsers)``."""
