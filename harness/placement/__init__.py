"""Where every operator ran: one placement map per cell, the farm's delegation contracts on it,
per-layer numerics, and Model Explorer overlays (docs/placement.md).

    build.py          the map, from the record's profile, delegate lines, AI Hub counts, Core ML's
                      compute plan and the export's coverage; stored in context["placement"]
    kinds.py          one name per kind of operator across runtimes (`cumsum`, `convolution`)
    text.py           the map in words: `harness show RUN --placement`, the site's model page
    contracts.py      farm.yaml's `expect:` rules, judged on a cell's map
    coreml_plan.py    Core ML's compute plan, where coremltools offers it (macOS)
    layer_numerics.py per-layer numerics of int8 exports against eager (ExecuTorch's Inspector)
    graph_nodes.py    the export's table of graph nodes, which the overlays key their data by
    model_explorer.py node data for Google's Model Explorer, and per-node diffs of two runs
"""
