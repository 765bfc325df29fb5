"""Generation within the model's maximum positions, without ending a run over one setting or one input.

fairseq caps each output at the model's maximum positions (for the plugin's models these include a Linformer
control's --abc-linformer-max-len), and then asserts that --min-len fits under the cap. Here:

- ``--min-len`` beyond the longest output the model can produce is lowered to it, with a one-line warning (a
  ``--min-len`` above ``--max-len-b`` with ``--max-len-a 0`` is a one-line error: no output could satisfy both);
- ``fairseq-interactive`` skips an input line longer than the model accepts, with a one-line warning, and the
  session goes on (fairseq would end it unless --skip-invalid-size-inputs-valid-test was given).
"""
import functools
import logging
import sys

from fairseq.tasks import FairseqTask

from .errors import check

logger = logging.getLogger(__name__)


def fit_min_len(generator) -> None:
    min_len, max_len = getattr(generator, "min_len", None), getattr(generator, "max_len", None)
    if min_len is None or not max_len:
        return  # not a SequenceGenerator
    if not getattr(generator, "max_len_a", 0) and not getattr(generator, "match_source_len", False):
        budget = getattr(generator, "max_len_b", None)
        check(budget is None or min_len <= budget, f"--min-len={min_len} exceeds --max-len-b={budget}: no output "
                                                    "can be that long and that short")
    longest = max_len - 1  # the generator stops at max_len - 1 steps
    if min_len > longest:
        logger.warning(f"--min-len={min_len} is beyond the longest output the model can produce ({longest} tokens: "
                       f"its maximum positions); using --min-len {longest}")
        generator.min_len = longest


def _min_len_within_model() -> None:
    original = FairseqTask.build_generator

    @functools.wraps(original)
    def build_generator(self, models, args, *rest, **kwargs):
        generator = original(self, models, args, *rest, **kwargs)
        fit_min_len(generator)
        return generator

    FairseqTask.build_generator = build_generator


def _interactive_skips_long_lines() -> None:
    module = sys.modules.get("fairseq_cli.interactive")  # loaded only when fairseq-interactive runs
    if module is None or getattr(module.make_batches, "skips_long_lines", False):
        return
    original = module.make_batches

    def make_batches(lines, cfg, task, max_positions, encode_fn):
        cfg.dataset.skip_invalid_size_inputs_valid_test = True  # a line the model cannot take must not end a session
        served = set()
        for batch in original(lines, cfg, task, max_positions, encode_fn):
            served.update(int(i) for i in batch.ids)
            yield batch
        for index, line in enumerate(lines):
            if index not in served:
                _, lengths = task.get_interactive_tokens_and_lengths([line], encode_fn)
                logger.warning(f"input line of {lengths[0]} tokens skipped: longer than the model accepts "
                               f"(maximum positions {max_positions})")

    make_batches.skips_long_lines = True
    module.make_batches = make_batches


def generation_within_limits() -> None:
    if not getattr(FairseqTask.build_generator, "__wrapped__", None):
        _min_len_within_model()
    _interactive_skips_long_lines()
