"""`vjepa` console script: dispatches `vjepa <command> ...` to the command's module.

Each command module exposes `main(argv: list[str]) -> int | None`; imports are lazy so that
`vjepa --help` is instant and one command's dependencies never slow another.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "smoke": ("vjepa.smoke", "one JEPA forward/backward on random data (install check)"),
    "train": ("vjepa.train.main", "pretrain I-JEPA / V-JEPA (Hydra overrides: key=value)"),
    "eval": ("vjepa.eval.main", "frozen evaluation: attentive / linear probes, k-NN (Hydra)"),
    "extract": ("vjepa.eval.extract", "frozen features of videos/images to safetensors files"),
    "export": ("vjepa.export", "export a checkpoint to safetensors or the official layout"),
    "jobs": ("vjepa.launch", "list a run's Slurm jobs: state, step, last loss, log path"),
}


def usage() -> str:
    lines = ["usage: vjepa <command> [args...]", "", "commands:"]
    lines += [f"  {name:<9} {help_}" for name, (_, help_) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"vjepa: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    sys.argv = [f"vjepa {name}", *rest]  # Hydra mains read sys.argv
    code = module.main(rest)
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
