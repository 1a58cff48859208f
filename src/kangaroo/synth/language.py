"""Bilingual (English / Chinese) phrases for the synthetic tasks: objects, events, times,
captions, questions, answers and options.

Every sentence comes from a table of paraphrases (`TEMPLATES`), one of which the caller's rng
picks, so the same ground truth can be said several ways; `say(key, language, rng, **fields)`
formats one. Clauses are lower-case without a full stop (`event_clause`); `sentence` turns one
into a sentence. Names are fixed (``"red circle"`` / ``"红色圆形"``) so a question and its answer
always refer to an object the same way. Times are seconds with at most two decimals
(`format_seconds`): ``"at 3.5 seconds"`` / ``"在第3.5秒"``.

Nothing here decides *what* is true: the task generators pass in facts taken from the scene.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from .scene import COLOUR_NAMES_ZH, SHAPE_NAMES_ZH, Event, Scene, SceneObject

LANGUAGES: tuple[str, ...] = ("en", "zh")
LANGUAGE_CHOICES: tuple[str, ...] = ("en", "zh", "mixed")

_NUMBERS_EN = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
_NUMBERS_ZH = ("零", "一", "两", "三", "四", "五", "六", "七", "八", "九", "十")
DIRECTION_EN: dict[str, str] = {"left": "to the left", "right": "to the right", "up": "upward", "down": "downward"}
DIRECTION_ZH: dict[str, str] = {"left": "向左", "right": "向右", "up": "向上", "down": "向下"}
# Option texts for direction questions.
DIRECTION_OPTION: dict[str, dict[str, str]] = {
    "en": {"left": "left", "right": "right", "up": "up", "down": "down"},
    "zh": {"left": "向左", "right": "向右", "up": "向上", "down": "向下"},
}
# Where in the frame (3 x 3 grid: row, column).
_REGION_EN: dict[tuple[int, int], str] = {
    (0, 0): "in the top left", (0, 1): "at the top", (0, 2): "in the top right",
    (1, 0): "on the left", (1, 1): "in the centre", (1, 2): "on the right",
    (2, 0): "in the bottom left", (2, 1): "at the bottom", (2, 2): "in the bottom right",
}
_REGION_ZH: dict[tuple[int, int], str] = {
    (0, 0): "左上方", (0, 1): "上方", (0, 2): "右上方",
    (1, 0): "左侧", (1, 1): "中央", (1, 2): "右侧",
    (2, 0): "左下方", (2, 1): "下方", (2, 2): "右下方",
}

# key -> language -> paraphrases. Fields in braces are filled by `say`.
TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    # --- events (clauses) -------------------------------------------------------------------
    "event.appear": {
        "en": ("{a} appears", "{a} comes into view", "{a} shows up"),
        "zh": ("{a}出现了", "画面中出现了{a}", "{a}出现在画面中"),
    },
    "event.disappear": {
        "en": ("{the} disappears", "{the} vanishes", "{the} disappears from view"),
        "zh": ("{the}消失了", "{the}从画面中消失了", "{the}不见了"),
    },
    "event.start_moving": {
        "en": ("{the} starts moving {dir}", "{the} begins to move {dir}", "{the} sets off {dir}"),
        "zh": ("{the}开始{dir}移动", "{the}开始{dir}运动", "{the}动了起来，{dir}移动"),
    },
    "event.stop": {
        "en": ("{the} stops", "{the} stops moving", "{the} comes to a halt"),
        "zh": ("{the}停了下来", "{the}停止了移动", "{the}停住了"),
    },
    "event.change_colour": {
        "en": ("{the} turns {to}", "{the} changes colour from {from} to {to}", "{the} changes to {to}"),
        "zh": ("{the}变成了{to}", "{the}从{from}变成了{to}", "{the}的颜色变成了{to}"),
    },
    "event.collide": {
        "en": ("{the} collides with {the2}", "{the} and {the2} bump into each other", "{the} hits {the2}"),
        "zh": ("{the}与{the2}相撞", "{the}撞上了{the2}", "{the}和{the2}碰撞在一起"),
    },
    # --- claims about one object ("It turns blue"), for state-change options ---------------
    "state.appear": {"en": ("it appears",), "zh": ("它出现了",)},
    "state.disappear": {"en": ("it disappears",), "zh": ("它消失了",)},
    "state.start_moving": {"en": ("it starts moving {dir}",), "zh": ("它开始{dir}移动",)},
    "state.stop": {"en": ("it stops moving",), "zh": ("它停了下来",)},
    "state.change_colour": {"en": ("it turns {to}",), "zh": ("它变成了{to}",)},
    "state.collide": {"en": ("it collides with {the2}",), "zh": ("它与{the2}相撞",)},
    # --- event questions: "when does X happen?" (grounding) --------------------------------
    "when.appear": {
        "en": ("When does {a} appear?", "At what time does {a} come into view?"),
        "zh": ("{the}是什么时候出现的？", "{the}在第几秒出现？"),
    },
    "when.disappear": {
        "en": ("When does {the} disappear?", "At what time does {the} vanish?"),
        "zh": ("{the}是什么时候消失的？", "{the}在第几秒消失？"),
    },
    "when.start_moving": {
        "en": ("When does {the} start moving {dir}?", "At what time does {the} begin to move {dir}?"),
        "zh": ("{the}是什么时候开始{dir}移动的？", "{the}在第几秒开始{dir}移动？"),
    },
    "when.stop": {
        "en": ("When does {the} stop moving?", "At what time does {the} come to a halt?"),
        "zh": ("{the}是什么时候停下来的？", "{the}在第几秒停止移动？"),
    },
    "when.change_colour": {
        "en": ("When does {the} turn {to}?", "At what time does {the} change colour to {to}?"),
        "zh": ("{the}是什么时候变成{to}的？", "{the}在第几秒变成了{to}？"),
    },
    "when.collide": {
        "en": ("When do {the} and {the2} collide?", "At what time does {the} hit {the2}?"),
        "zh": ("{the}和{the2}是什么时候相撞的？", "{the}在第几秒撞上了{the2}？"),
    },
    "when.moving_span": {
        "en": ("During which time is {the} moving {dir}?", "Over what time span does {the} move {dir}?"),
        "zh": ("{the}在哪段时间内{dir}移动？", "{the}{dir}移动的时间段是什么？"),
    },
    "when.visible_span": {
        "en": ("During which time is {the} visible?", "From when to when can {the} be seen?"),
        "zh": ("{the}在哪段时间内可见？", "{the}从第几秒到第几秒出现在画面中？"),
    },
    "answer.time": {
        "en": ("At {t} seconds.", "It happens at {t} seconds.", "Around {t} seconds into the video."),
        "zh": ("在第{t}秒。", "发生在第{t}秒。", "大约在视频的第{t}秒。"),
    },
    "answer.span": {
        "en": ("From {a} to {b} seconds.", "Between {a} and {b} seconds."),
        "zh": ("从第{a}秒到第{b}秒。", "在第{a}秒到第{b}秒之间。"),
    },
    # --- look: one word read off the first frame -------------------------------------------------
    "look.colour": {
        "en": ("What colour is the {shape} at the start?", "At the start, what colour is the {shape}?"),
        "zh": ("开始时{shape}是什么颜色？", "视频开始时，{shape}是什么颜色的？"),
    },
    "look.shape": {
        "en": ("What shape is the {colour} object at the start?", "At the start, which shape is {colour}?"),
        "zh": ("开始时{colour}的物体是什么形状？", "视频开始时，{colour}的是什么图形？"),
    },
    "look.side": {
        "en": ("Is {the} on the left or the right at the start?", "At the start, is {the} left or right?"),
        "zh": ("开始时{the}在左边还是右边？", "视频开始时，{the}在画面左边还是右边？"),
    },
    "look.height": {
        "en": ("Is {the} near the top or the bottom at the start?", "At the start, is {the} high or low?"),
        "zh": ("开始时{the}靠近上方还是下方？", "视频开始时，{the}在画面上方还是下方？"),
    },
    "look.count": {
        "en": ("How many objects are there at the start?", "At the start, how many shapes can be seen?"),
        "zh": ("开始时有几个物体？", "视频开始时能看到几个图形？"),
    },
    # --- multiple choice ------------------------------------------------------------------------
    "mcq.direction": {
        "en": (
            "In which direction does {the} start moving{when}?",
            "Which way does {the} go when it starts moving{when}?",
            "What direction does {the} begin to move in{when}?",
        ),
        "zh": ("{the}{when}开始朝哪个方向移动？", "{the}{when}开始向哪个方向运动？"),
    },
    "mcq.moving_direction": {
        "en": ("Which way is {the} moving {time}?", "In which direction is {the} moving {time}?"),
        "zh": ("{time}，{the}正在朝哪个方向移动？", "{time}，{the}向哪个方向运动？"),
    },
    "mcq.count_total": {
        "en": (
            "How many objects are shown in the video in total?",
            "Counting every shape that is visible at some point, how many objects are there?",
        ),
        "zh": ("视频中总共出现了多少个物体？", "整个视频里一共能看到几个图形？"),
    },
    "mcq.count_visible": {
        "en": ("How many objects are visible {time}?", "How many shapes can be seen {time}?"),
        "zh": ("{time}，画面中有几个物体？", "{time}，画面里能看到几个图形？"),
    },
    "mcq.count_colour_changes": {
        "en": ("How many times does {the} change colour?", "How often does {the} change its colour?"),
        "zh": ("{the}一共变了几次颜色？", "{the}的颜色一共改变了几次？"),
    },
    "mcq.count_collisions": {
        "en": ("How many collisions happen in the video?", "How many times do two objects collide?"),
        "zh": ("视频中一共发生了几次碰撞？", "物体之间一共相撞了几次？"),
    },
    "mcq.after": {
        "en": ("What happens right after {e}?", "What is the next thing that happens after {e}?"),
        "zh": ("{e}之后紧接着发生了什么？", "{e}之后，下一件发生的事情是什么？"),
    },
    "mcq.before": {
        "en": ("What happens just before {e}?", "What is the last thing that happens before {e}?"),
        "zh": ("{e}之前刚刚发生了什么？", "在{e}之前，最近发生的一件事是什么？"),
    },
    "mcq.first": {
        "en": ("Which of these happens first?", "Which of the following events happens earliest in the video?"),
        "zh": ("下列哪件事最先发生？", "以下哪个事件在视频中最早发生？"),
    },
    "mcq.colour_to": {
        "en": ("What colour does {the} turn into{when}?", "What colour does {the} change to{when}?"),
        "zh": ("{the}{when}变成了什么颜色？", "{the}{when}的颜色变成了什么？"),
    },
    "mcq.colour_from": {
        "en": ("What colour was the {shape} before it turned {to}?", "Before it changed to {to}, what colour was the {shape}?"),
        "zh": ("{shape}变成{to}之前是什么颜色？", "在变成{to}之前，{shape}是什么颜色的？"),
    },
    "mcq.state": {
        "en": ("What happens to {the} {time}?", "What does {the} do {time}?"),
        "zh": ("{time}，{the}发生了什么变化？", "{time}，{the}怎么了？"),
    },
    "mcq.appear": {
        "en": ("Which object appears partway through the video?", "Which new object comes into view during the video?"),
        "zh": ("视频中途出现了哪个物体？", "视频播放过程中，哪个新物体出现在画面里？"),
    },
    "mcq.disappear": {
        "en": ("Which object disappears during the video?", "Which object vanishes before the video ends?"),
        "zh": ("视频中哪个物体消失了？", "哪个物体在视频结束前不见了？"),
    },
    "mcq.end_event": {
        "en": ("What happens last in the video?", "What is the last thing that happens in the video?"),
        "zh": ("视频中最后发生了什么？", "视频中最后发生的一件事是什么？"),
    },
    "mcq.end_visible": {
        "en": ("Which object is still visible at the end of the video?", "Which of these objects can still be seen when the video ends?"),
        "zh": ("视频结束时，哪个物体仍然可见？", "视频结束时，下列哪个物体还在画面中？"),
    },
    "mcq.end_colour": {
        "en": ("What colour is {the} at the end of the video?", "By the end of the video, what colour is {the}?"),
        "zh": ("视频结束时，{the}是什么颜色？", "到视频结尾时，{the}是什么颜色的？"),
    },
    "mcq.instruction": {
        "en": (
            "Answer with the option's letter from the given choices directly.",
            "Choose the correct option and answer with its letter.",
            "Select the best answer from the options above.",
        ),
        "zh": ("请直接回答正确选项的字母。", "请从上面的选项中选出正确答案。", "请选择正确的选项，并回答其字母。"),
    },
    "mcq.options_header": {"en": ("Options:",), "zh": ("选项：",)},
    # --- open answers -----------------------------------------------------------------------------
    "answer.direction": {"en": ("It moves {dir}.", "It heads {dir}."), "zh": ("它{dir}移动。", "它开始{dir}运动。")},
    "answer.colour_to": {"en": ("It turns {to}.", "It changes to {to}."), "zh": ("它变成了{to}。", "它的颜色变成了{to}。")},
    "answer.colour_from": {"en": ("It was {from}.", "It was {from} before that."), "zh": ("它原来是{from}。", "在那之前它是{from}的。")},
    "answer.count": {
        "en": ("There are {n} objects.", "{N} objects in total."),
        "zh": ("一共有{n}个物体。", "总共{n}个。"),
    },
    "answer.count_one": {"en": ("There is one object.", "Just one object."), "zh": ("只有一个物体。", "一共一个。")},
    "answer.event": {"en": ("{E}.",), "zh": ("{E}。",)},
    "answer.event_at": {"en": ("{E} {time}.", "{Time}, {e}."), "zh": ("{time}，{e}。", "{e}，发生在第{t}秒。")},
    "answer.nothing_after": {
        "en": ("Nothing else happens to it after that.", "After that, nothing more happens to it."),
        "zh": ("在那之后它就没有别的变化了。", "之后它没有再发生什么。"),
    },
    "answer.visible_end_yes": {
        "en": ("Yes, it is still visible at the end.", "Yes, it can still be seen when the video ends."),
        "zh": ("是的，视频结束时它仍然可见。", "是的，到最后它还在画面中。"),
    },
    "answer.visible_end_no": {
        "en": ("No, it disappears at {t} seconds.", "No, it vanishes at {t} seconds."),
        "zh": ("不，它在第{t}秒消失了。", "不是，它在第{t}秒就不见了。"),
    },
    "answer.object": {"en": ("{A}.", "It is {a}."), "zh": ("{a}。", "是{a}。")},
    "answer.end_colour": {"en": ("It is {c} at the end.", "{C}."), "zh": ("最后它是{c}。", "{c}。")},
    # --- open questions -------------------------------------------------------------------------
    "open.colour_to": {"en": ("What colour does {the} turn into?",), "zh": ("{the}变成了什么颜色？",)},
    "open.direction": {"en": ("In which direction does {the} start moving{when}?",), "zh": ("{the}{when}开始朝哪个方向移动？",)},
    "open.after": {"en": ("What happens right after {e}?",), "zh": ("{e}之后紧接着发生了什么？",)},
    "open.count_total": {"en": ("How many objects appear in the video in total?",), "zh": ("视频中总共出现了多少个物体？",)},
    "open.appear": {"en": ("What appears partway through the video?", "Which object comes into view during the video?"),
                    "zh": ("视频中途出现了什么？", "视频播放过程中，哪个物体出现在画面里？")},
    "open.end_colour": {"en": ("What colour is {the} at the end of the video?",), "zh": ("视频结束时，{the}是什么颜色？",)},
    "open.describe_object": {
        "en": ("What does {the} do in this video?", "Describe what happens to {the}."),
        "zh": ("{the}在视频中做了什么？", "请描述{the}经历了什么。"),
    },
    # --- multi-round openers and follow-ups -------------------------------------------------------
    "turn.which_changes": {
        "en": ("Which object changes colour in this video, and what does it change to?", "Does anything change colour? What happens?"),
        "zh": ("视频中哪个物体变了颜色？变成了什么颜色？", "有东西变色吗？发生了什么？"),
    },
    "turn.which_changes_answer": {"en": ("{E}.", "{E} {time}."), "zh": ("{e}。", "{time}，{e}。")},
    "turn.first_event": {
        "en": ("What is the first thing that happens in the video?", "What happens first?"),
        "zh": ("视频里最先发生了什么？", "最先发生的是什么？"),
    },
    "turn.describe_object": {"en": ("What does {the} do?", "Tell me about {the}."), "zh": ("{the}做了什么？", "说说{the}吧。")},
    "follow.colour_before": {
        "en": ("And what colour was it before that?", "What colour was it before the change?"),
        "zh": ("那它之前是什么颜色的？", "变色之前它是什么颜色？"),
    },
    "follow.when": {
        "en": ("When did that happen?", "At what time was that?"),
        "zh": ("那是什么时候发生的？", "那件事发生在第几秒？"),
    },
    "follow.next": {
        "en": ("What does it do after that?", "And what happens to it next?"),
        "zh": ("那之后它又怎么样了？", "接下来它发生了什么？"),
    },
    "follow.visible_end": {
        "en": ("Is it still visible at the end of the video?", "Can it still be seen when the video ends?"),
        "zh": ("视频结束时它还在画面中吗？", "到最后还能看到它吗？"),
    },
    "follow.end_colour": {
        "en": ("What colour is it at the very end?", "And what colour is it when the video ends?"),
        "zh": ("视频结束时它是什么颜色？", "那到最后它是什么颜色的？"),
    },
    # --- captions ---------------------------------------------------------------------------------
    "caption.short.none": {
        "en": ("{Objs} on {bg}; nothing else happens.", "A still scene with {objs}."),
        "zh": ("{bg}上有{objs}，没有发生其他变化。", "一段静止的画面，其中有{objs}。"),
    },
    "caption.short.one": {
        "en": ("A short clip of {objs} in which {e1}.", "{Objs} on {bg}; {e1}.", "In this video, {e1}."),
        "zh": ("一段包含{objs}的短视频，其中{e1}。", "{bg}上有{objs}，{e1}。", "视频中，{e1}。"),
    },
    "caption.short.two": {
        "en": ("A short clip of {objs} in which {e1}, then {e2}.", "{Objs} on {bg}; {e1}, then {e2}.",
               "In this video, {e1} and then {e2}."),
        "zh": ("一段包含{objs}的短视频，其中{e1}，随后{e2}。", "画面中有{objs}，{e1}，然后{e2}。", "视频中，{e1}，接着{e2}。"),
    },
    "caption.start": {
        "en": ("At the start, {objs} {be} visible.", "The video opens with {objs}.", "The video begins with {objs} on {bg}."),
        "zh": ("视频开始时，画面中有{objs}。", "画面一开始，{bg}上有{objs}。"),
    },
    "caption.start_empty": {
        "en": ("The video starts with an empty background.", "At first the background is empty."),
        "zh": ("视频开始时画面是空的。", "一开始画面中什么也没有。"),
    },
    "caption.moving_from_start": {"en": ("{The} is moving {dir}.",), "zh": ("{the}正在{dir}移动。",)},
    "caption.events_at": {"en": ("{Time}, {es}.", "{Time}, {es}."), "zh": ("{time}，{es}。", "{time}，{es}。")},
    "caption.end": {
        "en": ("At the end of the video, {objs} {be} visible.", "When the video ends, {objs} {be} left."),
        "zh": ("视频结束时，画面中还剩下{objs}。", "到视频结尾，画面里有{objs}。"),
    },
    "caption.end_empty": {
        "en": ("By the end, no objects are left.", "At the end of the video the background is empty."),
        "zh": ("视频结束时，画面中已经没有任何物体。", "到最后画面里什么都不剩了。"),
    },
    "caption.cut": {
        "en": ("{Time}, the scene cuts to a different background.", "{Time} there is a hard cut to a new background."),
        "zh": ("{time}，画面切换到了另一个背景。", "{time}，场景突然切换。"),
    },
    "caption.text": {
        "en": ('The text "{text}" is overlaid on the video.', 'A caption reading "{text}" covers part of the frame.'),
        "zh": ("视频上叠加了文字“{text}”。", "画面的一部分被文字“{text}”覆盖。"),
    },
    "caption.face": {"en": ("A face-like pattern is also visible.",), "zh": ("画面中还有一个类似人脸的图案。",)},
    "caption.static": {"en": ("Almost nothing moves.",), "zh": ("画面几乎静止不动。",)},
    "image.caption": {
        "en": ("{Objs}.", "An image of {objs}.", "A picture showing {objs}."),
        "zh": ("{objs}。", "一张图片，{objs}。", "图中{objs}。"),
    },
    "image.empty": {"en": ("An empty {bg_bare}.",), "zh": ("一张只有{bg}的图片。",)},
    "prompt.caption_short": {
        "en": ("Describe this video briefly.", "Give a one-sentence summary of the video.", "What is this video about?"),
        "zh": ("请简要描述这个视频。", "用一句话概括这个视频。", "这个视频讲了什么？"),
    },
    "prompt.caption_detailed": {
        "en": ("Describe this video in detail.", "Please give a detailed description of what happens in the video, with times.",
               "Describe everything that happens in this video, in order."),
        "zh": ("请详细描述这个视频。", "请按时间顺序详细描述视频中发生的事情。", "详细说明视频里发生了什么，并给出时间。"),
    },
    "prompt.image_caption": {
        "en": ("Describe this image.", "What is in this picture?", "Write a short caption for this image."),
        "zh": ("请描述这张图片。", "这张图片里有什么？", "为这张图片写一句简短的说明。"),
    },
    # --- needle ------------------------------------------------------------------------------------
    "needle.what": {
        "en": ("At one point in this video an object appears for only a moment. What is it?",
               "Something shows up very briefly somewhere in this long video. What is it?"),
        "zh": ("视频中的某个时刻有一个物体一闪而过，它是什么？", "在这段长视频的某处，有个东西短暂地出现了，它是什么？"),
    },
    "needle.what_mcq": {
        "en": ("Which object appears only briefly at some point in the video?",),
        "zh": ("视频中哪个物体只短暂地出现了一下？",),
    },
    "needle.when": {
        "en": ("At what time does {the} briefly appear?", "When does {the} show up in the video?"),
        "zh": ("{the}是在第几秒短暂出现的？", "{the}在视频中什么时候出现？"),
    },
    "needle.colour": {
        "en": ("What colour is the {shape} that appears briefly in the video?",),
        "zh": ("视频中短暂出现的{shape}是什么颜色？",),
    },
}


def say(key: str, language: str, rng: random.Random, variant: int | None = None, **fields: object) -> str:
    """One paraphrase of ``TEMPLATES[key][language]``, formatted with ``fields`` (extra fields are
    ignored). The rng picks it, or ``variant`` does (modulo the count: options of one question
    share a style). Raises KeyError for an unknown key or language, or a missing field.
    """
    options = TEMPLATES[key][language]
    if variant is not None:
        template = options[variant % len(options)]
    else:
        template = options[rng.randrange(len(options))] if len(options) > 1 else options[0]
    return template.format(**fields)


def capitalise(text: str) -> str:
    """First letter upper case (English); Chinese is unchanged."""
    return text[:1].upper() + text[1:]


def sentence(clause: str, language: str) -> str:
    """``"the red circle stops"`` -> ``"The red circle stops."`` / ``"红色圆形停了下来。"``."""
    return capitalise(clause) + ("." if language == "en" else "。")


def format_seconds(t: float) -> str:
    """``3.5`` -> ``"3.5"``, ``2.0`` -> ``"2"``, ``1.25`` -> ``"1.25"`` (two decimals at most)."""
    text = f"{t:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def time_phrase(t: float, language: str) -> str:
    """``"at 3.5 seconds"`` / ``"在第3.5秒"``."""
    if language == "zh":
        return f"在第{format_seconds(t)}秒"
    unit = "second" if format_seconds(t) == "1" else "seconds"
    return f"at {format_seconds(t)} {unit}"


def span_phrase(start: float, end: float, language: str) -> str:
    """``"from 2.5 to 4 seconds"`` / ``"从第2.5秒到第4秒"``."""
    if language == "zh":
        return f"从第{format_seconds(start)}秒到第{format_seconds(end)}秒"
    return f"from {format_seconds(start)} to {format_seconds(end)} seconds"


def colour_word(colour: str, language: str) -> str:
    """``"blue"`` / ``"蓝色"``."""
    return COLOUR_NAMES_ZH[colour] if language == "zh" else colour


def shape_word(shape: str, language: str) -> str:
    """``"circle"`` / ``"圆形"``."""
    return SHAPE_NAMES_ZH[shape] if language == "zh" else shape


def object_name(colour: str, shape: str, language: str) -> str:
    """``"red circle"`` / ``"红色圆形"`` (the same as `SceneObject.name`)."""
    return colour_word(colour, language) + shape_word(shape, language) if language == "zh" else f"{colour} {shape}"


def the(colour: str, shape: str, language: str) -> str:
    """Definite reference: ``"the red circle"`` / ``"红色圆形"``."""
    name = object_name(colour, shape, language)
    return name if language == "zh" else f"the {name}"


def indefinite(colour: str, shape: str, language: str) -> str:
    """``"a red circle"``, ``"an orange star"`` / ``"一个红色圆形"``."""
    name = object_name(colour, shape, language)
    if language == "zh":
        return "一个" + name
    return ("an " if name[0] in "aeiou" else "a ") + name


SIDE_WORDS: dict[str, dict[str, str]] = {
    "en": {"left": "left", "right": "right", "top": "top", "bottom": "bottom"},
    "zh": {"left": "左边", "right": "右边", "top": "上方", "bottom": "下方"},
}


def number_word(n: int, language: str) -> str:
    """``2`` -> ``"two"`` / ``"两"``; numbers above ten as digits."""
    words = _NUMBERS_ZH if language == "zh" else _NUMBERS_EN
    return words[n] if 0 <= n < len(words) else str(n)


def _plural(shape: str) -> str:
    return shape + "s"


def count_phrase(n: int, colour: str, shape: str, language: str) -> str:
    """``"two red circles"`` / ``"两个红色圆形"`` (``n == 1``: the indefinite form)."""
    if n == 1:
        return indefinite(colour, shape, language)
    if language == "zh":
        return number_word(n, "zh") + "个" + object_name(colour, shape, "zh")
    return f"{number_word(n, 'en')} {colour} {_plural(shape)}"


def join_list(items: Sequence[str], language: str) -> str:
    """``"a, b and c"`` / ``"a、b和c"``."""
    items = list(items)
    if not items:
        return ""
    if len(items) == 1:
        return items[0]
    if language == "zh":
        return "、".join(items[:-1]) + "和" + items[-1]
    return ", ".join(items[:-1]) + " and " + items[-1]


def objects_phrase(pairs: Sequence[tuple[str, str]], language: str) -> str:
    """Indefinite list of objects given as ``(colour, shape)`` pairs, equal ones counted:
    ``"two red circles and a blue square"`` / ``"两个红色圆形和一个蓝色正方形"``."""
    counts: dict[tuple[str, str], int] = {}
    for pair in pairs:
        counts[pair] = counts.get(pair, 0) + 1
    return join_list([count_phrase(n, c, s, language) for (c, s), n in counts.items()], language)


_BACKGROUND_EN = {"gradient": "a gradient background", "checker": "a checkered background",
                  "noise": "a mottled background"}
_BACKGROUND_ZH = {"gradient": "渐变背景", "checker": "棋盘格背景", "noise": "斑驳的背景"}


def background_phrase(scene: Scene, language: str, t: float = 0.0) -> str:
    """The texture of the shot shown at ``t``: ``"a checkered background"`` / ``"棋盘格背景"``."""
    shots = scene.background.get("shots") or [{}]
    shot = shots[min(sum(1 for c in scene.cuts if c <= t), len(shots) - 1)]
    table = _BACKGROUND_ZH if language == "zh" else _BACKGROUND_EN
    return table.get(str(shot.get("kind")), "背景" if language == "zh" else "a plain background")


def region(x: float, y: float, margin: float = 0.04) -> tuple[int, int] | None:
    """The cell ``(row, column)`` of a 3 x 3 grid that holds the normalised point ``(x, y)``, or
    None when it lies within ``margin`` of a grid line (where "left" or "centre" is unclear)."""
    cells = []
    for v in (y, x):
        cell = min(2, max(0, int(v * 3)))
        if any(abs(v - line) < margin for line in (1 / 3, 2 / 3)):
            return None
        cells.append(cell)
    return cells[0], cells[1]


def region_phrase(cell: tuple[int, int], language: str) -> str:
    """``"in the top left"`` / ``"左上方"``."""
    return _REGION_ZH[cell] if language == "zh" else _REGION_EN[cell]


def event_fields(scene: Scene, event: Event, language: str) -> dict[str, str]:
    """The fields event templates use, with each object named by its colour just before the event
    (the ``from`` colour of a colour change)."""
    obj = scene.object(event.objects[0])
    colour = event_colour(obj, event)
    fields = {
        "the": the(colour, obj.shape, language),
        "a": indefinite(colour, obj.shape, language),
        "name": object_name(colour, obj.shape, language),
    }
    if event.kind == "start_moving":
        direction = event.details["direction"]
        fields["dir"] = DIRECTION_ZH[direction] if language == "zh" else DIRECTION_EN[direction]
    if event.kind == "change_colour":
        fields["from"] = colour_word(event.details["from"], language)
        fields["to"] = colour_word(event.details["to"], language)
    if event.kind == "collide":
        other = scene.object(event.objects[1])
        fields["the2"] = the(other.colour_at(event.time), other.shape, language)
    return fields


def event_colour(obj: SceneObject, event: Event) -> str:
    """The colour an event's first object has as the event happens (before a colour change)."""
    if event.kind == "change_colour" and event.objects[0] == obj.id:
        return str(event.details["from"])
    return obj.colour_at(event.time)


def event_clause(scene: Scene, event: Event, language: str, rng: random.Random, variant: int | None = None) -> str:
    """``"the red circle turns blue"`` / ``"红色圆形变成了蓝色"`` (no capital, no full stop)."""
    return say("event." + event.kind, language, rng, variant, **event_fields(scene, event, language))


def state_clause(scene: Scene, event: Event, language: str, rng: random.Random, variant: int | None = None) -> str:
    """A claim about the event's first object as ``it``: ``"it turns blue"`` / ``"它变成了蓝色"``."""
    return say("state." + event.kind, language, rng, variant, **event_fields(scene, event, language))


def embedded(clause: str, language: str) -> str:
    """A clause inside another sentence ("after X, ..."): Chinese drops the aspect particle 了
    (``"红色圆形停了下来"`` -> ``"红色圆形停下来之后"``); English is unchanged."""
    return clause.replace("了", "") if language == "zh" else clause


def join_clauses(clauses: Sequence[str], language: str) -> str:
    """Clauses that happen together: ``"a, b and c"`` / ``"a，同时b"``."""
    return "，同时".join(clauses) if language == "zh" else join_list(clauses, language)


def content_words(language: str) -> dict[str, tuple[str, ...]]:
    """The world's content words in ``language``, as ``{concept: accepted forms}``: every colour,
    shape and direction and the numbers up to ten (``"colour:blue": ("blue",)``, ``"shape:star":
    ("star", "stars")``, ``"direction:up": ("up", "upward", "upwards")``, ``"number:2": ("two",
    "2")``; Chinese: ``("蓝色",)``, ``("向上", "往上", "朝上")``, ``("两个", "二个", "2个")``). In
    Chinese a number counts only with its measure word (三角形 is a shape) and one not at all
    (一个 is also "a"). What an answer about the world must name; the eval harness's keyword
    recall is read with it."""
    words: dict[str, tuple[str, ...]] = {}
    for colour in COLOUR_NAMES_ZH:
        words[f"colour:{colour}"] = (COLOUR_NAMES_ZH[colour],) if language == "zh" else (colour,)
    for shape in SHAPE_NAMES_ZH:
        words[f"shape:{shape}"] = (SHAPE_NAMES_ZH[shape],) if language == "zh" else (shape, _plural(shape))
    for direction, phrase in (DIRECTION_ZH if language == "zh" else DIRECTION_EN).items():
        forms = (phrase, "往" + phrase[1:], "朝" + phrase[1:]) if language == "zh" else (
            direction, f"{direction}ward", f"{direction}wards")
        words[f"direction:{direction}"] = forms
    for n in range(11):
        word = number_word(n, language)
        if language != "zh":
            words[f"number:{n}"] = (word, str(n))
        elif n != 1:
            words[f"number:{n}"] = tuple(f"{w}个" for w in ((word, "二", str(n)) if word == "两" else (word, str(n))))
    return words


def direction_phrase(direction: str, language: str) -> str:
    """``"to the left"`` / ``"向左"``."""
    return DIRECTION_ZH[direction] if language == "zh" else DIRECTION_EN[direction]


def format_options(question: str, options: Sequence[str], language: str, rng: random.Random) -> str:
    """A multiple-choice prompt: the question, the lettered options, an instruction."""
    lines = [question, say("mcq.options_header", language, rng)]
    lines += [f"({letter}) {text}" for letter, text in zip("ABCDEFGH", options, strict=False)]
    lines.append(say("mcq.instruction", language, rng))
    return "\n".join(lines)


def lettered_reply(text: str, letter: str) -> str:
    """``"blue circle (B)"``: a multiple-choice reply followed by its letter, the world's reply form
    before replies became the option's text alone. The shipped world tokenizer was trained on it
    (`kangaroo.synth.corpus.world_texts`), and `scripts/letter_lookup_probe.py` asks for it."""
    return f"{text} ({letter})"
