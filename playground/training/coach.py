"""The coach: reads a run's curves like a teacher would and says what it sees (the loss blew
up, it is stuck at chance, it swings wildly, the network overfits, or all is well)."""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class Advice:
    kind: str          # nan, not_learning, overfitting, unstable, good
    level: str         # error, warning, info, success
    title: str
    text: str
    step: int | None = None
    epoch: int | None = None


def smooth(values: list[float], alpha: float = 0.9) -> list[float]:
    """Exponential moving average with bias correction (TensorBoard's smoothing)."""
    out, avg = [], 0.0
    for i, v in enumerate(values):
        avg = alpha * avg + (1 - alpha) * v
        out.append(avg / (1 - alpha ** (i + 1)))
    return out


def _blew_up(steps: list[dict]) -> Advice:
    bad = next((s["step"] for s in steps if not math.isfinite(s["loss"])), steps[-1]["step"] if steps else None)
    return Advice("nan", "error", "The loss became NaN / infinite: training stopped",
                  "The numbers blew up, usually because the learning rate is too high "
                  "for this network. Lower the learning rate (try 10x smaller), turn on "
                  "gradient clipping (e.g. 1.0), or use a warm-up schedule.", step=bad)


def _step_advice(steps: list[dict], num_classes: int, steps_per_epoch: int | None) -> list[Advice]:
    """Stuck at chance, or swinging wildly, judged on the recent training steps."""
    finite = [s["loss"] for s in steps if math.isfinite(s["loss"])]
    chance = math.log(max(num_classes, 2))
    window = max(20, (steps_per_epoch or 50) // 2)
    # A plateau at chance during the first epoch is normal (warm-up, BatchNorm settling): judge
    # "not learning" only after a whole epoch and two windows of steps.
    if len(finite) < max(2 * window, steps_per_epoch or 0):
        return []
    recent, early = finite[-window:], finite[:window]
    mean_recent = sum(recent) / len(recent)
    if abs(mean_recent - chance) < 0.1 * chance and mean_recent > 0.9 * min(sum(early) / len(early), chance):
        return [Advice(
            "not_learning", "warning", "Not learning: the loss is stuck at chance level",
            f"The loss stays near ln({num_classes}) = {chance:.2f}, what a model that guesses "
            "every class equally gets. Try a different learning rate (often 10x larger or "
            "smaller), check the network has activations between layers, or use Adam.",
            step=steps[-1]["step"])]
    sm = smooth(recent, 0.8)
    diffs = [abs(recent[i] - recent[i - 1]) for i in range(1, len(recent))]
    level = sum(sm[-window // 2:]) / (window // 2)
    swing = sum(diffs) / len(diffs)
    if level > 0.05 and swing > 0.6 * level and level > 0.3 * chance:
        return [Advice(
            "unstable", "warning", "Wild swings: the learning rate looks too high",
            f"From one step to the next the loss jumps by {swing:.2f} on average, about "
            f"{swing / level:.0%} of its level. Lower the learning rate, raise the batch "
            "size, or add gradient clipping.", step=steps[-1]["step"])]
    return []


def _overfitting(epochs: list[dict]) -> list[Advice]:
    """Validation loss rising for the last epochs while the training loss still falls."""
    if len(epochs) < 3:
        return []
    val = [e["val_loss"] for e in epochs]
    tr = [e["train_loss"] for e in epochs]
    best = min(range(len(val)), key=val.__getitem__)
    if best <= len(val) - 2 and val[-1] > val[best] * 1.05 and tr[-1] < tr[best]:
        return [Advice(
            "overfitting", "warning", "Overfitting: validation loss rises while training loss falls",
            f"The validation loss was lowest after epoch {epochs[best]['epoch']} "
            f"({val[best]:.3f}) and is {val[-1]:.3f} now, while the training loss keeps "
            "falling: the network memorises the training images. Add dropout or "
            "augmentation, use a smaller network, or stop at the best epoch (best.pt keeps it).",
            epoch=epochs[best]["epoch"])]
    return []


def _verdict(e: dict, num_classes: int) -> Advice:
    """A finished run with nothing else to say: healthy, or barely better than guessing."""
    if "val_miou" in e:     # a mask per image: most pixels are background, accuracy flatters
        return Advice("segment_done", "info", "Finished",
                      f"Validation mIoU {e['val_miou']:.2f}, Dice {e.get('val_dice', float('nan')):.2f}; "
                      f"pixel accuracy {e['val_acc']:.1%}. Most pixels are background, so a network that "
                      "answers \"background\" everywhere already gets a high pixel accuracy: mIoU (each "
                      "class's overlap, averaged) is the number to watch.", epoch=e["epoch"])
    chance_acc = 1 / max(num_classes, 2)
    if e["val_acc"] < 1.5 * chance_acc:
        return Advice("not_learning", "warning", "Barely better than guessing",
                      f"Validation accuracy is {e['val_acc']:.1%}; guessing gives {chance_acc:.1%}. The run "
                      "was too short or the learning rate does not suit it: train longer (more images or "
                      "epochs) or try another learning rate.", epoch=e["epoch"])
    return Advice("good", "success", "Healthy run",
                  f"Loss fell and validation accuracy reached {e['val_acc']:.1%}.", epoch=e["epoch"])


def diagnose(steps: list[dict], epochs: list[dict], num_classes: int, *, status: str = "",
             error: str = "", steps_per_epoch: int | None = None) -> list[Advice]:
    """Read the curves like a teacher would. ``steps``: [{"step", "loss", ...}],
    ``epochs``: [{"epoch", "train_loss", "val_loss", "val_acc", ...}]."""
    if status == "failed" and "NaN" in (error or "") or any(not math.isfinite(s["loss"]) for s in steps):
        return [_blew_up(steps)]
    advice = _step_advice(steps, num_classes, steps_per_epoch) + _overfitting(epochs)
    if not advice and epochs and status == "finished":
        advice.append(_verdict(epochs[-1], num_classes))
    return advice
