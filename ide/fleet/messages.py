"""What many-board and over-the-air errors mean, in words (see :mod:`ide.explain`)."""

from __future__ import annotations

from ide.explain import explains
from ide.fleet import errors


@explains(errors.NoBoardsFound)
def _no_boards(error: errors.NoBoardsFound) -> str:
    return ("No board found: no serial port looks like an ESP board, and there is no named virtual board. Plug the "
            "boards in (with data cables), or name them with --port P1 --port P2 ...")


@explains(errors.DuplicateBoard)
def _duplicate(error: errors.DuplicateBoard) -> str:
    return f"{error.port} is named twice; each board can be given once."


@explains(errors.FlashWorkerDied)
def _worker_died(error: errors.FlashWorkerDied) -> str:
    return (f"Flashing {error.port} stopped without a result ({error.detail or f'exit code {error.exitcode}'}). "
            "Try that board again on its own: mipy-studio --port PORT flash FIRMWARE.")


@explains(errors.BrokerUnreachable)
def _broker(error: errors.BrokerUnreachable) -> str:
    return (f"Could not reach the MQTT broker at {error.host}:{error.port} ({error.detail or 'no answer'}). Is the "
            "broker running, and is this the address the boards use (their config.py mqtt_server)?")


@explains(errors.NoOtaKey)
def _no_key(error: errors.NoOtaKey) -> str:
    return ("This project has no update key yet. Deploy it once over USB (Run project, or 'mipy-studio --port P "
            "deploy DIR'): that makes the key and gives it to the board; updates over the air are signed with it.")


@explains(errors.DeviceNotFound)
def _no_device(error: errors.DeviceNotFound) -> str:
    known = ", ".join(error.known) if error.known else "none"
    who = f"called {error.name!r} " if error.name else ""
    project = f"project {error.project!r}" if error.project else "this project"
    return (f"No device {who}runs {project} on the broker (devices seen: {known}). A device appears once it "
            "runs the project with ota = True in config.py, deployed once over USB, and reaches the broker.")


@explains(errors.ManifestTooLarge)
def _manifest(error: errors.ManifestTooLarge) -> str:
    return (f"The project has too many files for an update over the air ({error.size} bytes of file list, at most "
            f"{error.limit}). Leave files out (mipy_project.json 'exclude') or deploy over USB.")


@explains(errors.OtaRefused)
def _refused(error: errors.OtaRefused) -> str:
    if error.state == "rolled-back":
        return (f"{error.device} installed the update but went back to its previous version ({error.why}): the new "
                "version did not start or did not reach the broker. Its log.txt says why.")
    return f"{error.device} did not take the update: {error.why}."


@explains(errors.OtaTimedOut)
def _timed_out(error: errors.OtaTimedOut) -> str:
    return (f"{error.device} did not finish the update in {error.seconds:g} s (last heard: "
            f"{error.last_state or 'nothing'}). Is it powered and on the network? It keeps its current version.")
