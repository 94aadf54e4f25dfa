"""``python -m training.whole_body_ablation --work DIR``: HIP's ablation on the two real takes.

Why: the whole-body model adds three things to the single-part EGGesture model -- a codebook
per body part, the face -> body -> hands cascade, and phase guidance from a periodic
autoencoder -- and each must earn its place on speech the model never heard. Every row is
trained and scored with the cross-take protocol (:mod:`training.cross_take`: train on one
take, generate from the other take's speech, compare with the real motion of that speech,
both ways, evaluation seeds 0 and 1); the project's own FGD is added, with an evaluator
autoencoder trained on the training take of each direction (:mod:`training.train_evaluator`).

::

    python -m training.whole_body_ablation --work DIR [--models eg parts cascade hip] [--epochs 300]
        [--threads 1] [--out table.md]

Rows: ``eg`` (today's single-part model: upper body + hands; face, legs and root held still),
``parts`` (whole body, one codebook per part, no cascade, no phase), ``cascade`` (+ the face ->
body -> hands guidance), ``hip`` (+ phase guidance). ``DIR`` is the cross-take work folder;
finished runs and scores in it are reused.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from egg_core.cli import run_cli
from egg_core.errors import EggError
from training import cross_take, evaluate, train_evaluator
from training.workdir import module_step, prepare_work_dir

log = logging.getLogger("training.whole_body_ablation")
MODELS = ("eg", "parts", "cascade", "hip")
ROW_NAMES = {"eg": "single-part EG (upper body + hands)", "parts": "parts, no cascade",
             "cascade": "parts + cascade", "hip": "parts + cascade + phase (HIP)"}
#: Columns: (key in the cross-take summary or "fgd", header).
COLUMNS = (
    ("frechet", "Fréchet / real-vs-real"),
    ("fgd", "own FGD"),
    ("bc", "BC − real"),
    ("l1div", "L1div / real"),
    ("wrist_height_mean", "wrist height − real (cm)"),
    ("expression_mse", "expression MSE"),
    ("jaw_mse", "jaw MSE (rad²)"),
    ("jaw_loudness", "jaw–loudness r"),
    ("foot_skating", "foot skating (cm/s)"),
)


def _tag(model: str, args: argparse.Namespace) -> str:
    return f"eg-no-reweight_mel_td{args.text_dropout:g}" + ("" if model == "eg" else f"_{model}")


def _fgd(work: Path, model: str, args: argparse.Namespace) -> dict[str, float | None]:
    """Own FGD per direction: evaluator of the training take, real motion of the test take."""
    takes = [Path(t) for t in cross_take.TAKES]
    out = {}
    for train_take, test_take in ((takes[0], takes[1]), (takes[1], takes[0])):
        evaluator = work / f"evaluator_{train_take.stem}.safetensors"
        if not evaluator.is_file():
            module_step(train_evaluator, ["--data", str(work / f"data_{train_take.stem}"), "--format", "folder",
                                          "--split", "all", "--out", str(evaluator), "--seed", "0"],
                        log=work / f"evaluator_{train_take.stem}.log", threads=args.threads)
        run = work / f"run_{_tag(model, args)}_{train_take.stem}"
        result = work / f"evaluate_{_tag(model, args)}_{train_take.stem}.json"
        if not result.is_file():
            module_step(evaluate, ["--checkpoint", str(run / "model.safetensors"),
                                   "--data", str(work / f"data_{test_take.stem}"), "--format", "folder",
                                   "--split", "all", "--evaluator", str(evaluator), "--seed", "0",
                                   "--temperature", str(args.temperature), "--out", str(result), "--quiet"],
                        log=work / f"evaluate_{_tag(model, args)}_{train_take.stem}.log", threads=args.threads)
        out[f"{train_take.stem} → {test_take.stem}"] = json.loads(result.read_text(encoding="utf-8"))["metrics"]["fgd"]
    return out


def _row(work: Path, model: str, args: argparse.Namespace) -> dict[str, Any]:
    status = cross_take.main(["--work", str(work), "--model", model, "--epochs", str(args.epochs),
                              "--threads", str(args.threads), "--text-dropout", str(args.text_dropout),
                              "--temperature", str(args.temperature)])
    if status != 0:
        raise EggError(f"the cross-take run of --model {model} failed (exit {status}); see {work}")
    summary = json.loads((work / f"cross_take_{_tag(model, args)}.json").read_text(encoding="utf-8"))["summary"]
    row: dict[str, Any] = {k: v["mean"] for k, v in summary.items()}
    fgd = _fgd(work, model, args)
    row["fgd"] = float(np.mean(list(fgd.values())))
    row["fgd_per_direction"] = fgd
    return row


def markdown(rows: dict[str, dict[str, Any]], args: argparse.Namespace) -> str:
    def fmt(v: Any) -> str:
        return "–" if v is None else f"{v:.3g}"

    lines = [f"Cross-take protocol, mean of both directions and evaluation seeds 0 and 1 (FGD: seed 0); "
             f"`--config small`, {args.epochs} epochs, text dropout {args.text_dropout:g}, generation T "
             f"{args.temperature:g}, with the test take's words.", "",
             "| row | " + " | ".join(h for _, h in COLUMNS) + " |",
             "| --- | " + " | ".join("---" for _ in COLUMNS) + " |"]
    for model, row in rows.items():
        lines.append(f"| {ROW_NAMES[model]} | " + " | ".join(fmt(row.get(k)) for k, _ in COLUMNS) + " |")
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> None:
    work = prepare_work_dir(args.work)
    unknown = [m for m in args.models if m not in MODELS]
    if unknown:
        raise EggError(f"unknown --models {unknown}; choose from {', '.join(MODELS)}")
    rows = {m: _row(work, m, args) for m in args.models}
    table = markdown(rows, args)
    print(table)
    out = Path(args.out) if args.out else work / "whole_body_ablation.md"
    out.write_text(table + "\n", encoding="utf-8")
    out.with_suffix(".json").write_text(json.dumps({"settings": vars(args), "rows": rows}, indent=2), encoding="utf-8")
    log.info("wrote %s", out)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m training.whole_body_ablation", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", required=True, help="cross-take work folder outside the repository")
    ap.add_argument("--models", nargs="+", default=list(MODELS))
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--text-dropout", type=float, default=0.3)
    ap.add_argument("--temperature", type=float, default=0.4)
    ap.add_argument("--out", default=None, help="markdown table (default WORK/whole_body_ablation.md)")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_cli(lambda: _run(args),
                   interrupted="interrupted; finished runs and scores are kept, run the same command again")


if __name__ == "__main__":
    raise SystemExit(main())
