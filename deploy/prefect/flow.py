"""Scheduled retraining as a Prefect flow: each step of `train retrain` (validate, train, gate,
register, promote) is a task that runs the `train` binary and is retried with backoff when it
fails. `train retrain` keeps the cycle's state in the registry, so a retried or re-run step
resumes where the last attempt stopped, and the same data and seed never create a second
version.

Run once:        python deploy/prefect/flow.py --config data/sepsis.toml --data data/sepsis/train.csv
On a schedule:   add `--cron "0 3 * * 1"` (serves the flow with Prefect; needs a Prefect server)
Kubernetes:      deploy/k8s/retrain-cronjob.yaml runs the same cycle without Prefect.
"""

import argparse
import json
import subprocess

from prefect import flow, get_run_logger, task
from prefect.runtime import task_run

STEPS = ("validate", "train", "gate", "register", "promote")


@task(retries=3, retry_delay_seconds=[2, 10, 30], task_run_name="{step}")
def run_step(train_bin: str, step: str, arguments: list[str]) -> dict:
    """Runs one step; a non-zero exit raises, and Prefect retries the task."""
    command = [train_bin, "retrain", "--quiet", "--step", step, *arguments]
    result = subprocess.run(command, capture_output=True, text=True)
    logger = get_run_logger()
    if result.returncode != 0:
        raise RuntimeError(f"`{' '.join(command)}` exited with {result.returncode}: "
                           f"{result.stderr.strip()}")
    summary = result.stdout.strip().splitlines()[-1].strip()
    logger.info("%s (attempt %d)", summary, task_run.run_count)
    return {"step": step, "attempts": task_run.run_count, "summary": summary}


@flow(name="vigil-retrain")
def retrain(config: str, data: str, registry: str = "", train_bin: str = "train", seed: int = 42,
            promote: bool = False, margin: float = 0.01, models: str = "") -> list[dict]:
    """The retraining cycle, one task per step, in order. Without `registry`, `train` uses
    artifacts/registry/<dataset>."""
    arguments = ["--config", config, "--data", data, "--seed", str(seed), "--margin", str(margin)]
    if registry:
        arguments += ["--registry", registry]
    if models:
        arguments += ["--models", models]
    if promote:
        arguments.append("--promote")
    return [run_step(train_bin, step, arguments) for step in STEPS]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--registry", default="")
    parser.add_argument("--train-bin", default="train")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--promote", action="store_true")
    parser.add_argument("--margin", type=float, default=0.01)
    parser.add_argument("--models", default="")
    parser.add_argument("--cron", help="serve the flow on this schedule instead of running once")
    args = parser.parse_args()
    parameters = {"config": args.config, "data": args.data, "registry": args.registry,
                  "train_bin": args.train_bin, "seed": args.seed, "promote": args.promote,
                  "margin": args.margin, "models": args.models}
    if args.cron:
        retrain.serve(name="vigil-retrain", cron=args.cron, parameters=parameters)
        return
    print(json.dumps(retrain(**parameters)))


if __name__ == "__main__":
    main()
