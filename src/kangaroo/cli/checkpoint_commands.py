"""`kangaroo convert` and `kangaroo inspect`: released checkpoints into kangaroo models, and a look inside any checkpoint."""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from .app import MODEL, _user_errors, app, console, err_console


class Source(enum.StrEnum):
    """Checkpoint formats `kangaroo convert` reads (`kangaroo.model.convert.SOURCES`)."""

    kangaroo = "kangaroo"
    video_ccam = "video-ccam"


class ChatTemplate(enum.StrEnum):
    """Chat formats `kangaroo convert --chat-template` may set (`kangaroo.model.convert.CHAT_TEMPLATES`)."""

    phi3 = "phi3"
    chatml = "chatml"
    tokenizer = "tokenizer"


class RopeScaling(enum.StrEnum):
    """transformers RoPE scalings `kangaroo convert --rope-scaling` may set."""

    linear = "linear"
    dynamic = "dynamic"
    yarn = "yarn"


@app.command("convert", rich_help_panel=MODEL)
def convert_command(
    src: Annotated[Path, typer.Argument(
        help="Folder of the released checkpoint (kangaroo: weights, config.json, tokenizer; video-ccam: the release "
             "folder with projector/, llm_adapter/, visual_encoder_adapter/).")],
    out: Annotated[Path, typer.Argument(help="Folder to write the kangaroo model to (replaced if it exists).")],
    source: Annotated[Source, typer.Option("--from", help="The checkpoint's origin.")] = Source.kangaroo,
    llm: Annotated[Path | None, typer.Option(
        help="video-ccam: the base LLM's folder (4B: Phi-3-mini-4k-instruct, 9B: Yi-1.5-9B-Chat, 14B: "
             "Phi-3-medium-4k-instruct; default: SRC itself).")] = None,
    vision: Annotated[Path | None, typer.Option(
        help="video-ccam: the SigLIP folder (SigLIP so400m, patch 14, 384 px; default: SRC/visual_encoder).")] = None,
    merge_lora: Annotated[bool, typer.Option(
        "--merge-lora", help="video-ccam: fold the LoRA adapters into the weights (default: keep them as PEFT "
                             "adapters beside the model, applied at load; needs peft).")] = False,
    chat_template: Annotated[ChatTemplate | None, typer.Option(
        help="video-ccam: the prompt format (default: from the LLM's tokenizer: Phi-3 tokens -> phi3, a Qwen2 "
             "LLM -> the tokenizer's own template, ChatML tokens -> chatml).")] = None,
    vision_heads: Annotated[
        int | None,
        typer.Option(min=1, help="kangaroo: ViT heads (default: from the stored RoPE table, else head width 64)."),
    ] = None,
    vision_feature_layer: Annotated[
        int | None,
        typer.Option(help="ViT hidden layer the LLM reads (default: kangaroo: the config's mm_vision_select_layer, "
                          "else -2; video-ccam: -2, its visual_select_layer)."),
    ] = None,
    rope_scaling: Annotated[
        RopeScaling | None,
        typer.Option(help="Stretch the LLM's RoPE for longer contexts (off by default: answers match the release)."),
    ] = None,
    rope_factor: Annotated[
        float | None, typer.Option(min=1.0, help="How many times longer the context gets with --rope-scaling.")
    ] = None,
) -> None:
    """Convert a released checkpoint into a kangaroo model folder (safetensors, config, processor,
    tokenizer, conversion.json with the source's sha256 and the key map).

    Every source key must map onto the model and every parameter be filled; otherwise the error
    lists the unmapped and missing keys (run [bold]kangaroo inspect[/] on the source and report it).
    Video-CCAM's LLM and SigLIP are separate folders (--llm, --vision; see their defaults); its
    projector's key names are assumed (docs/checkpoints.md). A Video-CCAM v1.2 folder (merged
    weights whose names are not public) is refused with its keys listed: please report them.

    Examples:
      $ [bold]kangaroo convert ~/kangaroo-release ~/models/kangaroo-8b --from kangaroo[/]
      $ [bold]kangaroo convert ~/Video-CCAM-4B ~/models/ccam-4b --from video-ccam --merge-lora[/]
    """
    with _user_errors():
        from kangaroo.model.convert import convert_checkpoint

        def note(message: str) -> None:
            err_console.print(f"[dim]{escape(message)}[/]", highlight=False)

        options = {"rope_scaling": None if rope_scaling is None else str(rope_scaling), "rope_factor": rope_factor}
        if source == Source.video_ccam:
            if vision_heads is not None:
                raise typer.BadParameter("--vision-heads is for --from kangaroo (SigLIP's config states its heads)")
            options |= {"llm": llm, "vision": vision, "merge_lora": merge_lora,
                        "chat_template": None if chat_template is None else str(chat_template)}
            if vision_feature_layer is not None:
                options["vision_feature_layer"] = vision_feature_layer
        else:
            given = [name for name, value in (("--llm", llm), ("--vision", vision), ("--merge-lora", merge_lora),
                                              ("--chat-template", chat_template)) if value]
            if given:
                raise typer.BadParameter(f"{', '.join(given)}: for --from video-ccam only")
            options |= {"vision_heads": vision_heads, "vision_feature_layer": vision_feature_layer}
        written = convert_checkpoint(src, out, source=str(source), progress=note, **options)
        record = json.loads((written / "conversion.json").read_text(encoding="utf-8"))
        console.print(f"wrote {escape(str(written))}: {len(record['key_map'])} tensors, "
                      f"{len(record['dropped'])} source keys dropped", highlight=False)
        for setting, value in record["assumed"].items():
            console.print(f"  assumed {setting}: {escape(str(value))}", highlight=False)


@app.command("inspect", rich_help_panel=MODEL)
def inspect_command(
    checkpoint: Annotated[Path, typer.Argument(help="A weights file (.bin, .safetensors, index) or a folder.")],
    keys: Annotated[bool, typer.Option("--keys", help="List every key with its shape and dtype.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print everything as JSON.")] = False,
) -> None:
    """List a checkpoint's modules, keys, shapes, dtypes and parameter counts without loading it,
    and say which converter recognises it and what it would map.

    Example:
      $ [bold]kangaroo inspect ~/kangaroo-release --keys[/]
    """
    with _user_errors():
        from kangaroo.model.inspection import inspect_checkpoint

        described = inspect_checkpoint(checkpoint)
        if as_json:
            typer.echo(json.dumps(described, indent=2))
            return
        for entry in described:
            _print_checkpoint(entry, keys)


def _print_checkpoint(entry: dict, keys: bool) -> None:
    from rich.table import Table

    dtypes = ", ".join(f"{d} {n / 1e6:,.1f}M" for d, n in entry["dtypes"].items())
    console.print(f"[bold]{escape(entry['path'])}[/]: {entry['tensors']} tensors, "
                  f"{entry['parameters'] / 1e6:,.2f}M parameters ({dtypes})", highlight=False)
    table = Table("module", "layers", "tensors", "parameters", "dtypes", box=None)
    for module in entry["modules"]:
        table.add_row(escape(module["module"]), str(module["layers"] or ""), str(module["tensors"]),
                      f"{module['parameters']:,}", ", ".join(module["dtypes"]))
    console.print(table)
    if keys:
        for key in entry["keys"]:
            console.print(f"  {escape(key['key'])} {tuple(key['shape'])} {key['dtype']}", highlight=False)
    recognised = entry.get("recognised")
    if recognised is None:
        return
    if "convertible" not in recognised:
        console.print(f"recognised: {recognised['kind']}: {escape(recognised['note'])}", highlight=False)
        for key in recognised.get("projector_unmapped", []):
            console.print(f"  not mapped: {escape(key)}", highlight=False)
    elif recognised["convertible"]:
        console.print(f"recognised: {recognised['kind']}; [bold]kangaroo convert --from {recognised['converter']}[/] "
                      f"fills {len(recognised['maps'])} tensors and drops {len(recognised['dropped'])} keys",
                      highlight=False)
        for setting, value in recognised["assumed"].items():
            console.print(f"  assumed {setting}: {escape(str(value))}", highlight=False)
    else:
        console.print(f"recognised: {recognised['kind']}, but it does not convert:\n{escape(recognised['error'])}",
                      highlight=False)
