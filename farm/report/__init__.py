"""Writers that render a `farm.judging.gate.GateResult`, one module per format.

Each format module has ``render_<fmt>(result) -> str`` and ``write_<fmt>(result, path) ->
Path``: markdown, html, json, junit and patchwork (which can also post its checks). The
writers never judge; everything they show was decided by ``farm.judging.gate.evaluate``.
"""
