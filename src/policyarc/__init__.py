"""PolicyArc: an MCP gateway that lets AI clients use a company's SaaS tools as the signed-in user."""

import pydantic

__version__ = "0.1.0"

# Every pydantic model (ours, the MCP SDK's hundreds of protocol types, pydantic-settings') builds its validator
# when first used rather than when its class is defined: the same models, the same validation, but ~0.4 s less at
# every start, most of it for protocol types a gateway never validates (issue 10's start-time target,
# docs/benchmarks.md). Set here because it must precede the first model class; it changes when, not what.
pydantic.BaseModel.model_config["defer_build"] = True
