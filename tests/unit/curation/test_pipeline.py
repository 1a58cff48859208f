"""Pipeline files: the bundled ones load; a bad file names itself and every bad key and step at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from kangaroo.curation.pipeline import PipelineError, load_pipeline, parse_pipeline

REPO = Path(__file__).resolve().parents[3]


def test_bundled_pipelines_load_in_run_order():
    for path in sorted((REPO / "recipes" / "curation").glob("*.yaml")):
        pipeline = load_pipeline(path)
        assert pipeline.steps[0].step == "scene_cut", path
        assert [s.stage for s in pipeline.steps] == sorted(s.stage for s in pipeline.steps), path
        assert pipeline.name == path.stem and pipeline.source == str(path)


def test_a_pipeline_keeps_its_settings():
    pipeline = parse_pipeline({"steps": [{"step": "text_coverage", "threshold": 0.05}, {"step": "scene_cut"}],
                               "input": {"category_from": "meta"}, "run": {"shard_size": 2, "error_budget": 0.5}},
                              "mine.yaml")
    assert [s.step for s in pipeline.steps] == ["scene_cut", "text_coverage"]  # cut first
    assert pipeline.steps[1].options == {"threshold": 0.05}
    assert (pipeline.name, pipeline.category_from, pipeline.shard_size, pipeline.error_budget) == (
        "mine", "meta", 2, 0.5)


def test_every_problem_is_named_with_the_file_and_the_step(tmp_path: Path):
    path = tmp_path / "bad.yaml"
    path.write_text(
        "stepz: []\n"
        "input: {category_from: tags}\n"
        "run: {shard_size: 0, error_budget: 2, order: cheapest}\n"
        "steps:\n"
        "  - {step: scene_cut}\n"
        "  - {step: ocr}\n"
        "  - {threshold: 0.1}\n"
        "  - {step: text_coverage, threshold: 7}\n"
        "  - {step: scene_cut}\n",
        encoding="utf-8",
    )
    with pytest.raises(PipelineError) as info:
        load_pipeline(path)
    assert info.value.source == str(path) and str(path) in str(info.value)
    errors = info.value.errors
    assert errors[:7] == [
        "stepz: unknown key; PipelineFile has steps, name, input, run",
        "input.category_from: expected one of folder, meta, none, got 'tags'",
        "run.order: expected one of cost, written, got 'cheapest'",
        "run: shard_size: must be >= 1, got 0",
        "run: error_budget: must be a fraction between 0 and 1, got 2.0",
        "steps[1]: unknown step 'ocr'; known steps: scene_cut, static_scene, face_coverage, text_coverage, "
        "category_balance, captioning, caption_refinement",
        "steps[2]: a step is a mapping with 'step: NAME' and its options",
    ]
    assert errors[7] == "steps: 'scene_cut' appears twice"
    assert errors[8].startswith("step text_coverage: ") and "threshold" in errors[8]  # the step's own check
    assert len(errors) == 9
