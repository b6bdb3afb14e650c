"""ExecuTorch `.pte` exports, each lowered with `to_edge_transform_and_lower` as the ExecuTorch
documentation recommends.

- `executorch`: XNNPACK delegate, fp32 (mobile CPUs).
- `executorch-int8`: XNNPACK with static int8 quantization through the PT2E flow: the
  `XNNPACKQuantizer` with its symmetric config (per-channel weights), `prepare_pt2e` on the
  exported module, calibration, `convert_pt2e`, then export and lowering as for fp32.
- `executorch-coreml`: Core ML delegate, fp16 compute, iOS 16 deployment target. It lowers on
  Linux; the `.pte` runs only where the ExecuTorch runtime has the Core ML backend (macOS/iOS),
  which the device's runner knows.
- `executorch-vulkan`: the Vulkan delegate, for Android GPUs. It lowers on Linux (the
  partitioner only serializes the graph; shaders are compiled into the runtime), and runs only
  where the runtime was built with the Vulkan backend: an Android native runner built with
  EXECUTORCH_BUILD_VULKAN=ON. ExecuTorch's pip wheel has no Vulkan backend, so the host never
  runs or checks it (docs/formats.md).
- `executorch-portable`: no delegate, the portable kernels; the reference for what the delegates
  buy.

Every variant stores its delegation coverage: nodes delegated versus total, the delegate calls,
and the operators left outside any delegate.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import torch
from torch import nn

from harness.export.base import FormatSpec, register_format


def _versions() -> dict[str, str]:
    return {"executorch": importlib.metadata.version("executorch"), "torch": torch.__version__}


def _versions_int8() -> dict[str, str]:
    return {**_versions(), "torchao": importlib.metadata.version("torchao")}


def _versions_coreml() -> dict[str, str]:
    return {**_versions(), "coremltools": importlib.metadata.version("coremltools")}


def delegation_summary(graph_module, backend: str = "") -> dict:
    """Nodes delegated versus total, and the operators left outside any delegate."""
    from executorch.devtools.backend_debug import get_delegation_info

    info = get_delegation_info(graph_module)
    not_delegated = {
        op: counts.non_delegated
        for op, counts in info.delegation_by_operator.items()
        if counts.non_delegated
    }
    return {
        "backend": backend,
        "delegated_nodes": info.num_delegated_nodes,
        "total_nodes": info.num_delegated_nodes + info.num_non_delegated_nodes,
        "delegate_calls": info.num_delegated_subgraphs,
        "not_delegated_ops": not_delegated,
    }


def lower_to_pte(exported_program, partitioners: list, path: Path, backend: str = "") -> dict:
    """Lower to `path`; its delegation coverage, and beside it the graph a Model Explorer
    overlay is drawn on (harness.placement.graph_nodes: `<name>.pt2`, `<name>.nodes.json`)."""
    from executorch.exir import to_edge_transform_and_lower

    from harness.placement.graph_nodes import write_executorch_graph

    edge = to_edge_transform_and_lower(exported_program, partitioner=partitioners,
                                       generate_etrecord=True)
    details = {"delegation": delegation_summary(edge.exported_program().graph_module, backend)}
    program = edge.to_executorch()
    path.write_bytes(program.buffer)
    details["graph_nodes"] = write_executorch_graph(exported_program, edge, program, path)
    return details


def export_executorch_xnnpack(model: nn.Module, example_inputs, path: Path) -> dict:
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner

    ep = torch.export.export(model, tuple(example_inputs))
    return lower_to_pte(ep, [XnnpackPartitioner()], path, "XNNPACK")


def quantize_pt2e_xnnpack(model: nn.Module, example_inputs, calibration) -> nn.Module:
    """The model with int8 quantize/dequantize pairs XNNPACK fuses into int8 kernels."""
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
    captured = torch.export.export(model, tuple(example_inputs)).module()
    prepared = prepare_pt2e(captured, quantizer)
    with torch.no_grad():
        for x in calibration.inputs:
            prepared(torch.from_numpy(x))
    return convert_pt2e(prepared)


def export_executorch_int8(model: nn.Module, example_inputs, path: Path, calibration) -> dict:
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner

    quantized = quantize_pt2e_xnnpack(model, example_inputs, calibration)
    ep = torch.export.export(quantized, tuple(example_inputs))
    return lower_to_pte(ep, [XnnpackPartitioner()], path, "XNNPACK")


def export_executorch_coreml(model: nn.Module, example_inputs, path: Path) -> dict:
    from harness.export.coreml import quiet_coremltools

    ep = torch.export.export(model, tuple(example_inputs))
    with quiet_coremltools():
        import coremltools as ct
        from executorch.backends.apple.coreml.compiler import CoreMLBackend
        from executorch.backends.apple.coreml.partition import CoreMLPartitioner

        compile_specs = CoreMLBackend.generate_compile_specs(
            minimum_deployment_target=ct.target.iOS16,
            compute_precision=ct.precision.FLOAT16,
        )
        return lower_to_pte(ep, [CoreMLPartitioner(compile_specs=compile_specs)], path, "Core ML")


def export_executorch_vulkan(model: nn.Module, example_inputs, path: Path) -> dict:
    from executorch.backends.vulkan.partitioner.vulkan_partitioner import VulkanPartitioner

    ep = torch.export.export(model, tuple(example_inputs))
    return lower_to_pte(ep, [VulkanPartitioner()], path, "Vulkan")


def export_executorch_portable(model: nn.Module, example_inputs, path: Path) -> dict:
    ep = torch.export.export(model, tuple(example_inputs))
    return lower_to_pte(ep, [], path, "portable")


register_format(
    FormatSpec(
        name="executorch",
        suffix=".pte",
        runtime="executorch",
        backend="xnnpack",
        precision="fp32",
        export=export_executorch_xnnpack,
        versions=_versions,
        extra="executorch",
        description="ExecuTorch, XNNPACK delegate, fp32",
        order=10,
        export_estimate_s=30.0,
        paper_names=('executorch',),
        paper_rank=0,
    )
)

register_format(
    FormatSpec(
        name="executorch-int8",
        layer_pass="harness.placement.executorch_layers",
        suffix=".pte",
        runtime="executorch",
        backend="xnnpack",
        precision="int8",
        export=export_executorch_int8,
        versions=_versions_int8,
        extra="executorch",
        needs_calibration=True,
        description="ExecuTorch, XNNPACK delegate, static int8 (PT2E, XNNPACKQuantizer)",
        order=11,
        export_estimate_s=90.0,
        paper_names=('executorch',),
        paper_rank=9,
    )
)

register_format(
    FormatSpec(
        name="executorch-coreml",
        suffix=".pte",
        runtime="executorch",
        backend="coreml",
        precision="fp16",
        export=export_executorch_coreml,
        versions=_versions_coreml,
        extra="executorch,coreml",
        description="ExecuTorch, Core ML delegate, fp16, iOS 16",
        order=13,
        export_estimate_s=60.0,
        paper_names=('core ml',),
        paper_rank=8,
    )
)

register_format(
    FormatSpec(
        name="executorch-vulkan",
        suffix=".pte",
        runtime="executorch",
        backend="vulkan",
        precision="fp32",
        export=export_executorch_vulkan,
        versions=_versions,
        extra="executorch",
        description="ExecuTorch, Vulkan delegate (Android GPUs), fp32",
        order=14,
        export_estimate_s=60.0,
        paper_names=(),
        paper_rank=11,
    )
)

register_format(
    FormatSpec(
        name="executorch-portable",
        suffix=".pte",
        runtime="executorch",
        backend="portable",
        precision="fp32",
        export=export_executorch_portable,
        versions=_versions,
        extra="executorch",
        description="ExecuTorch, portable kernels, no delegate (the reference)",
        order=12,
        export_estimate_s=25.0,
        paper_names=('executorch',),
        paper_rank=6,
    )
)
