"""`kangaroo train`: run, resume or check a training recipe or a curriculum of recipes.

Exit codes: 0 done (or, with ``--validate``, the recipe is good); 1 the recipe has problems (all
listed); 2 bad usage (no such file, not YAML, a malformed override) or bad input met while
training; 130 interrupted (a checkpoint of the last step was saved: run the same command again).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from .app import TRAINING, _user_errors, app, console, err_console

EXIT_PROBLEMS = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _print_problems(title: str, problems: list[str]) -> None:
    err_console.print(f"[bold red]{escape(title)}[/]", highlight=False)
    for problem in problems:
        err_console.print(f"  [red]-[/] {escape(problem)}", highlight=False)


def _print_warnings(warnings: list[str]) -> None:
    for warning in warnings:
        err_console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)


def _summary(recipe) -> str:
    frames = recipe.data.frames.describe()
    steps = f"{recipe.schedule.steps} steps" if recipe.schedule.steps is not None else f"{recipe.schedule.epochs:g} epoch{'s' if recipe.schedule.epochs != 1 else ''}"
    init = f"from {recipe.model.from_stage}" if recipe.model.from_stage else recipe.model.init
    trainable = recipe.trainable if isinstance(recipe.trainable, str) else "+".join(recipe.trainable)
    size = f"{recipe.model.image_size} px, " if recipe.model.image_size else ""
    return (f"{recipe.stage}: {init}; {size}{frames}; max_length {recipe.data.max_length}"
            f"{' packed' if recipe.data.packing else ''}; {steps}; trainable {trainable}; "
            f"lr {recipe.optim.lr:g}; -> {recipe.run.output_dir}")


@app.command("train", rich_help_panel=TRAINING)
def train_command(
    recipe_file: Annotated[Path, typer.Argument(metavar="RECIPE.yaml", help="A stage recipe or a curriculum.")],
    overrides: Annotated[
        list[str] | None, typer.Argument(metavar="KEY=VALUE", help="Recipe overrides, e.g. optim.lr=3e-5.")
    ] = None,
    validate: Annotated[
        bool, typer.Option("--validate", help="Check the recipe completely (nothing is trained) and exit.")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Output folder (run.output_dir; a curriculum writes OUT/<stage>)."),
    ] = None,
    progress: Annotated[
        bool | None, typer.Option("--progress/--no-progress", help="Progress bar (default: on a terminal).")
    ] = None,
) -> None:
    """Train one stage of the curriculum, or all of them, from a recipe YAML.

    Running the same command again resumes from the newest complete checkpoint.

    Examples:
      $ [bold]kangaroo train recipes/tiny/curriculum.yaml --out runs/tiny[/]
      $ [bold]kangaroo train --validate recipes/8b/stage4_instruction.yaml data.mixture=mix.yaml[/]
      $ [bold]kangaroo train recipes/tiny/stage1_image_pretrain.yaml optim.lr=1e-3 schedule.steps=10[/]
    """
    from kangaroo.training.preflight import validate_recipe
    from kangaroo.training.recipe import RecipeError, is_curriculum, load_curriculum, parse_recipe

    overrides = list(overrides or [])
    stages: list[tuple[str, object]] = []
    problems: list[str] = []
    warnings: list[str] = []
    try:
        if is_curriculum(recipe_file):
            curriculum = load_curriculum(recipe_file)
            for stage in curriculum.stages:
                recipe, errors = parse_recipe(stage, overrides, out / stage.stem if out is not None else None)
                stages.append((stage.name, recipe))
                problems += [f"{stage.name}: {e}" for e in errors]
        else:
            recipe, errors = parse_recipe(recipe_file, overrides, out)
            stages.append(("", recipe))
            problems += errors
    except RecipeError as exc:
        _print_problems("error:", exc.errors if len(exc.errors) > 1 else [str(exc)])
        raise typer.Exit(EXIT_USAGE) from None

    for name, recipe in stages:
        stage_warnings: list[str] = []
        errors = validate_recipe(recipe, build_model=validate, warnings=stage_warnings)  # type: ignore[arg-type]
        prefix = f"{name}: " if name else ""
        problems += [prefix + e for e in errors]
        warnings += [prefix + w for w in stage_warnings]
    _print_warnings(warnings)
    if problems:
        _print_problems(f"{recipe_file}: {len(problems)} problem{'s' if len(problems) > 1 else ''}:", problems)
        raise typer.Exit(EXIT_PROBLEMS)
    if validate:
        for _, recipe in stages:
            console.print(f"[green]ok[/] {escape(_summary(recipe))}", highlight=False)
        return
    _run(stages, progress)


def _run(stages: list[tuple[str, object]], progress: bool | None) -> None:
    from kangaroo.training.recipe import RecipeError
    from kangaroo.training.trainer import TrainingInterrupted, train

    def log(message: str) -> None:
        err_console.print(escape(message), highlight=False)

    with _user_errors():
        for name, recipe in stages:
            try:
                result = train(recipe, progress=progress, log=log)  # type: ignore[arg-type]
            except RecipeError as exc:
                _print_problems(f"{name or 'recipe'}: {len(exc.errors)} problem(s):", exc.errors)
                raise typer.Exit(EXIT_PROBLEMS) from None
            except TrainingInterrupted as exc:
                err_console.print(f"[yellow]{escape(str(exc))}[/] (checkpoint: {escape(str(exc.checkpoint))})",
                                  highlight=False)
                raise typer.Exit(EXIT_INTERRUPTED) from None
            if os.environ.get("RANK", "0") != "0":  # one line per run, from rank 0
                continue
            losses = result.losses
            first = sum(losses[:3]) / len(losses[:3]) if losses else float("nan")
            last = sum(losses[-3:]) / len(losses[-3:]) if losses else float("nan")
            ran = (f"{result.steps_run} steps in {result.seconds:.1f} s"
                   + (f" (resumed at step {result.resumed_from})" if result.resumed_from else "")
                   if result.steps_run else "already finished")
            console.print(
                f"[green]done[/] {escape(name or str(result.run_dir))}: {result.total_steps} steps, loss "
                f"{first:.3f} -> {last:.3f} (mean of the first / last 3); {ran}; "
                f"model in {escape(str(result.final_dir))}",
                highlight=False,
            )
