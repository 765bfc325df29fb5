"""``--bf16`` and ``--fp16`` through fairseq 0.12's command lines where it assumes a TPU or a GPU.

- ``--bf16``: fairseq's argparse post-processing turns it into ``--tpu`` (the option's help says "implies --tpu"),
  and the trainer then asks torch_xla for its device, which fails on anything but a TPU. Where torch_xla is not
  installed the implied ``--tpu`` is cleared, so ``--bf16`` trains in bfloat16 on the GPU (or the CPU), as it
  already does under fairseq-hydra-train, whose configs never set it.
- ``--fp16 --cpu``: fairseq's FP16Optimizer keeps its fp32 master weights in one flat buffer on the current CUDA
  device; on the CPU they are kept per parameter instead (``--fp16-no-flatten-grads``: the same arithmetic).

Both adjustments are made on the run's config just before ``call_main`` starts it, and logged.
"""
import importlib.util
import logging

from fairseq.distributed import utils as distributed_utils

from .fairseq_patch import wrap_once

logger = logging.getLogger(__name__)


def _adjust(cfg) -> None:
    common = cfg.common
    if common.bf16 and common.tpu and importlib.util.find_spec("torch_xla") is None:
        common.tpu = False
        logger.info("--bf16 without torch_xla: training in bfloat16 on the %s", "CPU" if common.cpu else "GPU")
    if common.fp16 and common.cpu and not common.fp16_no_flatten_grads:
        common.fp16_no_flatten_grads = True
        logger.info("--fp16 on the CPU: fp32 master weights kept per parameter (--fp16-no-flatten-grads)")


def half_precision_anywhere() -> None:
    @wrap_once(distributed_utils, "call_main", "adjusts_half_precision")
    def wrap(original):
        def call_main(cfg, main, **kwargs):
            _adjust(cfg)
            return original(cfg, main, **kwargs)
        return call_main
