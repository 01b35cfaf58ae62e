"""Many boards at once: the same job (flash, deploy, run project, exec) on every board, one worker per board.

:mod:`.runner` runs the workers and collects one :class:`~ide.fleet.runner.BoardResult` per board (board, chip,
MAC, result, time); a board that fails never stops the others. :mod:`.jobs` holds the jobs, :mod:`.boards` finds
and opens the boards (serial ports, ``virtual:NAME`` virtual boards). The command line (``ide.cli.fleet_commands``)
and the window (``ide.ui.many_boards``) both sit on this.
"""

from ide.fleet.runner import BoardResult, run_fleet

__all__ = ["BoardResult", "run_fleet"]
