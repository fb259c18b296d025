"""Practice: the course's table of (input, kernel, padding, stride, output) with one field blank,
new random questions, and answers checked with the step that went wrong named."""
from __future__ import annotations

import math
import random
from dataclasses import dataclass

from playground.arithmetic.sizes import Formula, explain, output_size

FIELDS = ("input", "kernel", "padding", "stride", "output")
QUESTION_LAYERS = {"conv": "conv", "pool": "max-pool"}   # a question's kind, and its name in words


@dataclass
class Question:
    """One line of the practice table: (input, kernel, padding, stride, output) with ``blank`` the
    field to fill. ``kind`` "conv" or "pool". ``prompt`` says it in words; ``chain`` names the
    question whose output is this one's input (the ResNet stem), or None."""
    qid: str
    prompt: str
    input: int
    kernel: int
    padding: int
    stride: int
    output: int
    blank: str = "output"
    kind: str = "conv"
    chain: str | None = None

    def values(self) -> dict[str, int]:
        return {f: getattr(self, f) for f in FIELDS}

    def row(self, blank_mark: str = "?") -> dict[str, int | str]:
        """The line as shown: the layer in words, then the fields with ``blank_mark`` in the blank."""
        return {"layer": QUESTION_LAYERS[self.kind],
                **{f: blank_mark if f == self.blank else v for f, v in self.values().items()}}

    @property
    def answer(self) -> int:
        return getattr(self, self.blank)


def _q(qid, prompt, inp, k, p, s, blank="output", kind="conv", chain=None) -> Question:
    return Question(qid, prompt, inp, k, p, s, output_size(inp, k, s, p, kind=kind), blank, kind, chain)


def course_questions() -> list[Question]:
    """The course's practice questions and its table of (input, kernel, padding, stride, output).
    Every output is computed with :func:`output_size`."""
    return [
        _q("q1", "A 64x64 input, kernel 3, padding 0, stride 1: what is the output size?", 64, 3, 0, 1),
        _q("q2", "A 64x64 input, kernel 3, padding 1, stride 2: what is the output size?", 64, 3, 1, 2),
        _q("stem-conv", "The ResNet stem: a 224x224 image, conv kernel 7, padding 3, stride 2: "
           "output size?", 224, 7, 3, 2),
        _q("stem-pool", "...then the stem's max-pool, kernel 3, stride 2, padding 1: output size?",
           112, 3, 1, 2, kind="pool", chain="stem-conv"),
        _q("t1", "6x6 image, 3x3 kernel (the edge example)", 6, 3, 0, 1),
        _q("t2", "5x5 image, 3x3 kernel (the vertical-edge example)", 5, 3, 0, 1),
        _q("t3", "32x32, keep the size with a 3x3 kernel", 32, 3, 1, 1, blank="padding"),
        _q("t4", "28x28 MNIST digit, 5x5 kernel", 28, 5, 0, 1),
        _q("t5", "Halve 32x32 with a 3x3 kernel", 32, 3, 1, 2, blank="stride"),
        _q("t6", "Which kernel turns 32 into 28?", 32, 5, 0, 1, blank="kernel"),
        _q("t7", "2x2 max-pool, stride 2 on 28x28", 28, 2, 0, 2, kind="pool"),
        _q("t8", "Stride that does not divide evenly", 7, 3, 0, 2),
        _q("t9", "What input gives 56 after kernel 3, padding 1, stride 2?", 112, 3, 1, 2, blank="input"),
    ]


def random_question(seed: int | None = None, *, kind: str | None = None, blank: str | None = None
                    ) -> Question:
    """A new valid question: random input/kernel/padding/stride and a random field left blank."""
    rng = random.Random(seed)
    kind = kind or rng.choice(["conv", "conv", "conv", "pool"])
    while True:
        inp = rng.choice([5, 6, 7, 9, 12, 14, 16, 24, 28, 31, 32, 56, 64, 100, 112, 128, 224])
        if kind == "pool":
            k = rng.choice([2, 2, 3, 3, 4])
            s = rng.choice([1, 2, 2, 3])
            p = rng.randint(0, k // 2)
        else:
            k = rng.choice([1, 3, 3, 3, 5, 5, 7])
            s = rng.choice([1, 1, 2, 2, 3])
            p = rng.randint(0, k // 2 + 1)
        try:
            out = output_size(inp, k, s, p, kind=kind)
        except ValueError:
            continue
        b = blank or rng.choice(["output", "output", "output", "padding", "stride", "kernel", "input"])
        prompt = f"A {QUESTION_LAYERS[kind]} layer: fill in the {b}."
        return Question(f"r{seed}", prompt, inp, k, p, s, out, b, kind)


@dataclass
class Verdict:
    """Whether an answer is right, why, and the formula worked with the right numbers."""
    correct: bool
    message: str
    formula: Formula | None   # None when the answer is not a whole number


def _mistakes(q: Question) -> list[tuple[int, str]]:
    """Answers a student gets by a known slip, and the slip in words (output blanks)."""
    n, k, p, s = q.input, q.kernel, q.padding, q.stride
    out = []

    def add(value, why):
        if isinstance(value, (int, float)) and value == int(value):
            out.append((int(value), why))
    add((n - k + 2 * p) // s, "You forgot the final +1: the first window sits at position 0 and "
                              "counts too.")
    add((n - k) // s + 1, "You left out the padding: it adds 2*p (p on each side) before the kernel "
                          "is subtracted.")
    add((n - k + p) // s + 1, "You added the padding once; it goes on both sides, so add 2*p.")
    add(n - k + 2 * p + 1, "You forgot to divide by the stride.")
    add(math.ceil((n - k + 2 * p) / s) + 1, "You rounded up; PyTorch rounds down (floor): a window "
                                            "that would run past the padded input is dropped.")
    add((n - k + 2 * p) / s + 1, "You forgot to round down: the division must be floored.")
    add((n + k + 2 * p) // s + 1, "You added the kernel size; subtract it: the kernel must fit "
                                  "inside the padded input.")
    add(n // s, "You divided the input by the stride; that ignores the kernel and the padding.")
    return out


def check_answer(q: Question, answer) -> Verdict:
    """Is ``answer`` right for the blank of ``q``? Non-output blanks accept every value that makes
    the row true (several inputs can give the same output when the stride is > 1). A wrong answer
    is explained: which step went wrong, and the formula with the right numbers."""
    try:
        value = float(answer)
    except (TypeError, ValueError):
        return Verdict(False, f"{answer!r} is not a number; type a whole number.", None)
    if not value.is_integer():
        return Verdict(False, f"Sizes are whole numbers of pixels; {answer} is not one.", None)
    value = int(value)
    vals = q.values()
    right = explain(q.input, q.kernel, q.stride, q.padding, kind=q.kind)
    if q.blank == "output":
        if value == q.output:
            return Verdict(True, f"Correct: {value}.", right)
        for wrong, why in _mistakes(q):
            if wrong == value:
                return Verdict(False, f"Not {value}. {why}", right)
        return Verdict(False, f"Not {value}. Work through the formula step by step:", right)
    vals[q.blank] = value
    try:
        got = output_size(vals["input"], vals["kernel"], vals["stride"], vals["padding"], kind=q.kind)
    except ValueError as e:
        return Verdict(False, f"With {q.blank} = {value} PyTorch refuses the layer: {e}", right)
    if got == q.output:
        extra = "" if value == q.answer else f" (so does {q.answer}: with a stride several values fit)"
        return Verdict(True, f"Correct: {q.blank} = {value} gives output {got}.{extra}", right)
    mine = explain(vals["input"], vals["kernel"], vals["stride"], vals["padding"], kind=q.kind)
    return Verdict(False, f"With {q.blank} = {value} the output is {got}, not {q.output}: "
                          f"{mine.steps[-1]}. One answer that works: {q.answer}.", right)
