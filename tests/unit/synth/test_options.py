"""`WorldOptions`: checked on construction (a typed error naming the option), round-trips
through plain dicts, and is what the recipe's ``data.synth[].world`` and ``kangaroo synth``'s
flags become."""

from __future__ import annotations

import json

import pytest
import yaml

from kangaroo.synth.options import WorldOptions, WorldOptionsError
from kangaroo.training.recipe import RecipeError, recipe_from_dict


def test_defaults_and_a_full_round_trip_through_json() -> None:
    assert WorldOptions().to_dict() == {"language": "en", "size": [128, 96], "duration": None, "fps": None,
                                        "text_overlay": 0.0, "static": False, "cuts": 0, "face": False}
    world = WorldOptions(language="mixed", size=(64, 48), duration=4.5, fps=6.0, text_overlay=0.25, static=True,
                         cuts=2, face=True)
    assert WorldOptions.from_dict(json.loads(json.dumps(world.to_dict()))) == world
    assert WorldOptions.from_dict({"size": [64, 48]}) == WorldOptions(size=(64, 48))  # a list becomes the tuple
    assert WorldOptions.from_dict({"size": [64, 48]}).size == (64, 48)


@pytest.mark.parametrize(
    ("values", "option"),
    [
        ({"language": "fr"}, "language"),
        ({"size": (15, 48)}, "size"),
        ({"size": (64,)}, "size"),
        ({"size": (64.0, 48)}, "size"),
        ({"duration": 0}, "duration"),
        ({"fps": -2.0}, "fps"),
        ({"text_overlay": 0.9}, "text_overlay"),
        ({"text_overlay": -0.1}, "text_overlay"),
        ({"cuts": -1}, "cuts"),
        ({"cuts": True}, "cuts"),
        ({"static": "yes"}, "static"),
        ({"face": 1}, "face"),
    ],
)
def test_a_bad_value_raises_a_typed_error_naming_the_option(values: dict, option: str) -> None:
    with pytest.raises(WorldOptionsError) as caught:
        WorldOptions(**values)
    assert caught.value.option == option
    assert str(caught.value).startswith(f"{option}: ")
    assert isinstance(caught.value, ValueError)


def test_from_dict_refuses_unknown_keys() -> None:
    with pytest.raises(WorldOptionsError, match="unknown option") as caught:
        WorldOptions.from_dict({"sizes": [64, 48]})
    assert caught.value.option == "sizes"


def test_the_recipe_synth_section_holds_world_options_and_reports_their_problems() -> None:
    data = yaml.safe_load("""
        data:
          synth:
            - {task: needle, num: 2, world: {size: [64, 48], duration: 24.0, fps: 2.0, language: zh}}
    """)
    recipe = recipe_from_dict(data)
    assert recipe.data.synth[0].world == WorldOptions(language="zh", size=(64, 48), duration=24.0, fps=2.0)
    assert recipe.to_dict()["data"]["synth"][0]["world"]["size"] == [64, 48]  # plain YAML values
    bad = yaml.safe_load("""
        data:
          synth:
            - {task: open_qa, world: {language: fr}}
            - {task: open_qa, world: {size: [64]}}
            - {task: open_qa, world: {colour: red}}
    """)
    with pytest.raises(RecipeError) as caught:
        recipe_from_dict(bad)
    errors = caught.value.errors
    assert len(errors) == 3, errors  # every problem at once
    assert errors[0].startswith("data.synth[0].world: language:")
    assert errors[1].startswith("data.synth[1].world.size:")
    assert errors[2].startswith("data.synth[2].world.colour: unknown key")
