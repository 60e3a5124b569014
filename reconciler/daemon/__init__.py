"""The reconciler daemon (``service``): the level-triggered loop around the engine for systemd or a
terminal, and its systemd notification (``sdnotify``). Imports everything below the CLI.
"""
