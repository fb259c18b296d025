"""Conv arithmetic: what one Conv2d / MaxPool2d / AvgPool2d / ConvTranspose2d layer does to a shape.

Everything here is plain Python and torch (no Streamlit), usable from a notebook::

    >>> from playground.arithmetic import output_size, explain
    >>> output_size(32, 3, stride=2, padding=1)
    16
    >>> explain(32, 3, stride=2, padding=1).steps[-1]
    'floor((32 - 3 + 2*1) / 2) + 1 = floor(15.5) + 1 = 15 + 1 = 16'

The rooms, each read top to bottom:

- ``sizes``: one dimension. :func:`output_size` is exactly what PyTorch computes and raises
  ``ValueError`` in words where PyTorch refuses; :func:`explain` fills in the formula with the
  numbers (the floor visible); :func:`same_padding` / :func:`paddings_for` solve for the padding.
- ``windows``: where the sliding windows land (:func:`window_starts`, :func:`window_taps`,
  :func:`uncovered`, and :func:`windows_along` for a picture).
- ``layer``: a whole 2-D :class:`Layer`; :func:`analyze` gives the output ``(N, C, H, W)`` as
  PyTorch's own module computes it on the ``meta`` device, parameters and MACs from
  ``torch.utils.flop_counter``; :meth:`Layer.torch_error` is what the CPU says about it.
- ``slide``: :func:`slide` runs the kernel on real values with ``F.conv2d`` / ``F.max_pool2d`` /
  ``F.avg_pool2d`` and writes out each output cell's dot product; :func:`course_examples` holds
  the course's worked examples exactly.
- ``quiz``: :func:`course_questions` / :func:`random_question` / :func:`check_answer`.
"""
from playground.arithmetic.layer import CPU_CHECK_WORK, LAYER_KINDS, Layer, Report, analyze
from playground.arithmetic.quiz import (FIELDS, QUESTION_LAYERS, Question, Verdict, check_answer,
                                        course_questions, random_question)
from playground.arithmetic.sizes import (KINDS, PADDING_WORDS, Formula, PaddingSolution, as_pair, check_whole,
                                         effective_kernel, explain, output_size, paddings_for, same_pads,
                                         same_padding, side_pads)
from playground.arithmetic.slide import (HORIZONTAL_EDGE, PRESETS, SLIDE_KINDS, VERTICAL_EDGE, Slide, Step,
                                         course_example, course_examples, format_value, image_patch,
                                         random_values, slide, starting_values, vertical_edge)
from playground.arithmetic.windows import Windows, uncovered, window_starts, window_taps, windows_along

__all__ = [
    # sizes
    "KINDS", "PADDING_WORDS", "Formula", "PaddingSolution", "as_pair", "check_whole", "effective_kernel",
    "explain", "output_size", "paddings_for", "same_pads", "same_padding", "side_pads",
    # windows
    "Windows", "uncovered", "window_starts", "window_taps", "windows_along",
    # layer
    "CPU_CHECK_WORK", "LAYER_KINDS", "Layer", "Report", "analyze",
    # slide
    "HORIZONTAL_EDGE", "PRESETS", "SLIDE_KINDS", "VERTICAL_EDGE", "Slide", "Step", "course_example",
    "course_examples", "format_value",
    "image_patch", "random_values", "slide", "starting_values", "vertical_edge",
    # quiz
    "FIELDS", "QUESTION_LAYERS", "Question", "Verdict", "check_answer", "course_questions", "random_question",
]
