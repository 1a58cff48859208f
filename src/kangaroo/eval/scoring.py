"""Score one reply, and aggregate scored results per task, per group and overall.

A result is one JSON object per sample (the lines of ``predictions.jsonl``): ``status`` is
``ok`` or ``error``; errors (a video that did not load, a backend failure) are never scored
as answers: they are counted and listed apart. Choice tasks report strict accuracy (the
official first-word rule), lenient accuracy (`extract_choice`) and the rate of replies no
option could be read from (counted as wrong, never dropped from the denominator). Grounding
tasks report the mean absolute error in seconds, the share within 1 second, and unparsed replies.
Open questions scored by keywords report the mean keyword recall (`kangaroo.eval.keywords`) and
the share of replies that name every keyword; a sample whose reference names no keyword is not
scored.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from .extraction import extract_choice, extract_seconds, strict_choice
from .keywords import keyword_recall
from .samples import EvalSample

WITHIN_SECONDS = 1.0  # a grounding reply this close to the truth counts as correct


def score_reply(scoring: str, sample: EvalSample, reply: str) -> dict[str, Any]:
    """The scored fields of one reply (what the model wrote after the prompt's assistant prefix)."""
    if scoring == "choice":
        strict = strict_choice(reply, len(sample.options))
        lenient = extract_choice(reply, sample.options)
        fields: dict[str, Any] = {"strict": strict, "lenient": lenient}
        if sample.answer is not None:
            fields.update(correct_strict=strict == sample.answer, correct_lenient=lenient == sample.answer)
        return fields
    if scoring == "keywords":
        if not sample.keywords:
            return {}
        recall = keyword_recall(reply, sample.keywords)
        return {"keyword_recall": recall.recall, "keywords_found": list(recall.found),
                "keywords_missing": list(recall.missing), "correct_lenient": not recall.missing}
    predicted = extract_seconds(reply)
    error = None if predicted is None or sample.answer is None else seconds_error(predicted, sample.answer)
    fields = {"predicted": list(predicted) if isinstance(predicted, tuple) else predicted, "abs_error": error}
    if sample.answer is not None:
        fields["correct_lenient"] = error is not None and error <= WITHIN_SECONDS
    return fields


def seconds_error(predicted: float | Sequence[float], truth: Any) -> float:
    """Absolute error in seconds: of each end when both are spans (their mean), else between a
    time and the other's midpoint (or time)."""
    p = [float(v) for v in (predicted if isinstance(predicted, list | tuple) else [predicted])]
    t = [float(v) for v in (truth if isinstance(truth, list | tuple) else [truth])]
    if len(p) == len(t) == 2:
        return (abs(p[0] - t[0]) + abs(p[1] - t[1])) / 2
    return abs(sum(p) / len(p) - sum(t) / len(t))


def _group_values(result: dict[str, Any], key: str) -> list[str]:
    value = result.get("groups", {}).get(key)
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def summarize(results: Iterable[dict[str, Any]], scoring: str) -> dict[str, Any]:
    """Counts and metrics (percentages, seconds) of a set of results."""
    results = list(results)
    ok = [r for r in results if r.get("status") == "ok"]
    scored = [r for r in ok if "correct_lenient" in r]
    out: dict[str, Any] = {"total": len(results), "errors": len(results) - len(ok), "scored": len(scored),
                           "unscored": len(ok) - len(scored)}
    if not scored:
        return out
    n = len(scored)
    if scoring == "choice":
        out["accuracy_strict"] = 100.0 * sum(bool(r["correct_strict"]) for r in scored) / n
        out["accuracy"] = 100.0 * sum(bool(r["correct_lenient"]) for r in scored) / n
        out["unparsed_rate"] = 100.0 * sum(r["lenient"] is None for r in scored) / n
    elif scoring == "keywords":
        out["keyword_recall"] = 100.0 * sum(float(r["keyword_recall"]) for r in scored) / n
        out["accuracy"] = 100.0 * sum(bool(r["correct_lenient"]) for r in scored) / n  # every keyword named
    else:
        errors = [r["abs_error"] for r in scored if r["abs_error"] is not None]
        out["mae_seconds"] = sum(errors) / len(errors) if errors else None
        out["accuracy"] = 100.0 * sum(bool(r["correct_lenient"]) for r in scored) / n  # within 1 s
        out["unparsed_rate"] = 100.0 * sum(r["predicted"] is None for r in scored) / n
    return out


def aggregate(results: Sequence[dict[str, Any]], scoring: str, average: str = "micro",
              average_over: str | None = None, report_groups: Sequence[str] = ()) -> dict[str, Any]:
    """``{"overall": {...}, "groups": {key: {value: {...}}}, "errors": [{id, error}]}``.

    ``average="macro"`` makes the overall ``accuracy`` (and ``accuracy_strict``) the mean of the
    per-value accuracies of ``average_over`` (MLVU's M-Avg); counts stay totals. A result whose
    group value is a list counts once under each value (LVBench's question categories).
    """
    keys = list(dict.fromkeys([*report_groups, *([average_over] if average_over else [])]))
    groups: dict[str, dict[str, Any]] = {}
    for key in keys:
        members: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for result in results:
            for value in _group_values(result, key):
                members[value].append(result)
        groups[key] = {value: summarize(rs, scoring) for value, rs in sorted(members.items())}
    overall = summarize(results, scoring)
    if average == "macro" and average_over:
        per_value = [m for m in groups[average_over].values() if "accuracy" in m]
        for metric in ("accuracy", "accuracy_strict"):
            if per_value and all(metric in m for m in per_value):
                overall[f"{metric}_micro"] = overall.get(metric)
                overall[metric] = sum(m[metric] for m in per_value) / len(per_value)
        overall["average"] = f"macro over {average_over}"
    errors = [{"id": r["id"], "error": r.get("error", "")} for r in results if r.get("status") != "ok"]
    return {"overall": overall, "groups": {k: v for k, v in groups.items() if k in report_groups or k == average_over},
            "errors": errors}
