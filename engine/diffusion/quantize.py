"""Weight quantization of a loaded transformer, in place: to fit a smaller GPU, or to compute faster.

Storage (memory plans, `engine.families.flux.memory_plan`): fp8 layerwise casting (any GPU: weights kept in fp8, each
layer cast up as it runs), int8 weight-only (torchao) and nf4 (bitsandbytes, about 0.55 bytes a weight). Speed: fp8
compute (torchao's dynamic float8 activations and weights), only where the GPU has fp8 matrix units. The optional
packages are imported when asked for, and their absence is said in words.
"""

from __future__ import annotations

from typing import Any

import torch

from engine.errors import ModelUnavailable

FP8_CAPABILITY = (8, 9)  # Ada (sm_89) and Hopper (sm_90) and later have fp8 tensor cores


def store_fp8(transformer: Any) -> None:
    """fp8 storage, each layer cast up to the compute precision as it runs: half the memory on any GPU."""
    compute_dtype = transformer.dtype
    transformer.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=compute_dtype)
    # peft gives a new LoRA its base layer's dtype, or the layer's `compute_dtype` where it has one (as bitsandbytes'
    # layers do): without this, LoRAs loaded later would be rounded to fp8 too, and fp8 cannot multiply.
    for module in transformer.modules():
        weight = getattr(module, "weight", None)
        if isinstance(weight, torch.Tensor) and weight.dtype == torch.float8_e4m3fn:
            module.compute_dtype = compute_dtype


def int8_weights(transformer: Any) -> None:
    """int8 weight-only quantization (torchao): half the bf16 memory; LoRAs still load on top (peft)."""
    try:
        from torchao.quantization import Int8WeightOnlyConfig, quantize_
    except ImportError:
        raise ModelUnavailable("int8 weights need torchao: `pip install torchao`, or free GPU memory.") from None
    quantize_(transformer, Int8WeightOnlyConfig())


_NF4_BLOCK = 64  # bitsandbytes' nf4 block size (elements sharing one scale)


def nf4_weights(transformer: Any) -> int:
    """Swap the linear layers of the transformer's blocks for bitsandbytes 4-bit (nf4) ones; returns how many.

    The weights are quantized when the model moves to its device. Embedders, norms and the output projection
    stay in their precision: they are small, and the first and last layers are the most sensitive to rounding.
    """
    try:
        import bitsandbytes as bnb
    except ImportError:
        raise ModelUnavailable(
            "nf4 weights need bitsandbytes: `pip install bitsandbytes`, or free GPU memory."
        ) from None
    swapped = 0
    compute_dtype = transformer.dtype
    for block in blocks_of(transformer):
        for parent in list(block.modules()):
            for name, child in list(parent.named_children()):
                if type(child) is not torch.nn.Linear:
                    continue
                layer = bnb.nn.Linear4bit(
                    child.in_features,
                    child.out_features,
                    bias=child.bias is not None,
                    compute_dtype=compute_dtype,
                    quant_type="nf4",
                    device="meta",  # no second full-size copy while it is built
                )
                layer.weight = bnb.nn.Params4bit(child.weight.data, requires_grad=False, quant_type="nf4")
                if child.in_features % _NF4_BLOCK:
                    # bitsandbytes 0.50 repacks nf4 weights for AVX512-BF16 CPUs at the first inference, and the
                    # packing needs whole 64-element blocks per row: narrower rows (tiny models) would crash there.
                    layer.support_avx512bf16_for_cpu = False
                if child.bias is not None:
                    layer.bias = torch.nn.Parameter(child.bias.data, requires_grad=False)
                setattr(parent, name, layer)
                swapped += 1
    if swapped == 0:
        raise ModelUnavailable("nf4: this model has no transformer blocks to quantize.")
    return swapped


def blocks_of(transformer: Any) -> list[Any]:
    """The repeated blocks of a FLUX-like transformer (double- then single-stream), where the weights are."""
    blocks: list[Any] = []
    for name in ("transformer_blocks", "single_transformer_blocks"):
        blocks.extend(getattr(transformer, name, ()))
    return blocks


def fp8_compute_refusal(device: torch.device) -> str | None:
    """Why fp8 compute cannot run on `device` (None: it can): the GPU's generation, or torchao missing."""
    if device.type != "cuda":
        return "fp8 compute needs a CUDA GPU"
    capability = torch.cuda.get_device_capability(device)
    if capability < FP8_CAPABILITY:
        return f"fp8 compute needs an Ada or Hopper GPU (sm_89+); this one is sm_{capability[0]}{capability[1]}"
    try:
        import torchao.quantization  # noqa: F401
    except ImportError:
        return "fp8 compute needs torchao: `pip install torchao`"
    return None


def fp8_compute(transformer: Any) -> None:
    """Dynamic fp8 activations and fp8 weights in the blocks' linear layers (torchao), for fp8 tensor cores."""
    from torchao.quantization import Float8DynamicActivationFloat8WeightConfig, PerRow, quantize_

    config = Float8DynamicActivationFloat8WeightConfig(granularity=PerRow())
    for block in blocks_of(transformer):
        quantize_(block, config)
